// Direct, read-only looks at a harness's store (its SQLite file or PostgreSQL database,
// through openTestDb), for tests that check what was really committed rather than what
// the API answered. The SQL runs on both: quoted aliases (PostgreSQL folds unquoted ones
// to lower case), aggregates repeated in HAVING rather than named by their alias.
import type { Harness } from '../helpers/harness.js';
import { testToday } from '../helpers/clock.js';
import { openTestDb, type TestDb } from '../helpers/store.js';

export type Db = TestDb;

export function openDb(h: Harness): Promise<Db> {
  return openTestDb(h.dir);
}

export interface PayableNotice {
  optionId: number;
  noticeNumber: string;
  serviceCode: string;
}

/**
 * Unpaid VALID notices of positions with a single option, of services named by notice
 * number whose amount is looked up (TARI, TARIPISA, SANZIONI, TICKET, ...).
 */
export async function payableNotices(db: Db, opts: { service?: string } = {}): Promise<PayableNotice[]> {
  const params: unknown[] = [testToday()];
  if (opts.service !== undefined) params.push(opts.service);
  return db.all<PayableNotice>(
    `SELECT o.id AS "optionId", o.notice_number AS "noticeNumber", p.service_code AS "serviceCode"
     FROM payment_options o
     JOIN debt_positions p ON p.id = o.position_id
     JOIN services s ON s.code = p.service_code
     WHERE p.status = 'VALID' AND o.kind = 'single' AND o.paid_payment_id IS NULL
       AND s.amount_kind = 'L' AND s.identifier_kind = 'notice' AND s.enabled = 1
       AND (p.valid_until IS NULL OR p.valid_until >= ?)
       AND (SELECT count(*) FROM payment_options x WHERE x.position_id = p.id) = 1
       ${opts.service !== undefined ? 'AND p.service_code = ?' : ''}
     ORDER BY o.id`,
    ...params,
  );
}

/** The ledger-level checks, straight from the store; returns a list of violations. */
export async function ledgerViolations(db: Db): Promise<string[]> {
  const v: string[] = [];
  for (const r of await db.all<{ payment_id: number; is_reversal: number; s: number }>(
    'SELECT payment_id, is_reversal, sum(amount_cents) AS s FROM ledger_entries GROUP BY payment_id, is_reversal HAVING sum(amount_cents) <> 0',
  )) {
    v.push(`payment ${r.payment_id} (reversal ${r.is_reversal}) entries sum to ${r.s}`);
  }
  for (const r of await db.all<{ id: number; n: number }>(
    'SELECT p.id, (SELECT count(*) FROM ledger_entries e WHERE e.payment_id = p.id AND e.is_reversal = 0) AS n FROM payments p',
  )) {
    if (Number(r.n) === 0) v.push(`payment ${r.id} has no entries`);
  }
  const total = await db.scalar('SELECT coalesce(sum(balance_cents), 0) FROM ledger_balances');
  if (total !== 0) v.push(`balances sum to ${total}`);
  for (const r of await db.all<{ id: number; kind: string; owner_id: string; b: number; s: number }>(
    `SELECT a.id, a.kind, a.owner_id, coalesce(b.balance_cents, 0) AS b,
            coalesce((SELECT sum(amount_cents) FROM ledger_entries e WHERE e.account_id = a.id), 0) AS s
     FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account_id = a.id`,
  )) {
    if (Number(r.b) !== Number(r.s)) v.push(`account ${r.kind}/${r.owner_id}: balance ${r.b}, entries ${r.s}`);
  }
  for (const r of await db.all<{ account_id: number }>('SELECT account_id FROM ledger_balances WHERE account_id NOT IN (SELECT id FROM ledger_accounts)')) {
    v.push(`balance of unknown account ${r.account_id}`);
  }
  for (const r of await db.all<{ option_id: number; n: number }>(
    'SELECT option_id, count(*) AS n FROM payments WHERE option_id IS NOT NULL AND reversed_at IS NULL GROUP BY option_id HAVING count(*) > 1',
  )) {
    v.push(`option ${r.option_id} has ${r.n} payments not reversed`);
  }
  // Every entry of a payment on a counter's accounts belongs to that payment's counter,
  // every entity account to its entity.
  for (const r of await db.all<{ payment_id: number; kind: string; owner_id: string; counter_id: string; entity_id: string }>(
    `SELECT e.payment_id, a.kind, a.owner_id, p.counter_id, p.entity_id
     FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id JOIN payments p ON p.id = e.payment_id
     WHERE (a.kind LIKE 'counter_%' AND a.owner_id <> p.counter_id)
        OR (a.kind LIKE 'entity_%' AND a.owner_id <> p.entity_id)`,
  )) {
    v.push(`payment ${r.payment_id} of ${r.counter_id}/${r.entity_id} posted to ${r.kind}/${r.owner_id}`);
  }
  return v;
}

/** The counter's cash account balance, read by account kind and owner (not through any cache). */
export async function cashBalance(db: Db, counterId: string): Promise<number> {
  const r = await db.get<{ b: number }>(
    `SELECT b.balance_cents AS b FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
     WHERE a.kind = 'counter_cash' AND a.owner_id = ?`,
    counterId,
  );
  return r === undefined ? 0 : Number(r.b);
}
