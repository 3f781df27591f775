// A SQLite file written before the audit log was hash-chained: at open, its rows are
// chained once in id order (rows with gaps included), and the chain goes on from them.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { verifyAuditChain } from '../src/store/audit-chain.js';
import { SqliteStore } from '../src/store/sqlite/store.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-audit-legacy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('chains the audit rows of a file from before the chain, then appends after them', async () => {
  const file = path.join(dir, 'tserve.db');
  const old = new Database(file);
  old.exec(`CREATE TABLE audit_log (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT);
    INSERT INTO audit_log VALUES (1, 10, 'admin:a', 'terminal.block', 'T0001', NULL), (3, 20, 'admin:ü', 'counter.credit_limit', 'C0001', '{"from":1,"to":2}');`);
  old.close();

  const store = SqliteStore.open(file);
  try {
    await store.appendAudit([{ actor: 'admin:a', action: 'terminal.unblock', target: 'T0001' }]);
    const report = await verifyAuditChain(store);
    expect(report.ok, JSON.stringify(report.broken)).toBe(true);
    expect((await store.auditChain(0, 10)).map((r) => [r.id, r.action])).toEqual([[1, 'terminal.block'], [3, 'counter.credit_limit'], [4, 'terminal.unblock']]);
  } finally {
    await store.close();
  }
  // Opening again chains nothing twice.
  const again = SqliteStore.open(file);
  try {
    expect((await verifyAuditChain(again)).ok).toBe(true);
  } finally {
    await again.close();
  }
});
