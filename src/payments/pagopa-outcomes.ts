// The outcome sender (docs/pagopa.md "The outcome"): every pagoPA payment booked has its
// outbox row (pagopa_payments, outcome 'pending'), written in the booking's transaction
// already claimed by the booking instance; this sends sendPaymentOutcome OK for it at once
// after the commit (no claim, no extra write on the way), and records the answers of
// several payments in one transaction. Rows not answered are taken again under a lease
// (polling), so instances on one PostgreSQL share them and a crashed sender's rows are
// taken again when it lapses; at start every pending row is taken again (a crash between
// the commit and the send: the outcome goes once after the restart, under the same
// idempotencyKey, which the node answers as the first time).
import { addDays, nextWorkingDay, romeDate } from '../domain/calendar.js';
import { isValidFiscalCode } from '../domain/fiscal-code.js';
import { logger } from '../log.js';
import { NodeTransportError, type PspClient } from '../pagopa/client.js';
import type { NodeFault } from '../pagopa/types.js';
import type { PagoPaOutbox, PagoPaOutcomeRecord, PagoPaOutcomeWrite } from '../store/pagopa-types.js';
import type { EventRow, Store } from '../store/types.js';
import { pagopaReceipt, paymentEventPayload } from '../ledger/views.js';

/**
 * What an answer to an outcome OK means for the money the counter took. `sent`: the node
 * has the receipt. `refund_due`: it has none, and never will for this token (someone paid
 * the notice meanwhile, the token expired or is unknown): the citizen is owed the money
 * back, or the creditor gets it reported with code 9. `retry`: no verdict yet.
 */
const OUTCOME_ANSWERS: Readonly<Record<string, 'sent' | 'refund_due' | 'retry'>> = {
  // The node took this outcome before (our earlier attempt, whose answer was lost).
  PPT_ESITO_GIA_ACQUISITO: 'sent',
  PPT_PAGAMENTO_DUPLICATO: 'refund_due',
  PPT_TOKEN_SCADUTO: 'refund_due',
  PPT_TOKEN_SCONOSCIUTO: 'refund_due',
  PPT_PAGAMENTO_SCONOSCIUTO: 'refund_due',
};

/** How long the booking instance holds a new outbox row, and a poll's claim holds a row. */
export const OUTCOME_LEASE_MS = 60_000;

export interface OutcomeSenderOptions {
  clock: () => number;
  /** How long a claim holds before another sender may take the row. */
  leaseMs?: number;
  /** Rows per claim. */
  batch?: number;
  /** How often pending rows are looked for when nothing wakes the sender. */
  pollMs?: number;
}

export class PagoPaOutcomes {
  private readonly leaseMs: number;
  private readonly batch: number;
  private readonly pollMs: number;
  private timer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private started = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly sending = new Set<number>();
  private readonly queued: { write: PagoPaOutcomeWrite; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly client: PspClient,
    private readonly opts: OutcomeSenderOptions,
  ) {
    this.leaseMs = opts.leaseMs ?? OUTCOME_LEASE_MS;
    this.batch = opts.batch ?? 32;
    this.pollMs = opts.pollMs ?? 5_000;
  }

  /** Takes every pending row again (whoever claimed it before a crash), then polls. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.wake(true);
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.timer.unref();
  }

  /** After a commit: send what is pending now. Calls while a drain runs make it run once more. */
  wake(takeOver = false): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = this.drain(takeOver)
      .catch((err: unknown) => {
        logger.error('pagoPA outcomes: claim failed', { error: err instanceof Error ? err.message : String(err) });
      })
      .finally(() => {
        this.draining = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Stops claiming; the sends in flight finish (their rows stay pending if unanswered). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.draining;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves once nothing is being sent (tests). */
  async idle(): Promise<void> {
    while (this.draining || this.inFlight.size > 0) {
      await this.draining;
      await Promise.allSettled([...this.inFlight]);
    }
  }

  private async drain(takeOver: boolean): Promise<void> {
    const now = this.opts.clock();
    // Taking over (at start): every claim made before now is a dead process's, or ours from
    // before; the claims this loop makes lapse at now + lease, after `lapsedBy`, so the loop
    // claims each row once and ends.
    const lapsedBy = takeOver ? now + this.leaseMs - 1 : now;
    // Claim by batches until none is left.
    for (;;) {
      const rows = await this.store.claimPagoPaOutcomes(lapsedBy, now + this.leaseMs, this.batch);
      for (const row of rows) this.launch(row);
      if (rows.length < this.batch || this.stopped) return;
    }
  }

  /** A payment this instance just booked: its row is already this sender's (claimed at booking). */
  booked(row: PagoPaOutbox): void {
    if (!this.stopped) this.launch(row);
  }

  private launch(row: PagoPaOutbox): void {
    // Still being sent here (its send retries until the token expires): a new claim only extends it.
    if (this.sending.has(row.paymentId)) return;
    this.sending.add(row.paymentId);
    const p = this.send(row)
      .catch((err: unknown) => {
        logger.error('pagoPA outcome: send failed', { payment: row.paymentId, error: err instanceof Error ? err.message : String(err) });
      })
      .finally(() => {
        this.inFlight.delete(p);
        this.sending.delete(row.paymentId);
      });
    this.inFlight.add(p);
  }

  private async send(row: PagoPaOutbox): Promise<void> {
    const now = this.opts.clock();
    const day = romeDate(row.bookedAt);
    let verdict: 'sent' | 'refund_due' | 'retry';
    let fault: string | null = null;
    try {
      const answer = await this.client.sendOutcome(
        {
          idempotencyKey: row.idempotencyKey,
          paymentToken: row.paymentToken,
          outcome: 'OK',
          details: {
            feeCents: row.feeCents,
            applicationDate: day,
            // The credit transfer to the creditor leaves with the settlement of the next business day.
            transferDate: nextWorkingDay(addDays(day, 1)),
            ...(row.payerCf && isValidFiscalCode(row.payerCf) ? { payer: { type: row.payerCf.length === 16 ? ('F' as const) : ('G' as const), id: row.payerCf, fullName: 'ANONIMO' } } : {}),
          },
        },
        // Until the token expires; past it, one attempt still: only the node knows whether an
        // earlier attempt of ours arrived (then it answers OK again) or not (PPT_TOKEN_SCADUTO).
        { deadline: Math.max(row.tokenExpiresAt, now + this.client.config.timeoutMs) },
      );
      if (answer.ok) verdict = 'sent';
      else {
        fault = answer.fault.code;
        verdict = OUTCOME_ANSWERS[fault] ?? 'retry';
        if (verdict === 'retry') this.warn(row, answer.fault);
      }
    } catch (err) {
      if (!(err instanceof NodeTransportError)) throw err;
      verdict = 'retry';
      fault = err.code;
      logger.warn('pagoPA outcome not answered: retried when its claim lapses', { payment: row.paymentId, code: err.code, error: err.message });
    }
    if (verdict === 'retry') return;
    await this.record(row, { outcome: verdict, at: this.opts.clock(), fault });
  }

  private warn(row: PagoPaOutbox, fault: NodeFault): void {
    logger.warn('pagoPA outcome refused: retried when its claim lapses', { payment: row.paymentId, node: fault.code, ...(fault.description ? { why: fault.description.slice(0, 200) } : {}) });
  }

  /** Queues the answer; the answers that arrive together are recorded in one transaction. */
  private async record(row: PagoPaOutbox, r: PagoPaOutcomeRecord): Promise<void> {
    let event: Omit<EventRow, 'seq'> | null = null;
    if (r.outcome === 'refund_due') {
      const [payment, g] = await Promise.all([this.store.getPaymentById(row.paymentId), this.store.getPagoPa(row.paymentId)]);
      if (payment && g) {
        event = {
          type: 'pagopa.refund_due',
          at: r.at,
          terminalId: payment.terminalId,
          counterId: payment.counterId,
          entityId: payment.entityId,
          serviceCode: payment.serviceCode,
          payload: { ...paymentEventPayload(payment, g.creditorName), pagopa: pagopaReceipt(g), reason: r.fault },
        };
      }
      logger.warn('pagoPA payment marked refund_due: the node took no receipt for it', { payment: row.paymentId, node: r.fault });
    } else logger.debug('pagoPA outcome sent', { payment: row.paymentId });
    await new Promise<void>((resolve, reject) => {
      this.queued.push({ write: { paymentId: row.paymentId, record: r, event }, resolve, reject });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  /** Writes the queued answers, then those queued meanwhile, until none is left. */
  private async flush(): Promise<void> {
    // Let the answers arriving in the same turn join this write.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queued.length > 0) {
      const batch = this.queued.splice(0, this.queued.length);
      try {
        await this.store.recordPagoPaOutcomes(batch.map((b) => b.write));
        for (const b of batch) b.resolve();
      } catch (err) {
        // Not recorded: the rows stay pending and are sent again (the node answers the same key the same way).
        for (const b of batch) b.reject(err);
      }
    }
    this.flushing = null;
  }
}
