// How a booked payment is told: the answer the JSON API (and the idempotency record)
// gives, and the payload of its event on the stream. Pure functions of the payment.
import type { Payment } from '../domain/model.js';
import type { PagoPaBooking } from './commands.js';

/** A pagoPA payment's attestation fields (terminal-protocol field 48 `PT`/`EF`; pagopa-psp.md §6). */
export interface PagoPaReceipt {
  paymentToken: string;
  creditorFiscalCode: string;
  creditorName: string;
  iuv: string;
  noticeNumber: string;
}

/** The answer of a booked payment, as the JSON API returns it (amounts in cents). */
export interface PaymentReceipt {
  paymentId: string;
  receiptNumber: string;
  rrn: string;
  approvalCode: string;
  amount: number;
  fee: number;
  total: number;
  bookedAt: string;
  settlementDate: string;
  /** A pagoPA notice: what the attestation shows. */
  pagopa?: PagoPaReceipt;
}

export function pagopaReceipt(b: Pick<PagoPaBooking, 'paymentToken' | 'creditorFiscalCode' | 'creditorName' | 'iuv' | 'noticeNumber'>): PagoPaReceipt {
  return { paymentToken: b.paymentToken, creditorFiscalCode: b.creditorFiscalCode, creditorName: b.creditorName, iuv: b.iuv, noticeNumber: b.noticeNumber };
}

export function toReceipt(p: Payment, pagopa?: Pick<PagoPaBooking, 'paymentToken' | 'creditorFiscalCode' | 'creditorName' | 'iuv' | 'noticeNumber'>): PaymentReceipt {
  return {
    paymentId: p.publicId,
    receiptNumber: p.receiptNumber,
    rrn: p.rrn,
    approvalCode: p.approvalCode,
    amount: p.amountCents,
    fee: p.feeCents,
    total: p.amountCents + p.feeCents,
    bookedAt: new Date(p.bookedAt).toISOString(),
    settlementDate: p.settlementDate,
    ...(pagopa ? { pagopa: pagopaReceipt(pagopa) } : {}),
  };
}

/** The payload of `payment.booked` / `payment.reversed` (docs/stream.md). */
export function paymentEventPayload(p: Payment, entityName: string, pagopa?: PagoPaBooking): Record<string, unknown> {
  return {
    paymentId: p.publicId,
    receiptNumber: p.receiptNumber,
    rrn: p.rrn,
    approvalCode: p.approvalCode,
    channel: p.channel,
    service: p.serviceCode,
    entityId: p.entityId,
    entity: entityName,
    identifier: p.identifier,
    description: p.description,
    amount: p.amountCents,
    fee: p.feeCents,
    total: p.amountCents + p.feeCents,
    split: { commission: p.feeCommission, operator: p.feeOperator, royalty: p.feeRoyalty, circuitFee: p.circuitFeeCents },
    counterId: p.counterId,
    terminalId: p.terminalId,
    bookedAt: new Date(p.bookedAt).toISOString(),
    settlementDate: p.settlementDate,
    reversedAt: p.reversedAt === null ? null : new Date(p.reversedAt).toISOString(),
    ...(pagopa ? { pagopa: pagopaReceipt(pagopa) } : {}),
  };
}
