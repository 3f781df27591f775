// One booking batch on PostgreSQL. The ledger's rules (src/ledger/book.ts) are
// synchronous and run over the port; PostgreSQL answers asynchronously. So a batch runs
// in three steps inside one transaction:
//   1. read, under locks, every row the batch's checks can ask for (idempotency keys
//      under advisory locks, the paying counters FOR UPDATE for the credit limit, the
//      options and their positions FOR UPDATE for "paid at most once", the originals of
//      reversals FOR UPDATE), into an in-memory port (MemoryLedgerTx);
//   2. run the same rules over it, savepoints and all;
//   3. write what the rules wrote, then the events under the event_sequence lock, COMMIT.
// Locks are always taken in that order (advisory, payments, counters, options, balances,
// totals, event sequence), each set sorted, so that two instances do not deadlock; if
// PostgreSQL still reports a deadlock or a serialization failure, the whole batch runs
// again from step 1. Nothing is answered before COMMIT, so a retry never books twice.
import type { Payment, PositionStatus } from '../../domain/model.js';
import type { BookingCommand, PagoPaOutcomeState } from '../../ledger/commands.js';
import { MemoryLedgerTx } from '../../ledger/memory.js';
import type { AuditEntry, EventRow, IdempotencyRecord, WindowTotal } from '../../ledger/port.js';
import { accountKey, type AccountKind, type AccountRef } from '../../ledger/postings.js';
import { PAYMENT_COLUMNS, toPayment, type PaymentRow } from '../rows.js';
import { lockKey, prepared, type PoolClient } from './pool.js';

/** Booking takes this advisory lock shared; closing a window takes it exclusive. */
export const WINDOW_LOCK = 7_351_002;

type Q = Pick<PoolClient, 'query'>;

/** Every statement of a batch is prepared: a connection parses and plans it once. */
function run<R extends object = object>(c: Q, sql: string, params: unknown[] = []) {
  return c.query<R>(prepared(sql, params));
}

/** The in-memory port of one batch: MemoryLedgerTx preloaded, with what changed kept apart. */
export class PgBatchTx extends MemoryLedgerTx {
  private ids: number[] = [];
  private nextIdIndex = 0;
  readonly newPaymentIds = new Set<number>();
  /** Rows as read, to write back only what changed. */
  readonly readPayments = new Map<number, Payment>();
  readonly readOptionMarks = new Map<number, number | null>();
  readonly readPositionStatus = new Map<number, PositionStatus>();
  readonly readIdempotency = new Set<string>();
  readonly readEntries: number;
  readonly newAdvices: { terminalId: string; key: string; at: number }[] = [];
  readonly newIdempotency: (IdempotencyRecord & { at: number })[] = [];
  deltas: {
    balances: { account: AccountRef; cents: number }[];
    windows: { date: string; account: AccountRef; cents: number }[];
    totals: WindowTotal[];
  } | null = null;

  constructor(loaded: (tx: PgBatchTx) => number) {
    super();
    this.readEntries = loaded(this);
  }

  setIds(ids: number[]): void {
    this.ids = ids;
  }

  override allocatePaymentId(): number {
    const id = this.ids[this.nextIdIndex++];
    if (id === undefined) throw new Error('more payments than ids taken for the batch');
    this.record(() => this.nextIdIndex--);
    this.newPaymentIds.add(id);
    return id;
  }

  override insertIdempotency(r: IdempotencyRecord, at: number): void {
    super.insertIdempotency(r);
    this.newIdempotency.push({ ...r, at });
    this.record(() => this.newIdempotency.pop());
  }

  override insertAdvice(terminalId: string, key: string, at: number): void {
    if (this.hasAdvice(terminalId, key)) return;
    super.insertAdvice(terminalId, key);
    this.newAdvices.push({ terminalId, key, at });
    this.record(() => this.newAdvices.pop());
  }

  override applyDeltas(
    balances: ReadonlyMap<string, { account: AccountRef; cents: number }>,
    windows: ReadonlyMap<string, { date: string; account: AccountRef; cents: number }>,
    totals: ReadonlyMap<string, WindowTotal>,
  ): void {
    super.applyDeltas(balances, windows, totals);
    this.deltas = {
      balances: [...balances.values()].filter((d) => d.cents !== 0).map((d) => ({ ...d })),
      windows: [...windows.values()].filter((d) => d.cents !== 0).map((d) => ({ ...d })),
      totals: [...totals.values()].map((t) => ({ ...t })),
    };
  }
}

const idemKey = (terminalId: string, key: string) => `${terminalId}\0${key}`;

/** Reads, under locks, every row the commands' checks can ask for. */
export async function loadBatch(c: Q, commands: readonly BookingCommand[], entityNames: ReadonlyMap<string, string>): Promise<PgBatchTx> {
  // Keys: every idempotency key the batch names (its own, and the originals' of ISO reversals).
  const keys = new Map<string, { terminalId: string; key: string }>();
  const addKey = (terminalId: string, key: string) => keys.set(idemKey(terminalId, key), { terminalId, key });
  const terminals = new Set<string>();
  const payCounters = new Set<string>();
  const optionIds = new Set<number>();
  const paymentIds = new Set<number>();
  /** Payments the finance office cancels: whether their own window is closed decides how. */
  const cancelled: number[] = [];
  let pays = 0;
  let earliest = '9999-12-31';
  for (const cmd of commands) {
    terminals.add(cmd.terminalId);
    if (cmd.settlementDate < earliest) earliest = cmd.settlementDate;
    if (cmd.kind === 'pay') {
      pays++;
      payCounters.add(cmd.counterId);
      if (cmd.optionId !== null) optionIds.add(cmd.optionId);
      if (cmd.idempotency) addKey(cmd.terminalId, cmd.idempotency.key);
    } else {
      if (cmd.idempotency) addKey(cmd.terminalId, cmd.idempotency.key);
      if ('paymentId' in cmd.original) paymentIds.add(cmd.original.paymentId);
      else addKey(cmd.terminalId, cmd.original.key);
      if (cmd.cancel && 'paymentId' in cmd.original) cancelled.push(cmd.original.paymentId);
    }
  }

  // Round trips are what a batch waits on (each one needs the switch's event loop), so
  // the reads are gathered into as few statements as the locks allow: a statement reads
  // from the snapshot it started with, so what must follow a lock is read by a later one.
  const keyList = [...keys.values()];
  // The reads are planned at each run with the batch's values (not prepared): their best
  // plans change as the day's tables grow, and a plan kept from a small table scans it whole.
  const rows = async <R extends object>(sql: string, params: unknown[]): Promise<R[]> => (await c.query<R>(sql, params)).rows;
  // 1. Locks: booking into windows (shared), and every idempotency key of the batch, in
  //    order (the same key on two instances at once: one waits for the other's COMMIT,
  //    then replays it); and the payment numbers the batch may use.
  const locks = [...new Set(keyList.map((k) => lockKey(idemKey(k.terminalId, k.key))))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const [first] = await rows<{ ids: number[] }>(
    `SELECT pg_advisory_xact_lock_shared($1), (SELECT count(pg_advisory_xact_lock(k)) FROM unnest($2::bigint[]) AS k),
       ARRAY(SELECT nextval('payments_id_seq') FROM generate_series(1, $3)) AS ids`,
    [WINDOW_LOCK, locks.map(String), pays],
  );
  // 2. Plain reads after those locks: idempotency records and advices of the keys, the
  //    terminals' status, the windows closed from the earliest one the batch names (a
  //    cancelled payment's own window included; its date never changes, so it is read unlocked).
  const [plain] = await rows<{
    idem: { t: string; k: string; h: string; s: number; r: string; p: number | null }[];
    advices: [string, string][];
    terminals: [string, 'active' | 'blocked'][];
    windows: string[];
  }>(
    `SELECT
       (SELECT coalesce(json_agg(json_build_object('t', r.terminal_id, 'k', r.key, 'h', r.request_hash, 's', r.status, 'r', r.response, 'p', r.payment_id)), '[]')
          FROM unnest($1::text[], $2::text[]) AS k (t, k) JOIN idempotency_records r ON r.terminal_id = k.t AND r.key = k.k) AS idem,
       (SELECT coalesce(json_agg(json_build_array(a.terminal_id, a.key)), '[]')
          FROM unnest($1::text[], $2::text[]) AS k (t, k) JOIN reversal_advices a ON a.terminal_id = k.t AND a.key = k.k) AS advices,
       (SELECT coalesce(json_agg(json_build_array(id, status)), '[]') FROM terminals WHERE id = ANY($3::text[])) AS terminals,
       (SELECT coalesce(json_agg(date), '[]') FROM settlement_windows
          WHERE date >= least($4, (SELECT min(settlement_date) FROM payments WHERE id = ANY($5::bigint[])))) AS windows`,
    [keyList.map((k) => k.terminalId), keyList.map((k) => k.key), [...terminals], earliest, cancelled],
  );
  const idem = plain!.idem.map((r) => ({ terminal_id: r.t, key: r.k, request_hash: r.h, status: r.s, response: r.r, payment_id: r.p }));
  const advices = plain!.advices.map(([terminal_id, key]) => ({ terminal_id, key }));
  const terminalRows = plain!.terminals.map(([id, status]) => ({ id, status }));
  const windows = plain!.windows.map((date) => ({ date }));
  for (const r of idem) if (r.payment_id !== null) paymentIds.add(r.payment_id);

  // 3. The payments the batch reverses or replays, locked, with their (immutable) booking entries.
  type EntryRow = { payment_id: number; kind: AccountKind; owner_id: string; amount_cents: number; settlement_date: string };
  let payments: Payment[] = [];
  let entries: EntryRow[] = [];
  let pagopa: [number, PagoPaOutcomeState][] = [];
  if (paymentIds.size > 0) {
    const [r] = await rows<{ payments: PaymentRow[]; entries: EntryRow[]; pagopa: [number, PagoPaOutcomeState][] }>(
      `WITH p AS (SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE)
       SELECT (SELECT coalesce(json_agg(p), '[]') FROM p) AS payments,
         (SELECT coalesce(json_agg(json_build_array(payment_id, outcome)), '[]') FROM pagopa_payments WHERE payment_id = ANY($1::bigint[])) AS pagopa,
         (SELECT coalesce(json_agg(json_build_object('payment_id', e.payment_id, 'kind', a.kind, 'owner_id', a.owner_id, 'amount_cents', e.amount_cents,
            'settlement_date', e.settlement_date) ORDER BY e.id), '[]')
          FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id WHERE e.payment_id = ANY($1::bigint[]) AND e.is_reversal = 0) AS entries`,
      [[...paymentIds]],
    );
    payments = r!.payments.map(toPayment);
    entries = r!.entries;
    pagopa = r!.pagopa;
  }
  const counterIds = new Set(payCounters);
  for (const p of payments) {
    counterIds.add(p.counterId);
    if (p.optionId !== null) optionIds.add(p.optionId);
  }
  // 4. The paying counters, locked: their credit limit is checked against a cash balance
  //    no other instance changes meanwhile. Counters only reversed at are read unlocked.
  type CounterRow = { id: string; status: 'active' | 'suspended'; credit_limit_cents: number; settled_cents: number };
  const counters = payCounters.size === 0 ? [] : await rows<CounterRow>(
    'SELECT id, status, credit_limit_cents, settled_cents FROM counters WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [[...payCounters]],
  );
  const others = [...counterIds].filter((id) => !payCounters.has(id));
  if (others.length > 0) counters.push(...(await rows<CounterRow>('SELECT id, status, credit_limit_cents, settled_cents FROM counters WHERE id = ANY($1::text[])', [others])));
  // 5. After the counters' locks (a new snapshot): their cash balances as committed by
  //    whoever held them before; and the options named, with every option of their
  //    positions, locked (paid at most once).
  type OptionLockRow = {
    option_id: number; position_id: number; notice_number: string; kind: 'single' | 'instalment'; paid_payment_id: number | null;
    position_status: PositionStatus; valid_until: string | null;
  };
  const [fifth] = await rows<{ cash: [string, number][]; options: OptionLockRow[] }>(
    `WITH o AS (
       SELECT o.id AS option_id, o.position_id, o.notice_number, o.kind, o.paid_payment_id, p.status AS position_status, p.valid_until
       FROM payment_options o JOIN debt_positions p ON p.id = o.position_id
       WHERE o.position_id IN (SELECT position_id FROM payment_options WHERE id = ANY($2::bigint[]))
       ORDER BY o.id FOR UPDATE OF o, p)
     SELECT (SELECT coalesce(json_agg(json_build_array(a.owner_id, b.balance_cents)), '[]') FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
             WHERE a.kind = 'counter_cash' AND a.owner_id = ANY($1::text[])) AS cash,
       (SELECT coalesce(json_agg(o), '[]') FROM o) AS options`,
    [[...payCounters], [...optionIds]],
  );
  const cash = fifth!.cash.map(([owner_id, balance_cents]) => ({ owner_id, balance_cents }));
  const options = fifth!.options;

  const tx = new PgBatchTx((t) => {
    for (const r of idem) {
      t.idempotency_.set(idemKey(r.terminal_id, r.key), {
        terminalId: r.terminal_id, key: r.key, requestHash: r.request_hash, status: r.status, response: r.response, paymentId: r.payment_id,
      });
      t.readIdempotency.add(idemKey(r.terminal_id, r.key));
    }
    for (const a of advices) t.advices.add(idemKey(a.terminal_id, a.key));
    for (const p of payments) {
      t.payments.set(p.id, { ...p });
      t.readPayments.set(p.id, p);
    }
    for (const e of entries) {
      t.entries.push({ paymentId: e.payment_id, account: { kind: e.kind, ownerId: e.owner_id }, amountCents: e.amount_cents, isReversal: false, window: e.settlement_date });
    }
    for (const [id, state] of pagopa) t.pagopaStates.set(Number(id), state);
    for (const r of counters) t.counters.set(r.id, { status: r.status, creditLimitCents: r.credit_limit_cents, settledCents: r.settled_cents });
    for (const b of cash) t.balances.set(accountKey({ kind: 'counter_cash', ownerId: b.owner_id }), b.balance_cents);
    for (const r of terminalRows) t.terminals.set(r.id, r.status);
    for (const w of windows) t.closedWindows.add(w.date);
    for (const [id, name] of entityNames) t.entities.set(id, name);
    for (const o of options) {
      t.options.set(o.option_id, {
        optionId: o.option_id, positionId: o.position_id, noticeNumber: o.notice_number, kind: o.kind,
        paidPaymentId: o.paid_payment_id, positionStatus: o.position_status, validUntil: o.valid_until,
      });
      t.readOptionMarks.set(o.option_id, o.paid_payment_id);
      t.positions.set(o.position_id, o.position_status);
      t.readPositionStatus.set(o.position_id, o.position_status);
    }
    return t.entries.length;
  });
  tx.setIds(first!.ids);
  return tx;
}

/** Account ids by accountKey, created when first needed; kept for the store's life (accounts are never deleted but by a seed). */
export class AccountIds {
  private readonly ids = new Map<string, number>();

  clear(): void {
    this.ids.clear();
  }

  async resolve(c: Q, refs: Iterable<AccountRef>): Promise<Map<string, number>> {
    const missing = new Map<string, AccountRef>();
    for (const r of refs) if (!this.ids.has(accountKey(r))) missing.set(accountKey(r), r);
    if (missing.size > 0) {
      const list = [...missing.values()];
      const kinds = list.map((r) => r.kind);
      const owners = list.map((r) => r.ownerId);
      await run(c, 'INSERT INTO ledger_accounts (kind, owner_id) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (kind, owner_id) DO NOTHING', [kinds, owners]);
      const rows = await run<{ id: number; kind: AccountKind; owner_id: string }>(c, 
        'SELECT a.id, a.kind, a.owner_id FROM ledger_accounts a JOIN unnest($1::text[], $2::text[]) AS k (kind, owner) ON a.kind = k.kind AND a.owner_id = k.owner',
        [kinds, owners],
      );
      for (const r of rows.rows) this.ids.set(accountKey({ kind: r.kind, ownerId: r.owner_id }), r.id);
    }
    return this.ids;
  }
}

/** Appends events under the event_sequence lock (held to COMMIT) and tells the other instances; returns them with their seq. */
export async function appendEvents(c: Q, events: readonly Omit<EventRow, 'seq'>[]): Promise<EventRow[]> {
  if (events.length === 0) return [];
  // One statement: the numbers (the sequence row stays locked to COMMIT), the rows, the NOTIFY.
  const [r] = (await run<{ last_seq: number }>(
    c,
    `WITH s AS (UPDATE event_sequence SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq),
     i AS (INSERT INTO events (seq, type, at, terminal_id, counter_id, entity_id, service_code, payload)
       SELECT s.last_seq - $1 + e.n, e.type, e.at, e.terminal_id, e.counter_id, e.entity_id, e.service_code, e.payload
       FROM s, unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
         WITH ORDINALITY AS e (type, at, terminal_id, counter_id, entity_id, service_code, payload, n))
     SELECT last_seq, pg_notify('tserve_events', last_seq::text) FROM s`,
    [
      events.length, events.map((e) => e.type), events.map((e) => e.at), events.map((e) => e.terminalId), events.map((e) => e.counterId),
      events.map((e) => e.entityId), events.map((e) => e.serviceCode), events.map((e) => JSON.stringify(e.payload)),
    ],
  )).rows;
  const first = r!.last_seq - events.length + 1;
  return events.map((e, i) => ({ ...e, seq: first + i }));
}

export async function insertAudit(c: Q, entries: readonly (AuditEntry & { at: number })[]): Promise<void> {
  if (entries.length === 0) return;
  await run(c, 
    'INSERT INTO audit_log (at, actor, action, target, detail) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])',
    [entries.map((a) => a.at), entries.map((a) => a.actor), entries.map((a) => a.action), entries.map((a) => a.target), entries.map((a) => (a.detail ? JSON.stringify(a.detail) : null))],
  );
}

const PAYMENT_INSERT_COLUMNS = [
  ['id', 'bigint'], ['public_id', 'text'], ['channel', 'text'], ['terminal_id', 'text'], ['counter_id', 'text'], ['counter_kind', 'text'],
  ['entity_id', 'text'], ['service_code', 'text'], ['identifier', 'text'], ['option_id', 'bigint'], ['payer_cf', 'text'], ['amount_cents', 'bigint'],
  ['fee_cents', 'bigint'], ['fee_commission', 'bigint'], ['fee_operator', 'bigint'], ['fee_royalty', 'bigint'], ['circuit_fee_cents', 'bigint'],
  ['circuit_fee_mode', 'text'], ['stan', 'text'], ['rrn', 'text'], ['approval_code', 'text'], ['receipt_number', 'text'], ['description', 'text'],
  ['booked_at', 'bigint'], ['settlement_date', 'text'], ['reversed_at', 'bigint'], ['reversal_settlement_date', 'text'], ['reversal_kind', 'text'],
] as const;

function paymentValues(p: Payment): (string | number | null)[] {
  return [
    p.id, p.publicId, p.channel, p.terminalId, p.counterId, p.counterKind, p.entityId, p.serviceCode, p.identifier, p.optionId, p.payerCf,
    p.amountCents, p.feeCents, p.feeCommission, p.feeOperator, p.feeRoyalty, p.circuitFeeCents, p.circuitFeeMode, p.stan, p.rrn,
    p.approvalCode, p.receiptNumber, p.description, p.bookedAt, p.settlementDate, p.reversedAt, p.reversalSettlementDate, p.reversalKind,
  ];
}

/**
 * One statement of data-modifying CTEs (each from arrays, one per column): what a batch
 * writes costs one round trip. Foreign keys are checked at its end, so rows may refer to
 * rows inserted by another part of it.
 */
class Writes {
  private readonly parts: string[] = [];
  readonly params: unknown[] = [];

  /** Adds `sql`, in which `$[i]` stands for the i-th of `values`. */
  add(sql: string, values: unknown[]): void {
    const base = this.params.length;
    this.params.push(...values);
    this.parts.push(`w${this.parts.length} AS (${sql.replace(/\$\[(\d+)\]/g, (_, i: string) => `$${base + Number(i)}`)})`);
  }

  /** The statement; its one row says the last event number taken, if `events()` was added. */
  get sql(): string | null {
    if (this.parts.length === 0) return null;
    const last = this.eventsPart === null ? 'SELECT NULL::bigint AS last_seq' : `SELECT last_seq, pg_notify('tserve_events', last_seq::text) FROM ${this.eventsPart}`;
    return `WITH ${this.parts.join(',\n')} ${last}`;
  }

  private eventsPart: string | null = null;

  /**
   * The batch's events: numbered from event_sequence, whose row stays locked to COMMIT
   * (a larger seq never visible before a smaller one), inserted, and told by NOTIFY (in
   * the main query: a CTE that modifies nothing runs only if something reads it).
   */
  events(events: readonly Omit<EventRow, 'seq'>[]): void {
    if (events.length === 0) return;
    this.eventsPart = `w${this.parts.length}`;
    this.add('UPDATE event_sequence SET last_seq = last_seq + $[1] WHERE id = 1 RETURNING last_seq', [events.length]);
    const seq = this.eventsPart;
    this.add(
      `INSERT INTO events (seq, type, at, terminal_id, counter_id, entity_id, service_code, payload)
       SELECT s.last_seq - $[1] + e.n, e.type, e.at, e.terminal_id, e.counter_id, e.entity_id, e.service_code, e.payload
       FROM ${seq} AS s, unnest($[2]::text[], $[3]::bigint[], $[4]::text[], $[5]::text[], $[6]::text[], $[7]::text[], $[8]::text[])
         WITH ORDINALITY AS e (type, at, terminal_id, counter_id, entity_id, service_code, payload, n)`,
      [
        events.length, events.map((e) => e.type), events.map((e) => e.at), events.map((e) => e.terminalId), events.map((e) => e.counterId),
        events.map((e) => e.entityId), events.map((e) => e.serviceCode), events.map((e) => JSON.stringify(e.payload)),
      ],
    );
  }
}

/**
 * Writes what the rules wrote in the batch, its events last: one statement (two if the
 * batch reverses). Returns the events with their numbers.
 */
export async function writeBatch(c: Q, tx: PgBatchTx, accounts: AccountIds): Promise<EventRow[]> {
  const newPayments: Payment[] = [];
  const reversed: Payment[] = [];
  for (const [id, p] of tx.payments) {
    if (tx.newPaymentIds.has(id)) newPayments.push(p);
    else if (tx.readPayments.get(id)?.reversedAt === null && p.reversedAt !== null) reversed.push(p);
  }
  const newEntries = tx.entries.slice(tx.readEntries);
  const refs: AccountRef[] = newEntries.map((e) => e.account);
  if (tx.deltas) for (const d of [...tx.deltas.balances, ...tx.deltas.windows]) refs.push(d.account);
  const ids = await accounts.resolve(c, refs);
  const idOf = (r: AccountRef) => ids.get(accountKey(r))!;

  // Reversals first, on their own: the notice they free may be paid again by a new
  // payment of the batch, and a unique index is checked row by row.
  if (reversed.length > 0) {
    await run(c,
      `UPDATE payments p SET reversed_at = v.at, reversal_settlement_date = v.w, reversal_kind = v.k
       FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS v (id, at, w, k) WHERE p.id = v.id AND p.reversed_at IS NULL`,
      [reversed.map((p) => p.id), reversed.map((p) => p.reversedAt), reversed.map((p) => p.reversalSettlementDate), reversed.map((p) => p.reversalKind)],
    );
  }
  const w = new Writes();
  if (newPayments.length > 0) {
    const values = newPayments.map(paymentValues);
    w.add(
      `INSERT INTO payments (${PAYMENT_INSERT_COLUMNS.map(([n]) => n).join(', ')})
       SELECT * FROM unnest(${PAYMENT_INSERT_COLUMNS.map(([, t], i) => `$[${i + 1}]::${t}[]`).join(', ')})`,
      PAYMENT_INSERT_COLUMNS.map((_, i) => values.map((v) => v[i])),
    );
  }
  if (newEntries.length > 0) {
    w.add(
      `INSERT INTO ledger_entries (payment_id, account_id, amount_cents, is_reversal, booked_at, settlement_date)
       SELECT * FROM unnest($[1]::bigint[], $[2]::bigint[], $[3]::bigint[], $[4]::smallint[], $[5]::bigint[], $[6]::text[])`,
      [
        newEntries.map((e) => e.paymentId), newEntries.map((e) => idOf(e.account)), newEntries.map((e) => e.amountCents),
        newEntries.map((e) => (e.isReversal ? 1 : 0)),
        newEntries.map((e) => (e.isReversal ? tx.payments.get(e.paymentId)!.reversedAt! : tx.payments.get(e.paymentId)!.bookedAt)),
        newEntries.map((e) => e.window),
      ],
    );
  }
  const marks = [...tx.options.values()].filter((o) => tx.readOptionMarks.get(o.optionId) !== o.paidPaymentId);
  if (marks.length > 0) {
    w.add('UPDATE payment_options o SET paid_payment_id = v.p FROM unnest($[1]::bigint[], $[2]::bigint[]) AS v (id, p) WHERE o.id = v.id', [
      marks.map((o) => o.optionId), marks.map((o) => o.paidPaymentId),
    ]);
  }
  const statuses = [...tx.positions].filter(([id, st]) => tx.readPositionStatus.get(id) !== st);
  if (statuses.length > 0) {
    w.add('UPDATE debt_positions d SET status = v.s FROM unnest($[1]::bigint[], $[2]::text[]) AS v (id, s) WHERE d.id = v.id', [
      statuses.map(([id]) => id), statuses.map(([, st]) => st),
    ]);
  }
  if (tx.newIdempotency.length > 0) {
    const r = tx.newIdempotency;
    w.add(
      `INSERT INTO idempotency_records (terminal_id, key, request_hash, status, response, payment_id, created_at)
       SELECT * FROM unnest($[1]::text[], $[2]::text[], $[3]::text[], $[4]::integer[], $[5]::text[], $[6]::bigint[], $[7]::bigint[])`,
      [r.map((x) => x.terminalId), r.map((x) => x.key), r.map((x) => x.requestHash), r.map((x) => x.status), r.map((x) => x.response), r.map((x) => x.paymentId), r.map((x) => x.at)],
    );
  }
  const pagopa = newPayments.flatMap((p) => {
    const b = tx.pagopa.get(p.id);
    return b ? [{ id: p.id, ...b }] : [];
  });
  if (pagopa.length > 0) {
    w.add(
      `INSERT INTO pagopa_payments (payment_id, creditor_fiscal_code, creditor_name, notice_number, iuv, payment_token, idempotency_key, activated_at, token_expires_at, claimed_until)
       SELECT * FROM unnest($[1]::bigint[], $[2]::text[], $[3]::text[], $[4]::text[], $[5]::text[], $[6]::text[], $[7]::text[], $[8]::bigint[], $[9]::bigint[], $[10]::bigint[])`,
      [
        pagopa.map((b) => b.id), pagopa.map((b) => b.creditorFiscalCode), pagopa.map((b) => b.creditorName), pagopa.map((b) => b.noticeNumber),
        pagopa.map((b) => b.iuv), pagopa.map((b) => b.paymentToken), pagopa.map((b) => b.idempotencyKey), pagopa.map((b) => b.activatedAt), pagopa.map((b) => b.tokenExpiresAt),
        pagopa.map((b) => b.claimedUntil),
      ],
    );
    const transfers = pagopa.flatMap((b) => b.transfers.map((t) => ({ id: b.id, ...t })));
    w.add(
      `INSERT INTO pagopa_transfers (payment_id, idx, amount_cents, fiscal_code, iban, remittance)
       SELECT * FROM unnest($[1]::bigint[], $[2]::smallint[], $[3]::bigint[], $[4]::text[], $[5]::text[], $[6]::text[])`,
      [transfers.map((t) => t.id), transfers.map((t) => t.index), transfers.map((t) => t.amountCents), transfers.map((t) => t.fiscalCode), transfers.map((t) => t.iban), transfers.map((t) => t.remittance)],
    );
  }
  if (tx.newAdvices.length > 0) {
    const a = tx.newAdvices;
    w.add('INSERT INTO reversal_advices (terminal_id, key, at) SELECT * FROM unnest($[1]::text[], $[2]::text[], $[3]::bigint[]) ON CONFLICT DO NOTHING', [
      a.map((x) => x.terminalId), a.map((x) => x.key), a.map((x) => x.at),
    ]);
  }
  if (tx.auditLog.length > 0) {
    const e = tx.auditLog;
    w.add('INSERT INTO audit_log (at, actor, action, target, detail) SELECT * FROM unnest($[1]::bigint[], $[2]::text[], $[3]::text[], $[4]::text[], $[5]::text[])', [
      e.map((a) => a.at), e.map((a) => a.actor), e.map((a) => a.action), e.map((a) => a.target), e.map((a) => (a.detail ? JSON.stringify(a.detail) : null)),
    ]);
  }
  if (tx.deltas) {
    // Hot rows in a fixed order: two instances' batches meet here and queue, never deadlock.
    const balances = tx.deltas.balances.map((d) => [idOf(d.account), d.cents] as const).sort((a, b) => a[0] - b[0]);
    if (balances.length > 0) {
      w.add(
        `INSERT INTO ledger_balances AS b (account_id, balance_cents) SELECT * FROM unnest($[1]::bigint[], $[2]::bigint[]) ORDER BY 1
         ON CONFLICT (account_id) DO UPDATE SET balance_cents = b.balance_cents + excluded.balance_cents`,
        [balances.map((b) => b[0]), balances.map((b) => b[1])],
      );
    }
    const moves = tx.deltas.windows.map((d) => [d.date, idOf(d.account), d.cents] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
    if (moves.length > 0) {
      w.add(
        `INSERT INTO window_movements AS m (settlement_date, account_id, amount_cents) SELECT * FROM unnest($[1]::text[], $[2]::bigint[], $[3]::bigint[]) ORDER BY 1, 2
         ON CONFLICT (settlement_date, account_id) DO UPDATE SET amount_cents = m.amount_cents + excluded.amount_cents`,
        [moves.map((m) => m[0]), moves.map((m) => m[1]), moves.map((m) => m[2])],
      );
    }
    const totals = [...tx.deltas.totals].sort((a, b) => {
      const ka = `${a.date}|${a.kind}|${a.entityId}|${a.serviceCode}|${a.counterId}`;
      const kb = `${b.date}|${b.kind}|${b.entityId}|${b.serviceCode}|${b.counterId}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    if (totals.length > 0) {
      const col = <K extends keyof WindowTotal>(k: K) => totals.map((t) => t[k]);
      w.add(
        `INSERT INTO window_totals AS w (settlement_date, kind, entity_id, service_code, counter_id, n, amount_cents, fee_cents, commission, operator, royalty, netted, rebilled)
         SELECT * FROM unnest($[1]::text[], $[2]::text[], $[3]::text[], $[4]::text[], $[5]::text[], $[6]::bigint[], $[7]::bigint[], $[8]::bigint[], $[9]::bigint[], $[10]::bigint[],
           $[11]::bigint[], $[12]::bigint[], $[13]::bigint[]) ORDER BY 1, 2, 3, 4, 5
         ON CONFLICT (settlement_date, kind, entity_id, service_code, counter_id) DO UPDATE SET
           n = w.n + excluded.n, amount_cents = w.amount_cents + excluded.amount_cents, fee_cents = w.fee_cents + excluded.fee_cents,
           commission = w.commission + excluded.commission, operator = w.operator + excluded.operator, royalty = w.royalty + excluded.royalty,
           netted = w.netted + excluded.netted, rebilled = w.rebilled + excluded.rebilled`,
        [col('date'), col('kind'), col('entityId'), col('serviceCode'), col('counterId'), col('n'), col('amountCents'), col('feeCents'), col('commission'), col('operator'), col('royalty'), col('netted'), col('rebilled')],
      );
    }
  }
  const events = tx.events.map(({ seq: _seq, ...e }) => e);
  w.events(events);
  const sql = w.sql;
  if (!sql) return [];
  const [r] = (await run<{ last_seq: number | null }>(c, sql, w.params)).rows;
  if (events.length === 0) return [];
  const first = r!.last_seq! - events.length + 1;
  return events.map((e, i) => ({ ...e, seq: first + i }));
}
