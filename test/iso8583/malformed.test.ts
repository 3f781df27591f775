import { describe, expect, it } from 'vitest';
import { decode, encode, IsoError, message, partialHeader, type IsoErrorField } from '../../terminals/iso8583/codec.js';
import { FIELDS, type FieldTable } from '../../terminals/iso8583/spec.js';

// A valid 0200 without MAC, written out so that the corpus below reads as wire text.
//   0200 | 3238001000C10000 | 3 500000 | 4 000000012345 | 7 0315093512 | 11 000002
//   | 12 103512 | 13 0315 | 28 D00000150 | 41 'T0001   ' | 42 'SPORTELLO0001  '
//   | 48 032 SV004TARIID018301202400000000164 | 49 978
const MTI = '0200';
const BITMAP = '3238001000C18000';
const F = {
  3: '500000',
  4: '000000012345',
  7: '0315093512',
  11: '000002',
  12: '103512',
  13: '0315',
  28: 'D00000150',
  41: 'T0001   ',
  42: 'SPORTELLO0001  ',
  48: '032SV004TARIID018301202400000000164',
  49: '978',
};
const BODY = Object.values(F).join('');
const VALID = MTI + BITMAP + BODY;
/** Offset of field n's wire data (with its length prefix) in VALID. */
const at = (n: keyof typeof F): number => VALID.indexOf(F[n], MTI.length + BITMAP.length);

// A valid 0800 sign-on (secondary bitmap) without MAC: fields 7, 11, 41, 70.
const SIGNON = '0800' + '8220000000800000' + '0400000000000000' + '0315093000' + '000001' + 'T0001   ' + '001';

const swap = (s: string, i: number, c: string): string => s.slice(0, i) + c + s.slice(i + c.length);

function decodeError(wire: string | Buffer, table?: FieldTable): IsoError {
  const buf = typeof wire === 'string' ? Buffer.from(wire, 'latin1') : wire;
  try {
    decode(buf, table);
  } catch (err) {
    expect(err).toBeInstanceOf(IsoError);
    return err as IsoError;
  }
  throw new Error(`decoded without error: ${buf.toString('latin1')}`);
}

describe('the corpus is built on valid messages', () => {
  it('VALID and SIGNON decode, and re-encode to the same bytes', () => {
    for (const wire of [VALID, SIGNON]) {
      const buf = Buffer.from(wire, 'latin1');
      expect(encode(decode(buf)).equals(buf)).toBe(true);
    }
    expect(decode(Buffer.from(VALID)).fields.get(41)).toBe('T0001   ');
    expect(decode(Buffer.from(SIGNON)).fields.get(70)).toBe('001');
  });
});

describe('malformed messages: decode throws IsoError naming the field and offset', () => {
  const corpus: [string, string | Buffer, IsoErrorField, number][] = [
    ['empty message', '', 'mti', 0],
    ['MTI with a letter', swap(VALID, 2, 'A'), 'mti', 2],
    ['MTI cut short', '020', 'mti', 0],
    ['message ends after the MTI', '0200', 'bitmap', 4],
    ['bitmap not hex', swap(VALID, 12, 'G'), 'bitmap', 12],
    ['bitmap in lowercase hex', swap(VALID, 14, 'c'), 'bitmap', 14],
    ['bitmap cut short', '02003238', 'bitmap', 4],
    ['secondary bitmap not hex', swap(SIGNON, 22, 'Z'), 'secondary bitmap', 22],
    ['secondary bitmap in lowercase hex', swap(SIGNON, 20, 'c'), 'secondary bitmap', 20],
    ['bit 1 set but the secondary bitmap is empty', swap(SIGNON, 21, '0'), 'secondary bitmap', 20],
    ['bit 2 (undefined field) set', swap(VALID, 4, '7'), 2, 4],
    ['bit 65 (tertiary bitmap) set', swap(SIGNON, 20, '8'), 65, 20],
    ['bit 5 (undefined field) set', swap(VALID, 5, 'A'), 5, 5],
    ['field 64 (MAC) followed by fields above 64', '0800' + 'A220000000800001' + '0400000000000000' + '0315093000000001T0001   ' + 'ABCDEF0123456789' + '001', 64, 19],
    ['non-digit in an n field (4)', swap(VALID, at(4) + 5, 'X'), 4, at(4) + 5],
    ['space in an n field (11)', swap(VALID, at(11), ' '), 11, at(11)],
    ['non-digit in the n field 49', swap(VALID, at(49) + 2, '-'), 49, at(49) + 2],
    ['field 28 not D + 8 digits', swap(VALID, at(28), 'C'), 28, at(28)],
    ['field 28 with a symbol', swap(VALID, at(28) + 3, '.'), 28, at(28) + 3],
    ['field 41 with a control character', swap(VALID, at(41) + 5, '\x01'), 41, at(41) + 5],
    ['field 48 with a byte above 0x7E', swap(VALID, at(48) + 10, '\xc3'), 48, at(48) + 10],
    ['field 48 length prefix not digits', swap(VALID, at(48), '0x2'), 48, at(48) + 1],
    ['field 48 length past the end of the message', swap(VALID, at(48), '999'), 48, at(48)],
    ['field 48 length shorter than its data (the rest reads as trailing bytes)', swap(VALID, at(48), '030'), 49, at(48) + 36],
    ['truncated in a fixed field', VALID.slice(0, at(42) + 4), 42, at(42)],
    ['truncated inside the last field', VALID.slice(0, -1), 49, at(49)],
    ['truncated inside a length prefix', VALID.slice(0, at(48) + 2), 48, at(48)],
    ['truncated before a field', VALID.slice(0, at(3)), 3, at(3)],
    ['trailing bytes after the last field', VALID + 'XX', 49, VALID.length],
    ['trailing bytes after a bitmap with no fields', '0800' + '0000000000000000' + '1', 'bitmap', 20],
    ['a field the bitmap omits (42, whose data is then read as the length of 48)', swap(VALID, 4 + 10, '8'), 48, at(42)],
  ];

  it.each(corpus)('%s', (_what, wire, field, offset) => {
    const err = decodeError(wire);
    expect({ field: err.field, offset: err.offset }).toEqual({ field, offset });
    expect(err.message).toContain(typeof field === 'number' ? `field ${field}` : field);
    expect(err.message).toContain(`offset ${offset}`);
  });

  it('a lowercase MAC (b field) is rejected', () => {
    const wire = '0200' + '0000000000000001' + 'abcdef0123456789';
    expect(decodeError(wire)).toMatchObject({ field: 64, offset: 20 });
    expect(decodeError(VALID.slice(0, 19) + '1' + BODY + '0123456789abcdef')).toMatchObject({ field: 64, offset: VALID.length + 10 });
  });

  it('a lowercase bitmap digit is reported as lowercase, at its offset', () => {
    const err = decodeError(swap(VALID, 14, 'c'));
    expect(err.message).toBe("bitmap at offset 14: lowercase hex digit 'c': a bitmap is 16 uppercase hex characters");
  });

  it('a length prefix above the maximum is rejected (LLVAR field in a test table)', () => {
    // Field 48's LLLVAR maximum is 999, which 3 digits cannot exceed; a table with a
    // smaller maximum shows that the generic loop checks it.
    const table: FieldTable = { ...FIELDS, 2: { name: 'PAN', format: 'n', length: 19, prefix: 'LLVAR' } };
    expect(decode(Buffer.from('0200' + '4000000000000000' + '161234567890123456'), table).fields.get(2)).toBe('1234567890123456');
    expect(decodeError('0200' + '4000000000000000' + '201234567890123456789', table)).toMatchObject({ field: 2, offset: 20 });
    expect(decodeError('0200' + '4000000000000000' + '19123', table)).toMatchObject({ field: 2, offset: 20 });
  });
});

describe('encode validates against the table', () => {
  const bad: [string, () => unknown, IsoErrorField][] = [
    ['MTI of 3 digits', () => encode(message('020', { 11: '000001' })), 'mti'],
    ['undefined field 2', () => encode(message('0200', { 2: '4111' })), 2],
    ['field 1 given', () => encode(message('0200', { 1: '1' })), 1],
    ['undefined field 65', () => encode(message('0800', { 65: '1', 70: '001' })), 65],
    ['n field too long', () => encode(message('0200', { 11: '0000001' })), 11],
    ['letter in n field', () => encode(message('0200', { 4: '12a' })), 4],
    ['an field with a symbol', () => encode(message('0210', { 37: 'ABC-1' })), 37],
    ['ans field with a newline', () => encode(message('0200', { 41: 'T1\n' })), 41],
    ['ans field with a non-ASCII character', () => encode(message('0200', { 42: 'città' })), 42],
    ['field 28 not D + digits', () => encode(message('0200', { 28: 'D150' })), 28],
    ['field 48 too long', () => encode(message('0200', { 48: 'x'.repeat(1000) })), 48],
    ['MAC shorter than 16', () => encode(message('0200', { 64: 'ABCDEF' })), 64],
    ['MAC lowercase', () => encode(message('0200', { 64: 'abcdef0123456789' })), 64],
    ['field 64 with a field above 64', () => encode(message('0800', { 64: 'ABCDEF0123456789', 70: '001' })), 64],
    ['both MAC fields', () => encode(message('0800', { 64: 'ABCDEF0123456789', 70: '001', 128: 'ABCDEF0123456789' })), 64],
  ];
  it.each(bad)('%s', (_what, run, field) => {
    expect(run).toThrow(IsoError);
    try {
      run();
    } catch (err) {
      expect((err as IsoError).field).toBe(field);
    }
  });

  it('pads short fixed fields per §1.2 and decode keeps the padding', () => {
    const m = decode(encode(message('0200', { 4: '12345', 41: 'T0001', 42: 'SP1', 49: '978' })));
    expect(m.fields.get(4)).toBe('000000012345');
    expect(m.fields.get(41)).toBe('T0001   ');
    expect(m.fields.get(42)).toBe('SP1            ');
  });

  it('names the offset the bad character would have had', () => {
    try {
      encode(message('0200', { 3: '500000', 4: '0000000123X5' }));
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ field: 4, offset: 4 + 16 + 6 + 10 });
    }
  });
});

describe('partialHeader', () => {
  it('recovers MTI, 11 and 41 when field 48 is broken', () => {
    const broken = Buffer.from(swap48(VALID, 'XYZ'), 'latin1');
    expect(() => decode(broken)).toThrow(IsoError);
    expect(partialHeader(broken)).toEqual({ mti: '0200', stan: '000002', terminalId: 'T0001   ' });
  });

  it('recovers them past a bad n field before 41, and from a truncated frame', () => {
    const badAmount = VALID.slice(0, at(4)) + 'ABCDEFGHIJKL' + VALID.slice(at(4) + 12);
    expect(partialHeader(Buffer.from(badAmount))).toEqual({ mti: '0200', stan: '000002', terminalId: 'T0001   ' });
    expect(partialHeader(Buffer.from(VALID.slice(0, at(42) + 3)))).toEqual({ mti: '0200', stan: '000002', terminalId: 'T0001   ' });
    expect(partialHeader(Buffer.from(SIGNON + 'junk'))).toEqual({ mti: '0800', stan: '000001', terminalId: 'T0001   ' });
  });

  it('reads a lowercase or mixed-case primary bitmap to find 11 and 41, though decode refuses it', () => {
    const lower = (wire: string): string => wire.slice(0, 4) + wire.slice(4, 20).toLowerCase() + wire.slice(20);
    const header = { mti: '0200', stan: '000002', terminalId: 'T0001   ' };
    for (const wire of [lower(VALID), swap(VALID, 14, 'c')]) {
      expect(decodeError(wire)).toMatchObject({ field: 'bitmap', offset: 14 });
      expect(partialHeader(Buffer.from(wire))).toEqual(header);
    }
    // Mixed case: a 0210 (bitmap 323A00100EC18001) with only its first letter lowercased.
    const f: Record<number, string> = { ...F, 15: '0315', 37: '000000000042', 38: 'K7Q2ZD', 39: '00', 64: '0123456789ABCDEF' };
    const r = encode(message('0210', f)).toString('latin1');
    const mixed = r.slice(0, 4) + r.slice(4, 20).replace(/[A-F]/, (c) => c.toLowerCase()) + r.slice(20);
    expect(mixed.slice(4, 20)).toMatch(/[a-f].*[A-F]/);
    expect(decodeError(mixed).field).toBe('bitmap');
    expect(partialHeader(Buffer.from(mixed))).toEqual({ mti: '0210', stan: '000002', terminalId: 'T0001   ' });
    // The secondary bitmap is skipped whatever its case.
    expect(partialHeader(Buffer.from(swap(SIGNON, 20, 'c')))).toEqual({ mti: '0800', stan: '000001', terminalId: 'T0001   ' });
    // Still not hex: nothing past the MTI.
    expect(partialHeader(Buffer.from(swap(VALID, 14, 'g')))).toEqual({ mti: '0200' });
  });

  it('returns only what is well-formed, and stops where the layout is unknown', () => {
    expect(partialHeader(Buffer.from(swap11(VALID, '00A002')))).toEqual({ mti: '0200', terminalId: 'T0001   ' });
    expect(partialHeader(Buffer.from('0200' + 'G238001000C18000' + BODY))).toEqual({ mti: '0200' });
    expect(partialHeader(Buffer.from('0200' + '7238001000C18000' + BODY))).toEqual({ mti: '0200' }); // bit 2: length unknown
    expect(partialHeader(Buffer.from(VALID.slice(0, at(41) + 7)))).toEqual({ mti: '0200', stan: '000002' });
    expect(partialHeader(Buffer.from('02'))).toEqual({});
    expect(partialHeader(Buffer.alloc(0))).toEqual({});
  });

  function swap48(wire: string, prefix: string): string {
    return wire.slice(0, at(48)) + prefix + wire.slice(at(48) + 3);
  }
  function swap11(wire: string, v: string): string {
    return wire.slice(0, at(11)) + v + wire.slice(at(11) + 6);
  }
});
