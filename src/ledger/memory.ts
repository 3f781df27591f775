// The ledger's port in memory: the same rules (book.ts) over plain maps, for the fast
// property suite of the booking rules, and as a reference of what the port means.
// Savepoints and rollback replay an undo log.
import type { Payment, PositionStatus } from '../domain/model.js';
import type { OptionState } from '../domain/positions.js';
import type { PagoPaBooking, PagoPaOutcomeState } from './commands.js';
import type { AuditEntry, CounterState, EventRow, IdempotencyRecord, LedgerTx, WindowTotal } from './port.js';
import { accountKey, type AccountRef, type Posting } from './postings.js';

export interface MemoryOption extends OptionState {
  optionId: number;
  positionId: number;
}

export interface MemoryEntry {
  paymentId: number;
  account: AccountRef;
  amountCents: number;
  isReversal: boolean;
  window: string;
}

export class MemoryLedgerTx implements LedgerTx {
  readonly terminals = new Map<string, 'active' | 'blocked'>();
  readonly counters = new Map<string, CounterState>();
  readonly options = new Map<number, MemoryOption>();
  readonly positions = new Map<number, PositionStatus>();
  readonly entities = new Map<string, string>();
  readonly closedWindows = new Set<string>();
  readonly payments = new Map<number, Payment>();
  readonly entries: MemoryEntry[] = [];
  readonly balances = new Map<string, number>();
  readonly windowMovements = new Map<string, number>();
  readonly windowTotals = new Map<string, WindowTotal>();
  readonly idempotency_ = new Map<string, IdempotencyRecord>();
  readonly advices = new Set<string>();
  readonly events: EventRow[] = [];
  readonly auditLog: (AuditEntry & { at: number })[] = [];
  /** pagoPA payments by payment id: the activation booked in this port, and every outcome's state known. */
  readonly pagopa = new Map<number, PagoPaBooking>();
  readonly pagopaStates = new Map<number, PagoPaOutcomeState>();
  private nextId = 1;
  private seq = 0;

  private undo: (() => void)[] | null = null;
  private savepointMark = 0;
  /** Set to make the next commit throw (a failing disk), for tests. */
  failNextCommit = false;

  protected record(fn: () => void): void {
    this.undo?.push(fn);
  }

  // ---- transaction control
  begin(): void {
    if (this.undo) throw new Error('transaction already open');
    this.undo = [];
  }
  commit(): void {
    if (this.failNextCommit) {
      this.failNextCommit = false;
      throw new Error('commit failed');
    }
    this.undo = null;
  }
  rollback(): void {
    this.unwindTo(0);
    this.undo = null;
  }
  savepoint(): void {
    this.savepointMark = this.undo!.length;
  }
  release(): void {
    // nothing: the undo log keeps the released command's writes for a batch rollback
  }
  rollbackToSavepoint(): void {
    this.unwindTo(this.savepointMark);
  }
  private unwindTo(mark: number): void {
    const log = this.undo ?? [];
    while (log.length > mark) log.pop()!();
  }

  // ---- reads
  idempotency(terminalId: string, key: string) {
    return this.idempotency_.get(`${terminalId}\0${key}`);
  }
  hasAdvice(terminalId: string, key: string): boolean {
    return this.advices.has(`${terminalId}\0${key}`);
  }
  terminalStatus(terminalId: string) {
    return this.terminals.get(terminalId);
  }
  counter(counterId: string) {
    return this.counters.get(counterId);
  }
  option(optionId: number) {
    const o = this.options.get(optionId);
    return o && { ...o, positionStatus: this.positions.get(o.positionId) ?? o.positionStatus };
  }
  optionsOfPosition(positionId: number) {
    return [...this.options.values()].filter((o) => o.positionId === positionId).map((o) => ({ kind: o.kind, paid: o.paidPaymentId !== null }));
  }
  storedBalance(account: AccountRef): number {
    return this.balances.get(accountKey(account)) ?? 0;
  }
  windowClosed(date: string): boolean {
    return this.closedWindows.has(date);
  }
  entityName(entityId: string): string {
    return this.entities.get(entityId) ?? entityId;
  }
  payment(id: number) {
    const p = this.payments.get(id);
    return p && { ...p };
  }
  pagopaOutcome(paymentId: number): PagoPaOutcomeState | undefined {
    return this.pagopaStates.get(paymentId);
  }
  postingsOf(paymentId: number): Posting[] {
    return this.entries.filter((e) => e.paymentId === paymentId && !e.isReversal).map((e) => ({ account: e.account, amountCents: e.amountCents }));
  }

  // ---- writes
  allocatePaymentId(): number {
    const id = this.nextId++;
    this.record(() => (this.nextId = id));
    return id;
  }
  insertPayment(p: Payment): void {
    if (this.payments.has(p.id)) throw new Error(`payment ${p.id} exists`);
    for (const q of this.payments.values()) {
      // The store's constraint: one live payment per option.
      if (p.optionId !== null && q.optionId === p.optionId && q.reversedAt === null) throw new Error(`option ${p.optionId} has a live payment`);
    }
    this.payments.set(p.id, { ...p });
    this.record(() => this.payments.delete(p.id));
  }
  insertEntries(paymentId: number, postings: Posting[], isReversal: boolean, _at: number, window: string): void {
    const n = this.entries.length;
    for (const p of postings) this.entries.push({ paymentId, account: p.account, amountCents: p.amountCents, isReversal, window });
    this.record(() => (this.entries.length = n));
  }
  markOptionPaid(optionId: number, paymentId: number): boolean {
    const o = this.options.get(optionId);
    if (!o || o.paidPaymentId !== null) return false;
    o.paidPaymentId = paymentId;
    this.record(() => (o.paidPaymentId = null));
    return true;
  }
  unmarkOption(paymentId: number): void {
    for (const o of this.options.values()) {
      if (o.paidPaymentId === paymentId) {
        o.paidPaymentId = null;
        this.record(() => (o.paidPaymentId = paymentId));
      }
    }
  }
  setPositionStatus(positionId: number, status: PositionStatus): void {
    const before = this.positions.get(positionId);
    this.positions.set(positionId, status);
    this.record(() => (before === undefined ? this.positions.delete(positionId) : this.positions.set(positionId, before)));
  }
  markReversed(paymentId: number, at: number, window: string, kind: 'reversal' | 'adjustment'): void {
    const p = this.payments.get(paymentId)!;
    if (p.reversedAt !== null) return;
    const before = { ...p };
    Object.assign(p, { reversedAt: at, reversalSettlementDate: window, reversalKind: kind });
    this.record(() => Object.assign(p, before));
  }
  insertIdempotency(r: IdempotencyRecord, _at?: number): void {
    const k = `${r.terminalId}\0${r.key}`;
    if (this.idempotency_.has(k)) throw new Error(`idempotency record ${k} exists`);
    this.idempotency_.set(k, { ...r });
    this.record(() => this.idempotency_.delete(k));
  }
  insertPagoPa(paymentId: number, b: PagoPaBooking): void {
    if (this.pagopaStates.has(paymentId)) throw new Error(`pagoPA row of payment ${paymentId} exists`);
    this.pagopa.set(paymentId, { ...b, transfers: b.transfers.map((t) => ({ ...t })) });
    this.pagopaStates.set(paymentId, 'pending');
    this.record(() => {
      this.pagopa.delete(paymentId);
      this.pagopaStates.delete(paymentId);
    });
  }
  insertAdvice(terminalId: string, key: string, _at?: number): void {
    const k = `${terminalId}\0${key}`;
    if (this.advices.has(k)) return;
    this.advices.add(k);
    this.record(() => this.advices.delete(k));
  }
  insertEvent(e: Omit<EventRow, 'seq'>): number {
    const seq = ++this.seq;
    this.events.push({ ...e, seq });
    this.record(() => {
      this.events.pop();
      this.seq = seq - 1;
    });
    return seq;
  }
  audit(a: AuditEntry, at: number): void {
    this.auditLog.push({ ...a, at });
    this.record(() => this.auditLog.pop());
  }
  applyDeltas(
    balances: ReadonlyMap<string, { account: AccountRef; cents: number }>,
    windows: ReadonlyMap<string, { date: string; account: AccountRef; cents: number }>,
    totals: ReadonlyMap<string, WindowTotal>,
  ): void {
    for (const [k, t] of totals) {
      const before = this.windowTotals.get(k);
      const after = { ...t };
      if (before) for (const f of ['n', 'amountCents', 'feeCents', 'commission', 'operator', 'royalty', 'netted', 'rebilled'] as const) after[f] += before[f];
      this.windowTotals.set(k, after);
      this.record(() => (before === undefined ? this.windowTotals.delete(k) : this.windowTotals.set(k, before)));
    }
    const add = (map: Map<string, number>, k: string, cents: number) => {
      const before = map.get(k);
      map.set(k, (before ?? 0) + cents);
      this.record(() => (before === undefined ? map.delete(k) : map.set(k, before)));
    };
    for (const d of balances.values()) add(this.balances, accountKey(d.account), d.cents);
    for (const d of windows.values()) add(this.windowMovements, `${d.date}|${accountKey(d.account)}`, d.cents);
  }
}
