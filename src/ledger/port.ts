// The ledger's port: the dozen reads and writes booking needs, inside one transaction.
// Each store implements it (SQLite on the writer's thread; in memory for the property
// suite); the rules in book.ts run over it and know no SQL.
import type { Payment, PositionStatus } from '../domain/model.js';
import type { OptionState } from '../domain/positions.js';
import type { PagoPaBooking, PagoPaOutcomeState } from './commands.js';
import type { AccountRef, Posting } from './postings.js';

export interface IdempotencyRecord {
  terminalId: string;
  key: string;
  requestHash: string;
  status: number;
  response: string;
  paymentId: number | null;
}

export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  detail?: Record<string, unknown>;
}

export interface EventRow {
  seq: number;
  type: string;
  at: number;
  terminalId: string | null;
  counterId: string | null;
  entityId: string | null;
  serviceCode: string | null;
  payload: Record<string, unknown>;
  /** High-resolution epoch ms (wall clock) at which the commit holding the event returned (not stored). */
  committedAt?: number;
}

/** A window's totals for one group of payments, as settlement sums them (counts and cents). */
export interface WindowTotal {
  date: string;
  kind: 'booking' | 'reversal' | 'adjustment';
  entityId: string;
  serviceCode: string;
  counterId: string;
  n: number;
  amountCents: number;
  feeCents: number;
  commission: number;
  operator: number;
  royalty: number;
  netted: number;
  rebilled: number;
}

export interface CounterState {
  status: 'active' | 'suspended';
  creditLimitCents: number;
  /** Cash of approved settlements: collected by their direct debits, no longer exposure. */
  settledCents: number;
}

export interface LedgerTx {
  // ---- transaction control (one transaction per batch, a savepoint per command)
  begin(): void;
  commit(): void;
  rollback(): void;
  savepoint(): void;
  release(): void;
  rollbackToSavepoint(): void;

  // ---- reads (they see this transaction's own writes)
  idempotency(terminalId: string, key: string): IdempotencyRecord | undefined;
  hasAdvice(terminalId: string, key: string): boolean;
  terminalStatus(terminalId: string): 'active' | 'blocked' | undefined;
  counter(counterId: string): CounterState | undefined;
  option(optionId: number): (OptionState & { optionId: number; positionId: number }) | undefined;
  optionsOfPosition(positionId: number): { kind: 'single' | 'instalment'; paid: boolean }[];
  /** The account's balance as stored, without the deltas booking keeps for the batch. */
  storedBalance(account: AccountRef): number;
  windowClosed(date: string): boolean;
  /** For events: the stream shows the creditor's name. */
  entityName(entityId: string): string;
  payment(id: number): Payment | undefined;
  /** A payment's own postings (not its reversal's), in the order booked. */
  postingsOf(paymentId: number): Posting[];
  /** A pagoPA payment's outcome state; undefined: not a pagoPA payment. */
  pagopaOutcome(paymentId: number): PagoPaOutcomeState | undefined;

  // ---- writes
  allocatePaymentId(): number;
  insertPayment(p: Payment): void;
  insertEntries(paymentId: number, postings: Posting[], isReversal: boolean, at: number, window: string): void;
  /** Sets the option's paid mark if it has none; false if it had one. */
  markOptionPaid(optionId: number, paymentId: number): boolean;
  unmarkOption(paymentId: number): void;
  setPositionStatus(positionId: number, status: PositionStatus): void;
  markReversed(paymentId: number, at: number, window: string, kind: 'reversal' | 'adjustment'): void;
  insertIdempotency(r: IdempotencyRecord, at: number): void;
  /** A pagoPA payment's activation and transfers, its outcome pending (the outbox row). */
  insertPagoPa(paymentId: number, b: PagoPaBooking): void;
  insertAdvice(terminalId: string, key: string, at: number): void;
  insertEvent(e: Omit<EventRow, 'seq'>): number;
  audit(a: AuditEntry, at: number): void;
  /**
   * Adds the batch's net movement per account to balances and to the window's movements,
   * and the batch's payments to their windows' group totals.
   */
  applyDeltas(
    balances: ReadonlyMap<string, { account: AccountRef; cents: number }>,
    windows: ReadonlyMap<string, { date: string; account: AccountRef; cents: number }>,
    totals: ReadonlyMap<string, WindowTotal>,
  ): void;
}
