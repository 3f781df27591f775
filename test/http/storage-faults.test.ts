// Storage faults (issue 12, finding 6): /readyz tells whether the switch can book, a
// write that fails in the storage is answered 503 UNAVAILABLE and logged once per burst,
// the database's WAL removed or the file replaced under the running switch stops booking
// with an alarm, and a balance that disagrees with its entries at start stops booking on
// that account only. Real files, real HTTP.
import { copyFileSync, renameSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openRuntime, type Runtime } from '../../src/bootstrap.js';
import { createApp } from '../../src/http/app.js';
import { logger } from '../../src/log.js';
import { Payments } from '../../src/payments/service.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { openTestDb, TEST_STORE } from '../helpers/store.js';
import { bearer, counterOf, expectProblem, idemKey, setup, terminalsOf, type Ctx } from './support.js';

const sqliteOnly = TEST_STORE === 'sqlite' ? describe : describe.skip;

let c: Ctx | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await c?.close().catch(() => undefined);
  c = undefined;
});

/** Logged messages of a level, as they were called. */
function spyLog(level: 'error' | 'warn') {
  return vi.spyOn(logger, level);
}
const messages = (spy: ReturnType<typeof spyLog>) => spy.mock.calls.map((args) => String(args[0]));

async function pay(ctx: Ctx, terminalId: string, api = ctx.api()) {
  const o = await ctx.notices.tari();
  return api
    .post('/v1/payments')
    .set(bearer(ctx.h.terminalToken(terminalId)))
    .set('Idempotency-Key', idemKey('fault'))
    .send({ service: 'TARI', identifier: o.notice, amount: o.amount });
}

/**
 * GET over this host's first non-loopback IPv4 address (the app on a listener of its
 * own), so that the switch sees a caller from elsewhere; null where the host has none.
 */
async function fromAnotherAddress(ctx: Ctx, path: string): Promise<{ status: number; body: string } | null> {
  const address = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  if (!address) return null;
  const server = http.createServer(ctx.h.app);
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  try {
    const res = await fetch(`http://${address}:${(server.address() as AddressInfo).port}${path}`);
    return { status: res.status, body: await res.text() };
  } finally {
    server.close();
  }
}

describe('/readyz and /healthz', () => {
  it('/readyz is 200 while writes succeed; /healthz stays liveness', async () => {
    c = await setup(200);
    const [t] = terminalsOf(c.h, 'agenzia');
    expect((await pay(c, t!)).status).toBe(201);
    const ready = await c.api().get('/readyz');
    expect(ready.status, ready.text).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', alarms: [] });
    const remote = await fromAnotherAddress(c, '/readyz');
    if (remote) expect(JSON.parse(remote.body)).toEqual({ status: 'ready', alarmCount: 0 });
    expect((await c.api().get('/healthz')).status).toBe(200);
  });
});

sqliteOnly('writes that fail in the storage (SQLite read-only)', () => {
  it('answer 503 UNAVAILABLE (not 500 SYSTEM), /readyz says 503 with the reason, one log line per burst; all recovers', async () => {
    c = await setup(200);
    const store = c.h.rt.store as SqliteStore;
    const [t] = terminalsOf(c.h, 'agenzia');
    const errors = spyLog('error');
    const warns = spyLog('warn');
    await store.failWritesForTests(true);
    for (let i = 0; i < 5; i++) expectProblem(await pay(c, t!), 503, 'UNAVAILABLE');
    const ready = await c.api().get('/readyz');
    expectProblem(ready, 503, 'UNAVAILABLE');
    expect(JSON.parse(ready.text).detail).toMatch(/readonly/);
    // From another host, the verdict without the storage's words.
    const remote = await fromAnotherAddress(c, '/readyz');
    if (remote) {
      expect(remote.status).toBe(503);
      expect(remote.body).not.toMatch(/readonly|tserve\.db/);
      expect(JSON.parse(remote.body)).toMatchObject({ code: 'UNAVAILABLE', alarmCount: 0 });
    }
    // Liveness: the process answers.
    expect((await c.api().get('/healthz')).status).toBe(200);
    // One line for the burst, no stack per failure.
    expect(messages(errors).filter((m) => /storage writes failing/.test(m))).toHaveLength(1);
    expect(messages(errors).filter((m) => /unhandled error/.test(m))).toHaveLength(0);
    expect(JSON.stringify(errors.mock.calls)).not.toMatch(/\n\s+at /);
    await store.failWritesForTests(false);
    expect((await pay(c, t!)).status).toBe(201);
    const recovered = warns.mock.calls.find((args) => /storage writes succeed again/.test(String(args[0])));
    // The five payments, and any probe write /readyz asked for.
    expect(((recovered as unknown[] | undefined)?.[1] as { failed: number }).failed).toBeGreaterThanOrEqual(5);
    expect((await c.api().get('/readyz')).status).toBe(200);
  });
});

sqliteOnly('the database file or its WAL removed or replaced under the running switch', () => {
  it('removed WAL: payments are refused 503 (never acknowledged), ALARM logged, /readyz 503', async () => {
    c = await setup(200);
    const [t] = terminalsOf(c.h, 'agenzia');
    expect((await pay(c, t!)).status).toBe(201);
    const errors = spyLog('error');
    rmSync(`${c.h.config.dbFile}-wal`);
    for (let i = 0; i < 3; i++) expectProblem(await pay(c, t!), 503, 'UNAVAILABLE');
    expect(messages(errors).filter((m) => /^ALARM/.test(m))).toHaveLength(1);
    expect(messages(errors).find((m) => /^ALARM/.test(m))).toMatch(/tserve\.db-wal was removed/);
    const ready = await c.api().get('/readyz');
    expectProblem(ready, 503, 'UNAVAILABLE');
    expect(JSON.parse(ready.text).alarms[0]).toMatch(/removed/);
  });

  it('replaced database file: payments refused, ALARM logged, /readyz 503', async () => {
    c = await setup(200);
    const [t] = terminalsOf(c.h, 'agenzia');
    const file = c.h.config.dbFile;
    copyFileSync(file, `${file}.copy`);
    renameSync(`${file}.copy`, file);
    const errors = spyLog('error');
    expectProblem(await pay(c, t!), 503, 'UNAVAILABLE');
    expect(messages(errors).find((m) => /^ALARM/.test(m))).toMatch(/tserve\.db was replaced/);
    expectProblem(await c.api().get('/readyz'), 503, 'UNAVAILABLE');
  });

  it('the checkpointer finds a removed WAL on its own, with no payment: /readyz turns 503', async () => {
    c = await setup(200);
    rmSync(`${c.h.config.dbFile}-wal`);
    await vi.waitFor(async () => expect((await c!.api().get('/readyz')).status).toBe(503), { timeout: 10_000, interval: 100 });
  });
});

describe('a balance that disagrees with its entries at start', () => {
  it('stops booking on that account (503, ALARM) while other counters book', async () => {
    c = await setup(200);
    const [bad, other] = terminalsOf(c.h, 'agenzia').filter((t, i, all) => all.findIndex((x) => counterOf(c!.h, x) === counterOf(c!.h, t)) === i);
    expect((await pay(c, bad!)).status).toBe(201);
    expect((await pay(c, other!)).status).toBe(201);
    const badCounter = counterOf(c.h, bad!);
    // Stopped; a byte of the balance changed with a separate connection.
    await c.h.rt.store.close();
    const db = await openTestDb(c.h.dir);
    const changed = await db.run(
      `UPDATE ledger_balances SET balance_cents = balance_cents + 1
       WHERE account_id = (SELECT id FROM ledger_accounts WHERE kind = 'counter_cash' AND owner_id = ?)`,
      badCounter,
    );
    await db.close();
    expect(changed).toBe(1);
    const errors = spyLog('error');
    const rt: Runtime = await openRuntime(c.h.config, c.h.rt.clock, { checkBalances: true });
    const payments = await Payments.create(rt.store, { settlementCutoff: c.h.config.settlementCutoff, clock: rt.clock });
    const app = createApp({ config: c.h.config, store: rt.store, payments, tokens: c.h.tokens, kek: rt.kek, version: 'test', clock: rt.clock });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const api = () => request(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      // PostgreSQL checks in the background: wait for the alarm to show.
      await vi.waitFor(async () => expect((await api().get('/readyz')).body.alarms?.length).toBe(1), { timeout: 10_000, interval: 50 });
      expectProblem(await pay(c, bad!, api()), 503, 'UNAVAILABLE');
      expect((await pay(c, other!, api())).status).toBe(201);
      const alarm = messages(errors).find((m) => /^ALARM/.test(m));
      expect(alarm).toContain(`counter_cash/${badCounter}`);
      // Other accounts book: ready, with the alarm listed.
      const ready = await api().get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.alarms[0]).toMatch(/differs from the sum of its entries/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rt.store.close();
    }
  });
});
