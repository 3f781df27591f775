// The embedded SQLite store: WAL, synchronous=FULL, one write connection driven by
// the group-commit writer, one read connection for everything else.
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Catalogue, Network, RuleParams } from '../domain/model.js';
import { Ledger, LedgerInvariantError, type BatchOutcome } from '../ledger/book.js';
import type { BookingCommand, BookingResult } from '../ledger/commands.js';
import { SqliteLedgerTx } from './sqlite/ledger-tx.js';
import { systemClock, type Clock } from '../clock.js';
import { GroupCommitWriter } from '../ledger/writer.js';
import { projectFile } from '../paths.js';
import { logger } from '../log.js';
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
  StoreRefusalCode,
  Terminal,
} from './types.js';
import type { CounterSums, EntityServiceSums, LinesQuery, PaymentLine, RebilledSums, WindowRow, WindowSums } from './settlement-types.js';

type Row = Record<string, unknown>;
const SCHEMA_VERSION = '1';

function openConnection(file: string, readonly: boolean): Database.Database {
  const db = new Database(file, { readonly, fileMustExist: readonly });
  db.pragma('busy_timeout = 5000');
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before the writer resolves, so nothing acknowledged is lost.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('cache_size = -65536'); // 64 MiB: the hot index pages of a day stay in memory
  }
  return db;
}

const PAYMENT_COLUMNS = `id, public_id, channel, terminal_id, counter_id, counter_kind, entity_id, service_code,
  identifier, option_id, payer_cf, amount_cents, fee_cents, fee_commission, fee_operator, fee_royalty,
  circuit_fee_cents, circuit_fee_mode, stan, rrn, approval_code, receipt_number, description, booked_at,
  settlement_date, reversed_at, reversal_settlement_date, reversal_kind`;

function toPayment(r: Row): Payment {
  return {
    id: r.id as number,
    publicId: r.public_id as string,
    channel: r.channel as Payment['channel'],
    terminalId: r.terminal_id as string,
    counterId: r.counter_id as string,
    counterKind: r.counter_kind as Payment['counterKind'],
    entityId: r.entity_id as string,
    serviceCode: r.service_code as string,
    identifier: r.identifier as string,
    optionId: (r.option_id as number | null) ?? null,
    payerCf: (r.payer_cf as string | null) ?? null,
    amountCents: r.amount_cents as number,
    feeCents: r.fee_cents as number,
    feeCommission: r.fee_commission as number,
    feeOperator: r.fee_operator as number,
    feeRoyalty: r.fee_royalty as number,
    circuitFeeCents: r.circuit_fee_cents as number,
    circuitFeeMode: (r.circuit_fee_mode as Payment['circuitFeeMode']) ?? null,
    stan: (r.stan as string | null) ?? null,
    rrn: r.rrn as string,
    approvalCode: r.approval_code as string,
    receiptNumber: r.receipt_number as string,
    description: r.description as string,
    bookedAt: r.booked_at as number,
    settlementDate: r.settlement_date as string,
    reversedAt: (r.reversed_at as number | null) ?? null,
    reversalSettlementDate: (r.reversal_settlement_date as string | null) ?? null,
    reversalKind: (r.reversal_kind as Payment['reversalKind']) ?? null,
  };
}

const OPTION_VIEW_SQL = `SELECT o.id AS option_id, o.position_id, p.entity_id, p.service_code, o.notice_number,
  o.lookup_key, o.kind, o.instalment_no, o.amount_cents, o.due_date, o.description, o.rule_params,
  o.paid_payment_id, p.status AS position_status, p.valid_until, p.debtor_cf
  FROM payment_options o JOIN debt_positions p ON p.id = o.position_id`;

function toOptionView(r: Row): OptionView {
  return {
    optionId: r.option_id as number,
    positionId: r.position_id as number,
    entityId: r.entity_id as string,
    serviceCode: r.service_code as string,
    noticeNumber: r.notice_number as string,
    lookupKey: (r.lookup_key as string | null) ?? null,
    kind: r.kind as OptionView['kind'],
    instalmentNo: (r.instalment_no as number | null) ?? null,
    amountCents: r.amount_cents as number,
    dueDate: r.due_date as string,
    description: r.description as string,
    ruleParams: r.rule_params ? (JSON.parse(r.rule_params as string) as RuleParams) : null,
    paidPaymentId: (r.paid_payment_id as number | null) ?? null,
    positionStatus: r.position_status as PositionStatus,
    validUntil: (r.valid_until as string | null) ?? null,
    debtorCf: r.debtor_cf as string,
  };
}

function toCounter(r: Row): Counter {
  return {
    id: r.id as string,
    kind: r.kind as Counter['kind'],
    name: r.name as string,
    address: r.address as string,
    town: r.town as string,
    iban: r.iban as string,
    mandateRef: r.mandate_ref as string,
    creditLimitCents: r.credit_limit_cents as number,
    status: r.status as Counter['status'],
  };
}

function toWindow(r: Row): WindowRow {
  return {
    date: r.date as string,
    status: r.status as WindowRow['status'],
    closedAt: r.closed_at as number,
    computedAt: (r.computed_at as number | null) ?? null,
    figures: (r.figures as string | null) ?? null,
    figuresHash: (r.figures_hash as string | null) ?? null,
    approvedAt: (r.approved_at as number | null) ?? null,
    approvedBy: (r.approved_by as string | null) ?? null,
    exportedAt: (r.exported_at as number | null) ?? null,
  };
}

function toEvent(r: Row): EventRow {
  return {
    seq: r.seq as number,
    type: r.type as string,
    at: r.at as number,
    terminalId: (r.terminal_id as string | null) ?? null,
    counterId: (r.counter_id as string | null) ?? null,
    entityId: (r.entity_id as string | null) ?? null,
    serviceCode: (r.service_code as string | null) ?? null,
    payload: JSON.parse(r.payload as string) as Record<string, unknown>,
  };
}

export class SqliteStore implements Store {
  private readonly w: Database.Database;
  private readonly r: Database.Database;
  private readonly writer: GroupCommitWriter<BookingCommand, BookingResult>;
  private readonly listeners: ((events: EventRow[]) => void)[] = [];
  private ledgerTx: SqliteLedgerTx;
  private ledger: Ledger;

  static open(file: string, clock: Clock = systemClock): SqliteStore {
    mkdirSync(path.dirname(file), { recursive: true });
    const store = new SqliteStore(file, clock);
    // The database holds secret hashes and sealed keys: owner-only, like the key files.
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    return store;
  }

  private constructor(
    file: string,
    /** Timestamps of administrative rows and events (audit, terminals, users, seed). */
    private readonly clock: Clock,
  ) {
    this.w = openConnection(file, false);
    this.w.exec(readFileSync(projectFile('schema.sql'), 'utf8'));
    this.w.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)`).run(SCHEMA_VERSION);
    this.r = openConnection(file, true);
    this.ledgerTx = new SqliteLedgerTx(this.w);
    this.ledger = new Ledger(this.ledgerTx);
    this.writer = new GroupCommitWriter({ runBatch: (cmds) => this.runBatch(cmds) });
  }

  private readonly readStatements = new Map<string, Database.Statement>();

  /** Read statements are prepared once and reused (preparing costs more than most reads). */
  private rq(sql: string): Database.Statement {
    let st = this.readStatements.get(sql);
    if (!st) {
      st = this.r.prepare(sql);
      this.readStatements.set(sql, st);
    }
    return st;
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

  private runBatch(commands: BookingCommand[]): BookingResult[] {
    let outcome: BatchOutcome;
    try {
      outcome = this.ledger.runBatch(commands);
    } catch (err) {
      if (err instanceof LedgerInvariantError) {
        logger.error('LEDGER INVARIANT BROKEN: the batch was rolled back and refused', { commands: commands.length, error: err.message });
      }
      throw err;
    }
    // The batch is committed: a failing listener must not turn it into a failure.
    if (outcome.events.length > 0) {
      const committedAt = performance.timeOrigin + performance.now();
      for (const e of outcome.events) e.committedAt = committedAt;
      this.notify(outcome.events);
    }
    return outcome.results;
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
    const r = this.rq('SELECT * FROM counters WHERE id = ?').get(id) as Row | undefined;
    return r ? toCounter(r) : undefined;
  }

  async listCounters(): Promise<Counter[]> {
    return (this.rq('SELECT * FROM counters ORDER BY id').all() as Row[]).map(toCounter);
  }

  async getTerminal(id: string): Promise<Terminal | undefined> {
    const r = this.rq('SELECT * FROM terminals WHERE id = ?').get(id) as Row | undefined;
    return r
      ? {
          id: r.id as string,
          counterId: r.counter_id as string,
          status: r.status as Terminal['status'],
          tmkSealed: r.tmk_enc as string,
          secretHash: r.secret_hash as string,
          createdAt: r.created_at as number,
        }
      : undefined;
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
    const r = this.rq(`${OPTION_VIEW_SQL} WHERE o.notice_number = ?`).get(noticeNumber) as Row | undefined;
    return r ? toOptionView(r) : undefined;
  }

  async getOption(optionId: number): Promise<OptionView | undefined> {
    const r = this.rq(`${OPTION_VIEW_SQL} WHERE o.id = ?`).get(optionId) as Row | undefined;
    return r ? toOptionView(r) : undefined;
  }

  async findOptionsByLookup(serviceCode: string, lookupKey: string): Promise<OptionView[]> {
    return (
      this.rq(`${OPTION_VIEW_SQL} WHERE o.lookup_key = ? AND p.service_code = ? ORDER BY o.due_date, o.id`)
        .all(lookupKey, serviceCode) as Row[]
    ).map(toOptionView);
  }

  private positionView(p: Row): DebtPositionView {
    const options = (
      this.rq(`${OPTION_VIEW_SQL} WHERE o.position_id = ? ORDER BY o.kind DESC, o.instalment_no`).all(p.id) as Row[]
    ).map(toOptionView);
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
    const r = this.rq(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE public_id = ?`).get(publicId) as Row | undefined;
    return r ? toPayment(r) : undefined;
  }

  async getPaymentById(id: number): Promise<Payment | undefined> {
    const r = this.rq(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ?`).get(id) as Row | undefined;
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
    return (this.rq('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit) as Row[]).map(toEvent);
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
    this.tx(() => this.emitNow(e));
  }

  async eventBounds(): Promise<{ minSeq: number; maxSeq: number }> {
    const r = this.rq('SELECT coalesce(min(seq), 0) AS lo, coalesce(max(seq), 0) AS hi FROM events').get() as Row;
    // AUTOINCREMENT never reuses a number, so the highest ever given is in sqlite_sequence.
    const seqRow = this.rq("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as Row | undefined;
    return { minSeq: r.lo as number, maxSeq: Math.max(r.hi as number, (seqRow?.seq as number | undefined) ?? 0) };
  }

  async pruneEvents(before: number): Promise<number> {
    return this.w
      .prepare('DELETE FROM events WHERE at < ? AND seq < (SELECT max(seq) FROM events)')
      .run(before).changes;
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

  private audit(a: AuditEntry): void {
    this.ledgerTx.audit(a, this.clock());
  }

  /** Events written by the administrative transaction in progress, published once it commits. */
  private txEvents: EventRow[] | null = null;

  /**
   * Runs an administrative write as one transaction; the events it wrote reach the
   * stream only after the commit, so a rolled-back event is never published.
   */
  private tx<T>(fn: () => T): T {
    const outer = this.txEvents === null;
    if (outer) this.txEvents = [];
    try {
      const result = this.w.transaction(fn)();
      if (outer) {
        const events = this.txEvents!;
        this.txEvents = null;
        if (events.length > 0) this.notify(events);
      }
      return result;
    } catch (err) {
      if (outer) this.txEvents = null;
      throw err;
    }
  }

  private emitNow(e: Omit<EventRow, 'seq'>): void {
    if (this.txEvents === null) throw new Error('emitNow outside tx()');
    this.txEvents.push({ ...e, seq: this.ledgerTx.insertEvent(e) });
  }

  async insertTerminal(t: { id: string; counterId: string; tmkSealed: string; secretHash: string }, audit: AuditEntry) {
    this.tx(() => {
      this.w
        .prepare('INSERT INTO terminals (id, counter_id, status, tmk_enc, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(t.id, t.counterId, 'active', t.tmkSealed, t.secretHash, this.clock());
      this.audit(audit);
    });
  }

  async nextTerminalId(): Promise<string> {
    const ids = this.rq("SELECT id FROM terminals WHERE id GLOB 'T[0-9]*'").pluck().all() as string[];
    const max = ids.reduce((m, id) => Math.max(m, Number(id.slice(1)) || 0), 0);
    return `T${String(max + 1).padStart(4, '0')}`;
  }

  async setTerminalStatus(id: string, status: Terminal['status'], audit: AuditEntry): Promise<boolean> {
    return this.tx(() => {
      const row = this.w.prepare('SELECT counter_id FROM terminals WHERE id = ?').get(id) as Row | undefined;
      if (!row) return false;
      this.w.prepare('UPDATE terminals SET status = ? WHERE id = ?').run(status, id);
      this.audit(audit);
      this.emitNow({
        type: status === 'blocked' ? 'terminal.blocked' : 'terminal.unblocked',
        at: this.clock(),
        terminalId: id,
        counterId: row.counter_id as string,
        entityId: null,
        serviceCode: null,
        payload: { terminalId: id, counterId: row.counter_id },
      });
      return true;
    });
  }

  async setCounterStatus(id: string, status: Counter['status'], audit: AuditEntry): Promise<boolean> {
    return this.tx(() => {
      if (this.w.prepare('UPDATE counters SET status = ? WHERE id = ?').run(status, id).changes !== 1) return false;
      this.audit(audit);
      this.emitNow({
        type: status === 'suspended' ? 'counter.suspended' : 'counter.reactivated',
        at: this.clock(),
        terminalId: null,
        counterId: id,
        entityId: null,
        serviceCode: null,
        payload: { counterId: id },
      });
      return true;
    });
  }

  async setCreditLimit(id: string, cents: number, audit: AuditEntry): Promise<boolean> {
    return this.tx(() => {
      if (this.w.prepare('UPDATE counters SET credit_limit_cents = ? WHERE id = ?').run(cents, id).changes !== 1) return false;
      this.audit(audit);
      return true;
    });
  }

  async createPositions(rows: NewPosition[], actor: string) {
    const errors: { row: number; code: StoreRefusalCode; detail: string }[] = [];
    const noticeExists = this.w.prepare('SELECT 1 FROM payment_options WHERE notice_number = ?').pluck();
    const refExists = this.w.prepare('SELECT 1 FROM debt_positions WHERE entity_id = ? AND external_ref = ?').pluck();
    const insertPosition = this.w.prepare(
      `INSERT INTO debt_positions (entity_id, service_code, external_ref, debtor_cf, debtor_name, description, status, valid_until, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 'VALID', ?, ?)`,
    );
    const insertOption = this.w.prepare(
      `INSERT INTO payment_options (position_id, notice_number, lookup_key, kind, instalment_no, amount_cents, due_date, description, rule_params)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const now = this.clock();
    const ids = this.tx(() => {
      const seenNotices = new Set<string>();
      const seenRefs = new Set<string>();
      rows.forEach((p, i) => {
        const ref = `${p.entityId}/${p.externalRef}`;
        if (seenRefs.has(ref) || refExists.get(p.entityId, p.externalRef)) {
          errors.push({ row: i, code: 'CONFLICT', detail: `externalRef ${p.externalRef} already exists` });
        }
        seenRefs.add(ref);
        for (const o of p.options) {
          if (seenNotices.has(o.noticeNumber) || noticeExists.get(o.noticeNumber)) {
            errors.push({ row: i, code: 'CONFLICT', detail: `notice number ${o.noticeNumber} already exists` });
          }
          seenNotices.add(o.noticeNumber);
        }
      });
      if (errors.length > 0) return [];
      const ids = rows.map((p) => {
        const id = Number(
          insertPosition.run(p.entityId, p.serviceCode, p.externalRef, p.debtorCf, p.debtorName, p.description, p.validUntil, now)
            .lastInsertRowid,
        );
        for (const o of p.options) {
          insertOption.run(
            id,
            o.noticeNumber,
            o.lookupKey,
            o.kind,
            o.instalmentNo,
            o.amountCents,
            o.dueDate,
            o.description,
            o.ruleParams ? JSON.stringify(o.ruleParams) : null,
          );
        }
        return id;
      });
      const byEntity = new Map<string, number>();
      for (const p of rows) byEntity.set(p.entityId, (byEntity.get(p.entityId) ?? 0) + 1);
      for (const [entityId, count] of byEntity) {
        this.audit({ actor, action: 'positions.create', target: entityId, detail: { count } });
        this.emitNow({
          type: 'notices.imported',
          at: now,
          terminalId: null,
          counterId: null,
          entityId,
          serviceCode: null,
          payload: { entityId, positions: count },
        });
      }
      return ids;
    });
    return errors.length > 0 ? { errors } : { ids };
  }

  async cancelPosition(id: number, actor: string) {
    return this.tx(() => {
      const p = this.w.prepare('SELECT status, entity_id FROM debt_positions WHERE id = ?').get(id) as Row | undefined;
      if (!p) return { ok: false as const, code: 'NOT_FOUND' as StoreRefusalCode, detail: `no debt position ${id}` };
      if (p.status === 'INVALID') return { ok: true as const };
      if (p.status === 'PAID' || p.status === 'PARTIALLY_PAID') {
        return { ok: false as const, code: 'CONFLICT' as StoreRefusalCode, detail: `position ${id} is ${p.status as string} and cannot be cancelled` };
      }
      this.w.prepare("UPDATE debt_positions SET status = 'INVALID' WHERE id = ?").run(id);
      this.audit({ actor, action: 'positions.cancel', target: String(id) });
      return { ok: true as const };
    });
  }

  async addUser(u: { username: string; role: 'entity' | 'finance' | 'admin'; entityId: string | null; passwordHash: string }) {
    this.w
      .prepare(
        `INSERT INTO users (username, role, entity_id, password_hash, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (username) DO UPDATE SET role = excluded.role, entity_id = excluded.entity_id, password_hash = excluded.password_hash`,
      )
      .run(u.username, u.role, u.entityId, u.passwordHash, this.clock());
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
    this.w.prepare("INSERT OR IGNORE INTO settlement_windows (date, status, closed_at) VALUES (?, 'closed', ?)").run(date, at);
  }

  async getWindow(date: string): Promise<WindowRow | undefined> {
    const r = this.rq('SELECT * FROM settlement_windows WHERE date = ?').get(date) as Row | undefined;
    return r ? toWindow(r) : undefined;
  }

  async listWindows(): Promise<WindowRow[]> {
    return (this.rq('SELECT * FROM settlement_windows ORDER BY date DESC').all() as Row[]).map(toWindow);
  }

  async windowSums(date: string): Promise<WindowSums> {
    // One read transaction: every sum comes from the same snapshot, while booking goes on.
    return this.r.transaction(() => {
      // One scan per kind (bookings, cancellations), grouped finely enough to give both
      // the per-entity-and-service and the per-counter sums: half the reading of two scans.
      const entities = new Map<string, EntityServiceSums>();
      const counters = new Map<string, CounterSums>();
      const sql = (where: string, kind: string) => `SELECT ${kind} AS kind, entity_id, service_code, counter_id, count(*) AS n,
          sum(amount_cents) AS amount, sum(fee_cents) AS fee, sum(fee_commission) AS commission,
          sum(fee_operator) AS operator, sum(fee_royalty) AS royalty,
          sum(CASE WHEN circuit_fee_mode = 'netted' THEN circuit_fee_cents ELSE 0 END) AS netted,
          sum(CASE WHEN circuit_fee_mode = 'rebilled' THEN circuit_fee_cents ELSE 0 END) AS rebilled
        FROM payments WHERE ${where} GROUP BY 1, entity_id, service_code, counter_id`;
      for (const [where, kind] of [
        ['settlement_date = ?', "'booking'"],
        ['reversal_settlement_date = ?', 'reversal_kind'],
      ] as const) {
        for (const r of this.rq(sql(where, kind)).all(date) as Row[]) {
          const k = r.kind as EntityServiceSums['kind'];
          const ek = `${k}|${r.entity_id as string}|${r.service_code as string}`;
          const e = entities.get(ek) ?? { kind: k, entityId: r.entity_id as string, serviceCode: r.service_code as string, count: 0, amount: 0, fee: 0, circuitNetted: 0, circuitRebilled: 0 };
          e.count += r.n as number;
          e.amount += r.amount as number;
          e.fee += r.fee as number;
          e.circuitNetted += r.netted as number;
          e.circuitRebilled += r.rebilled as number;
          entities.set(ek, e);
          const ck = `${k}|${r.counter_id as string}`;
          const c = counters.get(ck) ?? { kind: k, counterId: r.counter_id as string, count: 0, amount: 0, fee: 0, commission: 0, operator: 0, royalty: 0 };
          c.count += r.n as number;
          c.amount += r.amount as number;
          c.fee += r.fee as number;
          c.commission += r.commission as number;
          c.operator += r.operator as number;
          c.royalty += r.royalty as number;
          counters.set(ck, c);
        }
      }
      const order = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
      const byEntityService = order(entities);
      const byCounter = order(counters);
      const movements = (
        this.rq(
          `SELECT a.kind, a.owner_id, m.amount_cents AS amount FROM window_movements m
           JOIN ledger_accounts a ON a.id = m.account_id WHERE m.settlement_date = ? ORDER BY a.kind, a.owner_id`,
        ).all(date) as Row[]
      ).map((r) => ({ kind: r.kind as string, ownerId: r.owner_id as string, amount: r.amount as number }));
      return { byEntityService, byCounter, movements };
    }).deferred();
  }

  async saveDraft(date: string, figures: string, figuresHash: string, at: number): Promise<boolean> {
    const changes = this.w
      .prepare(
        `UPDATE settlement_windows SET status = 'draft', figures = ?, figures_hash = ?, computed_at = ?
         WHERE date = ? AND status IN ('closed', 'draft')`,
      )
      .run(figures, figuresHash, at, date).changes;
    return changes === 1;
  }

  async approveWindow(date: string, actor: string, at: number, settledByCounter: Map<string, number>): Promise<WindowRow> {
    return this.tx(() => {
      const r = this.w.prepare('SELECT * FROM settlement_windows WHERE date = ?').get(date) as Row | undefined;
      if (!r) throw new Error(`no settlement for ${date}`);
      if (r.status === 'draft') {
        this.w.prepare("UPDATE settlement_windows SET status = 'approved', approved_at = ?, approved_by = ? WHERE date = ?").run(at, actor, date);
        const settle = this.w.prepare('UPDATE counters SET settled_cents = settled_cents + ? WHERE id = ?');
        for (const [counterId, cents] of settledByCounter) settle.run(cents, counterId);
        this.audit({ actor, action: 'settlement.approve', target: date, detail: { figuresHash: r.figures_hash } });
        this.emitNow({
          type: 'settlement.approved',
          at,
          terminalId: null,
          counterId: null,
          entityId: null,
          serviceCode: null,
          payload: { date, approvedBy: actor, figuresHash: r.figures_hash },
        });
      }
      return toWindow(this.w.prepare('SELECT * FROM settlement_windows WHERE date = ?').get(date) as Row);
    });
  }

  async markExported(date: string, at: number): Promise<void> {
    this.w.prepare("UPDATE settlement_windows SET status = 'exported', exported_at = coalesce(exported_at, ?) WHERE date = ? AND status IN ('approved', 'exported')").run(at, date);
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
    return (this.rq('SELECT count(*) FROM entities').pluck().get() as number) === 0;
  }

  async seed(catalogue: Catalogue, network: Network, sealed: Map<string, { tmkSealed: string; secretHash: string }>) {
    const w = this.w;
    const now = this.clock();
    w.transaction(() => {
      for (const t of [
        'audit_log', 'events', 'settlement_windows', 'reversal_advices', 'idempotency_records', 'window_movements', 'ledger_entries', 'ledger_balances', 'ledger_accounts',
        'payment_options', 'payments', 'debt_positions', 'terminals', 'counters', 'fee_schedules', 'services',
        'circuit_fees', 'users', 'entities',
      ]) {
        w.prepare(`DELETE FROM ${t}`).run();
      }
      const insEntity = w.prepare(
        'INSERT INTO entities (id, name, fiscal_code, iban, is_circuit_owner, segregation_code) VALUES (?, ?, ?, ?, ?, ?)',
      );
      const insFee = w.prepare('INSERT INTO circuit_fees (entity_id, effective_from, fee_cents, mode) VALUES (?, ?, ?, ?)');
      for (const e of catalogue.entities) {
        insEntity.run(e.id, e.name, e.fiscalCode, e.iban, e.isCircuitOwner ? 1 : 0, e.segregationCode);
        if (e.circuitFee) insFee.run(e.id, e.circuitFee.effectiveFrom, e.circuitFee.feeCents, e.circuitFee.mode);
      }
      const insService = w.prepare(
        `INSERT INTO services (code, name, entity_id, amount_kind, identifier_kind, rule, fixed_cents, min_cents, max_cents)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const s of catalogue.services) {
        insService.run(s.code, s.name, s.entityId, s.amountKind, s.identifierKind, s.rule, s.fixedCents, s.minCents, s.maxCents);
      }
      const insSchedule = w.prepare(
        'INSERT INTO fee_schedules (service_code, counter_kind, effective_from, fee_rule, commission_rate, royalty_cents) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const f of catalogue.feeSchedules) {
        insSchedule.run(f.serviceCode, f.counterKind, f.effectiveFrom, JSON.stringify(f.feeRule), f.commissionRate, f.royaltyCents);
      }
      const insCounter = w.prepare(
        `INSERT INTO counters (id, kind, name, address, town, iban, mandate_ref, credit_limit_cents, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active')`,
      );
      for (const c of network.counters) {
        insCounter.run(c.id, c.kind, c.name, c.address, c.town, c.iban, c.mandateRef, c.creditLimitCents);
      }
      const insTerminal = w.prepare(
        "INSERT INTO terminals (id, counter_id, status, tmk_enc, secret_hash, created_at) VALUES (?, ?, 'active', ?, ?, ?)",
      );
      for (const t of network.terminals) {
        const s = sealed.get(t.id);
        if (!s) throw new Error(`no sealed key for terminal ${t.id}`);
        insTerminal.run(t.id, t.counterId, s.tmkSealed, s.secretHash, now);
      }
      const insPosition = w.prepare(
        `INSERT INTO debt_positions (entity_id, service_code, external_ref, debtor_cf, debtor_name, description, status, valid_until, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insOption = w.prepare(
        `INSERT INTO payment_options (position_id, notice_number, lookup_key, kind, instalment_no, amount_cents, due_date, description, rule_params)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const p of network.positions) {
        const id = insPosition.run(
          p.entityId, p.serviceCode, p.externalRef, p.debtorCf, p.debtorName, p.description, p.status, p.validUntil, now,
        ).lastInsertRowid;
        for (const o of p.options) {
          insOption.run(
            id, o.noticeNumber, o.lookupKey, o.kind, o.instalmentNo, o.amountCents, o.dueDate, o.description,
            o.ruleParams ? JSON.stringify(o.ruleParams) : null,
          );
        }
      }
    })();
    // A new ledger: no account ids or payment numbers from before the seed.
    this.ledgerTx = new SqliteLedgerTx(this.w);
    this.ledger = new Ledger(this.ledgerTx);
  }

  async checkInvariants(): Promise<InvariantReport> {
    const r = this.r;
    const violations: string[] = [];
    const q = <T>(sql: string) => r.prepare(sql).all() as T[];
    const total = r.prepare('SELECT coalesce(sum(balance_cents), 0) FROM ledger_balances').pluck().get() as number;
    if (total !== 0) violations.push(`balances sum to ${total}, not 0`);
    for (const x of q<Row>(
      'SELECT payment_id, is_reversal, sum(amount_cents) AS s FROM ledger_entries GROUP BY payment_id, is_reversal HAVING s <> 0',
    )) {
      violations.push(`payment ${x.payment_id as number} ${x.is_reversal ? 'reversal' : ''} entries sum to ${x.s as number}`);
    }
    // One pass over the entries, then compare with the kept balances.
    const sums = new Map<number, number>();
    for (const x of q<Row>('SELECT account_id, sum(amount_cents) AS s FROM ledger_entries GROUP BY account_id')) {
      sums.set(x.account_id as number, x.s as number);
    }
    for (const x of q<Row>('SELECT a.id, coalesce(b.balance_cents, 0) AS b FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account_id = a.id')) {
      const s = sums.get(x.id as number) ?? 0;
      if (s !== x.b) violations.push(`account ${x.id as number}: balance ${x.b as number} but entries sum to ${s}`);
    }
    for (const x of q<Row>(
      'SELECT option_id, count(*) AS n FROM payments WHERE option_id IS NOT NULL AND reversed_at IS NULL GROUP BY option_id HAVING n > 1',
    )) {
      violations.push(`option ${x.option_id as number} paid ${x.n as number} times`);
    }
    for (const x of q<Row>(
      `SELECT o.id FROM payment_options o LEFT JOIN payments p ON p.id = o.paid_payment_id
       WHERE (o.paid_payment_id IS NOT NULL AND (p.id IS NULL OR p.reversed_at IS NOT NULL OR p.option_id <> o.id))
          OR (o.paid_payment_id IS NULL AND EXISTS (SELECT 1 FROM payments q WHERE q.option_id = o.id AND q.reversed_at IS NULL))`,
    )) {
      violations.push(`option ${x.id as number}: paid mark disagrees with its payments`);
    }
    for (const x of q<Row>(
      `SELECT p.id FROM payments p WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.payment_id = p.id)
          OR (p.reversed_at IS NOT NULL) <> EXISTS (SELECT 1 FROM ledger_entries e WHERE e.payment_id = p.id AND e.is_reversal = 1)`,
    )) {
      violations.push(`payment ${x.id as number}: entries missing or reversal state inconsistent`);
    }
    // Each window's movement per account equals the sum of its entries.
    const kept = new Map<string, number>();
    for (const x of q<Row>('SELECT settlement_date, account_id, amount_cents FROM window_movements')) {
      kept.set(`${x.settlement_date as string}|${x.account_id as number}`, x.amount_cents as number);
    }
    for (const x of q<Row>('SELECT settlement_date, account_id, sum(amount_cents) AS s FROM ledger_entries GROUP BY settlement_date, account_id')) {
      const k = `${x.settlement_date as string}|${x.account_id as number}`;
      if ((kept.get(k) ?? 0) !== x.s) violations.push(`window ${k}: movement ${kept.get(k) ?? 0} but entries sum to ${x.s as number}`);
      kept.delete(k);
    }
    for (const [k, v] of kept) if (v !== 0) violations.push(`window ${k}: movement ${v} without entries`);
    const count = (sql: string) => r.prepare(sql).pluck().get() as number;
    return {
      ok: violations.length === 0,
      checked: {
        payments: count('SELECT count(*) FROM payments'),
        entries: count('SELECT count(*) FROM ledger_entries'),
        accounts: count('SELECT count(*) FROM ledger_accounts'),
        options: count('SELECT count(*) FROM payment_options'),
      },
      violations,
    };
  }

  async close(): Promise<void> {
    await this.writer.close();
    this.r.close();
    this.w.close();
  }
}
