// Times the real settlement run, settle() of settlement/run.ts on the real SqliteStore,
// for one window of a generated database, and reports its slow queries: every SQL
// statement the run executes is timed (better-sqlite3 statements instrumented), and
// those over 50 ms are explained (EXPLAIN QUERY PLAN with the parameters they ran with).
// With --url instead of --db, on the real PgStore (gen-settlement-pg.ts's database);
// statements are not timed one by one there (queries is empty), the steps are.
//
//   node --import tsx bench/settle-time.ts --db <tserve.db> --date 2026-11-18
//   node --import tsx bench/settle-time.ts --url postgres://... --date 2026-11-18
//
// Prints one JSON object on stdout.
import Database from 'better-sqlite3';
import { settle } from '../settlement/run.js';
import { addDays, romeInstant } from '../src/domain/calendar.js';
import { PgStore } from '../src/store/postgres/store.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import type { Store } from '../src/store/types.js';
import { arg } from './lib/args.js';
import { instrumentStatements, oneLine } from './lib/instrument.js';

const file = arg('db');
const url = arg('url');
const date = arg('date');
if (!(file || url) || !date) throw new Error('--db <file> (or --url postgres://...) and --date YYYY-MM-DD are required');

const operator = { name: 'T-Serve Network Operator S.r.l.', iban: 'IT60X0542811101000000123456' };
const timings = instrumentStatements();
const t0 = performance.now();
const store: Store = url ? await PgStore.open(url) : SqliteStore.open(file!);
const openMs = performance.now() - t0;
timings.clear(); // what opening the store ran is not the settlement's
const steps: Record<string, number> = {};
let last = performance.now();
let lastStep = 'start';
const t1 = performance.now();
const result = await settle(store, date, {
  cutoff: '00:00',
  operator,
  // After the window: the next day at noon.
  now: romeInstant(addDays(date, 1), '12:00:00'),
  onProgress: (step) => {
    const now = performance.now();
    steps[lastStep] = Math.round(now - last);
    last = now;
    lastStep = step;
  },
});
const settleMs = performance.now() - t1;
steps[lastStep] = Math.round(performance.now() - last);
delete steps.start;
await store.close();

const slow = url ? [] : [...timings.values()].filter((t) => t.us >= 50_000).sort((a, b) => b.us - a.us);
const r = url ? null : new Database(file!, { readonly: true, fileMustExist: true });
const queries = slow.map((t) => {
  let plan: string[];
  try {
    plan = (r!.prepare(`EXPLAIN QUERY PLAN ${t.sql}`).all(...t.slowestParams) as { detail: string }[]).map((p) => p.detail);
  } catch (err) {
    plan = [`(not explained: ${String(err)})`];
  }
  return { sql: oneLine(t.sql, 400), calls: t.calls, ms: Math.round(t.us / 1000), plan };
});
r?.close();
console.log(
  JSON.stringify({
    date,
    payments: result.figures.totals.payments,
    outcome: result.outcome,
    openMs: Math.round(openMs),
    settleSeconds: Math.round(settleMs) / 1000,
    steps,
    queries,
  }),
);
