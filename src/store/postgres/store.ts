// The PostgreSQL store: the same Store as the embedded SQLite one, for several switch
// instances on one database. Each instance books through its own group-commit writer
// (batch.ts: the ledger's rules over rows read under locks); the event log is read back
// in seq order by every instance (events.ts), so a subscriber on any instance sees every
// instance's commits in order; terminal and counter caches are forgotten on every
// instance when one of them changes a row (NOTIFY tserve_cache).
import * as PagoPa from './pagopa.js';
import * as PagoPaFlows from './pagopa-flows.js';
import type { NewPagoPaFlow, PagoPaFlowAttempt } from '../pagopa-flow-types.js';
import type { PagoPaOutcomeWrite } from '../pagopa-types.js';
import * as Admin from './admin.js';
import * as Audit from './audit.js';
import type { AuditQuery } from '../audit-chain.js';
import { systemClock, type Clock } from '../../clock.js';
import type { Catalogue, Network } from '../../domain/model.js';
import { Ledger, LedgerInvariantError } from '../../ledger/book.js';
import type { BookingCommand, BookingResult } from '../../ledger/commands.js';
import { GroupCommitWriter } from '../../ledger/writer.js';
import { logger } from '../../log.js';
import { WriteHealth, type Readiness } from '../health.js';
import {
  toCounter,
  toTerminal,
  toTerminalListing,
  type CircuitFeeRow,
  type CounterRow,
  type EntityRow,
  type FeeScheduleRow,
  type ServiceRow,
  type TerminalListRow,
  type TerminalRow,
} from '../rows.js';
import type { LinesQuery } from '../settlement-types.js';
import { cached, catalogueOf } from '../shared.js';
import type {
  AuditEntry,
  CatalogueSnapshot,
  Counter,
  EventRow,
  IdempotencyRecord,
  NewPosition,
  OptionView,
  Payment,
  Store,
  Terminal,
} from '../types.js';
import { StoreUnavailableError } from '../types.js';

/** A failure to reach the database, told as such (UNAVAILABLE); any other error unchanged. */
function unavailable(err: unknown): unknown {
  return isUnavailable(err) && !(err instanceof StoreUnavailableError) ? new StoreUnavailableError(err instanceof Error ? err.message : String(err), { cause: err }) : err;
}
import { AccountIds, appendEvents, insertAudit, loadBatch, writeBatch } from './batch.js';
import type { AdminTx, PgContext } from './context.js';
import * as Events from './events.js';
import { migrate } from './migrate.js';
import * as NetworkConfig from './network.js';
import type { NetworkChange, NewSecrets } from '../../network/change.js';
import * as Operations from './operations.js';
import { isRetryable, isUnavailable, openPool, type Pool, type PoolClient } from './pool.js';
import * as Positions from './positions.js';
import * as Reads from './reads.js';
import * as ConsoleReads from './console-reads.js';
import type { PaymentSearch } from '../console-reads.js';
import * as Settlement from './settlement.js';
import * as Users from './users.js';
import type { Reseal } from '../reseal.js';

/** A batch that meets a deadlock or a serialization failure runs again, up to this many times. */
const MAX_ATTEMPTS = 8;
const BATCHES_IN_FLIGHT = 2;

export interface PgStoreOptions {
  poolSize?: number;
  clock?: Clock;
  /**
   * Check every balance against its entries in the background after opening (the
   * switch's start; docs/security.md). Off for the CLI and tools: the sum reads every
   * entry, which on a large database they should not wait for at close.
   */
  checkBalances?: boolean;
}

/**
 * A ledger account id taken from the cache that another batch created and then rolled
 * back (batches overlap: the cache is shared): the FK check fails; run the batch again with
 * the accounts read afresh (the cache is cleared on every rollback).
 */
function staleAccount(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown };
  return e?.code === '23503' && typeof e.constraint === 'string' && e.constraint.endsWith('_account_id_fkey');
}

export class PgStore implements Store {
  private readonly writer: GroupCommitWriter<BookingCommand, BookingResult>;
  private readonly accounts = new AccountIds();
  private readonly terminals = new Map<string, Terminal | undefined>();
  private readonly counters = new Map<string, Counter | undefined>();
  private entityNames: Map<string, string> | null = null;
  private readonly tail: Events.EventTail;

  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const pool = openPool(url, opts.poolSize ?? 10);
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    const store = new PgStore(pool, url, opts.clock ?? systemClock);
    await store.tail.start();
    // In the background: a full sum of the entries in one snapshot (their ids are not in
    // commit order with several writers, so no checkpoint can stand for a prefix of them).
    if (opts.checkBalances) void Operations.verifyBalances(store.ctx, store.health);
    return store;
  }

  // The probe takes a transaction id: refused on a standby, and on a database that cannot write.
  private readonly health = new WriteHealth(() => this.tx(async ({ c }) => c.query('SELECT txid_current()')));

  /** What the modules of this store's methods are given (context.ts). */
  private readonly ctx: PgContext = {
    q: <R>(sql: string, params?: unknown[]) => this.q<R>(sql, params),
    one: <R>(sql: string, params?: unknown[]) => this.one<R>(sql, params),
    exec: (sql, params) => this.exec(sql, params),
    connect: () => this.connect(),
    tx: <T>(fn: (t: AdminTx) => Promise<T>) => this.tx(fn),
    snapshot: <T>(fn: (c: PoolClient) => Promise<T>) => this.snapshot(fn),
    clock: () => this.clock(),
    terminals: this.terminals,
    counters: this.counters,
  };
  private readonly reads = Reads.batchedReads(this.ctx.q);

  readiness(): Readiness {
    return this.health.readiness();
  }

  private constructor(
    private readonly pool: Pool,
    url: string,
    private readonly clock: Clock,
  ) {
    // Two batches in flight: the next one reads under its locks while the previous one
    // writes and commits (they queue only on the rows both change, balances last).
    this.writer = new GroupCommitWriter({ runBatch: (cmds) => this.runBatch(cmds) }, 2000, 5000, 1000, BATCHES_IN_FLIGHT);
    this.tail = new Events.EventTail(url, this.pool, {
      onInvalidate: (what, id) => (what === 'terminal' ? this.terminals : this.counters).delete(id),
      onReconnect: () => {
        this.terminals.clear();
        this.counters.clear();
      },
    });
    // A network change, here or on another instance: entity names are read again at the next batch.
    this.tail.listeners.push((events) => {
      if (events.some((e) => e.type === 'network.changed')) this.entityNames = null;
    });
  }

  observeBatches(fn: (size: number, ms: number) => void): void {
    this.writer.onBatch = fn;
  }

  writerBacklog(): number {
    return this.writer.queueDepth;
  }

  get writerStats() {
    return { ...this.writer.stats, queueDepth: this.writer.queueDepth };
  }

  private async q<R>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      // Planned at each run with its values (not prepared): a lookup's best plan changes
      // as the day's tables grow from empty, and a plan kept from a small table scans it whole.
      return (await this.pool.query<R & object>(sql, params)).rows;
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** A statement outside a transaction; its row count. */
  private async exec(sql: string, params: unknown[] = []): Promise<number> {
    try {
      return (await this.pool.query(sql, params)).rowCount ?? 0;
    } catch (err) {
      throw unavailable(err);
    }
  }

  private async connect(): Promise<PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      const failure = unavailable(err);
      if (failure instanceof StoreUnavailableError) this.health.failed(failure);
      throw failure;
    }
  }

  private async one<R>(sql: string, params: unknown[] = []): Promise<R | undefined> {
    return (await this.q<R>(sql, params))[0];
  }

  // ---------------------------------------------------------------- booking

  async write(cmd: BookingCommand): Promise<BookingResult> {
    await this.health.checkBooking(cmd, this);
    return this.writer.submit(cmd);
  }

  private async names(): Promise<Map<string, string>> {
    this.entityNames ??= new Map((await this.q<{ id: string; name: string }>('SELECT id, name FROM entities')).map((e) => [e.id, e.name]));
    return this.entityNames;
  }

  private async runBatch(commands: BookingCommand[]): Promise<BookingResult[]> {
    const names = await this.names();
    for (let attempt = 1; ; attempt++) {
      const c = await this.connect();
      let results: BookingResult[];
      let events: EventRow[];
      try {
        await c.query('BEGIN');
        const tx = await loadBatch(c, commands, names);
        const outcome = new Ledger(tx).runBatch(commands);
        events = await writeBatch(c, tx, this.accounts);
        await c.query('COMMIT');
        results = outcome.results;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        c.release();
        // An account row the rolled-back attempt created is gone with it: its cached id would
        // fail every later batch (window_movements_account_id_fkey), whatever made this one fail.
        this.accounts.clear();
        if (err instanceof LedgerInvariantError) {
          logger.error('LEDGER INVARIANT BROKEN: the batch was rolled back and refused', { commands: commands.length, error: err.message });
          throw err;
        }
        if ((isRetryable(err) || staleAccount(err)) && attempt < MAX_ATTEMPTS) {
          // Seen by operators: frequent retries mean instances fight over the same rows.
          logger.warn('booking batch rolled back and run again', { code: String((err as { code?: unknown }).code), attempt, commands: commands.length });
          await new Promise((r) => setTimeout(r, Math.random() * 2 * attempt));
          continue;
        }
        const failure = unavailable(err);
        if (failure instanceof StoreUnavailableError) this.health.failed(failure);
        throw failure;
      }
      c.release();
      this.health.ok();
      this.tail.committed(events);
      return results;
    }
  }

  /** An administrative transaction; its events are appended last and published after COMMIT. */
  private async tx<T>(fn: (t: AdminTx) => Promise<T>): Promise<T> {
    const c = await this.connect();
    const events: Omit<EventRow, 'seq'>[] = [];
    const audits: (AuditEntry & { at: number })[] = [];
    const invalidations: string[] = [];
    let value: T;
    let written: EventRow[];
    try {
      await c.query('BEGIN');
      value = await fn({
        c,
        emit: (e) => events.push(e),
        audit: (a, at) => audits.push({ ...a, at }),
        invalidate: (what, id) => invalidations.push(`${what}:${id}`),
      });
      await insertAudit(c, audits);
      for (const i of invalidations) await c.query("SELECT pg_notify('tserve_cache', $1)", [i]);
      written = await appendEvents(c, events);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      const failure = unavailable(err);
      if (failure instanceof StoreUnavailableError) this.health.failed(failure);
      throw failure;
    } finally {
      c.release();
    }
    this.health.ok();
    this.tail.committed(written);
    return value;
  }

  /** Reads in one REPEATABLE READ snapshot, while booking goes on. */
  private async snapshot<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const v = await fn(c);
      await c.query('COMMIT');
      return v;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw unavailable(err);
    } finally {
      c.release();
    }
  }

  // ---------------------------------------------------------------- reads (and reads.ts, positions.ts)

  async loadCatalogue(): Promise<CatalogueSnapshot> {
    const [fees, entities, services, schedules] = await Promise.all([
      this.q<CircuitFeeRow>('SELECT * FROM circuit_fees ORDER BY entity_id, effective_from'),
      this.q<EntityRow>('SELECT * FROM entities ORDER BY id'),
      this.q<ServiceRow>('SELECT * FROM services ORDER BY ord'),
      this.q<FeeScheduleRow>('SELECT * FROM fee_schedules ORDER BY service_code, counter_kind, effective_from'),
    ]);
    const catalogue = catalogueOf({ fees, entities, services, schedules });
    this.entityNames = new Map([...catalogue.entities.values()].map((e) => [e.id, e.name]));
    return catalogue;
  }

  async getCounter(id: string): Promise<Counter | undefined> {
    return cached(this.counters, id, async () => {
      const r = await this.one<CounterRow>('SELECT * FROM counters WHERE id = $1', [id]);
      return r && toCounter(r);
    });
  }

  async listCounters(): Promise<Counter[]> {
    return (await this.q<CounterRow>('SELECT * FROM counters ORDER BY id')).map(toCounter);
  }

  async getTerminal(id: string): Promise<Terminal | undefined> {
    return cached(this.terminals, id, async () => {
      const r = await this.one<TerminalRow>('SELECT * FROM terminals WHERE id = $1', [id]);
      return r && toTerminal(r);
    });
  }

  async listTerminals(counterId?: string) {
    const rows = counterId
      ? await this.q<TerminalListRow>('SELECT id, counter_id, status, created_at FROM terminals WHERE counter_id = $1 ORDER BY id', [counterId])
      : await this.q<TerminalListRow>('SELECT id, counter_id, status, created_at FROM terminals ORDER BY id');
    return rows.map(toTerminalListing);
  }

  async findOptionByNotice(noticeNumber: string): Promise<OptionView | undefined> {
    return this.reads.notice.load(noticeNumber);
  }

  async getPaymentById(id: number): Promise<Payment | undefined> {
    return this.reads.payment.load(id);
  }

  async priorRequest(terminalId: string, key: string) {
    return (await this.reads.prior.load({ terminalId, key })) ?? { record: undefined, advised: false };
  }

  async getIdempotency(terminalId: string, key: string): Promise<IdempotencyRecord | undefined> {
    return this.reads.idempotency.load({ terminalId, key });
  }

  counterExposure = (counterId: string) => Reads.counterExposure(this.ctx, counterId);
  networkState = () => NetworkConfig.networkState(this.ctx);
  applyNetworkChange = (change: NetworkChange, secrets: NewSecrets, actor: string) => NetworkConfig.applyNetworkChange(this.ctx, change, secrets, actor);
  getOption = (optionId: number) => Reads.getOption(this.ctx, optionId);
  findOptionsByLookup = (serviceCode: string, lookupKey: string) => Reads.findOptionsByLookup(this.ctx, serviceCode, lookupKey);
  getPayment = (publicId: string) => Reads.getPayment(this.ctx, publicId);
  terminalTotals = (terminalId: string, date: string) => Reads.terminalTotals(this.ctx, terminalId, date);
  searchPayments = (q: PaymentSearch, cursor: number | null, limit: number) => ConsoleReads.searchPayments(this.ctx, q, cursor, limit);
  dayGroups = (date: string, entityId: string | null) => ConsoleReads.dayGroups(this.ctx, date, entityId);
  countersDay = (date: string) => ConsoleReads.countersDay(this.ctx, date);
  getPosition = (id: number) => Positions.getPosition(this.ctx, id);
  listPositions = (entityId: string, cursor: number, limit: number) => Positions.listPositions(this.ctx, entityId, cursor, limit);

  // ---------------------------------------------------------------- events (events.ts)

  // ---------------------------------------------------------------- pagoPA (pagopa.ts)

  claimPagoPaOutcomes = (lapsedBy: number, until: number, limit: number) => PagoPa.claimPagoPaOutcomes(this.ctx, lapsedBy, until, limit);
  recordPagoPaOutcomes = (writes: PagoPaOutcomeWrite[]) => PagoPa.recordPagoPaOutcomes(this.ctx, writes);
  getPagoPa = (paymentId: number) => PagoPa.getPagoPa(this.ctx, paymentId);
  pagopaPaymentsOfWindow = (date: string) => PagoPa.pagopaPaymentsOfWindow(this.ctx, date);
  pagopaRefundsDue = (limit: number) => PagoPa.pagopaRefundsDue(this.ctx, limit);
  pagopaSettlementOfWindow = (date: string) => PagoPaFlows.pagopaSettlementOfWindow(this.ctx, date);
  savePagoPaFlows = (flows: NewPagoPaFlow[]) => PagoPaFlows.savePagoPaFlows(this.ctx, flows);
  pagopaFlows = (q: { date?: string; pendingOnly?: boolean }) => PagoPaFlows.pagopaFlows(this.ctx, q);
  recordPagoPaFlowAttempt = (flowId: string, a: PagoPaFlowAttempt) => PagoPaFlows.recordPagoPaFlowAttempt(this.ctx, flowId, a);

  async recordEvent(e: Omit<EventRow, 'seq'>): Promise<void> {
    await this.tx(async (t) => t.emit(e));
  }

  eventsAfter = (seq: number, limit: number) => Events.eventsAfter(this.ctx, seq, limit);
  eventBounds = () => Events.eventBounds(this.ctx);
  pruneEvents = (before: number) => Events.pruneEvents(this.ctx, before);

  onCommit(listener: (events: EventRow[]) => void): void {
    this.tail.listeners.push(listener);
  }

  // ---------------------------------------------------------------- administration (admin.ts, users.ts)

  insertTerminal = (t: { id: string; counterId: string; tmkSealed: string; secretHash: string }, audit: AuditEntry) => Admin.insertTerminal(this.ctx, t, audit);
  nextTerminalId = () => Admin.nextTerminalId(this.ctx);
  sealedTerminalKeys = () => Admin.sealedTerminalKeys(this.ctx);
  resealTerminalKeys = (changes: Reseal[], audit: AuditEntry) => Admin.resealTerminalKeys(this.ctx, changes, audit);
  setTerminalStatus = (id: string, status: Terminal['status'], audit: AuditEntry) => Admin.setTerminalStatus(this.ctx, id, status, audit);
  rotateTerminalKey = (id: string, key: { tmkSealed: string } | { secretHash: string }, audit: AuditEntry) => Admin.rotateTerminalKey(this.ctx, id, key, audit);
  acceptSignOn = (id: string, transmittedAtMs: number, stan: number) => Admin.acceptSignOn(this.ctx, id, transmittedAtMs, stan);
  setCounterStatus = (id: string, status: Counter['status'], audit: AuditEntry) => Admin.setCounterStatus(this.ctx, id, status, audit);
  setUserDisabled = (username: string, disabled: boolean, audit: AuditEntry) => Users.setUserDisabled(this.ctx, username, disabled, audit);
  setCreditLimit = (id: string, cents: number, audit: AuditEntry) => Admin.setCreditLimit(this.ctx, id, cents, audit);
  addUser = (u: { username: string; role: 'entity' | 'finance' | 'admin'; entityId: string | null; passwordHash: string }) => Users.addUser(this.ctx, u);
  endSession = (id: string, until: number, now: number) => Users.endSession(this.ctx, id, until, now);
  sessionEnded = (id: string) => Users.sessionEnded(this.ctx, id);

  // login throttling and audit (audit.ts; the chain is the trigger's)
  loginFailures = (account: string) => Audit.loginFailures(this.ctx.q, account);
  recordLoginFailure = (account: string, at: number) => Audit.recordLoginFailure(this.ctx.q, account, at);
  clearLoginFailures = (account: string) => Audit.clearLoginFailures(this.ctx.q, account);
  pruneLoginFailures = (before: number) => Audit.pruneLoginFailures(this.ctx.q, before);
  listAudit = (f: AuditQuery, cursor: number | null, limit: number) => Audit.listAudit(this.ctx.q, f, cursor, limit);
  auditChain = (afterId: number, limit: number) => Audit.auditChain(this.ctx.q, afterId, limit);
  auditHead = () => Audit.auditHead(this.ctx.q);
  async appendAudit(entries: AuditEntry[]) {
    const at = this.clock();
    if (entries.length > 0) await this.tx(async ({ audit }) => entries.forEach((a) => audit(a, at)));
  }

  getUser = (username: string) => Users.getUser(this.ctx, username);

  // ---------------------------------------------------------------- debt positions (positions.ts)

  createPositions = (rows: NewPosition[], actor: string) => Positions.createPositions(this.ctx, rows, actor);
  deleteStaleDrafts = () => Positions.deleteStaleDrafts(this.ctx);
  findImport = (scope: string, sha256: string) => Positions.findImport(this.ctx, scope, sha256);
  recordImport = (scope: string, sha256: string, positions: number) => Positions.recordImport(this.ctx, scope, sha256, positions);
  cancelPosition = (id: number, actor: string) => Positions.cancelPosition(this.ctx, id, actor);

  // ---------------------------------------------------------------- settlement (settlement.ts)

  closeWindow = (date: string, at: number) => Settlement.closeWindow(this.ctx, date, at);
  getWindow = (date: string) => Settlement.getWindow(this.ctx, date);
  listWindows = () => Settlement.listWindows(this.ctx);
  windowSums = (date: string) => Settlement.windowSums(this.ctx, date);
  saveDraft = (date: string, figures: string, figuresHash: string, at: number) => Settlement.saveDraft(this.ctx, date, figures, figuresHash, at);
  approveWindow = (date: string, actor: string, at: number, settledByCounter: Map<string, number>) => Settlement.approveWindow(this.ctx, date, actor, at, settledByCounter);
  markExported = (date: string, at: number) => Settlement.markExported(this.ctx, date, at);
  windowLines = (q: LinesQuery, cursor: string | null, limit: number) => Settlement.windowLines(this.ctx, q, cursor, limit);
  rebilledSums = (entityId: string, month: string) => Settlement.rebilledSums(this.ctx, entityId, month);

  // ---------------------------------------------------------------- operations (operations.ts)

  exclusively = <T>(job: string, fn: () => Promise<T>) => Operations.exclusively(this.ctx, job, fn);
  isEmpty = () => Operations.isEmpty(this.ctx);
  checkInvariants = () => Operations.checkInvariants(this.ctx);

  async seed(catalogue: Catalogue, network: Network, sealed: Map<string, { tmkSealed: string; secretHash: string }>) {
    await Operations.seed(this.ctx, catalogue, network, sealed);
    this.accounts.clear();
    this.terminals.clear();
    this.counters.clear();
    this.entityNames = null;
    await this.tail.reset();
  }

  get poolForTools(): Pool {
    return this.pool;
  }

  async close(): Promise<void> {
    await this.writer.close();
    await this.tail.stop();
    await this.pool.end();
  }
}
