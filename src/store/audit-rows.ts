// The audit log's rows as both stores read them, and the filters of GET /v1/admin/audit.
import type { AuditQuery, AuditRecord } from './audit-chain.js';

export interface AuditDbRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  detail: string | null;
  prev_hash: string | null;
  hash: string | null;
}

export const toAuditRecord = (r: AuditDbRow): AuditRecord => ({
  id: Number(r.id), at: Number(r.at), actor: r.actor, action: r.action, target: r.target, detail: r.detail, prevHash: r.prev_hash, hash: r.hash,
});

/** The filters of GET /v1/admin/audit as SQL (positional ? or $n by the caller's `param`). */
export function auditFilter(q: AuditQuery, cursor: number | null, param: (i: number) => string): { where: string; params: (string | number)[] } {
  const conds: string[] = [];
  const params: (string | number)[] = [];
  const add = (sql: string, v: string | number) => {
    params.push(v);
    conds.push(sql.replace('?', param(params.length)));
  };
  if (cursor !== null) add('id < ?', cursor);
  if (q.actor !== undefined) add('actor = ?', q.actor);
  if (q.action !== undefined) add('action = ?', q.action);
  if (q.target !== undefined) add('target = ?', q.target);
  if (q.from !== undefined) add('at >= ?', q.from);
  if (q.to !== undefined) add('at < ?', q.to);
  return { where: conds.length > 0 ? `WHERE ${conds.join(' AND ')}` : '', params };
}
