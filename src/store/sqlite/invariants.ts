// `tserve check`: the ledger's invariants, read back from the file. Every kept total
// (balances, window movements, window totals) is compared with what it stands for.
import type Database from 'better-sqlite3';
import type { InvariantReport } from '../types.js';
import { WINDOW_TOTALS_SQL } from './connection.js';
import type { WindowTotalRow } from './rows.js';

type Row = Record<string, unknown>;

export function checkInvariants(r: Database.Database): InvariantReport {
  const violations: string[] = [];
  const q = <T>(sql: string) => r.prepare(sql).all() as T[];
  const total = r.prepare('SELECT coalesce(sum(balance_cents), 0) FROM ledger_balances').pluck().get() as number;
  if (total !== 0) violations.push(`balances sum to ${total}, not 0`);
  for (const x of q<Row>(
    'SELECT payment_id, is_reversal, sum(amount_cents) AS s FROM ledger_entries GROUP BY payment_id, is_reversal HAVING s <> 0',
  )) {
    violations.push(`payment ${x.payment_id as number} ${x.is_reversal ? 'reversal' : ''} entries sum to ${x.s as number}`);
  }
  // One pass over the entries, then compare with the kept balances.
  const sums = new Map<number, number>();
  for (const x of q<Row>('SELECT account_id, sum(amount_cents) AS s FROM ledger_entries GROUP BY account_id')) {
    sums.set(x.account_id as number, x.s as number);
  }
  for (const x of q<Row>('SELECT a.id, coalesce(b.balance_cents, 0) AS b FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account_id = a.id')) {
    const s = sums.get(x.id as number) ?? 0;
    if (s !== x.b) violations.push(`account ${x.id as number}: balance ${x.b as number} but entries sum to ${s}`);
  }
  for (const x of q<Row>(
    'SELECT option_id, count(*) AS n FROM payments WHERE option_id IS NOT NULL AND reversed_at IS NULL GROUP BY option_id HAVING n > 1',
  )) {
    violations.push(`option ${x.option_id as number} paid ${x.n as number} times`);
  }
  for (const x of q<Row>(
    `SELECT o.id FROM payment_options o LEFT JOIN payments p ON p.id = o.paid_payment_id
     WHERE (o.paid_payment_id IS NOT NULL AND (p.id IS NULL OR p.reversed_at IS NOT NULL OR p.option_id <> o.id))
        OR (o.paid_payment_id IS NULL AND EXISTS (SELECT 1 FROM payments q WHERE q.option_id = o.id AND q.reversed_at IS NULL))`,
  )) {
    violations.push(`option ${x.id as number}: paid mark disagrees with its payments`);
  }
  for (const x of q<Row>(
    `SELECT p.id FROM payments p WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.payment_id = p.id)
        OR (p.reversed_at IS NOT NULL) <> EXISTS (SELECT 1 FROM ledger_entries e WHERE e.payment_id = p.id AND e.is_reversal = 1)`,
  )) {
    violations.push(`payment ${x.id as number}: entries missing or reversal state inconsistent`);
  }
  // Each window's movement per account equals the sum of its entries.
  const kept = new Map<string, number>();
  for (const x of q<Row>('SELECT settlement_date, account_id, amount_cents FROM window_movements')) {
    kept.set(`${x.settlement_date as string}|${x.account_id as number}`, x.amount_cents as number);
  }
  for (const x of q<Row>('SELECT settlement_date, account_id, sum(amount_cents) AS s FROM ledger_entries GROUP BY settlement_date, account_id')) {
    const k = `${x.settlement_date as string}|${x.account_id as number}`;
    if ((kept.get(k) ?? 0) !== x.s) violations.push(`window ${k}: movement ${kept.get(k) ?? 0} but entries sum to ${x.s as number}`);
    kept.delete(k);
  }
  for (const [k, v] of kept) if (v !== 0) violations.push(`window ${k}: movement ${v} without entries`);
  // Each window's group totals equal the payments they stand for.
  const totals = new Map<string, WindowTotalRow>();
  for (const x of r.prepare<[], WindowTotalRow>('SELECT * FROM window_totals').all()) {
    totals.set(`${x.settlement_date}|${x.kind}|${x.entity_id}|${x.service_code}|${x.counter_id}`, x);
  }
  const FIELDS = ['n', 'amount_cents', 'fee_cents', 'commission', 'operator', 'royalty', 'netted', 'rebilled'] as const;
  for (const x of r.prepare<[], WindowTotalRow>(WINDOW_TOTALS_SQL).all()) {
    const k = `${x.settlement_date}|${x.kind}|${x.entity_id}|${x.service_code}|${x.counter_id}`;
    const t = totals.get(k);
    const off = FIELDS.filter((f) => (t?.[f] ?? 0) !== x[f]);
    if (off.length > 0) violations.push(`window totals ${k}: ${off.map((f) => `${f} ${t?.[f] ?? 0} but payments say ${x[f]}`).join(', ')}`);
    totals.delete(k);
  }
  for (const [k, t] of totals) if (FIELDS.some((f) => t[f] !== 0)) violations.push(`window totals ${k}: kept without payments`);
  const count = (sql: string) => r.prepare(sql).pluck().get() as number;
  return {
    ok: violations.length === 0,
    checked: {
      payments: count('SELECT count(*) FROM payments'),
      entries: count('SELECT count(*) FROM ledger_entries'),
      accounts: count('SELECT count(*) FROM ledger_accounts'),
      options: count('SELECT count(*) FROM payment_options'),
    },
    violations,
  };
}
