// Balances checked against their entries at start, quickly on a database of millions of
// payments: a checkpoint keeps each account's sum of its entries up to an entry id
// (ledger_checkpoints, and meta 'ledger_checkpoint' for that id), so only the entries
// written since are summed. The checkpoint is a sum of entries, never a copy of the
// balances, so a balance damaged before it was taken is still found. Entries are
// append-only and their ids grow with each commit (one writer), so the sum of the ids up
// to one seen in a snapshot never changes afterwards.
import type Database from 'better-sqlite3';
import type { AccountKind } from '../../ledger/postings.js';

const META_KEY = 'ledger_checkpoint';

export interface BalanceMismatch {
  kind: AccountKind;
  ownerId: string;
  balanceCents: number;
  entriesCents: number;
}

/** The sums of the entries up to the last entry now, from the checkpoint and the entries after it. */
function entrySums(db: Database.Database): { upTo: number; sums: Map<number, number>; summed: number } {
  const upTo = db.prepare<[], number>('SELECT coalesce(max(id), 0) FROM ledger_entries').pluck().get()!;
  let from = Number(db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(META_KEY) ?? 0);
  const sums = new Map<number, number>();
  // A checkpoint past the last entry (entries removed by a seed, or a damaged meta row): start over.
  if (!(from >= 0 && from <= upTo)) from = 0;
  if (from > 0) for (const r of db.prepare<[], { account_id: number; balance_cents: number }>('SELECT account_id, balance_cents FROM ledger_checkpoints').iterate()) sums.set(r.account_id, r.balance_cents);
  let summed = 0;
  for (const r of db
    .prepare<[number, number], { account_id: number; s: number; n: number }>(
      'SELECT account_id, sum(amount_cents) AS s, count(*) AS n FROM ledger_entries WHERE id > ? AND id <= ? GROUP BY account_id',
    )
    .iterate(from, upTo)) {
    sums.set(r.account_id, (sums.get(r.account_id) ?? 0) + r.s);
    summed += r.n;
  }
  return { upTo, sums, summed };
}

function saveCheckpoint(db: Database.Database, upTo: number, sums: Map<number, number>): void {
  db.prepare('DELETE FROM ledger_checkpoints').run();
  const ins = db.prepare('INSERT INTO ledger_checkpoints (account_id, balance_cents) VALUES (?, ?)');
  for (const [id, s] of sums) ins.run(id, s);
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(META_KEY, String(upTo));
}

/**
 * Compares every account's balance with the sum of its entries and moves the checkpoint
 * to the last entry; on the write connection, before any booking, in one transaction.
 */
export function verifyBalances(db: Database.Database): { mismatches: BalanceMismatch[]; entriesSummed: number; accounts: number } {
  return db.transaction(() => {
    const { upTo, sums, summed } = entrySums(db);
    const accounts = db
      .prepare<[], { id: number; kind: AccountKind; owner_id: string; b: number }>(
        'SELECT a.id, a.kind, a.owner_id, coalesce(b.balance_cents, 0) AS b FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account_id = a.id',
      )
      .all();
    const mismatches = accounts
      .filter((a) => a.b !== (sums.get(a.id) ?? 0))
      .map((a) => ({ kind: a.kind, ownerId: a.owner_id, balanceCents: a.b, entriesCents: sums.get(a.id) ?? 0 }));
    saveCheckpoint(db, upTo, sums);
    return { mismatches, entriesSummed: summed, accounts: accounts.length };
  }).immediate();
}

/**
 * Moves the checkpoint forward while booking goes on (the checkpointer's thread): the
 * entries are summed in a read snapshot, then written in a short write transaction if
 * the checkpoint has not moved meanwhile. False when the write lock was busy.
 */
export function advanceCheckpoint(db: Database.Database): boolean {
  const read = db.transaction(() => ({ at: db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(META_KEY), ...entrySums(db) }));
  const { at, upTo, sums } = read.deferred();
  try {
    return db.transaction(() => {
      if (db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(META_KEY) !== at) return false;
      saveCheckpoint(db, upTo, sums);
      return true;
    }).immediate();
  } catch {
    return false; // busy: the next round tries again
  }
}
