// What the stores keep for the settlement of pagoPA payments (docs/pagopa.md "Settlement
// and reporting flows"): each payment of a window with what its settlement needs, and the
// reporting flows (one per SEPA credit transfer to a creditor's IBAN) with the node's answer.
import type { PagoPaRecord } from './pagopa-types.js';

/** A pagoPA payment of a window, as its settlement sees it. */
export interface PagoPaSettlementRecord extends PagoPaRecord {
  /** The catalogue entity it was booked under (its entity_payable). */
  entityId: string;
  amountCents: number;
  /** Cancelled by a reversal in its own window (the office's cancel of a refund_due one): not paid out. */
  reversedInWindow: boolean;
}

/** pending: not yet accepted (never sent, or the node was down or busy); accepted; refused by the node (its reason kept). */
export type PagoPaFlowState = 'pending' | 'accepted' | 'refused';

/** A reporting flow as built (settlement/pagopa.ts). */
export interface NewPagoPaFlow {
  flowId: string;
  /** The window's date: dataRegolamento. */
  settlementDate: string;
  creditorFiscalCode: string;
  creditorName: string;
  iban: string;
  totalCents: number;
  count: number;
  /** dataOraFlusso as written in the XML (sent beside it). */
  flowDateTime: string;
  xml: string;
  createdAt: number;
}

export interface PagoPaFlow extends NewPagoPaFlow {
  state: PagoPaFlowState;
  attempts: number;
  /** The node's fault code and text (or the transport failure) of the last attempt that was not accepted. */
  lastFault: string | null;
  /** The last attempt. */
  sentAt: number | null;
}

/** The node's answer to one attempt. */
export interface PagoPaFlowAttempt {
  state: PagoPaFlowState;
  fault: string | null;
  at: number;
}

export interface PagoPaFlowRow {
  flow_id: string;
  settlement_date: string;
  creditor_fiscal_code: string;
  creditor_name: string;
  iban: string;
  total_cents: number | string;
  count: number;
  flow_date_time: string;
  xml: string;
  created_at: number | string;
  state: PagoPaFlowState;
  attempts: number;
  last_fault: string | null;
  sent_at: number | string | null;
}

export const FLOW_COLUMNS =
  'flow_id, settlement_date, creditor_fiscal_code, creditor_name, iban, total_cents, count, flow_date_time, xml, created_at, state, attempts, last_fault, sent_at';

export function toPagoPaFlow(r: PagoPaFlowRow): PagoPaFlow {
  return {
    flowId: r.flow_id,
    settlementDate: r.settlement_date,
    creditorFiscalCode: r.creditor_fiscal_code,
    creditorName: r.creditor_name,
    iban: r.iban,
    totalCents: Number(r.total_cents),
    count: Number(r.count),
    flowDateTime: r.flow_date_time,
    xml: r.xml,
    createdAt: Number(r.created_at),
    state: r.state,
    attempts: Number(r.attempts),
    lastFault: r.last_fault,
    sentAt: r.sent_at === null ? null : Number(r.sent_at),
  };
}

/** The row values of a new flow, in FLOW_COLUMNS' first ten columns' order. */
export function flowValues(f: NewPagoPaFlow): (string | number)[] {
  return [f.flowId, f.settlementDate, f.creditorFiscalCode, f.creditorName, f.iban, f.totalCents, f.count, f.flowDateTime, f.xml, f.createdAt];
}

/** The columns of settlement records, beside PAGOPA_COLUMNS (g: pagopa_payments, p: payments). */
export interface PagoPaSettlementExtra {
  entity_id: string;
  amount_cents: number | string;
  reversed_in_window: number | boolean;
}
