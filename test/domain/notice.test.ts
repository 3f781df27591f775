import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildNoticeNumber, checkNoticeNumber, noticeCheckDigits } from '../../src/domain/notice.js';

// domain.md §4.1, valid examples [verified], aux digit and IUV expected.
const VALID: [string, number, string][] = [
  ['001000000001234516', 0, '000000001234516'],
  ['012202400000000136', 0, '202400000000136'],
  ['220240000000000150', 2, '20240000000000150'],
  ['301202400000000164', 3, '01202400000000164'],
  ['347202400012345688', 3, '47202400012345688'],
  ['396000000000000131', 3, '96000000000000131'],
  ['120240000000000001', 1, '20240000000000001'],
  // from public pagoPA code
  ['302032002700000251', 3, '02032002700000251'],
  ['001721265093769322', 0, '721265093769322'],
];

describe('checkNoticeNumber', () => {
  it.each(VALID)('accepts %s (aux %d)', (notice, aux, iuv) => {
    expect(checkNoticeNumber(notice)).toEqual({ ok: true, notice, auxDigit: aux, iuv });
  });

  it('rejects 311111111112222222: its check digits should be 47', () => {
    expect(checkNoticeNumber('311111111112222222')).toEqual({ ok: false, reason: 'check digits should be 47' });
  });

  it('ignores the spaces of a printed notice (groups of four)', () => {
    expect(checkNoticeNumber('3012 0240 0000 0001 64')).toMatchObject({ ok: true, notice: '301202400000000164' });
    expect(checkNoticeNumber(' 301202400000000164\n')).toMatchObject({ ok: true });
  });

  it.each([
    ['', 'empty'],
    ['30120240000000016', '18 digits, got 17'],
    ['3012024000000001640', '18 digits, got 19'],
    ['30120240000000016A', 'digits only'],
    ['401202400000000164', 'aux digit 4 is not valid'],
    ['901202400000000164', 'aux digit 9 is not valid'],
    ['301202400000000165', 'check digits should be 64'],
  ])('rejects "%s" (%s)', (input, reason) => {
    const check = checkNoticeNumber(input);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toContain(reason);
  });

  it('aux 1 has no check digits', () => {
    expect(checkNoticeNumber('199999999999999999').ok).toBe(true);
  });
});

describe('noticeCheckDigits', () => {
  it('is the first 16 digits mod 93, zero-padded', () => {
    expect(noticeCheckDigits('3012024000000001')).toBe('64');
    expect(noticeCheckDigits('0000000000000005')).toBe('05');
    expect(noticeCheckDigits('9999999999999999')).toBe((9999999999999999n % 93n).toString().padStart(2, '0'));
  });

  it('refuses anything but 16 digits', () => {
    expect(() => noticeCheckDigits('123')).toThrow(RangeError);
  });
});

describe('buildNoticeNumber', () => {
  it('rebuilds the valid examples', () => {
    for (const [notice, aux] of VALID) {
      const built = aux === 1 ? buildNoticeNumber(1, notice.slice(1)) : buildNoticeNumber(aux as 0 | 2 | 3, notice.slice(1, 16));
      expect(built).toBe(notice);
    }
  });

  it('refuses a body of the wrong length', () => {
    expect(() => buildNoticeNumber(3, '0120240000000001')).toThrow(RangeError);
    expect(() => buildNoticeNumber(1, '012024000000000')).toThrow(RangeError);
  });

  const body15 = fc.stringMatching(/^\d{15}$/);
  const checkedAux = fc.constantFrom(0 as const, 2 as const, 3 as const);

  it('always yields a notice that checkNoticeNumber accepts (property)', () => {
    fc.assert(
      fc.property(checkedAux, body15, (aux, body) => {
        const notice = buildNoticeNumber(aux, body);
        expect(notice).toMatch(/^\d{18}$/);
        expect(checkNoticeNumber(notice)).toMatchObject({ ok: true, auxDigit: aux });
        expect(Number(notice.slice(16))).toBeLessThan(93);
      }),
    );
    fc.assert(
      fc.property(fc.stringMatching(/^\d{17}$/), (body) => {
        expect(checkNoticeNumber(buildNoticeNumber(1, body))).toMatchObject({ ok: true, auxDigit: 1 });
      }),
    );
  });

  it('a single changed digit is always caught, unless it turns the aux digit into 1 (property)', () => {
    // 10^k is invertible mod 93 and no digit change is a multiple of 93, so any
    // change in the first 16 digits changes the remainder; a changed check digit
    // no longer matches. Only aux 1 carries no check.
    fc.assert(
      fc.property(checkedAux, body15, fc.integer({ min: 0, max: 17 }), fc.integer({ min: 1, max: 9 }), (aux, body, pos, delta) => {
        const notice = buildNoticeNumber(aux, body);
        const digit = (Number(notice[pos]) + delta) % 10;
        const changed = notice.slice(0, pos) + digit + notice.slice(pos + 1);
        const check = checkNoticeNumber(changed);
        if (check.ok) {
          expect(pos).toBe(0);
          expect(check.auxDigit).toBe(1);
        }
      }),
    );
  });
});
