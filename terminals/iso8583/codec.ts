// The ISO 8583 packer/unpacker of docs/terminal-protocol §1.2: MTI, primary bitmap,
// secondary bitmap iff a field above 64 is present, then the fields in ascending
// order. All field handling is one generic loop over the bitmap driven by the table
// in spec.ts; there is no per-field code here. encode/decode/partialHeader take the
// table as an optional last argument (default: the protocol's FIELDS), as moov-io
// passes a message spec; only tests use another one.
//
// Invariants kept by this module (and tested as properties):
// - decode(encode(m)) equals m for every m that encode accepts with full-length values;
// - encode(decode(b)) equals b for every b that decode accepts: the wire form is
//   canonical (uppercase hex only, bit 1 iff a field above 64, no trailing bytes), so
//   one message has exactly one encoding and a MAC over it is unambiguous;
// - a MAC field (64 or 128) is always the last field present;
// - decode never throws anything but IsoError; partialHeader never throws.
import { computeMac, macEquals, MAC_HEX_LENGTH } from '../keys.js';
import { IsoError, type IsoErrorField } from './errors.js';
import { FIELDS, FORMATS, PREFIX_DIGITS, REQUESTS, wireLength, type FieldSpec, type FieldTable } from './spec.js';

export { IsoError, type IsoErrorField } from './errors.js';

/**
 * A message: the MTI and its fields by number. Values are strings exactly as carried
 * on the wire: digits for `n`, padded text for fixed `an`/`ans` ('T0001   '), 16
 * uppercase hex characters for the MACs. Field 1 (the bitmap indicator) never appears;
 * the codec derives it. `decode` returns the map in ascending field order.
 */
export interface IsoMessage {
  mti: string;
  fields: Map<number, string>;
}

const MTI_LENGTH = 4;
const BITMAP_LENGTH = 16;
const SECONDARY_BIT = 1;

/** Builds a message from a plain object: `message('0200', { 3: '500000', 11: '000001' })`. */
export function message(mti: string, fields: Readonly<Record<number, string>>): IsoMessage {
  return {
    mti,
    fields: new Map(
      Object.entries(fields)
        .map(([k, v]) => [Number(k), v] as [number, string])
        .sort((a, b) => a[0] - b[0]),
    ),
  };
}

function specOf(table: FieldTable, n: number): FieldSpec | undefined {
  return Object.hasOwn(table, n) ? table[n] : undefined;
}

// ---------------------------------------------------------------------------------
// Values

function firstBad(value: string, allows: (c: number) => boolean): number {
  for (let i = 0; i < value.length; i++) if (!allows(value.charCodeAt(i))) return i;
  return -1;
}

/** Checks a value (already padded, for fixed fields) against its spec; `at` is its offset. */
function checkValue(n: number, spec: FieldSpec, value: string, at: number): void {
  const rule = FORMATS[spec.format];
  const bad = firstBad(value, rule.allows);
  if (bad >= 0) {
    const c = value.charCodeAt(bad);
    const shown = c >= 0x20 && c <= 0x7e ? `'${value[bad]}'` : `0x${c.toString(16).padStart(2, '0')}`;
    throw new IsoError(n, at + bad, `${spec.name}: ${shown} is not allowed, expected ${rule.description}`);
  }
  if (spec.shape && !spec.shape.re.test(value)) {
    throw new IsoError(n, at, `${spec.name}: ${JSON.stringify(value)} is not ${spec.shape.description}`);
  }
}

// ---------------------------------------------------------------------------------
// Bitmaps

const HEX = '0123456789ABCDEF';

function bitmapHex(present: ReadonlySet<number>, base: number): string {
  let out = '';
  for (let digit = 0; digit < BITMAP_LENGTH; digit++) {
    let v = 0;
    for (let bit = 0; bit < 4; bit++) if (present.has(base + digit * 4 + bit + 1)) v |= 8 >> bit;
    out += HEX[v];
  }
  return out;
}

/**
 * Reads one bitmap at `off` and returns the field numbers it sets (base+1 … base+64),
 * ascending. Only uppercase hex is accepted (§1.2 says 16 uppercase hex characters;
 * accepting lowercase too would give one message two encodings). `lenient` accepts
 * lowercase as well: partialHeader uses it only to find fields 11 and 41 of a frame
 * that decode has already refused, so that the terminal gets its `30`.
 */
function readBitmap(buf: Buffer, off: number, base: number, label: 'bitmap' | 'secondary bitmap', lenient = false): number[] {
  if (buf.length < off + BITMAP_LENGTH) {
    throw new IsoError(label, off, `message ends inside the ${label} (${buf.length - off} of ${BITMAP_LENGTH} characters)`);
  }
  const bits: number[] = [];
  for (let digit = 0; digit < BITMAP_LENGTH; digit++) {
    const c = buf[off + digit]!;
    const lower = c >= 0x61 && c <= 0x66;
    const v = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x41 + 10 : lenient && lower ? c - 0x61 + 10 : -1;
    if (v < 0) {
      throw new IsoError(
        label,
        off + digit,
        lower
          ? `lowercase hex digit '${String.fromCharCode(c)}': a ${label} is 16 uppercase hex characters`
          : `not an uppercase hex digit: 0x${c.toString(16).padStart(2, '0')}`,
      );
    }
    for (let bit = 0; bit < 4; bit++) if (v & (8 >> bit)) bits.push(base + digit * 4 + bit + 1);
  }
  return bits;
}

/** Offset of the hex digit that carries field `n`'s bit. */
function bitOffset(n: number, primaryAt: number): number {
  return n <= 64 ? primaryAt + Math.floor((n - 1) / 4) : primaryAt + BITMAP_LENGTH + Math.floor((n - 65) / 4);
}

/**
 * The bitmap rules that do not depend on field data: every field defined, bit 1 iff a
 * field above 64, a MAC field last. Shared by encode and decode so that they accept
 * exactly the same messages.
 */
function checkFieldSet(table: FieldTable, numbers: readonly number[], secondaryFlag: boolean, at: (n: number) => number): void {
  for (const n of numbers) {
    if (n === SECONDARY_BIT) continue;
    if (!specOf(table, n)) throw new IsoError(n, at(n), `bit ${n} is set but field ${n} is not defined by the terminal protocol`);
  }
  const fields = numbers.filter((n) => n !== SECONDARY_BIT);
  const hasHigh = fields.some((n) => n > 64);
  if (secondaryFlag && !hasHigh) {
    throw new IsoError('secondary bitmap', MTI_LENGTH + BITMAP_LENGTH, 'bit 1 is set but the secondary bitmap sets no field');
  }
  for (let i = 0; i < fields.length - 1; i++) {
    const n = fields[i]!;
    if (specOf(table, n)!.mac) {
      throw new IsoError(n, at(n), `the MAC (field ${n}) must be the last field, but field ${fields[i + 1]} follows it`);
    }
  }
}

// ---------------------------------------------------------------------------------
// Encode

/**
 * Packs a message (without the 2-byte frame length). Fixed fields shorter than their
 * length are padded per §1.2; a value that is too long, has a character its format
 * does not allow, or names an undefined field throws IsoError naming the field and
 * the offset it would have had.
 */
export function encode(msg: IsoMessage, table: FieldTable = FIELDS): Buffer {
  if (typeof msg.mti !== 'string' || !/^[0-9]{4}$/.test(msg.mti)) {
    throw new IsoError('mti', 0, `MTI must be 4 digits, got ${JSON.stringify(msg.mti)}`);
  }
  const numbers = [...msg.fields.keys()].sort((a, b) => a - b);
  for (const n of numbers) {
    if (!Number.isInteger(n) || n < 1 || n > 128) throw new IsoError(n, MTI_LENGTH, `field number ${n} is out of range 2–128`);
    if (n === SECONDARY_BIT) throw new IsoError(n, MTI_LENGTH, 'field 1 is the bitmap indicator and is set by the codec');
  }
  const present = new Set(numbers);
  const secondary = numbers.some((n) => n > 64);
  if (secondary) present.add(SECONDARY_BIT);
  checkFieldSet(table, numbers, false, (n) => bitOffset(n, MTI_LENGTH));

  const parts: string[] = [msg.mti, bitmapHex(present, 0)];
  let off = MTI_LENGTH + BITMAP_LENGTH;
  if (secondary) {
    parts.push(bitmapHex(present, 64));
    off += BITMAP_LENGTH;
  }
  for (const n of numbers) {
    const spec = specOf(table, n)!;
    const raw = msg.fields.get(n);
    if (typeof raw !== 'string') throw new IsoError(n, off, `${spec.name}: value must be a string, got ${typeof raw}`);
    const digits = PREFIX_DIGITS[spec.prefix];
    const max = wireLength(spec);
    if (raw.length > max) {
      throw new IsoError(n, off, `${spec.name}: ${raw.length} characters, at most ${max} allowed`);
    }
    let value = raw;
    if (digits === 0 && raw.length < max) {
      const rule = FORMATS[spec.format];
      if (rule.pad === 'none') throw new IsoError(n, off, `${spec.name}: ${raw.length} characters, exactly ${max} required`);
      value = rule.pad === 'start' ? raw.padStart(max, rule.padChar) : raw.padEnd(max, rule.padChar);
    }
    checkValue(n, spec, value, off + digits);
    if (digits > 0) parts.push(String(value.length).padStart(digits, '0'));
    parts.push(value);
    off += digits + value.length;
  }
  return Buffer.from(parts.join(''), 'latin1');
}

// ---------------------------------------------------------------------------------
// Decode

/**
 * Where field `n`'s data lies, reading its length prefix if it has one. Throws on a
 * bad or excessive prefix and on data running past the end. Does not check the data.
 */
function fieldExtent(buf: Buffer, off: number, n: number, spec: FieldSpec): { start: number; end: number } {
  const digits = PREFIX_DIGITS[spec.prefix];
  const max = wireLength(spec);
  let length = max;
  if (digits > 0) {
    if (buf.length < off + digits) throw new IsoError(n, off, `${spec.name}: message ends inside the length prefix`);
    const prefix = buf.toString('latin1', off, off + digits);
    const bad = firstBad(prefix, FORMATS.n.allows);
    if (bad >= 0) throw new IsoError(n, off + bad, `${spec.name}: length prefix ${JSON.stringify(prefix)} is not ${digits} digits`);
    length = Number(prefix);
    if (length > max) throw new IsoError(n, off, `${spec.name}: length ${length} is above the maximum ${max}`);
  }
  const start = off + digits;
  const end = start + length;
  if (end > buf.length) {
    throw new IsoError(n, digits > 0 ? off : start, `${spec.name}: ${length} characters declared, only ${buf.length - start} left in the message`);
  }
  return { start, end };
}

/**
 * Unpacks a message (without the 2-byte frame length), strictly: anything §1.2 does
 * not allow throws IsoError naming the field and byte offset. Messages without a MAC
 * are accepted, and so are messages lacking mandatory fields: callers check those
 * (`missingFields`) and the MAC (`verifyMac`).
 */
export function decode(buf: Buffer, table: FieldTable = FIELDS): IsoMessage {
  if (buf.length < MTI_LENGTH) throw new IsoError('mti', 0, `message ends inside the MTI (${buf.length} bytes)`);
  const mti = buf.toString('latin1', 0, MTI_LENGTH);
  const badMti = firstBad(mti, FORMATS.n.allows);
  if (badMti >= 0) throw new IsoError('mti', badMti, `MTI ${JSON.stringify(mti)} is not 4 digits`);

  let numbers = readBitmap(buf, MTI_LENGTH, 0, 'bitmap');
  const secondary = numbers[0] === SECONDARY_BIT;
  let off = MTI_LENGTH + BITMAP_LENGTH;
  if (secondary) {
    numbers = numbers.concat(readBitmap(buf, off, 64, 'secondary bitmap'));
    off += BITMAP_LENGTH;
  }
  checkFieldSet(table, numbers, secondary, (n) => bitOffset(n, MTI_LENGTH));

  const fields = new Map<number, string>();
  let last: IsoErrorField = secondary ? 'secondary bitmap' : 'bitmap';
  for (const n of numbers) {
    if (n === SECONDARY_BIT) continue;
    const spec = specOf(table, n)!;
    const { start, end } = fieldExtent(buf, off, n, spec);
    const value = buf.toString('latin1', start, end);
    checkValue(n, spec, value, start);
    fields.set(n, value);
    off = end;
    last = n;
  }
  if (off !== buf.length) {
    throw new IsoError(last, off, `${buf.length - off} trailing bytes after the last field`);
  }
  return { mti, fields };
}

/** What could be read of a frame that failed to decode (§1.1: answer `30` if all three are there). */
export interface PartialHeader {
  mti?: string;
  /** Field 11, when present and 6 digits. */
  stan?: string;
  /** Field 41 as on the wire (8 printable characters, padding kept). */
  terminalId?: string;
}

/**
 * Best-effort reading of MTI, field 11 and field 41 from a frame that failed to
 * decode. It walks the same table, skipping fixed fields by their length whatever
 * their content, and stops at the first thing it cannot get past (a bitmap that is
 * not hex, an undefined bit before field 41, a bad length prefix, the end of data).
 * Unlike decode it reads the primary bitmap case-insensitively: a bitmap in lowercase
 * (or mixed-case) hex is malformed, but it still says where 11 and 41 are, and the
 * terminal is better served by a `30` than by a hang-up. The secondary bitmap is
 * skipped (it sets nothing below 65). Each value is returned only if it is itself
 * well-formed. Never throws.
 */
export function partialHeader(buf: Buffer, table: FieldTable = FIELDS): PartialHeader {
  const out: PartialHeader = {};
  try {
    if (!Buffer.isBuffer(buf) || buf.length < MTI_LENGTH) return out;
    const mti = buf.toString('latin1', 0, MTI_LENGTH);
    if (firstBad(mti, FORMATS.n.allows) < 0) out.mti = mti;
    const numbers = readBitmap(buf, MTI_LENGTH, 0, 'bitmap', true);
    // The secondary bitmap's content does not matter below field 41: skip it.
    let off = MTI_LENGTH + BITMAP_LENGTH * (numbers[0] === SECONDARY_BIT ? 2 : 1);
    for (const n of numbers) {
      if (n === SECONDARY_BIT) continue;
      if (n > 41) break;
      const spec = specOf(table, n);
      if (!spec) break;
      const { start, end } = fieldExtent(buf, off, n, spec);
      const value = buf.toString('latin1', start, end);
      let ok = true;
      try {
        checkValue(n, spec, value, start);
      } catch {
        ok = false;
      }
      if (ok && n === 11) out.stan = value;
      if (ok && n === 41) out.terminalId = value;
      off = end;
    }
  } catch {
    // best effort: keep what was read
  }
  return out;
}

/** Mandatory request fields (§1.5) the message lacks; [] for MTIs §1.5 does not list. */
export function missingFields(msg: IsoMessage): number[] {
  const rule = REQUESTS[msg.mti];
  return rule ? rule.mandatory.filter((n) => !msg.fields.has(n)) : [];
}

// ---------------------------------------------------------------------------------
// MTI

/**
 * The response MTI for a request or advice (ISO 8583:1987): the function digit goes
 * from 0 (request) to 1 or from 2 (advice) to 3, and a repeat origin becomes the
 * original one: 0200 → 0210, 0420 and 0421 → 0430, 0800 → 0810. Throws IsoError
 * ('mti') for anything that is not a request or advice, e.g. a response.
 */
export function responseMti(mti: string): string {
  const m = /^([0-9]{2})([02])([0-5])$/.exec(mti);
  if (!m) throw new IsoError('mti', 0, `${JSON.stringify(mti)} is not a request or advice MTI`);
  const origin = Number(m[3]) & ~1;
  return `${m[1]}${Number(m[2]) + 1}${origin}`;
}

export function isRequestMti(mti: string): boolean {
  return /^[0-9]{2}[02][0-5]$/.test(mti);
}

// ---------------------------------------------------------------------------------
// MAC (§1.7)

/** The bytes the MAC covers: the packed message minus its last 16 bytes (the MAC data). */
export function macInput(packed: Buffer): Buffer {
  if (packed.length < MTI_LENGTH + BITMAP_LENGTH + MAC_HEX_LENGTH) {
    throw new RangeError(`a MACed message is at least ${MTI_LENGTH + BITMAP_LENGTH + MAC_HEX_LENGTH} bytes, got ${packed.length}`);
  }
  return packed.subarray(0, packed.length - MAC_HEX_LENGTH);
}

/** The MAC field a message carries: 128 when it has a field above 64, else 64. */
export function macField(msg: IsoMessage): 64 | 128 {
  for (const n of msg.fields.keys()) if (n > 64 && n !== 128) return 128;
  return 64;
}

/**
 * Packs a message with its MAC under `key`. Any MAC field already in `msg` is
 * replaced; the MAC goes in 128 if the message has a field above 64, else in 64.
 */
export function withMac(msg: IsoMessage, key: Buffer): Buffer {
  const fields = new Map(msg.fields);
  fields.delete(64);
  fields.delete(128);
  fields.set(macField({ mti: msg.mti, fields }), '0'.repeat(MAC_HEX_LENGTH));
  const packed = encode({ mti: msg.mti, fields });
  // The MAC is fixed-length and last, so the bytes before it do not depend on it.
  packed.write(computeMac(key, macInput(packed)), packed.length - MAC_HEX_LENGTH, 'latin1');
  return packed;
}

/**
 * Whether `packed` (as received, without the frame length) carries a correct MAC
 * under `key`; `msg` is its decoding. False if the message has no MAC field or the
 * MAC is not the packed message's last 16 bytes. Timing-safe.
 */
export function verifyMac(packed: Buffer, msg: IsoMessage, key: Buffer): boolean {
  const mac = msg.fields.get(128) ?? msg.fields.get(64);
  if (mac === undefined || mac.length !== MAC_HEX_LENGTH || packed.length < MTI_LENGTH + BITMAP_LENGTH + MAC_HEX_LENGTH) return false;
  const carried = packed.toString('latin1', packed.length - MAC_HEX_LENGTH);
  const expected = computeMac(key, macInput(packed));
  // Both comparisons always run, so timing does not reveal which one failed.
  const sameAsField = macEquals(carried, mac);
  const correct = macEquals(carried, expected);
  return sameAsField && correct;
}
