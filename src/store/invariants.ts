// `tserve check`: the ledger's invariants, read back from either store. Every kept total
// (balances, window movements, window totals) is compared with what it stands for. The
// SQL is common to SQLite and PostgreSQL (whose sums come back as numbers, see
// postgres/pool.ts).
import type { WindowTotalRow } from './rows.js';
import type { InvariantReport } from './types.js';

/**
 * What window_totals stands for: the payments grouped by window, kind, entity, service
 * and counter. Booking keeps the table; this query rebuilds it (a database from before
 * the table) and checks it (`tserve check`).
 */
export const WINDOW_TOTALS_SQL = `
  SELECT settlement_date, kind, entity_id, service_code, counter_id, count(*) AS n, sum(amount_cents) AS amount_cents,
    sum(fee_cents) AS fee_cents, sum(fee_commission) AS commission, sum(fee_operator) AS operator, sum(fee_royalty) AS royalty,
    sum(CASE WHEN circuit_fee_mode = 'netted' THEN circuit_fee_cents ELSE 0 END) AS netted,
    sum(CASE WHEN circuit_fee_mode = 'rebilled' THEN circuit_fee_cents ELSE 0 END) AS rebilled
  FROM (
    SELECT settlement_date, 'booking' AS kind, entity_id, service_code, counter_id, amount_cents, fee_cents, fee_commission,
      fee_operator, fee_royalty, circuit_fee_mode, circuit_fee_cents FROM payments
    UNION ALL
    SELECT reversal_settlement_date, reversal_kind, entity_id, service_code, counter_id, amount_cents, fee_cents, fee_commission,
      fee_operator, fee_royalty, circuit_fee_mode, circuit_fee_cents FROM payments WHERE reversal_settlement_date IS NOT NULL
  ) AS t GROUP BY settlement_date, kind, entity_id, service_code, counter_id`;

/** What the check reads through: one query's rows. */
export interface InvariantSource {
  all<R>(sql: string): Promise<R[]>;
}

/** The kept sums of a window_totals row (the rest is its key). */
type TotalField = Exclude<keyof WindowTotalRow, 'settlement_date' | 'kind' | 'entity_id' | 'service_code' | 'counter_id'>;
const FIELDS: readonly TotalField[] = ['n', 'amount_cents', 'fee_cents', 'commission', 'operator', 'royalty', 'netted', 'rebilled'];

export async function checkInvariants(db: InvariantSource): Promise<InvariantReport> {
  const violations: string[] = [];
  /** A statement's rows, typed from its SELECT's columns. */
  const q = <R>(sql: string): Promise<R[]> => db.all<R>(sql);
  /** The value of a one-row aggregate (count, coalesce(sum)): there is always that row. */
  const scalar = async (sql: string): Promise<number> => Number(Object.values((await db.all<Record<string, unknown>>(sql))[0]!)[0]);
  const total = await scalar('SELECT coalesce(sum(balance_cents), 0) FROM ledger_balances');
  if (total !== 0) violations.push(`balances sum to ${total}, not 0`);
  for (const x of await q<{ payment_id: number; is_reversal: number; s: number }>(
    'SELECT payment_id, is_reversal, sum(amount_cents) AS s FROM ledger_entries GROUP BY payment_id, is_reversal HAVING sum(amount_cents) <> 0',
  )) {
    violations.push(`payment ${x.payment_id} ${x.is_reversal ? 'reversal' : ''} entries sum to ${x.s}`);
  }
  // One pass over the entries, then compare with the kept balances.
  const sums = new Map<number, number>();
  for (const x of await q<{ account_id: number; s: number }>('SELECT account_id, sum(amount_cents) AS s FROM ledger_entries GROUP BY account_id')) {
    sums.set(x.account_id, x.s);
  }
  for (const x of await q<{ id: number; b: number }>(
    'SELECT a.id, coalesce(b.balance_cents, 0) AS b FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account_id = a.id',
  )) {
    const s = sums.get(x.id) ?? 0;
    if (s !== x.b) violations.push(`account ${x.id}: balance ${x.b} but entries sum to ${s}`);
  }
  for (const x of await q<{ option_id: number; n: number }>(
    'SELECT option_id, count(*) AS n FROM payments WHERE option_id IS NOT NULL AND reversed_at IS NULL GROUP BY option_id HAVING count(*) > 1',
  )) {
    violations.push(`option ${x.option_id} paid ${x.n} times`);
  }
  for (const x of await q<{ id: number }>(
    `SELECT o.id FROM payment_options o LEFT JOIN payments p ON p.id = o.paid_payment_id
     WHERE (o.paid_payment_id IS NOT NULL AND (p.id IS NULL OR p.reversed_at IS NOT NULL OR p.option_id <> o.id))
        OR (o.paid_payment_id IS NULL AND EXISTS (SELECT 1 FROM payments q WHERE q.option_id = o.id AND q.reversed_at IS NULL))`,
  )) {
    violations.push(`option ${x.id}: paid mark disagrees with its payments`);
  }
  for (const x of await q<{ id: number }>(
    `SELECT p.id FROM payments p WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.payment_id = p.id)
        OR (p.reversed_at IS NOT NULL) <> EXISTS (SELECT 1 FROM ledger_entries e WHERE e.payment_id = p.id AND e.is_reversal = 1)`,
  )) {
    violations.push(`payment ${x.id}: entries missing or reversal state inconsistent`);
  }
  // Each window's movement per account equals the sum of its entries.
  const kept = new Map<string, number>();
  for (const x of await q<{ settlement_date: string; account_id: number; amount_cents: number }>(
    'SELECT settlement_date, account_id, amount_cents FROM window_movements',
  )) {
    kept.set(`${x.settlement_date}|${x.account_id}`, x.amount_cents);
  }
  for (const x of await q<{ settlement_date: string; account_id: number; s: number }>(
    'SELECT settlement_date, account_id, sum(amount_cents) AS s FROM ledger_entries GROUP BY settlement_date, account_id',
  )) {
    const k = `${x.settlement_date}|${x.account_id}`;
    if ((kept.get(k) ?? 0) !== x.s) violations.push(`window ${k}: movement ${kept.get(k) ?? 0} but entries sum to ${x.s}`);
    kept.delete(k);
  }
  for (const [k, v] of kept) if (v !== 0) violations.push(`window ${k}: movement ${v} without entries`);
  // Each window's group totals equal the payments they stand for.
  const totals = new Map<string, WindowTotalRow>();
  for (const x of await q<WindowTotalRow>('SELECT * FROM window_totals')) {
    totals.set(`${x.settlement_date}|${x.kind}|${x.entity_id}|${x.service_code}|${x.counter_id}`, x);
  }
  for (const x of await q<WindowTotalRow>(WINDOW_TOTALS_SQL)) {
    const k = `${x.settlement_date}|${x.kind}|${x.entity_id}|${x.service_code}|${x.counter_id}`;
    const t = totals.get(k);
    const off = FIELDS.filter((f) => (t?.[f] ?? 0) !== x[f]);
    if (off.length > 0) violations.push(`window totals ${k}: ${off.map((f) => `${f} ${t?.[f] ?? 0} but payments say ${x[f]}`).join(', ')}`);
    totals.delete(k);
  }
  for (const [k, t] of totals) if (FIELDS.some((f) => t[f] !== 0)) violations.push(`window totals ${k}: kept without payments`);
  return {
    ok: violations.length === 0,
    checked: {
      payments: await scalar('SELECT count(*) FROM payments'),
      entries: await scalar('SELECT count(*) FROM ledger_entries'),
      accounts: await scalar('SELECT count(*) FROM ledger_accounts'),
      options: await scalar('SELECT count(*) FROM payment_options'),
    },
    violations,
  };
}
