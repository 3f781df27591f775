// The console's reads on PostgreSQL (the SQL is shared: src/store/console-reads.ts).
import { counterDaySql, dayGroupsSql, searchFilter, toCounterDay, toDayGroup, type CounterDay, type CounterDayRow, type DayGroup, type DayGroupRow, type PaymentSearch } from '../console-reads.js';
import { PAYMENT_COLUMNS, toPayment, type PaymentRow } from '../rows.js';
import type { Page, Payment } from '../types.js';
import type { PgContext } from './context.js';

const param = (i: number) => `$${i}`;

export async function searchPayments(ctx: PgContext, q: PaymentSearch, cursor: number | null, limit: number): Promise<Page<Payment>> {
  const { where, params } = searchFilter(q, cursor, param);
  const rows = await ctx.q<PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments ${where} ORDER BY id DESC LIMIT ${param(params.length + 1)}`, [...params, limit + 1]);
  const items = rows.slice(0, limit).map(toPayment);
  return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]!.id) : null };
}

export async function dayGroups(ctx: PgContext, date: string, entityId: string | null): Promise<DayGroup[]> {
  const rows = await ctx.q<DayGroupRow>(dayGroupsSql(entityId !== null, param), entityId === null ? [date] : [date, entityId]);
  return rows.map(toDayGroup);
}

export async function countersDay(ctx: PgContext, date: string): Promise<CounterDay[]> {
  return (await ctx.q<CounterDayRow>(counterDaySql(param), [date])).map(toCounterDay);
}
