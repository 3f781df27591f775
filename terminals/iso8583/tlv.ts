// Field 48 as tag-length-value (docs/terminal-protocol §1.4): a sequence of elements,
// each a 2-character tag (uppercase letters or digits), 3 ASCII digits of length and
// that many characters of value. A tag appears at most once. Unknown tags are kept
// by the parser; callers look up the tags they know and ignore the rest.
import { IsoError } from './errors.js';
import { FIELDS } from './spec.js';
import { COMPACT_DATE, TOTALS, ValueError, decimal, type ValueKind } from './values.js';

const FIELD = 48;
const TAG_LENGTH = 2;
const LENGTH_DIGITS = 3;
const MAX_VALUE = 999;
const MAX_FIELD = FIELDS[FIELD]!.length;

const TAG = /^[A-Z0-9]{2}$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** The tags of §1.4, for readability at call sites (the parser accepts any valid tag). */
export const TAGS = {
  service: 'SV',
  identifier: 'ID',
  qr: 'QR',
  vehicleType: 'VT',
  fiscalCode: 'CF',
  year: 'YR',
  entity: 'EN',
  description: 'DS',
  dueDate: 'DD',
  amountDue: 'AD',
  receiptNumber: 'RN',
  error: 'ER',
  sessionKey: 'SK',
  switchTotals: 'ST',
  // 0110/0210 of a notice verified or paid through pagoPA: the creditor's fiscal code (§1.4).
  creditorFiscalCode: 'EF',
  // 0210 of a notice paid through pagoPA: the payment token the receipt prints (§1.4).
  paymentToken: 'PT',
  // Extensions (0110 of a bollo auto; terminals that do not know them ignore them, §1.4):
  // the amount due broken down, in cents, and the days late.
  tax: 'TX',
  sanction: 'SN',
  interest: 'IN',
  daysLate: 'DL',
} as const;

const CENTS = decimal('cents');

/**
 * The tags with a typed value (values.ts), as the field table names the kinds of fields:
 * read them with getTag / tagFromWire, write them with tagToWire.
 */
export const TAG_VALUES = {
  [TAGS.dueDate]: COMPACT_DATE,
  [TAGS.amountDue]: CENTS,
  [TAGS.switchTotals]: TOTALS,
  [TAGS.tax]: CENTS,
  [TAGS.sanction]: CENTS,
  [TAGS.interest]: CENTS,
  [TAGS.daysLate]: decimal('days'),
} as const satisfies Readonly<Record<string, ValueKind<unknown>>>;

export type TypedTag = keyof typeof TAG_VALUES;

/** The typed value of a tag: `TagValueOf<'ST'>` is Totals, `TagValueOf<'DD'>` an ISO date. */
export type TagValueOf<T extends TypedTag> = (typeof TAG_VALUES)[T] extends ValueKind<infer V> ? V : never;

function tagKind<T extends TypedTag>(tag: T): ValueKind<TagValueOf<T>> {
  // The entry for T has the kind of TagValueOf<T> by construction; TS cannot index it generically.
  return TAG_VALUES[tag] as unknown as ValueKind<TagValueOf<T>>;
}

/** A typed tag's value as written in field 48. A value that does not fit throws RangeError naming the tag. */
export function tagToWire<T extends TypedTag>(tag: T, value: TagValueOf<T>): string {
  try {
    return tagKind(tag).encode(value);
  } catch (err) {
    if (err instanceof ValueError) throw new RangeError(`field 48 TLV ${tag}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** A typed tag's value read from field 48. One that is not a value of its kind throws IsoError (field 48, offset inside the tag's value). */
export function tagFromWire<T extends TypedTag>(tag: T, wire: string): TagValueOf<T> {
  try {
    return tagKind(tag).decode(wire);
  } catch (err) {
    if (err instanceof ValueError) throw new IsoError(FIELD, err.offset, `TLV ${tag}: ${err.message}`);
    throw err;
  }
}

/** A typed tag of a parsed field 48 (parseTlv); undefined when absent. Throws IsoError as tagFromWire. */
export function getTag<T extends TypedTag>(tlv: ReadonlyMap<string, string>, tag: T): TagValueOf<T> | undefined {
  const wire = tlv.get(tag);
  return wire === undefined ? undefined : tagFromWire(tag, wire);
}

/**
 * Parses field 48's data. Strict: a bad tag, a length that is not 3 digits, a value
 * running past the end, a non-printable value or a repeated tag throw IsoError for
 * field 48. Offsets are inside field 48's data plus `baseOffset` (pass the data's
 * offset in the packed message to get message offsets). The map keeps wire order.
 */
export function parseTlv(s: string, baseOffset = 0): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < s.length) {
    const at = baseOffset + i;
    if (s.length - i < TAG_LENGTH + LENGTH_DIGITS) {
      throw new IsoError(FIELD, at, `TLV: ${s.length - i} characters left, an element needs at least ${TAG_LENGTH + LENGTH_DIGITS}`);
    }
    const tag = s.slice(i, i + TAG_LENGTH);
    if (!TAG.test(tag)) throw new IsoError(FIELD, at, `TLV: tag ${JSON.stringify(tag)} is not 2 uppercase letters or digits`);
    const len = s.slice(i + TAG_LENGTH, i + TAG_LENGTH + LENGTH_DIGITS);
    if (!/^[0-9]{3}$/.test(len)) throw new IsoError(FIELD, at + TAG_LENGTH, `TLV ${tag}: length ${JSON.stringify(len)} is not 3 digits`);
    const start = i + TAG_LENGTH + LENGTH_DIGITS;
    const end = start + Number(len);
    if (end > s.length) {
      throw new IsoError(FIELD, at + TAG_LENGTH, `TLV ${tag}: length ${Number(len)} runs past the end (${s.length - start} left)`);
    }
    const value = s.slice(start, end);
    if (!PRINTABLE.test(value)) throw new IsoError(FIELD, baseOffset + start, `TLV ${tag}: value is not printable ASCII`);
    if (out.has(tag)) throw new IsoError(FIELD, at, `TLV: tag ${tag} appears twice`);
    out.set(tag, value);
    i = end;
  }
  return out;
}

/**
 * Formats elements in the order given. Throws IsoError (field 48, offset in the
 * field's data) for a bad tag, a repeated tag, a value that is not printable ASCII or
 * longer than 999, or a result longer than field 48's maximum.
 */
export function formatTlv(entries: Iterable<readonly [string, string]> | ReadonlyMap<string, string>): string {
  const seen = new Set<string>();
  let out = '';
  for (const [tag, value] of entries) {
    if (!TAG.test(tag)) throw new IsoError(FIELD, out.length, `TLV: tag ${JSON.stringify(tag)} is not 2 uppercase letters or digits`);
    if (seen.has(tag)) throw new IsoError(FIELD, out.length, `TLV: tag ${tag} given twice`);
    if (typeof value !== 'string' || !PRINTABLE.test(value)) {
      throw new IsoError(FIELD, out.length, `TLV ${tag}: value is not printable ASCII`);
    }
    if (value.length > MAX_VALUE) throw new IsoError(FIELD, out.length, `TLV ${tag}: value of ${value.length} characters, at most ${MAX_VALUE}`);
    seen.add(tag);
    out += tag + String(value.length).padStart(LENGTH_DIGITS, '0') + value;
  }
  if (out.length > MAX_FIELD) throw new IsoError(FIELD, 0, `TLV: ${out.length} characters, field 48 holds at most ${MAX_FIELD}`);
  return out;
}
