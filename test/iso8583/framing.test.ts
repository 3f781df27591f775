import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode, IsoError, message, partialHeader } from '../../terminals/iso8583/codec.js';
import { frame, FrameDecoder, FramingError, MAX_MESSAGE_LENGTH, type FrameItem } from '../../terminals/iso8583/framing.js';

/** Splits `stream` at the given cut points (taken modulo its length). */
function split(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    chunks.push(stream.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

function feed(dec: FrameDecoder, chunks: Buffer[]): FrameItem[] {
  const out: FrameItem[] = [];
  for (const c of chunks) {
    out.push(...dec.push(c));
    expect(dec.buffered).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH + 2);
  }
  return out;
}

const payload = fc.uint8Array({ minLength: 1, maxLength: 600 }).map((a) => Buffer.from(a));

describe('framing', () => {
  it('frame() writes a 2-byte big-endian length', () => {
    expect(frame(Buffer.from('0800')).toString('hex')).toBe('000430383030');
    const big = frame(Buffer.alloc(300, 0x41));
    expect(big.readUInt16BE(0)).toBe(300);
    expect(() => frame(Buffer.alloc(0))).toThrow(RangeError);
    expect(() => frame(Buffer.alloc(4097))).toThrow(RangeError);
    expect(frame(Buffer.alloc(4096)).length).toBe(4098);
  });

  it('any split of a stream of frames into chunks yields exactly the frames', () => {
    fc.assert(
      fc.property(fc.array(payload, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 30 }), (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => frame(p)));
        const dec = new FrameDecoder();
        const got = feed(dec, split(stream, cuts));
        expect(got.map((b) => (b as Buffer).toString('hex'))).toEqual(payloads.map((p) => p.toString('hex')));
        expect(dec.midFrame).toBe(false);
        expect(dec.buffered).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('byte-by-byte and all-at-once agree', () => {
    const payloads = [Buffer.from('first'), Buffer.alloc(4096, 0x31), Buffer.from('x')];
    const stream = Buffer.concat(payloads.map((p) => frame(p)));
    const bytes = feed(new FrameDecoder(), [...stream].map((b) => Buffer.from([b])));
    const whole = new FrameDecoder().push(stream);
    expect(bytes).toEqual(payloads);
    expect(whole).toEqual(payloads);
  });

  it('an oversized declared length (65535) is reported in place, with its head, and the stream stays in sync', () => {
    fc.assert(
      fc.property(payload, payload, fc.array(fc.nat(), { maxLength: 20 }), (before, after, cuts) => {
        const oversized = Buffer.alloc(65535, 0x39);
        Buffer.from('0200').copy(oversized);
        const stream = Buffer.concat([frame(before), Buffer.from([0xff, 0xff]), oversized, frame(after)]);
        const got = feed(new FrameDecoder(), split(stream, cuts));
        expect(got).toHaveLength(3);
        expect(got[0]).toEqual(before);
        const err = got[1] as FramingError;
        expect(err).toBeInstanceOf(FramingError);
        expect(err.declaredLength).toBe(65535);
        expect(err.head.length).toBe(MAX_MESSAGE_LENGTH);
        expect(err.head.subarray(0, 4).toString()).toBe('0200');
        expect(got[2]).toEqual(after);
      }),
      { numRuns: 50 },
    );
  });

  it('an oversized frame of a readable request: partialHeader of its head gives MTI, 11 and 41 (answer 30)', () => {
    const packed = encode(message('0200', { 3: '500000', 11: '000042', 41: 'T0009   ', 48: 'x'.repeat(999) }));
    const body = Buffer.concat([packed, Buffer.alloc(5000 - packed.length, 0x20)]);
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(body.length);
    const [err] = new FrameDecoder().push(Buffer.concat([prefix, body]));
    expect(err).toBeInstanceOf(FramingError);
    expect(partialHeader((err as FramingError).head)).toEqual({ mti: '0200', stan: '000042', terminalId: 'T0009   ' });
  });

  it('a declared length of 0 is reported at once with an empty head (the server closes)', () => {
    const dec = new FrameDecoder();
    const got = dec.push(Buffer.concat([Buffer.from([0, 0]), frame(Buffer.from('ok'))]));
    expect(got[0]).toBeInstanceOf(FramingError);
    expect((got[0] as FramingError).declaredLength).toBe(0);
    expect((got[0] as FramingError).head.length).toBe(0);
    expect(partialHeader((got[0] as FramingError).head)).toEqual({});
    expect(got[1]).toEqual(Buffer.from('ok'));
  });

  it('garbage after a valid frame: the valid frame, then the garbage read as a frame', () => {
    const valid = encode(message('0800', { 7: '0315093000', 11: '000001', 41: 'T0001', 70: '301' }));
    // Short garbage with a small "length": a bogus frame that fails to decode.
    const a = new FrameDecoder().push(Buffer.concat([frame(valid), Buffer.from([0x00, 0x05]), Buffer.from('hello')]));
    expect(a).toHaveLength(2);
    expect(decode(a[0] as Buffer).mti).toBe('0800');
    expect(() => decode(a[1] as Buffer)).toThrow(IsoError);
    expect(partialHeader(a[1] as Buffer)).toEqual({});
    // Text garbage: 'GE' declares 0x4745 = 18245 bytes, above the maximum; nothing more
    // comes out until that many bytes have gone by (or the idle timeout closes the link).
    const dec = new FrameDecoder();
    const b = dec.push(Buffer.concat([frame(valid), Buffer.from('GET / HTTP/1.1\r\n\r\n')]));
    expect(b).toHaveLength(1);
    expect(decode(b[0] as Buffer).fields.get(70)).toBe('301');
    expect(dec.midFrame).toBe(true);
    expect(dec.buffered).toBe(2 + 16);
    const rest = dec.push(Buffer.alloc(18245 - 16, 0x20));
    expect(rest).toHaveLength(1);
    expect(rest[0]).toMatchObject({ declaredLength: 0x4745 });
    expect(partialHeader((rest[0] as FramingError).head)).toEqual({});
  });

  it('never holds more than maxLength + 2 bytes, whatever the input', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 9000 }), { maxLength: 10 }), (chunks) => {
        feed(new FrameDecoder(), chunks.map((c) => Buffer.from(c)));
      }),
      { numRuns: 100 },
    );
  });
});
