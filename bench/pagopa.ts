// The pagoPA bench phase (issue 15): terminals paying pagoPA notices through the switch
// against the node simulator, whose creditor station answers in 50 ms. Shows the
// throughput and the latency of the 0200, and that the node's latency does not serialize
// terminals: N terminals in a closed loop should pay close to N times what one terminal
// pays, each payment taking about the node's latency plus the booking.
//
//   node --import tsx bench/pagopa.ts [--terminals 1,20,50] [--seconds 10] [--warmup 2]
//        [--latency-ms 5] [--creditor-latency-ms 50] [--positions 25000] [--log-level warn]
//
// `npm run bench -- pagopa` runs it as the bench's `pagopa` phase. Three processes on
// loopback: the node simulator (bench/pagopa-node.ts, with Comune di Firenze's notices
// extended by --positions generated ones, bench/lib/pagopa-notices.ts), the switch
// (`src/main.ts` with the bridge on: TSERVE_PAGOPA_* pointing at the simulator; the demo
// network seeded at its start, the paying counters' credit limits raised by the admin API), and this one, the driver: ISO 8583
// terminals (the terminal simulator's client, each on its own connection, signed on), in
// a closed loop of 0200s by QR code (field 48 QR), each paying a notice no one else pays.
// Per run: payments/s, the 0200's round trip (hdr-histogram), the server's event-loop
// delay (its /metrics), CPU of each process, and the outcome sender: rows still pending
// in pagopa_payments when the loop ends, how long until none is, outcomes the node took.
// Bounded: no 0200 starts past a run's duration; each has a 10 s timeout; the outcome
// sender gets at most 20 s to catch up. Prints a summary on stderr and one JSON object on
// stdout.
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { build, type Histogram } from 'hdr-histogram-js';
import { formatPagoPaQr } from '../src/domain/qr.js';
import { DEMO_PSP } from '../src/pagopa/simulator/server.js';
import { IsoTerminal } from '../terminals/simulator/client.js';
import { loadTerminalCredentials } from '../terminals/simulator/common.js';
import { arg } from './lib/args.js';
import { httpRequest, login } from './lib/http.js';
import { BENCH_CREDITOR, benchNotice } from './lib/pagopa-notices.js';
import { ROOT, installCleanup, onCleanup, startServer, stopChild, track } from './lib/proc.js';
import type { NodeStats } from './pagopa-node.js';

installCleanup();
const terminalCounts = (arg('terminals') ?? '1,20,50').split(',').map(Number);
const seconds = Number(arg('seconds') ?? 10);
const warmupSeconds = Number(arg('warmup') ?? 2);
const latencyMs = Number(arg('latency-ms') ?? 5);
const creditorLatencyMs = Number(arg('creditor-latency-ms') ?? 50);
const positions = Number(arg('positions') ?? 25_000);
const logLevel = arg('log-level') ?? 'warn';
/** Profiles the switch (--cpu-prof into that directory). */
const profileDir = arg('profile');
const CREDIT_LIMIT = 99_999_999_999;
const REQUEST_TIMEOUT_MS = 10_000;
const CATCH_UP_LIMIT_MS = 20_000;
/** The demo PSP's fiscal code: the prefix of the idempotency keys. */
const PSP_FISCAL_CODE = '12345678903';

const started = performance.now();
const log = (s: string) => process.stderr.write(`[pagopa ${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

// ---------------------------------------------------------------- the node simulator

interface NodeProcess {
  url: string;
  pid: number;
  stats(): Promise<NodeStats>;
  stop(): Promise<void>;
}

async function startNode(): Promise<NodeProcess> {
  const child = track(
    fork(path.join(ROOT, 'bench', 'pagopa-node.ts'), ['--positions', String(positions), '--latency-ms', String(latencyMs), '--creditor-latency-ms', String(creditorLatencyMs)], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the node simulator did not start within 60 s')), 60_000);
    child.once('message', (m: { type: string; url: string }) => {
      clearTimeout(t);
      resolve(m.url);
    });
    child.once('exit', (code) => reject(new Error(`the node simulator exited (${code})`)));
  });
  return {
    url,
    pid: child.pid!,
    stats: () =>
      new Promise<NodeStats>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('the node simulator did not answer stats')), 5000);
        const on = (m: { type: string; stats: NodeStats }) => {
          if (m.type !== 'stats') return;
          clearTimeout(t);
          child.off('message', on);
          resolve(m.stats);
        };
        child.on('message', on);
        child.send({ type: 'stats' });
      }),
    stop: async () => {
      await stopChild(child, 5000);
    },
  };
}

// ---------------------------------------------------------------- the switch

function serverEnv(dir: string, nodeUrl: string): Record<string, string> {
  return {
    TSERVE_DATA_DIR: dir,
    TSERVE_LOG_LEVEL: logLevel,
    TSERVE_SEED_POSITIONS: '100',
    TSERVE_PAGOPA_DEMO_NODE: 'false',
    TSERVE_PAGOPA_NODE_URL: nodeUrl,
    TSERVE_PAGOPA_PSP_ID: DEMO_PSP.idPSP,
    TSERVE_PAGOPA_BROKER_ID: DEMO_PSP.idBrokerPSP,
    TSERVE_PAGOPA_CHANNEL_ID: DEMO_PSP.idChannel,
    TSERVE_PAGOPA_PSP_FISCAL_CODE: PSP_FISCAL_CODE,
    TSERVE_PAGOPA_PASSWORD: DEMO_PSP.password,
    TSERVE_PAGOPA_SUBSCRIPTION_KEY: DEMO_PSP.subscriptionKey,
  };
}

/**
 * Raises the credit limit of the counters the bench pays at (PUT
 * /v1/admin/counters/{id}/credit-limit as the demo's admin), so that no payment is
 * declined for exposure.
 */
async function raiseCreditLimits(url: string, dir: string, counterIds: string[]): Promise<void> {
  const users = (JSON.parse(readFileSync(path.join(dir, 'demo-credentials.json'), 'utf8')) as { users: { username: string; password: string; role: string }[] }).users;
  const admin = users.find((u) => u.role === 'admin');
  if (!admin) throw new Error('no admin user in demo-credentials.json');
  const token = await login(url, admin.username, admin.password);
  for (const id of counterIds) {
    const r = await httpRequest(`${url}/v1/admin/counters/${encodeURIComponent(id)}/credit-limit`, { method: 'PUT', body: JSON.stringify({ creditLimit: CREDIT_LIMIT }), token });
    if (r.status !== 200) throw new Error(`credit limit of ${id}: ${r.status} ${r.body.slice(0, 300)}`);
  }
}

/** The server's event-loop delay since the previous scrape (src/metrics.ts), and its writer's batches so far. */
async function scrape(url: string): Promise<{ eventLoopDelayMs: Record<string, number>; batches: number; batchedCommands: number; batchSeconds: number }> {
  const text = (await httpRequest(`${url}/metrics`)).body;
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  const q = (quantile: string) => round(value(new RegExp(`^tserve_eventloop_delay_seconds\\{quantile="${quantile}"\\} ([\\d.e+-]+)$`, 'm')) * 1000);
  return {
    eventLoopDelayMs: { p50: q('0.5'), p99: q('0.99'), p999: q('0.999'), max: q('max') },
    batches: value(/^tserve_writer_batch_size_count ([\d.e+-]+)$/m),
    batchedCommands: value(/^tserve_writer_batch_size_sum ([\d.e+-]+)$/m),
    /** Booking batches: from taking the batch to its results, on the main thread (the writer thread's queue included). */
    batchSeconds: value(/^tserve_writer_commit_seconds_sum ([\d.e+-]+)$/m),
  };
}

/** pagopa_payments by outcome (pending: the outbox rows the sender has not had answered yet). */
function outcomesInDb(dbFile: string): Record<string, number> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT outcome, count(*) AS n FROM pagopa_payments GROUP BY outcome').all() as { outcome: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.outcome, r.n]));
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------- the terminals

let nextNotice = 0;
let ranOut = false;

interface LoopResult {
  elapsedSeconds: number;
  answered: number;
  byCode: Record<string, number>;
  refusals: Record<string, number>;
  errors: number;
  errorSample: string;
  histogram: Histogram;
}

/** Each terminal pays notice after notice, one 0200 at a time, until `secs` have passed. */
async function closedLoop(terms: IsoTerminal[], secs: number): Promise<LoopResult> {
  const histogram = build({ bitBucketSize: 32, numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, autoResize: true });
  const r: LoopResult = { elapsedSeconds: 0, answered: 0, byCode: {}, refusals: {}, errors: 0, errorSample: '', histogram };
  const t0 = performance.now();
  const deadline = t0 + secs * 1000;
  await Promise.all(
    terms.map(async (t) => {
      while (performance.now() < deadline) {
        const i = nextNotice++;
        if (i >= positions) {
          ranOut = true;
          return;
        }
        const n = benchNotice(i);
        const sentAt = performance.now();
        try {
          const { response } = await t.pay({ qr: formatPagoPaQr(n.noticeNumber, BENCH_CREDITOR, n.amountCents) }, n.amountCents);
          histogram.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
          r.answered++;
          r.byCode[response.code] = (r.byCode[response.code] ?? 0) + 1;
          if (response.code !== '00') {
            const er = response.tlv.get('ER') ?? response.code;
            r.refusals[er] = (r.refusals[er] ?? 0) + 1;
          }
        } catch (err) {
          r.errors++;
          r.errorSample ||= err instanceof Error ? err.message : String(err);
          if (!t.connected) return;
        }
      }
    }),
  );
  r.elapsedSeconds = (performance.now() - t0) / 1000;
  return r;
}

/** Waits until no outbox row is pending (at most CATCH_UP_LIMIT_MS); the ms it took. */
async function catchUp(dbFile: string): Promise<{ ms: number; pendingLeft: number }> {
  const t0 = performance.now();
  for (;;) {
    const pending = outcomesInDb(dbFile).pending ?? 0;
    const ms = Math.round(performance.now() - t0);
    if (pending === 0 || ms >= CATCH_UP_LIMIT_MS) return { ms, pendingLeft: pending };
    await sleep(50);
  }
}

/** CPU seconds of a process's main thread (its event loop) and of its other threads together. */
function threadCpu(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpu = (Number(f[11]) + Number(f[12])) / 100;
      if (Number(tid) === pid) main += cpu;
      else others += cpu;
    } catch {
      // a thread that ended
    }
  }
  return { main, others };
}

/** Linux pressure stall total (µs) of the CPU: time in which some task waited for a CPU (others' work included). */
function cpuPressureUs(): number | null {
  try {
    return Number(/^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN);
  } catch {
    return null;
  }
}

const cpuSeconds = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'tserve-bench-pagopa-'));
  onCleanup(() => rmSync(work, { recursive: true, force: true }));
  const dir = path.join(work, 'data');
  const dbFile = path.join(dir, 'tserve.db');
  log(`node simulator: ${positions} generated notices of ${BENCH_CREDITOR}, node latency ${latencyMs} ms, creditor station ${creditorLatencyMs} ms`);
  const node = await startNode();
  // Seeded at its first start, with the bridge on (entity and service PAGOPA).
  const server = await startServer(serverEnv(dir, node.url), profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] } : {});
  log(`switch (pid ${server.pid}) seeded and listening in ${(server.startMs / 1000).toFixed(1)} s (bridge on, node at ${node.url})`);
  const loadAverageAtStart = os.loadavg().map((x) => round(x));
  log(`load average ${loadAverageAtStart.join(' ')}`);
  const maxTerminals = Math.max(...terminalCounts);
  // Terminals of distinct counters, each on its own connection, signed on once for all runs.
  const seen = new Set<string>();
  const creds = loadTerminalCredentials(path.join(dir, 'demo-credentials.json')).filter((c) => !seen.has(c.counterId) && seen.add(c.counterId));
  if (creds.length < maxTerminals) throw new Error(`${maxTerminals} terminals asked, ${creds.length} counters in the network`);
  await raiseCreditLimits(server.url, dir, creds.slice(0, maxTerminals).map((c) => c.counterId));
  const terms = creds.slice(0, maxTerminals).map((c) => new IsoTerminal(c, { host: '127.0.0.1', port: server.isoPort, timeoutMs: REQUEST_TIMEOUT_MS }));
  for (const t of terms) await t.connect();
  for (const t of terms) {
    const r = await t.signOn();
    if (r.code !== '00') throw new Error(`sign-on of ${t.creds.terminalId}: ${r.code} ${r.tlv.get('ER') ?? ''}`);
  }
  log(`${terms.length} ISO 8583 terminals signed on`);

  if (warmupSeconds > 0) {
    const w = await closedLoop(terms.slice(0, Math.min(10, terms.length)), warmupSeconds);
    const c = await catchUp(dbFile);
    log(`warm-up: ${w.byCode['00'] ?? 0} payments in ${w.elapsedSeconds.toFixed(1)} s (not measured); outcomes caught up in ${c.ms} ms`);
  }

  const runs = [];
  for (const n of terminalCounts) {
    const nodeBefore = await node.stats();
    const m0 = await scrape(server.url); // starts the server's event-loop delay period
    const threads0 = threadCpu(server.pid);
    const pressure0 = cpuPressureUs();
    const driverCpu0 = cpuSeconds();
    const l = await closedLoop(terms.slice(0, n), seconds);
    const threads1 = threadCpu(server.pid);
    const pressure1 = cpuPressureUs();
    const driverCpu = cpuSeconds() - driverCpu0;
    const m1 = await scrape(server.url);
    const pendingAtEnd = outcomesInDb(dbFile).pending ?? 0;
    const c = await catchUp(dbFile);
    const nodeAfter = await node.stats();
    const approved = l.byCode['00'] ?? 0;
    const h = l.histogram;
    const ms = (us: number) => round(us / 1000);
    const batches = m1.batches - m0.batches;
    const run = {
      terminals: n,
      elapsedSeconds: round(l.elapsedSeconds),
      approved,
      paymentsPerSecond: round(approved / l.elapsedSeconds, 1),
      byCode: l.byCode,
      refusals: l.refusals,
      errors: l.errors,
      ...(l.errorSample ? { errorSample: l.errorSample } : {}),
      latencyMs: { p50: ms(h.getValueAtPercentile(50)), p90: ms(h.getValueAtPercentile(90)), p99: ms(h.getValueAtPercentile(99)), p999: ms(h.getValueAtPercentile(99.9)), max: ms(h.maxValue), mean: ms(h.mean) },
      serverEventLoopDelayMs: m1.eventLoopDelayMs,
      writer: {
        batches,
        meanBatch: batches > 0 ? round((m1.batchedCommands - m0.batchedCommands) / batches, 1) : 0,
        meanBatchMs: batches > 0 ? round(((m1.batchSeconds - m0.batchSeconds) * 1000) / batches) : 0,
        /** Share of the run in which a booking batch was in the writer (one lane on SQLite). */
        busyPct: Math.round(((m1.batchSeconds - m0.batchSeconds) * 100) / l.elapsedSeconds),
      },
      /** Share of one core over the run (2 cores = 200%). */
      cpuPct: {
        server: Math.round((100 * (threads1.main + threads1.others - threads0.main - threads0.others)) / l.elapsedSeconds),
        /** The server's main thread: its event loop (the ISO and HTTP edges, payments, the pagoPA client). */
        serverMain: Math.round((100 * (threads1.main - threads0.main)) / l.elapsedSeconds),
        node: Math.round((100 * (nodeAfter.cpuSeconds - nodeBefore.cpuSeconds)) / l.elapsedSeconds),
        driver: Math.round((100 * driverCpu) / l.elapsedSeconds),
      },
      /** The server's CPU per approved payment (all threads; the main thread alone): what its ceiling comes from. */
      serverCpuMsPerPayment: approved > 0 ? { all: round(((threads1.main + threads1.others - threads0.main - threads0.others) * 1000) / approved), main: round(((threads1.main - threads0.main) * 1000) / approved) } : null,
      nodeEventLoopDelayMs: nodeAfter.eventLoopDelayMs,
      /** Share of the run in which some task on this machine waited for a CPU (/proc/pressure/cpu; others' work included). */
      cpuPressurePct: pressure0 !== null && pressure1 !== null ? round((pressure1 - pressure0) / (l.elapsedSeconds * 1e4), 1) : null,
      loadAverage: round(os.loadavg()[0]!),
      outcomes: {
        /** Outbox rows still pending when the last 0200 was answered. */
        pendingAtEnd,
        /** From then until no row was pending. */
        catchUpMs: c.ms,
        pendingLeft: c.pendingLeft,
        /** Outcomes the node took during the run and the catch-up, and how many it answered OK. */
        receivedByNode: nodeAfter.outcomes - nodeBefore.outcomes,
        okAtNode: nodeAfter.outcomesOk - nodeBefore.outcomesOk,
        activations: (nodeAfter.calls.activatePaymentNotice ?? 0) - (nodeBefore.calls.activatePaymentNotice ?? 0),
      },
    };
    runs.push(run);
    log(
      `${n} terminal${n === 1 ? '' : 's'}: ${run.paymentsPerSecond}/s (${approved} approved${l.answered > approved ? `, refused ${JSON.stringify(l.refusals)}` : ''}${l.errors ? `, ${l.errors} errors: ${l.errorSample}` : ''}); ` +
        `0200 p50 ${run.latencyMs.p50} ms p99 ${run.latencyMs.p99} ms max ${run.latencyMs.max} ms; server event loop p99 ${run.serverEventLoopDelayMs.p99} ms; ` +
        `booking batches ${batches} of ${run.writer.meanBatch} in ${run.writer.meanBatchMs} ms; ` +
        `CPU server ${run.cpuPct.server}% (main thread ${run.cpuPct.serverMain}%, ${run.serverCpuMsPerPayment?.main ?? '-'} ms per payment) node ${run.cpuPct.node}% driver ${run.cpuPct.driver}%; outcomes pending at end ${pendingAtEnd}, all sent ${c.pendingLeft === 0 ? `after ${c.ms} ms` : `NOT within ${c.ms} ms (${c.pendingLeft} left)`}, node took ${run.outcomes.okAtNode} OK`,
    );
  }
  for (const t of terms) t.close();
  const final = outcomesInDb(dbFile);
  await server.stop();
  await node.stop();

  const single = runs.find((r) => r.terminals === 1);
  const scaling = single
    ? runs
        .filter((r) => r.terminals > 1)
        .map((r) => ({ terminals: r.terminals, paymentsPerSecond: r.paymentsPerSecond, ideal: round(r.terminals * single.paymentsPerSecond, 1), efficiency: round(r.paymentsPerSecond / (r.terminals * single.paymentsPerSecond), 3) }))
    : [];
  for (const s of scaling) log(`${s.terminals} terminals: ${s.paymentsPerSecond}/s = ${(100 * s.efficiency).toFixed(0)}% of ${s.terminals} x 1 terminal (${s.ideal}/s)`);
  if (ranOut) log(`ran out of notices (${positions}): raise --positions`);
  const summary = {
    options: { terminals: terminalCounts, seconds, warmupSeconds, latencyMs, creditorLatencyMs, positions, logLevel },
    /** The latency a payment cannot go below: the node's own plus the creditor station's, on activate. */
    nodeFloorMs: latencyMs + creditorLatencyMs,
    machine: { cpus: os.cpus().length, node: process.version, loadAverageAtStart, loadAverageAtEnd: os.loadavg().map((x) => round(x)) },
    runs,
    scaling,
    outcomesInDbAtEnd: final,
    noticesUsed: Math.min(nextNotice, positions),
    ranOutOfNotices: ranOut,
    totalSeconds: round((performance.now() - started) / 1000, 1),
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
}

await main();
process.exit(0);
