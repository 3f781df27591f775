// Preloaded into a server (node --import ./bench/lib/pg-statements.mjs) by `npm run bench
// -- --pg-statements`: times every statement the server sends to PostgreSQL through pg
// (Client.prototype.query patched once), keyed by its SQL, and writes the totals as JSON
// to $TSERVE_BENCH_PG_STATEMENTS when the process exits. A statement's time runs from the
// call to its answer: the round trip and PostgreSQL's work, and the wait behind the
// statements queued before it on the same connection.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import pg from 'pg';

const out = process.env.TSERVE_BENCH_PG_STATEMENTS;
const stats = new Map();
const proto = pg.Client.prototype;
const query = proto.query;
// Counting starts and restarts on SIGUSR2 (the bench sends it when its measured run starts).
process.on('SIGUSR2', () => stats.clear());

function record(text, ms, failed) {
  const key = String(text).replace(/\s+/g, ' ').trim();
  let s = stats.get(key);
  if (!s) stats.set(key, (s = { sql: key, calls: 0, ms: 0, maxMs: 0, errors: 0 }));
  s.calls++;
  s.ms += ms;
  if (ms > s.maxMs) s.maxMs = ms;
  if (failed) s.errors++;
}

proto.query = function (config, values, callback) {
  const text = typeof config === 'string' ? config : config && typeof config.text === 'string' ? config.text : null;
  if (text === null) return query.apply(this, arguments);
  const t0 = performance.now();
  const cb = typeof values === 'function' ? values : typeof callback === 'function' ? callback : null;
  if (cb) {
    const wrapped = function (err) {
      record(text, performance.now() - t0, Boolean(err));
      return cb.apply(this, arguments);
    };
    return typeof values === 'function' ? query.call(this, config, wrapped) : query.call(this, config, values, wrapped);
  }
  const r = query.apply(this, arguments);
  if (r && typeof r.then === 'function') {
    r.then(
      () => record(text, performance.now() - t0, false),
      () => record(text, performance.now() - t0, true),
    );
  }
  return r;
};

process.on('exit', () => {
  if (!out) return;
  const list = [...stats.values()].sort((a, b) => b.ms - a.ms).map((s) => ({ ...s, ms: Math.round(s.ms), maxMs: Math.round(s.maxMs * 10) / 10 }));
  writeFileSync(out, JSON.stringify(list));
});
