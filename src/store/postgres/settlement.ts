// Settlement windows on PostgreSQL: closing a day (exclusive against booking batches),
// its sums and lines read in one snapshot while booking goes on, the draft, the
// approval that moves each counter's settled amount, and the export mark.
import { toRebilledSums, toWindow, type PaymentLineRow, type RebilledRow, type WindowDbRow, type WindowTotalRow } from '../rows.js';
import type { LinesQuery, RebilledSums, WindowRow, WindowSums } from '../settlement-types.js';
import { lineFilters, pageLines, WINDOW_PHASES, windowSumsOf } from '../shared.js';
import { WINDOW_LOCK } from './batch.js';
import type { PgContext } from './context.js';

export async function closeWindow(ctx: PgContext, date: string, at: number): Promise<void> {
  // Exclusive against booking batches (which hold it shared): once closed, no batch books into it.
  await ctx.tx(async ({ c }) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [WINDOW_LOCK]);
    await c.query("INSERT INTO settlement_windows (date, status, closed_at) VALUES ($1, 'closed', $2) ON CONFLICT (date) DO NOTHING", [date, at]);
  });
}

export async function getWindow(ctx: PgContext, date: string): Promise<WindowRow | undefined> {
  const r = await ctx.one<WindowDbRow>('SELECT * FROM settlement_windows WHERE date = $1', [date]);
  return r && toWindow(r);
}

export async function listWindows(ctx: PgContext): Promise<WindowRow[]> {
  return (await ctx.q<WindowDbRow>('SELECT * FROM settlement_windows ORDER BY date DESC')).map(toWindow);
}

export async function windowSums(ctx: PgContext, date: string): Promise<WindowSums> {
  return ctx.snapshot(async (c) => {
    const rows = (await c.query<WindowTotalRow>('SELECT * FROM window_totals WHERE settlement_date = $1 AND n <> 0', [date])).rows;
    const movements = (await c.query<{ kind: string; owner_id: string; amount: number }>(
      `SELECT a.kind, a.owner_id, m.amount_cents AS amount FROM window_movements m
       JOIN ledger_accounts a ON a.id = m.account_id WHERE m.settlement_date = $1 ORDER BY a.kind, a.owner_id`,
      [date],
    )).rows.map((r) => ({ kind: r.kind, ownerId: r.owner_id, amount: r.amount }));
    return windowSumsOf(rows, movements);
  });
}

export async function saveDraft(ctx: PgContext, date: string, figures: string, figuresHash: string, at: number): Promise<boolean> {
  const changed = await ctx.exec(
    `UPDATE settlement_windows SET status = 'draft', figures = $1, figures_hash = $2, computed_at = $3 WHERE date = $4 AND status IN ('closed', 'draft')`,
    [figures, figuresHash, at, date],
  );
  return changed === 1;
}

export async function approveWindow(ctx: PgContext, date: string, actor: string, at: number, settledByCounter: Map<string, number>): Promise<WindowRow> {
  return ctx.tx(async ({ c, emit, audit, invalidate }) => {
    const r = (await c.query<WindowDbRow>('SELECT * FROM settlement_windows WHERE date = $1 FOR UPDATE', [date])).rows[0];
    if (!r) throw new Error(`no settlement for ${date}`);
    if (r.status === 'draft') {
      await c.query("UPDATE settlement_windows SET status = 'approved', approved_at = $1, approved_by = $2 WHERE date = $3", [at, actor, date]);
      const settled = [...settledByCounter].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      await c.query('UPDATE counters c SET settled_cents = c.settled_cents + v.s FROM unnest($1::text[], $2::bigint[]) AS v (id, s) WHERE c.id = v.id', [
        settled.map(([id]) => id), settled.map(([, s]) => s),
      ]);
      for (const [id] of settled) invalidate('counter', id);
      audit({ actor, action: 'settlement.approve', target: date, detail: { figuresHash: r.figures_hash } }, at);
      emit({ type: 'settlement.approved', at, terminalId: null, counterId: null, entityId: null, serviceCode: null, payload: { date, approvedBy: actor, figuresHash: r.figures_hash } });
    }
    return toWindow((await c.query<WindowDbRow>('SELECT * FROM settlement_windows WHERE date = $1', [date])).rows[0]!);
  }).finally(() => ctx.counters.clear());
}

export async function markExported(ctx: PgContext, date: string, at: number): Promise<void> {
  await ctx.exec(
    "UPDATE settlement_windows SET status = 'exported', exported_at = coalesce(exported_at, $1) WHERE date = $2 AND status IN ('approved', 'exported')",
    [at, date],
  );
}

export async function windowLines(ctx: PgContext, q: LinesQuery, cursor: string | null, limit: number) {
  const params: unknown[] = [q.from, q.to];
  const filters = lineFilters(q, (_name, value) => `$${params.push(value)}`);
  const n = params.length;
  return pageLines(cursor, limit, ({ dateColumn, kind }, after, rows) =>
    ctx.q<PaymentLineRow>(
      `SELECT id, public_id, ${kind} AS kind, booked_at, ${dateColumn} AS "window", entity_id, service_code, counter_id, terminal_id,
         channel, rrn, receipt_number, amount_cents, fee_cents, fee_commission, fee_operator, fee_royalty, circuit_fee_cents, circuit_fee_mode,
         reversed_at, identifier, (SELECT o.notice_number FROM payment_options o WHERE o.id = payments.option_id) AS notice_number,
         (SELECT s.name FROM services s WHERE s.code = payments.service_code) AS service_name
       FROM payments WHERE ${dateColumn} BETWEEN $1 AND $2${filters} AND id > $${n + 1} ORDER BY id LIMIT $${n + 2}`,
      [...params, after, rows],
    ),
  );
}

export async function rebilledSums(ctx: PgContext, entityId: string, month: string): Promise<RebilledSums[]> {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new RangeError(`not a month (YYYY-MM): "${month}"`);
  const from = `${month}-01`;
  const to = `${month}-31`;
  return ctx.snapshot(async (c) => {
    const out: RebilledSums[] = [];
    for (const { dateColumn, kind } of WINDOW_PHASES) {
      const rows = await c.query<RebilledRow>(
        `SELECT ${kind} AS kind, service_code, circuit_fee_cents AS rate, count(*) AS n, sum(circuit_fee_cents) AS amount
         FROM payments WHERE ${dateColumn} BETWEEN $1 AND $2 AND entity_id = $3 AND circuit_fee_mode = 'rebilled'
         GROUP BY 1, service_code, circuit_fee_cents ORDER BY 1, service_code, circuit_fee_cents`,
        [from, to, entityId],
      );
      for (const r of rows.rows) out.push(toRebilledSums(r));
    }
    return out;
  });
}
