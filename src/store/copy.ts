// `tserve copy`: moves an embedded deployment (the SQLite file) into an empty PostgreSQL
// database, then proves that every row and every cent arrived: the ledger check on both
// stores, and row counts and sums per table compared one by one.
//
// The file is read in one read transaction (a consistent snapshot), so it can be copied
// while nothing else writes; stop the switch first, or what it books after the snapshot
// stays behind. Payments go in together with their ledger entries, a slice per
// transaction, so that PostgreSQL's deferred check (entries of a payment sum to zero)
// holds at every COMMIT. A copy that fails part-way leaves a partial database: drop it,
// create it again and run the copy again.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { prepareDatabase } from './sqlite/connection.js';
import { checkInvariants } from './invariants.js';
import type { InvariantReport } from './types.js';
import { migrate } from './postgres/migrate.js';
import { openPool, type Pool, type PoolClient } from './postgres/pool.js';

/** Rows per INSERT. */
const SLICE = 5000;

type Row = Record<string, unknown>;

/** Tables in the order their foreign keys allow; payments and ledger_entries go together (copyPayments). */
const BEFORE_PAYMENTS = [
  'entities', 'circuit_fees', 'services', 'fee_schedules', 'counters', 'terminals', 'users', 'debt_positions', 'payment_options', 'ledger_accounts',
] as const;
const AFTER_PAYMENTS = [
  'ledger_balances', 'window_movements', 'window_totals', 'idempotency_records', 'reversal_advices', 'settlement_windows', 'events', 'audit_log', 'position_imports',
] as const;
/** Sequences of the tables whose ids are copied as they are. */
const SEQUENCES: [table: string, column: string][] = [
  ['debt_positions', 'id'], ['payment_options', 'id'], ['payments', 'id'], ['ledger_accounts', 'id'], ['ledger_entries', 'id'], ['audit_log', 'id'], ['services', 'ord'],
];
/** What is compared after the copy: per table, its row count and the sums of its money columns. */
const COMPARED: Record<string, string[]> = {
  payments: ['amount_cents', 'fee_cents', 'fee_commission', 'fee_operator', 'fee_royalty', 'circuit_fee_cents'],
  ledger_entries: ['amount_cents', 'abs(amount_cents)'],
  ledger_balances: ['balance_cents', 'abs(balance_cents)'],
  window_movements: ['amount_cents', 'abs(amount_cents)'],
  window_totals: ['n', 'amount_cents', 'fee_cents', 'commission', 'operator', 'royalty', 'netted', 'rebilled'],
  payment_options: ['amount_cents', 'paid_payment_id'],
  counters: ['credit_limit_cents', 'settled_cents'],
  idempotency_records: ['status'],
  events: ['seq'],
  debt_positions: [], entities: [], services: [], fee_schedules: [], circuit_fees: [], terminals: [], users: [], ledger_accounts: [],
  reversal_advices: [], settlement_windows: [], audit_log: [], position_imports: [],
};

export interface CopyProgress {
  (step: string, done: number, total: number): void;
}

export interface CopyReport {
  rows: Record<string, number>;
  /** Per table and measure: the file's value and PostgreSQL's, where they differ. */
  differences: string[];
  source: InvariantReport;
  target: InvariantReport;
  ok: boolean;
}

interface PgColumn {
  name: string;
  type: string;
}

export async function copySqliteToPostgres(file: string, url: string, progress: CopyProgress = () => undefined): Promise<CopyReport> {
  if (!existsSync(file)) throw new Error(`no database file ${file}`);
  // The file is brought to this release's schema first (columns added since, a TMK's
  // hash erased from secret_hash), so that nothing older is copied as current.
  prepareDatabase(file);
  const src = new Database(file, { readonly: true, fileMustExist: true });
  const pool = openPool(url, 2);
  try {
    await migrate(pool);
    const busy = await pool.query<{ n: number }>('SELECT (SELECT count(*) FROM entities) + (SELECT count(*) FROM payments) AS n');
    if (busy.rows[0]!.n > 0) throw new Error('the PostgreSQL database is not empty: copy into a new database (CREATE DATABASE ...)');
    src.exec('BEGIN'); // one snapshot of the file for the whole copy
    const rows: Record<string, number> = {};
    for (const t of BEFORE_PAYMENTS) rows[t] = await copyTable(src, pool, t, progress);
    ({ payments: rows.payments, entries: rows.ledger_entries } = await copyPayments(src, pool, progress));
    await markPaidOptions(src, pool, progress);
    for (const t of AFTER_PAYMENTS) rows[t] = await copyTable(src, pool, t, progress);
    await setSequences(src, pool);

    progress('checking both ledgers', 0, 1);
    const source = await checkInvariants({ all: async <R>(sql: string) => src.prepare<[], R>(sql).all() });
    const target = await checkInvariants({ all: async <R>(sql: string) => (await pool.query<R & object>(sql)).rows });
    const differences = await compare(src, pool);
    progress('checking both ledgers', 1, 1);
    src.exec('COMMIT');
    return { rows, differences, source, target, ok: differences.length === 0 && source.ok && target.ok };
  } finally {
    src.close();
    await pool.end();
  }
}

async function pgColumns(pool: Pool, table: string): Promise<PgColumn[]> {
  const r = await pool.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return r.rows.map((c) => ({ name: c.column_name, type: c.data_type }));
}

/** The SELECT list of the file for PostgreSQL's columns (services' catalogue order is SQLite's rowid). */
function sourceColumn(table: string, c: PgColumn): string {
  if (table === 'services' && c.name === 'ord') return 'rowid AS ord';
  if (table === 'payment_options' && c.name === 'paid_payment_id') return 'NULL AS paid_payment_id'; // set once the payments are in
  return `"${c.name}"`;
}

async function insertRows(c: Pick<PoolClient, 'query'>, table: string, cols: PgColumn[], rows: Row[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO ${table} (${cols.map((x) => `"${x.name}"`).join(', ')}) OVERRIDING SYSTEM VALUE
     SELECT * FROM unnest(${cols.map((x, i) => `$${i + 1}::${x.type}[]`).join(', ')})`,
    cols.map((x) => rows.map((r) => r[x.name] ?? null)),
  );
}

async function copyTable(src: Database.Database, pool: Pool, table: string, progress: CopyProgress): Promise<number> {
  const cols = await pgColumns(pool, table);
  const total = src.prepare<[], number>(`SELECT count(*) FROM ${table}`).pluck().get()!;
  const select = src.prepare<[], Row>(`SELECT ${cols.map((c) => sourceColumn(table, c)).join(', ')} FROM ${table}`);
  let done = 0;
  let batch: Row[] = [];
  progress(table, 0, total);
  for (const row of select.iterate()) {
    batch.push(row);
    if (batch.length === SLICE) {
      await insertRows(pool, table, cols, batch);
      done += batch.length;
      batch = [];
      progress(table, done, total);
    }
  }
  await insertRows(pool, table, cols, batch);
  done += batch.length;
  progress(table, done, total);
  return done;
}

/** Payments with their ledger entries, a slice of payment ids per transaction. */
async function copyPayments(src: Database.Database, pool: Pool, progress: CopyProgress): Promise<{ payments: number; entries: number }> {
  const payCols = await pgColumns(pool, 'payments');
  const entryCols = await pgColumns(pool, 'ledger_entries');
  const total = src.prepare<[], number>('SELECT count(*) FROM payments').pluck().get()!;
  const pays = src.prepare<[number, number], Row>(`SELECT ${payCols.map((c) => `"${c.name}"`).join(', ')} FROM payments WHERE id > ? ORDER BY id LIMIT ?`);
  const entries = src.prepare<[number, number], Row>(
    `SELECT ${entryCols.map((c) => `"${c.name}"`).join(', ')} FROM ledger_entries WHERE payment_id > ? AND payment_id <= ? ORDER BY id`,
  );
  let after = 0;
  let done = 0;
  let entryCount = 0;
  progress('payments and ledger entries', 0, total);
  for (;;) {
    const slice = pays.all(after, SLICE);
    if (slice.length === 0) break;
    const last = Number(slice.at(-1)!.id);
    const es = entries.all(after, last);
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await insertRows(c, 'payments', payCols, slice);
      await insertRows(c, 'ledger_entries', entryCols, es);
      await c.query('COMMIT'); // the deferred check: each payment's entries sum to zero
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
    after = last;
    done += slice.length;
    entryCount += es.length;
    progress('payments and ledger entries', done, total);
  }
  return { payments: done, entries: entryCount };
}

async function markPaidOptions(src: Database.Database, pool: Pool, progress: CopyProgress): Promise<void> {
  const marks = src.prepare<[], { id: number; paid_payment_id: number }>('SELECT id, paid_payment_id FROM payment_options WHERE paid_payment_id IS NOT NULL ORDER BY id').all();
  for (let i = 0; i < marks.length; i += SLICE) {
    const s = marks.slice(i, i + SLICE);
    await pool.query('UPDATE payment_options o SET paid_payment_id = v.p FROM unnest($1::bigint[], $2::bigint[]) AS v (id, p) WHERE o.id = v.id', [
      s.map((m) => m.id), s.map((m) => m.paid_payment_id),
    ]);
    progress('paid marks of notices', Math.min(i + SLICE, marks.length), marks.length);
  }
}

async function setSequences(src: Database.Database, pool: Pool): Promise<void> {
  for (const [table, column] of SEQUENCES) {
    await pool.query(`SELECT setval(pg_get_serial_sequence('${table}', '${column}'), coalesce((SELECT max(${column}) FROM ${table}), 0) + 1, false)`);
  }
  // The stream's numbers go on from the highest the file ever gave (pruned events included).
  const maxSeq = Math.max(
    src.prepare<[], number>('SELECT coalesce(max(seq), 0) FROM events').pluck().get()!,
    src.prepare<[], number>("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)").pluck().get()!,
  );
  await pool.query('UPDATE event_sequence SET last_seq = $1 WHERE id = 1', [maxSeq]);
}

/** Row counts and sums per table, and the window totals row by row, on both sides. */
async function compare(src: Database.Database, pool: Pool): Promise<string[]> {
  const differences: string[] = [];
  for (const [table, measures] of Object.entries(COMPARED)) {
    const sql = `SELECT count(*) AS "rows"${measures.map((m, i) => `, coalesce(sum(${m}), 0) AS m${i}`).join('')} FROM ${table}`;
    const a = src.prepare<[], Row>(sql).get()!;
    const b = (await pool.query<Row>(sql)).rows[0]!;
    for (const [k, v] of Object.entries(a)) {
      const name = k === 'rows' ? 'rows' : `sum(${measures[Number(k.slice(1))]})`;
      if (String(v) !== String(b[k])) differences.push(`${table} ${name}: ${String(v)} in the file, ${String(b[k])} in PostgreSQL`);
    }
  }
  const key = (r: Row) => `${String(r.kind)}|${String(r.owner_id)}`;
  const balances = (rows: Row[]) => new Map(rows.map((r) => [key(r), String(r.b)]));
  const BAL = 'SELECT a.kind, a.owner_id, b.balance_cents AS b FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id';
  const fileBalances = balances(src.prepare<[], Row>(BAL).all());
  const pgBalances = balances((await pool.query<Row>(BAL)).rows);
  for (const [k, v] of fileBalances) if (pgBalances.get(k) !== v) differences.push(`balance of ${k}: ${v} in the file, ${pgBalances.get(k) ?? 'none'} in PostgreSQL`);
  return differences;
}
