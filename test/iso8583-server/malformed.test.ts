// Malformed input over a real TCP socket (terminal-protocol.md §1.1–1.2): each frame of
// the corpus gets a `30` when its MTI, field 11 and field 41 can be read and the
// terminal is known, otherwise the connection is closed; after every one, another
// terminal on another connection is still served. Then random bytes (fast-check):
// the server never crashes and never answers with anything but a well-formed response.
import './quiet.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TerminalKeys } from '../../src/auth/terminal-keys.js';
import { FIELDS, PREFIX_DIGITS, decode, frame, getField, isRequestMti, verifyMac } from '../../terminals/iso8583/index.js';
import { IsoServer } from '../../terminals/server.js';
import type { IsoTerminal } from '../../terminals/simulator/client.js';
import { parse, paymentsOfOption, setup, txnFields, why, RawConn, type Ctx, type Notice } from './support.js';

let ctx: Ctx;
/** The terminal whose messages are broken (signed on: a `30` is MACed with its session key). */
let t: IsoTerminal;
/** Another terminal, on its own connection, that must keep being served. */
let other: IsoTerminal;
let tNotice: Notice;
let otherNotice: Notice;

beforeAll(async () => {
  ctx = await setup();
  t = await ctx.signedOn();
  other = await ctx.signedOn();
  tNotice = await ctx.notices.take();
  otherNotice = await ctx.notices.take();
});

afterAll(async () => {
  await ctx?.close();
});

/** The other terminal does a successful inquiry on its own connection. */
async function otherStillServed(): Promise<void> {
  const r = await other.inquiry({ service: otherNotice.service, identifier: otherNotice.notice });
  expect(r.code, why(r)).toBe('00');
  expect(getField(r, 4)).toBe(otherNotice.amount);
  expect(r.macOk).toBe(true);
}

/** A valid, MACed 0100 of terminal t, as the latin1 string of its packed bytes. */
function valid0100(fields: Record<number, string> = {}): { wire: string; stan: string } {
  const p = t.pack('0100', { ...txnFields(t, '300000', 0, tNotice), ...fields });
  return { wire: p.packed.toString('latin1'), stan: p.stan };
}

/** Where each field of a decodable message starts on the wire (at its length prefix, if any). */
function offsets(wire: string): Map<number, number> {
  const msg = decode(Buffer.from(wire, 'latin1'));
  const out = new Map<number, number>();
  let off = 4 + 16 + ([...msg.fields.keys()].some((n) => n > 64) ? 16 : 0);
  for (const [n, v] of msg.fields) {
    out.set(n, off);
    off += PREFIX_DIGITS[FIELDS[n]!.prefix] + v.length;
  }
  return out;
}

const put = (s: string, i: number, c: string): string => s.slice(0, i) + c + s.slice(i + c.length);
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
/** Sets bit n of the primary bitmap (n ≤ 64). */
function setBit(wire: string, n: number): string {
  const i = 4 + Math.floor((n - 1) / 4);
  const v = parseInt(wire[i]!, 16) | (8 >> (n - 1) % 4);
  return put(wire, i, v.toString(16).toUpperCase());
}
/** A 2-byte big-endian length prefix. */
const prefix = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);

type Outcome = '30' | 'close' | 'answer, then close' | 'close, or a well-formed refusal';
interface Case {
  name: string;
  outcome: Outcome;
  /** The bytes to write (framing included) and the STAN a `30` must carry. */
  build(): { write: Buffer; stan: string };
}

const framed = (wire: string, stan: string) => ({ write: frame(bytes(wire)), stan });

const corpus: Case[] = [
  {
    name: 'non-hex bitmap',
    outcome: 'close',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(put(wire, 7, 'G'), stan);
    },
  },
  {
    name: 'lowercase hex in the bitmap',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      const i = wire.slice(4, 20).search(/[A-F]/) + 4;
      expect(i).toBeGreaterThan(3);
      return framed(put(wire, i, wire[i]!.toLowerCase()), stan);
    },
  },
  {
    name: 'non-digit in an n field (field 4)',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(put(wire, offsets(wire).get(4)! + 5, 'X'), stan);
    },
  },
  {
    name: 'non-digit in field 11 itself (the STAN cannot be read)',
    outcome: 'close',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(put(wire, offsets(wire).get(11)! + 2, ' '), stan);
    },
  },
  {
    name: 'field 48 length prefix past the end of the message',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(put(wire, offsets(wire).get(48)!, '999'), stan);
    },
  },
  {
    name: 'field 48 length prefix not digits',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(put(wire, offsets(wire).get(48)!, '0X5'), stan);
    },
  },
  {
    name: 'field 48 TLV element running past the end of field 48 (message MACed correctly)',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100({ 48: `SV${String(tNotice.service.length).padStart(3, '0')}${tNotice.service}ID099${tNotice.notice}` });
      return framed(wire, stan);
    },
  },
  {
    name: 'mandatory field 49 missing (message MACed correctly)',
    outcome: '30',
    build: () => {
      const fields = txnFields(t, '300000', 0, tNotice);
      delete fields[49];
      const p = t.pack('0100', fields);
      return { write: frame(p.packed), stan: p.stan };
    },
  },
  {
    name: 'truncated message (cut inside field 42)',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(wire.slice(0, offsets(wire).get(42)! + 7), stan);
    },
  },
  {
    name: 'truncated message (cut inside the bitmap)',
    outcome: 'close',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(wire.slice(0, 12), stan);
    },
  },
  {
    name: 'trailing bytes after the MAC',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(`${wire}ABC`, stan);
    },
  },
  {
    name: 'a bit for an undefined field after 41 (field 50)',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(setBit(wire, 50), stan);
    },
  },
  {
    name: 'a bit for an undefined field before 11 (field 5)',
    outcome: 'close',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(setBit(wire, 5), stan);
    },
  },
  {
    name: 'bit 1 set with an empty secondary bitmap',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      const flagged = setBit(wire, 1);
      return framed(flagged.slice(0, 20) + '0'.repeat(16) + flagged.slice(20), stan);
    },
  },
  {
    name: 'MTI not digits',
    outcome: 'close',
    build: () => {
      const { wire, stan } = valid0100();
      return framed(put(wire, 1, 'x'), stan);
    },
  },
  {
    name: 'a format error from an unknown terminal',
    outcome: 'close',
    build: () => {
      const { wire, stan } = valid0100();
      const w = put(wire, offsets(wire).get(41)!, 'T9999   ');
      return framed(put(w, offsets(w).get(4)!, 'X'), stan);
    },
  },
  {
    name: 'declared frame length 65535, the body starting with a readable header',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      return { write: Buffer.concat([prefix(65535), bytes(wire.padEnd(65535, ' '))]), stan };
    },
  },
  {
    name: 'declared frame length 65535 of garbage',
    outcome: 'close',
    build: () => ({ write: Buffer.concat([prefix(65535), Buffer.alloc(65535, 0xff)]), stan: '' }),
  },
  {
    name: 'declared frame length 4097 (one over the maximum) with a readable header',
    outcome: '30',
    build: () => {
      const { wire, stan } = valid0100();
      return { write: Buffer.concat([prefix(4097), bytes(wire.padEnd(4097, '0'))]), stan };
    },
  },
  {
    name: 'declared frame length 0',
    outcome: 'close',
    build: () => ({ write: prefix(0), stan: '' }),
  },
  {
    name: 'garbage after a valid frame',
    outcome: 'answer, then close',
    build: () => {
      const { wire, stan } = valid0100();
      return { write: Buffer.concat([frame(bytes(wire)), prefix(4), bytes('junk')]), stan };
    },
  },
  {
    // Not a request: §1.1 does not say (the frame parses); either way nothing may break.
    name: 'a response MTI (0210) sent to the switch',
    outcome: 'close, or a well-formed refusal',
    build: () => {
      const p = t.pack('0210', txnFields(t, '500000', tNotice.amount, tNotice));
      return { write: frame(p.packed), stan: p.stan };
    },
  },
];

describe('malformed frames: 30 or a closed connection, and the other terminal is still served', () => {
  it('the corpus starts from a message the server accepts', async () => {
    const conn = await ctx.raw();
    const { wire, stan } = valid0100();
    conn.write(frame(bytes(wire)));
    const r = parse((await conn.next())!);
    expect(r.code, why(r)).toBe('00');
    expect(r.fields.get(11)).toBe(stan);
    await otherStillServed();
  });

  for (const c of corpus) {
    it(`${c.name} → ${c.outcome}`, async () => {
      const conn = await ctx.raw();
      const { write, stan } = c.build();
      conn.write(write);
      const first = await conn.next();
      switch (c.outcome) {
        case 'close':
          expect(first && parse(first), 'no answer, the connection is closed').toBeNull();
          break;
        case '30': {
          expect(first, 'an answer').not.toBeNull();
          const r = parse(first!);
          expect(r.mti).toBe('0110');
          expect(r.code, why(r)).toBe('30');
          expect(r.tlv.get('ER')).toBe('FORMAT');
          expect(r.fields.get(11)).toBe(stan);
          expect(r.fields.get(41)).toBe(t.f41);
          expect(verifyMac(r.packed, r, t.sessionKey!), 'MAC under the session key').toBe(true);
          // The stream stays framed: the same connection serves the next message.
          const next = valid0100();
          conn.write(frame(bytes(next.wire)));
          const after = parse((await conn.next())!);
          expect(after.code, why(after)).toBe('00');
          expect(after.fields.get(11)).toBe(next.stan);
          break;
        }
        case 'answer, then close': {
          expect(first, 'the answer to the valid frame before the hang-up').not.toBeNull();
          const r = parse(first!);
          expect(r.code, why(r)).toBe('00');
          expect(r.fields.get(11)).toBe(stan);
          expect(await conn.next()).toBeNull();
          break;
        }
        case 'close, or a well-formed refusal':
          if (first !== null) {
            const r = parse(first);
            expect(['12', '30'], why(r)).toContain(r.code);
            expect(r.fields.get(11)).toBe(stan);
          } else expect(conn.closed).toBe(true);
          break;
      }
      expect(conn.badFrames).toEqual([]);
      await otherStillServed();
    });
  }

  it('a valid 0200 followed by garbage in the same write is booked once AND answered before the connection closes', async () => {
    const n = await ctx.notices.take();
    const conn = await ctx.raw();
    const pay = t.pack('0200', txnFields(t, '500000', n.amount, n));
    conn.write(Buffer.concat([frame(pay.packed), prefix(4), bytes('junk')]));
    const first = await conn.next();
    const afterFirst = await conn.next();
    // The terminal retransmits on a new connection: the payment exists exactly once.
    const again = await ctx.raw();
    again.write(frame(pay.packed));
    const retry = parse((await again.next())!);
    expect(retry.code, why(retry)).toBe('00');
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(1);
    expect(first, 'the 0210 of a payment that was booked must not be lost to the hang-up').not.toBeNull();
    const r = parse(first!);
    expect(r.mti).toBe('0210');
    expect(r.code, why(r)).toBe('00');
    expect(r.fields.get(11)).toBe(pay.stan);
    expect(r.fields.get(37)).toBe(retry.fields.get(37));
    expect(afterFirst, 'then the connection is closed').toBeNull();
    await otherStillServed();
  });

  it('a frame whose body never arrives is held without an answer, then closed by the idle timeout', async () => {
    // A second listener on the same switch with a short idle timeout.
    const iso = new IsoServer(ctx.h.payments, new TerminalKeys(ctx.h.rt.store, ctx.h.rt.kek), { host: '127.0.0.1', port: 0, idleTimeoutMs: 200 });
    const port = await iso.listen();
    try {
      const conn = await RawConn.open(port);
      const { wire } = valid0100();
      conn.write(Buffer.concat([prefix(wire.length + 10), bytes(wire)]));
      expect(await conn.next()).toBeNull();
      expect(conn.closed).toBe(true);
      await otherStillServed();
    } finally {
      await iso.close();
    }
  });
});

describe('random bytes', () => {
  const CODES = new Set(['00', '05', '12', '13', '14', '25', '30', '51', '54', '57', '58', '63', '80', '81', '82', '94', '95', '96']);

  it('never crash the server, and whatever it answers is a well-formed response; others keep being served', async () => {
    const base = frame(bytes(valid0100().wire));
    const raw = fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b));
    const framedRandom = fc.uint8Array({ minLength: 1, maxLength: 400 }).map((b) => frame(Buffer.from(b)));
    const mutated = fc
      .array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 })
      .map((edits) => {
        const out = Buffer.from(base);
        for (const e of edits) out[e.at % out.length] = e.byte;
        return out;
      });
    const cut = fc.nat().map((n) => base.subarray(0, n % base.length));
    const stream = fc.array(fc.oneof(raw, framedRandom, mutated, cut), { minLength: 1, maxLength: 3 }).map((parts) => Buffer.concat(parts));

    await fc.assert(
      fc.asyncProperty(stream, async (input) => {
        const conn = await ctx.raw();
        conn.write(input);
        conn.socket.end();
        await conn.whenClosed;
        expect(conn.badFrames).toEqual([]);
        for (let f = await conn.next(); f !== null; f = await conn.next()) {
          const r = parse(f);
          expect(isRequestMti(r.mti), `${r.mti} is a response`).toBe(false);
          expect(CODES.has(r.code ?? ''), why(r)).toBe(true);
        }
        await otherStillServed();
      }),
      { numRuns: 150 },
    );
  });
});

describe('after everything above', () => {
  it('the store invariants hold', async () => {
    const report = await ctx.h.rt.store.checkInvariants();
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
