// Generates settlement windows in a PostgreSQL database, server-side: the PostgreSQL
// twin of gen-settlement.ts, for the pgsettle phase. The database must hold the
// catalogue and the network already (a copy of the bench's seeded template, or any
// seeded tserve database); this adds whole windows of payments with valid fee splits,
// their balanced ledger entries (settlement_date set), the window totals and movements
// booking would have kept, and the balances, so that `tserve check` passes on it.
//
//   node --import tsx bench/gen-settlement-pg.ts --url postgres://.../db --window 2026-11-17:1000000 --window 2026-11-18:10000000
//                    [--prototypes 50000] [--keep-indexes] [--parallel 2]
//
// How it stays fast (it is test data):
//  1. JS builds P prototypes with the real fee rules (bench/lib/rows.ts), as
//     gen-settlement.ts does, and they go into two unlogged tables (bench_proto,
//     bench_proto_entries; both connections read them), dropped at the end.
//  2. Each window is `INSERT INTO payments SELECT ... FROM generate_series(0, N-1) JOIN proto`
//     and `INSERT INTO ledger_entries SELECT ... JOIN proto_entries`: payment i is prototype
//     i mod P with its own id, public id, RRN, receipt number and booking time; entry ids
//     are computed too (base + 16i + the posting's place), not drawn from the sequence
//     (set past them at the end). No row goes through the client.
//  3. session_replication_role = replica while inserting (a superuser's setting): the
//     foreign-key triggers and the deferred "entries of a payment sum to zero" trigger do
//     not fire, the rows are built to satisfy both (`tserve check` proves it). Without
//     the privilege, the deferred trigger is disabled on the table instead (its owner may)
//     and the foreign keys are checked row by row, which is slower.
//  4. A window goes in as statements of at most 250k payments (their payments, or their
//     entries), taken from one queue by --parallel connections (default 2) at once:
//     nothing checks entries against payments meanwhile.
//  5. window_totals, window_movements and ledger_balances from the prototypes times how
//     often each occurs (no scan of the generated rows); then ANALYZE.
//  6. The indexes that are not unique are dropped first and built again at the end, one per
//     connection at a time (building sorts once: about a third less CPU than keeping them
//     up row by row); --keep-indexes keeps them.
// Prints one JSON object on stdout; progress on stderr.
import pg from 'pg';
import { romeInstant } from '../src/domain/calendar.js';
import { PAYABLE_SERVICES, buildPayment, rng, type TerminalRow } from './lib/rows.js';
import { arg, flag } from './lib/args.js';

const url = arg('url');
if (!url) throw new Error('--url postgres://... is required');
const windows = process.argv
  .flatMap((a, i) => (a === '--window' ? [process.argv[i + 1]!] : []))
  .map((w) => {
    const m = /^(\d{4}-\d{2}-\d{2}):(\d+)$/.exec(w);
    if (!m) throw new Error(`--window DATE:COUNT, not ${w}`);
    return { date: m[1]!, count: Number(m[2]) };
  });
const prototypes = Number(arg('prototypes') ?? 50_000);
const parallel = Math.max(1, Number(arg('parallel') ?? 2));
const SLICE = 250_000;
const log = (s: string) => process.stderr.write(`${s}\n`);
const t0 = performance.now();
const secs = (from: number) => Math.round(performance.now() - from) / 1000;

// bigint and numeric as numbers (every value here is far below 2^53).
pg.types.setTypeParser(20, Number);
pg.types.setTypeParser(1700, Number);

async function connect(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: 'tserve-bench-gen' });
  await c.connect();
  await c.query("SET synchronous_commit = off; SET work_mem = '256MB'; SET maintenance_work_mem = '512MB'");
  return c;
}

const db = await connect();
const conns = [db];
for (let i = 1; i < parallel; i++) conns.push(await connect());

// Foreign keys and the deferred balance trigger off while inserting (see 3. above).
let replicaRole = true;
for (const c of conns) {
  try {
    await c.query('SET session_replication_role = replica');
  } catch (err) {
    replicaRole = false;
    log(`session_replication_role = replica refused (${err instanceof Error ? err.message : String(err)}): foreign keys are checked row by row`);
  }
}
if (!replicaRole) {
  for (const c of conns) await c.query('SET session_replication_role = DEFAULT');
}

const seeded = (await db.query<{ n: number }>('SELECT count(*) AS n FROM terminals')).rows[0]!.n;
if (seeded === 0) throw new Error('the database has no terminals: seed it first (a copy of a seeded tserve database)');
const terminals = (await db.query<{ id: string; counter_id: string; kind: TerminalRow['counterKind'] }>(
  'SELECT t.id, t.counter_id, c.kind FROM terminals t JOIN counters c ON c.id = t.counter_id ORDER BY t.id',
)).rows.map((r) => ({ id: r.id, counterId: r.counter_id, counterKind: r.kind }));

// 1. Prototypes with their postings, and the accounts they touch (created as the store creates them).
const tp = performance.now();
const random = rng(20261117);
const serviceDate = windows[0]?.date ?? '2026-11-17';
const built = Array.from({ length: prototypes }, (_, k) => {
  const t = terminals[Math.floor(random() * terminals.length)]!;
  const s = PAYABLE_SERVICES[Math.floor(random() * PAYABLE_SERVICES.length)]!;
  return buildPayment(k, t, s, romeInstant(serviceDate, '12:00:00'), serviceDate, random);
});
const POSTINGS_MAX = 16; // entry id = base + 16i + the posting's place
if (built.some((b) => b.postings.length > POSTINGS_MAX)) throw new Error(`a payment with more than ${POSTINGS_MAX} postings`);
const refs = new Map<string, { kind: string; owner: string }>();
for (const b of built) for (const q of b.postings) refs.set(`${q.account.kind}/${q.account.ownerId}`, { kind: q.account.kind, owner: q.account.ownerId });
const refList = [...refs.values()];
await db.query('INSERT INTO ledger_accounts (kind, owner_id) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (kind, owner_id) DO NOTHING', [
  refList.map((r) => r.kind), refList.map((r) => r.owner),
]);
const accountIds = new Map(
  (await db.query<{ id: number; kind: string; owner_id: string }>('SELECT id, kind, owner_id FROM ledger_accounts')).rows.map((r) => [`${r.kind}/${r.owner_id}`, r.id]),
);

// Regular tables (unlogged), not TEMP: both connections read them. Dropped at the end.
await db.query(`DROP TABLE IF EXISTS bench_proto, bench_proto_entries;
  CREATE UNLOGGED TABLE bench_proto (k integer PRIMARY KEY, terminal_id text, counter_id text, counter_kind text, entity_id text,
    service_code text, identifier text, amount_cents bigint, fee_cents bigint, fee_commission bigint, fee_operator bigint,
    fee_royalty bigint, circuit_fee_cents bigint, circuit_fee_mode text, description text);
  CREATE UNLOGGED TABLE bench_proto_entries (k integer, ord integer, account_id bigint, amount_cents bigint);`);
for (let i = 0; i < built.length; i += 10_000) {
  const part = built.slice(i, i + 10_000);
  const col = <K extends keyof (typeof built)[number]['row']>(key: K) => part.map((b) => b.row[key]);
  await db.query(
    `INSERT INTO bench_proto SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
       $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::text[])`,
    [
      part.map((_, j) => i + j), col('terminalId'), col('counterId'), col('counterKind'), col('entityId'), col('serviceCode'), col('identifier'),
      col('amountCents'), col('feeCents'), col('feeCommission'), col('feeOperator'), col('feeRoyalty'), col('circuitFeeCents'), col('circuitFeeMode'),
      col('description'),
    ],
  );
  const entries = part.flatMap((b, j) => b.postings.map((q, ord) => [i + j, ord, accountIds.get(`${q.account.kind}/${q.account.ownerId}`)!, q.amountCents] as const));
  await db.query('INSERT INTO bench_proto_entries SELECT * FROM unnest($1::integer[], $2::integer[], $3::bigint[], $4::bigint[])', [
    entries.map((e) => e[0]), entries.map((e) => e[1]), entries.map((e) => e[2]), entries.map((e) => e[3]),
  ]);
}
await db.query('CREATE INDEX ON bench_proto_entries (k); ANALYZE bench_proto; ANALYZE bench_proto_entries');
const protoSeconds = secs(tp);
log(`${prototypes} prototypes in ${protoSeconds} s`);

// 2. Indexes that are not unique, dropped for the load (unless --keep-indexes) and built after.
const deferred = !flag('keep-indexes')
  ? (await db.query<{ name: string; def: string }>(
      `SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname JOIN pg_index x ON x.indexrelid = c.oid
       WHERE i.schemaname = current_schema() AND i.tablename IN ('payments', 'ledger_entries') AND NOT x.indisunique`,
    )).rows
  : [];
for (const i of deferred) await db.query(`DROP INDEX ${i.name}`);

const generated: { date: string; payments: number; entries: number; seconds: number; paymentSeconds: number; entrySeconds: number }[] = [];
let balancedTriggerOff = false;
for (const w of windows) {
  const tw = performance.now();
  const base = (await db.query<{ m: number }>('SELECT coalesce(max(id), 0) AS m FROM payments')).rows[0]!.m;
  const entryBase = (await db.query<{ m: number }>('SELECT coalesce(max(id), 0) AS m FROM ledger_entries')).rows[0]!.m + 1;
  const dayStart = romeInstant(w.date, '00:00:00');
  const step = 86_400_000 / w.count;
  const compact = w.date.replaceAll('-', '');
  const at = (i: string) => `(${dayStart} + floor(${i} * ${step}::float8)::bigint)`;
  if (!replicaRole && !balancedTriggerOff) {
    await db.query('ALTER TABLE payments DISABLE TRIGGER payments_booked_balanced');
    balancedTriggerOff = true;
  }
  // Payment id = base + 1 + i; its prototype is i mod P.
  const payments = (from: number, to: number) => `
    INSERT INTO payments (id, public_id, channel, terminal_id, counter_id, counter_kind, entity_id, service_code, identifier,
      option_id, payer_cf, amount_cents, fee_cents, fee_commission, fee_operator, fee_royalty, circuit_fee_cents, circuit_fee_mode,
      stan, rrn, approval_code, receipt_number, description, booked_at, settlement_date)
    SELECT ${base} + 1 + g.i,
      lpad(to_hex(${at('g.i')} / 65536), 8, '0') || '-' || lpad(to_hex(${at('g.i')} % 65536), 4, '0') || '-7000-8000-' || lpad(to_hex(${base} + 1 + g.i), 12, '0'),
      'iso8583', p.terminal_id, p.counter_id, p.counter_kind, p.entity_id, p.service_code, p.identifier,
      NULL, NULL, p.amount_cents, p.fee_cents, p.fee_commission, p.fee_operator, p.fee_royalty, p.circuit_fee_cents, p.circuit_fee_mode,
      lpad(((${base} + 1 + g.i) % 1000000)::text, 6, '0'), lpad((${base} + 1 + g.i)::text, 12, '0'), 'A00000',
      '${compact}-' || lpad((${base} + 1 + g.i)::text, 10, '0'), p.description, ${at('g.i')}, '${w.date}'
    FROM generate_series(${from}, ${to - 1}) AS g (i) JOIN bench_proto p ON p.k = g.i % ${prototypes}`;
  const entries = (from: number, to: number) => `
    INSERT INTO ledger_entries (id, payment_id, account_id, amount_cents, is_reversal, booked_at, settlement_date) OVERRIDING SYSTEM VALUE
    SELECT ${entryBase} + ${POSTINGS_MAX}::bigint * g.i + e.ord, ${base} + 1 + g.i, e.account_id, e.amount_cents, 0, ${at('g.i')}, '${w.date}'
    FROM generate_series(${from}, ${to - 1}) AS g (i) JOIN bench_proto_entries e ON e.k = g.i % ${prototypes}`;
  // Slices of payments and of entries from one queue, on every connection at once (with
  // replica role nothing checks the one against the other); else the payments first.
  const tasks: { table: 'payments' | 'entries'; sql: string }[] = [];
  for (let from = 0; from < w.count; from += SLICE) {
    const to = Math.min(w.count, from + SLICE);
    tasks.push({ table: 'payments', sql: payments(from, to) }, { table: 'entries', sql: entries(from, to) });
  }
  if (!replicaRole) tasks.sort((a, b) => (a.table === b.table ? 0 : a.table === 'payments' ? -1 : 1));
  const busy = { payments: 0, entries: 0 };
  await Promise.all(
    (replicaRole ? conns : [db]).map(async (c) => {
      for (let t = tasks.shift(); t; t = tasks.shift()) {
        const started = performance.now();
        await c.query(t.sql);
        busy[t.table] += (performance.now() - started) / 1000;
      }
    }),
  );
  const paymentSeconds = Math.round(busy.payments * 1000) / 1000;
  const entrySeconds = Math.round(busy.entries * 1000) / 1000;
  const times = (k: string) => `(${Math.floor(w.count / prototypes)} + (${k} < ${w.count % prototypes})::int)`;
  const entryCount = (await db.query<{ n: number }>(`SELECT coalesce(sum(${times('k')}), 0) AS n FROM bench_proto_entries`)).rows[0]!.n;
  // 3. What booking keeps: the window's movement per account, its group totals, the balances.
  await db.query(`
    INSERT INTO window_movements AS m (settlement_date, account_id, amount_cents)
    SELECT '${w.date}', account_id, sum(amount_cents * ${times('k')}) FROM bench_proto_entries GROUP BY account_id HAVING sum(amount_cents * ${times('k')}) <> 0
    ON CONFLICT (settlement_date, account_id) DO UPDATE SET amount_cents = m.amount_cents + excluded.amount_cents`);
  await db.query(`
    INSERT INTO window_totals AS w (settlement_date, kind, entity_id, service_code, counter_id, n, amount_cents, fee_cents, commission, operator, royalty, netted, rebilled)
    SELECT '${w.date}', 'booking', entity_id, service_code, counter_id, sum(t), sum(amount_cents * t), sum(fee_cents * t), sum(fee_commission * t),
      sum(fee_operator * t), sum(fee_royalty * t), sum(CASE WHEN circuit_fee_mode = 'netted' THEN circuit_fee_cents * t ELSE 0 END),
      sum(CASE WHEN circuit_fee_mode = 'rebilled' THEN circuit_fee_cents * t ELSE 0 END)
    FROM (SELECT *, ${times('k')} AS t FROM bench_proto) AS p WHERE t > 0 GROUP BY entity_id, service_code, counter_id
    ON CONFLICT (settlement_date, kind, entity_id, service_code, counter_id) DO UPDATE SET
      n = w.n + excluded.n, amount_cents = w.amount_cents + excluded.amount_cents, fee_cents = w.fee_cents + excluded.fee_cents,
      commission = w.commission + excluded.commission, operator = w.operator + excluded.operator, royalty = w.royalty + excluded.royalty,
      netted = w.netted + excluded.netted, rebilled = w.rebilled + excluded.rebilled`);
  await db.query(`
    INSERT INTO ledger_balances AS b (account_id, balance_cents)
    SELECT account_id, sum(amount_cents * ${times('k')}) FROM bench_proto_entries GROUP BY account_id
    ON CONFLICT (account_id) DO UPDATE SET balance_cents = b.balance_cents + excluded.balance_cents`);
  generated.push({ date: w.date, payments: w.count, entries: entryCount, seconds: secs(tw), paymentSeconds, entrySeconds });
  log(`${w.date}: ${w.count} payments (${paymentSeconds} s) and ${entryCount} ledger entries (${entrySeconds} s), ${secs(tw)} s in all`);
}
if (balancedTriggerOff) await db.query('ALTER TABLE payments ENABLE TRIGGER payments_booked_balanced');

const ti = performance.now();
if (deferred.length) {
  // On every connection at once, the largest first (ledger_entries'), one worker each.
  const queue = [...deferred].sort((a, b) => (a.def.includes('ledger_entries') ? 0 : 1) - (b.def.includes('ledger_entries') ? 0 : 1));
  await Promise.all(
    conns.map(async (c) => {
      await c.query('SET max_parallel_maintenance_workers = 0');
      for (let i = queue.shift(); i; i = queue.shift()) await c.query(i.def);
    }),
  );
  log(`${deferred.length} indexes built in ${secs(ti)} s`);
}
const indexSeconds = secs(ti);
const total = (await db.query<{ s: number }>('SELECT coalesce(sum(balance_cents), 0) AS s FROM ledger_balances')).rows[0]!.s;
if (total !== 0) throw new Error(`the balances sum to ${total}, not 0`);
await db.query("SELECT setval('payments_id_seq', (SELECT coalesce(max(id), 0) + 1 FROM payments), false)");
await db.query("SELECT setval('ledger_entries_id_seq', (SELECT coalesce(max(id), 0) + 1 FROM ledger_entries), false)");
await db.query('DROP TABLE bench_proto, bench_proto_entries');
const ta = performance.now();
await db.query('ANALYZE payments; ANALYZE ledger_entries; ANALYZE window_totals; ANALYZE window_movements; ANALYZE ledger_balances; ANALYZE ledger_accounts');
const analyzeSeconds = secs(ta);
const bytes = (await db.query<{ b: number }>('SELECT pg_database_size(current_database()) AS b')).rows[0]!.b;
for (const c of conns) await c.end();
console.log(JSON.stringify({ bytes, replicaRole, parallel, protoSeconds, windows: generated, deferredIndexes: deferred.length, indexSeconds, analyzeSeconds, seconds: secs(t0) }));
