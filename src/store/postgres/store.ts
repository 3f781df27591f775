// The PostgreSQL store: the same Store as the embedded SQLite one, for several switch
// instances on one database. Each instance books through its own group-commit writer
// (batch.ts: the ledger's rules over rows read under locks); the event log is read back
// in seq order by every instance (events.ts), so a subscriber on any instance sees every
// instance's commits in order; terminal and counter caches are forgotten on every
// instance when one of them changes a row (NOTIFY tserve_cache).
import * as Audit from './audit.js';
import type { AuditQuery } from '../audit-chain.js';
import { systemClock, type Clock } from '../../clock.js';
import type { Catalogue, Network } from '../../domain/model.js';
import { Ledger, LedgerInvariantError } from '../../ledger/book.js';
import type { BookingCommand, BookingResult } from '../../ledger/commands.js';
import { GroupCommitWriter } from '../../ledger/writer.js';
import { logger } from '../../log.js';
import { checkInvariants } from '../invariants.js';
import { WriteHealth, type Readiness } from '../health.js';
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
import type { LinesQuery, RebilledSums, WindowRow, WindowSums } from '../settlement-types.js';
import { cached, catalogueOf, lineFilters, pageLines, WINDOW_PHASES, windowSumsOf } from '../shared.js';
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
  StoreRefusalCode,
  Terminal,
} from '../types.js';
import { StoreUnavailableError } from '../types.js';

/** A failure to reach the database, told as such (UNAVAILABLE); any other error unchanged. */
function unavailable(err: unknown): unknown {
  return isUnavailable(err) && !(err instanceof StoreUnavailableError) ? new StoreUnavailableError(err instanceof Error ? err.message : String(err), { cause: err }) : err;
}
import { AccountIds, appendEvents, insertAudit, loadBatch, WINDOW_LOCK, writeBatch } from './batch.js';
import { EventTail } from './events.js';
import { migrate } from './migrate.js';
import { isRetryable, isUnavailable, openPool, type Pool, type PoolClient } from './pool.js';
import { ReadBatcher } from './reads.js';
import { resealUnderLock } from './reseal.js';
import type { Reseal } from '../reseal.js';

/** A batch that meets a deadlock or a serialization failure runs again, up to this many times. */
const MAX_ATTEMPTS = 8;
const BATCHES_IN_FLIGHT = 2;
/** Positions per statement of an import. */
const IMPORT_SLICE = 1000;

type CreatePositionsResult = { ids: number[] } | { errors: { row: number; code: StoreRefusalCode; detail: string }[] };

export interface PgStoreOptions {
  poolSize?: number;
  clock?: Clock;
}

/** A transaction of administration: its events go out once it has committed. */
interface AdminTx {
  c: PoolClient;
  emit(e: Omit<EventRow, 'seq'>): void;
  audit(a: AuditEntry, at: number): void;
  /** Tells every instance to forget a cached terminal or counter. */
  invalidate(what: 'terminal' | 'counter', id: string): void;
}

export class PgStore implements Store {
  private readonly writer: GroupCommitWriter<BookingCommand, BookingResult>;
  private readonly accounts = new AccountIds();
  private readonly terminals = new Map<string, Terminal | undefined>();
  private readonly counters = new Map<string, Counter | undefined>();
  private entityNames: Map<string, string> | null = null;
  private readonly tail: EventTail;
  private readonly idempotencyReads = new ReadBatcher<{ terminalId: string; key: string }, IdempotencyRecord>(
    (k) => `${k.terminalId}\0${k.key}`,
    async (keys) => {
      const rows = await this.q<IdempotencyRow>(
        `SELECT r.terminal_id, r.key, r.request_hash, r.status, r.response, r.payment_id
         FROM unnest($1::text[], $2::text[]) AS k (t, k) JOIN idempotency_records r ON r.terminal_id = k.t AND r.key = k.k`,
        [keys.map((k) => k.terminalId), keys.map((k) => k.key)],
      );
      return new Map(rows.map((r) => [`${r.terminal_id}\0${r.key}`, toIdempotency(r)]));
    },
  );
  private readonly priorReads = new ReadBatcher<{ terminalId: string; key: string }, { record: IdempotencyRecord | undefined; advised: boolean }>(
    (k) => `${k.terminalId}\0${k.key}`,
    async (keys) => {
      const rows = await this.q<Omit<IdempotencyRow, 'terminal_id' | 'key' | 'request_hash'> & { t: string; k: string; request_hash: string | null; advised: boolean }>(
        `SELECT k.t, k.k, r.request_hash, r.status, r.response, r.payment_id, a.terminal_id IS NOT NULL AS advised
         FROM unnest($1::text[], $2::text[]) AS k (t, k)
         LEFT JOIN idempotency_records r ON r.terminal_id = k.t AND r.key = k.k
         LEFT JOIN reversal_advices a ON a.terminal_id = k.t AND a.key = k.k`,
        [keys.map((k) => k.terminalId), keys.map((k) => k.key)],
      );
      return new Map(
        rows.map((r) => [
          `${r.t}\0${r.k}`,
          { record: r.request_hash === null ? undefined : toIdempotency({ ...r, terminal_id: r.t, key: r.k, request_hash: r.request_hash }), advised: r.advised },
        ]),
      );
    },
  );
  private readonly noticeReads = new ReadBatcher<string, OptionView>(
    (n) => n,
    async (notices) => new Map((await this.q<OptionRow>(`${OPTION_VIEW_SQL} WHERE o.notice_number = ANY($1::text[])`, [notices])).map((r) => [r.notice_number, toOptionView(r)])),
  );
  private readonly paymentReads = new ReadBatcher<number, Payment>(
    (id) => String(id),
    async (ids) => new Map((await this.q<PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ANY($1::bigint[])`, [ids])).map((r) => [String(r.id), toPayment(r)])),
  );

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
    void store.verifyBalances();
    return store;
  }

  // The probe takes a transaction id: refused on a standby, and on a database that cannot write.
  private readonly health = new WriteHealth(() => this.tx(async ({ c }) => c.query('SELECT txid_current()')));

  /** Compares every account's balance with the sum of its entries (one snapshot); a difference stops booking on that account. */
  private async verifyBalances(): Promise<void> {
    const started = performance.now();
    try {
      const rows = await this.snapshot(async (c) =>
        (
          await c.query<{ kind: string; owner_id: string; b: string; s: string | null }>(
            `SELECT a.kind, a.owner_id, coalesce(b.balance_cents, 0) AS b, e.s
             FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account_id = a.id
             LEFT JOIN (SELECT account_id, sum(amount_cents) AS s FROM ledger_entries GROUP BY account_id) e ON e.account_id = a.id`,
          )
        ).rows,
      );
      let mismatches = 0;
      for (const r of rows) {
        const entries = Number(r.s ?? 0);
        if (Number(r.b) === entries) continue;
        mismatches++;
        this.health.accountAlarm(`${r.kind}/${r.owner_id}`, `its stored balance ${Number(r.b)} differs from the sum of its entries ${entries}`);
      }
      logger.info('balances checked against their entries', { accounts: rows.length, mismatches, ms: Math.round(performance.now() - started) });
    } catch (err) {
      logger.error('the balances could not be checked at start', { error: err instanceof Error ? err.message : String(err) });
    }
  }

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
    this.tail = new EventTail(url, this.pool, {
      onInvalidate: (what, id) => (what === 'terminal' ? this.terminals : this.counters).delete(id),
      onReconnect: () => {
        this.terminals.clear();
        this.counters.clear();
      },
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
        if (err instanceof LedgerInvariantError) {
          logger.error('LEDGER INVARIANT BROKEN: the batch was rolled back and refused', { commands: commands.length, error: err.message });
          throw err;
        }
        if (isRetryable(err) && attempt < MAX_ATTEMPTS) {
          // Seen by operators: frequent retries mean instances fight over the same rows.
          logger.warn('booking batch rolled back and run again', { code: String((err as { code?: unknown }).code), attempt, commands: commands.length });
          this.accounts.clear(); // an account row of the rolled-back attempt may not exist
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

  // ---------------------------------------------------------------- reads

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

  async counterExposure(counterId: string): Promise<number> {
    const r = await this.one<{ v: number }>(
      `SELECT coalesce((SELECT b.balance_cents FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
                        WHERE a.kind = 'counter_cash' AND a.owner_id = c.id), 0) - c.settled_cents AS v
       FROM counters c WHERE c.id = $1`,
      [counterId],
    );
    return r?.v ?? 0;
  }

  async findOptionByNotice(noticeNumber: string): Promise<OptionView | undefined> {
    return this.noticeReads.load(noticeNumber);
  }

  async getOption(optionId: number): Promise<OptionView | undefined> {
    const r = await this.one<OptionRow>(`${OPTION_VIEW_SQL} WHERE o.id = $1`, [optionId]);
    return r && toOptionView(r);
  }

  async findOptionsByLookup(serviceCode: string, lookupKey: string): Promise<OptionView[]> {
    return (await this.q<OptionRow>(`${OPTION_VIEW_SQL} WHERE o.lookup_key = $1 AND p.service_code = $2 ORDER BY o.due_date, o.id`, [lookupKey, serviceCode])).map(
      toOptionView,
    );
  }

  private async positionViews(rows: DebtPositionRow[]): Promise<DebtPositionView[]> {
    if (rows.length === 0) return [];
    const options = await this.q<OptionRow>(`${OPTION_VIEW_SQL} WHERE o.position_id = ANY($1::bigint[]) ORDER BY o.position_id, o.kind DESC, o.instalment_no`, [
      rows.map((p) => p.id),
    ]);
    const byPosition = new Map<number, OptionView[]>();
    for (const o of options) {
      const list = byPosition.get(o.position_id) ?? [];
      list.push(toOptionView(o));
      byPosition.set(o.position_id, list);
    }
    return rows.map((p) => toPositionView(p, byPosition.get(p.id) ?? []));
  }

  async getPosition(id: number): Promise<DebtPositionView | undefined> {
    const p = await this.one<DebtPositionRow>('SELECT * FROM debt_positions WHERE id = $1', [id]);
    return p ? (await this.positionViews([p]))[0] : undefined;
  }

  async listPositions(entityId: string, cursor: number, limit: number): Promise<Page<DebtPositionView>> {
    const rows = await this.q<DebtPositionRow>('SELECT * FROM debt_positions WHERE entity_id = $1 AND id > $2 ORDER BY id LIMIT $3', [entityId, cursor, limit + 1]);
    const items = await this.positionViews(rows.slice(0, limit));
    return { items, nextCursor: rows.length > limit ? String(items.at(-1)!.id) : null };
  }

  async getPayment(publicId: string): Promise<Payment | undefined> {
    const r = await this.one<PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE public_id = $1`, [publicId]);
    return r && toPayment(r);
  }

  async getPaymentById(id: number): Promise<Payment | undefined> {
    return this.paymentReads.load(id);
  }

  async priorRequest(terminalId: string, key: string) {
    return (await this.priorReads.load({ terminalId, key })) ?? { record: undefined, advised: false };
  }

  async getIdempotency(terminalId: string, key: string): Promise<IdempotencyRecord | undefined> {
    return this.idempotencyReads.load({ terminalId, key });
  }

  async terminalTotals(terminalId: string, date: string) {
    const paid = (await this.one<CountSumRow>(
      'SELECT count(*) AS n, coalesce(sum(amount_cents), 0) AS s FROM payments WHERE settlement_date = $1 AND terminal_id = $2',
      [date, terminalId],
    ))!;
    const reversed = (await this.one<CountSumRow>(
      `SELECT count(*) AS n, coalesce(sum(amount_cents), 0) AS s FROM payments
       WHERE reversal_settlement_date = $1 AND reversal_kind = 'reversal' AND terminal_id = $2`,
      [date, terminalId],
    ))!;
    return { count: paid.n, amountCents: paid.s, reversalCount: reversed.n, reversalAmountCents: reversed.s };
  }

  // ---------------------------------------------------------------- events

  async recordEvent(e: Omit<EventRow, 'seq'>): Promise<void> {
    await this.tx(async (t) => t.emit(e));
  }

  async eventsAfter(seq: number, limit: number): Promise<EventRow[]> {
    return (await this.q<EventDbRow>('SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2', [seq, limit])).map(toEvent);
  }

  async eventBounds(): Promise<{ minSeq: number; maxSeq: number }> {
    const r = (await this.one<{ lo: number; hi: number }>(
      'SELECT coalesce((SELECT min(seq) FROM events), 0) AS lo, (SELECT last_seq FROM event_sequence WHERE id = 1) AS hi',
    ))!;
    return { minSeq: r.lo, maxSeq: r.hi };
  }

  async pruneEvents(before: number): Promise<number> {
    return this.exec('DELETE FROM events WHERE at < $1 AND seq < (SELECT max(seq) FROM events)', [before]);
  }

  onCommit(listener: (events: EventRow[]) => void): void {
    this.tail.listeners.push(listener);
  }

  // ---------------------------------------------------------------- administration

  async insertTerminal(t: { id: string; counterId: string; tmkSealed: string; secretHash: string }, audit: AuditEntry) {
    const at = this.clock();
    await this.tx(async ({ c, audit: log, invalidate }) => {
      await c.query('INSERT INTO terminals (id, counter_id, status, tmk_enc, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        t.id, t.counterId, 'active', t.tmkSealed, t.secretHash, at,
      ]);
      log(audit, at);
      invalidate('terminal', t.id);
    }).finally(() => this.terminals.delete(t.id));
  }

  async nextTerminalId(): Promise<string> {
    const ids = await this.q<{ id: string }>("SELECT id FROM terminals WHERE id ~ '^T[0-9]'");
    const max = ids.reduce((m, r) => Math.max(m, Number(r.id.slice(1)) || 0), 0);
    return `T${String(max + 1).padStart(4, '0')}`;
  }

  async sealedTerminalKeys(): Promise<{ id: string; tmkSealed: string }[]> {
    return this.q<{ id: string; tmkSealed: string }>('SELECT id, tmk_enc AS "tmkSealed" FROM terminals ORDER BY id');
  }

  async resealTerminalKeys(changes: Reseal[], audit: AuditEntry): Promise<void> {
    const at = this.clock();
    await this.tx(async ({ c, audit: log }) => {
      await resealUnderLock(c, changes);
      log(audit, at);
    }).finally(() => this.terminals.clear());
  }

  async setTerminalStatus(id: string, status: Terminal['status'], audit: AuditEntry): Promise<boolean> {
    const at = this.clock();
    return this.tx(async ({ c, emit, audit: log, invalidate }) => {
      const r = await c.query<{ counter_id: string }>('UPDATE terminals SET status = $1 WHERE id = $2 RETURNING counter_id', [status, id]);
      const counterId = r.rows[0]?.counter_id;
      if (counterId === undefined) return false;
      log(audit, at);
      invalidate('terminal', id);
      emit({ type: status === 'blocked' ? 'terminal.blocked' : 'terminal.unblocked', at, terminalId: id, counterId, entityId: null, serviceCode: null, payload: { terminalId: id, counterId } });
      return true;
    }).finally(() => this.terminals.delete(id));
  }

  async rotateTerminalKey(id: string, key: { tmkSealed: string } | { secretHash: string }, audit: AuditEntry): Promise<boolean> {
    const at = this.clock();
    const [column, value, which] = 'tmkSealed' in key ? ['tmk_enc', key.tmkSealed, 'tmk'] : ['secret_hash', key.secretHash, 'apiSecret'];
    return this.tx(async ({ c, emit, audit: log, invalidate }) => {
      const r = await c.query<{ counter_id: string }>(`UPDATE terminals SET ${column} = $1 WHERE id = $2 RETURNING counter_id`, [value, id]);
      const counterId = r.rows[0]?.counter_id;
      if (counterId === undefined) return false;
      log(audit, at);
      invalidate('terminal', id);
      emit({ type: 'terminal.key_rotated', at, terminalId: id, counterId, entityId: null, serviceCode: null, payload: { terminalId: id, counterId, key: which } });
      return true;
    }).finally(() => this.terminals.delete(id));
  }

  async acceptSignOn(id: string, transmittedAtMs: number, stan: number): Promise<boolean> {
    // One statement: atomic against another instance's sign-on of the same terminal.
    const n = await this.exec(
      `UPDATE terminals SET signon_at = $1, signon_stan = $2
       WHERE id = $3 AND (signon_at IS NULL OR (signon_at, signon_stan) < ($1::bigint, $2::integer))`,
      [transmittedAtMs, stan, id],
    );
    return n === 1;
  }

  async setCounterStatus(id: string, status: Counter['status'], audit: AuditEntry): Promise<boolean> {
    const at = this.clock();
    return this.tx(async ({ c, emit, audit: log, invalidate }) => {
      if ((await c.query('UPDATE counters SET status = $1 WHERE id = $2', [status, id])).rowCount !== 1) return false;
      log(audit, at);
      invalidate('counter', id);
      emit({ type: status === 'suspended' ? 'counter.suspended' : 'counter.reactivated', at, terminalId: null, counterId: id, entityId: null, serviceCode: null, payload: { counterId: id } });
      return true;
    }).finally(() => this.counters.delete(id));
  }

  async setUserDisabled(username: string, disabled: boolean, audit: AuditEntry): Promise<boolean> {
    const at = this.clock();
    return this.tx(async ({ c, emit, audit: log }) => {
      if ((await c.query('UPDATE users SET disabled = $1 WHERE username = $2', [disabled ? 1 : 0, username])).rowCount !== 1) return false;
      log(audit, at);
      // The event reaches every instance's stream, which closes the user's streams.
      emit({ type: disabled ? 'user.disabled' : 'user.enabled', at, terminalId: null, counterId: null, entityId: null, serviceCode: null, payload: { username } });
      return true;
    });
  }

  async setCreditLimit(id: string, cents: number, audit: AuditEntry): Promise<boolean> {
    const at = this.clock();
    return this.tx(async ({ c, audit: log, invalidate }) => {
      if ((await c.query('UPDATE counters SET credit_limit_cents = $1 WHERE id = $2', [cents, id])).rowCount !== 1) return false;
      log(audit, at);
      invalidate('counter', id);
      return true;
    }).finally(() => this.counters.delete(id));
  }

  async addUser(u: { username: string; role: 'entity' | 'finance' | 'admin'; entityId: string | null; passwordHash: string }) {
    await this.exec(
      `INSERT INTO users (username, role, entity_id, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (username) DO UPDATE SET role = excluded.role, entity_id = excluded.entity_id, password_hash = excluded.password_hash`,
      [u.username, u.role, u.entityId, u.passwordHash, this.clock()],
    );
  }

  // login throttling and audit (audit.ts; the chain is the trigger's)
  private readonly query = <R>(sql: string, params?: unknown[]) => this.q<R>(sql, params);
  loginFailures = (account: string) => Audit.loginFailures(this.query, account);
  recordLoginFailure = (account: string, at: number) => Audit.recordLoginFailure(this.query, account, at);
  clearLoginFailures = (account: string) => Audit.clearLoginFailures(this.query, account);
  pruneLoginFailures = (before: number) => Audit.pruneLoginFailures(this.query, before);
  listAudit = (f: AuditQuery, cursor: number | null, limit: number) => Audit.listAudit(this.query, f, cursor, limit);
  auditChain = (afterId: number, limit: number) => Audit.auditChain(this.query, afterId, limit);
  auditHead = () => Audit.auditHead(this.query);
  async appendAudit(entries: AuditEntry[]) {
    const at = this.clock();
    if (entries.length > 0) await this.tx(async ({ audit }) => entries.forEach((a) => audit(a, at)));
  }

  async getUser(username: string) {
    const r = await this.one<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
    return r && toUser(r);
  }

  // ---------------------------------------------------------------- debt positions

  /**
   * An import is one transaction however large (PostgreSQL's row locks do not stop
   * booking elsewhere); conflicts are checked first with the rows locked by their keys.
   */
  async createPositions(rows: NewPosition[], actor: string): Promise<CreatePositionsResult> {
    const at = this.clock();
    let conflicts: { row: number; code: StoreRefusalCode; detail: string }[] = [];
    const ids = await this.tx(async ({ c, emit, audit }) => {
      conflicts = await importConflicts(c, rows);
      if (conflicts.length > 0) return [];
      const ids = await insertPositions(c, rows, 'VALID', at);
      const byEntity = new Map<string, number>();
      for (const p of rows) byEntity.set(p.entityId, (byEntity.get(p.entityId) ?? 0) + 1);
      for (const [entityId, count] of byEntity) {
        audit({ actor, action: 'positions.create', target: entityId, detail: { count } }, at);
        emit({ type: 'notices.imported', at, terminalId: null, counterId: null, entityId, serviceCode: null, payload: { entityId, positions: count } });
      }
      return ids;
    }).catch((err: unknown) => {
      // Another import took one of these notices meanwhile (a UNIQUE constraint): nothing stays.
      if (typeof err === 'object' && err !== null && (err as { code?: string }).code === '23505') {
        conflicts = [{ row: 0, code: 'CONFLICT', detail: `the import was taken back: ${(err as Error).message}` }];
        return [];
      }
      throw err;
    });
    return conflicts.length > 0 ? { errors: conflicts } : { ids };
  }

  /**
   * Drafts are never written here (an import is one transaction), but a SQLite file
   * copied after a crash in the middle of a large upload brings its drafts along: taken
   * back at start like the embedded store's, so that the upload can be sent again.
   */
  async deleteStaleDrafts(): Promise<number> {
    return this.tx(async ({ c }) => {
      await c.query("DELETE FROM payment_options WHERE position_id IN (SELECT id FROM debt_positions WHERE status = 'DRAFT')");
      return (await c.query("DELETE FROM debt_positions WHERE status = 'DRAFT'")).rowCount ?? 0;
    });
  }

  async findImport(scope: string, sha256: string) {
    const r = await this.one<{ at: string; positions: number }>('SELECT imported_at AS at, positions FROM position_imports WHERE scope = $1 AND sha256 = $2', [scope, sha256]);
    return r && { at: Number(r.at), positions: r.positions };
  }

  async recordImport(scope: string, sha256: string, positions: number) {
    await this.exec('INSERT INTO position_imports (scope, sha256, positions, imported_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [scope, sha256, positions, this.clock()]);
  }

  async cancelPosition(id: number, actor: string): Promise<{ ok: true } | { ok: false; code: StoreRefusalCode; detail: string }> {
    const at = this.clock();
    return this.tx(async ({ c, audit }) => {
      const p = (await c.query<{ status: string }>('SELECT status FROM debt_positions WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!p) return { ok: false as const, code: 'NOT_FOUND' as const, detail: `no debt position ${id}` };
      if (p.status === 'INVALID') return { ok: true as const };
      if (p.status === 'PAID' || p.status === 'PARTIALLY_PAID') return { ok: false as const, code: 'CONFLICT' as const, detail: `position ${id} is ${p.status} and cannot be cancelled` };
      await c.query("UPDATE debt_positions SET status = 'INVALID' WHERE id = $1", [id]);
      audit({ actor, action: 'positions.cancel', target: String(id) }, at);
      return { ok: true as const };
    });
  }

  // ---------------------------------------------------------------- settlement

  async closeWindow(date: string, at: number): Promise<void> {
    // Exclusive against booking batches (which hold it shared): once closed, no batch books into it.
    await this.tx(async ({ c }) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [WINDOW_LOCK]);
      await c.query("INSERT INTO settlement_windows (date, status, closed_at) VALUES ($1, 'closed', $2) ON CONFLICT (date) DO NOTHING", [date, at]);
    });
  }

  async getWindow(date: string): Promise<WindowRow | undefined> {
    const r = await this.one<WindowDbRow>('SELECT * FROM settlement_windows WHERE date = $1', [date]);
    return r && toWindow(r);
  }

  async listWindows(): Promise<WindowRow[]> {
    return (await this.q<WindowDbRow>('SELECT * FROM settlement_windows ORDER BY date DESC')).map(toWindow);
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

  async windowSums(date: string): Promise<WindowSums> {
    return this.snapshot(async (c) => {
      const rows = (await c.query<WindowTotalRow>('SELECT * FROM window_totals WHERE settlement_date = $1 AND n <> 0', [date])).rows;
      const movements = (await c.query<{ kind: string; owner_id: string; amount: number }>(
        `SELECT a.kind, a.owner_id, m.amount_cents AS amount FROM window_movements m
         JOIN ledger_accounts a ON a.id = m.account_id WHERE m.settlement_date = $1 ORDER BY a.kind, a.owner_id`,
        [date],
      )).rows.map((r) => ({ kind: r.kind, ownerId: r.owner_id, amount: r.amount }));
      return windowSumsOf(rows, movements);
    });
  }

  async saveDraft(date: string, figures: string, figuresHash: string, at: number): Promise<boolean> {
    const changed = await this.exec(
      `UPDATE settlement_windows SET status = 'draft', figures = $1, figures_hash = $2, computed_at = $3 WHERE date = $4 AND status IN ('closed', 'draft')`,
      [figures, figuresHash, at, date],
    );
    return changed === 1;
  }

  async approveWindow(date: string, actor: string, at: number, settledByCounter: Map<string, number>): Promise<WindowRow> {
    return this.tx(async ({ c, emit, audit, invalidate }) => {
      const r = (await c.query<WindowDbRow>('SELECT * FROM settlement_windows WHERE date = $1 FOR UPDATE', [date])).rows[0];
      if (!r) throw new Error(`no settlement for ${date}`);
      if (r.status === 'draft') {
        await c.query("UPDATE settlement_windows SET status = 'approved', approved_at = $1, approved_by = $2 WHERE date = $3", [at, actor, date]);
        const settled = [...settledByCounter].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        await c.query('UPDATE counters c SET settled_cents = c.settled_cents + v.s FROM unnest($1::text[], $2::bigint[]) AS v (id, s) WHERE c.id = v.id', [
          settled.map(([id]) => id), settled.map(([, s]) => s),
        ]);
        for (const [id] of settled) invalidate('counter', id);
        audit({ actor, action: 'settlement.approve', target: date, detail: { figuresHash: r.figures_hash } }, at);
        emit({ type: 'settlement.approved', at, terminalId: null, counterId: null, entityId: null, serviceCode: null, payload: { date, approvedBy: actor, figuresHash: r.figures_hash } });
      }
      return toWindow((await c.query<WindowDbRow>('SELECT * FROM settlement_windows WHERE date = $1', [date])).rows[0]!);
    }).finally(() => this.counters.clear());
  }

  async markExported(date: string, at: number): Promise<void> {
    await this.exec(
      "UPDATE settlement_windows SET status = 'exported', exported_at = coalesce(exported_at, $1) WHERE date = $2 AND status IN ('approved', 'exported')",
      [at, date],
    );
  }

  async windowLines(q: LinesQuery, cursor: string | null, limit: number) {
    const params: unknown[] = [q.from, q.to];
    const filters = lineFilters(q, (_name, value) => `$${params.push(value)}`);
    const n = params.length;
    return pageLines(cursor, limit, ({ dateColumn, kind }, after, rows) =>
      this.q<PaymentLineRow>(
        `SELECT id, public_id, ${kind} AS kind, booked_at, ${dateColumn} AS "window", entity_id, service_code, counter_id, terminal_id,
           channel, rrn, receipt_number, amount_cents, fee_cents, fee_commission, fee_operator, fee_royalty, circuit_fee_cents, circuit_fee_mode
         FROM payments WHERE ${dateColumn} BETWEEN $1 AND $2${filters} AND id > $${n + 1} ORDER BY id LIMIT $${n + 2}`,
        [...params, after, rows],
      ),
    );
  }

  async rebilledSums(entityId: string, month: string): Promise<RebilledSums[]> {
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new RangeError(`not a month (YYYY-MM): "${month}"`);
    const from = `${month}-01`;
    const to = `${month}-31`;
    return this.snapshot(async (c) => {
      const out: RebilledSums[] = [];
      for (const { dateColumn, kind } of WINDOW_PHASES) {
        const rows = await c.query<RebilledRow>(
          `SELECT ${kind} AS kind, service_code, circuit_fee_cents AS rate, count(*) AS n, sum(circuit_fee_cents) AS amount
           FROM payments WHERE ${dateColumn} BETWEEN $1 AND $2 AND entity_id = $3 AND circuit_fee_mode = 'rebilled'
           GROUP BY 1, service_code, circuit_fee_cents ORDER BY 1, service_code, circuit_fee_cents`,
          [from, to, entityId],
        );
        for (const r of rows.rows) out.push(toRebilledSums(r));
      }
      return out;
    });
  }

  /**
   * Runs fn in this instance only if no other instance runs the same job (a session
   * advisory lock on a connection held for the job); otherwise skips it.
   */
  async exclusively<T>(job: string, fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    const c = await this.connect();
    try {
      const key = `tserve:${job}`;
      const got = (await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [key])).rows[0]!.ok;
      if (!got) return { ran: false };
      try {
        return { ran: true, value: await fn() };
      } finally {
        await c.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
      }
    } finally {
      c.release();
    }
  }

  // ---------------------------------------------------------------- operations

  async isEmpty(): Promise<boolean> {
    return (await this.one<{ n: number }>('SELECT count(*) AS n FROM entities'))!.n === 0;
  }

  async seed(catalogue: Catalogue, network: Network, sealed: Map<string, { tmkSealed: string; secretHash: string }>) {
    const at = this.clock();
    const c = await this.connect();
    try {
      await c.query('BEGIN');
      await c.query(`TRUNCATE ${SEED_TABLES.join(', ')} RESTART IDENTITY CASCADE`);
      await c.query('UPDATE event_sequence SET last_seq = 0');
      await c.query("SELECT setval('payments_id_seq', 1, false)");
      for (const e of catalogue.entities) {
        await c.query('INSERT INTO entities (id, name, fiscal_code, iban, is_circuit_owner, segregation_code) VALUES ($1, $2, $3, $4, $5, $6)', [
          e.id, e.name, e.fiscalCode, e.iban, e.isCircuitOwner ? 1 : 0, e.segregationCode,
        ]);
        if (e.circuitFee) {
          await c.query('INSERT INTO circuit_fees (entity_id, effective_from, fee_cents, mode) VALUES ($1, $2, $3, $4)', [
            e.id, e.circuitFee.effectiveFrom, e.circuitFee.feeCents, e.circuitFee.mode,
          ]);
        }
      }
      for (const s of catalogue.services) {
        await c.query(
          'INSERT INTO services (code, name, entity_id, amount_kind, identifier_kind, rule, fixed_cents, min_cents, max_cents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
          [s.code, s.name, s.entityId, s.amountKind, s.identifierKind, s.rule, s.fixedCents, s.minCents, s.maxCents],
        );
      }
      for (const f of catalogue.feeSchedules) {
        await c.query(
          'INSERT INTO fee_schedules (service_code, counter_kind, effective_from, fee_rule, commission_rate, royalty_cents) VALUES ($1, $2, $3, $4, $5, $6)',
          [f.serviceCode, f.counterKind, f.effectiveFrom, JSON.stringify(f.feeRule), f.commissionRate, f.royaltyCents],
        );
      }
      const cs = network.counters;
      await c.query(
        `INSERT INTO counters (id, kind, name, address, town, iban, mandate_ref, credit_limit_cents, status)
         SELECT *, 'active' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])`,
        [cs.map((x) => x.id), cs.map((x) => x.kind), cs.map((x) => x.name), cs.map((x) => x.address), cs.map((x) => x.town), cs.map((x) => x.iban), cs.map((x) => x.mandateRef), cs.map((x) => x.creditLimitCents)],
      );
      const ts = network.terminals.map((t) => {
        const s = sealed.get(t.id);
        if (!s) throw new Error(`no sealed key for terminal ${t.id}`);
        return { ...t, ...s };
      });
      await c.query(
        `INSERT INTO terminals (id, counter_id, status, tmk_enc, secret_hash, created_at)
         SELECT a, b, 'active', c, d, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x (a, b, c, d)`,
        [ts.map((t) => t.id), ts.map((t) => t.counterId), ts.map((t) => t.tmkSealed), ts.map((t) => t.secretHash), at],
      );
      for (let i = 0; i < network.positions.length; i += IMPORT_SLICE) {
        const slice = network.positions.slice(i, i + IMPORT_SLICE);
        await insertPositions(c, slice.map((p) => ({ ...p, options: p.options })), null, at);
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
    this.accounts.clear();
    this.terminals.clear();
    this.counters.clear();
    this.entityNames = null;
    await this.tail.reset();
  }

  async checkInvariants(): Promise<InvariantReport> {
    return this.snapshot((c) => checkInvariants({ all: async <R>(sql: string) => (await c.query<R & object>(sql)).rows }));
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

// Not the audit log: it is append-only and outlives a re-seed (its chain goes on).
const SEED_TABLES = [
  'events', 'settlement_windows', 'reversal_advices', 'idempotency_records', 'window_movements', 'window_totals', 'ledger_entries',
  'ledger_balances', 'ledger_accounts', 'payment_options', 'payments', 'debt_positions', 'terminals', 'counters', 'fee_schedules',
  'services', 'circuit_fees', 'users', 'entities',
];

type PositionInput = Omit<NewPosition, 'options'> & { status?: string; options: NewPosition['options'] };

/** Inserts positions and their options; status null keeps each row's own (the seed's). Their ids in order. */
async function insertPositions(c: PoolClient, rows: PositionInput[], status: 'VALID' | 'DRAFT' | null, at: number): Promise<number[]> {
  if (rows.length === 0) return [];
  const ids = (await c.query<{ id: number }>(
    `INSERT INTO debt_positions (entity_id, service_code, external_ref, debtor_cf, debtor_name, description, status, valid_until, created_at)
     SELECT a, b, c, d, e, f, g, h, $9 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
       WITH ORDINALITY AS x (a, b, c, d, e, f, g, h, i) ORDER BY i RETURNING id`,
    [
      rows.map((p) => p.entityId), rows.map((p) => p.serviceCode), rows.map((p) => p.externalRef), rows.map((p) => p.debtorCf), rows.map((p) => p.debtorName),
      rows.map((p) => p.description), rows.map((p) => status ?? p.status ?? 'VALID'), rows.map((p) => p.validUntil), at,
    ],
  )).rows.map((r) => r.id);
  // RETURNING follows the insertion order, which follows ORDER BY i.
  const opts = rows.flatMap((p, i) => p.options.map((o) => ({ ...o, positionId: ids[i]! })));
  if (opts.length > 0) {
    await c.query(
      `INSERT INTO payment_options (position_id, notice_number, lookup_key, kind, instalment_no, amount_cents, due_date, description, rule_params)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[], $7::text[], $8::text[], $9::text[])`,
      [
        opts.map((o) => o.positionId), opts.map((o) => o.noticeNumber), opts.map((o) => o.lookupKey), opts.map((o) => o.kind), opts.map((o) => o.instalmentNo),
        opts.map((o) => o.amountCents), opts.map((o) => o.dueDate), opts.map((o) => o.description), opts.map((o) => (o.ruleParams ? JSON.stringify(o.ruleParams) : null)),
      ],
    );
  }
  return ids;
}

/** An import's conflicts: external references and notice numbers that exist already or repeat within it. */
async function importConflicts(c: PoolClient, rows: NewPosition[]): Promise<{ row: number; code: StoreRefusalCode; detail: string }[]> {
  const refs = await c.query<{ entity_id: string; external_ref: string }>(
    'SELECT d.entity_id, d.external_ref FROM debt_positions d JOIN unnest($1::text[], $2::text[]) AS k (e, r) ON d.entity_id = k.e AND d.external_ref = k.r',
    [rows.map((p) => p.entityId), rows.map((p) => p.externalRef)],
  );
  const notices = await c.query<{ notice_number: string }>('SELECT notice_number FROM payment_options WHERE notice_number = ANY($1::text[])', [
    rows.flatMap((p) => p.options.map((o) => o.noticeNumber)),
  ]);
  const existingRefs = new Set(refs.rows.map((r) => `${r.entity_id}/${r.external_ref}`));
  const existingNotices = new Set(notices.rows.map((r) => r.notice_number));
  const conflicts: { row: number; code: StoreRefusalCode; detail: string }[] = [];
  rows.forEach((p, i) => {
    const ref = `${p.entityId}/${p.externalRef}`;
    if (existingRefs.has(ref)) conflicts.push({ row: i, code: 'CONFLICT', detail: `externalRef ${p.externalRef} already exists` });
    existingRefs.add(ref);
    for (const o of p.options) {
      if (existingNotices.has(o.noticeNumber)) conflicts.push({ row: i, code: 'CONFLICT', detail: `notice number ${o.noticeNumber} already exists` });
      existingNotices.add(o.noticeNumber);
    }
  });
  return conflicts;
}
