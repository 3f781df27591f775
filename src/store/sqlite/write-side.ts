// Every write of the SQLite store, on the one write connection: booking batches through
// the ledger, and the short administrative and settlement transactions. It runs on the
// writer's own thread (worker.ts), so fsyncs and checkpoints never hold the event loop;
// arguments and results are plain data, and times come from the caller's clock.
import type { Catalogue, Counter, Network, Terminal } from '../../domain/model.js';
import { Ledger } from '../../ledger/book.js';
import type { BookingCommand, BookingResult, Refusal } from '../../ledger/commands.js';
import type { AuditEntry, EventRow } from '../../ledger/port.js';
import type { LoginFailures, NewPosition, StoreRefusalCode } from '../types.js';
import type { WindowRow } from '../settlement-types.js';
import { OUTBOX_COLUMNS, type PagoPaOutbox, type PagoPaOutcomeWrite } from '../pagopa-types.js';
import { flowValues, type NewPagoPaFlow, type PagoPaFlowAttempt } from '../pagopa-flow-types.js';
import { openReadConnection, openWriteConnection } from './connection.js';
import { verifyBalances, type BalanceMismatch } from './balance-check.js';
import { ImportCheck } from './import-check.js';
import { SqliteLedgerTx } from './ledger-tx.js';
import { toWindow, type WindowDbRow } from '../rows.js';
import { resealMismatch, type Reseal } from '../reseal.js';
import type { NetworkApplied, NetworkChange } from '../../network/change.js';
import { networkRows, networkStateOf, planNetworkChange, secretsOf } from '../network-change.js';

export interface Written<T> {
  value: T;
  /** Events of the transaction, committed: for the stream. */
  events: EventRow[];
}

export type CreatePositionsResult = { ids: number[] } | { errors: { row: number; code: StoreRefusalCode; detail: string }[] };
export type CancelResult = { ok: true } | ({ ok: false } & Refusal);

// Not the audit log: it is append-only and outlives a re-seed (its chain goes on).
const SEED_TABLES = [
  'ledger_checkpoints', 'events', 'pagopa_flows', 'pagopa_transfers', 'pagopa_payments', 'settlement_windows', 'reversal_advices', 'idempotency_records', 'window_movements', 'window_totals', 'ledger_entries',
  'ledger_balances', 'ledger_accounts', 'payment_options', 'payments', 'debt_positions', 'terminals', 'counters', 'fee_schedules',
  'services', 'circuit_fees', 'users', 'entities',
] as const;

export class SqliteWriteSide {
  private w;
  private ledgerTx: SqliteLedgerTx;
  private ledger: Ledger;
  /** Events written by the administrative transaction in progress, returned once it commits. */
  private txEvents: EventRow[] | null = null;

  constructor(private readonly file: string) {
    this.w = openWriteConnection(file);
    this.ledgerTx = new SqliteLedgerTx(this.w);
    this.ledger = new Ledger(this.ledgerTx);
  }

  close(): void {
    this.w.close();
  }

  /**
   * Test hook: the write connection reopened read-only (or back), so that every write
   * fails in SQLite itself with SQLITE_READONLY, as on a disk remounted read-only (root
   * ignores file modes, so a test cannot make the file read-only).
   */
  reopenForTests(readonly: boolean): Written<void> {
    this.w.close();
    this.w = readonly ? openReadConnection(this.file) : openWriteConnection(this.file);
    this.ledgerTx = new SqliteLedgerTx(this.w);
    this.ledger = new Ledger(this.ledgerTx);
    return { value: undefined, events: [] };
  }

  /** One small synced write: can the storage take writes again (store/health.ts)? */
  probe(at: number): Written<void> {
    this.w.prepare("INSERT INTO meta (key, value) VALUES ('write_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(at));
    return { value: undefined, events: [] };
  }

  /** The start's check of every balance against its entries (balance-check.ts). */
  verifyBalances(): Written<{ mismatches: BalanceMismatch[]; entriesSummed: number; accounts: number }> {
    return { value: verifyBalances(this.w), events: [] };
  }

  // ---------------------------------------------------------------- booking

  book(commands: BookingCommand[]): Written<BookingResult[]> {
    const { results, events } = this.ledger.runBatch(commands);
    return { value: results, events };
  }

  // ---------------------------------------------------------------- transactions with events

  /**
   * Runs an administrative write as one transaction; its events are returned only once
   * it has committed, so a rolled-back event is never published.
   */
  private tx<T>(fn: () => T): Written<T> {
    this.txEvents = [];
    try {
      const value = this.w.transaction(fn)();
      return { value, events: this.txEvents };
    } finally {
      this.txEvents = null;
    }
  }

  private emit(e: Omit<EventRow, 'seq'>): void {
    if (this.txEvents === null) throw new Error('emit outside tx()');
    this.txEvents.push({ ...e, seq: this.ledgerTx.insertEvent(e) });
  }

  private audit(a: AuditEntry, at: number): void {
    this.ledgerTx.audit(a, at);
  }

  recordEvent(e: Omit<EventRow, 'seq'>): Written<void> {
    return this.tx(() => this.emit(e));
  }

  // ---------------------------------------------------------------- pagoPA outbox

  claimPagoPaOutcomes(lapsedBy: number, until: number, limit: number): Written<PagoPaOutbox[]> {
    return this.tx(() => {
      const rows = this.w
        .prepare<[number, number], PagoPaOutbox>(
          `SELECT ${OUTBOX_COLUMNS} FROM pagopa_payments g JOIN payments p ON p.id = g.payment_id
           WHERE g.outcome = 'pending' AND (g.claimed_until IS NULL OR g.claimed_until <= ?) ORDER BY g.token_expires_at, g.payment_id LIMIT ?`,
        )
        .all(lapsedBy, limit);
      const claim = this.w.prepare<[number, number]>('UPDATE pagopa_payments SET claimed_until = ?, attempts = attempts + 1 WHERE payment_id = ?');
      for (const r of rows) {
        claim.run(until, r.paymentId);
        r.attempts += 1;
      }
      return rows;
    });
  }

  recordPagoPaOutcomes(writes: PagoPaOutcomeWrite[]): Written<boolean[]> {
    return this.tx(() => {
      const update = this.w.prepare<[string, number, string | null, number]>(
        "UPDATE pagopa_payments SET outcome = ?, outcome_at = ?, outcome_fault = ?, claimed_until = NULL WHERE payment_id = ? AND outcome = 'pending'",
      );
      return writes.map(({ paymentId, record: r, event }) => {
        const changed = update.run(r.outcome, r.at, r.fault, paymentId).changes === 1;
        if (changed && event) this.emit(event);
        return changed;
      });
    });
  }

  /** Reporting flows as built; one already stored under its id stays as it is (settlement/pagopa.ts). */
  savePagoPaFlows(flows: NewPagoPaFlow[]): Written<number> {
    return this.tx(() => {
      const insert = this.w.prepare(
        `INSERT INTO pagopa_flows (flow_id, settlement_date, creditor_fiscal_code, creditor_name, iban, total_cents, count, flow_date_time, xml, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (flow_id) DO NOTHING`,
      );
      let added = 0;
      for (const f of flows) added += insert.run(...flowValues(f)).changes;
      return added;
    });
  }

  recordPagoPaFlowAttempt(flowId: string, a: PagoPaFlowAttempt): Written<void> {
    this.w
      .prepare("UPDATE pagopa_flows SET state = ?, last_fault = ?, sent_at = ?, attempts = attempts + 1 WHERE flow_id = ? AND state <> 'accepted'")
      .run(a.state, a.fault, a.at, flowId);
    return { value: undefined, events: [] };
  }

  pruneEvents(before: number): Written<number> {
    const n = this.w.prepare('DELETE FROM events WHERE at < ? AND seq < (SELECT max(seq) FROM events)').run(before).changes;
    return { value: n, events: [] };
  }

  // ---------------------------------------------------------------- network

  insertTerminal(t: { id: string; counterId: string; tmkSealed: string; secretHash: string }, audit: AuditEntry, at: number): Written<void> {
    return this.tx(() => {
      this.w
        .prepare('INSERT INTO terminals (id, counter_id, status, tmk_enc, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(t.id, t.counterId, 'active', t.tmkSealed, t.secretHash, at);
      this.audit(audit, at);
    });
  }

  /** KEK rotation: all of them or none, checked against what was read (reseal.ts). */
  resealTerminalKeys(changes: Reseal[], audit: AuditEntry, at: number): Written<void> {
    return this.tx(() => {
      const current = this.w.prepare<[], { id: string; tmk_enc: string }>('SELECT id, tmk_enc FROM terminals').all();
      const mismatch = resealMismatch(current, changes);
      if (mismatch) throw new Error(mismatch);
      const update = this.w.prepare('UPDATE terminals SET tmk_enc = ? WHERE id = ? AND tmk_enc = ?');
      for (const c of changes) if (update.run(c.to, c.id, c.from).changes !== 1) throw new Error(`the TMK of ${c.id} changed during the KEK rotation: nothing was changed`);
      this.audit(audit, at);
    });
  }

  setTerminalStatus(id: string, status: Terminal['status'], audit: AuditEntry, at: number): Written<boolean> {
    return this.tx(() => {
      const counterId = this.w.prepare<[string], string>('SELECT counter_id FROM terminals WHERE id = ?').pluck().get(id);
      if (counterId === undefined) return false;
      this.w.prepare('UPDATE terminals SET status = ? WHERE id = ?').run(status, id);
      this.audit(audit, at);
      this.emit({
        type: status === 'blocked' ? 'terminal.blocked' : 'terminal.unblocked',
        at,
        terminalId: id,
        counterId,
        entityId: null,
        serviceCode: null,
        payload: { terminalId: id, counterId },
      });
      return true;
    });
  }

  rotateTerminalKey(id: string, key: { tmkSealed: string } | { secretHash: string }, audit: AuditEntry, at: number): Written<boolean> {
    return this.tx(() => {
      const counterId = this.w.prepare<[string], string>('SELECT counter_id FROM terminals WHERE id = ?').pluck().get(id);
      if (counterId === undefined) return false;
      if ('tmkSealed' in key) this.w.prepare('UPDATE terminals SET tmk_enc = ? WHERE id = ?').run(key.tmkSealed, id);
      else this.w.prepare('UPDATE terminals SET secret_hash = ? WHERE id = ?').run(key.secretHash, id);
      this.audit(audit, at);
      const which = 'tmkSealed' in key ? 'tmk' : 'apiSecret';
      this.emit({ type: 'terminal.key_rotated', at, terminalId: id, counterId, entityId: null, serviceCode: null, payload: { terminalId: id, counterId, key: which } });
      return true;
    });
  }

  /** Compare-and-set of the last accepted sign-on: (field 7 ms, field 11) must be later. */
  acceptSignOn(id: string, transmittedAtMs: number, stan: number): Written<boolean> {
    const changes = this.w
      .prepare(
        `UPDATE terminals SET signon_at = @at, signon_stan = @stan
         WHERE id = @id AND (signon_at IS NULL OR signon_at < @at OR (signon_at = @at AND signon_stan < @stan))`,
      )
      .run({ at: transmittedAtMs, stan, id }).changes;
    return { value: changes === 1, events: [] };
  }

  setCounterStatus(id: string, status: Counter['status'], audit: AuditEntry, at: number): Written<boolean> {
    return this.tx(() => {
      if (this.w.prepare('UPDATE counters SET status = ? WHERE id = ?').run(status, id).changes !== 1) return false;
      this.audit(audit, at);
      this.emit({
        type: status === 'suspended' ? 'counter.suspended' : 'counter.reactivated',
        at,
        terminalId: null,
        counterId: id,
        entityId: null,
        serviceCode: null,
        payload: { counterId: id },
      });
      return true;
    });
  }

  setUserDisabled(username: string, disabled: boolean, audit: AuditEntry, at: number): Written<boolean> {
    return this.tx(() => {
      if (this.w.prepare('UPDATE users SET disabled = ? WHERE username = ?').run(disabled ? 1 : 0, username).changes !== 1) return false;
      this.audit(audit, at);
      this.emit({ type: disabled ? 'user.disabled' : 'user.enabled', at, terminalId: null, counterId: null, entityId: null, serviceCode: null, payload: { username } });
      return true;
    });
  }

  setCreditLimit(id: string, cents: number, audit: AuditEntry, at: number): Written<boolean> {
    return this.tx(() => {
      if (this.w.prepare('UPDATE counters SET credit_limit_cents = ? WHERE id = ?').run(cents, id).changes !== 1) return false;
      this.audit(audit, at);
      return true;
    });
  }

  addUser(u: { username: string; role: 'entity' | 'finance' | 'admin'; entityId: string | null; passwordHash: string }, at: number): Written<void> {
    this.w
      .prepare(
        `INSERT INTO users (username, role, entity_id, password_hash, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (username) DO UPDATE SET role = excluded.role, entity_id = excluded.entity_id, password_hash = excluded.password_hash`,
      )
      .run(u.username, u.role, u.entityId, u.passwordHash, at);
    return { value: undefined, events: [] };
  }

  // ---------------------------------------------------------------- debt positions

  createPositions(rows: NewPosition[], actor: string, at: number): Written<CreatePositionsResult> {
    const importCheck = new ImportCheck(this.w);
    const written = this.tx(() => {
      importCheck.check(rows);
      if (importCheck.conflicts.length > 0) return [];
      const ids = this.insertPositions(rows, 'VALID', at);
      const byEntity = new Map<string, number>();
      for (const p of rows) byEntity.set(p.entityId, (byEntity.get(p.entityId) ?? 0) + 1);
      for (const [entityId, count] of byEntity) {
        this.audit({ actor, action: 'positions.create', target: entityId, detail: { count } }, at);
        this.emit({ type: 'notices.imported', at, terminalId: null, counterId: null, entityId, serviceCode: null, payload: { entityId, positions: count } });
      }
      return ids;
    });
    const errors = importCheck.conflicts;
    return { value: errors.length > 0 ? { errors } : { ids: written.value }, events: written.events };
  }

  // A large import is written in slices, each its own short transaction, so booking
  // batches go on in between: positions first as DRAFT (never payable), then published.

  /** Inserts positions as drafts; their ids in order. */
  insertDraftPositions(rows: NewPosition[], at: number): Written<number[]> {
    return { value: this.w.transaction(() => this.insertPositions(rows, 'DRAFT', at))(), events: [] };
  }

  /** Inserts positions with their options, in the caller's transaction; their ids in order. */
  private insertPositions(rows: NewPosition[], status: 'VALID' | 'DRAFT', at: number): number[] {
    const insertPosition = this.w.prepare(
      `INSERT INTO debt_positions (entity_id, service_code, external_ref, debtor_cf, debtor_name, description, status, valid_until, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertOption = this.w.prepare(
      `INSERT INTO payment_options (position_id, notice_number, lookup_key, kind, instalment_no, amount_cents, due_date, description, rule_params)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    return rows.map((p) => {
      const id = Number(insertPosition.run(p.entityId, p.serviceCode, p.externalRef, p.debtorCf, p.debtorName, p.description, status, p.validUntil, at).lastInsertRowid);
      for (const o of p.options) {
        insertOption.run(id, o.noticeNumber, o.lookupKey, o.kind, o.instalmentNo, o.amountCents, o.dueDate, o.description, o.ruleParams ? JSON.stringify(o.ruleParams) : null);
      }
      return id;
    });
  }

  /**
   * Drafts left by a large upload that a crash interrupted (only sliced uploads write
   * DRAFT positions, and none is payable): taken back when the server starts. Their
   * uploader got no answer and sends the upload again.
   */
  deleteStaleDrafts(): Written<number> {
    const n = this.w.transaction(() => {
      this.w.prepare("DELETE FROM payment_options WHERE position_id IN (SELECT id FROM debt_positions WHERE status = 'DRAFT')").run();
      return this.w.prepare("DELETE FROM debt_positions WHERE status = 'DRAFT'").run().changes;
    })();
    return { value: n, events: [] };
  }

  recordImport(scope: string, sha256: string, positions: number, at: number): Written<void> {
    this.w.prepare('INSERT OR IGNORE INTO position_imports (scope, sha256, positions, imported_at) VALUES (?, ?, ?, ?)').run(scope, sha256, positions, at);
    return { value: undefined, events: [] };
  }

  /** Takes back the drafts of an import that failed part-way. */
  deleteDraftPositions(ids: number[]): Written<void> {
    const delOptions = this.w.prepare("DELETE FROM payment_options WHERE position_id = ? AND EXISTS (SELECT 1 FROM debt_positions WHERE id = ? AND status = 'DRAFT')");
    const delPosition = this.w.prepare("DELETE FROM debt_positions WHERE id = ? AND status = 'DRAFT'");
    this.w.transaction(() => {
      for (const id of ids) {
        delOptions.run(id, id);
        delPosition.run(id);
      }
    })();
    return { value: undefined, events: [] };
  }

  /** Publishes drafts (DRAFT → VALID); with `done`, the import's audit entries and events go in the same transaction. */
  publishPositions(ids: number[], done: { actor: string; byEntity: [string, number][] } | null, at: number): Written<void> {
    const publish = this.w.prepare("UPDATE debt_positions SET status = 'VALID' WHERE id = ? AND status = 'DRAFT'");
    return this.tx(() => {
      for (const id of ids) publish.run(id);
      for (const [entityId, count] of done?.byEntity ?? []) {
        this.audit({ actor: done!.actor, action: 'positions.create', target: entityId, detail: { count } }, at);
        this.emit({ type: 'notices.imported', at, terminalId: null, counterId: null, entityId, serviceCode: null, payload: { entityId, positions: count } });
      }
    });
  }

  cancelPosition(id: number, actor: string, at: number): Written<CancelResult> {
    return this.tx((): CancelResult => {
      const p = this.w.prepare<[number], { status: string }>('SELECT status FROM debt_positions WHERE id = ?').get(id);
      if (!p) return { ok: false, code: 'NOT_FOUND', detail: `no debt position ${id}` };
      if (p.status === 'INVALID') return { ok: true };
      if (p.status === 'PAID' || p.status === 'PARTIALLY_PAID') return { ok: false, code: 'CONFLICT', detail: `position ${id} is ${p.status} and cannot be cancelled` };
      this.w.prepare("UPDATE debt_positions SET status = 'INVALID' WHERE id = ?").run(id);
      this.audit({ actor, action: 'positions.cancel', target: String(id) }, at);
      return { ok: true };
    });
  }

  // ---------------------------------------------------------------- settlement

  closeWindow(date: string, at: number): Written<void> {
    this.w.prepare("INSERT OR IGNORE INTO settlement_windows (date, status, closed_at) VALUES (?, 'closed', ?)").run(date, at);
    return { value: undefined, events: [] };
  }

  saveDraft(date: string, figures: string, figuresHash: string, at: number): Written<boolean> {
    const changes = this.w
      .prepare(`UPDATE settlement_windows SET status = 'draft', figures = ?, figures_hash = ?, computed_at = ? WHERE date = ? AND status IN ('closed', 'draft')`)
      .run(figures, figuresHash, at, date).changes;
    return { value: changes === 1, events: [] };
  }

  approveWindow(date: string, actor: string, at: number, settledByCounter: [string, number][]): Written<WindowRow> {
    const windowRow = this.w.prepare<[string], WindowDbRow>('SELECT * FROM settlement_windows WHERE date = ?');
    return this.tx(() => {
      const r = windowRow.get(date);
      if (!r) throw new Error(`no settlement for ${date}`);
      if (r.status === 'draft') {
        this.w.prepare("UPDATE settlement_windows SET status = 'approved', approved_at = ?, approved_by = ? WHERE date = ?").run(at, actor, date);
        const settle = this.w.prepare('UPDATE counters SET settled_cents = settled_cents + ? WHERE id = ?');
        for (const [counterId, cents] of settledByCounter) settle.run(cents, counterId);
        this.audit({ actor, action: 'settlement.approve', target: date, detail: { figuresHash: r.figures_hash } }, at);
        this.emit({
          type: 'settlement.approved',
          at,
          terminalId: null,
          counterId: null,
          entityId: null,
          serviceCode: null,
          payload: { date, approvedBy: actor, figuresHash: r.figures_hash },
        });
      }
      return toWindow(windowRow.get(date)!);
    });
  }

  markExported(date: string, at: number): Written<void> {
    this.w
      .prepare("UPDATE settlement_windows SET status = 'exported', exported_at = coalesce(exported_at, ?) WHERE date = ? AND status IN ('approved', 'exported')")
      .run(at, date);
    return { value: undefined, events: [] };
  }

  // ---------------------------------------------------------------- audit and login throttling

  appendAudit(entries: AuditEntry[], at: number): Written<void> {
    return this.tx(() => {
      for (const a of entries) this.audit(a, at);
    });
  }

  recordLoginFailure(account: string, at: number): Written<LoginFailures> {
    const r = this.w
      .prepare<[string, number], { failures: number; last_failure_at: number }>(
        `INSERT INTO login_failures (account, failures, last_failure_at) VALUES (?, 1, ?)
         ON CONFLICT (account) DO UPDATE SET failures = failures + 1, last_failure_at = excluded.last_failure_at RETURNING failures, last_failure_at`,
      )
      .get(account, at)!;
    return { value: { failures: r.failures, lastFailureAt: r.last_failure_at }, events: [] };
  }

  clearLoginFailures(account: string): Written<boolean> {
    return { value: this.w.prepare('DELETE FROM login_failures WHERE account = ?').run(account).changes > 0, events: [] };
  }

  pruneLoginFailures(before: number): Written<number> {
    return { value: this.w.prepare('DELETE FROM login_failures WHERE last_failure_at < ?').run(before).changes, events: [] };
  }

  // ---------------------------------------------------------------- console sessions ended by logout

  endSession(id: string, until: number, now: number): Written<void> {
    return this.tx(() => {
      this.w.prepare('DELETE FROM ended_sessions WHERE until < ?').run(now);
      this.w.prepare('INSERT OR IGNORE INTO ended_sessions (session_id, until) VALUES (?, ?)').run(id, until);
    });
  }

  // ---------------------------------------------------------------- network configuration

  /** A network change, planned against the rows as they are now and written in one transaction (network-change.ts). */
  applyNetworkChange(
    change: NetworkChange,
    secrets: { terminals: [string, { tmkSealed: string; secretHash: string }][]; users: [string, { passwordHash: string }][] },
    actor: string,
    at: number,
  ): Written<NetworkApplied> {
    return this.tx(() => {
      const all = <R>(sql: string) => this.w.prepare<[], R>(sql).all();
      const current = networkStateOf(networkRows(all));
      const plan = planNetworkChange(current, change, secretsOf(secrets), actor, at);
      for (const st of plan.statements) {
        if (this.w.prepare(st.sql).run(...st.params).changes !== 1) throw new Error(`the network change met a row that moved under it: ${st.sql.split(' (')[0]}`);
      }
      for (const a of plan.audits) this.audit(a, at);
      if (plan.event) this.emit(plan.event);
      return plan.applied;
    });
  }

  // ---------------------------------------------------------------- seed

  /** Replaces catalogue, network and positions; terminals' TMKs sealed by the caller. */
  seed(catalogue: Catalogue, network: Network, sealed: [string, { tmkSealed: string; secretHash: string }][], at: number): Written<void> {
    const w = this.w;
    const keys = new Map(sealed);
    w.transaction(() => {
      for (const t of SEED_TABLES) w.prepare(`DELETE FROM ${t}`).run();
      w.prepare("DELETE FROM meta WHERE key = 'ledger_checkpoint'").run();
      const insEntity = w.prepare(
        'INSERT INTO entities (id, name, fiscal_code, iban, is_circuit_owner, segregation_code, vat_number, office_code, pagopa) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      const insFee = w.prepare('INSERT INTO circuit_fees (entity_id, effective_from, fee_cents, mode) VALUES (?, ?, ?, ?)');
      for (const e of catalogue.entities) {
        insEntity.run(e.id, e.name, e.fiscalCode, e.iban, e.isCircuitOwner ? 1 : 0, e.segregationCode, e.vatNumber ?? null, e.officeCode ?? null, e.pagopa ? 1 : 0);
        if (e.circuitFee) insFee.run(e.id, e.circuitFee.effectiveFrom, e.circuitFee.feeCents, e.circuitFee.mode);
      }
      const insService = w.prepare(
        'INSERT INTO services (code, name, entity_id, amount_kind, identifier_kind, rule, fixed_cents, min_cents, max_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (const s of catalogue.services) insService.run(s.code, s.name, s.entityId, s.amountKind, s.identifierKind, s.rule, s.fixedCents, s.minCents, s.maxCents);
      const insSchedule = w.prepare(
        'INSERT INTO fee_schedules (service_code, counter_kind, effective_from, fee_rule, commission_rate, royalty_cents) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const f of catalogue.feeSchedules) insSchedule.run(f.serviceCode, f.counterKind, f.effectiveFrom, JSON.stringify(f.feeRule), f.commissionRate, f.royaltyCents);
      const insCounter = w.prepare(
        "INSERT INTO counters (id, kind, name, address, town, iban, mandate_ref, credit_limit_cents, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active')",
      );
      for (const c of network.counters) insCounter.run(c.id, c.kind, c.name, c.address, c.town, c.iban, c.mandateRef, c.creditLimitCents);
      const insTerminal = w.prepare("INSERT INTO terminals (id, counter_id, status, tmk_enc, secret_hash, created_at) VALUES (?, ?, 'active', ?, ?, ?)");
      for (const t of network.terminals) {
        const s = keys.get(t.id);
        if (!s) throw new Error(`no sealed key for terminal ${t.id}`);
        insTerminal.run(t.id, t.counterId, s.tmkSealed, s.secretHash, at);
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
        const id = insPosition.run(p.entityId, p.serviceCode, p.externalRef, p.debtorCf, p.debtorName, p.description, p.status, p.validUntil, at).lastInsertRowid;
        for (const o of p.options) {
          insOption.run(id, o.noticeNumber, o.lookupKey, o.kind, o.instalmentNo, o.amountCents, o.dueDate, o.description, o.ruleParams ? JSON.stringify(o.ruleParams) : null);
        }
      }
    })();
    // A new ledger: no account ids or payment numbers from before the seed.
    this.ledgerTx = new SqliteLedgerTx(this.w);
    this.ledger = new Ledger(this.ledgerTx);
    return { value: undefined, events: [] };
  }
}

/** The operations the writer's thread runs, by name. */
export type WriteOp = {
  [K in keyof SqliteWriteSide]: SqliteWriteSide[K] extends (...args: infer A) => Written<infer R> ? { op: K; args: A; result: R } : never;
}[keyof SqliteWriteSide];
