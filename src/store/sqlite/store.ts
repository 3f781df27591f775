// The embedded SQLite store. Reads run on this thread's read-only connection; every
// write runs on the writer's own thread (write-side.ts), so the event loop never waits
// on a disk sync: booking through the group-commit writer, administration and
// settlement as single calls.
import type Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../clock.js';
import type { Catalogue, Network } from '../../domain/model.js';
import { LedgerInvariantError } from '../../ledger/book.js';
import type { BookingCommand, BookingResult } from '../../ledger/commands.js';
import { GroupCommitWriter } from '../../ledger/writer.js';
import { logger } from '../../log.js';
import type {
  AuditEntry,
  CatalogueSnapshot,
  Counter,
  DebtPositionView,
  EventRow,
  IdempotencyRecord,
  InvariantReport,
  NewPosition,
  OptionView,
  Page,
  Payment,
  Store,
  Terminal,
} from '../types.js';
import { FLOW_COLUMNS, toPagoPaFlow, type NewPagoPaFlow, type PagoPaFlow, type PagoPaFlowAttempt, type PagoPaFlowRow, type PagoPaSettlementExtra, type PagoPaSettlementRecord } from '../pagopa-flow-types.js';
import { PAGOPA_COLUMNS, toPagoPaRecord, type PagoPaOutbox, type PagoPaOutcomeWrite, type PagoPaRecord, type PagoPaRow, type PagoPaTransferRow } from '../pagopa-types.js';
import type { LinesQuery, RebilledSums, WindowRow, WindowSums } from '../settlement-types.js';
import { openReadConnection, prepareDatabase } from './connection.js';
import type { Reseal } from '../reseal.js';
import {
  OPTION_VIEW_SQL,
  PAYMENT_COLUMNS,
  toCounter,
  toEvent,
  toIdempotency,
  toOptionView,
  toPayment,
  toPositionView,
  toRebilledSums,
  toTerminal,
  toTerminalListing,
  toUser,
  toWindow,
  type CircuitFeeRow,
  type CountSumRow,
  type CounterRow,
  type DebtPositionRow,
  type EntityRow,
  type EventDbRow,
  type FeeScheduleRow,
  type IdempotencyRow,
  type OptionRow,
  type PaymentLineRow,
  type PaymentRow,
  type RebilledRow,
  type ServiceRow,
  type TerminalListRow,
  type TerminalRow,
  type UserRow,
  type WindowDbRow,
  type WindowTotalRow,
} from '../rows.js';
import { checkInvariants } from '../invariants.js';
import { cached, catalogueOf, deliver, lineFilters, pageLines, WINDOW_PHASES, windowSumsOf } from '../shared.js';
import { ImportCheck, type ImportConflict } from './import-check.js';
import type { CreatePositionsResult } from './write-side.js';
import { WriterThread } from './writer-thread.js';
import { isSqliteStorageFailure, WriteHealth, type Readiness } from '../health.js';
import { StoreUnavailableError } from '../types.js';
import * as Audit from './audit.js';
import type { AuditQuery } from '../audit-chain.js';
import type { NetworkApplied, NetworkChange, NetworkState, NewSecrets } from '../../network/change.js';
import { networkRows, networkStateOf } from '../network-change.js';
import { parseFeeRule } from '../fee-rule.js';
import { counterDaySql, dayGroupsSql, mergeDayGroups, searchFilter, toCounterDay, toDayGroup, type CounterDayRow, type DayGroup, type DayGroupRow, type PaymentSearch } from '../console-reads.js';


/** Positions per transaction of a large import: short enough for booking to go on between them. */
const IMPORT_SLICE = 1000;
/** Payment ids per slice of the day report's grouping (about 10 ms each on these machines). */
const DAY_SLICE = 10_000;

export class SqliteStore implements Store {
  private readonly r: Database.Database;
  private readonly thread: WriterThread;
  private readonly writer: GroupCommitWriter<BookingCommand, BookingResult>;
  private readonly listeners: ((events: EventRow[]) => void)[] = [];
  /**
   * Terminals and counters as every request reads them (status, counter, limit): kept
   * here and forgotten by the administrative writes that change them, all of which go
   * through this store. Bounded: past MAX_CACHED entries a cache starts again.
   */
  private readonly terminals = new Map<string, Terminal | undefined>();
  private readonly counters = new Map<string, Counter | undefined>();
  private readonly health = new WriteHealth(() => this.written(this.thread.call('probe', this.clock())));
  /** The start's balance check: bookings wait for it, so none posts to a damaged account. */
  private readonly verified: Promise<void>;

  static open(file: string, clock: Clock = systemClock): SqliteStore {
    prepareDatabase(file);
    return new SqliteStore(file, clock);
  }

  private constructor(
    file: string,
    /** Timestamps of administrative rows and events (audit, terminals, users, seed). */
    private readonly clock: Clock,
  ) {
    this.thread = new WriterThread(file);
    this.thread.onAlarm = (reason) => this.health.alarm(reason);
    this.r = openReadConnection(file);
    this.writer = new GroupCommitWriter({ runBatch: (cmds) => this.runBatch(cmds) });
    this.verified = this.verifyBalances();
  }

  private async verifyBalances(): Promise<void> {
    const started = performance.now();
    try {
      const { mismatches, entriesSummed, accounts } = await this.written(this.thread.call('verifyBalances'));
      for (const m of mismatches) {
        this.health.accountAlarm(`${m.kind}/${m.ownerId}`, `its stored balance ${m.balanceCents} differs from the sum of its entries ${m.entriesCents}`);
      }
      logger.info('balances checked against their entries', { accounts, entriesSummed, mismatches: mismatches.length, ms: Math.round(performance.now() - started) });
    } catch (err) {
      logger.error('the balances could not be checked at start', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  readiness(): Readiness {
    return this.health.readiness();
  }

  /** Test hook (reopenForTests in write-side.ts): every write fails as on a read-only disk, or works again. */
  async failWritesForTests(readonly: boolean): Promise<void> {
    await this.thread.call('reopenForTests', readonly);
  }

  private readonly readStatements = new Map<string, Database.Statement>();

  /** Read statements are prepared once and reused (preparing costs more than most reads). */
  private rq<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let st = this.readStatements.get(sql);
    if (!st) {
      st = this.r.prepare(sql);
      this.readStatements.set(sql, st);
    }
    return st as Database.Statement<P, R>; // prepared here for these parameters and rows
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

  // ---------------------------------------------------------------- writer side

  async write(cmd: BookingCommand): Promise<BookingResult> {
    await this.verified;
    await this.health.checkBooking(cmd, this);
    return this.writer.submit(cmd);
  }

  private async runBatch(commands: BookingCommand[]): Promise<BookingResult[]> {
    try {
      return await this.written(this.thread.call('book', commands));
    } catch (err) {
      if (err instanceof LedgerInvariantError) {
        logger.error('LEDGER INVARIANT BROKEN: the batch was rolled back and refused', { commands: commands.length, error: err.message });
      }
      throw err;
    }
  }

  /** A write's value, once its events (committed) have gone to the listeners. */
  private async written<T>(call: Promise<{ value: T; events: EventRow[]; committedAt: number }>): Promise<T> {
    let done;
    try {
      done = await call;
    } catch (err) {
      throw this.writeFailed(err);
    }
    this.health.ok();
    const { value, events, committedAt } = done;
    if (events.length > 0) {
      for (const e of events) e.committedAt = committedAt;
      this.notify(events);
    }
    return value;
  }

  /** A failed write as the caller sees it: an alarm or a storage failure is UNAVAILABLE, counted once per burst. */
  private writeFailed(err: unknown): unknown {
    const e = err as { name?: string; message?: string };
    if (e.name === 'StoreAlarmError') {
      this.health.alarm(e.message ?? String(err));
      try {
        this.health.check();
      } catch (alarm) {
        return alarm;
      }
    }
    if (isSqliteStorageFailure(err) || /the writer's thread exited/.test(e.message ?? '')) {
      this.health.failed(err);
      return new StoreUnavailableError(e.message ?? String(err), { cause: err });
    }
    return err;
  }

  // ---------------------------------------------------------------- reads

  async loadCatalogue(): Promise<CatalogueSnapshot> {
    return catalogueOf({
      fees: this.rq<[], CircuitFeeRow>('SELECT * FROM circuit_fees ORDER BY entity_id, effective_from').all(),
      entities: this.rq<[], EntityRow>('SELECT * FROM entities ORDER BY id').all(),
      services: this.rq<[], ServiceRow>('SELECT * FROM services ORDER BY rowid').all(),
      schedules: this.rq<[], FeeScheduleRow>('SELECT * FROM fee_schedules ORDER BY service_code, counter_kind, effective_from').all(),
    });
  }

  async getCounter(id: string): Promise<Counter | undefined> {
    return cached(this.counters, id, () => {
      const r = this.rq<[string], CounterRow>('SELECT * FROM counters WHERE id = ?').get(id);
      return r && toCounter(r);
    });
  }

  async listCounters(): Promise<Counter[]> {
    return this.rq<[], CounterRow>('SELECT * FROM counters ORDER BY id').all().map(toCounter);
  }

  async getTerminal(id: string): Promise<Terminal | undefined> {
    return cached(this.terminals, id, () => {
      const r = this.rq<[string], TerminalRow>('SELECT * FROM terminals WHERE id = ?').get(id);
      return r && toTerminal(r);
    });
  }

  async listTerminals(counterId?: string) {
    const rows = counterId
      ? this.rq<[string], TerminalListRow>('SELECT id, counter_id, status, created_at FROM terminals WHERE counter_id = ? ORDER BY id').all(counterId)
      : this.rq<[], TerminalListRow>('SELECT id, counter_id, status, created_at FROM terminals ORDER BY id').all();
    return rows.map(toTerminalListing);
  }

  async counterExposure(counterId: string): Promise<number> {
    const v = this.rq<[string], number>(
      `SELECT coalesce((SELECT b.balance_cents FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
                        WHERE a.kind = 'counter_cash' AND a.owner_id = c.id), 0) - c.settled_cents
       FROM counters c WHERE c.id = ?`,
    )
      .pluck()
      .get(counterId);
    return v ?? 0;
  }

  async networkState(): Promise<NetworkState> {
    const all = <R>(sql: string) => this.rq<[], R>(sql).all();
    // One read transaction: the network as of one commit.
    return this.r.transaction(() =>
      networkStateOf(
        networkRows(all),
        parseFeeRule,
      ),
    ).deferred();
  }

  async applyNetworkChange(change: NetworkChange, secrets: NewSecrets, actor: string): Promise<NetworkApplied> {
    const plain = { terminals: [...secrets.terminals], users: [...secrets.users] };
    return this.written(this.thread.call('applyNetworkChange', change, plain, actor, this.clock())).finally(() => this.forgetNetwork());
  }

  /** Cached counters and terminals, after a network change (here or, on the event, anywhere). */
  private forgetNetwork(): void {
    this.terminals.clear();
    this.counters.clear();
  }

  async findOptionByNotice(noticeNumber: string): Promise<OptionView | undefined> {
    const r = this.rq<[string], OptionRow>(`${OPTION_VIEW_SQL} WHERE o.notice_number = ?`).get(noticeNumber);
    return r ? toOptionView(r) : undefined;
  }

  async getOption(optionId: number): Promise<OptionView | undefined> {
    const r = this.rq<[number], OptionRow>(`${OPTION_VIEW_SQL} WHERE o.id = ?`).get(optionId);
    return r ? toOptionView(r) : undefined;
  }

  async findOptionsByLookup(serviceCode: string, lookupKey: string): Promise<OptionView[]> {
    return this.rq<[string, string], OptionRow>(`${OPTION_VIEW_SQL} WHERE o.lookup_key = ? AND p.service_code = ? ORDER BY o.due_date, o.id`)
      .all(lookupKey, serviceCode)
      .map(toOptionView);
  }

  private positionView(p: DebtPositionRow): DebtPositionView {
    const options = this.rq<[number], OptionRow>(`${OPTION_VIEW_SQL} WHERE o.position_id = ? ORDER BY o.kind DESC, o.instalment_no`)
      .all(p.id)
      .map(toOptionView);
    return toPositionView(p, options);
  }

  async getPosition(id: number): Promise<DebtPositionView | undefined> {
    const p = this.rq<[number], DebtPositionRow>('SELECT * FROM debt_positions WHERE id = ?').get(id);
    return p ? this.positionView(p) : undefined;
  }

  async listPositions(entityId: string, cursor: number, limit: number): Promise<Page<DebtPositionView>> {
    const rows = this.rq<[string, number, number], DebtPositionRow>('SELECT * FROM debt_positions WHERE entity_id = ? AND id > ? ORDER BY id LIMIT ?')
      .all(entityId, cursor, limit + 1);
    const items = rows.slice(0, limit).map((p) => this.positionView(p));
    return { items, nextCursor: rows.length > limit ? String(items.at(-1)!.id) : null };
  }

  async getPayment(publicId: string): Promise<Payment | undefined> {
    const r = this.rq<[string], PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE public_id = ?`).get(publicId);
    return r ? toPayment(r) : undefined;
  }

  async getPaymentById(id: number): Promise<Payment | undefined> {
    const r = this.rq<[number], PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ?`).get(id);
    return r ? toPayment(r) : undefined;
  }

  async priorRequest(terminalId: string, key: string) {
    const advised = this.rq<[string, string]>('SELECT 1 FROM reversal_advices WHERE terminal_id = ? AND key = ?').get(terminalId, key) !== undefined;
    return { record: await this.getIdempotency(terminalId, key), advised };
  }

  async getIdempotency(terminalId: string, key: string): Promise<IdempotencyRecord | undefined> {
    const r = this.rq<[string, string], IdempotencyRow>(
      'SELECT terminal_id, key, request_hash, status, response, payment_id FROM idempotency_records WHERE terminal_id = ? AND key = ?',
    ).get(terminalId, key);
    return r && toIdempotency(r);
  }

  async eventsAfter(seq: number, limit: number): Promise<EventRow[]> {
    return this.rq<[number, number], EventDbRow>('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit).map(toEvent);
  }

  // The console's reads (console-reads.ts): on the read connection, each one statement.
  async searchPayments(q: PaymentSearch, cursor: number | null, limit: number): Promise<Page<Payment>> {
    const { where, params } = searchFilter(q, cursor, () => '?');
    const rows = this.r.prepare<unknown[], PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments ${where} ORDER BY id DESC LIMIT ?`).all(...params, limit + 1);
    const items = rows.slice(0, limit).map(toPayment);
    return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]!.id) : null };
  }

  /**
   * Read on the main thread, so in slices of DAY_SLICE payment ids with the event loop
   * free between them: a busy window (100,000 payments) grouped at once held it for
   * 100-150 ms, which every terminal waiting for an answer would have felt.
   */
  async dayGroups(date: string, entityId: string | null) {
    const bounds = (fn: 'min' | 'max') => this.rq<[string], { id: number | null }>(`SELECT ${fn}(id) AS id FROM payments WHERE settlement_date = ?`).get(date)?.id ?? null;
    const lo = bounds('min');
    const hi = bounds('max');
    if (lo === null || hi === null) return [];
    const sql = dayGroupsSql(entityId !== null, () => '?', true);
    const groups: DayGroup[] = [];
    for (let from = lo; from <= hi; from += DAY_SLICE) {
      if (from > lo) await new Promise((resolve) => setImmediate(resolve));
      const to = from + DAY_SLICE - 1;
      const rows = entityId === null ? this.rq<unknown[], DayGroupRow>(sql).all(date, from, to) : this.rq<unknown[], DayGroupRow>(sql).all(date, entityId, from, to);
      groups.push(...rows.map(toDayGroup));
    }
    return mergeDayGroups(groups);
  }

  async countersDay(date: string) {
    return this.rq<[string], CounterDayRow>(counterDaySql(() => '?')).all(date).map(toCounterDay);
  }

  async terminalTotals(terminalId: string, date: string) {
    // The business day's window: its payments, and the reversals the terminal made in it
    // (administrative adjustments are not the terminal's doing).
    // An aggregate without GROUP BY: always one row.
    const paid = this.rq<[string, string], CountSumRow>(
      'SELECT count(*) AS n, coalesce(sum(amount_cents), 0) AS s FROM payments WHERE settlement_date = ? AND terminal_id = ?',
    ).get(date, terminalId)!;
    const reversed = this.rq<[string, string], CountSumRow>(
      `SELECT count(*) AS n, coalesce(sum(amount_cents), 0) AS s FROM payments
       WHERE reversal_settlement_date = ? AND reversal_kind = 'reversal' AND terminal_id = ?`,
    ).get(date, terminalId)!;
    return { count: paid.n, amountCents: paid.s, reversalCount: reversed.n, reversalAmountCents: reversed.s };
  }

  // ---------------------------------------------------------------- pagoPA

  async claimPagoPaOutcomes(lapsedBy: number, until: number, limit: number): Promise<PagoPaOutbox[]> {
    return this.written(this.thread.call('claimPagoPaOutcomes', lapsedBy, until, limit));
  }

  async recordPagoPaOutcomes(writes: PagoPaOutcomeWrite[]): Promise<boolean[]> {
    return this.written(this.thread.call('recordPagoPaOutcomes', writes));
  }

  async getPagoPa(paymentId: number): Promise<PagoPaRecord | undefined> {
    return this.pagopaRecords('WHERE payment_id = ?', [paymentId])[0];
  }

  async pagopaPaymentsOfWindow(date: string): Promise<PagoPaRecord[]> {
    return this.pagopaRecords('WHERE payment_id IN (SELECT id FROM payments WHERE settlement_date = ?) ORDER BY payment_id', [date]);
  }

  async pagopaRefundsDue(limit: number): Promise<PagoPaRecord[]> {
    return this.pagopaRecords("WHERE outcome = 'refund_due' ORDER BY payment_id DESC LIMIT ?", [limit]);
  }

  async pagopaSettlementOfWindow(date: string): Promise<PagoPaSettlementRecord[]> {
    const g = PAGOPA_COLUMNS.split(', ').map((c) => `g.${c}`).join(', ');
    const rows = this.rq<[string], PagoPaRow & PagoPaSettlementExtra>(
      `SELECT ${g}, p.entity_id, p.amount_cents,
              (p.reversal_kind = 'reversal' AND p.reversal_settlement_date = p.settlement_date) IS 1 AS reversed_in_window
       FROM pagopa_payments g JOIN payments p ON p.id = g.payment_id WHERE p.settlement_date = ? ORDER BY g.payment_id`,
    ).all(date);
    if (rows.length === 0) return [];
    const transfers = this.rq<[string], PagoPaTransferRow>(
      'SELECT t.payment_id, t.idx, t.amount_cents, t.fiscal_code, t.iban, t.remittance FROM pagopa_transfers t JOIN payments p ON p.id = t.payment_id WHERE p.settlement_date = ?',
    ).all(date);
    return rows.map((r) => ({ ...toPagoPaRecord(r, transfers), entityId: r.entity_id, amountCents: Number(r.amount_cents), reversedInWindow: Boolean(r.reversed_in_window) }));
  }

  async savePagoPaFlows(flows: NewPagoPaFlow[]): Promise<number> {
    if (flows.length === 0) return 0;
    return this.written(this.thread.call('savePagoPaFlows', flows));
  }

  async pagopaFlows(q: { date?: string; pendingOnly?: boolean }): Promise<PagoPaFlow[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (q.date !== undefined) {
      where.push('settlement_date = ?');
      params.push(q.date);
    }
    if (q.pendingOnly) where.push("state = 'pending'");
    return this.rq<string[], PagoPaFlowRow>(`SELECT ${FLOW_COLUMNS} FROM pagopa_flows ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY settlement_date, flow_id`)
      .all(...params)
      .map(toPagoPaFlow);
  }

  async recordPagoPaFlowAttempt(flowId: string, a: PagoPaFlowAttempt): Promise<void> {
    await this.written(this.thread.call('recordPagoPaFlowAttempt', flowId, a));
  }

  private pagopaRecords(where: string, params: (string | number)[]): PagoPaRecord[] {
    const rows = this.rq<(string | number)[], PagoPaRow>(`SELECT ${PAGOPA_COLUMNS} FROM pagopa_payments ${where}`).all(...params);
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.payment_id);
    const transfers = this.rq<number[], PagoPaTransferRow>(
      `SELECT payment_id, idx, amount_cents, fiscal_code, iban, remittance FROM pagopa_transfers WHERE payment_id IN (${ids.map(() => '?').join(', ')})`,
    ).all(...ids);
    return rows.map((r) => toPagoPaRecord(r, transfers));
  }

  async recordEvent(e: Omit<EventRow, 'seq'>): Promise<void> {
    return this.written(this.thread.call('recordEvent', e));
  }

  async eventBounds(): Promise<{ minSeq: number; maxSeq: number }> {
    const r = this.rq<[], { lo: number; hi: number }>('SELECT coalesce(min(seq), 0) AS lo, coalesce(max(seq), 0) AS hi FROM events').get()!;
    // AUTOINCREMENT never reuses a number, so the highest ever given is in sqlite_sequence.
    const seqRow = this.rq<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get();
    return { minSeq: r.lo, maxSeq: Math.max(r.hi, seqRow?.seq ?? 0) };
  }

  async pruneEvents(before: number): Promise<number> {
    return this.written(this.thread.call('pruneEvents', before));
  }

  private notify(events: EventRow[]): void {
    deliver(this.listeners, events);
  }

  onCommit(listener: (events: EventRow[]) => void): void {
    this.listeners.push(listener);
  }

  // ---------------------------------------------------------------- administration
  // Administrative writes run as their own short transactions on the write
  // connection. better-sqlite3 is synchronous, so they can never interleave with a
  // group-commit batch.

  async insertTerminal(t: { id: string; counterId: string; tmkSealed: string; secretHash: string }, audit: AuditEntry) {
    this.terminals.delete(t.id);
    return this.written(this.thread.call('insertTerminal', t, audit, this.clock())).finally(() => this.terminals.delete(t.id));
  }

  async nextTerminalId(): Promise<string> {
    const ids = this.rq<[], string>("SELECT id FROM terminals WHERE id GLOB 'T[0-9]*'").pluck().all();
    const max = ids.reduce((m, id) => Math.max(m, Number(id.slice(1)) || 0), 0);
    return `T${String(max + 1).padStart(4, '0')}`;
  }

  async sealedTerminalKeys(): Promise<{ id: string; tmkSealed: string }[]> {
    return this.rq<[], { id: string; tmkSealed: string }>('SELECT id, tmk_enc AS tmkSealed FROM terminals ORDER BY id').all();
  }

  async resealTerminalKeys(changes: Reseal[], audit: AuditEntry): Promise<void> {
    return this.written(this.thread.call('resealTerminalKeys', changes, audit, this.clock())).finally(() => this.terminals.clear());
  }

  async setTerminalStatus(id: string, status: Terminal['status'], audit: AuditEntry): Promise<boolean> {
    return this.written(this.thread.call('setTerminalStatus', id, status, audit, this.clock())).finally(() => this.terminals.delete(id));
  }

  async rotateTerminalKey(id: string, key: { tmkSealed: string } | { secretHash: string }, audit: AuditEntry): Promise<boolean> {
    return this.written(this.thread.call('rotateTerminalKey', id, key, audit, this.clock())).finally(() => this.terminals.delete(id));
  }

  async acceptSignOn(id: string, transmittedAtMs: number, stan: number): Promise<boolean> {
    return this.written(this.thread.call('acceptSignOn', id, transmittedAtMs, stan));
  }

  async setCounterStatus(id: string, status: Counter['status'], audit: AuditEntry): Promise<boolean> {
    return this.written(this.thread.call('setCounterStatus', id, status, audit, this.clock())).finally(() => this.counters.delete(id));
  }

  async setUserDisabled(username: string, disabled: boolean, audit: AuditEntry): Promise<boolean> {
    return this.written(this.thread.call('setUserDisabled', username, disabled, audit, this.clock()));
  }

  async setCreditLimit(id: string, cents: number, audit: AuditEntry): Promise<boolean> {
    return this.written(this.thread.call('setCreditLimit', id, cents, audit, this.clock())).finally(() => this.counters.delete(id));
  }

  async createPositions(rows: NewPosition[], actor: string): Promise<CreatePositionsResult> {
    if (rows.length <= IMPORT_SLICE) return this.written(this.thread.call('createPositions', rows, actor, this.clock()));
    // A large import: checked here on the read connection, then written in slices (drafts,
    // then published) so that booking goes on between them; all or nothing.
    const errors = await this.conflicts(rows);
    if (errors.length > 0) return { errors };
    const at = this.clock();
    const ids: number[] = [];
    try {
      for (let i = 0; i < rows.length; i += IMPORT_SLICE) {
        ids.push(...(await this.written(this.thread.call('insertDraftPositions', rows.slice(i, i + IMPORT_SLICE), at))));
      }
    } catch (err) {
      // Another import took one of these notices in the meantime (a UNIQUE constraint): nothing stays.
      await this.written(this.thread.call('deleteDraftPositions', ids));
      const detail = err instanceof Error ? err.message : String(err);
      return { errors: [{ row: Math.min(ids.length, rows.length - 1), code: 'CONFLICT', detail: `the import was taken back: ${detail}` }] };
    }
    const byEntity = new Map<string, number>();
    for (const p of rows) byEntity.set(p.entityId, (byEntity.get(p.entityId) ?? 0) + 1);
    for (let i = 0; i < ids.length; i += IMPORT_SLICE) {
      const last = i + IMPORT_SLICE >= ids.length;
      await this.written(this.thread.call('publishPositions', ids.slice(i, i + IMPORT_SLICE), last ? { actor, byEntity: [...byEntity] } : null, at));
    }
    return { ids };
  }

  /** Takes back the drafts of large uploads a crash interrupted; run by the server at start, never by a command. */
  async deleteStaleDrafts(): Promise<number> {
    return this.written(this.thread.call('deleteStaleDrafts'));
  }

  async findImport(scope: string, sha256: string) {
    return this.rq<[string, string], { at: number; positions: number }>('SELECT imported_at AS at, positions FROM position_imports WHERE scope = ? AND sha256 = ?').get(scope, sha256);
  }

  async recordImport(scope: string, sha256: string, positions: number) {
    return this.written(this.thread.call('recordImport', scope, sha256, positions, this.clock()));
  }

  /** Rows whose external reference or notice numbers exist already or repeat within the import. */
  private async conflicts(rows: NewPosition[]): Promise<ImportConflict[]> {
    const check = new ImportCheck(this.r);
    for (let i = 0; i < rows.length; i += IMPORT_SLICE) {
      check.check(rows, i, i + IMPORT_SLICE);
      await new Promise((r) => setImmediate(r)); // let requests in between
    }
    return check.conflicts;
  }

  async cancelPosition(id: number, actor: string) {
    return this.written(this.thread.call('cancelPosition', id, actor, this.clock()));
  }

  async addUser(u: { username: string; role: 'entity' | 'finance' | 'admin'; entityId: string | null; passwordHash: string }) {
    return this.written(this.thread.call('addUser', u, this.clock()));
  }

  // ---------------------------------------------------------------- login throttling and audit (audit.ts)

  async loginFailures(account: string) {
    return Audit.loginFailures(this.r, account);
  }

  async recordLoginFailure(account: string, at: number) {
    return this.written(this.thread.call('recordLoginFailure', account, at));
  }

  async clearLoginFailures(account: string) {
    return this.written(this.thread.call('clearLoginFailures', account));
  }

  async pruneLoginFailures(before: number) {
    return this.written(this.thread.call('pruneLoginFailures', before));
  }

  // ---------------------------------------------------------------- console sessions ended by logout

  async endSession(id: string, until: number, now: number): Promise<void> {
    return this.written(this.thread.call('endSession', id, until, now));
  }

  async sessionEnded(id: string): Promise<boolean> {
    return this.rq<[string]>('SELECT 1 FROM ended_sessions WHERE session_id = ?').get(id) !== undefined;
  }

  async appendAudit(entries: AuditEntry[]) {
    if (entries.length > 0) await this.written(this.thread.call('appendAudit', entries, this.clock()));
  }

  async listAudit(q: AuditQuery, cursor: number | null, limit: number) {
    return Audit.listAudit(this.r, q, cursor, limit);
  }

  async auditChain(afterId: number, limit: number) {
    return Audit.auditChain(this.r, afterId, limit);
  }

  async auditHead() {
    return Audit.auditHead(this.r);
  }

  async getUser(username: string) {
    const r = this.rq<[string], UserRow>('SELECT * FROM users WHERE username = ?').get(username);
    return r && toUser(r);
  }


  // ---------------------------------------------------------------- settlement

  async closeWindow(date: string, at: number): Promise<void> {
    return this.written(this.thread.call('closeWindow', date, at));
  }

  async getWindow(date: string): Promise<WindowRow | undefined> {
    const r = this.rq<[string], WindowDbRow>('SELECT * FROM settlement_windows WHERE date = ?').get(date);
    return r ? toWindow(r) : undefined;
  }

  async listWindows(): Promise<WindowRow[]> {
    return this.rq<[], WindowDbRow>('SELECT * FROM settlement_windows ORDER BY date DESC').all().map(toWindow);
  }

  async windowSums(date: string): Promise<WindowSums> {
    // One read transaction: every sum comes from the same snapshot, while booking goes on.
    // The totals are kept by booking per window and group (window_totals), so this reads
    // a few thousand rows however many payments the window holds.
    return this.r.transaction(() => {
      const rows = this.rq<[string], WindowTotalRow>('SELECT * FROM window_totals WHERE settlement_date = ? AND n <> 0').all(date);
      const movements = this.rq<[string], { kind: string; owner_id: string; amount: number }>(
        `SELECT a.kind, a.owner_id, m.amount_cents AS amount FROM window_movements m
         JOIN ledger_accounts a ON a.id = m.account_id WHERE m.settlement_date = ? ORDER BY a.kind, a.owner_id`,
      )
        .all(date)
        .map((r) => ({ kind: r.kind, ownerId: r.owner_id, amount: r.amount }));
      return windowSumsOf(rows, movements);
    }).deferred();
  }

  async saveDraft(date: string, figures: string, figuresHash: string, at: number): Promise<boolean> {
    return this.written(this.thread.call('saveDraft', date, figures, figuresHash, at));
  }

  async approveWindow(date: string, actor: string, at: number, settledByCounter: Map<string, number>): Promise<WindowRow> {
    return this.written(this.thread.call('approveWindow', date, actor, at, [...settledByCounter]));
  }

  async markExported(date: string, at: number): Promise<void> {
    return this.written(this.thread.call('markExported', date, at));
  }

  async windowLines(q: LinesQuery, cursor: string | null, limit: number) {
    const filters = lineFilters(q, (name) => `@${name}`);
    type LinesParams = { from: string; to: string; entityId: string | null; counterId: string | null; after: number; limit: number };
    const params = { from: q.from, to: q.to, entityId: q.entityId ?? null, counterId: q.counterId ?? null };
    return pageLines(cursor, limit, ({ dateColumn, kind }, after, n) =>
      this.rq<[LinesParams], PaymentLineRow>(
        `SELECT id, public_id, ${kind} AS kind, booked_at, ${dateColumn} AS window, entity_id, service_code, counter_id, terminal_id,
           channel, rrn, receipt_number, amount_cents, fee_cents, fee_commission, fee_operator, fee_royalty, circuit_fee_cents, circuit_fee_mode,
           reversed_at, identifier, (SELECT o.notice_number FROM payment_options o WHERE o.id = payments.option_id) AS notice_number,
           (SELECT s.name FROM services s WHERE s.code = payments.service_code) AS service_name
         FROM payments WHERE ${dateColumn} BETWEEN @from AND @to AND id > @after${filters} ORDER BY id LIMIT @limit`,
      ).all({ ...params, after, limit: n }),
    );
  }

  async rebilledSums(entityId: string, month: string): Promise<RebilledSums[]> {
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new RangeError(`not a month (YYYY-MM): "${month}"`);
    // Windows are business days 'YYYY-MM-DD': the month's are those between -01 and -31.
    const from = `${month}-01`;
    const to = `${month}-31`;
    return this.r.transaction(() => {
      const out: RebilledSums[] = [];
      for (const { dateColumn, kind } of WINDOW_PHASES) {
        const rows = this.rq<[string, string, string], RebilledRow>(
          `SELECT ${kind} AS kind, service_code, circuit_fee_cents AS rate, count(*) AS n, sum(circuit_fee_cents) AS amount
           FROM payments WHERE ${dateColumn} BETWEEN ? AND ? AND entity_id = ? AND circuit_fee_mode = 'rebilled'
           GROUP BY 1, service_code, circuit_fee_cents ORDER BY 1, service_code, circuit_fee_cents`,
        ).all(from, to, entityId);
        for (const r of rows) out.push(toRebilledSums(r));
      }
      return out;
    }).deferred();
  }

  // ---------------------------------------------------------------- operations

  /** One process owns the file: nobody else can be running the job. */
  async exclusively<T>(_job: string, fn: () => Promise<T>): Promise<{ ran: true; value: T }> {
    return { ran: true, value: await fn() };
  }

  async isEmpty(): Promise<boolean> {
    return this.rq<[], number>('SELECT count(*) FROM entities').pluck().get() === 0;
  }

  async seed(catalogue: Catalogue, network: Network, sealed: Map<string, { tmkSealed: string; secretHash: string }>) {
    return this.written(this.thread.call('seed', catalogue, network, [...sealed], this.clock())).finally(() => {
      this.terminals.clear();
      this.counters.clear();
    });
  }

  async checkInvariants(): Promise<InvariantReport> {
    return checkInvariants({ all: async <R>(sql: string) => this.r.prepare<[], R>(sql).all() });
  }

  async close(): Promise<void> {
    await this.writer.close();
    await this.thread.close();
    this.r.close();
  }
}
