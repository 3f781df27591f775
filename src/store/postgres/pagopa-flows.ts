// pagoPA settlement on PostgreSQL (docs/pagopa.md "Settlement and reporting flows"): a
// window's pagoPA payments as its settlement sees them, and the reporting flows.
import { PAGOPA_COLUMNS, toPagoPaRecord, type PagoPaRow, type PagoPaTransferRow } from '../pagopa-types.js';
import {
  FLOW_COLUMNS,
  flowValues,
  toPagoPaFlow,
  type NewPagoPaFlow,
  type PagoPaFlow,
  type PagoPaFlowAttempt,
  type PagoPaFlowRow,
  type PagoPaSettlementExtra,
  type PagoPaSettlementRecord,
} from '../pagopa-flow-types.js';
import type { PgContext } from './context.js';

const G_COLUMNS = PAGOPA_COLUMNS.split(', ').map((c) => `g.${c}`).join(', ');

export async function pagopaSettlementOfWindow(ctx: PgContext, date: string): Promise<PagoPaSettlementRecord[]> {
  return ctx.snapshot(async (c) => {
    const rows = (
      await c.query<PagoPaRow & PagoPaSettlementExtra>(
        `SELECT ${G_COLUMNS}, p.entity_id, p.amount_cents,
                (p.reversal_kind = 'reversal' AND p.reversal_settlement_date = p.settlement_date) IS TRUE AS reversed_in_window
         FROM pagopa_payments g JOIN payments p ON p.id = g.payment_id WHERE p.settlement_date = $1 ORDER BY g.payment_id`,
        [date],
      )
    ).rows;
    if (rows.length === 0) return [];
    const transfers = (
      await c.query<PagoPaTransferRow>(
        'SELECT t.payment_id, t.idx, t.amount_cents, t.fiscal_code, t.iban, t.remittance FROM pagopa_transfers t JOIN payments p ON p.id = t.payment_id WHERE p.settlement_date = $1',
        [date],
      )
    ).rows;
    return rows.map((r) => ({ ...toPagoPaRecord(r, transfers), entityId: r.entity_id, amountCents: Number(r.amount_cents), reversedInWindow: Boolean(r.reversed_in_window) }));
  });
}

export async function savePagoPaFlows(ctx: PgContext, flows: NewPagoPaFlow[]): Promise<number> {
  if (flows.length === 0) return 0;
  return ctx.tx(async ({ c }) => {
    let added = 0;
    for (const f of flows) {
      const r = await c.query(
        `INSERT INTO pagopa_flows (flow_id, settlement_date, creditor_fiscal_code, creditor_name, iban, total_cents, count, flow_date_time, xml, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (flow_id) DO NOTHING`,
        flowValues(f),
      );
      added += r.rowCount ?? 0;
    }
    return added;
  });
}

export async function pagopaFlows(ctx: PgContext, q: { date?: string; pendingOnly?: boolean }): Promise<PagoPaFlow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.date !== undefined) {
    params.push(q.date);
    where.push(`settlement_date = $${params.length}`);
  }
  if (q.pendingOnly) where.push("state = 'pending'");
  const rows = await ctx.q<PagoPaFlowRow>(
    `SELECT ${FLOW_COLUMNS} FROM pagopa_flows ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY settlement_date, flow_id`,
    params,
  );
  return rows.map(toPagoPaFlow);
}

export async function recordPagoPaFlowAttempt(ctx: PgContext, flowId: string, a: PagoPaFlowAttempt): Promise<void> {
  await ctx.exec(
    "UPDATE pagopa_flows SET state = $1, last_fault = $2, sent_at = $3, attempts = attempts + 1 WHERE flow_id = $4 AND state <> 'accepted'",
    [a.state, a.fault, a.at, flowId],
  );
}
