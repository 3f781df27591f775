// The booking checks, each a named step with one result: null (pass) or a refusal.
// Booking runs them once, authoritatively, inside its transaction (book.ts); the
// payments use-cases may run the same functions earlier for an early answer.
import type { Payment } from '../domain/model.js';
import { refusalToPay, type OptionState } from '../domain/positions.js';
import type { IdempotencyKey, PagoPaOutcomeState, Refusal } from './commands.js';
import type { CounterState, IdempotencyRecord } from './port.js';

const refuse = (code: Refusal['code'], detail: string): Refusal => ({ code, detail });

/** A key seen before: the same request replays its first answer; another request is refused. */
export function idempotencyConflict(prior: IdempotencyRecord | undefined, idem: IdempotencyKey): Refusal | null {
  return prior && prior.requestHash !== idem.requestHash
    ? refuse('IDEMPOTENCY_CONFLICT', 'this idempotency key was used for a different request')
    : null;
}

/** An advice (0420) reversed this transaction before it arrived: declined before anything else. */
export function notReversedByAdvice(advised: boolean): Refusal | null {
  return advised ? refuse('ALREADY_REVERSED', 'a reversal advice for this transaction arrived before it; it is not booked') : null;
}

export function terminalActive(status: 'active' | 'blocked' | undefined): Refusal | null {
  return status === 'active' ? null : refuse('TERMINAL_BLOCKED', 'the terminal is blocked');
}

export function counterActive(counter: Pick<CounterState, 'status'> | undefined): Refusal | null {
  return counter?.status === 'active' ? null : refuse('COUNTER_SUSPENDED', 'the counter is suspended');
}

/** The option can be paid on this Rome date (domain.md §6). */
export function optionPayable(option: OptionState | undefined, today: string): Refusal | null {
  if (!option) return refuse('NOTICE_UNKNOWN', 'the notice is not known to the circuit');
  return refusalToPay(option, today);
}

/** Cash collected and not yet settled, plus this payment, stays within the counter's limit. */
export function withinCreditLimit(counter: CounterState, cashBalanceCents: number, totalCents: number): Refusal | null {
  const exposure = cashBalanceCents - counter.settledCents;
  return exposure + totalCents > counter.creditLimitCents
    ? refuse(
        'CREDIT_LIMIT_EXCEEDED',
        `the counter has collected ${exposure} cents not yet settled; ${totalCents} more would pass its limit of ${counter.creditLimitCents}`,
      )
    : null;
}

// ---- reversal

export function reversalAmountMatches(original: Payment, amountCents: number | undefined): Refusal | null {
  return amountCents !== undefined && amountCents !== original.amountCents
    ? refuse('AMOUNT_MISMATCH', `the original was for ${original.amountCents} cents, not ${amountCents}`)
    : null;
}

export function reversedBySameTerminal(original: Payment, terminalId: string): Refusal | null {
  return original.terminalId === terminalId ? null : refuse('FORBIDDEN', 'a payment can be reversed only by the terminal that made it');
}

/** A cancellation by the finance office is for a payment not yet reversed or adjusted. */
export function notReversedYet(original: Payment): Refusal | null {
  if (original.reversedAt === null) return null;
  const what = original.reversalKind === 'adjustment' ? 'refunded (an adjustment)' : 'reversed';
  return refuse('ALREADY_REVERSED', `the payment was already ${what} in the window of ${original.reversalSettlementDate}`);
}

/** A terminal's reversal goes into the original's own window, while it is open. */
export function reversalWindowOpen(original: Payment, window: string): Refusal | null {
  return original.settlementDate === window
    ? null
    : refuse('REVERSAL_WINDOW_CLOSED', `the settlement window of ${original.settlementDate} is closed; ask for an administrative refund`);
}

/** An administrative refund is for a payment whose window has closed. */
export function adjustmentWindowClosed(original: Payment, window: string): Refusal | null {
  return original.settlementDate === window
    ? refuse('CONFLICT', 'the payment is still in its settlement window: the terminal can reverse it')
    : null;
}

/**
 * A pagoPA payment has no undo on the node once its outcome is on the way (docs/pagopa.md
 * "Reversals"): no terminal reverses one; the finance office cancels only one whose money
 * reached no creditor (refund_due: the node took no receipt), to give the citizen it back.
 */
export function pagopaReversible(state: PagoPaOutcomeState | undefined, byOffice: boolean): Refusal | null {
  if (state === undefined) return null;
  if (byOffice && state === 'refund_due') return null;
  return refuse(
    'REVERSAL_NOT_ALLOWED',
    byOffice
      ? 'a pagoPA payment whose outcome was sent belongs to its creditor: a refund goes through the creditor, not the switch'
      : 'a pagoPA payment cannot be reversed at the counter: its outcome goes to pagoPA at once and pagoPA has no undo; refunds go through the creditor',
  );
}
