// The audit chain on PostgreSQL: instances appending at once are chained one after
// another (the audit_chain row lock), and a database migrated with audit rows already in
// it has them chained by 003 in the same encoding as src/store/audit-chain.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../src/store/audit-chain.js';
import { migrate, migrations } from '../../src/store/postgres/migrate.js';
import { openPool, type Pool } from '../../src/store/postgres/pool.js';
import { PgStore } from '../../src/store/postgres/store.js';
import { createTestDatabase, TEST_STORE } from '../helpers/store.js';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

describe.runIf(TEST_STORE === 'postgres')('audit chain on PostgreSQL', () => {
  it('stays one chain when several instances write audit rows at once', async () => {
    const url = await createTestDatabase();
    const stores = [await PgStore.open(url), await PgStore.open(url), await PgStore.open(url)];
    closers.push(...stores.map((s) => () => s.close()));
    await Promise.all(
      stores.flatMap((s, i) =>
        Array.from({ length: 30 }, (_, j) => s.appendAudit([{ actor: `instance-${i}`, action: 'test.write', target: `row-${j}`, detail: { j, text: 'àé€ "quoted"\n' } }])),
      ),
    );
    const report = await verifyAuditChain(stores[0]!);
    expect(report.ok, JSON.stringify(report.broken)).toBe(true);
    expect(report.rows).toBe(90);
    expect(report.head?.lastId).toBe(90);
  });

  it('chains the rows a database held before migration 003, in the encoding verify checks', async () => {
    const url = await createTestDatabase();
    const pool: Pool = openPool(url, 2);
    closers.push(() => pool.end());
    const all = migrations();
    await migrate(pool, all.filter((m) => m.version < 3));
    await pool.query(
      `INSERT INTO audit_log (at, actor, action, target, detail) VALUES
       (1, 'admin:a', 'terminal.block', 'T0001', NULL), (2, 'admin:ü', 'counter.credit_limit', 'C0001', '{"from":1,"to":2}'), (3, 'x', 'y', '', '')`,
    );
    await pool.query('DELETE FROM audit_log WHERE id = 2'); // a gap, as a rolled-back sequence leaves
    await migrate(pool, all);
    const store = await PgStore.open(url);
    closers.push(() => store.close());
    await store.appendAudit([{ actor: 'admin:a', action: 'terminal.unblock', target: 'T0001' }]);
    const report = await verifyAuditChain(store);
    expect(report.ok, JSON.stringify(report.broken)).toBe(true);
    expect(report.rows).toBe(3);
    expect((await store.auditChain(0, 10)).map((r) => r.id)).toEqual([1, 3, 4]);
  });
});
