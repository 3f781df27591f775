// npm run bench: the whole benchmark of issues #6 and #10, in one run, on this machine.
//
//   npm run bench [-- --quick] [--only PHASES] [--skip PHASES] [--duration S] [--closed-duration S]
//                 [--short-duration S] [--overload-duration S] [--ceiling-seconds S]
//                 [--settle 1000000,10000000] [--settle-load-size N] [--bulk-positions N]
//                 [--side-rate R] [--max-in-flight N] [--overload-rate R] [--profile] [--log-level warn]
//                 [--https-workers N] [--whatif-jwt] [--ws-nice N] [--ws-rate R] [--ws-samples FILE]
// PHASES: a comma-separated list of ceiling, closed, wire, open1000, open2500, overload, ws,
// https, bulk, settle, settleload, restart (`iso` stands for closed, open1000, open2500 and
// overload); --only runs those (also TSERVE_BENCH_ONLY), --skip leaves them out.
// Durations: open loops at 1,000/s and 2,500/s --duration (30 s; quick 5), closed loops
// --closed-duration (20 s), WebSocket and HTTPS --short-duration (15 s), the open loop at
// 3x capacity --overload-duration (20 s); --quick also settles 100k and 1M instead of 1M
// and 10M, and 100k under load.
//
// Phases (each server a separate process on loopback, from a fresh copy of one seeded
// database whose counters' credit limits are raised so that no payment is declined; the
// load generator, `tserve terminal load`, always in its own process):
//  ceiling     the rows a payment books, straight into SQLite (batches of 1000, WAL,
//              synchronous=FULL, real schema); and the real store in process
//  closed      the simulator (all 501 demo terminals, mix payment=100), closed loop
//  wire        the same closed loop against the null switch (bench/null-switch.ts: the
//              real IsoServer, no booking): the wire ceiling
//  open1000    open loop at 1,000/s offered; the server's event-loop delay meanwhile
//  open2500    open loop at 2,500/s offered
//  overload    open loop at 3x the closed loop's rate: what is refused 96, how fast
//  ws          a finance subscriber on /v1/stream while the simulator offers 1,000/s
//  https       JSON over HTTPS (self-signed certificate made now with openssl)
//  bulk        a 50,000-position bulk import while the simulator offers 500/s
//  settle      generated windows of 1M and 10M payments, settle() timed on each
//  settleload  a 1M-payment window settled through the API while the simulator offers 500/s
//  restart     the server on the settlement database: spawn to listening
// Server RSS is sampled every 250 ms in every phase. Prints the phases' table and the
// table of targets (each figure with its target and met/missed, or n/a and why), and
// writes both as JSON to bench/results/latest.json and a timestamped copy.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CATALOGUE } from '../fixtures/catalogue.js';
import { buildNoticeNumber } from '../src/domain/notice.js';
import { randomCodiceFiscale, seededRandom } from '../terminals/simulator/common.js';
import type { LoadSummary } from '../terminals/simulator/load.js';
import { arg, flag } from './lib/args.js';
import { httpRequest, login } from './lib/http.js';
import { summariseProfile, type ProfileSummary } from './lib/profile.js';
import { ROOT, RssSampler, hasCommand, installCleanup, onCleanup, run, runJson, startServer, track, type ServerHandle } from './lib/proc.js';
import { readSamples, windowLatency, type WindowLatency } from './lib/samples.js';

installCleanup();
const benchStarted = performance.now();
const quick = flag('quick');
const duration = Number(arg('duration') ?? (quick ? 5 : 30));
const closedDuration = Number(arg('closed-duration') ?? (quick ? 5 : 20));
const shortDuration = Number(arg('short-duration') ?? (quick ? 5 : 15)); // WebSocket and HTTPS phases
const overloadDuration = Number(arg('overload-duration') ?? (quick ? 5 : 20));
const ceilingSeconds = Number(arg('ceiling-seconds') ?? (quick ? 2 : 6));
const settleSizes = (arg('settle') ?? (quick ? '100000,1000000' : '1000000,10000000')).split(',').map(Number);
const settleLoadSize = Number(arg('settle-load-size') ?? (quick ? 100_000 : 1_000_000));
const bulkPositions = Number(arg('bulk-positions') ?? 50_000);
/** Offered rate of the open loop that runs beside a settlement or a bulk import. */
const sideRate = Number(arg('side-rate') ?? 500);
/** Open loops: unanswered requests a simulated connection may have at once (a real open loop; 1 = one at a time). */
const maxInFlight = Number(arg('max-in-flight') ?? 64);
const logLevel = arg('log-level') ?? 'warn';
const profile = flag('profile');
/** What-if: the server's JWT secret as a KeyObject (bench/whatif/jwt-keyobject.mjs preloaded). */
const whatIfJwt = flag('whatif-jwt');
const SEED_POSITIONS = 40_000;
/** gen-settlement.ts seeds the network with this many positions. */
const SETTLE_DB_POSITIONS = 200;
const CREDIT_LIMIT = 100_000_000_000;
const MB = 1024 * 1024;
/** Business days for the generated windows (Tuesday to Thursday): 1M, 10M, and the one settled under load. */
const WINDOW_DATES = ['2026-11-17', '2026-11-18'];
const SETTLE_LOAD_DATE = '2026-11-19';

const PHASES = ['ceiling', 'closed', 'wire', 'open1000', 'open2500', 'overload', 'ws', 'https', 'bulk', 'settle', 'settleload', 'restart'] as const;
type Phase = (typeof PHASES)[number];
const ALIASES: Record<string, Phase[]> = { iso: ['closed', 'open1000', 'open2500', 'overload'] };
function phaseList(text: string | undefined, option: string): Phase[] {
  const out: Phase[] = [];
  for (const name of (text ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    if (ALIASES[name]) out.push(...ALIASES[name]);
    else if ((PHASES as readonly string[]).includes(name)) out.push(name as Phase);
    else throw new Error(`--${option}: no phase "${name}"; phases: ${PHASES.join(', ')} (iso: ${ALIASES.iso!.join(', ')})`);
  }
  return out;
}
const onlyText = arg('only') ?? process.env.TSERVE_BENCH_ONLY;
const only = phaseList(onlyText, 'only');
const skip = new Set(phaseList(arg('skip'), 'skip'));
const selected = new Set<Phase>((only.length ? only : PHASES).filter((p) => !skip.has(p)));
const wants = (p: Phase) => selected.has(p);

const log = (s: string) => process.stderr.write(`[${((performance.now() - benchStarted) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);

// ---------------------------------------------------------------- results

type Verdict = 'met' | 'met (stretch)' | 'missed' | '' | 'n/a' | 'reported';

/** A row of the phases' table: what one phase measured. */
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
  verdict: Verdict;
}
const rows: Row[] = [];
const results: Record<string, unknown> = {};
const notes: string[] = [];
const rssPeaks: { phase: string; bytes: number }[] = [];
const failed = new Map<Phase, string>();

const fmtN = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '' : `${n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : fmtN(n)} ms`);
const fmtMB = (b: number | undefined) => (b ? `${Math.round(b / MB)} MB` : '');
/** CPU of the server and of the load process, in % of one core over the measured run. */
const fmtCpu = (server: number, load: number | undefined, seconds: number) =>
  `${Math.round((100 * server) / seconds)}% / ${Math.round((100 * (load ?? 0)) / seconds)}%`;
const verdict = (ok: boolean): Verdict => (ok ? 'met' : 'missed');

function addRow(r: Partial<Row> & Pick<Row, 'phase'>): void {
  const full: Row = { throughput: '', p50: '', p99: '', p999: '', rss: '', cpu: '', target: '', verdict: '', ...r };
  rows.push(full);
  log(
    `${full.phase}: ${full.throughput}${full.p50 ? ` p50 ${full.p50} p99 ${full.p99} p99.9 ${full.p999}` : ''}${full.rss ? ` RSS ${full.rss}` : ''}` +
      `${full.cpu ? ` CPU ${full.cpu}` : ''} ${full.verdict}`,
  );
}

// The targets of issue 10, in its order: each figure is filled in by the phase that
// measures it, or stays n/a with the reason.
interface Figure {
  figure: string;
  value: string;
  target: string;
  verdict: Verdict;
  /** Why n/a, or what qualifies the value. */
  note: string;
  /** The phases it needs. */
  phases: Phase[];
}
const figure = (name: string, target: string, phases: Phase[]): Figure => ({ figure: name, value: '', target, verdict: 'n/a', note: '', phases });
const figures = {
  closed: figure('ISO 8583 closed loop, 501 terminals', '>= 4,000/s (stretch 6,000/s)', ['closed']),
  closedVsRows: figure('ISO closed loop / row ceiling, same run', '>= 60%', ['closed', 'ceiling']),
  closedVsWire: figure('ISO closed loop / wire ceiling (null switch)', 'reported', ['closed', 'wire']),
  open1000: figure('Open loop 1,000/s offered: p99', '<= 10 ms', ['open1000']),
  open2500: figure('Open loop 2,500/s offered: p99', '<= 50 ms', ['open2500']),
  overloadRefused: figure('Open loop at 3x capacity: excess refused 96, p99', 'refused 96, p99 <= 50 ms', ['overload']),
  overloadApproved: figure('Open loop at 3x capacity: approved p99', '<= 50 ms', ['overload']),
  overloadCodes: figure('Open loop at 3x capacity: answers by code', 'reported', ['overload']),
  overloadRss: figure('Open loop at 3x capacity: server RSS peak', 'bounded (< 500 MB)', ['overload']),
  eventLoop: figure('Event-loop delay p99 at 1,000/s (server main thread)', '<= 5 ms', ['open1000']),
  settleLoad: figure('Booking p99 at 500/s while a 1M settlement runs', '<= 25 ms', ['settleload']),
  bulkLoad: figure('Booking p99 at 500/s while a 50k-position bulk import runs', '<= 25 ms', ['bulk']),
  ws: figure('WebSocket commit-to-client p99 at 1,000/s', '<= 5 ms', ['ws']),
  https: figure('JSON over HTTPS', '>= 2,500/s', ['https']),
  settle10m: figure('Settlement of 10M payments', '<= 10 s', ['settle']),
  rss: figure('Server RSS, all phases run', '< 500 MB', []),
  simCpu: figure('Simulator CPU per payment', '<= 60 µs', ['closed']),
};
type FigureId = keyof typeof figures;
function setFigure(id: FigureId, value: string, v: Verdict, note = ''): void {
  Object.assign(figures[id], { value, verdict: v, note });
}
function notAvailable(id: FigureId, why: string): void {
  Object.assign(figures[id], { value: 'n/a', verdict: 'n/a' as Verdict, note: why });
}
/** Figures no phase filled in: n/a, with the reason (not run, failed). */
function explainMissingFigures(): void {
  for (const f of Object.values(figures)) {
    if (f.value) continue;
    const notRun = f.phases.filter((p) => !selected.has(p));
    const broke = f.phases.filter((p) => failed.has(p));
    f.value = 'n/a';
    f.verdict = 'n/a';
    f.note = notRun.length
      ? `phase ${notRun.join(', ')} not run (--only/--skip)`
      : broke.length
        ? `phase ${broke.join(', ')} failed (see notes)`
        : f.note || 'not measured in this run';
  }
}

// ---------------------------------------------------------------- setup

const work = mkdtempSync(path.join(os.tmpdir(), 'tserve-bench-'));
onCleanup(() => rmSync(work, { recursive: true, force: true }));
log(`work directory ${work}; phases: ${[...selected].join(', ') || '(none)'}`);
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
  const changed = raiseCreditLimits(path.join(dir, 'tserve.db'));
  log(`template seeded in ${results.seedSeconds} s; credit limit of ${changed} counters raised to ${CREDIT_LIMIT} cents`);
  return dir;
}

/** Every counter's credit limit raised, so that no payment is declined for exposure. */
function raiseCreditLimits(file: string): number {
  const db = new Database(file);
  try {
    const changed = db.prepare('UPDATE counters SET credit_limit_cents = ?').run(CREDIT_LIMIT).changes;
    db.pragma('wal_checkpoint(TRUNCATE)');
    return changed;
  } finally {
    db.close();
  }
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
const passwordOf = (dir: string, username: string): string => {
  const u = credentials(dir).users.find((x) => x.username === username);
  if (!u) throw new Error(`no user ${username} in ${dir}/demo-credentials.json`);
  return u.password;
};

// ---------------------------------------------------------------- server metrics

async function scrape(url: string, ca?: Buffer): Promise<Record<string, number>> {
  try {
    const text = (await httpRequest(`${url}/metrics`, { ca })).body;
    const out: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const m =
        /^(tserve_writer_batch_size_(?:sum|count)|tserve_writer_commit_seconds_(?:sum|count|bucket\{le="[^"]+"\})|tserve_process_cpu_seconds_total|tserve_nodejs_eventloop_lag_(?:p99|max)_seconds|tserve_eventloop_delay_seconds\{quantile="[^"]+"\}|tserve_eventloop_delay_samples) ([\d.e+-]+)$/.exec(
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
  const delayMs = (q: string) => Math.round((b[`tserve_eventloop_delay_seconds{quantile="${q}"}`] ?? NaN) * 100_000) / 100;
  return {
    batches,
    meanBatch: batches ? Math.round(d('tserve_writer_batch_size_sum') / batches) : 0,
    meanBatchMs: batches ? Math.round((d('tserve_writer_commit_seconds_sum') / batches) * 10000) / 10 : 0,
    /** Batches whose run + commit took longer than 50, 100 and 250 ms. */
    batchesOver: { '50ms': over('0.05'), '100ms': over('0.1'), '250ms': over('0.25') },
    cpuSeconds: Math.round(d('tserve_process_cpu_seconds_total') * 10) / 10,
    /**
     * The server's event-loop delay (tserve_eventloop_delay_seconds) since the previous
     * scrape, which the ISO phases take when the simulator's run starts: over the run.
     */
    eventLoopDelayMs: { p50: delayMs('0.5'), p99: delayMs('0.99'), p999: delayMs('0.999'), max: delayMs('max'), samples: b['tserve_eventloop_delay_samples'] ?? 0 },
    /** prom-client's nodejs_eventloop_lag_*: the monitor's whole 10 ms intervals, delay included. */
    promClientLagMs: { p99: Math.round((b['tserve_nodejs_eventloop_lag_p99_seconds'] ?? 0) * 10000) / 10, max: Math.round((b['tserve_nodejs_eventloop_lag_max_seconds'] ?? 0) * 10000) / 10 },
  };
}
type WriterDelta = ReturnType<typeof writerDelta>;

// ---------------------------------------------------------------- the ISO load generator

/** What the simulator drives: a server (its /metrics too) or the null switch. */
interface LoadTarget {
  isoPort: number;
  rss: RssSampler;
  /** The server's HTTP base URL: /metrics is scraped when the run starts (event-loop delay from there). */
  url?: string;
}

type LoadResult = LoadSummary & { loaderCpuSeconds: number; samplesFile?: string };

interface LoadRun {
  /** Resolves when every connection has signed on and the measured run begins. */
  started: Promise<void>;
  done: Promise<LoadResult>;
  /** Ends the run early (SIGINT: the simulator drains and writes its summary). */
  stop(): void;
}

function startIsoLoad(
  t: LoadTarget,
  credentialsFile: string,
  opts: { rate: number; seconds: number; name: string; samples?: boolean; positions?: number; inFlight?: number },
): LoadRun {
  const out = path.join(work, `${opts.name}.json`);
  const samplesFile = opts.samples ? path.join(work, `${opts.name}.samples.csv`) : undefined;
  const inFlight = opts.rate > 0 ? (opts.inFlight ?? maxInFlight) : 1;
  const args = [
    'bin/tserve.js', 'terminal', 'load',
    '--host', '127.0.0.1',
    '--port', String(t.isoPort),
    '--credentials', credentialsFile,
    '--mix', 'payment=100',
    '--rate', String(Math.round(opts.rate)),
    '--duration', String(opts.seconds),
    '--seed', '2000',
    '--positions', String(opts.positions ?? SEED_POSITIONS),
    '--drain', '10',
    '--progress', 'off',
    '--max-in-flight', String(inFlight),
    '--json', out,
    ...(samplesFile ? ['--samples', samplesFile] : []),
  ];
  const loader: { sampler?: RssSampler; pid?: number } = {};
  let markStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  let reset: Promise<unknown> = Promise.resolve();
  const done = (async (): Promise<LoadResult> => {
    const r = await run(process.execPath, args, {
      timeoutMs: (opts.seconds + 120) * 1000,
      env: { ...process.env, TSERVE_LOG_LEVEL: 'warn' },
      onSpawn: (pid) => {
        loader.pid = pid;
        loader.sampler = new RssSampler(pid);
      },
      // CPU is counted from the start of the run, after the load generator's setup
      // (regenerating the network, connecting, signing on), for it and for the server;
      // the server's event-loop delay too (a scrape starts a new period).
      onStderr: (chunk) => {
        if (/connections signed on;/.test(chunk)) {
          loader.sampler?.resetCpu();
          t.rss.resetCpu();
          if (t.url) reset = scrape(t.url);
          markStarted();
        }
      },
    });
    markStarted();
    await reset;
    // CPU of the load generator itself: it shares the 2 cores with the server.
    const loaderCpu = loader.sampler?.cpu() ?? 0;
    loader.sampler?.stop();
    if (!existsSync(out)) throw new Error(`terminal load wrote no summary (exit ${r.code}): ${r.stderr.slice(-2000)}`);
    const summary = JSON.parse(readFileSync(out, 'utf8')) as LoadSummary;
    return { ...summary, loaderCpuSeconds: loaderCpu, samplesFile };
  })();
  return {
    started,
    done,
    stop: () => {
      if (loader.pid !== undefined) {
        try {
          process.kill(loader.pid, 'SIGINT');
        } catch {
          // already gone
        }
      }
    },
  };
}

const isoLoad = (t: LoadTarget, credentialsFile: string, opts: Parameters<typeof startIsoLoad>[2]) => startIsoLoad(t, credentialsFile, opts).done;

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
    e.abandoned ? `${e.abandoned} abandoned` : '',
    e.other ? `${e.other} other errors` : '',
    l.missedSends ? `${l.missedSends} missed sends` : '',
  ].filter(Boolean);
  return parts.join('; ');
}

/** The simulator's CPU per answered payment, by phase (the closed loop's is the figure). */
const simulatorCpu: { phase: string; usPerAnswer: number; answered: number }[] = [];
function noteSimulatorCpu(phase: string, l: LoadSummary): void {
  if (l.cpu) simulatorCpu.push({ phase, usPerAnswer: l.cpu.usPerAnswer, answered: l.answered });
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
  addRow({ phase: 'Ceiling: SQLite rows, batch 1000 (batch time)', throughput: `${fmtN(c.paymentsPerSecond)}/s`, p50: fmtMs(c.batchMs.p50), p99: fmtMs(c.batchMs.p99), target: 'reference' });
  addRow({
    phase: 'Disk: commit of one row (WAL write + fsync)',
    throughput: `${fmtN(1000 / Math.max(0.001, c.tinyCommitMs.p50))}/s`,
    p50: fmtMs(c.tinyCommitMs.p50),
    p99: fmtMs(c.tinyCommitMs.p99),
    target: 'reference',
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
  addRow({ phase: `Store in process (batch ~${st.batchSize.mean}; batch time)`, throughput: `${fmtN(st.paymentsPerSecond)}/s`, p50: fmtMs(st.batchMs.p50), p99: fmtMs(st.batchMs.p99), target: 'reference' });
  rmSync(storeDir, { recursive: true, force: true });
}

interface Measured<T> {
  value: T;
  rss: number;
  serverCpuSeconds: number;
  writer: WriterDelta;
}

/** Runs `fn` against a running server: RSS peak and CPU of the phase, /metrics before and after, pressure. */
async function measureOn<T>(s: ServerHandle, name: string, fn: () => Promise<T>, ca?: Buffer): Promise<Measured<T>> {
  const before = await scrape(s.url, ca);
  s.rss.reset();
  const p0 = psi();
  const value = await fn();
  phasePressure[name] = pressure(p0, psi());
  const rss = s.rss.peak();
  const serverCpuSeconds = s.rss.cpu();
  const after = await scrape(s.url, ca);
  rssPeaks.push({ phase: name, bytes: rss });
  return { value, rss, serverCpuSeconds, writer: writerDelta(before, after) };
}

async function withServer<T>(
  template: string,
  name: string,
  env: Record<string, string>,
  fn: (s: ServerHandle, dir: string) => Promise<T>,
  opts: { nodeArgs?: string[]; ca?: Buffer } = {},
): Promise<Measured<T> & { startMs: number }> {
  const dir = freshCopy(template);
  const s = await startServer({ TSERVE_DATA_DIR: dir, TSERVE_LOG_LEVEL: logLevel, TSERVE_SEED_POSITIONS: String(SEED_POSITIONS), ...env }, { nodeArgs: opts.nodeArgs });
  try {
    return { ...(await measureOn(s, name, () => fn(s, dir), opts.ca)), startMs: s.startMs };
  } catch (err) {
    throw new Error(`${name}: ${err instanceof Error ? err.message : String(err)}\nserver output:\n${s.output()}`, { cause: err });
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const credsOf = (dir: string) => path.join(dir, 'demo-credentials.json');

/** The closed loop's rate in this run (approved/s), for the ratios and the 3x open loop. */
let closedRate = 0;
let wireRate = 0;

async function phaseClosed(template: string): Promise<void> {
  log(`ISO 8583 closed loop, all terminals, mix payment=100, ${closedDuration} s${profile ? ' (server under --cpu-prof)' : ''}`);
  const profDir = path.join(work, 'cpuprof');
  const closed = await withServer(
    template,
    'ISO closed loop',
    {},
    (s, dir) => isoLoad(s, credsOf(dir), { rate: 0, seconds: closedDuration, name: 'iso-closed' }),
    profile ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {},
  );
  const l = closed.value;
  const rate = approvedPerSecond(l);
  closedRate = rate;
  noteSimulatorCpu('closed', l);
  results.isoClosed = { load: l, rssBytes: closed.rss, serverCpuSeconds: closed.serverCpuSeconds, writer: closed.writer, approvedPerSecond: Math.round(rate) };
  const problems = loadProblems(l);
  if (problems) notes.push(`ISO closed loop: ${problems}`);
  addRow({
    phase: `ISO 8583 closed loop (${l.connections} terminals)${profile ? ' [profiled]' : ''}`,
    throughput: `${fmtN(rate)}/s`,
    p50: fmtMs(l.latencyMs.p50),
    p99: fmtMs(l.latencyMs.p99),
    p999: fmtMs(l.latencyMs.p999),
    rss: fmtMB(closed.rss),
    cpu: fmtCpu(closed.serverCpuSeconds, l.loaderCpuSeconds, l.elapsedSeconds),
    target: '>= 4,000/s',
    verdict: verdict(rate >= 4000),
  });
  setFigure('closed', `${fmtN(rate)}/s`, rate >= 6000 ? 'met (stretch)' : verdict(rate >= 4000), `${l.connections} connections; p99 ${fmtMs(l.latencyMs.p99)}`);
  if (profile) collectProfile(profDir, 'iso-closed-loop', 'ISO 8583 closed loop');
}

/** The null switch (bench/null-switch.ts) on loopback, for the wire ceiling. */
async function startNullSwitch(credentialsFile: string): Promise<{ isoPort: number; rss: RssSampler; stop: () => Promise<void> }> {
  const child = track(spawn(process.execPath, ['--import', 'tsx', 'bench/null-switch.ts', '--credentials', credentialsFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TSERVE_LOG_LEVEL: 'warn' } }));
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the null switch did not listen: ${out.slice(-1000)}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /null switch: listening on port (\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`the null switch exited (${code}): ${out.slice(-1000)}`));
    });
  });
  const rss = new RssSampler(child.pid!);
  return {
    isoPort: port,
    rss,
    stop: async () => {
      rss.stop();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function phaseWire(template: string): Promise<void> {
  log(`wire ceiling: the same closed loop against the null switch (IsoServer, no booking), ${closedDuration} s`);
  const ns = await startNullSwitch(credsOf(template));
  try {
    ns.rss.reset();
    const l = await isoLoad(ns, credsOf(template), { rate: 0, seconds: closedDuration, name: 'iso-wire' });
    const cpu = ns.rss.cpu();
    const rss = ns.rss.peak();
    const rate = approvedPerSecond(l);
    wireRate = rate;
    noteSimulatorCpu('wire', l);
    results.wire = { load: l, rssBytes: rss, nullSwitchCpuSeconds: cpu, approvedPerSecond: Math.round(rate) };
    const problems = loadProblems(l);
    if (problems) notes.push(`wire ceiling: ${problems}`);
    addRow({
      phase: `Wire ceiling: null switch, closed loop (${l.connections} terminals)`,
      throughput: `${fmtN(rate)}/s`,
      p50: fmtMs(l.latencyMs.p50),
      p99: fmtMs(l.latencyMs.p99),
      p999: fmtMs(l.latencyMs.p999),
      rss: fmtMB(rss),
      cpu: fmtCpu(cpu, l.loaderCpuSeconds, l.elapsedSeconds),
      target: 'reference',
    });
  } finally {
    await ns.stop();
  }
}

async function phaseOpen(template: string, offered: number, p99Target: number): Promise<void> {
  log(`ISO 8583 open loop at ${fmtN(offered)}/s offered, ${duration} s (up to ${maxInFlight} in flight per connection)`);
  const o = await withServer(template, `ISO open ${offered}/s`, {}, (s, dir) => isoLoad(s, credsOf(dir), { rate: offered, seconds: duration, name: `iso-open-${offered}` }));
  const lo = o.value;
  const got = approvedPerSecond(lo);
  noteSimulatorCpu(`open${offered}`, lo);
  results[`isoOpen${offered}`] = { load: lo, rssBytes: o.rss, serverCpuSeconds: o.serverCpuSeconds, writer: o.writer, approvedPerSecond: Math.round(got) };
  const pr = loadProblems(lo);
  if (pr) notes.push(`ISO open ${offered}/s: ${pr}`);
  const served = got >= offered * 0.95 && lo.missedSends === 0;
  const ok = lo.latencyMs.p99 <= p99Target && served;
  addRow({
    phase: `ISO 8583 open loop, ${fmtN(offered)}/s offered`,
    throughput: `${fmtN(got)}/s`,
    p50: fmtMs(lo.latencyMs.p50),
    p99: fmtMs(lo.latencyMs.p99),
    p999: fmtMs(lo.latencyMs.p999),
    rss: fmtMB(o.rss),
    cpu: fmtCpu(o.serverCpuSeconds, lo.loaderCpuSeconds, lo.elapsedSeconds),
    target: `p99 <= ${p99Target} ms`,
    verdict: verdict(ok),
  });
  const id: FigureId = offered === 1000 ? 'open1000' : 'open2500';
  setFigure(id, fmtMs(lo.latencyMs.p99), verdict(ok), served ? `${fmtN(got)}/s approved` : `only ${fmtN(got)}/s approved${lo.missedSends ? `, ${fmtN(lo.missedSends)} sends missed` : ''}`);
  if (offered === 1000) {
    const el = o.writer.eventLoopDelayMs;
    if (!el.samples) notAvailable('eventLoop', 'the server exposed no tserve_eventloop_delay_seconds');
    else {
      addRow({ phase: `Server event-loop delay @${fmtN(offered)}/s (${fmtN(el.samples)} samples)`, p50: fmtMs(el.p50), p99: fmtMs(el.p99), p999: fmtMs(el.p999), target: 'p99 <= 5 ms', verdict: verdict(el.p99 <= 5) });
      setFigure('eventLoop', fmtMs(el.p99), verdict(el.p99 <= 5), `max ${fmtMs(el.max)}, ${fmtN(el.samples)} samples over the run`);
    }
  }
}

/** The 3x open loop's rate: --overload-rate, else 3x this run's closed loop, else 3x the last full results' (noted). */
function overloadOffered(): { offered: number; source: string } | null {
  if (arg('overload-rate')) return { offered: Number(arg('overload-rate')), source: '--overload-rate' };
  if (closedRate > 0) return { offered: Math.round(3 * closedRate), source: `3x this run's closed loop (${fmtN(closedRate)}/s)` };
  try {
    const last = JSON.parse(readFileSync(path.join(ROOT, 'bench', 'results', 'latest.json'), 'utf8')) as { results?: { isoClosed?: { approvedPerSecond?: number } }; startedAt?: string };
    const r = last.results?.isoClosed?.approvedPerSecond;
    if (r) return { offered: Math.round(3 * r), source: `3x the closed loop of bench/results/latest.json (${fmtN(r)}/s, ${last.startedAt ?? '?'})` };
  } catch {
    // no earlier results
  }
  return null;
}

async function phaseOverload(template: string): Promise<void> {
  const o3 = overloadOffered();
  if (!o3) {
    for (const id of ['overloadRefused', 'overloadApproved', 'overloadCodes', 'overloadRss'] as const) notAvailable(id, 'no closed-loop rate: run the closed phase too, or give --overload-rate R');
    return;
  }
  const { offered, source } = o3;
  if (!source.startsWith("3x this run's")) notes.push(`3x capacity: ${fmtN(offered)}/s offered, from ${source}`);
  log(`ISO 8583 open loop at 3x capacity: ${fmtN(offered)}/s offered (${source}), ${overloadDuration} s`);
  const o = await withServer(template, 'ISO 3x capacity', {}, (s, dir) => isoLoad(s, credsOf(dir), { rate: offered, seconds: overloadDuration, name: 'iso-overload' }));
  const l = o.value;
  noteSimulatorCpu('overload', l);
  const approved = l.latencyByCodeMs['00'];
  const refused = l.latencyByCodeMs['96'];
  const refusedCount = Object.entries(l.byCode)
    .filter(([k]) => k.startsWith('96'))
    .reduce((a, [, n]) => a + n, 0);
  const e = l.errors;
  const failures = e.timeouts + e.connectionClosed + e.abandoned + e.other;
  results.isoOverload = { offered, offeredFrom: source, load: l, rssBytes: o.rss, serverCpuSeconds: o.serverCpuSeconds, writer: o.writer };
  const codes = Object.entries(l.byCode)
    .map(([k, n]) => `${k}: ${fmtN(n)}`)
    .concat(failures ? [`no answer: ${fmtN(failures)}`] : [], l.missedSends ? [`not sent (simulator behind): ${fmtN(l.missedSends)}`] : [])
    .join('; ');
  addRow({
    phase: `ISO 8583 open loop, 3x capacity (${fmtN(offered)}/s offered)`,
    throughput: `${fmtN(approvedPerSecond(l))}/s`,
    p50: fmtMs(l.latencyMs.p50),
    p99: fmtMs(l.latencyMs.p99),
    p999: fmtMs(l.latencyMs.p999),
    rss: fmtMB(o.rss),
    cpu: fmtCpu(o.serverCpuSeconds, l.loaderCpuSeconds, l.elapsedSeconds),
    target: 'approved and 96 p99 <= 50 ms',
    verdict: verdict((approved?.p99 ?? Infinity) <= 50 && (refused?.p99 ?? Infinity) <= 50),
  });
  if (approved) setFigure('overloadApproved', fmtMs(approved.p99), verdict(approved.p99 <= 50), `${fmtN(approved.count)} approved, ${fmtN(approvedPerSecond(l))}/s`);
  else notAvailable('overloadApproved', 'nothing approved');
  if (refused && refusedCount > 0) {
    setFigure('overloadRefused', fmtMs(refused.p99), verdict(refused.p99 <= 50 && failures === 0), `${fmtN(refused.count)} refused 96${failures ? `; ${fmtN(failures)} got no answer` : ''}`);
  } else {
    setFigure('overloadRefused', 'no 96', 'missed', `the excess was not refused: it queued (approved p99 ${fmtMs(approved?.p99)})${l.missedSends ? ` or was never sent (${fmtN(l.missedSends)} sends missed)` : ''}`);
  }
  setFigure('overloadCodes', codes, 'reported', `${fmtN(l.sent)} sent in ${l.elapsedSeconds.toFixed(1)} s`);
  setFigure('overloadRss', fmtMB(o.rss), verdict(o.rss < 500 * MB));
}

async function phaseWs(template: string): Promise<void> {
  const wsRate = Number(arg('ws-rate') ?? 1000);
  log(`WebSocket: finance subscriber while the simulator offers ${fmtN(wsRate)}/s for ${shortDuration} s`);
  const o = await withServer(template, 'WebSocket', {}, async (s, dir) => {
    const password = passwordOf(dir, 'finance');
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
    const load = await isoLoad(s, credsOf(dir), { rate: wsRate, seconds: shortDuration, name: 'ws-load' });
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
  const ok = sub.latencyMs.p99 <= 5 && sub.events >= booked;
  addRow({
    phase: `WebSocket commit-to-client @${fmtN(wsRate)}/s${arg('ws-nice') ? ` [subscriber nice ${arg('ws-nice')}]` : ''}`,
    throughput: `${fmtN(sub.events / load.elapsedSeconds)} ev/s`,
    p50: fmtMs(sub.latencyMs.p50),
    p99: fmtMs(sub.latencyMs.p99),
    p999: fmtMs(sub.latencyMs.p999),
    rss: fmtMB(o.rss),
    cpu: fmtCpu(o.serverCpuSeconds, load.loaderCpuSeconds, load.elapsedSeconds),
    target: 'p99 <= 5 ms',
    verdict: verdict(ok),
  });
  if (wsRate === 1000) setFigure('ws', fmtMs(sub.latencyMs.p99), verdict(ok), `${fmtN(sub.events)} events for ${fmtN(booked)} approved`);
  else notAvailable('ws', `measured at ${fmtN(wsRate)}/s (--ws-rate), not 1,000/s`);
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
        ['--url', s.url, ...(ca ? ['--ca', path.join(certDir, 'cert.pem')] : []), '--credentials', credsOf(dir), '--workers', String(workers), '--seconds', String(shortDuration)],
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
    target: '>= 2,500/s',
    verdict: verdict(h.paymentsPerSecond >= 2500),
  });
  if (ca) setFigure('https', `${fmtN(h.paymentsPerSecond)}/s`, verdict(h.paymentsPerSecond >= 2500), `${workers} terminals, closed loop; p99 ${fmtMs(h.latencyMs.p99)}`);
  else notAvailable('https', 'openssl not found: measured over plain HTTP only');
}

// ---------------------------------------------------------------- booking beside other work

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const epochNow = () => performance.timeOrigin + performance.now();

/**
 * An open loop of `sideRate`/s with per-answer samples; once it runs (and 2 s of warm-up),
 * `work` runs; 2 s after it ends the loop is stopped. Gives the booking latency of the
 * payments sent while `work` ran, and over the whole loop.
 */
async function bookingBeside<W>(
  s: ServerHandle,
  credentialsFile: string,
  name: string,
  positions: number,
  work: () => Promise<W>,
): Promise<{ work: W; workSeconds: number; during: WindowLatency; load: LoadResult }> {
  const limit = 300; // seconds: the loop's own bound if the work never ends
  const loadRun = startIsoLoad(s, credentialsFile, { rate: sideRate, seconds: limit, name, samples: true, positions });
  let result: { work: W; from: number; to: number } | undefined;
  let failure: unknown;
  try {
    await Promise.race([loadRun.started, loadRun.done.then(() => Promise.reject(new Error('the simulator ended before its run started')))]);
    await sleep(2000);
    const from = epochNow();
    const w = await work();
    const to = epochNow();
    result = { work: w, from, to };
    await sleep(2000);
  } catch (err) {
    failure = err;
  } finally {
    loadRun.stop();
  }
  const load = await loadRun.done;
  if (failure !== undefined || !result) throw failure instanceof Error ? failure : new Error(String(failure));
  const during = windowLatency(readSamples(load.samplesFile!), result.from, result.to);
  return { work: result.work, workSeconds: Math.round(result.to - result.from) / 1000, during, load };
}

/** `n` valid positions of one entity's notice-paid service, with notice numbers no seed uses. */
function bulkPositionsJson(n: number, entityId: string, serviceCode: string): string {
  const entity = CATALOGUE.entities.find((e) => e.id === entityId);
  if (!entity?.segregationCode) throw new Error(`no segregation code for ${entityId}`);
  const random = seededRandom(10_000 + n);
  const items: unknown[] = [];
  for (let i = 0; i < n; i++) {
    // aux 3 + segregation code + 13 digits ("9" then the index) + check digits.
    const notice = buildNoticeNumber(3, `${entity.segregationCode}9${String(i).padStart(12, '0')}`);
    items.push({
      service: serviceCode,
      externalRef: `bench-bulk-${i}`,
      debtorFiscalCode: randomCodiceFiscale(random),
      description: 'TARI 2026, rata unica',
      options: [{ noticeNumber: notice, amount: 5000 + Math.floor(random() * 45_000), dueDate: '2026-12-31', description: 'Rata unica' }],
    });
  }
  return JSON.stringify(items);
}

async function phaseBulk(template: string): Promise<void> {
  const entityId = 'PISA';
  const serviceCode = 'TARIPISA';
  log(`bulk import: ${fmtN(bulkPositions)} positions (${entityId}, ${serviceCode}) while the simulator offers ${fmtN(sideRate)}/s`);
  const body = bulkPositionsJson(bulkPositions, entityId, serviceCode);
  const o = await withServer(template, 'bulk import', {}, async (s, dir) => {
    const token = await login(s.url, `ente-${entityId.toLowerCase()}`, passwordOf(dir, `ente-${entityId.toLowerCase()}`));
    return bookingBeside(s, credsOf(dir), 'iso-bulk', SEED_POSITIONS, () =>
      httpRequest(`${s.url}/v1/debt-positions/bulk`, { body, token, timeoutMs: 600_000 }),
    );
  });
  const { work: answer, workSeconds, during, load } = o.value;
  let created = 0;
  try {
    created = (JSON.parse(answer.body) as { created?: number }).created ?? 0;
  } catch {
    // reported below
  }
  const imported = answer.status === 201 && created === bulkPositions;
  results.bulkImport = {
    positions: bulkPositions,
    bodyBytes: Buffer.byteLength(body),
    status: answer.status,
    created,
    answer: imported ? undefined : answer.body.slice(0, 2000),
    seconds: workSeconds,
    bookingDuring: during,
    load,
    rssBytes: o.rss,
    serverCpuSeconds: o.serverCpuSeconds,
    writer: o.writer,
  };
  if (!imported) notes.push(`bulk import: ${answer.status} ${answer.body.slice(0, 300)}`);
  const pr = loadProblems(load);
  if (pr) notes.push(`booking beside the bulk import: ${pr}`);
  addRow({
    phase: `Bulk import of ${fmtN(bulkPositions)} positions (${imported ? `${workSeconds.toFixed(1)} s` : `answer ${answer.status}`})`,
    throughput: `${fmtN(bulkPositions / workSeconds)} pos/s`,
    rss: fmtMB(o.rss),
    target: 'reference',
  });
  addRow({
    phase: `  booking @${fmtN(sideRate)}/s meanwhile (${fmtN(during.count)} payments)`,
    throughput: `${fmtN(approvedPerSecond(load))}/s`,
    p50: fmtMs(during.p50),
    p99: fmtMs(during.p99),
    cpu: fmtCpu(o.serverCpuSeconds, load.loaderCpuSeconds, load.elapsedSeconds),
    target: 'p99 <= 25 ms',
    verdict: verdict(during.p99 <= 25),
  });
  if (!imported) notAvailable('bulkLoad', `the import was answered ${answer.status}, ${created} created (see notes)`);
  else if (during.count === 0) notAvailable('bulkLoad', 'no payment was sent while the import ran');
  else setFigure('bulkLoad', fmtMs(during.p99), verdict(during.p99 <= 25), `${fmtN(during.count)} payments sent during the ${workSeconds.toFixed(1)} s import; whole loop p99 ${fmtMs(load.latencyMs.p99)}`);
}

// ---------------------------------------------------------------- settlement, under load, restart

async function phaseSettlement(): Promise<void> {
  const timed = wants('settle') || wants('restart') ? settleSizes.map((n, i) => ({ date: WINDOW_DATES[i]!, count: n })) : [];
  if (timed.some((w) => !w.date)) throw new Error(`--settle: at most ${WINDOW_DATES.length} window sizes`);
  const windows = [...timed, ...(wants('settleload') ? [{ date: SETTLE_LOAD_DATE, count: settleLoadSize }] : [])];
  const need = (windows.reduce((a, w) => a + w.count, 0) * 1000) / 1024 ** 3; // ~1 kB per payment with entries and indexes
  if (freeGb < need * 1.5) {
    const why = `${freeGb.toFixed(1)} GB free in ${os.tmpdir()}, ~${need.toFixed(1)} GB needed`;
    notes.push(`settlement: ${why}: skipped`);
    notAvailable('settle10m', why);
    notAvailable('settleLoad', why);
    return;
  }
  const dir = path.join(work, 'settle');
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  log(`settlement: generating ${windows.map((w) => `${fmtN(w.count)} payments on ${w.date}`).join(', ')}`);
  const gen = await runJson<{ bytes: number; seconds: number; windows: { date: string; payments: number; entries: number; seconds: number }[] }>(
    'bench/gen-settlement.ts',
    ['--dir', dir, ...windows.flatMap((w) => ['--window', `${w.date}:${w.count}`])],
    { timeoutMs: 900_000, echo: 'gen' },
  );
  results.settlementData = gen;
  log(`generated ${(gen.bytes / 1024 ** 3).toFixed(2)} GB in ${gen.seconds} s`);

  if (wants('settle')) {
    try {
      const settled: unknown[] = [];
      for (const [i, w] of timed.entries()) {
        log(`settle(${w.date}): ${fmtN(w.count)} payments`);
        const r = await runJson<{ settleSeconds: number; payments: number; steps: Record<string, number>; queries: { sql: string; ms: number; plan: string[] }[] }>(
          'bench/settle-time.ts',
          ['--db', path.join(dir, 'tserve.db'), '--date', w.date],
          { timeoutMs: 900_000, env: { TSERVE_LOG_LEVEL: 'silent' } },
        );
        settled.push({ ...r, generatedSeconds: gen.windows[i]?.seconds });
        const complete = r.payments === w.count;
        if (!complete) notes.push(`settlement ${fmtN(w.count)}: the figures count ${fmtN(r.payments)} payments, not ${fmtN(w.count)}`);
        for (const q of r.queries.slice(0, 3)) notes.push(`settlement ${fmtN(w.count)}: ${q.ms} ms in ${q.sql.slice(0, 160)} [${q.plan.join('; ')}]`);
        const big = w.count >= 10_000_000;
        addRow({
          phase: `Settlement of ${fmtN(w.count)} payments`,
          throughput: `${r.settleSeconds.toFixed(2)} s`,
          target: big ? '<= 10 s' : 'reference',
          verdict: big ? verdict(r.settleSeconds <= 10 && complete) : complete ? '' : 'missed',
        });
        if (w.count === 10_000_000) setFigure('settle10m', `${r.settleSeconds.toFixed(2)} s`, verdict(r.settleSeconds <= 10 && complete), complete ? '' : `only ${fmtN(r.payments)} payments in the figures`);
      }
      results.settlement = settled;
      if (!timed.some((w) => w.count === 10_000_000)) notAvailable('settle10m', `no 10M window (--settle ${settleSizes.join(',')}${quick ? ', --quick' : ''})`);
    } catch (err) {
      phaseFailed('settle', err);
    }
  }
  if (!wants('restart') && !wants('settleload')) return;

  raiseCreditLimits(path.join(dir, 'tserve.db'));
  const total = windows.reduce((a, w) => a + w.count, 0);
  log(`restart: the server on the ${fmtN(total)}-payment database, spawn to listening`);
  const s = await startServer({ TSERVE_DATA_DIR: dir, TSERVE_LOG_LEVEL: logLevel, TSERVE_AUTO_SEED: 'false' }, { timeoutMs: 300_000 });
  try {
    if (wants('restart')) {
      const startSeconds = s.startMs / 1000;
      await sleep(1000);
      const rss = s.rss.peak();
      rssPeaks.push({ phase: 'restart', bytes: rss });
      results.restart = { seconds: startSeconds, rssBytes: rss, payments: total };
      addRow({ phase: `Restart on ${fmtN(total)} payments (to listening)`, throughput: `${startSeconds.toFixed(2)} s`, rss: fmtMB(rss), target: '<= 5 s', verdict: verdict(startSeconds <= 5) });
    }
    if (wants('settleload')) {
      try {
        await phaseSettleLoad(s, dir);
      } catch (err) {
        phaseFailed('settleload', err instanceof Error ? new Error(`${err.message}\nserver output:\n${s.output()}`) : err);
      }
    }
  } finally {
    await s.stop();
  }
}

async function phaseSettleLoad(s: ServerHandle, dir: string): Promise<void> {
  log(`settlement under load: ${SETTLE_LOAD_DATE} (${fmtN(settleLoadSize)} payments) settled through the API while the simulator offers ${fmtN(sideRate)}/s`);
  const token = await login(s.url, 'finance', passwordOf(dir, 'finance'));
  const o = await measureOn(s, 'settlement under load', () =>
    bookingBeside(s, credsOf(dir), 'iso-settle', SETTLE_DB_POSITIONS, () => httpRequest(`${s.url}/v1/settlements/${SETTLE_LOAD_DATE}/run`, { method: 'POST', token, timeoutMs: 600_000 })),
  );
  const { work: answer, workSeconds, during, load } = o.value;
  let payments = -1;
  let outcome = '';
  try {
    const b = JSON.parse(answer.body) as { outcome?: string; figures?: { totals?: { payments?: number } } };
    payments = b.figures?.totals?.payments ?? -1;
    outcome = b.outcome ?? '';
  } catch {
    // reported below
  }
  const settledAll = answer.status < 300 && payments === settleLoadSize;
  results.settlementUnderLoad = { date: SETTLE_LOAD_DATE, payments, outcome, status: answer.status, seconds: workSeconds, bookingDuring: during, load, rssBytes: o.rss, serverCpuSeconds: o.serverCpuSeconds, writer: o.writer };
  if (!settledAll) notes.push(`settlement under load: ${answer.status} ${outcome} ${payments} payments: ${answer.body.slice(0, 300)}`);
  const pr = loadProblems(load);
  if (pr) notes.push(`booking beside the settlement: ${pr}`);
  addRow({
    phase: `Settlement of ${fmtN(settleLoadSize)} through the API, under load`,
    throughput: `${workSeconds.toFixed(2)} s`,
    rss: fmtMB(o.rss),
    target: 'reference',
    verdict: settledAll ? '' : 'missed',
  });
  addRow({
    phase: `  booking @${fmtN(sideRate)}/s meanwhile (${fmtN(during.count)} payments)`,
    throughput: `${fmtN(approvedPerSecond(load))}/s`,
    p50: fmtMs(during.p50),
    p99: fmtMs(during.p99),
    cpu: fmtCpu(o.serverCpuSeconds, load.loaderCpuSeconds, load.elapsedSeconds),
    target: 'p99 <= 25 ms',
    verdict: verdict(during.p99 <= 25),
  });
  const size = settleLoadSize === 1_000_000 ? '' : ` (${fmtN(settleLoadSize)} payments, not 1M)`;
  if (!settledAll) notAvailable('settleLoad', `the settlement answered ${answer.status} with ${payments} payments (see notes)`);
  else if (during.count === 0) notAvailable('settleLoad', `no payment was sent during the ${workSeconds.toFixed(2)} s settlement`);
  else {
    setFigure(
      'settleLoad',
      fmtMs(during.p99),
      size ? 'n/a' : verdict(during.p99 <= 25),
      `${fmtN(during.count)} payments sent during the ${workSeconds.toFixed(2)} s settlement${size}; whole loop p99 ${fmtMs(load.latencyMs.p99)}`,
    );
  }
}

function phaseFailed(name: Phase, err: unknown): void {
  const msg = err instanceof Error ? err.message : String(err);
  failed.set(name, msg);
  notes.push(`${name} failed: ${msg.split('\n').slice(0, 6).join(' / ')}`);
  log(`${name} FAILED: ${msg}`);
  rows.push({ phase: `${name}: failed (see notes)`, throughput: '', p50: '', p99: '', p999: '', rss: '', cpu: '', target: '', verdict: 'missed' });
}

// ---------------------------------------------------------------- output

function table<T extends Record<string, string>>(head: T, body: T[], right: (keyof T)[]): string {
  const all = [head, ...body];
  const keys = Object.keys(head) as (keyof T)[];
  const width = new Map(keys.map((k) => [k, Math.max(...all.map((r) => r[k]!.length))]));
  const line = (r: T) => keys.map((k) => (right.includes(k) ? r[k]!.padStart(width.get(k)!) : r[k]!.padEnd(width.get(k)!))).join('  ').trimEnd();
  const sep = keys.map((k) => '-'.repeat(width.get(k)!)).join('  ');
  return [line(head), sep, ...body.map(line)].join('\n');
}

function phasesTable(): string {
  const head = { phase: 'Phase', throughput: 'Throughput', p50: 'p50', p99: 'p99', p999: 'p99.9', rss: 'RSS peak', cpu: 'CPU srv/load', target: 'Target', verdict: '' };
  return table(head, rows as unknown as (typeof head)[], ['throughput', 'p50', 'p99', 'p999', 'rss', 'cpu']);
}

function targetsTable(): string {
  const head = { figure: 'Figure', value: 'Measured', target: 'Target', verdict: 'Verdict', note: 'Note' };
  return table(
    head,
    Object.values(figures).map((f) => ({ figure: f.figure, value: f.value, target: f.target, verdict: f.verdict, note: f.note })),
    ['value'],
  );
}

function fillSummaryFigures(): void {
  // Ratios of this run's closed loop to the ceilings measured in this run.
  if (closedRate > 0 && ceilingRate > 0) {
    const ratio = closedRate / ceilingRate;
    results.ratioToCeiling = ratio;
    addRow({ phase: 'ISO closed loop / row ceiling', throughput: `${(ratio * 100).toFixed(1)}%`, target: '>= 60%', verdict: verdict(ratio >= 0.6) });
    setFigure('closedVsRows', `${(ratio * 100).toFixed(1)}%`, verdict(ratio >= 0.6), `${fmtN(closedRate)}/s of ${fmtN(ceilingRate)}/s`);
  }
  if (closedRate > 0 && wireRate > 0) {
    const ratio = closedRate / wireRate;
    results.ratioToWire = ratio;
    addRow({ phase: 'ISO closed loop / wire ceiling', throughput: `${(ratio * 100).toFixed(1)}%`, target: 'reported' });
    setFigure('closedVsWire', `${(ratio * 100).toFixed(1)}%`, 'reported', `${fmtN(closedRate)}/s of ${fmtN(wireRate)}/s (null switch)`);
  }
  // The simulator's CPU per payment: the closed loop's (its busiest run), else the first ISO phase's.
  results.simulatorCpu = simulatorCpu;
  const sim = simulatorCpu.find((x) => x.phase === 'closed') ?? simulatorCpu[0];
  if (sim) setFigure('simCpu', `${sim.usPerAnswer.toFixed(1)} µs`, verdict(sim.usPerAnswer <= 60), `${sim.phase === 'closed' ? 'closed loop' : `phase ${sim.phase} (closed loop not run)`}, ${fmtN(sim.answered)} answers; all: ${simulatorCpu.map((x) => `${x.phase} ${x.usPerAnswer.toFixed(0)}`).join(', ')}`);
  else if (![...selected].some((p) => ['closed', 'wire', 'open1000', 'open2500', 'overload', 'ws', 'bulk', 'settleload'].includes(p))) notAvailable('simCpu', 'no phase ran the simulator');
  const serverPeaks = rssPeaks;
  const peak = Math.max(0, ...serverPeaks.map((p) => p.bytes));
  if (serverPeaks.length) {
    const at = serverPeaks.find((p) => p.bytes === peak)?.phase ?? '';
    addRow({ phase: 'Server RSS, all phases', rss: fmtMB(peak), target: '< 500 MB', verdict: verdict(peak < 500 * MB) });
    setFigure('rss', fmtMB(peak), verdict(peak < 500 * MB), `peak in ${at}; ${serverPeaks.length} server phase${serverPeaks.length === 1 ? '' : 's'}`);
  } else notAvailable('rss', 'no server phase ran');
}

async function main(): Promise<void> {
  const needsTemplate = (['ceiling', 'closed', 'wire', 'open1000', 'open2500', 'overload', 'ws', 'https', 'bulk'] as Phase[]).some(wants);
  const template = needsTemplate ? await makeTemplate() : '';
  const phases: [Phase[], () => Promise<void>][] = [
    [['ceiling'], () => phaseCeiling(template)],
    [['closed'], () => phaseClosed(template)],
    [['wire'], () => phaseWire(template)],
    [['open1000'], () => phaseOpen(template, 1000, 10)],
    [['open2500'], () => phaseOpen(template, 2500, 50)],
    [['overload'], () => phaseOverload(template)],
    [['ws'], () => phaseWs(template)],
    [['https'], () => phaseHttps(template)],
    [['bulk'], () => phaseBulk(template)],
    [['settle', 'settleload', 'restart'], () => phaseSettlement()],
  ];
  for (const [names, fn] of phases) {
    const mine = names.filter(wants);
    if (mine.length === 0) continue;
    try {
      await fn();
    } catch (err) {
      const left = mine.filter((p) => !failed.has(p));
      phaseFailed(left[0] ?? mine[0]!, err);
      for (const p of left.slice(1)) failed.set(p, 'see above');
    }
  }
  fillSummaryFigures();
  explainMissingFigures();
  const totalSeconds = Math.round(performance.now() - benchStarted) / 1000;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const report = {
    startedAt: new Date(Date.now() - totalSeconds * 1000).toISOString(),
    totalSeconds,
    options: {
      quick, phases: [...selected], duration, closedDuration, shortDuration, overloadDuration, ceilingSeconds, settleSizes, settleLoadSize, bulkPositions, sideRate, maxInFlight, logLevel, profile, whatIfJwt,
    },
    machine,
    loadAverageAtEnd: os.loadavg(),
    /** Pressure stall information over the whole run and per server phase (/proc/pressure). */
    pressure: { run: pressure(psiAtStart, psi()), phases: phasePressure },
    targets: Object.values(figures).map(({ phases: _p, ...f }) => f),
    table: rows,
    notes,
    rssPeaks,
    results,
  };
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  // A partial run (--only/--skip) does not replace latest.json, the last full run.
  const partial = selected.size < PHASES.length;
  const latest = partial ? 'partial.json' : 'latest.json';
  writeFileSync(path.join(dir, latest), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(dir, `${stamp}.json`), JSON.stringify(report, null, 2) + '\n');
  console.log(
    `\ntserve bench (${machine.cpus} CPUs, ${machine.node}, commit ${machine.commit}; ${partial ? `partial run (${[...selected].join(', ')})` : 'full run'}${quick ? ', quick' : ''}, ${totalSeconds.toFixed(0)} s; ` +
      `load average ${machine.loadAverageAtStart[0]!.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at end)\n`,
  );
  console.log(phasesTable());
  console.log('CPU srv/load: share of one core used by the server (or null switch) / by the load process during the run (2 cores = 200%).');
  console.log(`\nTargets (issue 10):\n${targetsTable()}`);
  const pr = pressure(psiAtStart, psi());
  if (pr) {
    console.log(
      `\nMachine pressure over the run (/proc/pressure, others' work included): some task waited for a CPU ${pr.cpuSomePct}% of the time, for I/O ${pr.ioSomePct}% ` +
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
  console.log(`\nwritten: bench/results/${latest} and bench/results/${stamp}.json`);
}

await main();
process.exit(0);
