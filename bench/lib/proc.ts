// Child processes of the bench: every one is registered, and killed when the bench ends
// (normally, on an error, or on a signal). Servers are spawned as `node --import tsx
// src/main.ts` on loopback with ports 0; their RSS is sampled from /proc.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const children = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];

function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const f of cleanups.splice(0)) {
    try {
      f();
    } catch {
      // best effort
    }
  }
}

let installed = false;
/** Kill every child and run the cleanups on exit, on SIGINT/SIGTERM and on a crash. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}: stopping children and cleaning up`);
      killAll();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    console.error('bench: uncaught', err);
    killAll();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    console.error('bench: unhandled rejection', err);
    killAll();
    process.exit(1);
  });
}

/** Runs at exit (after the children are killed): temp dirs. */
export function onCleanup(f: () => void): void {
  cleanups.push(f);
}

export function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a child to completion with a hard time limit (then SIGKILL). stderr lines are
 * echoed with a prefix when `echo` is set (progress of long steps).
 */
export function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { timeoutMs: number; echo?: string; onSpawn?: (pid: number) => void; onStderr?: (chunk: string) => void },
): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const c = track(spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts }));
    if (c.pid !== undefined) opts.onSpawn?.(c.pid);
    let stdout = '';
    let stderr = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      opts.onStderr?.(d);
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
      if (opts.echo) for (const l of d.split('\n').filter(Boolean)) process.stderr.write(`  ${opts.echo}: ${l}\n`);
    });
    const timer = setTimeout(() => {
      process.stderr.write(`  ${cmd} ${args.slice(0, 3).join(' ')}: time limit of ${opts.timeoutMs} ms, killing\n`);
      c.kill('SIGKILL');
    }, opts.timeoutMs);
    c.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** Runs a bench script (`node --import tsx bench/<script>`) that prints one JSON object on stdout. */
export async function runJson<T>(
  script: string,
  args: string[],
  opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; echo?: string; nodeArgs?: string[]; onSpawn?: (pid: number) => void; onStderr?: (chunk: string) => void },
): Promise<T> {
  const r = await run(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', script, ...args], {
    timeoutMs: opts.timeoutMs,
    env: { ...process.env, ...opts.env },
    echo: opts.echo,
    onSpawn: opts.onSpawn,
    onStderr: opts.onStderr,
  });
  const last = r.stdout.trim().split('\n').filter(Boolean).at(-1);
  if (r.code !== 0 || !last) {
    throw new Error(`${script} exited ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-15).join('\n')}`);
  }
  return JSON.parse(last) as T;
}

// ---------------------------------------------------------------- memory

export interface MemSample {
  rss: number;
  hwm: number;
}

/** VmRSS and VmHWM of a process, bytes; null once it is gone. */
export function readMem(pid: number): MemSample | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** CPU time (user + system) of a process so far, seconds; null once it is gone. */
export function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces), from field 3 on; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Samples a process's RSS (and CPU time) every `everyMs`; `peak()` and `cpu()` since the last `reset()`. */
export class RssSampler {
  private timer: NodeJS.Timeout;
  private max = 0;
  private resetWorked = false;
  private cpuAtReset = 0;
  private cpuLast = 0;
  samples = 0;

  constructor(
    readonly pid: number,
    everyMs = 250,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    this.reset();
  }

  private sample(): void {
    const c = readCpuSeconds(this.pid);
    if (c !== null) this.cpuLast = c;
    const m = readMem(this.pid);
    if (!m) return;
    this.samples++;
    this.max = Math.max(this.max, m.rss);
  }

  /** Starts a new phase; also resets the kernel's peak (VmHWM) when allowed (clear_refs 5). */
  reset(): void {
    this.max = 0;
    this.resetCpu();
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      this.resetWorked = true;
    } catch {
      this.resetWorked = false;
    }
    this.sample();
  }

  /** Peak RSS of the phase, bytes: the sampled maximum, or the kernel's VmHWM if it was reset. */
  peak(): number {
    this.sample();
    const m = readMem(this.pid);
    return Math.max(this.max, this.resetWorked && m ? m.hwm : 0);
  }

  /** Starts counting CPU time from now (RSS peak unchanged). */
  resetCpu(): void {
    this.cpuAtReset = readCpuSeconds(this.pid) ?? this.cpuLast;
  }

  /** CPU seconds used since the last reset (up to the last sample if the process is gone). */
  cpu(): number {
    this.sample();
    return Math.round((this.cpuLast - this.cpuAtReset) * 100) / 100;
  }

  stop(): number {
    const p = this.peak();
    clearInterval(this.timer);
    return p;
  }
}

// ---------------------------------------------------------------- the server

export interface ServerHandle {
  pid: number;
  url: string;
  httpPort: number;
  isoPort: number;
  /** From spawning to the listening line, ms. */
  startMs: number;
  rss: RssSampler;
  /** The server's output (logs at the bench's level), last lines. */
  output(): string;
  /** SIGTERM, wait for a graceful exit (then SIGKILL). */
  stop(): Promise<void>;
}

const LISTENING = /tserve: listening on (https?:\/\/[^\s,]+), ISO 8583 on port (\d+)/;

export async function startServer(env: Record<string, string>, opts: { nodeArgs?: string[]; timeoutMs?: number } = {}): Promise<ServerHandle> {
  const started = performance.now();
  const child = track(
    spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TSERVE_HTTP_HOST: '127.0.0.1',
        TSERVE_ISO_HOST: '127.0.0.1',
        TSERVE_HTTP_PORT: '0',
        TSERVE_ISO_PORT: '0',
        TSERVE_SETTLEMENT_SCHEDULE: 'false',
        // Every phase measures the switch alone: the demo's in-process pagoPA node only where a phase asks for pagoPA.
        TSERVE_PAGOPA_DEMO_NODE: 'false',
        ...env,
      },
    }),
  );
  let out = '';
  const keep = (d: string) => {
    out += d;
    if (out.length > 100_000) out = out.slice(-50_000);
  };
  child.stderr!.setEncoding('utf8').on('data', keep);
  const stdout = child.stdout!.setEncoding('utf8');
  const listening = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not listen within ${opts.timeoutMs ?? 120_000} ms:\n${out.slice(-2000)}`));
    }, opts.timeoutMs ?? 120_000);
    const onData = (d: string) => {
      keep(d);
      const m = LISTENING.exec(out);
      if (m) {
        clearTimeout(timer);
        stdout.off('data', onData);
        stdout.on('data', keep);
        resolve(m);
      }
    };
    stdout.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code ?? signal}) before listening:\n${out.slice(-2000)}`));
    });
  });
  const startMs = performance.now() - started;
  const url = listening[1]!;
  const pid = child.pid!;
  const rss = new RssSampler(pid);
  return {
    pid,
    url,
    httpPort: Number(new URL(url).port),
    isoPort: Number(listening[2]),
    startMs,
    rss,
    output: () => out.slice(-4000),
    async stop() {
      rss.stop();
      await stopChild(child, 20_000);
    },
  };
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

export function hasCommand(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(path.join(d, cmd)));
}
