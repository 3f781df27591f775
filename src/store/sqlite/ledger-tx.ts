// The ledger's port on SQLite: prepared statements on the write connection, one
// transaction per batch and a savepoint per command. It only stores; the rules are in
// src/ledger/book.ts.
import type Database from 'better-sqlite3';
import type { Payment, PositionStatus } from '../../domain/model.js';
import type { OptionState } from '../../domain/positions.js';
import type { PagoPaBooking, PagoPaOutcomeState } from '../../ledger/commands.js';
import type { AuditEntry, CounterState, EventRow, IdempotencyRecord, LedgerTx, WindowTotal } from '../../ledger/port.js';
import { accountKey, type AccountKind, type AccountRef, type Posting } from '../../ledger/postings.js';
import { PAYMENT_COLUMNS, paymentParams, toPayment, type IdempotencyRow, type PaymentRow } from '../rows.js';
import { auditRowHash } from '../audit-chain.js';

type Db = Database.Database;

function statements(w: Db) {
  return {
    begin: w.prepare('BEGIN IMMEDIATE'),
    commit: w.prepare('COMMIT'),
    rollback: w.prepare('ROLLBACK'),
    savepoint: w.prepare('SAVEPOINT cmd'),
    release: w.prepare('RELEASE cmd'),
    rollbackTo: w.prepare('ROLLBACK TO cmd'),
    accountId: w.prepare<[string, string], number>('SELECT id FROM ledger_accounts WHERE kind = ? AND owner_id = ?').pluck(),
    insertAccount: w.prepare<[string, string]>('INSERT INTO ledger_accounts (kind, owner_id) VALUES (?, ?)'),
    balance: w.prepare<[number], number>('SELECT balance_cents FROM ledger_balances WHERE account_id = ?').pluck(),
    addWindowMovement: w.prepare<[string, number, number]>(
      `INSERT INTO window_movements (settlement_date, account_id, amount_cents) VALUES (?, ?, ?)
       ON CONFLICT (settlement_date, account_id) DO UPDATE SET amount_cents = amount_cents + excluded.amount_cents`,
    ),
    addTotal: w.prepare<[string, string, string, string, string, number, number, number, number, number, number, number, number]>(
      `INSERT INTO window_totals (settlement_date, kind, entity_id, service_code, counter_id, n, amount_cents, fee_cents, commission, operator, royalty, netted, rebilled)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (settlement_date, kind, entity_id, service_code, counter_id) DO UPDATE SET
         n = n + excluded.n, amount_cents = amount_cents + excluded.amount_cents, fee_cents = fee_cents + excluded.fee_cents,
         commission = commission + excluded.commission, operator = operator + excluded.operator, royalty = royalty + excluded.royalty,
         netted = netted + excluded.netted, rebilled = rebilled + excluded.rebilled`,
    ),
    addBalance: w.prepare<[number, number]>(
      `INSERT INTO ledger_balances (account_id, balance_cents) VALUES (?, ?)
       ON CONFLICT (account_id) DO UPDATE SET balance_cents = balance_cents + excluded.balance_cents`,
    ),
    insertEntry: w.prepare<[number, number, number, number, number, string]>(
      'INSERT INTO ledger_entries (payment_id, account_id, amount_cents, is_reversal, booked_at, settlement_date) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    postingsOf: w.prepare<[number], { kind: AccountKind; owner_id: string; amount_cents: number }>(
      `SELECT a.kind, a.owner_id, e.amount_cents FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
       WHERE e.payment_id = ? AND e.is_reversal = 0 ORDER BY e.id`,
    ),
    terminalStatus: w.prepare<[string], 'active' | 'blocked'>('SELECT status FROM terminals WHERE id = ?').pluck(),
    counter: w.prepare<[string], { status: 'active' | 'suspended'; credit_limit_cents: number; settled_cents: number }>(
      'SELECT status, credit_limit_cents, settled_cents FROM counters WHERE id = ?',
    ),
    option: w.prepare<
      [number],
      { option_id: number; position_id: number; notice_number: string; kind: 'single' | 'instalment'; paid_payment_id: number | null; position_status: PositionStatus; valid_until: string | null }
    >(
      `SELECT o.id AS option_id, o.position_id, o.notice_number, o.kind, o.paid_payment_id, p.status AS position_status, p.valid_until
       FROM payment_options o JOIN debt_positions p ON p.id = o.position_id WHERE o.id = ?`,
    ),
    optionsOfPosition: w.prepare<[number], { kind: 'single' | 'instalment'; paid_payment_id: number | null }>(
      'SELECT kind, paid_payment_id FROM payment_options WHERE position_id = ?',
    ),
    markOptionPaid: w.prepare<[number, number]>('UPDATE payment_options SET paid_payment_id = ? WHERE id = ? AND paid_payment_id IS NULL'),
    unmarkOption: w.prepare<[number]>('UPDATE payment_options SET paid_payment_id = NULL WHERE paid_payment_id = ?'),
    setPositionStatus: w.prepare<[PositionStatus, number]>('UPDATE debt_positions SET status = ? WHERE id = ?'),
    insertPayment: w.prepare<[Record<string, string | number | null>]>(
      `INSERT INTO payments (${PAYMENT_COLUMNS}) VALUES (@id, @publicId, @channel, @terminalId, @counterId,
       @counterKind, @entityId, @serviceCode, @identifier, @optionId, @payerCf, @amountCents, @feeCents,
       @feeCommission, @feeOperator, @feeRoyalty, @circuitFeeCents, @circuitFeeMode, @stan, @rrn, @approvalCode,
       @receiptNumber, @description, @bookedAt, @settlementDate, NULL, NULL, NULL)`,
    ),
    paymentById: w.prepare<[number], PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ?`),
    maxPaymentId: w.prepare<[], number | null>('SELECT max(id) FROM payments').pluck(),
    markReversed: w.prepare<[number, string, string, number]>(
      'UPDATE payments SET reversed_at = ?, reversal_settlement_date = ?, reversal_kind = ? WHERE id = ? AND reversed_at IS NULL',
    ),
    idem: w.prepare<[string, string], IdempotencyRow>(
      'SELECT terminal_id, key, request_hash, status, response, payment_id FROM idempotency_records WHERE terminal_id = ? AND key = ?',
    ),
    insertIdem: w.prepare<[string, string, string, number, string, number | null, number]>(
      'INSERT INTO idempotency_records (terminal_id, key, request_hash, status, response, payment_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    insertEvent: w.prepare<[string, number, string | null, string | null, string | null, string | null, string]>(
      'INSERT INTO events (type, at, terminal_id, counter_id, entity_id, service_code, payload) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    advice: w.prepare<[string, string], number>('SELECT 1 FROM reversal_advices WHERE terminal_id = ? AND key = ?').pluck(),
    insertAdvice: w.prepare<[string, string, number]>('INSERT OR IGNORE INTO reversal_advices (terminal_id, key, at) VALUES (?, ?, ?)'),
    windowClosed: w.prepare<[string], number>('SELECT 1 FROM settlement_windows WHERE date = ?').pluck(),
    entityName: w.prepare<[string], string>('SELECT name FROM entities WHERE id = ?').pluck(),
    auditHead: w.prepare<[], { last_id: number; last_hash: string }>('SELECT last_id, last_hash FROM audit_chain WHERE id = 1'),
    insertAudit: w.prepare<[number, number, string, string, string, string | null, string, string]>(
      'INSERT INTO audit_log (id, at, actor, action, target, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    setAuditHead: w.prepare<[number, string]>('UPDATE audit_chain SET last_id = ?, last_hash = ? WHERE id = 1'),
    pagopaOutcome: w.prepare<[number], PagoPaOutcomeState>('SELECT outcome FROM pagopa_payments WHERE payment_id = ?').pluck(),
    insertPagoPa: w.prepare<[number, string, string, string, string, string, string, number, number, number]>(
      `INSERT INTO pagopa_payments (payment_id, creditor_fiscal_code, creditor_name, notice_number, iuv, payment_token, idempotency_key, activated_at, token_expires_at, claimed_until)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertPagoPaTransfer: w.prepare<[number, number, number, string, string, string]>(
      'INSERT INTO pagopa_transfers (payment_id, idx, amount_cents, fiscal_code, iban, remittance) VALUES (?, ?, ?, ?, ?, ?)',
    ),
  };
}

export class SqliteLedgerTx implements LedgerTx {
  private readonly s: ReturnType<typeof statements>;
  /** Account ids by accountKey: rows created inside a savepoint are forgotten if it rolls back. */
  private readonly accounts = new Map<string, number>();
  private accountsSinceSavepoint: string[] = [];
  private nextId: number;
  private firstIdOfBatch = 0;

  constructor(private readonly w: Db) {
    this.s = statements(w);
    this.nextId = (this.s.maxPaymentId.get() ?? 0) + 1;
  }

  // ---- transaction control
  begin(): void {
    this.firstIdOfBatch = this.nextId;
    this.s.begin.run();
  }
  commit(): void {
    this.s.commit.run();
  }
  rollback(): void {
    if (this.w.inTransaction) this.s.rollback.run();
    this.nextId = this.firstIdOfBatch;
    this.accounts.clear(); // ids cached during the batch may be gone with it
  }
  savepoint(): void {
    this.accountsSinceSavepoint = [];
    this.s.savepoint.run();
  }
  release(): void {
    this.s.release.run();
  }
  rollbackToSavepoint(): void {
    this.s.rollbackTo.run();
    for (const k of this.accountsSinceSavepoint) this.accounts.delete(k);
    this.accountsSinceSavepoint = [];
  }

  // ---- reads
  idempotency(terminalId: string, key: string): IdempotencyRecord | undefined {
    const r = this.s.idem.get(terminalId, key);
    return r && { terminalId: r.terminal_id, key: r.key, requestHash: r.request_hash, status: r.status, response: r.response, paymentId: r.payment_id };
  }
  hasAdvice(terminalId: string, key: string): boolean {
    return this.s.advice.get(terminalId, key) !== undefined;
  }
  terminalStatus(terminalId: string) {
    return this.s.terminalStatus.get(terminalId);
  }
  counter(counterId: string): CounterState | undefined {
    const c = this.s.counter.get(counterId);
    return c && { status: c.status, creditLimitCents: c.credit_limit_cents, settledCents: c.settled_cents };
  }
  option(optionId: number): (OptionState & { optionId: number; positionId: number }) | undefined {
    const o = this.s.option.get(optionId);
    return (
      o && {
        optionId: o.option_id,
        positionId: o.position_id,
        noticeNumber: o.notice_number,
        kind: o.kind,
        paidPaymentId: o.paid_payment_id,
        positionStatus: o.position_status,
        validUntil: o.valid_until,
      }
    );
  }
  optionsOfPosition(positionId: number) {
    return this.s.optionsOfPosition.all(positionId).map((o) => ({ kind: o.kind, paid: o.paid_payment_id !== null }));
  }
  storedBalance(account: AccountRef): number {
    const id = this.existingAccount(account);
    return id === undefined ? 0 : (this.s.balance.get(id) ?? 0);
  }
  windowClosed(date: string): boolean {
    return this.s.windowClosed.get(date) !== undefined;
  }
  entityName(entityId: string): string {
    return this.s.entityName.get(entityId) ?? entityId;
  }
  payment(id: number): Payment | undefined {
    const r = this.s.paymentById.get(id);
    return r && toPayment(r);
  }
  postingsOf(paymentId: number): Posting[] {
    return this.s.postingsOf.all(paymentId).map((e) => ({ account: { kind: e.kind, ownerId: e.owner_id }, amountCents: e.amount_cents }));
  }

  // ---- writes
  allocatePaymentId(): number {
    return this.nextId++;
  }
  insertPayment(p: Payment): void {
    this.s.insertPayment.run(paymentParams(p));
  }
  insertEntries(paymentId: number, postings: Posting[], isReversal: boolean, at: number, window: string): void {
    for (const p of postings) this.s.insertEntry.run(paymentId, this.account(p.account), p.amountCents, isReversal ? 1 : 0, at, window);
  }
  markOptionPaid(optionId: number, paymentId: number): boolean {
    return this.s.markOptionPaid.run(paymentId, optionId).changes === 1;
  }
  unmarkOption(paymentId: number): void {
    this.s.unmarkOption.run(paymentId);
  }
  setPositionStatus(positionId: number, status: PositionStatus): void {
    this.s.setPositionStatus.run(status, positionId);
  }
  markReversed(paymentId: number, at: number, window: string, kind: 'reversal' | 'adjustment'): void {
    this.s.markReversed.run(at, window, kind, paymentId);
  }
  insertIdempotency(r: IdempotencyRecord, at: number): void {
    this.s.insertIdem.run(r.terminalId, r.key, r.requestHash, r.status, r.response, r.paymentId, at);
  }
  pagopaOutcome(paymentId: number): PagoPaOutcomeState | undefined {
    return this.s.pagopaOutcome.get(paymentId);
  }
  insertPagoPa(paymentId: number, b: PagoPaBooking): void {
    this.s.insertPagoPa.run(paymentId, b.creditorFiscalCode, b.creditorName, b.noticeNumber, b.iuv, b.paymentToken, b.idempotencyKey, b.activatedAt, b.tokenExpiresAt, b.claimedUntil);
    for (const t of b.transfers) this.s.insertPagoPaTransfer.run(paymentId, t.index, t.amountCents, t.fiscalCode, t.iban, t.remittance);
  }
  insertAdvice(terminalId: string, key: string, at: number): void {
    this.s.insertAdvice.run(terminalId, key, at);
  }
  insertEvent(e: Omit<EventRow, 'seq'>): number {
    const info = this.s.insertEvent.run(e.type, e.at, e.terminalId, e.counterId, e.entityId, e.serviceCode, JSON.stringify(e.payload));
    return Number(info.lastInsertRowid);
  }
  /** Appends a row to the audit chain (audit-chain.ts): the head is read and moved in this transaction. */
  audit(a: AuditEntry, at: number): void {
    const head = this.s.auditHead.get();
    if (!head) throw new Error('the audit chain has no head (prepareDatabase creates it)');
    const row = { id: head.last_id + 1, at, actor: a.actor, action: a.action, target: a.target, detail: a.detail ? JSON.stringify(a.detail) : null };
    const hash = auditRowHash(head.last_hash, row);
    this.s.insertAudit.run(row.id, at, row.actor, row.action, row.target, row.detail, head.last_hash, hash);
    this.s.setAuditHead.run(row.id, hash);
  }
  applyDeltas(
    balances: ReadonlyMap<string, { account: AccountRef; cents: number }>,
    windows: ReadonlyMap<string, { date: string; account: AccountRef; cents: number }>,
    totals: ReadonlyMap<string, WindowTotal>,
  ): void {
    for (const d of balances.values()) if (d.cents !== 0) this.s.addBalance.run(this.account(d.account), d.cents);
    for (const d of windows.values()) if (d.cents !== 0) this.s.addWindowMovement.run(d.date, this.account(d.account), d.cents);
    for (const t of totals.values()) {
      this.s.addTotal.run(t.date, t.kind, t.entityId, t.serviceCode, t.counterId, t.n, t.amountCents, t.feeCents, t.commission, t.operator, t.royalty, t.netted, t.rebilled);
    }
  }

  private existingAccount(ref: AccountRef): number | undefined {
    const key = accountKey(ref);
    let id = this.accounts.get(key);
    if (id === undefined) {
      id = this.s.accountId.get(ref.kind, ref.ownerId);
      if (id !== undefined) this.accounts.set(key, id);
    }
    return id;
  }

  private account(ref: AccountRef): number {
    const existing = this.existingAccount(ref);
    if (existing !== undefined) return existing;
    const id = Number(this.s.insertAccount.run(ref.kind, ref.ownerId).lastInsertRowid);
    const key = accountKey(ref);
    this.accounts.set(key, id);
    this.accountsSinceSavepoint.push(key);
    return id;
  }
}
