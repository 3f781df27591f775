// fast-check generators driven by the field table: every value has its field's
// length and charset, so encode accepts it unpadded and decode gives it back as is.
import fc from 'fast-check';
import { message, type IsoMessage } from '../../terminals/iso8583/codec.js';
import { FIELDS, FIELD_NUMBERS, wireLength, type Format, type TypedField, type ValueOf } from '../../terminals/iso8583/spec.js';
import type { TagValueOf, TypedTag } from '../../terminals/iso8583/tlv.js';
import type { MonthDay, TimeOfDay, Totals, TransmissionTime } from '../../terminals/iso8583/values.js';

const DIGITS = '0123456789';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join('');

export const CHARSETS: Record<Format, string> = {
  n: DIGITS,
  an: LETTERS + DIGITS + ' ',
  ans: PRINTABLE,
  b: '0123456789ABCDEF',
};

export const chars = (set: string, min: number, max = min): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...set), minLength: min, maxLength: max });

/** A valid value for field n, at its full length when fixed. */
export function valueArb(n: number): fc.Arbitrary<string> {
  if (n === 28) return chars(DIGITS, 8).map((d) => `D${d}`);
  const spec = FIELDS[n]!;
  const w = wireLength(spec);
  // Field 48 is usually short; bias towards that but reach the maximum too.
  if (spec.prefix !== 'FIXED') {
    return fc.oneof({ arbitrary: chars(CHARSETS[spec.format], 0, 60), weight: 4 }, { arbitrary: chars(CHARSETS[spec.format], 0, w), weight: 1 });
  }
  return chars(CHARSETS[spec.format], w);
}

/** A message with the given fields, each with an arbitrary valid value. */
export function messageArb(mti: string, numbers: readonly number[]): fc.Arbitrary<IsoMessage> {
  const record = Object.fromEntries(numbers.map((n) => [n, valueArb(n)]));
  return fc.record(record).map((values) => message(mti, values));
}

/**
 * The message types of §1.5 with the fields they carry: mandatory ones always, optional
 * ones as a random subset. Requests with a field above 64 exercise the secondary bitmap.
 */
export const MESSAGE_TYPES: Record<string, { always: number[]; optional: number[] }> = {
  '0800': { always: [7, 11, 41, 70, 128], optional: [] },
  '0810': { always: [7, 11, 39, 41, 70, 128], optional: [48] },
  '0100': { always: [3, 4, 7, 11, 12, 13, 41, 42, 48, 49, 64], optional: [28] },
  '0110': { always: [3, 4, 7, 11, 39, 41, 42, 49, 64], optional: [12, 13, 28, 48] },
  '0200': { always: [3, 4, 7, 11, 12, 13, 41, 42, 48, 49, 64], optional: [28] },
  '0210': { always: [3, 4, 7, 11, 39, 41, 42, 49, 64], optional: [12, 13, 15, 28, 37, 38, 48] },
  '0400': { always: [3, 4, 7, 11, 41, 42, 49, 90, 128], optional: [] },
  '0410': { always: [3, 4, 7, 11, 39, 41, 42, 49, 90, 128], optional: [48] },
  '0420': { always: [3, 4, 7, 11, 41, 42, 49, 90, 128], optional: [] },
  '0421': { always: [3, 4, 7, 11, 41, 42, 49, 90, 128], optional: [] },
  '0430': { always: [3, 4, 7, 11, 39, 41, 42, 49, 90, 128], optional: [48] },
  '0500': { always: [7, 11, 13, 41, 42, 74, 75, 86, 87, 128], optional: [] },
  '0510': { always: [7, 11, 13, 39, 41, 42, 48, 74, 75, 86, 87, 128], optional: [15] },
};

export const typedMessageArb: fc.Arbitrary<IsoMessage> = fc
  .constantFrom(...Object.keys(MESSAGE_TYPES))
  .chain((mti) => {
    const t = MESSAGE_TYPES[mti]!;
    return fc.subarray(t.optional).chain((extra) => messageArb(mti, [...t.always, ...extra]));
  });

/** Any MTI, any set of defined fields that keeps a MAC field last (or has none). */
export const anyMessageArb: fc.Arbitrary<IsoMessage> = fc
  .tuple(chars(DIGITS, 4), fc.subarray(FIELD_NUMBERS.filter((n) => !FIELDS[n]!.mac)), fc.boolean())
  .chain(([mti, numbers, mac]) => {
    const macField = numbers.some((n) => n > 64) ? 128 : 64;
    return messageArb(mti, mac ? [...numbers, macField] : numbers);
  });

// ---------------------------------------------------------------------------------
// Typed values (terminals/iso8583/values.ts)

/** Whole numbers 0..max, edges included; max may be above 2^31 (fc.integer's limit). */
export const wholeArb = (max: number): fc.Arbitrary<number> =>
  fc.oneof({ arbitrary: fc.constantFrom(0, 1, max - 1, max), weight: 1 }, { arbitrary: fc.bigInt({ min: 0n, max: BigInt(max) }).map(Number), weight: 4 });

/** Days of each month in a leap year. */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export const monthDayArb: fc.Arbitrary<MonthDay> = fc
  .integer({ min: 1, max: 12 })
  .chain((month) => fc.integer({ min: 1, max: MONTH_DAYS[month - 1]! }).map((day) => ({ month, day })));

export const timeOfDayArb: fc.Arbitrary<TimeOfDay> = fc.record({
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.integer({ min: 0, max: 59 }),
  second: fc.integer({ min: 0, max: 59 }),
});

export const transmissionArb: fc.Arbitrary<TransmissionTime> = fc.tuple(monthDayArb, timeOfDayArb).map(([md, t]) => ({ ...md, ...t }));

export const totalsArb: fc.Arbitrary<Totals> = fc.record({
  count: wholeArb(9_999_999_999),
  amountCents: wholeArb(Number.MAX_SAFE_INTEGER),
  reversalCount: wholeArb(9_999_999_999),
  reversalAmountCents: wholeArb(Number.MAX_SAFE_INTEGER),
});

/** An ISO date YYYY-MM-DD between 1900 and 2199 (leap years and century rules included). */
export const isoDateArb: fc.Arbitrary<string> = fc
  .integer({ min: Date.UTC(1900, 0, 1) / 86_400_000, max: Date.UTC(2199, 11, 31) / 86_400_000 })
  .map((day) => new Date(day * 86_400_000).toISOString().slice(0, 10));

/** A valid typed value for every typed field: the table's kinds each get a generator, or this does not compile. */
export const VALUE_ARBS: { readonly [N in TypedField]: fc.Arbitrary<ValueOf<N>> } = {
  4: wholeArb(999_999_999_999),
  7: transmissionArb,
  12: timeOfDayArb,
  13: monthDayArb,
  15: monthDayArb,
  28: wholeArb(99_999_999),
  74: wholeArb(9_999_999_999),
  75: wholeArb(9_999_999_999),
  86: wholeArb(Number.MAX_SAFE_INTEGER),
  87: wholeArb(Number.MAX_SAFE_INTEGER),
  90: fc.record({ mti: chars(DIGITS, 4), stan: chars(DIGITS, 6), transmission: transmissionArb }),
};

/** The same for the typed tags of field 48. */
export const TAG_ARBS: { readonly [T in TypedTag]: fc.Arbitrary<TagValueOf<T>> } = {
  DD: isoDateArb,
  AD: wholeArb(Number.MAX_SAFE_INTEGER),
  ST: totalsArb,
  TX: wholeArb(Number.MAX_SAFE_INTEGER),
  SN: wholeArb(Number.MAX_SAFE_INTEGER),
  IN: wholeArb(Number.MAX_SAFE_INTEGER),
  DL: wholeArb(Number.MAX_SAFE_INTEGER),
};
