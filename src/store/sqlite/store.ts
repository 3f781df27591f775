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
  PositionStatus,
  Store,
  Terminal,
} from '../types.js';
import type { CounterSums, EntityServiceSums, LinesQuery, PaymentLine, RebilledSums, WindowRow, WindowSums } from '../settlement-types.js';
import { openReadConnection, prepareDatabase } from './connection.js';
import { OPTION_VIEW_SQL, PAYMENT_COLUMNS, toCounter, toEvent, toOptionView, toPayment, toTerminal, toWindow, type CounterRow, type EventDbRow, type OptionRow, type PaymentRow, type TerminalRow, type WindowDbRow, type WindowTotalRow } from './rows.js';
import { checkInvariants } from './invariants.js';
import type { CreatePositionsResult } from './write-side.js';
import { WriterThread } from './writer-thread.js';

type Row = Record<string, unknown>;

const MAX_CACHED = 100_000;
/** Positions per transaction of a large import: short enough for booking to go on between them. */
const IMPORT_SLICE = 1000;

function cached<T>(cache: Map<string, T | undefined>, id: string, load: () => T | undefined): T | undefined {
  if (cache.has(id)) return cache.get(id);
  const v = load();
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(id, v);
  return v;
}

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
    this.r = openReadConnection(file);
    this.writer = new GroupCommitWriter({ runBatch: (cmds) => this.runBatch(cmds) });
  }

  private readonly readStatements = new Map<string, Database.Statement>();

  /** Read statements are prepared once and reused (preparing costs more than most reads). */
  private rq<P extends unknown[] = unknown[], R = Row>(sql: string): Database.Statement<P, R> {
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

  get writerStats() {
    return { ...this.writer.stats, queueDepth: this.writer.queueDepth };
  }

  // ---------------------------------------------------------------- writer side

  write(cmd: BookingCommand): Promise<BookingResult> {
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
    const { value, events, committedAt } = await call;
    if (events.length > 0) {
      for (const e of events) e.committedAt = committedAt;
      this.notify(events);
    }
    return value;
  }

  // ---------------------------------------------------------------- reads

  async loadCatalogue(): Promise<CatalogueSnapshot> {
    const entities = new Map<string, CatalogueSnapshot['entities'] extends Map<string, infer E> ? E : never>();
    const fees = this.rq('SELECT * FROM circuit_fees ORDER BY entity_id, effective_from').all() as Row[];
    for (const e of this.rq('SELECT * FROM entities ORDER BY id').all() as Row[]) {
      const f = fees.filter((x) => x.entity_id === e.id).at(-1);
      entities.set(e.id as string, {
        id: e.id as string,
        name: e.name as string,
        fiscalCode: e.fiscal_code as string,
        iban: e.iban as string,
        isCircuitOwner: e.is_circuit_owner === 1,
        segregationCode: (e.segregation_code as string | null) ?? null,
        circuitFee: f
          ? { effectiveFrom: f.effective_from as string, feeCents: f.fee_cents as number, mode: f.mode as 'netted' | 'rebilled' }
          : null,
      });
    }
    const services = new Map<string, CatalogueSnapshot['services'] extends Map<string, infer S> ? S : never>();
    for (const s of this.rq('SELECT * FROM services ORDER BY rowid').all() as Row[]) {
      services.set(s.code as string, {
        code: s.code as string,
        name: s.name as string,
        entityId: s.entity_id as string,
        amountKind: s.amount_kind as 'L' | 'F' | 'C' | 'S',
        identifierKind: s.identifier_kind as never,
        rule: (s.rule as 'multa' | 'bollo' | null) ?? null,
        fixedCents: (s.fixed_cents as number | null) ?? null,
        minCents: (s.min_cents as number | null) ?? null,
        maxCents: (s.max_cents as number | null) ?? null,
        enabled: s.enabled === 1,
      });
    }
    const feeSchedules: CatalogueSnapshot['feeSchedules'] = new Map();
    for (const f of this.rq('SELECT * FROM fee_schedules ORDER BY service_code, counter_kind, effective_from')
      .all() as Row[]) {
      const key = `${f.service_code as string}/${f.counter_kind as string}`;
      const list = feeSchedules.get(key) ?? [];
      list.push({
        serviceCode: f.service_code as string,
        counterKind: f.counter_kind as never,
        effectiveFrom: f.effective_from as string,
        feeRule: JSON.parse(f.fee_rule as string),
        commissionRate: f.commission_rate as string,
        royaltyCents: f.royalty_cents as number,
      });
      feeSchedules.set(key, list);
    }
    const circuitFees: CatalogueSnapshot['circuitFees'] = new Map();
    for (const f of fees) {
      const list = circuitFees.get(f.entity_id as string) ?? [];
      list.push({ effectiveFrom: f.effective_from as string, feeCents: f.fee_cents as number, mode: f.mode as 'netted' | 'rebilled' });
      circuitFees.set(f.entity_id as string, list);
    }
    const owner = [...entities.values()].find((e) => e.isCircuitOwner);
    if (!owner) throw new Error('the catalogue has no circuit owner; run `tserve seed`');
    return { entities, services, feeSchedules, circuitFees, owner };
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
    const rows = (
      counterId
        ? this.rq('SELECT id, counter_id, status, created_at FROM terminals WHERE counter_id = ? ORDER BY id').all(counterId)
        : this.rq('SELECT id, counter_id, status, created_at FROM terminals ORDER BY id').all()
    ) as Row[];
    return rows.map((r) => ({
      id: r.id as string,
      counterId: r.counter_id as string,
      status: r.status as Terminal['status'],
      createdAt: r.created_at as number,
    }));
  }

  async counterExposure(counterId: string): Promise<number> {
    const v = this.rq(
      `SELECT coalesce((SELECT b.balance_cents FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
                        WHERE a.kind = 'counter_cash' AND a.owner_id = c.id), 0) - c.settled_cents
       FROM counters c WHERE c.id = ?`,
    )
      .pluck()
      .get(counterId) as number | undefined;
    return v ?? 0;
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

  private positionView(p: Row): DebtPositionView {
    const options = this.rq<[unknown], OptionRow>(`${OPTION_VIEW_SQL} WHERE o.position_id = ? ORDER BY o.kind DESC, o.instalment_no`)
      .all(p.id)
      .map(toOptionView);
    return {
      id: p.id as number,
      entityId: p.entity_id as string,
      serviceCode: p.service_code as string,
      externalRef: p.external_ref as string,
      debtorCf: p.debtor_cf as string,
      debtorName: (p.debtor_name as string | null) ?? null,
      description: p.description as string,
      status: p.status as PositionStatus,
      validUntil: (p.valid_until as string | null) ?? null,
      createdAt: p.created_at as number,
      options: options.map((o) => ({
        optionId: o.optionId,
        noticeNumber: o.noticeNumber,
        lookupKey: o.lookupKey,
        kind: o.kind,
        instalmentNo: o.instalmentNo,
        amountCents: o.amountCents,
        dueDate: o.dueDate,
        description: o.description,
        ruleParams: o.ruleParams,
        paidPaymentId: o.paidPaymentId,
      })),
    };
  }

  async getPosition(id: number): Promise<DebtPositionView | undefined> {
    const p = this.rq('SELECT * FROM debt_positions WHERE id = ?').get(id) as Row | undefined;
    return p ? this.positionView(p) : undefined;
  }

  async listPositions(entityId: string, cursor: number, limit: number): Promise<Page<DebtPositionView>> {
    const rows = this.rq('SELECT * FROM debt_positions WHERE entity_id = ? AND id > ? ORDER BY id LIMIT ?')
      .all(entityId, cursor, limit + 1) as Row[];
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

  async hasReversalAdvice(terminalId: string, key: string): Promise<boolean> {
    return this.rq('SELECT 1 FROM reversal_advices WHERE terminal_id = ? AND key = ?').get(terminalId, key) !== undefined;
  }

  async getIdempotency(terminalId: string, key: string): Promise<IdempotencyRecord | undefined> {
    const r = this.rq('SELECT terminal_id, key, request_hash, status, response, payment_id FROM idempotency_records WHERE terminal_id = ? AND key = ?')
      .get(terminalId, key) as Row | undefined;
    return r
      ? {
          terminalId: r.terminal_id as string,
          key: r.key as string,
          requestHash: r.request_hash as string,
          status: r.status as number,
          response: r.response as string,
          paymentId: (r.payment_id as number | null) ?? null,
        }
      : undefined;
  }

  async eventsAfter(seq: number, limit: number): Promise<EventRow[]> {
    return this.rq<[number, number], EventDbRow>('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit).map(toEvent);
  }

  async terminalTotals(terminalId: string, date: string) {
    // The business day's window: its payments, and the reversals the terminal made in it
    // (administrative adjustments are not the terminal's doing).
    const paid = this.rq(
      'SELECT count(*) AS n, coalesce(sum(amount_cents), 0) AS s FROM payments WHERE settlement_date = ? AND terminal_id = ?',
    ).get(date, terminalId) as Row;
    const reversed = this.rq(
      `SELECT count(*) AS n, coalesce(sum(amount_cents), 0) AS s FROM payments
       WHERE reversal_settlement_date = ? AND reversal_kind = 'reversal' AND terminal_id = ?`,
    ).get(date, terminalId) as Row;
    return {
      count: paid.n as number,
      amountCents: paid.s as number,
      reversalCount: reversed.n as number,
      reversalAmountCents: reversed.s as number,
    };
  }

  async recordEvent(e: Omit<EventRow, 'seq'>): Promise<void> {
    return this.written(this.thread.call('recordEvent', e));
  }

  async eventBounds(): Promise<{ minSeq: number; maxSeq: number }> {
    const r = this.rq('SELECT coalesce(min(seq), 0) AS lo, coalesce(max(seq), 0) AS hi FROM events').get() as Row;
    // AUTOINCREMENT never reuses a number, so the highest ever given is in sqlite_sequence.
    const seqRow = this.rq("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as Row | undefined;
    return { minSeq: r.lo as number, maxSeq: Math.max(r.hi as number, (seqRow?.seq as number | undefined) ?? 0) };
  }

  async pruneEvents(before: number): Promise<number> {
    return this.written(this.thread.call('pruneEvents', before));
  }

  private notify(events: EventRow[]): void {
    for (const l of this.listeners) {
      try {
        l(events);
      } catch (err) {
        logger.error('event listener failed', { error: err instanceof Error ? err.stack : String(err) });
      }
    }
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

  async setTerminalStatus(id: string, status: Terminal['status'], audit: AuditEntry): Promise<boolean> {
    return this.written(this.thread.call('setTerminalStatus', id, status, audit, this.clock())).finally(() => this.terminals.delete(id));
  }

  async setCounterStatus(id: string, status: Counter['status'], audit: AuditEntry): Promise<boolean> {
    return this.written(this.thread.call('setCounterStatus', id, status, audit, this.clock())).finally(() => this.counters.delete(id));
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

  /** Rows whose external reference or notice numbers exist already or repeat within the import. */
  private async conflicts(rows: NewPosition[]): Promise<{ row: number; code: 'CONFLICT'; detail: string }[]> {
    const errors: { row: number; code: 'CONFLICT'; detail: string }[] = [];
    const noticeExists = this.rq<[string], number>('SELECT 1 FROM payment_options WHERE notice_number = ?').pluck();
    const refExists = this.rq<[string, string], number>('SELECT 1 FROM debt_positions WHERE entity_id = ? AND external_ref = ?').pluck();
    const seenNotices = new Set<string>();
    const seenRefs = new Set<string>();
    for (let i = 0; i < rows.length; i++) {
      if (i % IMPORT_SLICE === 0) await new Promise((r) => setImmediate(r)); // let requests in between
      const p = rows[i]!;
      const ref = `${p.entityId}/${p.externalRef}`;
      if (seenRefs.has(ref) || refExists.get(p.entityId, p.externalRef) !== undefined) {
        errors.push({ row: i, code: 'CONFLICT', detail: `externalRef ${p.externalRef} already exists` });
      }
      seenRefs.add(ref);
      for (const o of p.options) {
        if (seenNotices.has(o.noticeNumber) || noticeExists.get(o.noticeNumber) !== undefined) {
          errors.push({ row: i, code: 'CONFLICT', detail: `notice number ${o.noticeNumber} already exists` });
        }
        seenNotices.add(o.noticeNumber);
      }
    }
    return errors;
  }

  async cancelPosition(id: number, actor: string) {
    return this.written(this.thread.call('cancelPosition', id, actor, this.clock()));
  }

  async addUser(u: { username: string; role: 'entity' | 'finance' | 'admin'; entityId: string | null; passwordHash: string }) {
    return this.written(this.thread.call('addUser', u, this.clock()));
  }

  async getUser(username: string) {
    const r = this.rq('SELECT * FROM users WHERE username = ?').get(username) as Row | undefined;
    return r
      ? {
          username: r.username as string,
          role: r.role as 'entity' | 'finance' | 'admin',
          entityId: (r.entity_id as string | null) ?? null,
          passwordHash: r.password_hash as string,
        }
      : undefined;
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
      const entities = new Map<string, EntityServiceSums>();
      const counters = new Map<string, CounterSums>();
      const rows = this.rq<[string], WindowTotalRow>('SELECT * FROM window_totals WHERE settlement_date = ? AND n <> 0').all(date);
      for (const r of rows) {
        const ek = `${r.kind}|${r.entity_id}|${r.service_code}`;
        const e = entities.get(ek) ?? { kind: r.kind, entityId: r.entity_id, serviceCode: r.service_code, count: 0, amount: 0, fee: 0, circuitNetted: 0, circuitRebilled: 0 };
        e.count += r.n;
        e.amount += r.amount_cents;
        e.fee += r.fee_cents;
        e.circuitNetted += r.netted;
        e.circuitRebilled += r.rebilled;
        entities.set(ek, e);
        const ck = `${r.kind}|${r.counter_id}`;
        const c = counters.get(ck) ?? { kind: r.kind, counterId: r.counter_id, count: 0, amount: 0, fee: 0, commission: 0, operator: 0, royalty: 0 };
        c.count += r.n;
        c.amount += r.amount_cents;
        c.fee += r.fee_cents;
        c.commission += r.commission;
        c.operator += r.operator;
        c.royalty += r.royalty;
        counters.set(ck, c);
      }
      const order = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
      const movements = this.rq<[string], { kind: string; owner_id: string; amount: number }>(
        `SELECT a.kind, a.owner_id, m.amount_cents AS amount FROM window_movements m
         JOIN ledger_accounts a ON a.id = m.account_id WHERE m.settlement_date = ? ORDER BY a.kind, a.owner_id`,
      )
        .all(date)
        .map((r) => ({ kind: r.kind, ownerId: r.owner_id, amount: r.amount }));
      return { byEntityService: order(entities), byCounter: order(counters), movements };
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
    const m = cursor ? /^([bc]):(\d+)$/.exec(cursor) : null;
    let phase: 'b' | 'c' = m ? (m[1] as 'b' | 'c') : 'b';
    let after = m ? Number(m[2]) : 0;
    const lines: PaymentLine[] = [];
    const filters = [q.entityId ? 'entity_id = @entityId' : '', q.counterId ? 'counter_id = @counterId' : '', q.rebilledOnly ? "circuit_fee_mode = 'rebilled'" : '']
      .filter(Boolean)
      .map((f) => ` AND ${f}`)
      .join('');
    const params = { from: q.from, to: q.to, entityId: q.entityId ?? null, counterId: q.counterId ?? null };
    while (lines.length < limit) {
      const [dateColumn, kind] = phase === 'b' ? ['settlement_date', "'booking'"] : ['reversal_settlement_date', 'reversal_kind'];
      const rows = this.rq(
        `SELECT id, public_id, ${kind} AS kind, booked_at, ${dateColumn} AS window, entity_id, service_code, counter_id, terminal_id,
           channel, rrn, receipt_number, amount_cents, fee_cents, fee_commission, fee_operator, fee_royalty, circuit_fee_cents, circuit_fee_mode
         FROM payments WHERE ${dateColumn} BETWEEN @from AND @to AND id > @after${filters} ORDER BY id LIMIT @limit`,
      ).all({ ...params, after, limit: limit - lines.length }) as Row[];
      for (const r of rows) {
        lines.push({
          id: r.id as number,
          paymentId: r.public_id as string,
          kind: r.kind as PaymentLine['kind'],
          bookedAt: r.booked_at as number,
          settlementDate: r.window as string,
          entityId: r.entity_id as string,
          serviceCode: r.service_code as string,
          counterId: r.counter_id as string,
          terminalId: r.terminal_id as string,
          channel: r.channel as string,
          rrn: r.rrn as string,
          receiptNumber: r.receipt_number as string,
          amount: r.amount_cents as number,
          fee: r.fee_cents as number,
          commission: r.fee_commission as number,
          operator: r.fee_operator as number,
          royalty: r.fee_royalty as number,
          circuitFee: r.circuit_fee_cents as number,
          circuitFeeMode: (r.circuit_fee_mode as string | null) ?? null,
        });
      }
      if (lines.length >= limit) {
        after = lines.at(-1)!.id;
        break;
      }
      if (phase === 'c') return { lines, nextCursor: null };
      phase = 'c';
      after = 0;
    }
    return { lines, nextCursor: `${phase}:${after}` };
  }

  async rebilledSums(entityId: string, month: string): Promise<RebilledSums[]> {
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new RangeError(`not a month (YYYY-MM): "${month}"`);
    // Windows are business days 'YYYY-MM-DD': the month's are those between -01 and -31.
    const from = `${month}-01`;
    const to = `${month}-31`;
    return this.r.transaction(() => {
      const out: RebilledSums[] = [];
      for (const [dateColumn, kind] of [
        ['settlement_date', "'booking'"],
        ['reversal_settlement_date', 'reversal_kind'],
      ] as const) {
        const rows = this.rq(
          `SELECT ${kind} AS kind, service_code, circuit_fee_cents AS rate, count(*) AS n, sum(circuit_fee_cents) AS amount
           FROM payments WHERE ${dateColumn} BETWEEN ? AND ? AND entity_id = ? AND circuit_fee_mode = 'rebilled'
           GROUP BY 1, service_code, circuit_fee_cents ORDER BY 1, service_code, circuit_fee_cents`,
        ).all(from, to, entityId) as Row[];
        for (const r of rows) {
          out.push({
            kind: r.kind as RebilledSums['kind'],
            serviceCode: r.service_code as string,
            rate: r.rate as number,
            count: r.n as number,
            amount: r.amount as number,
          });
        }
      }
      return out;
    }).deferred();
  }

  // ---------------------------------------------------------------- operations

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
    return checkInvariants(this.r);
  }

  async close(): Promise<void> {
    await this.writer.close();
    await this.thread.close();
    this.r.close();
  }
}
