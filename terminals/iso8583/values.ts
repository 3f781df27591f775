// Typed values of ISO 8583 fields (design.md, "spec as data": typed field values are
// the codec's job, not each caller's). A kind turns a typed value into the wire string
// of a field, or of a field 48 tag, and back. The field table (spec.ts) names the kind
// of each typed field and tlv.ts the kind of each typed tag; callers read and write them
// through getField / toWire / wireFields and getTag / tagToWire, never by padding and
// slicing strings.
//
// Every kind is exact: decode(encode(v)) is v for every v that encode accepts, and
// encode(decode(w)) is w for every w that decode accepts (one value, one wire form).
// A value that does not fit throws ValueError(offset, reason). The accessors turn it into
// an IsoError naming the field when decoding (the peer sent it: the switch answers 30)
// and into a RangeError naming the field when encoding (our own value does not fit: a
// bug or an impossible figure, answered 96, never blamed on the terminal).
//
// Amounts are integer cents, counts whole numbers; both must be safe integers, so an n16
// above 2^53 - 1 is refused rather than rounded.

/** A value that does not fit its kind; `offset` is inside the wire string (0 when encoding). */
export class ValueError extends Error {
  override readonly name = 'ValueError';

  constructor(
    readonly offset: number,
    reason: string,
  ) {
    super(reason);
  }
}

/** How one field's (or tag's) wire string maps to a typed value. */
export interface ValueKind<T> {
  /** What the value is and how it is written, in a few words. */
  readonly description: string;
  /** The wire string of `value` (full length for fixed fields). Throws ValueError when it does not fit. */
  encode(value: T): string;
  /** The value of a wire string. Throws ValueError (with the offset of the fault) when it is not one. */
  decode(wire: string): T;
}

// ---------------------------------------------------------------------------------
// Building blocks

const two = (n: number): string => String(n).padStart(2, '0');

function shown(s: string, i: number): string {
  const c = s.charCodeAt(i);
  return c >= 0x20 && c <= 0x7e ? `'${s[i]}'` : `0x${c.toString(16).padStart(2, '0')}`;
}

function exactLength(wire: string, length: number, what: string): void {
  if (typeof wire !== 'string') throw new ValueError(0, `${what}: a string of ${length} characters expected, got ${typeof wire}`);
  if (wire.length !== length) throw new ValueError(Math.min(wire.length, length), `${what}: ${length} characters expected, got ${wire.length}`);
}

/** The number written by wire[from, from + count), which must be digits. */
function digitsAt(wire: string, from: number, count: number, what: string): number {
  for (let i = from; i < from + count; i++) {
    const c = wire.charCodeAt(i);
    if (!(c >= 0x30 && c <= 0x39)) throw new ValueError(i, `${what}: ${shown(wire, i)} is not a digit`);
  }
  return Number(wire.slice(from, from + count));
}

/** Throws unless `v` is a safe integer in [min, max]. */
function whole(v: unknown, min: number, max: number, what: string, at = 0): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ValueError(at, `${what} ${typeof v === 'number' ? String(v) : JSON.stringify(v)} is not a whole number from ${min} to ${max}`);
  }
}

function digitString(v: unknown, length: number, what: string): asserts v is string {
  if (typeof v !== 'string' || !new RegExp(`^[0-9]{${length}}$`).test(v)) {
    throw new ValueError(0, `${what} ${JSON.stringify(v)} is not ${length} digits`);
  }
}

/** Runs a part's decode with its offsets moved to where the part lies in the whole. */
function part<T>(offset: number, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof ValueError) throw new ValueError(err.offset + offset, err.message);
    throw err;
  }
}

// ---------------------------------------------------------------------------------
// Numbers

/**
 * `n` of `width` digits ↔ a whole number (cents, a count): right-justified, zero-padded.
 * The largest value is 10^width - 1, or 2^53 - 1 when that is smaller (n16): a number
 * beyond it would not be exact.
 */
export function unsigned(width: number, unit: string): ValueKind<number> {
  const max = Math.min(10 ** width - 1, Number.MAX_SAFE_INTEGER);
  return {
    description: `${unit}, a whole number from 0 to ${max}, ${width} digits zero-padded`,
    encode(v) {
      whole(v, 0, max, unit);
      return String(v).padStart(width, '0');
    },
    decode(wire) {
      exactLength(wire, width, unit);
      const v = digitsAt(wire, 0, width, unit);
      if (v > max) throw new ValueError(0, `${unit} ${wire} is above ${max}, the largest a number holds exactly`);
      return v;
    },
  };
}

/** Field 48 numbers (`AD`, `TX`, `DL`...): decimal digits, no padding, no leading zero. */
export function decimal(unit: string): ValueKind<number> {
  const max = Number.MAX_SAFE_INTEGER;
  return {
    description: `${unit}, a whole number from 0 to ${max} in decimal without leading zeros`,
    encode(v) {
      whole(v, 0, max, unit);
      return String(v);
    },
    decode(wire) {
      if (typeof wire !== 'string' || wire.length === 0) throw new ValueError(0, `${unit}: no digits`);
      const v = digitsAt(wire, 0, wire.length, unit);
      if (wire.length > 1 && wire[0] === '0') throw new ValueError(0, `${unit} ${JSON.stringify(wire)} has a leading zero`);
      if (v > max) throw new ValueError(0, `${unit} ${wire} is above ${max}, the largest a number holds exactly`);
      return v;
    },
  };
}

const FEE_DIGITS = unsigned(8, 'fee in cents');

/**
 * Field 28, an9: `D` + 8 digits ↔ the citizen's fee in cents. §1.3 writes the fee as a
 * debit only (the spec table's shape allows no `C`), so the value is the cents alone.
 */
export const FEE: ValueKind<number> = {
  description: "the citizen's fee in cents: 'D' and 8 digits",
  encode(v) {
    return 'D' + FEE_DIGITS.encode(v);
  },
  decode(wire) {
    exactLength(wire, 9, 'fee');
    if (wire[0] !== 'D') throw new ValueError(0, `fee: ${shown(wire, 0)} is not 'D' (the fee is a debit, §1.3)`);
    return part(1, () => FEE_DIGITS.decode(wire.slice(1)));
  },
};

// ---------------------------------------------------------------------------------
// Dates and times

/** Fields 13 and 15 (`MMDD`): a day of the year; the year is not on the wire. */
export interface MonthDay {
  readonly month: number;
  readonly day: number;
}

/** Field 12 (`hhmmss`). */
export interface TimeOfDay {
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

/** Field 7 (`MMDDhhmmss`, UTC). */
export interface TransmissionTime extends MonthDay, TimeOfDay {}

/** Days of each month in a leap year: MMDD allows 29 February, the year decides later. */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function checkMonthDay(month: unknown, day: unknown, at: number): void {
  whole(month, 1, 12, 'month', at);
  whole(day, 1, MONTH_DAYS[month - 1]!, `day of month ${two(month)}`, at + 2);
}

function checkTime(hour: unknown, minute: unknown, second: unknown, at: number): void {
  whole(hour, 0, 23, 'hour', at);
  whole(minute, 0, 59, 'minute', at + 2);
  whole(second, 0, 59, 'second', at + 4);
}

/** `MMDD` ↔ {month, day}: month 01–12 and a day that month has (0229 included). */
export const MONTH_DAY: ValueKind<MonthDay> = {
  description: 'MMDD: a month and one of its days (29 February included)',
  encode(v) {
    checkMonthDay(v.month, v.day, 0);
    return two(v.month) + two(v.day);
  },
  decode(wire) {
    exactLength(wire, 4, 'MMDD');
    const month = digitsAt(wire, 0, 2, 'month');
    const day = digitsAt(wire, 2, 2, 'day');
    checkMonthDay(month, day, 0);
    return { month, day };
  },
};

/** `hhmmss` ↔ {hour, minute, second}: 00–23, 00–59, 00–59. */
export const TIME_OF_DAY: ValueKind<TimeOfDay> = {
  description: 'hhmmss: hour 00–23, minute and second 00–59',
  encode(v) {
    checkTime(v.hour, v.minute, v.second, 0);
    return two(v.hour) + two(v.minute) + two(v.second);
  },
  decode(wire) {
    exactLength(wire, 6, 'hhmmss');
    const hour = digitsAt(wire, 0, 2, 'hour');
    const minute = digitsAt(wire, 2, 2, 'minute');
    const second = digitsAt(wire, 4, 2, 'second');
    checkTime(hour, minute, second, 0);
    return { hour, minute, second };
  },
};

/** `MMDDhhmmss` ↔ {month, day, hour, minute, second}. */
export const TRANSMISSION_TIME: ValueKind<TransmissionTime> = {
  description: 'MMDDhhmmss in UTC',
  encode(v) {
    return MONTH_DAY.encode(v) + TIME_OF_DAY.encode(v);
  },
  decode(wire) {
    exactLength(wire, 10, 'MMDDhhmmss');
    const md = MONTH_DAY.decode(wire.slice(0, 4));
    const t = part(4, () => TIME_OF_DAY.decode(wire.slice(4)));
    return { month: md.month, day: md.day, hour: t.hour, minute: t.minute, second: t.second };
  },
};

// ---------------------------------------------------------------------------------
// Composite values

/** Field 90: the original message a reversal names. */
export interface OriginalData {
  /** Its MTI, 4 digits (`0200`). */
  readonly mti: string;
  /** Its field 11, 6 digits as sent. */
  readonly stan: string;
  /** Its field 7. */
  readonly transmission: TransmissionTime;
}

const FILLER = '0'.repeat(22);

/** Field 90, n42: original MTI(4) + STAN(6) + field 7(10) + 22 zeros (§1.3). */
export const ORIGINAL_DATA: ValueKind<OriginalData> = {
  description: 'original MTI (4) + STAN (6) + field 7 (10) + 22 zeros',
  encode(v) {
    digitString(v.mti, 4, 'original MTI');
    digitString(v.stan, 6, 'original STAN');
    return v.mti + v.stan + TRANSMISSION_TIME.encode(v.transmission) + FILLER;
  },
  decode(wire) {
    exactLength(wire, 42, 'original data elements');
    digitsAt(wire, 0, 4, 'original MTI');
    digitsAt(wire, 4, 6, 'original STAN');
    const transmission = part(10, () => TRANSMISSION_TIME.decode(wire.slice(10, 20)));
    for (let i = 20; i < 42; i++) if (wire[i] !== '0') throw new ValueError(i, `${shown(wire, i)} where the last 22 characters are zeros`);
    return { mti: wire.slice(0, 4), stan: wire.slice(4, 10), transmission };
  },
};

/** A terminal's or the switch's day totals: fields 74/86/75/87 of a 0500, tag `ST` of a 0510. */
export interface Totals {
  readonly count: number;
  readonly amountCents: number;
  readonly reversalCount: number;
  readonly reversalAmountCents: number;
}

const COUNT_10 = unsigned(10, 'count');
const CENTS_16 = unsigned(16, 'cents');

/** Tag `ST`: count (10) + amount (16) + reversal count (10) + reversal amount (16), §1.4. */
export const TOTALS: ValueKind<Totals> = {
  description: 'count (10 digits) + cents (16) + reversal count (10) + reversal cents (16)',
  encode(v) {
    return COUNT_10.encode(v.count) + CENTS_16.encode(v.amountCents) + COUNT_10.encode(v.reversalCount) + CENTS_16.encode(v.reversalAmountCents);
  },
  decode(wire) {
    exactLength(wire, 52, 'totals');
    return {
      count: COUNT_10.decode(wire.slice(0, 10)),
      amountCents: part(10, () => CENTS_16.decode(wire.slice(10, 26))),
      reversalCount: part(26, () => COUNT_10.decode(wire.slice(26, 36))),
      reversalAmountCents: part(36, () => CENTS_16.decode(wire.slice(36, 52))),
    };
  },
};

// ---------------------------------------------------------------------------------
// Calendar: the year that MMDD leaves out, and the instants of field 7

const isLeap = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
const hasDay = (year: number, md: MonthDay): boolean => md.day <= (md.month === 2 && !isLeap(year) ? 28 : MONTH_DAYS[md.month - 1]!);
const isoDateOf = (year: number, md: MonthDay): string => `${String(year).padStart(4, '0')}-${two(md.month)}-${two(md.day)}`;

function parseIsoDate(date: string): { year: number } & MonthDay {
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(date);
  const v = m ? { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) } : null;
  if (!v || v.month < 1 || v.month > 12 || v.day < 1 || !hasDay(v.year, v)) throw new RangeError(`not a date YYYY-MM-DD: ${JSON.stringify(date)}`);
  return v;
}

/** `YYYYMMDD` ↔ an ISO date `YYYY-MM-DD` that exists (tag `DD`). */
export const COMPACT_DATE: ValueKind<string> = {
  description: 'YYYYMMDD, a date that exists',
  encode(v) {
    let d: ReturnType<typeof parseIsoDate>;
    try {
      d = parseIsoDate(v);
    } catch (err) {
      throw new ValueError(0, (err as Error).message);
    }
    return `${String(d.year).padStart(4, '0')}${two(d.month)}${two(d.day)}`;
  },
  decode(wire) {
    exactLength(wire, 8, 'YYYYMMDD');
    const year = digitsAt(wire, 0, 4, 'year');
    const md = part(4, () => MONTH_DAY.decode(wire.slice(4)));
    if (!hasDay(year, md)) throw new ValueError(6, `${year} has no ${two(md.month)}-${two(md.day)}`);
    return isoDateOf(year, md);
  },
};

/** The month and day of an ISO date `YYYY-MM-DD` (what fields 13 and 15 carry of it). RangeError if it is not one. */
export function monthDayOf(date: string): MonthDay {
  const { month, day } = parseIsoDate(date);
  return { month, day };
}

/** The time of day of `HH:MM:SS` (what field 12 carries). RangeError if it is not one. */
export function timeOfDayOf(time: string): TimeOfDay {
  const m = /^([0-9]{2}):([0-9]{2}):([0-9]{2})$/.exec(time);
  const t = m ? { hour: Number(m[1]), minute: Number(m[2]), second: Number(m[3]) } : null;
  if (!t || t.hour > 23 || t.minute > 59 || t.second > 59) throw new RangeError(`not a time HH:MM:SS: ${JSON.stringify(time)}`);
  return t;
}

/**
 * The date a MMDD names when it cannot be after `latest` (a 0500's field 13, with
 * tomorrow as `latest`): that month and day in `latest`'s year, or in the year before if
 * that would be after `latest`. Undefined when the year so chosen has no such day (29
 * February of a common year): the field names no date.
 */
export function dateNotAfter(md: MonthDay, latest: string): string | undefined {
  const { year } = parseIsoDate(latest);
  const y = isoDateOf(year, md) <= latest ? year : year - 1;
  return hasDay(y, md) ? isoDateOf(y, md) : undefined;
}

/**
 * The date a MMDD names when it cannot be before `earliest` (a 0210's field 15, the
 * settlement day, with today as `earliest`): that month and day in `earliest`'s year,
 * or in the year after if that would be before `earliest`. Undefined when the year so
 * chosen has no such day.
 */
export function dateNotBefore(md: MonthDay, earliest: string): string | undefined {
  const { year } = parseIsoDate(earliest);
  const y = isoDateOf(year, md) >= earliest ? year : year + 1;
  return hasDay(y, md) ? isoDateOf(y, md) : undefined;
}

/** Field 7 of an instant: its UTC month, day and time, to the second. */
export function transmissionAt(instantMs: number): TransmissionTime {
  const d = new Date(instantMs);
  if (Number.isNaN(d.getTime())) throw new RangeError(`not an instant: ${instantMs}`);
  return { month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
}

/**
 * The instant a field 7 names, the year being the one that puts it nearest to `nearMs`
 * (the receiver's clock): `nearMs`'s UTC year, the one before or the one after.
 * Undefined for 29 February when none of the three is a leap year.
 */
export function instantOf(t: TransmissionTime, nearMs: number): number | undefined {
  const year = new Date(nearMs).getUTCFullYear();
  let best: number | undefined;
  for (const y of [year - 1, year, year + 1]) {
    if (!hasDay(y, t)) continue;
    const at = new Date(0);
    at.setUTCFullYear(y, t.month - 1, t.day); // not Date.UTC, which reads years 0–99 as 1900–1999
    at.setUTCHours(t.hour, t.minute, t.second, 0);
    const ms = at.getTime();
    if (best === undefined || Math.abs(ms - nearMs) < Math.abs(best - nearMs)) best = ms;
  }
  return best;
}
