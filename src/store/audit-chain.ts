// The audit log's hash chain, the same on both stores. Each row carries the hash of the
// row before it (prev_hash) and its own hash: SHA-256 over a canonical encoding of the
// previous hash and its own content. A head row (audit_chain) keeps the last id and
// hash, so that an edited, inserted or deleted row — also the last ones — breaks the
// chain, and `tserve audit verify` names the first broken row.
//
// PostgreSQL computes the same hash in SQL (migrations/postgres/003_audit_chain.sql,
// audit_row_hash): change one, change both, and bump the version tag.
import { createHash } from 'node:crypto';

/** The prev_hash of the first row. */
export const GENESIS_HASH = '0'.repeat(64);
const VERSION_TAG = 'tserve-audit-1';

export interface AuditRecord {
  id: number;
  /** Epoch ms. */
  at: number;
  actor: string;
  action: string;
  target: string;
  /** JSON text as stored, never secrets. */
  detail: string | null;
  prevHash: string | null;
  hash: string | null;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  target?: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
}

export interface AuditHead {
  lastId: number;
  lastHash: string;
}

/** Length-prefixed (UTF-8 bytes), so no value can pass for a field boundary. */
const field = (s: string) => `${Buffer.byteLength(s, 'utf8')}:${s}`;

/** The canonical encoding of a row and its predecessor's hash. */
export function canonicalAuditRow(prevHash: string, r: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  return [
    VERSION_TAG, prevHash, String(r.id), String(r.at), field(r.actor), field(r.action), field(r.target), r.detail === null ? '-' : field(r.detail),
  ].join('\n');
}

export function auditRowHash(prevHash: string, r: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  return createHash('sha256').update(canonicalAuditRow(prevHash, r), 'utf8').digest('hex');
}

export interface ChainReport {
  ok: boolean;
  rows: number;
  /** The first row that breaks the chain (or the head, id null), and why. */
  broken: { id: number | null; reason: string } | null;
  head: AuditHead | null;
}

/** What verification reads: rows in id order, page by page, and the head. */
export interface AuditChainSource {
  auditChain(afterId: number, limit: number): Promise<AuditRecord[]>;
  auditHead(): Promise<AuditHead | undefined>;
}

const PAGE = 5000;

/** Walks the whole chain; stops at the first broken row. */
export async function verifyAuditChain(source: AuditChainSource): Promise<ChainReport> {
  const head = (await source.auditHead()) ?? null;
  let prev = GENESIS_HASH;
  let lastId = 0;
  let rows = 0;
  const fail = (id: number | null, reason: string): ChainReport => ({ ok: false, rows, broken: { id, reason }, head });
  for (;;) {
    const page = await source.auditChain(lastId, PAGE);
    for (const r of page) {
      if (r.prevHash !== prev) {
        return fail(r.id, r.prevHash === null ? 'the row is not chained' : `its prev_hash does not match the hash of the row before it (a row before it was edited, removed or inserted)`);
      }
      if (r.hash !== auditRowHash(prev, r)) return fail(r.id, 'its content does not match its hash (the row was edited)');
      prev = r.hash;
      lastId = r.id;
      rows++;
    }
    if (page.length < PAGE) break;
  }
  if (!head) return rows === 0 ? { ok: true, rows, broken: null, head } : fail(null, 'the chain head is missing');
  if (head.lastId !== lastId || head.lastHash !== prev) {
    return fail(null, `the chain head names row ${head.lastId}, the log ends at row ${lastId} (rows at the end were removed, or the head was changed)`);
  }
  return { ok: true, rows, broken: null, head };
}
