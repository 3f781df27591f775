// Reads of the audit log and of login failures on the SQLite store's read connection
// (its writes are on the writer's thread: write-side.ts and ledger-tx.ts's audit()).
import type Database from 'better-sqlite3';
import type { AuditHead, AuditQuery, AuditRecord } from '../audit-chain.js';
import { auditFilter, toAuditRecord, type AuditDbRow } from '../audit-rows.js';
import type { LoginFailures, Page } from '../types.js';

export function listAudit(r: Database.Database, q: AuditQuery, cursor: number | null, limit: number): Page<AuditRecord> {
  const { where, params } = auditFilter(q, cursor, () => '?');
  const rows = r.prepare<unknown[], AuditDbRow>(`SELECT * FROM audit_log ${where} ORDER BY id DESC LIMIT ?`).all(...params, limit + 1);
  const items = rows.slice(0, limit).map(toAuditRecord);
  return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]!.id) : null };
}

export function auditChain(r: Database.Database, afterId: number, limit: number): AuditRecord[] {
  return r.prepare<[number, number], AuditDbRow>('SELECT * FROM audit_log WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit).map(toAuditRecord);
}

export function auditHead(r: Database.Database): AuditHead | undefined {
  const h = r.prepare<[], { last_id: number; last_hash: string }>('SELECT last_id, last_hash FROM audit_chain WHERE id = 1').get();
  return h && { lastId: Number(h.last_id), lastHash: h.last_hash };
}

export function loginFailures(r: Database.Database, account: string): LoginFailures | undefined {
  const f = r.prepare<[string], { failures: number; last_failure_at: number }>('SELECT failures, last_failure_at FROM login_failures WHERE account = ?').get(account);
  return f && { failures: Number(f.failures), lastFailureAt: Number(f.last_failure_at) };
}
