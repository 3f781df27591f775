// npm run bench: the whole benchmark of issue #6, in one run, on this machine.
//
//   npm run bench [-- --quick] [--duration S] [--closed-duration S] [--short-duration S]
//                 [--ceiling-seconds S] [--settle 1000000,10000000]
//                 [--skip ceiling,iso,ws,https,settle,restart] [--profile] [--log-level warn]
//                 [--https-workers N] [--whatif-jwt] [--ws-nice N] [--ws-rate R] [--ws-samples FILE]
// Durations: open loops --duration (30 s; quick 5), closed loop --closed-duration (20 s),
// WebSocket and HTTPS --short-duration (15 s); --quick also settles 100k and 1M instead
// of 1M and 10M.
//
// Phases (each server a separate process on loopback, from a fresh copy of one seeded
// database whose counters' credit limits are raised so that no payment is declined):
//  1. ceiling    the rows a payment books, straight into SQLite (batches of 1000, WAL,
//                synchronous=FULL, real schema); and the real store in process
//  2. iso        `tserve terminal load` (all demo terminals, mix payment=100) against
//                the server: closed loop, then open loop at 1,000/s and 5,000/s
//  3. ws         a finance subscriber on /v1/stream while the simulator offers 1,000/s:
//                commit-to-client latency
//  4. https      JSON over HTTPS (self-signed certificate made now with openssl)
//  5. settle     generated windows of 1M and 10M payments, settle() timed on each
//  6. restart    the server on the 10M database: spawn to listening
// Server RSS is sampled every 250 ms in every phase. Prints one table and writes it as
// JSON to bench/results/latest.json and a timestamped copy.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { arg, flag } from './lib/args.js';
import { summariseProfile, type ProfileSummary } from './lib/profile.js';
import { ROOT, RssSampler, hasCommand, installCleanup, onCleanup, run, runJson, startServer, track, type ServerHandle } from './lib/proc.js';
import { spawn } from 'node:child_process';
import type { LoadSummary } from '../terminals/simulator/load.js';

installCleanup();
const benchStarted = performance.now();
const quick = flag('quick');
const duration = Number(arg('duration') ?? (quick ? 5 : 30));
const closedDuration = Number(arg('closed-duration') ?? (quick ? 5 : 20));
const shortDuration = Number(arg('short-duration') ?? (quick ? 5 : 15)); // WebSocket and HTTPS phases
const ceilingSeconds = Number(arg('ceiling-seconds') ?? (quick ? 2 : 6));
const settleSizes = (arg('settle') ?? (quick ? '100000,1000000' : '1000000,10000000')).split(',').map(Number);
const skip = new Set((arg('skip') ?? '').split(',').filter(Boolean));
const logLevel = arg('log-level') ?? 'warn';
const profile = flag('profile');
/** What-if: the server's JWT secret as a KeyObject (bench/whatif/jwt-keyobject.mjs preloaded). */
const whatIfJwt = flag('whatif-jwt');
const SEED_POSITIONS = 40_000;
const CREDIT_LIMIT = 100_000_000_000;
const MB = 1024 * 1024;

const log = (s: string) => process.stderr.write(`[${((performance.now() - benchStarted) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);

// ---------------------------------------------------------------- results

interface Row {
  phase: string;
  throughput: string;
  p50: string;
  p99: string;
  p999: string;
  rss: string;
  /** CPU seconds of the server / of the load process during the phase. */
  cpu: string;
  target: string;
  verdict: 'pass' | 'FAIL' | '' | 'n/a';
}
const rows: Row[] = [];
const results: Record<string, unknown> = {};
const notes: string[] = [];
const rssPeaks: { phase: string; bytes: number }[] = [];

const fmtN = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '' : `${n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n)} ms`);
const fmtMB = (b: number | undefined) => (b ? `${Math.round(b / MB)} MB` : '');
/** CPU of the server and of the load process, in % of one core over the measured run. */
const fmtCpu = (server: number, load: number | undefined, seconds: number) =>
  `${Math.round((100 * server) / seconds)}% / ${Math.round((100 * (load ?? 0)) / seconds)}%`;
type LoadWithCpu = LoadSummary & { loaderCpuSeconds?: number };
const verdict = (ok: boolean): Row['verdict'] => (ok ? 'pass' : 'FAIL');

function addRow(r: Row): void {
  rows.push(r);
  log(`${r.phase}: ${r.throughput}${r.p50 ? ` p50 ${r.p50} p99 ${r.p99} p99.9 ${r.p999}` : ''}${r.rss ? ` RSS ${r.rss}` : ''}${r.cpu ? ` CPU ${r.cpu}` : ''} ${r.verdict}`);
}

// ---------------------------------------------------------------- setup

const work = mkdtempSync(path.join(os.tmpdir(), 'tserve-bench-'));
onCleanup(() => rmSync(work, { recursive: true, force: true }));
log(`work directory ${work}`);
const freeGb = (() => {
  const s = statfsSync(work);
  return (s.bavail * s.bsize) / 1024 ** 3;
})();
log(`free space in ${os.tmpdir()}: ${freeGb.toFixed(1)} GB; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? '',
  memGb: Math.round(os.totalmem() / 1024 ** 3),
  node: process.version,
  loadAverageAtStart: os.loadavg(),
  freeGbInTmp: Math.round(freeGb * 10) / 10,
  commit: (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
    } catch {
      return '';
    }
  })(),
};
/** Linux pressure stall totals (µs): how long tasks waited for a CPU or for I/O (others' work included). */
function psi(): { at: number; cpuSome: number; ioSome: number; ioFull: number } | null {
  try {
    const total = (f: string, kind: string) => Number(new RegExp(`^${kind} .*total=(\\d+)`, 'm').exec(readFileSync(`/proc/pressure/${f}`, 'utf8'))?.[1] ?? NaN);
    return { at: performance.now(), cpuSome: total('cpu', 'some'), ioSome: total('io', 'some'), ioFull: total('io', 'full') };
  } catch {
    return null;
  }
}

/** Share of the wall time in which some task waited for a CPU / for I/O, between two readings. */
function pressure(a: ReturnType<typeof psi>, b: ReturnType<typeof psi>) {
  if (!a || !b) return null;
  const wall = (b.at - a.at) * 1000;
  const pct = (x: number) => Math.round((1000 * x) / wall) / 10;
  return { cpuSomePct: pct(b.cpuSome - a.cpuSome), ioSomePct: pct(b.ioSome - a.ioSome), ioFullPct: pct(b.ioFull - a.ioFull) };
}
const psiAtStart = psi();
const phasePressure: Record<string, ReturnType<typeof pressure>> = {};

if (os.loadavg()[0]! > 0.5) notes.push(`load average at start ${os.loadavg()[0]!.toFixed(2)}: other work on this machine skews the figures`);

/** Seeds the demo network once; every phase starts from a copy of it. */
async function makeTemplate(): Promise<string> {
  const dir = path.join(work, 'template');
  log('seeding the demo network (template database)');
  const s = await startServer({ TSERVE_DATA_DIR: dir, TSERVE_LOG_LEVEL: logLevel, TSERVE_SEED_POSITIONS: String(SEED_POSITIONS) });
  results.seedSeconds = Math.round(s.startMs) / 1000;
  await s.stop();
  const db = new Database(path.join(dir, 'tserve.db'));
  const changed = db.prepare('UPDATE counters SET credit_limit_cents = ?').run(CREDIT_LIMIT).changes;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  log(`template seeded in ${results.seedSeconds} s; credit limit of ${changed} counters raised to ${CREDIT_LIMIT} cents`);
  return dir;
}

let copies = 0;
function freshCopy(template: string): string {
  const dir = path.join(work, `run-${++copies}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const f of readdirSync(template)) if (!f.endsWith('-shm') && !f.endsWith('-wal')) copyFileSync(path.join(template, f), path.join(dir, f));
  return dir;
}

function credentials(dir: string): { terminals: unknown[]; users: { username: string; password: string }[] } {
  return JSON.parse(readFileSync(path.join(dir, 'demo-credentials.json'), 'utf8')) as never;
}

// ---------------------------------------------------------------- server metrics

function get(url: string, ca?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(url, { ca, servername: 'localhost', timeout: 5000 }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (t += d));
      res.on('end', () => resolve(t));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function scrape(s: ServerHandle, ca?: Buffer): Promise<Record<string, number>> {
  try {
    const text = await get(`${s.url}/metrics`, ca);
    const out: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const m =
        /^(tserve_writer_batch_size_(?:sum|count)|tserve_writer_commit_seconds_(?:sum|count|bucket\{le="[^"]+"\})|tserve_process_cpu_seconds_total|tserve_nodejs_eventloop_lag_(?:p99|max)_seconds) ([\d.e+-]+)$/.exec(
          line,
        );
      if (m) out[m[1]!] = Number(m[2]);
    }
    return out;
  } catch {
    return {};
  }
}

function writerDelta(a: Record<string, number>, b: Record<string, number>) {
  const d = (k: string) => (b[k] ?? 0) - (a[k] ?? 0);
  const batches = d('tserve_writer_batch_size_count');
  const over = (le: string) => batches - d(`tserve_writer_commit_seconds_bucket{le="${le}"}`);
  return {
    batches,
    meanBatch: batches ? Math.round(d('tserve_writer_batch_size_sum') / batches) : 0,
    meanBatchMs: batches ? Math.round((d('tserve_writer_commit_seconds_sum') / batches) * 10000) / 10 : 0,
    /** Batches whose run + commit took longer than 50, 100 and 250 ms. */
    batchesOver: { '50ms': over('0.05'), '100ms': over('0.1'), '250ms': over('0.25') },
    cpuSeconds: Math.round(d('tserve_process_cpu_seconds_total') * 10) / 10,
    /** prom-client's event-loop delay since the previous scrape (it resets on each). */
    eventLoopLagMs: { p99: Math.round((b['tserve_nodejs_eventloop_lag_p99_seconds'] ?? 0) * 10000) / 10, max: Math.round((b['tserve_nodejs_eventloop_lag_max_seconds'] ?? 0) * 10000) / 10 },
  };
}

// ---------------------------------------------------------------- the ISO load generator

async function isoLoad(s: ServerHandle, dir: string, opts: { rate: number; seconds: number; name: string }): Promise<LoadSummary> {
  const out = path.join(work, `${opts.name}.json`);
  const args = [
    'bin/tserve.js', 'terminal', 'load',
    '--host', '127.0.0.1',
    '--port', String(s.isoPort),
    '--credentials', path.join(dir, 'demo-credentials.json'),
    '--mix', 'payment=100',
    '--rate', String(opts.rate),
    '--duration', String(opts.seconds),
    '--seed', '2000',
    '--positions', String(SEED_POSITIONS),
    '--drain', '10',
    '--progress', 'off',
    '--json', out,
  ];
  const loader: { sampler?: RssSampler } = {};
  const r = await run(process.execPath, args, {
    timeoutMs: (opts.seconds + 90) * 1000,
    env: { ...process.env, TSERVE_LOG_LEVEL: 'warn' },
    onSpawn: (pid) => (loader.sampler = new RssSampler(pid)),
    // CPU is counted from the start of the run, after the load generator's setup
    // (regenerating the network, connecting, signing on), for it and for the server.
    onStderr: (chunk) => {
      if (/connections signed on;/.test(chunk)) {
        loader.sampler?.resetCpu();
        s.rss.resetCpu();
      }
    },
  });
  // CPU of the load generator itself: it shares the 2 cores with the server.
  const loaderCpu = loader.sampler?.cpu() ?? 0;
  loader.sampler?.stop();
  if (!existsSync(out)) throw new Error(`terminal load wrote no summary (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  const summary = JSON.parse(readFileSync(out, 'utf8')) as LoadSummary & { loaderCpuSeconds?: number };
  summary.loaderCpuSeconds = loaderCpu;
  return summary;
}

function approvedPerSecond(l: LoadSummary): number {
  return (l.byCode['00'] ?? 0) / l.elapsedSeconds;
}

function loadProblems(l: LoadSummary): string {
  const declined = Object.entries(l.byCode).filter(([k]) => k !== '00');
  const e = l.errors;
  const parts = [
    declined.length ? `declines ${declined.map(([k, n]) => `${k}: ${n}`).join(', ')}` : '',
    e.timeouts ? `${e.timeouts} timeouts` : '',
    e.connectionClosed ? `${e.connectionClosed} closed` : '',
    e.other ? `${e.other} other errors` : '',
    l.missedSends ? `${l.missedSends} missed sends` : '',
  ].filter(Boolean);
  return parts.join('; ');
}

// ---------------------------------------------------------------- phases

let ceilingRate = 0;

/** Keeps the server's main-thread profile (thread 0; tsx's loader thread writes another) and summarises it. */
function collectProfile(dir: string, name: string, title: string): void {
  const f = existsSync(dir) ? readdirSync(dir).find((x) => /\.0\.\d+\.cpuprofile$/.test(x)) : undefined;
  if (!f) {
    notes.push(`profile ${name}: the server wrote no .cpuprofile`);
    return;
  }
  const keep = path.join(ROOT, 'bench', 'results', `${name}.cpuprofile`);
  mkdirSync(path.dirname(keep), { recursive: true });
  copyFileSync(path.join(dir, f), keep);
  const summary: ProfileSummary & { title: string } = { ...summariseProfile(keep), title };
  summary.file = path.relative(ROOT, keep);
  const all = (results.profiles ??= []) as (ProfileSummary & { title: string })[];
  all.push(summary);
}

async function phaseCeiling(template: string): Promise<void> {
  log('ceiling: rows straight into SQLite, batches of 1000, WAL + synchronous=FULL');
  const rowsDir = freshCopy(template);
  const c = await runJson<{
    paymentsPerSecond: number;
    commitMs: { p50: number; p99: number; mean: number };
    batchMs: { p50: number; p99: number; mean: number };
    walPagesPerCommit: Record<string, number>;
    tinyCommitMs: { p50: number; p99: number };
  }>('bench/ceiling.ts', ['--db', path.join(rowsDir, 'tserve.db'), '--seconds', String(ceilingSeconds), '--batch', '1000'], { timeoutMs: 120_000 });
  results.ceiling = c;
  ceilingRate = c.paymentsPerSecond;
  addRow({
    phase: 'Ceiling: SQLite rows, batch 1000 (batch time)',
    throughput: `${fmtN(c.paymentsPerSecond)}/s`,
    p50: fmtMs(c.batchMs.p50),
    p99: fmtMs(c.batchMs.p99),
    p999: '',
    rss: '',
    cpu: '',
    target: 'reference',
    verdict: '',
  });
  addRow({
    phase: 'Disk: commit of one row (WAL write + fsync)',
    throughput: `${fmtN(1000 / Math.max(0.001, c.tinyCommitMs.p50))}/s`,
    p50: fmtMs(c.tinyCommitMs.p50),
    p99: fmtMs(c.tinyCommitMs.p99),
    p999: '',
    rss: '',
    cpu: '',
    target: 'reference',
    verdict: '',
  });
  rmSync(rowsDir, { recursive: true, force: true });

  log('store in process: SqliteStore.write, 1000 commands in flight');
  const storeDir = freshCopy(template);
  const st = await runJson<{
    paymentsPerSecond: number;
    failed: number;
    batchSize: { p50: number; mean: number; max: number };
    batchMs: { p50: number; p99: number; mean: number };
  }>('bench/ceiling.ts', ['--db', path.join(storeDir, 'tserve.db'), '--seconds', String(ceilingSeconds), '--mode', 'store', '--concurrency', '1000'], {
    timeoutMs: 120_000,
    env: { TSERVE_LOG_LEVEL: 'silent' },
  });
  results.storeInProcess = st;
  addRow({
    phase: `Store in process (batch ~${st.batchSize.mean}; batch time)`,
    throughput: `${fmtN(st.paymentsPerSecond)}/s`,
    p50: fmtMs(st.batchMs.p50),
    p99: fmtMs(st.batchMs.p99),
    p999: '',
    rss: '',
    cpu: '',
    target: 'reference',
    verdict: '',
  });
  rmSync(storeDir, { recursive: true, force: true });
}

async function withServer<T>(
  template: string,
  name: string,
  env: Record<string, string>,
  fn: (s: ServerHandle, dir: string) => Promise<T>,
  opts: { nodeArgs?: string[]; ca?: Buffer } = {},
): Promise<{ value: T; rss: number; serverCpuSeconds: number; writer: ReturnType<typeof writerDelta>; startMs: number }> {
  const dir = freshCopy(template);
  const s = await startServer({ TSERVE_DATA_DIR: dir, TSERVE_LOG_LEVEL: logLevel, TSERVE_SEED_POSITIONS: String(SEED_POSITIONS), ...env }, { nodeArgs: opts.nodeArgs });
  try {
    const before = await scrape(s, opts.ca);
    s.rss.reset();
    const p0 = psi();
    const value = await fn(s, dir);
    phasePressure[name] = pressure(p0, psi());
    const rss = s.rss.peak();
    const serverCpuSeconds = s.rss.cpu();
    const after = await scrape(s, opts.ca);
    rssPeaks.push({ phase: name, bytes: rss });
    return { value, rss, serverCpuSeconds, writer: writerDelta(before, after), startMs: s.startMs };
  } catch (err) {
    throw new Error(`${name}: ${err instanceof Error ? err.message : String(err)}\nserver output:\n${s.output()}`, { cause: err });
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function phaseIso(template: string): Promise<void> {
  // Closed loop at maximum.
  log(`ISO 8583 closed loop, all terminals, mix payment=100, ${closedDuration} s${profile ? ' (server under --cpu-prof)' : ''}`);
  const profDir = path.join(work, 'cpuprof');
  const closed = await withServer(
    template,
    'ISO closed loop',
    {},
    (s, dir) => isoLoad(s, dir, { rate: 0, seconds: closedDuration, name: 'iso-closed' }),
    profile ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {},
  );
  const l = closed.value;
  const rate = approvedPerSecond(l);
  const ratio = ceilingRate ? rate / ceilingRate : 0;
  results.isoClosed = { load: l, rssBytes: closed.rss, serverCpuSeconds: closed.serverCpuSeconds, writer: closed.writer, approvedPerSecond: Math.round(rate), ratioToCeiling: ratio };
  const problems = loadProblems(l);
  if (problems) notes.push(`ISO closed loop: ${problems}`);
  addRow({
    phase: `ISO 8583 closed loop (${l.connections} terminals)${profile ? ' [profiled]' : ''}`,
    throughput: `${fmtN(rate)}/s`,
    p50: fmtMs(l.latencyMs.p50),
    p99: fmtMs(l.latencyMs.p99),
    p999: fmtMs(l.latencyMs.p999),
    rss: fmtMB(closed.rss),
    cpu: fmtCpu(closed.serverCpuSeconds, (l as LoadWithCpu).loaderCpuSeconds, l.elapsedSeconds),
    target: '>= 15,000/s',
    verdict: verdict(rate >= 15_000),
  });
  addRow({
    phase: 'ISO closed loop / ceiling',
    throughput: ceilingRate ? `${(ratio * 100).toFixed(1)}%` : 'n/a',
    p50: '',
    p99: '',
    p999: '',
    rss: '',
    cpu: '',
    target: '>= 40%',
    verdict: ceilingRate ? verdict(ratio >= 0.4) : 'n/a',
  });
  if (profile) collectProfile(profDir, 'iso-closed-loop', 'ISO 8583 closed loop');

  // Open loop at fixed offered rates.
  for (const [offered, p99Target] of [
    [1000, 10],
    [5000, 50],
  ] as const) {
    log(`ISO 8583 open loop at ${offered}/s offered, ${duration} s`);
    const o = await withServer(template, `ISO open ${offered}/s`, {}, (s, dir) => isoLoad(s, dir, { rate: offered, seconds: duration, name: `iso-open-${offered}` }));
    const lo = o.value;
    const got = approvedPerSecond(lo);
    results[`isoOpen${offered}`] = { load: lo, rssBytes: o.rss, serverCpuSeconds: o.serverCpuSeconds, writer: o.writer, approvedPerSecond: Math.round(got) };
    const pr = loadProblems(lo);
    if (pr) notes.push(`ISO open ${offered}/s: ${pr}`);
    addRow({
      phase: `ISO 8583 open loop, ${fmtN(offered)}/s offered`,
      throughput: `${fmtN(got)}/s`,
      p50: fmtMs(lo.latencyMs.p50),
      p99: fmtMs(lo.latencyMs.p99),
      p999: fmtMs(lo.latencyMs.p999),
      rss: fmtMB(o.rss),
      cpu: fmtCpu(o.serverCpuSeconds, (lo as LoadWithCpu).loaderCpuSeconds, lo.elapsedSeconds),
      target: `p99 <= ${p99Target} ms`,
      verdict: verdict(lo.latencyMs.p99 <= p99Target && got >= offered * 0.95 && lo.missedSends === 0),
    });
  }
}

async function phaseWs(template: string): Promise<void> {
  const wsRate = Number(arg('ws-rate') ?? 1000);
  log(`WebSocket: finance subscriber while the simulator offers ${fmtN(wsRate)}/s for ${shortDuration} s`);
  const o = await withServer(template, 'WebSocket', {}, async (s, dir) => {
    const password = credentials(dir).users.find((u) => u.username === 'finance')!.password;
    // --ws-nice N: run the subscriber at another scheduling priority (e.g. -10), to tell
    // CPU scheduling on the 2 shared cores from delays in the server.
    const nice = arg('ws-nice');
    const cmd = [process.execPath, '--import', 'tsx', 'bench/ws-subscriber.ts', '--url', s.url, '--password', password, '--seconds', String(shortDuration + 60), ...(arg('ws-samples') ? ['--samples', arg('ws-samples')!] : [])];
    const child = track(
      spawn(nice ? 'nice' : cmd[0]!, nice ? ['-n', nice, ...cmd] : cmd.slice(1), {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`subscriber not ready: ${err}`)), 30_000);
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        if (err.includes('READY')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once('exit', () => reject(new Error(`subscriber exited: ${err}`)));
    });
    const load = await isoLoad(s, dir, { rate: wsRate, seconds: shortDuration, name: 'ws-load' });
    const hard = setTimeout(() => child.kill('SIGTERM'), 15_000);
    await closed;
    clearTimeout(hard);
    const sub = JSON.parse(out.trim().split('\n').at(-1)!) as {
      events: number;
      negative: number;
      withoutCommittedAt: number;
      close: string;
      latencyMs: { p50: number; p99: number; p999: number; max: number };
    };
    return { load, sub };
  });
  const { load, sub } = o.value;
  results.websocket = { subscriber: sub, load, rssBytes: o.rss, serverCpuSeconds: o.serverCpuSeconds, writer: o.writer };
  const booked = load.byCode['00'] ?? 0;
  if (sub.events < booked) notes.push(`WebSocket: ${sub.events} events received for ${booked} approved payments`);
  addRow({
    phase: `WebSocket commit-to-client @${fmtN(wsRate)}/s${arg('ws-nice') ? ` [subscriber nice ${arg('ws-nice')}]` : ''}`,
    throughput: `${fmtN(sub.events / load.elapsedSeconds)} ev/s`,
    p50: fmtMs(sub.latencyMs.p50),
    p99: fmtMs(sub.latencyMs.p99),
    p999: fmtMs(sub.latencyMs.p999),
    rss: fmtMB(o.rss),
    cpu: fmtCpu(o.serverCpuSeconds, (load as LoadWithCpu).loaderCpuSeconds, load.elapsedSeconds),
    target: 'p99 < 5 ms',
    verdict: verdict(sub.latencyMs.p99 < 5 && sub.events >= booked),
  });
}

async function phaseHttps(template: string): Promise<void> {
  const certDir = path.join(work, 'tls');
  mkdirSync(certDir, { recursive: true });
  let env: Record<string, string> = {};
  let ca: Buffer | undefined;
  if (hasCommand('openssl')) {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')],
      { stdio: 'ignore' },
    );
    env = { TSERVE_TLS_CERT: path.join(certDir, 'cert.pem'), TSERVE_TLS_KEY: path.join(certDir, 'key.pem') };
    ca = readFileSync(path.join(certDir, 'cert.pem'));
  } else notes.push('openssl not found: the JSON phase ran over plain HTTP');
  const workers = Number(arg('https-workers') ?? 64);
  log(`JSON over ${ca ? 'HTTPS' : 'HTTP'}: ${workers} workers (terminals), CERTIFICATI, ${shortDuration} s`);
  const o = await withServer(
    template,
    'HTTPS',
    { ...env, TSERVE_RATE_LIMIT_PER_MINUTE: '1000000000', TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: '1000000' },
    async (s, dir) => {
      const client: { sampler?: RssSampler } = {};
      const r = await runJson<{ seconds: number; paymentsPerSecond: number; payments: number; errors: number; byStatus: Record<string, number>; examples: string[]; latencyMs: { p50: number; p99: number; p999: number } }>(
        'bench/https-load.ts',
        ['--url', s.url, ...(ca ? ['--ca', path.join(certDir, 'cert.pem')] : []), '--credentials', path.join(dir, 'demo-credentials.json'), '--workers', String(workers), '--seconds', String(shortDuration)],
        {
          timeoutMs: (shortDuration + 120) * 1000,
          onSpawn: (pid) => (client.sampler = new RssSampler(pid)),
          onStderr: (chunk) => {
            if (chunk.includes('MEASURING')) {
              client.sampler?.resetCpu();
              s.rss.resetCpu();
            }
          },
        },
      );
      const loadCpuSeconds = client.sampler?.cpu() ?? 0;
      client.sampler?.stop();
      return { ...r, loadCpuSeconds };
    },
    {
      ca,
      nodeArgs: [
        ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(work, 'cpuprof-https')}`] : []),
        ...(whatIfJwt ? ['--import', './bench/whatif/jwt-keyobject.mjs'] : []),
      ],
    },
  );
  if (profile) collectProfile(path.join(work, 'cpuprof-https'), 'https', `JSON over ${ca ? 'HTTPS' : 'HTTP'}`);
  const h = o.value;
  results.https = { load: h, rssBytes: o.rss, serverCpuSeconds: o.serverCpuSeconds, writer: o.writer, tls: Boolean(ca) };
  if (h.errors || Object.keys(h.byStatus).some((k) => k !== '201')) notes.push(`HTTPS: statuses ${JSON.stringify(h.byStatus)}, ${h.errors} errors ${h.examples.slice(0, 2).join(' | ')}`);
  addRow({
    phase: `JSON over ${ca ? 'HTTPS' : 'HTTP'} (${workers} terminals)${profile ? ' [profiled]' : ''}${whatIfJwt ? ' [what-if: JWT KeyObject]' : ''}`,
    throughput: `${fmtN(h.paymentsPerSecond)}/s`,
    p50: fmtMs(h.latencyMs.p50),
    p99: fmtMs(h.latencyMs.p99),
    p999: fmtMs(h.latencyMs.p999),
    rss: fmtMB(o.rss),
    cpu: fmtCpu(o.serverCpuSeconds, h.loadCpuSeconds, h.seconds),
    target: '>= 5,000/s',
    verdict: verdict(h.paymentsPerSecond >= 5000),
  });
}

/** Business days for the generated windows (Tuesday and Wednesday). */
const WINDOW_DATES = ['2026-11-17', '2026-11-18'];

async function phaseSettleAndRestart(): Promise<void> {
  const need = (settleSizes.reduce((a, b) => a + b, 0) * 1000) / 1024 ** 3; // ~1 kB per payment with entries and indexes
  if (freeGb < need * 1.5) {
    notes.push(`settlement: ${freeGb.toFixed(1)} GB free in ${os.tmpdir()}, ~${need.toFixed(1)} GB needed: skipped`);
    return;
  }
  const dir = path.join(work, 'settle');
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const windows = settleSizes.map((n, i) => ({ date: WINDOW_DATES[i]!, count: n }));
  log(`settlement: generating ${windows.map((w) => `${fmtN(w.count)} payments on ${w.date}`).join(' and ')}`);
  const gen = await runJson<{ bytes: number; seconds: number; windows: { date: string; payments: number; entries: number; seconds: number }[] }>(
    'bench/gen-settlement.ts',
    ['--dir', dir, ...windows.flatMap((w) => ['--window', `${w.date}:${w.count}`])],
    { timeoutMs: 600_000, echo: 'gen' },
  );
  results.settlementData = gen;
  log(`generated ${(gen.bytes / 1024 ** 3).toFixed(2)} GB in ${gen.seconds} s`);
  const settled: unknown[] = [];
  for (const [i, w] of windows.entries()) {
    log(`settle(${w.date}): ${fmtN(w.count)} payments`);
    const r = await runJson<{ settleSeconds: number; payments: number; steps: Record<string, number>; queries: { sql: string; ms: number; plan: string[] }[] }>(
      'bench/settle-time.ts',
      ['--db', path.join(dir, 'tserve.db'), '--date', w.date],
      { timeoutMs: 900_000, env: { TSERVE_LOG_LEVEL: 'silent' } },
    );
    settled.push({ ...r, generatedSeconds: gen.windows[i]?.seconds });
    const big = w.count >= 10_000_000;
    const limit = big ? 60 : w.count >= 1_000_000 ? 5 : (5 * w.count) / 1_000_000;
    for (const q of r.queries.slice(0, 3)) notes.push(`settlement ${fmtN(w.count)}: ${q.ms} ms in ${q.sql.slice(0, 160)} [${q.plan.join('; ')}]`);
    addRow({
      phase: `Settlement of ${fmtN(w.count)} payments`,
      throughput: `${r.settleSeconds.toFixed(1)} s`,
      p50: '',
      p99: '',
      p999: '',
      rss: '',
      cpu: '',
      target: big ? '<= 60 s (stretch 30 s)' : `<= ${limit} s`,
      verdict: verdict(r.settleSeconds <= limit),
    });
  }
  results.settlement = settled;

  if (skip.has('restart')) return;
  log(`restart: the server on the ${fmtN(settleSizes.at(-1)!)}-payment database, spawn to listening`);
  const s = await startServer({ TSERVE_DATA_DIR: dir, TSERVE_LOG_LEVEL: logLevel, TSERVE_AUTO_SEED: 'false' }, { timeoutMs: 300_000 });
  const startSeconds = s.startMs / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  const rss = s.rss.peak();
  await s.stop();
  rssPeaks.push({ phase: 'restart', bytes: rss });
  results.restart = { seconds: startSeconds, rssBytes: rss, payments: settleSizes.reduce((a, b) => a + b, 0) };
  addRow({
    phase: `Restart on ${fmtN(settleSizes.reduce((a, b) => a + b, 0))} payments (to listening)`,
    throughput: `${startSeconds.toFixed(2)} s`,
    p50: '',
    p99: '',
    p999: '',
    rss: fmtMB(rss),
    cpu: '',
    target: '<= 5 s',
    verdict: verdict(startSeconds <= 5),
  });
}

// ---------------------------------------------------------------- output

function table(): string {
  const head: Row = { phase: 'Phase', throughput: 'Throughput', p50: 'p50', p99: 'p99', p999: 'p99.9', rss: 'RSS peak', cpu: 'CPU srv/load', target: 'Target', verdict: '' };
  const all = [head, ...rows];
  const keys = Object.keys(head) as (keyof Row)[];
  const width = Object.fromEntries(keys.map((k) => [k, Math.max(...all.map((r) => r[k].length))])) as Record<keyof Row, number>;
  const right = new Set<keyof Row>(['throughput', 'p50', 'p99', 'p999', 'rss', 'cpu']);
  const line = (r: Row) => keys.map((k) => (right.has(k) ? r[k].padStart(width[k]) : r[k].padEnd(width[k]))).join('  ').trimEnd();
  const sep = keys.map((k) => '-'.repeat(width[k])).join('  ');
  return [line(head), sep, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const template = await makeTemplate();
  const phases: [string, () => Promise<void>][] = [
    ['ceiling', () => phaseCeiling(template)],
    ['iso', () => phaseIso(template)],
    ['ws', () => phaseWs(template)],
    ['https', () => phaseHttps(template)],
    ['settle', () => phaseSettleAndRestart()],
  ];
  for (const [name, fn] of phases) {
    if (skip.has(name)) continue;
    try {
      await fn();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      notes.push(`${name} failed: ${msg.split('\n').slice(0, 6).join(' / ')}`);
      log(`${name} FAILED: ${msg}`);
      rows.push({ phase: `${name}: failed (see notes)`, throughput: '', p50: '', p99: '', p999: '', rss: '', cpu: '', target: '', verdict: 'FAIL' });
    }
  }
  const peak = Math.max(0, ...rssPeaks.map((p) => p.bytes));
  if (rssPeaks.length) {
    rows.push({
      phase: 'Server RSS, all phases',
      throughput: '',
      p50: '',
      p99: '',
      p999: '',
      rss: fmtMB(peak),
      cpu: '',
      target: '< 1 GB',
      verdict: verdict(peak < 1024 * MB),
    });
  }
  const totalSeconds = Math.round(performance.now() - benchStarted) / 1000;
  const text = table();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const report = {
    startedAt: new Date(Date.now() - totalSeconds * 1000).toISOString(),
    totalSeconds,
    options: { quick, duration, closedDuration, shortDuration, ceilingSeconds, settleSizes, skip: [...skip], logLevel, profile, whatIfJwt },
    machine,
    loadAverageAtEnd: os.loadavg(),
    /** Pressure stall information over the whole run and per server phase (/proc/pressure). */
    pressure: { run: pressure(psiAtStart, psi()), phases: phasePressure },
    table: rows,
    notes,
    rssPeaks,
    results,
  };
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(dir, `${stamp}.json`), JSON.stringify(report, null, 2) + '\n');
  console.log(
    `\ntserve bench (${machine.cpus} CPUs, ${machine.node}, commit ${machine.commit}; ${quick ? 'quick' : 'full'} run, ${totalSeconds.toFixed(0)} s; ` +
      `load average ${machine.loadAverageAtStart[0]!.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at end)\n`,
  );
  console.log(text);
  console.log('CPU srv/load: share of one core used by the server / by the load process during the run (2 cores = 200%).');
  const pr = pressure(psiAtStart, psi());
  if (pr) {
    console.log(
      `Machine pressure over the run (/proc/pressure, others' work included): some task waited for a CPU ${pr.cpuSomePct}% of the time, for I/O ${pr.ioSomePct}% ` +
        `(all tasks stalled on I/O ${pr.ioFullPct}%).` +
        (Object.keys(phasePressure).length
          ? ' Per phase: ' +
            Object.entries(phasePressure)
              .map(([k, v]) => `${k} ${v ? `cpu ${v.cpuSomePct}% io ${v.ioSomePct}%` : 'n/a'}`)
              .join('; ')
          : ''),
    );
  }
  for (const p of (results.profiles ?? []) as (ProfileSummary & { title: string })[]) {
    console.log(`\nServer CPU profile, ${p.title} (self time, % of ${p.busyMs} ms busy of ${p.totalMs} ms): ${p.file}`);
    for (const a of p.areas.slice(0, 10)) console.log(`  ${a.pctBusy.toFixed(1).padStart(5)}%  ${a.area}`);
    console.log('  top functions:');
    for (const f of p.top.slice(0, 12)) console.log(`  ${f.pctBusy.toFixed(1).padStart(5)}%  ${f.fn}  ${f.where}`);
  }
  if (notes.length) console.log(`\nNotes:\n${notes.map((n) => `  - ${n}`).join('\n')}`);
  console.log(`\nwritten: bench/results/latest.json and bench/results/${stamp}.json`);
}

await main();
process.exit(0);
