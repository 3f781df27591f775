// The write path's health, kept by each store: the last write's result (what /readyz
// answers), failures logged once per burst (a line when they start, one with the count
// when they end, never a stack per request), and alarms that stop booking until an
// operator acts (the database file or its WAL replaced under the switch, a balance that
// disagrees with its entries).
import type { Payment } from '../domain/model.js';
import type { BookingCommand } from '../ledger/commands.js';
import type { IdempotencyRecord } from '../ledger/port.js';
import { accountKey, type AccountRef } from '../ledger/postings.js';
import { logger } from '../log.js';
import { StoreUnavailableError } from './types.js';

/** Every account a payment's postings (and so its reversal's) may touch. */
function accountsOfPayment(p: Payment): AccountRef[] {
  return [
    { kind: 'counter_cash', ownerId: p.counterId },
    { kind: 'counter_commission', ownerId: p.counterId },
    { kind: 'entity_payable', ownerId: p.entityId },
    { kind: 'entity_circuit_fees', ownerId: p.entityId },
    { kind: 'operator_fees', ownerId: '' },
    { kind: 'owner_royalty', ownerId: '' },
    { kind: 'owner_circuit_fees', ownerId: '' },
  ];
}

export interface Readiness {
  ready: boolean;
  /** Why not ready: the alarm, or the last write's failure. */
  reason: string | null;
  /** Open alarms (whole store and per account). */
  alarms: string[];
}

/** Booking stopped by an alarm: refused as UNAVAILABLE (96 / 503), with the alarm as the reason. */
export class StoreAlarmError extends StoreUnavailableError {
  constructor(readonly alarm: string) {
    super(`booking is stopped by an alarm: ${alarm}`);
    this.name = 'StoreAlarmError';
  }
}

/** At most one probe write a second, however often /readyz is asked. */
const PROBE_EVERY_MS = 1000;

export class WriteHealth {
  private burst: { since: number; count: number; first: string } | null = null;
  private lastFailure: string | null = null;
  /** The whole store's alarm: every write refused. */
  private storeAlarm: string | null = null;
  /** Accounts whose stored balance is not trusted, by accountKey: bookings that post to them are refused. */
  private readonly accountAlarms = new Map<string, string>();

  private probing = false;
  private lastProbeMs = -Infinity;

  /**
   * `probe` makes one small write: asked while the last write failed, so that a switch
   * no one sends traffic to (a load balancer reading /readyz) finds out it can write again.
   */
  constructor(
    private readonly probe: () => Promise<unknown> = async () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** A write committed: a burst of failures, if any, ends with one line. */
  ok(): void {
    this.lastFailure = null;
    if (!this.burst) return;
    logger.warn('storage writes succeed again', { failed: this.burst.count, forMs: this.now() - this.burst.since });
    this.burst = null;
  }

  /** A write failed because of the storage: the first of a burst is logged, the rest only counted. */
  failed(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.lastFailure = reason;
    if (this.burst) {
      this.burst.count++;
      return;
    }
    this.burst = { since: this.now(), count: 1, first: reason };
    logger.error('storage writes failing: answered UNAVAILABLE until one succeeds (one line when they do, with the count)', { error: reason });
  }

  /** Stops every write: logged once, loudly. */
  alarm(reason: string): void {
    if (this.storeAlarm !== null) return;
    this.storeAlarm = reason;
    logger.error(`ALARM: booking stopped: ${reason}`, { alarm: reason });
  }

  /** Stops bookings that post to one account. */
  accountAlarm(accountKey: string, reason: string): void {
    if (this.accountAlarms.has(accountKey)) return;
    this.accountAlarms.set(accountKey, reason);
    logger.error(`ALARM: booking stopped on account ${accountKey}: ${reason}`, { alarm: reason, account: accountKey });
  }

  /** Throws StoreAlarmError when the store is stopped, or when one of these accounts is. */
  check(accountKeys: Iterable<string> = []): void {
    if (this.storeAlarm !== null) throw new StoreAlarmError(this.storeAlarm);
    if (this.accountAlarms.size === 0) return;
    for (const k of accountKeys) {
      const a = this.accountAlarms.get(k);
      if (a !== undefined) throw new StoreAlarmError(`account ${k}: ${a}`);
    }
  }

  /**
   * Refuses a booking (StoreAlarmError) when the store is stopped or the booking would
   * post to an account under an alarm. A reversal's accounts are its original's, read
   * only while some account is under an alarm.
   */
  async checkBooking(
    cmd: BookingCommand,
    reads: { getPaymentById(id: number): Promise<Payment | undefined>; getIdempotency(terminalId: string, key: string): Promise<IdempotencyRecord | undefined> },
  ): Promise<void> {
    this.check();
    if (this.accountAlarms.size === 0) return;
    let accounts: AccountRef[] = [];
    if (cmd.kind === 'pay') accounts = cmd.postings.map((p) => p.account);
    else {
      const id = 'paymentId' in cmd.original ? cmd.original.paymentId : (await reads.getIdempotency(cmd.terminalId, cmd.original.key))?.paymentId;
      const original = id === undefined || id === null ? undefined : await reads.getPaymentById(id);
      if (original) accounts = accountsOfPayment(original);
    }
    this.check(accounts.map(accountKey));
  }

  get stopped(): boolean {
    return this.storeAlarm !== null;
  }

  readiness(): Readiness {
    if (this.lastFailure !== null && this.storeAlarm === null && !this.probing && this.now() - this.lastProbeMs >= PROBE_EVERY_MS) {
      this.probing = true;
      this.lastProbeMs = this.now();
      // The probe's own write goes through the store, which records its result here.
      void this.probe()
        .catch(() => undefined)
        .finally(() => (this.probing = false));
    }
    const alarms = [...(this.storeAlarm === null ? [] : [this.storeAlarm]), ...[...this.accountAlarms].map(([k, r]) => `account ${k}: ${r}`)];
    // An alarm on some accounts leaves the rest booking: ready, with the alarm listed.
    const reason = this.storeAlarm ?? (this.lastFailure === null ? null : `the last write failed: ${this.lastFailure}`);
    return { ready: reason === null, reason, alarms };
  }
}

/** SQLite result codes of a storage that cannot take writes (read-only, full, I/O error): UNAVAILABLE, not SYSTEM. */
const SQLITE_STORAGE_CODE = /^SQLITE_(READONLY|FULL|IOERR|CANTOPEN|CORRUPT|NOTADB|BUSY|LOCKED|PROTOCOL)/;

export function isSqliteStorageFailure(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  return SQLITE_STORAGE_CODE.test(code);
}
