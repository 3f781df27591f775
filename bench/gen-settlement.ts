// Generates a database for the settlement benchmark: the demo catalogue and network
// (seedDemo, few positions), then whole settlement windows of payments with valid fee
// splits, their balanced ledger entries (settlement_date set) and the balances.
//
//   node --import tsx bench/gen-settlement.ts --dir <dataDir> --window 2026-11-17:1000000 --window 2026-11-18:10000000
//
// How it stays fast (it is test data, so durability is off while generating):
//  1. JS builds P prototypes with the real fee rules (bench/lib/rows.ts: schedule in
//     force, citizen fee, split, circuit fee, postings): random terminal, service, amount.
//  2. They go into two TEMP tables (proto, proto_entries).
//  3. Each window is one `INSERT INTO payments SELECT ... FROM seq JOIN proto` and one
//     `INSERT INTO ledger_entries SELECT ...` over a recursive CTE counting 1..N:
//     payment i is prototype i mod P with its own id, public id, RRN, receipt number,
//     booking time and window; entries follow their prototype's postings. All in C,
//     no per-row JS or binding. journal_mode=OFF and synchronous=OFF meanwhile.
//  4. Balances, window_movements and window_totals: from the prototypes' postings and
//     amounts times how often each prototype occurs (no scan of the generated rows).
//  5. Back to WAL; the store opens it with synchronous=FULL like any other.
// No idempotency records or events are generated (settlement reads neither).
// Prints one JSON object on stdout; progress on stderr.
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import path from 'node:path';
import { openRuntime, seedDemo } from '../src/bootstrap.js';
import { loadConfig } from '../src/config.js';
import { romeInstant } from '../src/domain/calendar.js';
import { verifyBalances } from '../src/store/sqlite/balance-check.js';
import { PAYABLE_SERVICES, buildPayment, rng, type TerminalRow } from './lib/rows.js';
import { arg, flag } from './lib/args.js';

const dir = arg('dir');
if (!dir) throw new Error('--dir <dataDir> is required');
const windows = process.argv
  .flatMap((a, i) => (a === '--window' ? [process.argv[i + 1]!] : []))
  .map((w) => {
    const m = /^(\d{4}-\d{2}-\d{2}):(\d+)$/.exec(w);
    if (!m) throw new Error(`--window DATE:COUNT, not ${w}`);
    return { date: m[1]!, count: Number(m[2]) };
  });
const prototypes = Number(arg('prototypes') ?? 50_000);
const log = (s: string) => process.stderr.write(`${s}\n`);
const t0 = performance.now();
const secs = (from: number) => Math.round(performance.now() - from) / 1000;

// 1. Catalogue and network, as the switch seeds them (few positions: settlement does not read them).
const config = loadConfig({ ...process.env, TSERVE_DATA_DIR: dir, TSERVE_SEED_POSITIONS: '200' });
const rt = await openRuntime(config, undefined, { create: true });
await seedDemo(rt, config, (s) => log(`seed: ${s}`));
await rt.store.close();
const seedSeconds = secs(t0);

const db = new Database(config.dbFile);
db.pragma('journal_mode = OFF');
db.pragma('synchronous = OFF');
db.pragma('foreign_keys = OFF'); // rows are built to reference what exists; checked below
db.pragma('locking_mode = EXCLUSIVE');
db.pragma('cache_size = -524288'); // 512 MiB
db.pragma('temp_store = MEMORY');

const terminals = (db.prepare('SELECT t.id, t.counter_id, c.kind FROM terminals t JOIN counters c ON c.id = t.counter_id').all() as {
  id: string;
  counter_id: string;
  kind: TerminalRow['counterKind'];
}[]).map((r) => ({ id: r.id, counterId: r.counter_id, counterKind: r.kind }));

// Accounts, created as the store creates them on first use.
const accountIds = new Map<string, number>();
const insAccount = db.prepare('INSERT INTO ledger_accounts (kind, owner_id) VALUES (?, ?) ON CONFLICT DO NOTHING');
const getAccount = db.prepare('SELECT id FROM ledger_accounts WHERE kind = ? AND owner_id = ?').pluck();
const account = (kind: string, owner: string): number => {
  const key = `${kind}/${owner}`;
  let id = accountIds.get(key);
  if (id === undefined) {
    insAccount.run(kind, owner);
    id = getAccount.get(kind, owner) as number;
    accountIds.set(key, id);
  }
  return id;
};

// 2. Prototypes: real splits and postings, for every (terminal, service) the random draws give.
const tp = performance.now();
db.exec(`CREATE TEMP TABLE proto (k INTEGER PRIMARY KEY, terminal_id TEXT, counter_id TEXT, counter_kind TEXT, entity_id TEXT,
  service_code TEXT, identifier TEXT, amount_cents INTEGER, fee_cents INTEGER, fee_commission INTEGER, fee_operator INTEGER,
  fee_royalty INTEGER, circuit_fee_cents INTEGER, circuit_fee_mode TEXT, description TEXT);
  CREATE TEMP TABLE proto_entries (k INTEGER, account_id INTEGER, amount_cents INTEGER);
  CREATE INDEX temp.proto_entries_k ON proto_entries (k);`);
const insProto = db.prepare(`INSERT INTO proto VALUES (@k, @terminalId, @counterId, @counterKind, @entityId, @serviceCode, @identifier,
  @amountCents, @feeCents, @feeCommission, @feeOperator, @feeRoyalty, @circuitFeeCents, @circuitFeeMode, @description)`);
const insProtoEntry = db.prepare('INSERT INTO proto_entries VALUES (?, ?, ?)');
const random = rng(20261117);
// Movement of each account per prototype, for the balances.
const protoPostings: { account: number; amount: number }[][] = [];
const serviceDate = windows[0]?.date ?? '2026-11-17';
db.transaction(() => {
  for (let k = 0; k < prototypes; k++) {
    const t = terminals[Math.floor(random() * terminals.length)]!;
    const s = PAYABLE_SERVICES[Math.floor(random() * PAYABLE_SERVICES.length)]!;
    const p = buildPayment(k, t, s, romeInstant(serviceDate, '12:00:00'), serviceDate, random);
    insProto.run({ ...p.row, k });
    const list = p.postings.map((q) => ({ account: account(q.account.kind, q.account.ownerId), amount: q.amountCents }));
    for (const q of list) insProtoEntry.run(k, q.account, q.amount);
    protoPostings.push(list);
  }
})();
const protoSeconds = secs(tp);
log(`${prototypes} prototypes in ${protoSeconds} s`);

// 3. The windows. With --defer-indexes, the indexes that are not unique are dropped
// first and built again at the end (CREATE INDEX sorts once instead of inserting row by row).
const deferred = flag('defer-indexes')
  ? (db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('payments', 'ledger_entries') AND sql IS NOT NULL").all() as { name: string; sql: string }[])
  : [];
for (const i of deferred) db.exec(`DROP INDEX ${i.name}`);
const maxId = () => ((db.prepare('SELECT max(id) FROM payments').pluck().get() as number | null) ?? 0);
const generated: { date: string; payments: number; entries: number; seconds: number; paymentSeconds: number; entrySeconds: number }[] = [];
const balances = new Map<number, number>();
for (const w of windows) {
  const tw = performance.now();
  const base = maxId();
  const dayStart = romeInstant(w.date, '00:00:00');
  const step = 86_400_000 / w.count;
  const compact = w.date.replaceAll('-', '');
  const seq = `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ${w.count})`;
  // Payment id = base + 1 + i; its prototype is i mod P.
  db.exec(`${seq}
    INSERT INTO payments (id, public_id, channel, terminal_id, counter_id, counter_kind, entity_id, service_code, identifier,
      option_id, payer_cf, amount_cents, fee_cents, fee_commission, fee_operator, fee_royalty, circuit_fee_cents, circuit_fee_mode,
      stan, rrn, approval_code, receipt_number, description, booked_at, settlement_date)
    SELECT ${base} + 1 + i,
      printf('%08x-%04x-7000-8000-%012x', (${dayStart} + CAST(i * ${step} AS INTEGER)) / 65536, (${dayStart} + CAST(i * ${step} AS INTEGER)) % 65536, ${base} + 1 + i),
      'iso8583', p.terminal_id, p.counter_id, p.counter_kind, p.entity_id, p.service_code, p.identifier,
      NULL, NULL, p.amount_cents, p.fee_cents, p.fee_commission, p.fee_operator, p.fee_royalty, p.circuit_fee_cents, p.circuit_fee_mode,
      printf('%06d', (${base} + 1 + i) % 1000000), printf('%012d', ${base} + 1 + i), 'A00000',
      '${compact}-' || printf('%010d', ${base} + 1 + i), p.description,
      ${dayStart} + CAST(i * ${step} AS INTEGER), '${w.date}'
    FROM seq JOIN proto p ON p.k = i % ${prototypes}`);
  const paymentSeconds = secs(tw);
  log(`${w.date}: ${w.count} payments in ${paymentSeconds} s`);
  const te = performance.now();
  db.exec(`${seq}
    INSERT INTO ledger_entries (payment_id, account_id, amount_cents, is_reversal, booked_at, settlement_date)
    SELECT ${base} + 1 + i, e.account_id, e.amount_cents, 0, ${dayStart} + CAST(i * ${step} AS INTEGER), '${w.date}'
    FROM seq JOIN proto_entries e ON e.k = i % ${prototypes}`);
  const entries = protoPostings.reduce((acc, list, k) => acc + list.length * (Math.floor(w.count / prototypes) + (k < w.count % prototypes ? 1 : 0)), 0);
  const entrySeconds = secs(te);
  log(`${w.date}: ${entries} ledger entries in ${entrySeconds} s`);
  // 4. How often each prototype occurs in 0..count-1, times its postings: the balances,
  //    and the window's movement per account (window_movements, as the writer keeps it).
  const movements = new Map<number, number>();
  for (let k = 0; k < prototypes; k++) {
    const times = Math.floor(w.count / prototypes) + (k < w.count % prototypes ? 1 : 0);
    if (times === 0) continue;
    for (const q of protoPostings[k]!) {
      balances.set(q.account, (balances.get(q.account) ?? 0) + q.amount * times);
      movements.set(q.account, (movements.get(q.account) ?? 0) + q.amount * times);
    }
  }
  const addMovement = db.prepare('INSERT INTO window_movements (settlement_date, account_id, amount_cents) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (const [a, m] of movements) if (m !== 0) addMovement.run(w.date, a, m);
  })();
  //    And the window's group totals (window_totals, as booking keeps them), the same way.
  db.exec(`INSERT INTO window_totals (settlement_date, kind, entity_id, service_code, counter_id, n, amount_cents, fee_cents,
      commission, operator, royalty, netted, rebilled)
    SELECT '${w.date}', 'booking', entity_id, service_code, counter_id, sum(t), sum(amount_cents * t), sum(fee_cents * t),
      sum(fee_commission * t), sum(fee_operator * t), sum(fee_royalty * t),
      sum(CASE WHEN circuit_fee_mode = 'netted' THEN circuit_fee_cents * t ELSE 0 END),
      sum(CASE WHEN circuit_fee_mode = 'rebilled' THEN circuit_fee_cents * t ELSE 0 END)
    FROM (SELECT *, ${Math.floor(w.count / prototypes)} + (k < ${w.count % prototypes}) AS t FROM proto)
    WHERE t > 0 GROUP BY entity_id, service_code, counter_id`);
  generated.push({ date: w.date, payments: w.count, entries, seconds: secs(tw), paymentSeconds, entrySeconds });
}
const ti = performance.now();
for (const i of deferred) db.exec(i.sql);
const indexSeconds = secs(ti);
if (deferred.length) log(`${deferred.length} indexes built in ${indexSeconds} s`);
const upsert = db.prepare(
  `INSERT INTO ledger_balances (account_id, balance_cents) VALUES (?, ?)
   ON CONFLICT (account_id) DO UPDATE SET balance_cents = balance_cents + excluded.balance_cents`,
);
db.transaction(() => {
  for (const [a, b] of balances) upsert.run(a, b);
})();
const total = [...balances.values()].reduce((a, b) => a + b, 0);
if (total !== 0) throw new Error(`generated balances sum to ${total}, not 0`);
db.exec('DROP TABLE temp.proto; DROP TABLE temp.proto_entries;');
// The balance checkpoint the switch checks at start (src/store/sqlite/balance-check.ts),
// summed from the entries once here, so that opening the store does not sum them all.
const tc = performance.now();
const check = verifyBalances(db);
if (check.mismatches.length) throw new Error(`generated balances differ from their entries: ${JSON.stringify(check.mismatches.slice(0, 3))}`);
log(`balance checkpoint of ${check.entriesSummed} entries in ${secs(tc)} s`);
// 5. Back to what the store expects.
db.pragma('locking_mode = NORMAL');
db.pragma('journal_mode = WAL');
db.close();
const size = statSync(config.dbFile).size;
console.log(
  JSON.stringify({
    dbFile: path.resolve(config.dbFile),
    bytes: size,
    seedSeconds,
    protoSeconds,
    windows: generated,
    indexSeconds,
    seconds: secs(t0),
  }),
);
