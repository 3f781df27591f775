// Reads of the audit log and login failures on PostgreSQL, and the count of a failed
// login. The audit chain itself is extended by the audit_log_chain trigger
// (migrations/postgres/003_audit_chain.sql) under the lock of the audit_chain row.
import type { AuditHead, AuditQuery, AuditRecord } from '../audit-chain.js';
import { auditFilter, toAuditRecord, type AuditDbRow } from '../audit-rows.js';
import type { LoginFailures, Page } from '../types.js';

type Query = <R>(sql: string, params?: unknown[]) => Promise<R[]>;

export async function listAudit(q: Query, f: AuditQuery, cursor: number | null, limit: number): Promise<Page<AuditRecord>> {
  const { where, params } = auditFilter(f, cursor, (i) => `$${i}`);
  const rows = await q<AuditDbRow>(`SELECT * FROM audit_log ${where} ORDER BY id DESC LIMIT $${params.length + 1}`, [...params, limit + 1]);
  const items = rows.slice(0, limit).map(toAuditRecord);
  return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]!.id) : null };
}

export async function auditChain(q: Query, afterId: number, limit: number): Promise<AuditRecord[]> {
  return (await q<AuditDbRow>('SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2', [afterId, limit])).map(toAuditRecord);
}

export async function auditHead(q: Query): Promise<AuditHead | undefined> {
  const [h] = await q<{ last_id: string; last_hash: string }>('SELECT last_id, last_hash FROM audit_chain WHERE id = 1');
  return h && { lastId: Number(h.last_id), lastHash: h.last_hash };
}

const toFailures = (r: { failures: number; last_failure_at: string | number }): LoginFailures => ({
  failures: Number(r.failures), lastFailureAt: Number(r.last_failure_at),
});

export async function loginFailures(q: Query, account: string): Promise<LoginFailures | undefined> {
  const [r] = await q<{ failures: number; last_failure_at: string }>('SELECT failures, last_failure_at FROM login_failures WHERE account = $1', [account]);
  return r && toFailures(r);
}

/** One statement, so instances counting the same account at once each add one. */
export async function recordLoginFailure(q: Query, account: string, at: number): Promise<LoginFailures> {
  const [r] = await q<{ failures: number; last_failure_at: string }>(
    `INSERT INTO login_failures AS f (account, failures, last_failure_at) VALUES ($1, 1, $2)
     ON CONFLICT (account) DO UPDATE SET failures = f.failures + 1, last_failure_at = excluded.last_failure_at RETURNING failures, last_failure_at`,
    [account, at],
  );
  return toFailures(r!);
}

export async function clearLoginFailures(q: Query, account: string): Promise<boolean> {
  return (await q('DELETE FROM login_failures WHERE account = $1 RETURNING account', [account])).length > 0;
}

export async function pruneLoginFailures(q: Query, before: number): Promise<number> {
  return (await q('DELETE FROM login_failures WHERE last_failure_at < $1 RETURNING account', [before])).length;
}
