// THE BOOKING. A batch of commands runs in one transaction over the ledger port; each
// command in its own savepoint runs a fixed sequence of named checks (checks.ts), then
// its effects. Invariants are asserted before writing and after reading: a payment's
// postings sum to zero, reversal postings read back sum to zero, the batch's balance
// deltas sum to zero before COMMIT, a notice is never marked paid twice. A broken
// invariant throws LedgerInvariantError: the whole batch rolls back and fails, loudly;
// it is never answered as a refusal.
import { addDays, nextWorkingDay, romeDate } from '../domain/calendar.js';
import type { Payment } from '../domain/model.js';
import { positionStatusFromOptions } from '../domain/positions.js';
import * as check from './checks.js';
import type { BookingCommand, BookingResult, PayCommand, Refusal, ReverseCommand } from './commands.js';
import type { EventRow, LedgerTx, WindowTotal } from './port.js';
import { accountKey, assertBalanced, reversalPostings, type AccountRef, type Posting } from './postings.js';
import { paymentEventPayload, toReceipt } from './views.js';

export class LedgerInvariantError extends Error {
  constructor(message: string) {
    super(`ledger invariant broken: ${message}`);
    this.name = 'LedgerInvariantError';
  }
}

function invariant(ok: boolean, message: string): asserts ok {
  if (!ok) throw new LedgerInvariantError(message);
}

export interface BatchOutcome {
  results: BookingResult[];
  /** Events of the committed commands, in seq order. */
  events: EventRow[];
}

type Delta = { account: AccountRef; cents: number };
type WindowDelta = { date: string; account: AccountRef; cents: number };

/** Balance and window movements and totals of the batch, kept in memory and written once before COMMIT. */
class Deltas {
  readonly balances = new Map<string, Delta>();
  readonly windows = new Map<string, WindowDelta>();
  readonly totals = new Map<string, WindowTotal>();

  /** A payment counted in a window's totals, as a booking or as a cancellation. */
  count(window: string, kind: WindowTotal['kind'], p: Payment): void {
    const key = `${window}|${kind}|${p.entityId}|${p.serviceCode}|${p.counterId}`;
    let t = this.totals.get(key);
    if (!t) {
      t = { date: window, kind, entityId: p.entityId, serviceCode: p.serviceCode, counterId: p.counterId, n: 0, amountCents: 0, feeCents: 0, commission: 0, operator: 0, royalty: 0, netted: 0, rebilled: 0 };
      this.totals.set(key, t);
    }
    addTotal(t, {
      n: 1,
      amountCents: p.amountCents,
      feeCents: p.feeCents,
      commission: p.feeCommission,
      operator: p.feeOperator,
      royalty: p.feeRoyalty,
      netted: p.circuitFeeMode === 'netted' ? p.circuitFeeCents : 0,
      rebilled: p.circuitFeeMode === 'rebilled' ? p.circuitFeeCents : 0,
    });
  }

  add(account: AccountRef, window: string, cents: number): void {
    const key = accountKey(account);
    const b = this.balances.get(key);
    if (b) b.cents += cents;
    else this.balances.set(key, { account, cents });
    const wk = `${window}|${key}`;
    const w = this.windows.get(wk);
    if (w) w.cents += cents;
    else this.windows.set(wk, { date: window, account, cents });
  }

  merge(other: Deltas): void {
    for (const d of other.balances.values()) {
      const b = this.balances.get(accountKey(d.account));
      if (b) b.cents += d.cents;
      else this.balances.set(accountKey(d.account), { ...d });
    }
    for (const [k, d] of other.windows) {
      const w = this.windows.get(k);
      if (w) w.cents += d.cents;
      else this.windows.set(k, { ...d });
    }
    for (const [k, d] of other.totals) {
      const t = this.totals.get(k);
      if (t) addTotal(t, d);
      else this.totals.set(k, { ...d });
    }
  }

  of(account: AccountRef): number {
    return this.balances.get(accountKey(account))?.cents ?? 0;
  }

  clear(): void {
    this.balances.clear();
    this.windows.clear();
    this.totals.clear();
  }
}

const TOTAL_FIELDS = ['n', 'amountCents', 'feeCents', 'commission', 'operator', 'royalty', 'netted', 'rebilled'] as const;

function addTotal(t: WindowTotal, d: Pick<WindowTotal, (typeof TOTAL_FIELDS)[number]>): void {
  for (const f of TOTAL_FIELDS) t[f] += d[f];
}

const refused = (r: Refusal): BookingResult => ({ ok: false, code: r.code, detail: r.detail });

export class Ledger {
  /** Windows known closed, per batch (a window closed by another process is seen by the next batch). */
  private readonly closedWindows = new Map<string, boolean>();
  private readonly batch = new Deltas();
  private readonly command = new Deltas();

  constructor(private readonly tx: LedgerTx) {}

  /** Runs the commands in one transaction; throws (nothing committed) if an invariant breaks. */
  runBatch(commands: readonly BookingCommand[]): BatchOutcome {
    const results: BookingResult[] = [];
    const events: EventRow[] = [];
    const tx = this.tx;
    this.closedWindows.clear();
    this.batch.clear();
    tx.begin();
    try {
      for (const cmd of commands) {
        tx.savepoint();
        this.command.clear();
        const cmdEvents: EventRow[] = [];
        const result = cmd.kind === 'pay' ? this.pay(cmd, cmdEvents) : this.reverse(cmd, cmdEvents);
        if (result.ok) {
          tx.release();
          events.push(...cmdEvents);
          this.batch.merge(this.command);
        } else {
          tx.rollbackToSavepoint();
          tx.release();
        }
        results.push(result);
      }
      let sum = 0;
      for (const d of this.batch.balances.values()) sum += d.cents;
      invariant(sum === 0, `the batch's balance deltas sum to ${sum}`);
      tx.applyDeltas(this.batch.balances, this.batch.windows, this.batch.totals);
      tx.commit();
    } catch (err) {
      tx.rollback();
      throw err;
    } finally {
      this.batch.clear();
      this.command.clear();
    }
    return { results, events };
  }

  // ------------------------------------------------------------------ pay

  private pay(cmd: PayCommand, events: EventRow[]): BookingResult {
    const tx = this.tx;
    // 1. idempotency: the same request replays its first answer
    if (cmd.idempotency) {
      const prior = tx.idempotency(cmd.terminalId, cmd.idempotency.key);
      const conflict = check.idempotencyConflict(prior, cmd.idempotency);
      if (conflict) return refused(conflict);
      if (prior) {
        const payment = tx.payment(prior.paymentId!);
        invariant(payment !== undefined, `idempotency record ${cmd.terminalId}/${cmd.idempotency.key} names no payment`);
        return { ok: true, payment, replayed: { status: prior.status, response: prior.response } };
      }
    }
    // 2. an advice reversed it before it came; 3. terminal; 4. counter; 5. notice; 6. credit
    const advice = cmd.idempotency ? check.notReversedByAdvice(tx.hasAdvice(cmd.terminalId, cmd.idempotency.key)) : null;
    if (advice) return refused(advice);
    const terminal = check.terminalActive(tx.terminalStatus(cmd.terminalId));
    if (terminal) return refused(terminal);
    const counter = tx.counter(cmd.counterId);
    const counterRefusal = check.counterActive(counter);
    if (counterRefusal || !counter) return refused(counterRefusal!);
    const option = cmd.optionId === null ? undefined : tx.option(cmd.optionId);
    if (cmd.optionId !== null) {
      const r = check.optionPayable(option, romeDate(cmd.bookedAt));
      if (r) return refused(r);
    }
    const cash: AccountRef = { kind: 'counter_cash', ownerId: cmd.counterId };
    const credit = check.withinCreditLimit(counter, this.balanceOf(cash), cmd.amountCents + cmd.feeCents);
    if (credit) return refused(credit);

    // effects
    assertPostingsBalanced(cmd.postings, `payment ${cmd.publicId}`);
    const id = tx.allocatePaymentId();
    const window = this.openWindow(cmd.settlementDate);
    const payment: Payment = {
      id,
      publicId: cmd.publicId,
      channel: cmd.channel,
      terminalId: cmd.terminalId,
      counterId: cmd.counterId,
      counterKind: cmd.counterKind,
      entityId: cmd.entityId,
      serviceCode: cmd.serviceCode,
      identifier: cmd.identifier,
      optionId: cmd.optionId,
      payerCf: cmd.payerCf,
      amountCents: cmd.amountCents,
      feeCents: cmd.feeCents,
      feeCommission: cmd.split.commission,
      feeOperator: cmd.split.operator,
      feeRoyalty: cmd.split.royalty,
      circuitFeeCents: cmd.circuitFeeCents,
      circuitFeeMode: cmd.circuitFeeMode,
      stan: cmd.stan,
      // The RRN is the payment's number: unique across the network by construction.
      rrn: String(id).padStart(12, '0'),
      approvalCode: cmd.approvalCode,
      receiptNumber: `${window.replaceAll('-', '')}-${String(id).padStart(10, '0')}`,
      description: cmd.description,
      bookedAt: cmd.bookedAt,
      settlementDate: window,
      reversedAt: null,
      reversalSettlementDate: null,
      reversalKind: null,
    };
    tx.insertPayment(payment);
    this.post(id, cmd.postings, false, cmd.bookedAt, window);
    this.command.count(window, 'booking', payment);
    if (option) {
      // The checks said payable: a mark already there means they were wrong.
      invariant(tx.markOptionPaid(option.optionId, id), `option ${option.optionId} would be paid twice`);
      this.refreshPositionStatus(option.positionId);
    }
    if (cmd.pagopa) {
      const sum = cmd.pagopa.transfers.reduce((a, t) => a + t.amountCents, 0);
      invariant(sum === cmd.amountCents, `payment ${cmd.publicId}: pagoPA transfers sum to ${sum}, not ${cmd.amountCents}`);
      tx.insertPagoPa(id, cmd.pagopa);
    }
    if (cmd.idempotency) {
      const answer = JSON.stringify(toReceipt(payment, cmd.pagopa));
      tx.insertIdempotency({ terminalId: cmd.terminalId, ...cmd.idempotency, status: 201, response: answer, paymentId: id }, cmd.bookedAt);
    }
    this.emit(events, {
      type: 'payment.booked',
      at: cmd.bookedAt,
      terminalId: cmd.terminalId,
      counterId: cmd.counterId,
      entityId: cmd.entityId,
      serviceCode: cmd.serviceCode,
      payload: paymentEventPayload(payment, tx.entityName(cmd.entityId), cmd.pagopa),
    });
    return { ok: true, payment };
  }

  // ------------------------------------------------------------------ reverse

  private reverse(cmd: ReverseCommand, events: EventRow[]): BookingResult {
    const tx = this.tx;
    const o = cmd.original;
    // 1. the original: by id, or by the terminal's key of the original request
    const paymentId = 'paymentId' in o ? o.paymentId : (tx.idempotency(cmd.terminalId, o.key)?.paymentId ?? null);
    const original = paymentId === null ? undefined : tx.payment(paymentId);
    if (!original) {
      if ('advice' in o && o.advice) {
        // The 0200 never arrived (or not yet): remember, so that it is declined if it does.
        tx.insertAdvice(cmd.terminalId, o.key, cmd.at);
        return { ok: true, payment: null, advised: true };
      }
      return { ok: false, code: 'ORIGINAL_NOT_FOUND', detail: 'no such payment' };
    }
    // The finance office's own (an adjustment, a cancel): no terminal's doing, so no terminal's rules.
    const office = cmd.adjustment ?? cmd.cancel;
    // 2. a blocked terminal or a suspended counter can no more reverse than pay
    if (!office) {
      const r = check.terminalActive(tx.terminalStatus(cmd.terminalId)) ?? check.counterActive(tx.counter(original.counterId));
      if (r) return refused(r);
    }
    // 3. the reversal's own key
    if (cmd.idempotency) {
      const prior = tx.idempotency(cmd.terminalId, cmd.idempotency.key);
      const conflict = check.idempotencyConflict(prior, cmd.idempotency);
      if (conflict) return refused(conflict);
      if (!prior) {
        const answer = JSON.stringify({ paymentId: original.publicId });
        tx.insertIdempotency({ terminalId: cmd.terminalId, ...cmd.idempotency, status: 200, response: answer, paymentId: original.id }, cmd.at);
      }
    }
    // 4. amount; 5. terminal of the original
    const r = check.reversalAmountMatches(original, 'amountCents' in o ? o.amountCents : undefined) ?? (cmd.cancel ? null : check.reversedBySameTerminal(original, cmd.terminalId));
    if (r) return refused(r);
    // 5b. a pagoPA payment: no undo once its outcome is on the way
    const pagopa = check.pagopaReversible(tx.pagopaOutcome(original.id), office !== undefined);
    if (pagopa) return refused(pagopa);
    // 6. a second reversal answers with the payment as it is and changes nothing; a
    //    second cancel is told, so that of two cancels at once one is refused
    if (cmd.cancel) {
      const again = check.notReversedYet(original);
      if (again) return refused(again);
    }
    if (original.reversedAt !== null) return { ok: true, payment: original };
    // 7. the window, and with it what the cancellation is
    const { window, kind } = this.cancellationWindow(cmd, original);
    if (!cmd.cancel) {
      const w = cmd.adjustment ? check.adjustmentWindowClosed(original, window) : check.reversalWindowOpen(original, window);
      if (w) return refused(w);
    }

    // effects
    if (office) {
      // Audited in the booking's own transaction: no cancellation without its row, nor the reverse.
      const action = kind === 'adjustment' ? 'payment.adjustment' : 'payment.reversal';
      tx.audit({ actor: office.actor, action, target: original.publicId, detail: { reason: office.reason, window } }, cmd.at);
    }
    const postings = tx.postingsOf(original.id);
    invariant(postings.length > 0, `payment ${original.id} has no postings`);
    assertPostingsBalanced(postings, `the stored postings of payment ${original.id}`);
    this.post(original.id, reversalPostings(postings), true, cmd.at, window);
    tx.markReversed(original.id, cmd.at, window, kind);
    this.command.count(window, kind, original);
    if (original.optionId !== null) {
      tx.unmarkOption(original.id);
      const option = tx.option(original.optionId);
      invariant(option !== undefined, `payment ${original.id} names option ${original.optionId}, which does not exist`);
      this.refreshPositionStatus(option.positionId);
    }
    const reversed: Payment = { ...original, reversedAt: cmd.at, reversalSettlementDate: window, reversalKind: kind };
    const payload = paymentEventPayload(reversed, tx.entityName(original.entityId));
    this.emit(events, {
      type: 'payment.reversed',
      at: cmd.at,
      terminalId: original.terminalId,
      counterId: original.counterId,
      entityId: original.entityId,
      serviceCode: original.serviceCode,
      // Who cancelled and why, when it was the office: under `adjustment` or `reversal`.
      payload: office ? { ...payload, [kind]: { actor: office.actor, reason: office.reason } } : payload,
    });
    return { ok: true, payment: reversed };
  }

  /**
   * Where a cancellation is booked, and as what. A terminal's reversal and an adjustment:
   * the window a booking made now goes into (their checks then say whether it may be).
   * The finance office's cancel: the original's own window as long as it is not closed
   * (past its cutoff too, until the settlement run closes it), else, as an adjustment,
   * the window a booking made now goes into.
   */
  private cancellationWindow(cmd: ReverseCommand, original: Payment): { window: string; kind: 'reversal' | 'adjustment' } {
    if (cmd.cancel && !this.isClosed(original.settlementDate)) return { window: original.settlementDate, kind: 'reversal' };
    return { window: this.openWindow(cmd.settlementDate), kind: cmd.adjustment || cmd.cancel ? 'adjustment' : 'reversal' };
  }

  // ------------------------------------------------------------------ helpers

  /** The balance as booked so far, this batch's commands included. */
  private balanceOf(account: AccountRef): number {
    return this.tx.storedBalance(account) + this.batch.of(account) + this.command.of(account);
  }

  private post(paymentId: number, postings: Posting[], isReversal: boolean, at: number, window: string): void {
    this.tx.insertEntries(paymentId, postings, isReversal, at, window);
    for (const p of postings) this.command.add(p.account, window, p.amountCents);
  }

  private refreshPositionStatus(positionId: number): void {
    this.tx.setPositionStatus(positionId, positionStatusFromOptions(this.tx.optionsOfPosition(positionId)));
  }

  private emit(events: EventRow[], e: Omit<EventRow, 'seq'>): void {
    events.push({ ...e, seq: this.tx.insertEvent(e) });
  }

  /**
   * The window a booking made now goes into: the one its time says, or, if the
   * settlement run has already closed that one (a request in flight across the close,
   * or a window closed early by hand), the next open one.
   */
  private openWindow(date: string): string {
    let d = date;
    for (let i = 0; i < 366; i++) {
      if (!this.isClosed(d)) return d;
      d = nextWorkingDay(addDays(d, 1));
    }
    throw new LedgerInvariantError(`no open settlement window within a year of ${date}`);
  }

  private isClosed(date: string): boolean {
    let closed = this.closedWindows.get(date);
    if (closed === undefined) {
      closed = this.tx.windowClosed(date);
      this.closedWindows.set(date, closed);
    }
    return closed;
  }
}

function assertPostingsBalanced(postings: Posting[], what: string): void {
  try {
    assertBalanced(postings);
  } catch (err) {
    throw new LedgerInvariantError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
