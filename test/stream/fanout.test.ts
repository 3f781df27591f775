// Issue #4, fan-out: 1,000 concurrent subscribers on one switch — finance, two
// entities and terminals — each receive every event they may see, in order, exactly
// once, for 20 payments made over HTTP while they are all connected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  dbEvents,
  maxSeq,
  payCertificate,
  payNotice,
  payableNotices,
  pool,
  startSwitch,
  terminalToken,
  terminalsOfDistinctCounters,
  userToken,
  type Client,
  type DbEvent,
  type Switch,
} from './support.js';

const SUBSCRIBERS = 1000;
let sw: Switch;
const clients: { c: Client; sees: (e: DbEvent) => boolean; who: string }[] = [];

beforeAll(async () => {
  sw = await startSwitch({ TSERVE_STREAM_MAX_PER_PRINCIPAL: String(SUBSCRIBERS) });
});

afterAll(async () => {
  await pool(clients, 100, ({ c }) => c.close());
  await sw?.close();
});

describe(`${SUBSCRIBERS} concurrent subscribers`, () => {
  it('every one receives exactly the events it may see, in order', async () => {
    const payers = terminalsOfDistinctCounters(sw, 10);
    // 700 finance, 150 Comune di Prato, 100 Comune di Pisa, 50 on the paying terminals
    // (half of them with scope=counter).
    const finance = userToken(sw, 'finance');
    const prato = userToken(sw, 'ente-prato');
    const pisa = userToken(sw, 'ente-pisa');
    const plan: { token: string; query: Record<string, string>; sees: (e: DbEvent) => boolean; who: string }[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      if (i < 700) plan.push({ token: finance, query: {}, sees: () => true, who: 'finance' });
      else if (i < 850) plan.push({ token: prato, query: {}, sees: (e) => e.entityId === 'PRATO', who: 'prato' });
      else if (i < 950) plan.push({ token: pisa, query: {}, sees: (e) => e.entityId === 'PISA', who: 'pisa' });
      else {
        const t = payers[i % payers.length]!;
        const scope = i % 2 ? 'counter' : 'terminal';
        plan.push({
          token: terminalToken(sw, t.terminalId),
          query: { scope },
          sees: (e) => (scope === 'counter' ? e.counterId === t.counterId : e.terminalId === t.terminalId),
          who: `${t.terminalId}/${scope}`,
        });
      }
    }
    // Connect them all (100 handshakes at a time) and wait until each is live.
    await pool(plan, 100, async (p) => {
      const c = connect(sw, { token: p.token, query: p.query });
      clients.push({ c, sees: p.sees, who: p.who });
      await c.opened;
      await c.live;
    });
    expect(sw.server.stream.subscriberCount).toBe(SUBSCRIBERS);
    const start = await maxSeq(sw);

    // 20 payments, concurrently: 14 certificates (Prato), 6 TARIPISA notices (Pisa).
    const tokens = payers.map((t) => terminalToken(sw, t.terminalId));
    const notices = await payableNotices(sw, 'TARIPISA', 6);
    const receipts = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i < 14 ? payCertificate(sw, tokens[i % tokens.length]!) : payNotice(sw, tokens[i % tokens.length]!, 'TARIPISA', notices[i - 14]!),
      ),
    );
    const booked = await dbEvents(sw, start);
    expect(booked).toHaveLength(20);
    expect(new Set(booked.map((e) => e.paymentId))).toEqual(new Set(receipts.map((r) => r.paymentId)));

    // Each has, once everything it may see has arrived and nothing more is on its way,
    // exactly those events in seq order.
    await pool(clients, 100, async ({ c, sees, who }) => {
      const expected = booked.filter(sees).map((e) => e.seq);
      await c.until((ev) => ev.length >= expected.length, `${expected.length} events for ${who}`);
      await c.barrier();
      expect(c.events.map((e) => e.seq), who).toEqual(expected);
    });
    const counts = (who: string) => booked.filter(clients.find((x) => x.who === who)!.sees).length;
    expect([counts('finance'), counts('prato'), counts('pisa')]).toEqual([20, 14, 6]);
    expect(sw.server.stream.subscriberCount).toBe(SUBSCRIBERS);
  }, 120_000);
});
