// pagoPA on PostgreSQL (docs/pagopa.md): the outcome outbox, shared by every instance's
// sender (a claim is a lease taken with SKIP LOCKED), and the reads of pagoPA payments.
import { OUTBOX_COLUMNS, PAGOPA_COLUMNS, toPagoPaRecord, type PagoPaOutbox, type PagoPaOutcomeWrite, type PagoPaRecord, type PagoPaRow, type PagoPaTransferRow } from '../pagopa-types.js';
import type { PgContext } from './context.js';

export async function claimPagoPaOutcomes(ctx: PgContext, lapsedBy: number, until: number, limit: number): Promise<PagoPaOutbox[]> {
  const rows = await ctx.q<PagoPaOutbox>(
    `WITH c AS (
       SELECT payment_id FROM pagopa_payments WHERE outcome = 'pending' AND (claimed_until IS NULL OR claimed_until <= $1)
       ORDER BY token_expires_at, payment_id LIMIT $3 FOR UPDATE SKIP LOCKED),
     g AS (UPDATE pagopa_payments g SET claimed_until = $2, attempts = g.attempts + 1 FROM c WHERE g.payment_id = c.payment_id RETURNING g.*)
     SELECT ${OUTBOX_COLUMNS} FROM g JOIN payments p ON p.id = g.payment_id ORDER BY g.token_expires_at, g.payment_id`,
    [lapsedBy, until, limit],
  );
  return rows.map((r) => ({ ...r, paymentId: Number(r.paymentId), tokenExpiresAt: Number(r.tokenExpiresAt), amountCents: Number(r.amountCents), feeCents: Number(r.feeCents), bookedAt: Number(r.bookedAt) }));
}

export function recordPagoPaOutcomes(ctx: PgContext, writes: PagoPaOutcomeWrite[]): Promise<boolean[]> {
  return ctx.tx(async (t) => {
    const done: boolean[] = [];
    for (const { paymentId, record: r, event } of writes) {
      const changed = await t.c.query(
        "UPDATE pagopa_payments SET outcome = $1, outcome_at = $2, outcome_fault = $3, claimed_until = NULL WHERE payment_id = $4 AND outcome = 'pending'",
        [r.outcome, r.at, r.fault, paymentId],
      );
      done.push(changed.rowCount === 1);
      if (changed.rowCount === 1 && event) t.emit(event);
    }
    return done;
  });
}

async function records(ctx: PgContext, where: string, params: unknown[]): Promise<PagoPaRecord[]> {
  const rows = await ctx.q<PagoPaRow>(`SELECT ${PAGOPA_COLUMNS} FROM pagopa_payments ${where}`, params);
  if (rows.length === 0) return [];
  const transfers = await ctx.q<PagoPaTransferRow>(
    'SELECT payment_id, idx, amount_cents, fiscal_code, iban, remittance FROM pagopa_transfers WHERE payment_id = ANY($1::bigint[])',
    [rows.map((r) => r.payment_id)],
  );
  return rows.map((r) => toPagoPaRecord(r, transfers));
}

export async function getPagoPa(ctx: PgContext, paymentId: number): Promise<PagoPaRecord | undefined> {
  return (await records(ctx, 'WHERE payment_id = $1', [paymentId]))[0];
}

export function pagopaPaymentsOfWindow(ctx: PgContext, date: string): Promise<PagoPaRecord[]> {
  return records(ctx, 'WHERE payment_id IN (SELECT id FROM payments WHERE settlement_date = $1) ORDER BY payment_id', [date]);
}

export function pagopaRefundsDue(ctx: PgContext, limit: number): Promise<PagoPaRecord[]> {
  return records(ctx, "WHERE outcome = 'refund_due' ORDER BY payment_id DESC LIMIT $1", [limit]);
}
