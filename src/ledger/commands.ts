// What booking is asked to do, and what it answers: plain data only (no closures),
// so that a command can cross to the writer's thread and a store of any kind can run it.
import type { Channel, CounterKind, Payment } from '../domain/model.js';
import type { PayRefusalCode } from '../domain/positions.js';
import type { Posting } from './postings.js';

/**
 * Why booking refused. Symbolic codes of the protocol's error table; the ledger knows
 * them by name only, payments/errors.ts maps them to ISO and HTTP.
 */
export type RefusalCode =
  | PayRefusalCode
  | 'ALREADY_REVERSED'
  | 'AMOUNT_MISMATCH'
  | 'CONFLICT'
  | 'COUNTER_SUSPENDED'
  | 'CREDIT_LIMIT_EXCEEDED'
  | 'FORBIDDEN'
  | 'IDEMPOTENCY_CONFLICT'
  | 'NOT_FOUND'
  | 'ORIGINAL_NOT_FOUND'
  | 'REVERSAL_NOT_ALLOWED'
  | 'REVERSAL_WINDOW_CLOSED'
  | 'SYSTEM'
  | 'TERMINAL_BLOCKED';

export interface Refusal {
  code: RefusalCode;
  detail: string;
}

export interface IdempotencyKey {
  key: string;
  requestHash: string;
}

/** One of the 1..5 credit transfers of a pagoPA activation: settlement pays it to its IBAN. */
export interface PagoPaTransfer {
  index: number;
  amountCents: number;
  fiscalCode: string;
  iban: string;
  remittance: string;
}

/**
 * What a payment of a pagoPA notice is booked on: the node's activation (docs/pagopa.md).
 * Stored with the payment in its transaction; the row is also the outcome's outbox.
 */
export interface PagoPaBooking {
  creditorFiscalCode: string;
  creditorName: string;
  noticeNumber: string;
  iuv: string;
  paymentToken: string;
  idempotencyKey: string;
  activatedAt: number;
  tokenExpiresAt: number;
  /** The booking instance's outcome sender holds the outbox row until then: it sends at once, no claim needed. */
  claimedUntil: number;
  transfers: PagoPaTransfer[];
}

/** Where a pagoPA payment's outcome stands: to send, answered OK, or money taken without the node's receipt. */
export type PagoPaOutcomeState = 'pending' | 'sent' | 'refund_due';

/** A payment to book; booking re-checks every precondition inside its transaction. */
export interface PayCommand {
  kind: 'pay';
  channel: Channel;
  terminalId: string;
  counterId: string;
  counterKind: CounterKind;
  entityId: string;
  serviceCode: string;
  identifier: string;
  optionId: number | null;
  payerCf: string | null;
  amountCents: number;
  feeCents: number;
  split: { commission: number; operator: number; royalty: number };
  circuitFeeCents: number;
  circuitFeeMode: 'netted' | 'rebilled' | null;
  stan: string | null;
  approvalCode: string;
  publicId: string;
  description: string;
  bookedAt: number;
  settlementDate: string;
  postings: Posting[];
  idempotency: IdempotencyKey | null;
  /** A pagoPA notice: the activation it is paid on. */
  pagopa?: PagoPaBooking;
}

export interface ReverseCommand {
  kind: 'reverse';
  /**
   * The original: by payment id (JSON API), or by the terminal's idempotency key of
   * the original request (ISO 8583 field 90), resolved inside the transaction.
   */
  original: { paymentId: number } | { key: string; amountCents: number; advice: boolean };
  terminalId: string;
  at: number;
  /** The window the reversal is booked in; it must equal the original's (not for adjustments). */
  settlementDate: string;
  /** The JSON API's Idempotency-Key of the reversal request, recorded with it. */
  idempotency?: IdempotencyKey;
  /** An administrative refund of a payment whose window has closed: booked in a later window, audited. */
  adjustment?: { actor: string; reason: string };
  /**
   * A cancellation by the finance office (no terminal's doing: terminal, counter, key and
   * time rules do not apply; `terminalId` is the original's): a reversal in the original's
   * window while that window is not closed, else an adjustment in the current one. Decided
   * inside the transaction, audited in it with who and why; one already reversed or
   * adjusted is refused (ALREADY_REVERSED), so of two at once only one books.
   */
  cancel?: { actor: string; reason: string };
}

export type BookingCommand = PayCommand | ReverseCommand;

export type BookingResult =
  | { ok: true; payment: Payment; replayed?: { status: number; response: string } }
  /** A reversal advice for an original that never arrived: recorded, nothing to reverse. */
  | { ok: true; payment: null; advised: true }
  | { ok: false; code: RefusalCode; detail: string };
