import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildNoticeNumber } from '../../src/domain/notice.js';
import { formatPagoPaQr, parsePagoPaQr } from '../../src/domain/qr.js';

const EXAMPLE = 'PAGOPA|002|301202400000000164|84006890481|12345';

describe('parsePagoPaQr', () => {
  it('reads the example of domain.md §4.2', () => {
    expect(parsePagoPaQr(EXAMPLE)).toEqual({
      ok: true,
      notice: '301202400000000164',
      entityFiscalCode: '84006890481',
      amountCents: 12345,
    });
  });

  it('tolerates the line end a scanner appends', () => {
    expect(parsePagoPaQr(EXAMPLE + '\r\n').ok).toBe(true);
  });

  it('accepts amounts of 1 and 12 digits (lengths 43 and 54)', () => {
    const short = 'PAGOPA|002|301202400000000164|84006890481|1';
    const long = 'PAGOPA|002|301202400000000164|84006890481|123456789012';
    expect(short).toHaveLength(43);
    expect(long).toHaveLength(54);
    expect(parsePagoPaQr(short)).toMatchObject({ ok: true, amountCents: 1 });
    expect(parsePagoPaQr(long)).toMatchObject({ ok: true, amountCents: 123456789012 });
  });

  it.each([
    ['PAGOPA|002|301202400000000164|84006890481|', '43 to 54 characters'],
    ['PAGOPA|002|301202400000000164|84006890481|1234567890123', '43 to 54 characters'],
    ['PAGOPX|002|301202400000000164|84006890481|12345', 'start with PAGOPA'],
    ['PAGOPA|001|301202400000000164|84006890481|12345', 'version must be 002'],
    ['PAGOPA|002|301202400000000164|84006890481|12|45', '5 fields'],
    ['PAGOPA|002|3012024000000001 4|84006890481|12345', 'notice number must be 18 digits'],
    ['PAGOPA|002|301202400000000165|84006890481|12345', 'check digits should be 64'],
    ['PAGOPA|002|301202400000000164|8400689048X|12345', 'must be 11 digits'],
    ['PAGOPA|002|301202400000000164|84006890482|12345', 'wrong check digit'],
    ['PAGOPA|002|301202400000000164|84006890481|12a45', 'amount must be 1 to 12 digits'],
  ])('rejects %s (%s)', (payload, reason) => {
    const qr = parsePagoPaQr(payload);
    expect(qr.ok).toBe(false);
    if (!qr.ok) expect(qr.reason).toContain(reason);
  });
});

describe('formatPagoPaQr', () => {
  it('writes the example', () => {
    expect(formatPagoPaQr('301202400000000164', '84006890481', 12345)).toBe(EXAMPLE);
  });

  it('round-trips through parsePagoPaQr (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{15}$/), fc.integer({ min: 0, max: 999_999_999_999 }), (body, amount) => {
        const notice = buildNoticeNumber(3, body);
        const qr = parsePagoPaQr(formatPagoPaQr(notice, '84006890481', amount));
        expect(qr).toEqual({ ok: true, notice, entityFiscalCode: '84006890481', amountCents: amount });
      }),
    );
  });

  it('refuses an amount that does not fit 12 digits', () => {
    expect(() => formatPagoPaQr('301202400000000164', '84006890481', 1e12)).toThrow(RangeError);
    expect(() => formatPagoPaQr('301202400000000164', '84006890481', -1)).toThrow(RangeError);
  });
});
