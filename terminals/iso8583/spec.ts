// The ISO 8583 field table of docs/terminal-protocol §1.3, as data. The codec walks
// this table with one generic loop over the bitmap (the jPOS ISO87APackager /
// moov-io field-spec style): adding or changing a field is a change to this table
// only, never to the codec.
//
// Encoding is ISO 8583:1987 in ASCII (§1.2). Every wire character is one byte, so
// string indices and byte offsets coincide.

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
}

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

/** A field table: field number → spec. Field 1 and numbers above 128 must not appear. */
export type FieldTable = Readonly<Record<number, FieldSpec>>;

/**
 * §1.3. Field 1 (the secondary bitmap indicator) is not in the table: the codec sets
 * and reads it. Field 65 (the tertiary bitmap indicator) is not defined either, so a
 * message with bit 65 set is rejected like any other undefined field.
 */
export const FIELDS: FieldTable = {
  3: fixed('processing code', 'n', 6),
  4: fixed('amount, transaction', 'n', 12),
  7: fixed('transmission date and time', 'n', 10),
  11: fixed('STAN', 'n', 6),
  12: fixed('time, local transaction', 'n', 6),
  13: fixed('date, local transaction', 'n', 4),
  15: fixed('date, settlement', 'n', 4),
  // ISO's x+n9 written as an9 by §1.3, which allows only `D` (a fee the citizen pays).
  28: fixed('amount, transaction fee', 'an', 9, { shape: { re: /^D[0-9]{8}$/, description: "'D' followed by 8 digits" } }),
  37: fixed('retrieval reference number', 'an', 12),
  38: fixed('approval code', 'an', 6),
  39: fixed('response code', 'an', 2),
  41: fixed('terminal id', 'ans', 8),
  42: fixed('card acceptor id', 'ans', 15),
  48: { name: 'additional data', format: 'ans', length: 999, prefix: 'LLLVAR' },
  49: fixed('currency code', 'n', 3),
  64: fixed('MAC', 'b', 8, { mac: true }),
  70: fixed('network management code', 'n', 3),
  74: fixed('credits, number', 'n', 10),
  75: fixed('credits, reversal number', 'n', 10),
  86: fixed('credits, amount', 'n', 16),
  87: fixed('credits, reversal amount', 'n', 16),
  90: fixed('original data elements', 'n', 42),
  128: fixed('MAC', 'b', 8, { mac: true }),
};

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
