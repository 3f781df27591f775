// PostgreSQL goes away (its sessions killed, new ones refused, as during a failover) and
// comes back: meanwhile the switch answers UNAVAILABLE (503 with Retry-After; /healthz
// 503), books nothing half-way, and afterwards goes on by itself, a retried request
// with the same key booked exactly once; the stream carries on in order.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startHarness, type Harness } from '../helpers/harness.js';
import { PG_ADMIN_URL, TEST_STORE } from '../helpers/store.js';
import { fiscalCodeFor } from '../e2e/process.js';

let h: Harness;
let database = '';

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  if (TEST_STORE !== 'postgres') return;
  h = await startHarness({ positions: 200 });
  database = new URL(h.config.database!.url).pathname.slice(1);
}, 120_000);

afterAll(async () => {
  if (database) await admin(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
  await h?.close();
});

const pay = (key: string, i: number) =>
  api(h)
    .post('/v1/payments')
    .set('authorization', `Bearer ${h.terminalToken('T0001')}`)
    .set('idempotency-key', key)
    .send({ service: 'CERTIFICATI', identifier: fiscalCodeFor('RSSMRA85T10A', i), amount: 100 });

describe.skipIf(TEST_STORE !== 'postgres')('PostgreSQL outage', () => {
  it('answers UNAVAILABLE while the database is away, then carries on by itself, booking a retried request once', { timeout: 60_000 }, async () => {
    const seen: number[] = [];
    h.rt.store.onCommit((events) => seen.push(...events.map((e) => e.seq)));
    expect((await pay('outage-before', 1)).status).toBe(201);

    await admin(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()`);
    const during = await pay('outage-during', 2);
    expect(during.status, JSON.stringify(during.body)).toBe(503);
    expect(during.body.code).toBe('UNAVAILABLE');
    expect(during.headers['retry-after']).toBe('1');
    const health = await api(h).get('/healthz');
    expect(health.status).toBe(503);

    await admin(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    const again = await pay('outage-during', 2); // the terminal's retry, same key
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    const replay = await pay('outage-during', 2);
    expect(replay.body.paymentId).toBe(again.body.paymentId);
    expect((await api(h).get('/healthz')).status).toBe(200);

    const { items } = { items: await h.rt.store.eventsAfter(0, 1000) };
    const booked = items.filter((e) => e.type === 'payment.booked');
    expect(booked).toHaveLength(2); // before, and the retried one once
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const report = await h.rt.store.checkInvariants();
    expect(report.violations).toEqual([]);
  });
});
