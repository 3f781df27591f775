// Typed field values (terminals/iso8583/values.ts, named by the field table): every kind
// round trips both ways, writes exactly the bytes the hand formatting it replaced wrote,
// and refuses what is out of range: RangeError naming the field on encode (our value),
// IsoError naming the field and the offset on decode (the peer's).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode, message } from '../../terminals/iso8583/codec.js';
import { IsoError } from '../../terminals/iso8583/errors.js';
import { FIELDS, TYPED_FIELDS, fromWire, getField, toWire, wireFields, wireLength, type TypedField, type ValueOf } from '../../terminals/iso8583/spec.js';
import { TAG_VALUES, formatTlv, getTag, parseTlv, tagFromWire, tagToWire, type TypedTag } from '../../terminals/iso8583/tlv.js';
import { dateNotAfter, dateNotBefore, instantOf, monthDayOf, timeOfDayOf, transmissionAt } from '../../terminals/iso8583/values.js';
import { CHARSETS, TAG_ARBS, VALUE_ARBS, chars, isoDateArb, monthDayArb, valueArb } from './arbitraries.js';

const DAY_MS = 86_400_000;
const addDays = (date: string, n: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);

/** fromWire, but an IsoError becomes a value; anything else thrown fails the test. */
function tryFromWire<N extends TypedField>(n: N, wire: string): ValueOf<N> | IsoError {
  try {
    return fromWire(n, wire);
  } catch (err) {
    if (err instanceof IsoError) return err;
    throw err;
  }
}

function isoErrorOf(fn: () => unknown): IsoError {
  try {
    fn();
  } catch (err) {
    if (err instanceof IsoError) return err;
    throw err;
  }
  throw new Error('no IsoError thrown');
}

const TYPED_TAGS = Object.keys(TAG_VALUES) as TypedTag[];

describe('the field table names a kind for the typed fields', () => {
  it('4, 7, 12, 13, 15, 28, 74, 75, 86, 87 and 90; tags DD, AD, ST, TX, SN, IN, DL', () => {
    expect(TYPED_FIELDS).toEqual([4, 7, 12, 13, 15, 28, 74, 75, 86, 87, 90]);
    expect(TYPED_TAGS.sort()).toEqual(['AD', 'DD', 'DL', 'IN', 'SN', 'ST', 'TX']);
  });
});

describe.each(TYPED_FIELDS.map((n) => [n, FIELDS[n]!.name] as const))('field %i (%s)', (n) => {
  it('fromWire(toWire(v)) is v, and toWire writes a value the codec carries as is', () => {
    fc.assert(
      fc.property(VALUE_ARBS[n] as fc.Arbitrary<ValueOf<typeof n>>, (v) => {
        const wire = toWire(n, v);
        expect(wire).toHaveLength(wireLength(FIELDS[n]!));
        expect(fromWire(n, wire)).toEqual(v);
        const back = decode(encode(message('0200', { [n]: wire })));
        expect(back.fields.get(n)).toBe(wire);
        expect(getField(back, n)).toEqual(v);
      }),
      { numRuns: 300 },
    );
  });

  it('any wire string of its length and charset: fromWire refuses it with IsoError (this field, an offset inside it), or toWire gives it back', () => {
    fc.assert(
      fc.property(valueArb(n), (wire) => {
        const r = tryFromWire(n, wire);
        if (r instanceof IsoError) {
          expect(r.field).toBe(n);
          expect(r.offset).toBeGreaterThanOrEqual(0);
          expect(r.offset).toBeLessThan(wire.length);
        } else {
          expect(toWire(n, r as never)).toBe(wire);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a string of the wrong length or with a non-digit is refused with IsoError naming the field', () => {
    const len = wireLength(FIELDS[n]!);
    fc.assert(
      fc.property(chars(CHARSETS.ans, 0, len + 2).filter((w) => w.length !== len || /[^0-9D]/.test(w)), (wire) => {
        const e = isoErrorOf(() => fromWire(n, wire));
        expect(e.field).toBe(n);
        expect(e.message).toContain(`field ${n} at offset`);
      }),
    );
  });
});

describe('amounts and counts: integer cents and whole numbers, never beyond the field', () => {
  const NUMERIC = [
    [4, 999_999_999_999],
    [28, 99_999_999],
    [74, 9_999_999_999],
    [75, 9_999_999_999],
    [86, Number.MAX_SAFE_INTEGER],
    [87, Number.MAX_SAFE_INTEGER],
  ] as const;

  it.each(NUMERIC)('field %i writes what String(v).padStart wrote', (n, max) => {
    const width = n === 28 ? 8 : wireLength(FIELDS[n]!);
    fc.assert(
      fc.property(VALUE_ARBS[n], (v) => {
        expect(toWire(n, v)).toBe((n === 28 ? 'D' : '') + String(v).padStart(width, '0'));
      }),
    );
    expect(toWire(n, max)).toBe((n === 28 ? 'D' : '') + String(max).padStart(width, '0'));
  });

  it.each(NUMERIC)('field %i: encode refuses a value above %i, negative, fractional or not finite (RangeError naming the field)', (n, max) => {
    const bad = fc.oneof(
      fc.bigInt({ min: BigInt(max) + 1n, max: BigInt(max) * 1000n + 1000n }).map(Number),
      fc.integer({ min: -1_000_000, max: -1 }),
      fc.double({ noNaN: true, min: -1e6, max: 1e6 }).filter((x) => !Number.isInteger(x)),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53, -0.5),
    );
    fc.assert(
      fc.property(bad, (v) => {
        expect(() => toWire(n, v)).toThrow(RangeError);
        expect(() => toWire(n, v)).toThrow(new RegExp(`^field ${n} \\(${FIELDS[n]!.name}\\)`));
        expect(() => wireFields({ [n]: v })).toThrow(RangeError);
      }),
    );
    expect(() => toWire(n, max + 1)).toThrow(RangeError);
  });

  it('n16 above 2^53 - 1 is refused on decode rather than rounded', () => {
    for (const n of [86, 87] as const) {
      expect(fromWire(n, '9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
      for (const wire of ['9007199254740992', '9007199254740993', '9999999999999999']) {
        expect(isoErrorOf(() => fromWire(n, wire))).toMatchObject({ field: n, offset: 0 });
      }
    }
  });

  it("field 28 is 'D' and the fee: a credit 'C' (or anything else first) is refused at offset 0", () => {
    expect(toWire(28, 150)).toBe('D00000150');
    expect(fromWire(28, 'D00000150')).toBe(150);
    expect(isoErrorOf(() => fromWire(28, 'C00000150'))).toMatchObject({ field: 28, offset: 0 });
    expect(isoErrorOf(() => fromWire(28, 'D0000015X'))).toMatchObject({ field: 28, offset: 8 });
  });
});

describe('MMDD (13, 15), hhmmss (12), MMDDhhmmss (7)', () => {
  // Every MMDD against an oracle: a day that exists in the leap year 2024.
  it('all 10,000 four-digit strings: a month and one of its days decode (29 February too), the rest name the field and the part', () => {
    for (let i = 0; i < 10_000; i++) {
      const wire = String(i).padStart(4, '0');
      const [month, day] = [Math.floor(i / 100), i % 100];
      const exists = month >= 1 && month <= 12 && day >= 1 && new Date(Date.UTC(2024, month - 1, day)).getUTCMonth() === month - 1;
      for (const n of [13, 15] as const) {
        const r = tryFromWire(n, wire);
        if (exists) expect(r).toEqual({ month, day });
        else expect(r).toMatchObject({ field: n, offset: month >= 1 && month <= 12 ? 2 : 0 });
      }
    }
  });

  it('hhmmss: hour 00–23, minute and second 00–59; the offset points at the part out of range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), (h, m, s) => {
        const wire = [h, m, s].map((x) => String(x).padStart(2, '0')).join('');
        const r = tryFromWire(12, wire);
        if (h <= 23 && m <= 59 && s <= 59) expect(r).toEqual({ hour: h, minute: m, second: s });
        else expect(r).toMatchObject({ field: 12, offset: h > 23 ? 0 : m > 59 ? 2 : 4 });
      }),
    );
  });

  it('field 7: a bad time is found at its offset inside the field', () => {
    expect(isoErrorOf(() => fromWire(7, '1301120000'))).toMatchObject({ field: 7, offset: 0 });
    expect(isoErrorOf(() => fromWire(7, '0431120000'))).toMatchObject({ field: 7, offset: 2 });
    expect(isoErrorOf(() => fromWire(7, '0317240000'))).toMatchObject({ field: 7, offset: 4 });
    expect(isoErrorOf(() => fromWire(7, '0317236000'))).toMatchObject({ field: 7, offset: 6 });
    expect(isoErrorOf(() => fromWire(7, '0317235960'))).toMatchObject({ field: 7, offset: 8 });
    expect(fromWire(7, '0229235959')).toEqual({ month: 2, day: 29, hour: 23, minute: 59, second: 59 });
  });

  it('encode refuses a month, day or time that is not one (RangeError naming the field)', () => {
    expect(() => toWire(13, { month: 13, day: 1 })).toThrow(/^field 13 /);
    expect(() => toWire(15, { month: 4, day: 31 })).toThrow(RangeError);
    expect(() => toWire(15, { month: 1, day: 0 })).toThrow(RangeError);
    expect(() => toWire(12, { hour: 24, minute: 0, second: 0 })).toThrow(/^field 12 /);
    expect(() => toWire(7, { month: 3, day: 17, hour: 9, minute: 35, second: 1.5 })).toThrow(/^field 7 /);
  });

  it('field 7 of an instant is its UTC MMDDhhmmss, as the simulator wrote it by hand', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2199, 11, 31) }), (ms) => {
        const iso = new Date(ms).toISOString();
        const expected = iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19);
        expect(toWire(7, transmissionAt(ms))).toBe(expected);
      }),
    );
  });

  it('instantOf(transmissionAt(t), near) is t to the second whenever near is within 182 days of t', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2198, 0, 1) }),
        fc.integer({ min: -182 * DAY_MS, max: 182 * DAY_MS }),
        (ms, drift) => {
          expect(instantOf(transmissionAt(ms), ms + drift)).toBe(Math.floor(ms / 1000) * 1000);
        },
      ),
      { numRuns: 1000 },
    );
    // 29 February far from any leap year names no instant.
    expect(instantOf({ month: 2, day: 29, hour: 0, minute: 0, second: 0 }, Date.UTC(2026, 5, 1))).toBeUndefined();
    expect(instantOf({ month: 2, day: 29, hour: 0, minute: 0, second: 0 }, Date.UTC(2027, 5, 1))).toBe(Date.UTC(2028, 1, 29));
  });
});

describe('the year MMDD leaves out', () => {
  it('monthDayOf(d) written as MMDD is d without its year; not a date → RangeError', () => {
    fc.assert(
      fc.property(isoDateArb, (d) => {
        expect(toWire(15, monthDayOf(d))).toBe(d.slice(5, 7) + d.slice(8, 10));
      }),
    );
    for (const bad of ['2026-02-29', '2026-13-01', '2026-1-01', '20260101', '']) expect(() => monthDayOf(bad)).toThrow(RangeError);
    expect(timeOfDayOf('23:59:59')).toEqual({ hour: 23, minute: 59, second: 59 });
    for (const bad of ['24:00:00', '12:60:00', '12:00', '120000']) expect(() => timeOfDayOf(bad)).toThrow(RangeError);
  });

  it('dateNotAfter(monthDayOf(d), latest) is d for every latest from d to 364 days after it', () => {
    fc.assert(
      fc.property(isoDateArb, fc.integer({ min: 0, max: 364 }), (d, k) => {
        expect(dateNotAfter(monthDayOf(d), addDays(d, k))).toBe(d);
      }),
      { numRuns: 1000 },
    );
  });

  it('dateNotBefore(monthDayOf(d), earliest) is d for every earliest from 364 days before d to d', () => {
    fc.assert(
      fc.property(isoDateArb, fc.integer({ min: 0, max: 364 }), (d, k) => {
        expect(dateNotBefore(monthDayOf(d), addDays(d, -k))).toBe(d);
      }),
      { numRuns: 1000 },
    );
  });

  it('the year is the reference year or the one next to it; 29 February of a common year names no date', () => {
    fc.assert(
      fc.property(monthDayArb, isoDateArb, (md, ref) => {
        const y = Number(ref.slice(0, 4));
        const before = dateNotAfter(md, ref);
        const after = dateNotBefore(md, ref);
        if (before !== undefined) {
          expect(before <= ref).toBe(true);
          expect([y, y - 1]).toContain(Number(before.slice(0, 4)));
        } else expect(md).toEqual({ month: 2, day: 29 });
        if (after !== undefined) {
          expect(after >= ref).toBe(true);
          expect([y, y + 1]).toContain(Number(after.slice(0, 4)));
        } else expect(md).toEqual({ month: 2, day: 29 });
      }),
    );
  });

  it("a 0500's field 13 against tomorrow: the examples of docs/terminal-protocol", () => {
    const day = (mmdd: string, today: string) => dateNotAfter(fromWire(13, mmdd), addDays(today, 1));
    expect(day('1101', '2026-11-01')).toBe('2026-11-01');
    expect(day('1102', '2026-11-01')).toBe('2026-11-02'); // tomorrow
    expect(day('1103', '2026-11-01')).toBe('2025-11-03');
    expect(day('1231', '2027-01-01')).toBe('2026-12-31'); // just after New Year
    expect(day('0101', '2026-12-31')).toBe('2027-01-01'); // tomorrow is in the new year
    expect(day('0229', '2025-01-10')).toBe('2024-02-29');
    expect(day('0229', '2026-03-10')).toBeUndefined();
    expect(day('0229', '2028-02-28')).toBe('2028-02-29');
  });
});

describe('field 90: original MTI + STAN + field 7 + 22 zeros', () => {
  it('writes what the hand-built field 90 was, and reads its parts back', () => {
    fc.assert(
      fc.property(VALUE_ARBS[90], (o) => {
        expect(toWire(90, o)).toBe(o.mti + o.stan + toWire(7, o.transmission) + '0'.repeat(22));
      }),
    );
    expect(fromWire(90, '0200' + '000004' + '0317093512' + '0'.repeat(22))).toEqual({
      mti: '0200',
      stan: '000004',
      transmission: { month: 3, day: 17, hour: 9, minute: 35, second: 12 },
    });
  });

  it('refuses a bad field 7 inside it, and anything but zeros in the last 22, at the offset of the fault', () => {
    const good = '0200' + '000004' + '0317093512' + '0'.repeat(22);
    expect(isoErrorOf(() => fromWire(90, good.slice(0, 10) + '1317093512' + good.slice(20)))).toMatchObject({ field: 90, offset: 10 });
    expect(isoErrorOf(() => fromWire(90, good.slice(0, 10) + '0317253512' + good.slice(20)))).toMatchObject({ field: 90, offset: 14 });
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 41 }), fc.constantFrom(...'123456789'), (i, c) => {
        expect(isoErrorOf(() => fromWire(90, good.slice(0, i) + c + good.slice(i + 1)))).toMatchObject({ field: 90, offset: i });
      }),
    );
  });

  it('encode refuses an MTI or STAN that is not 4 or 6 digits', () => {
    const transmission = { month: 3, day: 17, hour: 9, minute: 35, second: 12 };
    expect(() => toWire(90, { mti: '200', stan: '000004', transmission })).toThrow(/^field 90 /);
    expect(() => toWire(90, { mti: '0200', stan: '4', transmission })).toThrow(RangeError);
  });
});

describe.each(TYPED_TAGS.map((t) => [t] as const))('field 48 tag %s', (tag) => {
  it('tagFromWire(tagToWire(v)) is v, and it survives formatTlv / parseTlv', () => {
    fc.assert(
      fc.property(TAG_ARBS[tag] as fc.Arbitrary<never>, (v) => {
        const wire = tagToWire(tag, v);
        expect(tagFromWire(tag, wire)).toEqual(v);
        expect(getTag(parseTlv(formatTlv([[tag, wire]])), tag)).toEqual(v);
      }),
      { numRuns: 300 },
    );
  });

  it('any short printable string: tagFromWire refuses it with IsoError (field 48), or tagToWire gives it back', () => {
    fc.assert(
      fc.property(fc.oneof(chars('0123456789', 0, 60), chars(CHARSETS.ans, 0, 60)), (wire) => {
        let v: unknown;
        try {
          v = tagFromWire(tag, wire);
        } catch (err) {
          expect(err).toBeInstanceOf(IsoError);
          expect((err as IsoError).field).toBe(48);
          return;
        }
        expect(tagToWire(tag, v as never)).toBe(wire);
      }),
      { numRuns: 500 },
    );
  });
});

describe('field 48 tags by example', () => {
  it('ST is count (10) + cents (16) + reversal count (10) + reversal cents (16)', () => {
    const totals = { count: 2, amountCents: 24690, reversalCount: 1, reversalAmountCents: 12345 };
    expect(tagToWire('ST', totals)).toBe('0000000002' + '0000000000024690' + '0000000001' + '0000000000012345');
    expect(tagToWire('ST', { count: 0, amountCents: 0, reversalCount: 0, reversalAmountCents: 0 })).toBe('0'.repeat(52));
    expect(() => tagToWire('ST', { ...totals, count: 10_000_000_000 })).toThrow(/^field 48 TLV ST/);
    expect(isoErrorOf(() => tagFromWire('ST', '0'.repeat(26) + 'X' + '0'.repeat(25)))).toMatchObject({ field: 48, offset: 26 });
  });

  it('DD is YYYYMMDD of a date that exists; AD and the breakdown are decimals without leading zeros', () => {
    expect(tagToWire('DD', '2026-03-31')).toBe('20260331');
    expect(tagFromWire('DD', '20240229')).toBe('2024-02-29');
    expect(isoErrorOf(() => tagFromWire('DD', '20260229'))).toMatchObject({ field: 48 });
    expect(() => tagToWire('DD', '2026-02-30')).toThrow(RangeError);
    expect(tagToWire('AD', 12345)).toBe('12345');
    expect(tagToWire('DL', 0)).toBe('0');
    expect(isoErrorOf(() => tagFromWire('AD', '012345'))).toMatchObject({ field: 48, offset: 0 });
    expect(isoErrorOf(() => tagFromWire('AD', ''))).toMatchObject({ field: 48 });
    expect(() => tagToWire('TX', -1)).toThrow(RangeError);
  });
});

describe('wireFields', () => {
  it('writes each typed value given, in the table order, and nothing else', () => {
    expect(wireFields({ 4: 12345, 28: 150 })).toEqual({ 4: '000000012345', 28: 'D00000150' });
    expect(wireFields({ 15: { month: 3, day: 17 }, 74: 1, 86: 12345 })).toEqual({ 15: '0317', 74: '0000000001', 86: '0000000000012345' });
    expect(wireFields({})).toEqual({});
  });
});
