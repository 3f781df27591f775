import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IsoError } from '../../terminals/iso8583/errors.js';
import { formatTlv, parseTlv } from '../../terminals/iso8583/tlv.js';
import { CHARSETS, chars } from './arbitraries.js';

const TAG_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

describe('field 48 TLV', () => {
  it('parses the §1.4 example in wire order', () => {
    expect([...parseTlv('SV004TARIID018301202400000000164')]).toEqual([
      ['SV', 'TARI'],
      ['ID', '301202400000000164'],
    ]);
    expect(parseTlv('').size).toBe(0);
    expect(parseTlv('ID000').get('ID')).toBe('');
  });

  it('keeps unknown tags (callers ignore them)', () => {
    expect(parseTlv('ZZ003abcSV004TARI').get('ZZ')).toBe('abc');
  });

  it('round trips: parseTlv(formatTlv(e)) is e and formatTlv(parseTlv(s)) is s', () => {
    const entries = fc
      .uniqueArray(fc.tuple(chars(TAG_CHARS, 2), chars(CHARSETS.ans, 0, 40)), { selector: ([t]) => t, maxLength: 12 })
      .filter((es) => es.reduce((sum, [, v]) => sum + 5 + v.length, 0) <= 999);
    fc.assert(
      fc.property(entries, (es) => {
        const s = formatTlv(es);
        expect([...parseTlv(s)]).toEqual(es);
        expect(formatTlv(parseTlv(s))).toBe(s);
      }),
    );
  });

  it.each([
    ['lowercase tag', 'sv004TARI', 0],
    ['tag with a symbol', 'SV004TARI#D003abc', 9],
    ['non-digit length', 'SV0x4TARI', 2],
    ['length beyond the end', 'SV004TARIID019301202400000000164', 11],
    ['element header cut short', 'SV004TARIID01', 9],
    ['duplicate tag', 'SV004TARISV004BOLL', 9],
    ['non-printable value', 'SV004TA\x01I', 5],
  ])('rejects %s with IsoError (field 48, offset)', (_what, s, offset) => {
    try {
      parseTlv(s);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(IsoError);
      expect(err).toMatchObject({ field: 48, offset });
    }
  });

  it('adds a base offset so errors point into the packed message', () => {
    expect(() => parseTlv('SV00', 99)).toThrow(expect.objectContaining({ field: 48, offset: 99 }));
  });

  it('formatTlv refuses bad tags, duplicates, non-printable values and overlong output', () => {
    expect(() => formatTlv([['S', 'x']])).toThrow(IsoError);
    expect(() => formatTlv([['sv', 'x']])).toThrow(IsoError);
    expect(() => formatTlv([['SV', 'a'], ['SV', 'b']])).toThrow(IsoError);
    expect(() => formatTlv([['DS', 'città']])).toThrow(IsoError);
    expect(() => formatTlv([['DS', 'x'.repeat(995)]])).toThrow(/at most 999/);
    expect(formatTlv(new Map([['ER', 'BAD_MAC']]))).toBe('ER007BAD_MAC');
  });
});
