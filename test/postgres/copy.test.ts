// `tserve copy`: an embedded deployment with payments, reversals and events moves to an
// empty PostgreSQL database; the check proves every cent arrived, and the copied switch
// carries on where the file stopped (payment numbers, stream numbers, paid notices).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySqliteToPostgres } from '../../src/store/copy.js';
import { PgStore } from '../../src/store/postgres/store.js';
import { api, startHarness, type Harness } from '../helpers/harness.js';
import { createTestDatabase, TEST_STORE } from '../helpers/store.js';
import { fiscalCodeFor } from '../e2e/process.js';

let h: Harness;
const paid: { paymentId: string; total: number }[] = [];

beforeAll(async () => {
  if (TEST_STORE !== 'postgres') return;
  h = await startHarness({ sqlite: true, positions: 500 });
  for (let i = 0; i < 30; i++) {
    const terminal = h.credentials.terminals[i % 5]!.terminalId;
    const res = await api(h)
      .post('/v1/payments')
      .set('authorization', `Bearer ${h.terminalToken(terminal)}`)
      .set('idempotency-key', `copy-key-${i}`)
      .send({ service: 'CERTIFICATI', identifier: fiscalCodeFor('RSSMRA85T10A', i), amount: 100 });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    paid.push({ paymentId: res.body.paymentId as string, total: res.body.total as number });
    if (i % 10 === 9) {
      const rev = await api(h)
        .post(`/v1/payments/${res.body.paymentId as string}/reversal`)
        .set('authorization', `Bearer ${h.terminalToken(terminal)}`)
        .set('idempotency-key', `copy-reversal-${i}`)
        .send({});
      expect(rev.status, JSON.stringify(rev.body)).toBe(200);
    }
  }
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe.skipIf(TEST_STORE !== 'postgres')('tserve copy from SQLite to PostgreSQL', () => {
  let url = '';

  it('copies every row and cent, and says so', { timeout: 120_000 }, async () => {
    url = await createTestDatabase();
    const steps = new Set<string>();
    const report = await copySqliteToPostgres(h.config.dbFile, url, (step) => steps.add(step));
    expect(report.differences).toEqual([]);
    expect(report.source.ok && report.target.ok).toBe(true);
    expect(report.ok).toBe(true);
    expect(report.rows.payments).toBe(30);
    expect(report.rows.ledger_entries).toBe(report.source.checked.entries);
    expect(report.target.checked).toEqual(report.source.checked);
    expect(steps).toContain('payments and ledger entries');
  });

  it('the copied switch answers as the file did and carries on from it', { timeout: 60_000 }, async () => {
    const pgStore = await PgStore.open(url);
    try {
      for (const p of paid) expect(await pgStore.getPayment(p.paymentId)).toEqual(await h.rt.store.getPayment(p.paymentId));
      expect(await pgStore.eventBounds()).toEqual(await h.rt.store.eventBounds());
      for (const c of ['C0001', 'C0002']) expect(await pgStore.counterExposure(c)).toBe(await h.rt.store.counterExposure(c));
      expect(await pgStore.windowSums('2026-11-23')).toEqual(await h.rt.store.windowSums('2026-11-23'));
      expect(await pgStore.loadCatalogue()).toEqual(await h.rt.store.loadCatalogue());
      // New payment numbers follow the copied ones.
      const max = Math.max(...(await Promise.all(paid.map(async (p) => (await pgStore.getPayment(p.paymentId))!.id))));
      const r = await pgStore.poolForTools.query<{ next: number }>("SELECT nextval('payments_id_seq') AS next");
      expect(r.rows[0]!.next).toBe(max + 1);
    } finally {
      await pgStore.close();
    }
  });

  it('refuses a database that is not empty', async () => {
    await expect(copySqliteToPostgres(h.config.dbFile, url)).rejects.toThrow(/not empty/);
  });
});
