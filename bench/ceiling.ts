// The ceiling: what a payment books, written straight into SQLite, durably.
//
//   node --import tsx bench/ceiling.ts --db <seeded tserve.db> [--seconds 8] [--batch 1000] [--mode rows|store]
//
// rows:  per payment a payments row, its 5–7 ledger entries, an idempotency record and
//        an events row; per batch one balance upsert (and one window_movements upsert)
//        per account touched, as the store does; in transactions of --batch payments,
//        WAL + synchronous=FULL (every COMMIT is on disk), with the real schema and the
//        store's own SQL. No savepoints, no reads, no JSON building: the physical limit.
// store: the real SqliteStore (group-commit writer, runBatch: savepoint, idempotency
//        and advice lookups, terminal and counter checks, credit limit, inserts) fed by
//        --concurrency commands in flight, in process: the core without the network.
//
// The database must be a seeded copy (terminals, counters, catalogue); it is written to.
// Prints one JSON object on stdout.
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { build } from 'hdr-histogram-js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import type { PayCommand } from '../src/store/types.js';
import { settlementDate } from '../src/domain/calendar.js';
import { PAYMENT_INSERT, buildPayment, rng, serviceByCode, uuidv7Det, type TerminalRow } from './lib/rows.js';
import { arg, flag } from './lib/args.js';
import { instrumentStatements, oneLine } from './lib/instrument.js';

const db = arg('db');
if (!db) throw new Error('--db <file> is required');
const seconds = Number(arg('seconds') ?? 8);
const batch = Number(arg('batch') ?? 1000);
const mode = arg('mode') ?? 'rows';
const concurrency = Number(arg('concurrency') ?? 1000);

// The sustained ISO load pays these once the seeded notices are used up: 40% CERTIFICATI,
// 20% CIE, 40% REFEZIONE (terminals/simulator/load.ts).
const MIX = [
  [0.4, serviceByCode('CERTIFICATI')],
  [0.6, serviceByCode('CIE')],
  [1, serviceByCode('REFEZIONE')],
] as const;

function pickService(r: number) {
  return MIX.find(([p]) => r < p)![1];
}

const hist = () => build({ bitBucketSize: 32, numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, autoResize: true });
const ms = (us: number) => Math.round(us) / 1000;

function terminals(conn: Database.Database): TerminalRow[] {
  return (conn.prepare('SELECT t.id, t.counter_id, c.kind FROM terminals t JOIN counters c ON c.id = t.counter_id ORDER BY t.id').all() as {
    id: string;
    counter_id: string;
    kind: TerminalRow['counterKind'];
  }[]).map((r) => ({ id: r.id, counterId: r.counter_id, counterKind: r.kind }));
}

function f7(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

function rowsMode() {
  const w = new Database(db!);
  w.pragma('busy_timeout = 5000');
  w.pragma('journal_mode = WAL');
  w.pragma('synchronous = FULL');
  w.pragma('foreign_keys = ON');
  w.pragma('cache_size = -65536');
  // What-ifs (on this copy only): --foreign-keys off, --extra-sql '<DDL>' (e.g. an index).
  if (arg('foreign-keys') === 'off') w.pragma('foreign_keys = OFF');
  const extraSql = arg('extra-sql');
  if (extraSql) w.exec(extraSql);
  // The window's movement per account (schema.sql window_movements), kept once per batch
  // and account like the balances, as the store does.
  const hasWindowMovements = w.prepare("SELECT 1 FROM sqlite_master WHERE name = 'window_movements'").get() !== undefined;
  const addMovement = hasWindowMovements
    ? w.prepare(
        `INSERT INTO window_movements (settlement_date, account_id, amount_cents) VALUES (?, ?, ?)
         ON CONFLICT (settlement_date, account_id) DO UPDATE SET amount_cents = amount_cents + excluded.amount_cents`,
      )
    : null;
  const terms = terminals(w);
  const s = {
    begin: w.prepare('BEGIN IMMEDIATE'),
    commit: w.prepare('COMMIT'),
    payment: w.prepare(PAYMENT_INSERT),
    entry: w.prepare(
      'INSERT INTO ledger_entries (payment_id, account_id, amount_cents, is_reversal, booked_at, settlement_date) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    balance: w.prepare(
      `INSERT INTO ledger_balances (account_id, balance_cents) VALUES (?, ?)
       ON CONFLICT (account_id) DO UPDATE SET balance_cents = balance_cents + excluded.balance_cents`,
    ),
    idem: w.prepare(
      'INSERT INTO idempotency_records (terminal_id, key, request_hash, status, response, payment_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    event: w.prepare('INSERT INTO events (type, at, terminal_id, counter_id, entity_id, service_code, payload) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    accountId: w.prepare('SELECT id FROM ledger_accounts WHERE kind = ? AND owner_id = ?').pluck(),
    insertAccount: w.prepare('INSERT INTO ledger_accounts (kind, owner_id) VALUES (?, ?)'),
  };
  const accounts = new Map<string, number>();
  const account = (kind: string, ownerId: string) => {
    const key = `${kind}/${ownerId}`;
    let id = accounts.get(key);
    if (id === undefined) {
      id = (s.accountId.get(kind, ownerId) as number | undefined) ?? Number(s.insertAccount.run(kind, ownerId).lastInsertRowid);
      accounts.set(key, id);
    }
    return id;
  };
  let nextId = (((w.prepare('SELECT max(id) FROM payments').pluck().get() as number | null) ?? 0) + 1);
  const random = rng(42);
  const stan = new Map<string, number>();
  const commitH = hist();
  const batchH = hist();
  const walFile = `${db}-wal`;
  const frameSize = (w.pragma('page_size', { simple: true }) as number) + 24;

  // Payments are built beforehand (fee rules, postings, JSON): the loop below only
  // gives each its unique columns, so that what is timed is SQLite's work.
  const date0 = settlementDate(Date.now());
  const pool = Array.from({ length: 4096 }, (_, i) => {
    const t = terms[Math.floor(random() * terms.length)]!;
    return { t, p: buildPayment(i + 1, t, pickService(random()), Date.now(), date0, random) };
  });
  const oneBatch = (n: number): number => {
    const started = performance.now();
    const now = Date.now();
    const date = settlementDate(now);
    const compact = date.replaceAll('-', '');
    s.begin.run();
    const moved = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const id = nextId++;
      const { t, p } = pool[id % pool.length]!;
      s.payment.run({
        ...p.row,
        id,
        publicId: uuidv7Det(now, id),
        rrn: String(id).padStart(12, '0'),
        receiptNumber: `${compact}-${String(id).padStart(10, '0')}`,
        bookedAt: now,
        settlementDate: date,
      });
      for (const q of p.postings) {
        const acc = account(q.account.kind, q.account.ownerId);
        s.entry.run(id, acc, q.amountCents, 0, now, date);
        moved.set(acc, (moved.get(acc) ?? 0) + q.amountCents);
      }
      const st = ((stan.get(t.id) ?? 0) % 999_999) + 1;
      stan.set(t.id, st);
      s.idem.run(t.id, `iso:${f7(now)}:${String(st).padStart(6, '0')}:${id}`, 'h'.repeat(43), 201, p.answer, id, now);
      s.event.run('payment.booked', now, t.id, t.counterId, p.row.entityId, p.row.serviceCode, p.event);
    }
    // Balances (and window movements) move once per batch and account, by the batch's sum.
    for (const [acc, amount] of moved) {
      if (amount === 0) continue;
      s.balance.run(acc, amount);
      addMovement?.run(date, acc, amount);
    }
    const c0 = performance.now();
    s.commit.run();
    const done = performance.now();
    commitH.recordValue(Math.max(1, Math.round((done - c0) * 1000)));
    batchH.recordValue(Math.max(1, Math.round((done - started) * 1000)));
    return done - c0;
  };

  // Warm up (accounts, caches), then measure for the given time.
  for (let i = 0; i < 3; i++) oneBatch(batch);
  commitH.reset();
  batchH.reset();
  let payments = 0;
  let batches = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  while (performance.now() - t0 < seconds * 1000) {
    oneBatch(batch);
    payments += batch;
    batches++;
  }
  const elapsed = (performance.now() - t0) / 1000;
  // CPU time (user + system, this process) per payment: less sensitive than wall time to other work on the machine.
  const cpu = process.cpuUsage(cpu0);

  // Pages written per commit: with automatic checkpoints off, the WAL grows by one frame per page.
  w.pragma('wal_checkpoint(TRUNCATE)');
  w.pragma('wal_autocheckpoint = 0');
  const pages: Record<string, number> = {};
  for (const n of [1, 100, 300, 1000]) {
    const before = statSync(walFile).size;
    const k = 5;
    for (let i = 0; i < k; i++) oneBatch(n);
    pages[String(n)] = Math.round((statSync(walFile).size - before) / frameSize / k);
  }
  w.pragma('wal_checkpoint(TRUNCATE)');
  // The cost of one fsync'd commit of nearly nothing: the disk's sync latency.
  const syncH = hist();
  const tiny = w.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('bench', ?)");
  for (let i = 0; i < 200; i++) {
    const a = performance.now();
    tiny.run(String(i));
    syncH.recordValue(Math.max(1, Math.round((performance.now() - a) * 1000)));
  }
  w.close();
  return {
    mode: 'rows',
    windowMovements: hasWindowMovements,
    whatIf: { foreignKeys: arg('foreign-keys') ?? 'on', extraSql: extraSql ?? null },
    batch,
    payments,
    batches,
    seconds: Math.round(elapsed * 1000) / 1000,
    paymentsPerSecond: Math.round(payments / elapsed),
    cpuUsPerPayment: { user: Math.round((cpu.user / payments) * 10) / 10, system: Math.round((cpu.system / payments) * 10) / 10 },
    commitMs: { p50: ms(commitH.getValueAtPercentile(50)), p99: ms(commitH.getValueAtPercentile(99)), mean: ms(commitH.mean) },
    batchMs: { p50: ms(batchH.getValueAtPercentile(50)), p99: ms(batchH.getValueAtPercentile(99)), mean: ms(batchH.mean) },
    walPagesPerCommit: pages,
    tinyCommitMs: { p50: ms(syncH.getValueAtPercentile(50)), p99: ms(syncH.getValueAtPercentile(99)) },
  };
}

async function storeMode() {
  const timings = flag('breakdown') ? instrumentStatements() : null;
  const store = SqliteStore.open(db!);
  const conn = new Database(db!, { readonly: true });
  const terms = terminals(conn);
  conn.close();
  const random = rng(7);
  const sizes = hist();
  const commits = hist();
  store.observeBatches((size, t) => {
    sizes.recordValue(size);
    commits.recordValue(Math.max(1, Math.round(t * 1000)));
  });
  let n = 0;
  const stan = new Map<string, number>();
  const command = (): PayCommand => {
    const t = terms[Math.floor(random() * terms.length)]!;
    const now = Date.now();
    const date = settlementDate(now);
    const p = buildPayment(0, t, pickService(random()), now, date, random);
    const st = ((stan.get(t.id) ?? 0) % 999_999) + 1;
    stan.set(t.id, st);
    n++;
    return {
      kind: 'pay',
      channel: 'iso8583',
      terminalId: t.id,
      counterId: t.counterId,
      counterKind: t.counterKind,
      entityId: p.row.entityId,
      serviceCode: p.row.serviceCode,
      identifier: p.row.identifier,
      optionId: null,
      payerCf: null,
      amountCents: p.row.amountCents,
      feeCents: p.row.feeCents,
      split: { commission: p.row.feeCommission, operator: p.row.feeOperator, royalty: p.row.feeRoyalty },
      circuitFeeCents: p.row.circuitFeeCents,
      circuitFeeMode: p.row.circuitFeeMode,
      stan: String(st).padStart(6, '0'),
      approvalCode: p.row.approvalCode,
      publicId: `${p.row.publicId.slice(0, 24)}${n.toString(16).padStart(12, '0')}`,
      description: p.row.description,
      bookedAt: now,
      settlementDate: date,
      postings: p.postings,
      idempotency: { key: `iso:${f7(now)}:${String(st).padStart(6, '0')}:${n}`, requestHash: 'h'.repeat(43) },
    };
  };
  let ok = 0;
  let failed = 0;
  const codes = new Map<string, number>();
  let until = 0;
  const worker = async () => {
    while (performance.now() < until) {
      const r = await store.write(command());
      if (r.ok) ok++;
      else {
        failed++;
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      }
    }
  };
  // Warm-up second, then the measurement.
  until = performance.now() + 1000;
  await Promise.all(Array.from({ length: concurrency }, worker));
  ok = 0;
  failed = 0;
  sizes.reset();
  commits.reset();
  const t0 = performance.now();
  until = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  await store.close();
  const breakdown = timings
    ? [...timings.entries()]
        .map(([sql, e]) => ({ sql: oneLine(sql, 90), callsPerPayment: Math.round((e.calls / n) * 100) / 100, usPerPayment: Math.round((e.us / n) * 10) / 10 }))
        .filter((e) => e.usPerPayment >= 0.5)
        .sort((a, b) => b.usPerPayment - a.usPerPayment)
    : undefined;
  return {
    mode: 'store',
    breakdown,
    concurrency,
    payments: ok,
    failed,
    failures: Object.fromEntries(codes),
    seconds: Math.round(elapsed * 1000) / 1000,
    paymentsPerSecond: Math.round(ok / elapsed),
    batchSize: { p50: sizes.getValueAtPercentile(50), mean: Math.round(sizes.mean), max: sizes.maxValue },
    batchMs: { p50: ms(commits.getValueAtPercentile(50)), p99: ms(commits.getValueAtPercentile(99)), mean: ms(commits.mean) },
  };
}

const result = mode === 'store' ? await storeMode() : rowsMode();
console.log(JSON.stringify(result));
