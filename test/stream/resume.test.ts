// Issue #4, delivery guarantees over real connections:
//  - a client that drops in the middle of a burst of concurrent payments (abruptly,
//    cleanly, even in the middle of its own replay) and resumes with ?after=<last seq>
//    ends with exactly the booked events: same set, same order, no duplicates;
//  - a client that stops reading is cut off with 4413 once its buffer passes the
//    limit, resumes from its last seq without loss, and meanwhile another subscriber
//    gets everything.
// The reference is the events table of the switch's SQLite file and the payments that
// were answered 201.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Payments } from '../../src/payments/service.js';
import {
  VALID_CF,
  connect,
  dbEvents,
  inProcessPayments,
  maxSeq,
  payCertificate,
  pool,
  startSwitch,
  strictlyIncreasing,
  subscribe,
  terminalToken,
  terminalsOfDistinctCounters,
  userToken,
  type Client,
  type Switch,
} from './support.js';

const MAX_BUFFER = 16_384;

let sw: Switch;
const clients: Client[] = [];

beforeAll(async () => {
  sw = await startSwitch({ TSERVE_STREAM_MAX_BUFFER_BYTES: String(MAX_BUFFER) });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sw?.close();
});

function track(c: Client): Client {
  clients.push(c);
  return c;
}

const seqs = (events: { seq: number }[]) => events.map((e) => e.seq);

describe('drop and resume in the middle of a burst of concurrent payments', () => {
  it('has exactly the booked events at the end: same set, same order, no duplicates', async () => {
    const finance = userToken(sw, 'finance');
    const witness = track(await subscribe(sw, { token: finance }));
    const start = await maxSeq(sw);
    const tokens = terminalsOfDistinctCounters(sw, 40).map((t) => terminalToken(sw, t.terminalId));

    // The resuming client: a chain of connections, each resumed from the last seq it had.
    const chain: Client[] = [track(await subscribe(sw, { token: finance }))];
    let cursor: number | undefined;
    const resume = async () => {
      const prev = chain.at(-1)!;
      await prev.closed;
      cursor = prev.lastSeq() ?? cursor;
      // Away until something more is booked, so the resumed connection has a replay to
      // make: SQLite's writer thread commits during the few milliseconds of a
      // reconnection anyway, a PostgreSQL batch seldom does. Bounded, in case nothing
      // is in flight any more.
      const deadline = Date.now() + 5_000;
      while ((await maxSeq(sw)) <= (cursor ?? start) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const next = track(connect(sw, { token: finance, query: cursor === undefined ? {} : { after: String(cursor) } }));
      chain.push(next);
      await next.opened;
    };
    const drop = async (how: 'network' | 'leave' | 'mid-replay') => {
      const c = chain.at(-1)!;
      if (how === 'network') c.ws.terminate();
      else c.ws.close(1000);
      await resume();
      if (how === 'mid-replay') {
        chain.at(-1)!.ws.close(1000); // leaves again at once, while its replay is being sent
        await resume();
      }
    };

    // The burst: 330 payments over HTTP, 40 at a time. At each drop point the client
    // drops while ~40 payments are in flight; 10 more start, then the rest wait until
    // it has reconnected (a client and a server in one busy process: without this, the
    // reconnection is only accepted once the burst is over).
    const N = 330;
    const ways = ['network', 'leave', 'mid-replay', 'network', 'leave'] as const;
    const dropAt = [30, 90, 150, 210, 270];
    let drops = Promise.resolve();
    let gate = { from: Infinity, open: Promise.resolve() };
    let started = 0;
    let answered = 0;
    const results = await pool(Array.from({ length: N }, (_, i) => i), 40, async (i) => {
      if (i >= gate.from) await gate.open;
      started += 1;
      const r = await payCertificate(sw, tokens[i % tokens.length]!);
      const k = dropAt.indexOf(++answered);
      if (k >= 0) {
        drops = drops.then(() => drop(ways[k]!));
        gate = { from: started + 10, open: drops };
      }
      return r;
    });
    await drops;
    // The last connection stays: everything is booked now.
    const last = chain.at(-1)!;
    await last.live;
    await Promise.all([last.barrier(), witness.barrier()]);
    const received = chain.flatMap((c) => c.events);

    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Record<string, unknown>>).value);
    expect(ok).toHaveLength(N);
    // It really dropped and resumed mid-burst: 7 connections in the chain, and resumed
    // connections replayed what they had missed, then received events live.
    expect(chain).toHaveLength(1 + dropAt.length + 1);
    const liveFrom = (c: Client) => c.controls.find((m) => m.control === 'live')?.seq ?? Infinity;
    const resumed = chain.slice(1).filter((c) => c.events.some((e) => e.seq > liveFrom(c)));
    expect(resumed.length).toBeGreaterThanOrEqual(3);
    const replayed = chain.slice(1).filter((c) => c.events.some((e) => e.seq <= liveFrom(c)));
    expect(replayed.length).toBeGreaterThanOrEqual(2);

    const booked = await dbEvents(sw, start);
    expect(booked).toHaveLength(N);
    expect(strictlyIncreasing(received)).toBe(true);
    expect(seqs(received)).toEqual(seqs(booked));
    expect(received.map((e) => e.data.paymentId)).toEqual(booked.map((e) => e.paymentId));
    expect(new Set(received.map((e) => e.data.paymentId))).toEqual(new Set(ok.map((r) => r.paymentId)));

    // The subscriber that never dropped has the same.
    expect(seqs(witness.events)).toEqual(seqs(booked));
  });
});

describe('slow consumer', () => {
  let payments: Payments;
  beforeAll(async () => {
    payments = await inProcessPayments(sw);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('is cut off with 4413, resumes from its last seq without loss; the other subscriber gets everything', async () => {
    const finance = userToken(sw, 'finance');
    const fast = track(await subscribe(sw, { token: finance }));
    const slow = track(await subscribe(sw, { token: finance }));
    const start = await maxSeq(sw);
    const before = sw.server.stream.subscriberCount;
    expect(before).toBe(2);

    // The slow client stops reading.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    // Book until the server has cut it off. Loopback sockets buffer a few MB in the
    // kernel before the server's own buffer starts to grow, i.e. thousands of events:
    // most are booked through the payments use-case in-process (HTTP would take
    // minutes on a busy machine), a share over HTTP.
    const terminals = terminalsOfDistinctCounters(sw, 150, 100);
    const http = terminals.slice(0, 20).map((t) => terminalToken(sw, t.terminalId));
    let rounds = 0;
    while (sw.server.stream.subscriberCount === before) {
      if (++rounds > 40) throw new Error('the paused client was never cut off');
      await Promise.all([
        ...Array.from({ length: 500 }, (_, i) => {
          const t = terminals[i % terminals.length]!;
          return payments.pay(t, { service: 'CERTIFICATI', identifier: VALID_CF, amount: 100 }, null, 'json');
        }),
        pool(http, 20, (tok) => payCertificate(sw, tok)),
      ]);
    }
    // More payments after the cut: the slow client must get them when it resumes.
    await pool(http, 20, (tok) => payCertificate(sw, tok));
    expect(sw.server.stream.subscriberCount).toBe(before - 1);
    expect(fast.ws.readyState).toBe(fast.ws.OPEN);

    // It reads again: what was buffered, then the close frame.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(4413);
    expect(closed.reason).toMatch(/slow consumer/);
    const booked = await dbEvents(sw, start);
    expect(booked.length).toBeGreaterThan(slow.events.length);
    expect(strictlyIncreasing(slow.events)).toBe(true);
    expect(seqs(slow.events)).toEqual(seqs(booked).slice(0, slow.events.length)); // a prefix, no gap

    // It resumes from the last seq it received and has every event.
    const resumed = track(connect(sw, { token: finance, query: { after: String(slow.lastSeq()) } }));
    await resumed.opened;
    await resumed.live;
    await Promise.all([resumed.barrier(), fast.barrier()]);
    const all = [...slow.events, ...resumed.events];
    expect(strictlyIncreasing(all)).toBe(true);
    expect(seqs(all)).toEqual(seqs(booked));

    // The other subscriber was not held back: it has everything, and is still connected.
    expect(seqs(fast.events)).toEqual(seqs(booked));
    expect(fast.ws.readyState).toBe(fast.ws.OPEN);
  }, 180_000);
});
