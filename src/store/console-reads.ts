// The console's reads (issue 14) as both stores run them: a payment search on indexed
// columns, a window's figures grouped in SQL, every counter's day. The SQL is written
// once here, with positional parameters by the caller's `param` (? or $n).
import type { Payment } from '../domain/model.js';

/**
 * What GET /v1/payments searches for, resolved by the use-case (src/payments/reports.ts):
 * every field narrows the search (AND). `ids` are payments named by RRN or receipt
 * number (both are the payment's id by construction: src/ledger/book.ts), checked
 * against the stored column too, so the primary key finds them without an index of its own.
 */
export interface PaymentSearch {
  ids?: number[];
  rrn?: string;
  receiptNumber?: string;
  /** Notice numbers: payments of their payment options, or whose identifier is one of them. */
  notices?: string[];
  /** Exact identifiers (payments.identifier, indexed). */
  identifiers?: string[];
  counterId?: string;
  entityId?: string;
  serviceCode?: string;
  /** Settlement dates, inclusive. */
  from?: string;
  to?: string;
}

/**
 * A window's bookings grouped by every dimension the day report shows (service, entity,
 * channel, counter kind, UTC hour of booking, reversed or not): a few thousand rows at
 * most, folded by the use-case. Rome's offset is a whole number of hours, so a UTC hour
 * is one Rome hour.
 */
export interface DayGroup {
  serviceCode: string;
  entityId: string;
  channel: Payment['channel'];
  counterKind: string;
  /** booked_at / 3 600 000, rounded down. */
  utcHour: number;
  reversed: boolean;
  count: number;
  amountCents: number;
  feeCents: number;
}

/** A counter with its credit used and its window's bookings not reversed. */
export interface CounterDay {
  id: string;
  name: string;
  kind: string;
  status: string;
  creditLimitCents: number;
  exposureCents: number;
  count: number;
  amountCents: number;
  feeCents: number;
  commissionCents: number;
}

type Param = (i: number) => string;

/** The WHERE of a search (with `id < cursor` when paging), as SQL and its parameters. */
export function searchFilter(q: PaymentSearch, cursor: number | null, param: Param): { where: string; params: (string | number)[] } {
  const conds: string[] = [];
  const params: (string | number)[] = [];
  const p = (v: string | number) => {
    params.push(v);
    return param(params.length);
  };
  const list = (vs: readonly (string | number)[]) => vs.map(p).join(', ');
  // An empty list matches nothing (IN () is not SQL).
  const inList = (column: string, vs: readonly (string | number)[]) => (vs.length === 0 ? '0 = 1' : `${column} IN (${list(vs)})`);
  if (q.ids !== undefined) conds.push(inList('id', q.ids));
  if (q.rrn !== undefined) conds.push(`rrn = ${p(q.rrn)}`);
  if (q.receiptNumber !== undefined) conds.push(`receipt_number = ${p(q.receiptNumber)}`);
  if (q.notices !== undefined) {
    // A union of two indexed lookups, as ids (an OR of them would scan on PostgreSQL).
    conds.push(
      q.notices.length === 0
        ? '0 = 1'
        : `id IN (SELECT n.id FROM payment_options o JOIN payments n ON n.option_id = o.id WHERE o.notice_number IN (${list(q.notices)})
            UNION ALL SELECT i.id FROM payments i WHERE i.identifier IN (${list(q.notices)}))`,
    );
  }
  if (q.identifiers !== undefined) conds.push(inList('identifier', q.identifiers));
  if (q.counterId !== undefined) conds.push(`counter_id = ${p(q.counterId)}`);
  if (q.entityId !== undefined) conds.push(`entity_id = ${p(q.entityId)}`);
  if (q.serviceCode !== undefined) conds.push(`service_code = ${p(q.serviceCode)}`);
  // One window as an equality: its index then gives the ids in order (no sort for the newest).
  if (q.from !== undefined && q.from === q.to) conds.push(`settlement_date = ${p(q.from)}`);
  else {
    if (q.from !== undefined) conds.push(`settlement_date >= ${p(q.from)}`);
    if (q.to !== undefined) conds.push(`settlement_date <= ${p(q.to)}`);
  }
  if (cursor !== null) conds.push(`id < ${p(cursor)}`);
  return { where: conds.length > 0 ? `WHERE ${conds.join(' AND ')}` : '', params };
}

/** A window's bookings grouped (DayGroup); `reversed` comes as 0/1 or a boolean by dialect. */
export function dayGroupsSql(entityScoped: boolean, param: Param, idRange = false): string {
  const range = idRange ? ` AND id BETWEEN ${param(entityScoped ? 3 : 2)} AND ${param(entityScoped ? 4 : 3)}` : '';
  return `SELECT service_code, entity_id, channel, counter_kind, booked_at / 3600000 AS utc_hour, reversed_at IS NOT NULL AS reversed,
      count(*) AS n, sum(amount_cents) AS amount, sum(fee_cents) AS fee
    FROM payments WHERE settlement_date = ${param(1)}${entityScoped ? ` AND entity_id = ${param(2)}` : ''}${range}
    GROUP BY service_code, entity_id, channel, counter_kind, booked_at / 3600000, reversed_at IS NOT NULL`;
}

/** Sums groups of the same key (the slices of a window read apart). */
export function mergeDayGroups(groups: DayGroup[]): DayGroup[] {
  const merged = new Map<string, DayGroup>();
  for (const g of groups) {
    const key = `${g.serviceCode}|${g.entityId}|${g.channel}|${g.counterKind}|${g.utcHour}|${g.reversed}`;
    const m = merged.get(key);
    if (!m) merged.set(key, { ...g });
    else {
      m.count += g.count;
      m.amountCents += g.amountCents;
      m.feeCents += g.feeCents;
    }
  }
  return [...merged.values()];
}

export interface DayGroupRow {
  service_code: string;
  entity_id: string;
  channel: Payment['channel'];
  counter_kind: string;
  utc_hour: number;
  reversed: number | boolean;
  n: number;
  amount: number;
  fee: number;
}

export const toDayGroup = (r: DayGroupRow): DayGroup => ({
  serviceCode: r.service_code,
  entityId: r.entity_id,
  channel: r.channel,
  counterKind: r.counter_kind,
  utcHour: Number(r.utc_hour),
  reversed: Boolean(r.reversed),
  count: Number(r.n),
  amountCents: Number(r.amount),
  feeCents: Number(r.fee),
});

/** Every counter, its credit used (as counterExposure) and its window's bookings not reversed. */
export function counterDaySql(param: Param): string {
  return `SELECT c.id, c.name, c.kind, c.status, c.credit_limit_cents,
      coalesce(b.balance_cents, 0) - c.settled_cents AS exposure,
      coalesce(d.n, 0) AS n, coalesce(d.amount, 0) AS amount, coalesce(d.fee, 0) AS fee, coalesce(d.commission, 0) AS commission
    FROM counters c
    LEFT JOIN ledger_accounts a ON a.kind = 'counter_cash' AND a.owner_id = c.id
    LEFT JOIN ledger_balances b ON b.account_id = a.id
    LEFT JOIN (
      SELECT counter_id, count(*) AS n, sum(amount_cents) AS amount, sum(fee_cents) AS fee, sum(fee_commission) AS commission
      FROM payments WHERE settlement_date = ${param(1)} AND reversed_at IS NULL GROUP BY counter_id
    ) d ON d.counter_id = c.id
    ORDER BY c.id`;
}

export interface CounterDayRow {
  id: string;
  name: string;
  kind: string;
  status: string;
  credit_limit_cents: number;
  exposure: number;
  n: number;
  amount: number;
  fee: number;
  commission: number;
}

export const toCounterDay = (r: CounterDayRow): CounterDay => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  status: r.status,
  creditLimitCents: Number(r.credit_limit_cents),
  exposureCents: Number(r.exposure),
  count: Number(r.n),
  amountCents: Number(r.amount),
  feeCents: Number(r.fee),
  commissionCents: Number(r.commission),
});
