// The ISO 8583 field table of docs/terminal-protocol §1.3, as data. The codec walks
// this table with one generic loop over the bitmap (the jPOS ISO87APackager /
// moov-io field-spec style): adding or changing a field is a change to this table
// only, never to the codec.
//
// Encoding is ISO 8583:1987 in ASCII (§1.2). Every wire character is one byte, so
// string indices and byte offsets coincide.
//
// A field may also name the kind of its typed value (values.ts): amounts in integer
// cents, counts, MMDD, times, field 90's parts. Callers read and write those fields
// through getField / toWire / wireFields below, never by padding or slicing strings.
// The codec itself stays with strings: a message decodes whatever its values mean, and
// a value that means nothing (month 13) is refused where it is read, naming the field.
import { IsoError } from './errors.js';
import {
  FEE,
  MONTH_DAY,
  ORIGINAL_DATA,
  TIME_OF_DAY,
  TRANSMISSION_TIME,
  ValueError,
  unsigned,
  type ValueKind,
} from './values.js';

/**
 * Wire formats.
 * - `n`: ASCII digits; a fixed `n` field shorter than its length is right-justified
 *   and zero-padded on encode.
 * - `an`: letters, digits and space; fixed fields are left-justified, space-padded.
 * - `ans`: printable ASCII 0x20–0x7E; fixed fields are left-justified, space-padded.
 * - `b`: binary, carried as uppercase hex ASCII, two characters per byte; never padded.
 */
export type Format = 'n' | 'an' | 'ans' | 'b';

/** FIXED: exactly `length`; LLVAR / LLLVAR: 2 / 3 ASCII digits of length, then the data. */
export type Prefix = 'FIXED' | 'LLVAR' | 'LLLVAR';

export interface FieldSpec {
  readonly name: string;
  readonly format: Format;
  /** Length in format units (bytes for `b`, characters otherwise); the maximum for var fields. */
  readonly length: number;
  readonly prefix: Prefix;
  /** A further shape the whole value must have, beyond the charset (field 28). */
  readonly shape?: { readonly re: RegExp; readonly description: string };
  /** A MAC field: it must be the last field present (§1.7). */
  readonly mac?: true;
  /** The kind of the field's typed value, read and written with getField / toWire. */
  readonly value?: ValueKind<unknown>;
}

/** A field spec with a typed value of type T. */
export type TypedFieldSpec<T> = Omit<FieldSpec, 'value'> & { readonly value: ValueKind<T> };

export interface FormatRule {
  /** Whether one character (char code) is allowed. */
  readonly allows: (c: number) => boolean;
  readonly description: string;
  /** How a fixed field shorter than its length is padded on encode. */
  readonly pad: 'start' | 'end' | 'none';
  readonly padChar: string;
  /** Wire characters per unit of `length` (2 for `b`: one byte as two hex digits). */
  readonly charsPerUnit: number;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isUpperHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46);
const isAlnumSpace = (c: number): boolean =>
  isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x20;
const isPrintable = (c: number): boolean => c >= 0x20 && c <= 0x7e;

export const FORMATS: Readonly<Record<Format, FormatRule>> = {
  n: { allows: isDigit, description: 'digits', pad: 'start', padChar: '0', charsPerUnit: 1 },
  an: { allows: isAlnumSpace, description: 'letters, digits or spaces', pad: 'end', padChar: ' ', charsPerUnit: 1 },
  ans: { allows: isPrintable, description: 'printable ASCII', pad: 'end', padChar: ' ', charsPerUnit: 1 },
  b: { allows: isUpperHex, description: 'uppercase hex', pad: 'none', padChar: '', charsPerUnit: 2 },
};

/** Digits of the length prefix. */
export const PREFIX_DIGITS: Readonly<Record<Prefix, number>> = { FIXED: 0, LLVAR: 2, LLLVAR: 3 };

const fixed = (name: string, format: Format, length: number, extra: Partial<FieldSpec> = {}): FieldSpec => ({
  name,
  format,
  length,
  prefix: 'FIXED',
  ...extra,
});

const typed = <T>(spec: FieldSpec, value: ValueKind<T>): TypedFieldSpec<T> => ({ ...spec, value });

/** A field table: field number → spec. Field 1 and numbers above 128 must not appear. */
export type FieldTable = Readonly<Record<number, FieldSpec>>;

const CENTS_12 = unsigned(12, 'cents');
const COUNT_10 = unsigned(10, 'count');
const CENTS_16 = unsigned(16, 'cents');

const TABLE = {
  3: fixed('processing code', 'n', 6),
  4: typed(fixed('amount, transaction', 'n', 12), CENTS_12),
  7: typed(fixed('transmission date and time', 'n', 10), TRANSMISSION_TIME),
  11: fixed('STAN', 'n', 6),
  12: typed(fixed('time, local transaction', 'n', 6), TIME_OF_DAY),
  13: typed(fixed('date, local transaction', 'n', 4), MONTH_DAY),
  15: typed(fixed('date, settlement', 'n', 4), MONTH_DAY),
  // ISO's x+n9 written as an9 by §1.3, which allows only `D` (a fee the citizen pays).
  28: typed(fixed('amount, transaction fee', 'an', 9, { shape: { re: /^D[0-9]{8}$/, description: "'D' followed by 8 digits" } }), FEE),
  37: fixed('retrieval reference number', 'an', 12),
  38: fixed('approval code', 'an', 6),
  39: fixed('response code', 'an', 2),
  41: fixed('terminal id', 'ans', 8),
  42: fixed('card acceptor id', 'ans', 15),
  48: { name: 'additional data', format: 'ans', length: 999, prefix: 'LLLVAR' },
  49: fixed('currency code', 'n', 3),
  64: fixed('MAC', 'b', 8, { mac: true }),
  70: fixed('network management code', 'n', 3),
  74: typed(fixed('credits, number', 'n', 10), COUNT_10),
  75: typed(fixed('credits, reversal number', 'n', 10), COUNT_10),
  86: typed(fixed('credits, amount', 'n', 16), CENTS_16),
  87: typed(fixed('credits, reversal amount', 'n', 16), CENTS_16),
  90: typed(fixed('original data elements', 'n', 42), ORIGINAL_DATA),
  128: fixed('MAC', 'b', 8, { mac: true }),
} satisfies FieldTable;

/**
 * §1.3. Field 1 (the secondary bitmap indicator) is not in the table: the codec sets
 * and reads it. Field 65 (the tertiary bitmap indicator) is not defined either, so a
 * message with bit 65 set is rejected like any other undefined field.
 */
export const FIELDS: FieldTable = TABLE;

/** Field numbers the table defines, ascending. */
export const FIELD_NUMBERS: readonly number[] = Object.keys(FIELDS)
  .map(Number)
  .sort((a, b) => a - b);

export function fieldSpec(n: number): FieldSpec | undefined {
  return Object.hasOwn(FIELDS, n) ? FIELDS[n] : undefined;
}

/** Characters the field's data occupies on the wire (fixed), or may occupy at most (var). */
export function wireLength(spec: FieldSpec): number {
  return spec.length * FORMATS[spec.format].charsPerUnit;
}

/**
 * The request messages of §1.5: the response MTI and the fields a request must carry.
 * The codec does not enforce these (it decodes any well-formed message); callers check
 * them with `missingFields` and answer `30` when one is absent.
 */
export const REQUESTS: Readonly<Record<string, { readonly response: string; readonly purpose: string; readonly mandatory: readonly number[] }>> = {
  '0800': { response: '0810', purpose: 'network management (sign-on, sign-off, echo)', mandatory: [7, 11, 41, 70, 128] },
  '0100': { response: '0110', purpose: 'payment inquiry', mandatory: [3, 4, 7, 11, 12, 13, 41, 42, 48, 49, 64] },
  '0200': { response: '0210', purpose: 'bill payment', mandatory: [3, 4, 7, 11, 12, 13, 41, 42, 48, 49, 64] },
  '0400': { response: '0410', purpose: 'reversal', mandatory: [3, 4, 7, 11, 41, 42, 49, 90, 128] },
  '0420': { response: '0430', purpose: 'reversal advice', mandatory: [3, 4, 7, 11, 41, 42, 49, 90, 128] },
  '0421': { response: '0430', purpose: 'reversal advice, repeat', mandatory: [3, 4, 7, 11, 41, 42, 49, 90, 128] },
  '0500': { response: '0510', purpose: 'reconciliation', mandatory: [7, 11, 13, 41, 42, 74, 75, 86, 87, 128] },
};

/** Field 70 values (§1.3). */
export const NETWORK_MANAGEMENT = { signOn: '001', signOff: '002', echo: '301' } as const;

/**
 * A fixed `an`/`ans` value without its right padding ('T0001   ' → 'T0001'). The codec
 * returns fields as they were on the wire; callers that want the bare value trim here.
 */
export function trimAns(value: string): string {
  return value.replace(/ +$/, '');
}

// ---------------------------------------------------------------------------------
// Typed values

type Table = typeof TABLE;

/** The fields whose spec names a typed value. */
export type TypedField = { [N in keyof Table]: Table[N] extends { readonly value: ValueKind<unknown> } ? N : never }[keyof Table];

/** The typed value of field N: `ValueOf<4>` is cents (number), `ValueOf<90>` an OriginalData. */
export type ValueOf<N extends TypedField> = Table[N] extends { readonly value: ValueKind<infer T> } ? T : never;

/** Typed values by field number, as handlers answer them: `{ 4: amountCents, 28: feeCents }`. */
export type FieldValues = { readonly [N in TypedField]?: ValueOf<N> };

/** Field numbers with a typed value, ascending. */
export const TYPED_FIELDS: readonly TypedField[] = FIELD_NUMBERS.filter((n): n is TypedField => FIELDS[n]!.value !== undefined);

function kindOf<N extends TypedField>(n: N): { name: string; value: ValueKind<ValueOf<N>> } {
  // The table's entry for N has the kind of ValueOf<N> by construction; TS cannot index it generically.
  return TABLE[n] as unknown as { name: string; value: ValueKind<ValueOf<N>> };
}

/**
 * Field n's wire string for a typed value (fixed fields at full length). A value that
 * does not fit (cents beyond 12 digits, a negative or fractional amount, month 13) throws
 * RangeError naming the field: it is the caller's value, never the peer's fault.
 */
export function toWire<N extends TypedField>(n: N, value: ValueOf<N>): string {
  const spec = kindOf(n);
  try {
    return spec.value.encode(value);
  } catch (err) {
    if (err instanceof ValueError) throw new RangeError(`field ${n} (${spec.name}): ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * The typed value of field n's wire string. A string that is not one (cents beyond 2^53,
 * 31 April, a fee that is not `D`, field 90 without its 22 zeros) throws IsoError naming
 * the field, with the offset of the fault inside the field's data.
 */
export function fromWire<N extends TypedField>(n: N, wire: string): ValueOf<N> {
  const spec = kindOf(n);
  try {
    return spec.value.decode(wire);
  } catch (err) {
    if (err instanceof ValueError) throw new IsoError(n, err.offset, `${spec.name}: ${err.message}`);
    throw err;
  }
}

/** Field n of a message as its typed value; undefined when absent. Throws IsoError as fromWire. */
export function getField<N extends TypedField>(msg: { readonly fields: ReadonlyMap<number, string> }, n: N): ValueOf<N> | undefined {
  const wire = msg.fields.get(n);
  return wire === undefined ? undefined : fromWire(n, wire);
}

/** Wire strings for typed values: `wireFields({ 4: 12345, 28: 150 })` → `{ 4: '000000012345', 28: 'D00000150' }`. */
export function wireFields(values: FieldValues): Record<number, string> {
  const out: Record<number, string> = {};
  for (const n of TYPED_FIELDS) {
    const v = values[n];
    if (v !== undefined) out[n] = toWire(n, v as never);
  }
  return out;
}
