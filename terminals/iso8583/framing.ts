// TCP framing (docs/terminal-protocol §1.1): every message is preceded by a 2-byte
// unsigned big-endian length of the bytes that follow; no TPDU, no header. The
// longest accepted message is 4096 bytes.
//
// FrameDecoder turns an arbitrary sequence of chunks (split or merged TCP segments)
// into the sequence of frames, in order. A bad declared length does not lose sync:
// - length 0: reported at once as a FramingError with an empty `head`;
// - length above the maximum: the decoder keeps the first `maxLength` bytes of the
//   body as `head`, discards the rest as it arrives, and reports a FramingError once
//   the whole declared body has gone by. The stream stays framed, so the next frame
//   decodes normally.
// The server then does what §1.1 asks: `partialHeader(err.head)`; if MTI, field 11 and
// field 41 are there, answer `30`, otherwise close the connection (always the case for
// length 0). An oversized frame whose body never arrives is closed by the idle timeout,
// like any incomplete frame. At most maxLength bytes are ever held for one frame.
//
// Garbage after a valid frame is read as a length prefix like anything else: it
// becomes either a bogus frame that then fails to decode, or a FramingError.

export const MAX_MESSAGE_LENGTH = 4096;
const PREFIX_BYTES = 2;

export class FramingError extends Error {
  override readonly name = 'FramingError';

  constructor(
    /** The length the 2-byte prefix declared. */
    readonly declaredLength: number,
    /** The first bytes of the body (at most the maximum message length); empty for length 0. */
    readonly head: Buffer,
    readonly maxLength: number = MAX_MESSAGE_LENGTH,
  ) {
    super(
      declaredLength === 0
        ? 'frame of declared length 0'
        : `frame of declared length ${declaredLength} is above the maximum of ${maxLength} bytes`,
    );
  }
}

/** Prefixes a packed message with its 2-byte big-endian length. */
export function frame(payload: Buffer, maxLength = MAX_MESSAGE_LENGTH): Buffer {
  if (payload.length === 0 || payload.length > maxLength) {
    throw new RangeError(`a frame carries 1 to ${maxLength} bytes, got ${payload.length}`);
  }
  const out = Buffer.allocUnsafe(PREFIX_BYTES + payload.length);
  out.writeUInt16BE(payload.length, 0);
  payload.copy(out, PREFIX_BYTES);
  return out;
}

/** One item of the decoded stream: a frame's payload, or a frame with a bad length. */
export type FrameItem = Buffer | FramingError;

export class FrameDecoder {
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixFill = 0;
  /** Declared length of the frame being read; undefined while reading a prefix. */
  private declared: number | undefined;
  /** Bytes of the body kept (all of them, or the head of an oversized frame). */
  private body: Buffer = Buffer.alloc(0);
  private kept = 0;
  /** Bytes of the body seen so far, kept or discarded. */
  private seen = 0;

  constructor(readonly maxLength: number = MAX_MESSAGE_LENGTH) {
    if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > 0xffff) {
      throw new RangeError(`maxLength must be 1 to 65535, got ${maxLength}`);
    }
  }

  /**
   * Feeds one chunk; returns the frames it completes, in stream order. Frames with a
   * bad declared length come back as FramingError items in their place (not thrown),
   * so the frames before and after them in the same chunk are not lost.
   */
  push(chunk: Buffer): FrameItem[] {
    const out: FrameItem[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.declared === undefined) {
        this.prefix[this.prefixFill++] = chunk[i++]!;
        if (this.prefixFill < PREFIX_BYTES) continue;
        this.prefixFill = 0;
        const declared = this.prefix.readUInt16BE(0);
        if (declared === 0) {
          out.push(new FramingError(0, Buffer.alloc(0), this.maxLength));
          continue;
        }
        this.declared = declared;
        this.body = Buffer.allocUnsafe(Math.min(declared, this.maxLength));
        this.kept = 0;
        this.seen = 0;
        continue;
      }
      const take = Math.min(chunk.length - i, this.declared - this.seen);
      const keep = Math.min(take, this.body.length - this.kept);
      if (keep > 0) chunk.copy(this.body, this.kept, i, i + keep);
      this.kept += keep;
      this.seen += take;
      i += take;
      if (this.seen === this.declared) {
        out.push(this.declared > this.maxLength ? new FramingError(this.declared, this.body, this.maxLength) : this.body);
        this.declared = undefined;
        this.body = Buffer.alloc(0);
        this.kept = 0;
        this.seen = 0;
      }
    }
    return out;
  }

  /** Bytes held for an incomplete frame (prefix and body); never above maxLength + 2. */
  get buffered(): number {
    return this.declared === undefined ? this.prefixFill : PREFIX_BYTES + this.kept;
  }

  /** Whether a frame has begun and not ended (e.g. to log a truncated frame at close). */
  get midFrame(): boolean {
    return this.declared !== undefined || this.prefixFill > 0;
  }
}
