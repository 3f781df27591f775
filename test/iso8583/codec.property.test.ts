import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode, IsoError, partialHeader, verifyMac, withMac, type IsoMessage } from '../../terminals/iso8583/codec.js';
import { anyMessageArb, typedMessageArb } from './arbitraries.js';

const entries = (m: IsoMessage): [number, string][] => [...m.fields.entries()];
const KEY = Buffer.alloc(32, 7);

/** decode, but an IsoError becomes a value; anything else thrown fails the test. */
function tryDecode(buf: Buffer): IsoMessage | IsoError {
  try {
    return decode(buf);
  } catch (err) {
    if (err instanceof IsoError) return err;
    throw err;
  }
}

describe('codec round trips', () => {
  it('decode(encode(m)) is m, for every message type of §1.5', () => {
    fc.assert(
      fc.property(typedMessageArb, (m) => {
        const back = decode(encode(m));
        expect(back.mti).toBe(m.mti);
        expect(entries(back)).toEqual(entries(m));
      }),
      { numRuns: 500 },
    );
  });

  it('encode(decode(bytes)) reproduces the bytes', () => {
    fc.assert(
      fc.property(typedMessageArb, (m) => {
        const bytes = encode(m);
        expect(encode(decode(bytes)).equals(bytes)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('round trips any MTI and any set of defined fields with the MAC last', () => {
    fc.assert(
      fc.property(anyMessageArb, (m) => {
        const bytes = encode(m);
        const back = decode(bytes);
        expect(back.mti).toBe(m.mti);
        expect(entries(back)).toEqual(entries(m));
        expect(encode(back).equals(bytes)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('sets bit 1 and a secondary bitmap exactly when a field above 64 is present', () => {
    fc.assert(
      fc.property(anyMessageArb, (m) => {
        const bytes = encode(m);
        const high = [...m.fields.keys()].some((n) => n > 64);
        const first = parseInt(bytes.toString('latin1', 4, 5), 16);
        expect((first & 8) !== 0).toBe(high);
        expect(/^[0-9A-F]{16}$/.test(bytes.toString('latin1', 4, 20))).toBe(true);
        if (high) expect(/^[0-9A-F]{16}$/.test(bytes.toString('latin1', 20, 36))).toBe(true);
      }),
    );
  });

  it('partialHeader reads MTI, 11 and 41 of every well-formed message', () => {
    fc.assert(
      fc.property(anyMessageArb, (m) => {
        const h = partialHeader(encode(m));
        expect(h).toEqual({
          mti: m.mti,
          ...(m.fields.has(11) ? { stan: m.fields.get(11) } : {}),
          ...(m.fields.has(41) ? { terminalId: m.fields.get(41) } : {}),
        });
      }),
    );
  });

  it('a bitmap written in lowercase: decode refuses it (bitmap, at the first lowercase digit), partialHeader still reads 11 and 41', () => {
    fc.assert(
      fc.property(anyMessageArb, (m) => {
        const bytes = encode(m);
        const wire = bytes.toString('latin1');
        const high = [...m.fields.keys()].some((n) => n > 64);
        const end = high ? 36 : 20;
        const lower = Buffer.from(wire.slice(0, 4) + wire.slice(4, end).toLowerCase() + wire.slice(end), 'latin1');
        const first = wire.slice(4, end).search(/[A-F]/);
        const r = tryDecode(lower);
        if (first < 0) expect(lower.equals(bytes)).toBe(true);
        else {
          expect(r).toBeInstanceOf(IsoError);
          expect(r).toMatchObject({ field: first < 16 ? 'bitmap' : 'secondary bitmap', offset: 4 + first });
        }
        expect(partialHeader(lower)).toEqual(partialHeader(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('withMac then verifyMac holds, and any changed byte breaks it', () => {
    fc.assert(
      fc.property(typedMessageArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, pos, delta) => {
        const packed = withMac(m, KEY);
        expect(verifyMac(packed, decode(packed), KEY)).toBe(true);
        const bad = Buffer.from(packed);
        const i = pos % bad.length;
        bad[i] = (bad[i]! + delta) & 0xff;
        const r = tryDecode(bad);
        if (!(r instanceof IsoError)) expect(verifyMac(bad, r, KEY)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('decoding hostile input', () => {
  it('arbitrary bytes: decode throws only IsoError, partialHeader never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (a) => {
        const buf = Buffer.from(a);
        tryDecode(buf);
        expect(() => partialHeader(buf)).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated messages: decode either fails with IsoError or is canonical (re-encodes to the same bytes)', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), byte: fc.constant(0) }),
      fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat(), byte: fc.constant(0) }),
    );
    fc.assert(
      fc.property(anyMessageArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (m, muts) => {
        let b = Buffer.from(encode(m));
        for (const { kind, pos, byte } of muts) {
          const i = pos % (b.length + 1);
          if (kind === 'set' && i < b.length) b[i] = byte;
          if (kind === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
          if (kind === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
          if (kind === 'truncate') b = b.subarray(0, i);
        }
        const r = tryDecode(b);
        if (r instanceof IsoError) {
          expect(r.offset).toBeGreaterThanOrEqual(0);
          expect(r.offset).toBeLessThanOrEqual(b.length);
        } else {
          expect(encode(r).equals(b)).toBe(true);
        }
        expect(() => partialHeader(b)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});
