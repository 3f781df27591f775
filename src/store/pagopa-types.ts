// What the stores keep of pagoPA payments (docs/pagopa.md): the activation each was booked
// on, its transfers, and the outcome's outbox state.
import type { PagoPaBooking, PagoPaOutcomeState } from '../ledger/commands.js';
import type { EventRow } from '../ledger/port.js';

/** An outcome to send: what sendPaymentOutcome needs, claimed by one sender for a while. */
export interface PagoPaOutbox {
  paymentId: number;
  idempotencyKey: string;
  paymentToken: string;
  tokenExpiresAt: number;
  amountCents: number;
  feeCents: number;
  payerCf: string | null;
  bookedAt: number;
  /** Claims so far, this one included. */
  attempts: number;
}

/** A pagoPA payment as stored. */
export interface PagoPaRecord extends Omit<PagoPaBooking, 'claimedUntil'> {
  paymentId: number;
  outcome: PagoPaOutcomeState;
  outcomeAt: number | null;
  /** The node's fault code (or NODE_TIMEOUT) when the outcome is refund_due. */
  outcomeFault: string | null;
}

/** The node's answer to an outcome, as the outbox records it. */
export interface PagoPaOutcomeRecord {
  outcome: 'sent' | 'refund_due';
  at: number;
  fault: string | null;
}

/** One answer to record, with the event (pagopa.refund_due) to append when the row leaves 'pending'. */
export interface PagoPaOutcomeWrite {
  paymentId: number;
  record: PagoPaOutcomeRecord;
  event: Omit<EventRow, 'seq'> | null;
}

export interface PagoPaRow {
  payment_id: number;
  creditor_fiscal_code: string;
  creditor_name: string;
  notice_number: string;
  iuv: string;
  payment_token: string;
  idempotency_key: string;
  activated_at: number;
  token_expires_at: number;
  outcome: PagoPaOutcomeState;
  outcome_at: number | null;
  outcome_fault: string | null;
}

export interface PagoPaTransferRow {
  payment_id: number;
  idx: number;
  amount_cents: number;
  fiscal_code: string;
  iban: string;
  remittance: string;
}

export const PAGOPA_COLUMNS =
  'payment_id, creditor_fiscal_code, creditor_name, notice_number, iuv, payment_token, idempotency_key, activated_at, token_expires_at, outcome, outcome_at, outcome_fault';

export const OUTBOX_COLUMNS =
  'g.payment_id AS "paymentId", g.idempotency_key AS "idempotencyKey", g.payment_token AS "paymentToken", g.token_expires_at AS "tokenExpiresAt", ' +
  'p.amount_cents AS "amountCents", p.fee_cents AS "feeCents", p.payer_cf AS "payerCf", p.booked_at AS "bookedAt", g.attempts';

export function toPagoPaRecord(r: PagoPaRow, transfers: PagoPaTransferRow[]): PagoPaRecord {
  return {
    paymentId: Number(r.payment_id),
    creditorFiscalCode: r.creditor_fiscal_code,
    creditorName: r.creditor_name,
    noticeNumber: r.notice_number,
    iuv: r.iuv,
    paymentToken: r.payment_token,
    idempotencyKey: r.idempotency_key,
    activatedAt: Number(r.activated_at),
    tokenExpiresAt: Number(r.token_expires_at),
    outcome: r.outcome,
    outcomeAt: r.outcome_at === null ? null : Number(r.outcome_at),
    outcomeFault: r.outcome_fault,
    transfers: transfers
      .filter((t) => Number(t.payment_id) === Number(r.payment_id))
      .sort((a, b) => a.idx - b.idx)
      .map((t) => ({ index: t.idx, amountCents: Number(t.amount_cents), fiscalCode: t.fiscal_code, iban: t.iban, remittance: t.remittance })),
  };
}
