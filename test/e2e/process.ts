// Helpers to run the real tserve process (src/main.ts) in tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { codiceFiscaleCheckChar } from '../../src/domain/fiscal-code.js';
import { storeEnv } from '../helpers/store.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const READY_TIMEOUT_MS = 120_000;

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

export function childEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSERVE_')));
  return {
    ...base,
    TSERVE_DATA_DIR: dataDir,
    TSERVE_HTTP_HOST: '127.0.0.1',
    TSERVE_HTTP_PORT: '0',
    TSERVE_ISO_HOST: '127.0.0.1',
    TSERVE_ISO_PORT: '0',
    TSERVE_SEED_POSITIONS: '3000',
    TSERVE_LOG_LEVEL: 'warn',
    TSERVE_RATE_LIMIT_PER_MINUTE: '10000000',
    TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: '100000',
    // The demo's in-process pagoPA node: only the tests that pay pagoPA notices want one.
    TSERVE_PAGOPA_DEMO_NODE: 'false',
    ...extra,
  };
}

/**
 * childEnv plus the data directory's store (storeEnv: nothing for SQLite, the
 * directory's own PostgreSQL database), so every process started on the same directory
 * — a restart, the CLI — finds the same data.
 */
export async function storeChildEnv(dataDir: string, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  return childEnv(dataDir, { ...(await storeEnv(dataDir)), ...extra });
}

/** Starts src/main.ts and resolves once it prints the line with its URL; `fdLimit`: its open-files limit (ulimit -n). */
export async function startProcess(dataDir: string, extra: Record<string, string> = {}, opts: { fdLimit?: number } = {}): Promise<ServerProcess> {
  const env = await storeChildEnv(dataDir, extra);
  const argv = [process.execPath, '--import', 'tsx', 'src/main.ts'];
  const child = opts.fdLimit
    ? spawn('/bin/sh', ['-c', `ulimit -n ${opts.fdLimit} && exec "$@"`, 'sh', ...argv], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  const output = () => `--- stdout\n${out}--- stderr\n${err}`;
  return new Promise<ServerProcess>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not listening after ${READY_TIMEOUT_MS} ms\n${output()}`)), READY_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const m = /^tserve: listening on (https?:\/\/127\.0\.0\.1:\d+)/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output });
      }
    });
    child.stderr!.on('data', (chunk: string) => (err += chunk));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}, signal ${signal}) before listening\n${output()}`));
    });
  });
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Runs a process of the project (`node <args>`: main.ts or the CLI) to its end, stdout
 * and stderr together. One that should have refused to start but listens is killed, so
 * that the test fails at once instead of waiting.
 */
export async function runToEnd(dataDir: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: await storeChildEnv(dataDir, env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    if (/^tserve: listening/m.test(out)) child.kill('SIGKILL');
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, out };
}

export async function runCli(dataDir: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = await storeChildEnv(dataDir);
  const child = spawn(process.execPath, ['bin/tserve.js', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

export async function terminalToken(url: string, terminalId: string, secret: string): Promise<string> {
  const res = await fetch(`${url}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ terminalId, secret }),
  });
  const body = (await res.json()) as { token?: string };
  if (!body.token) throw new Error(`no token for ${terminalId}: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/** A payment of a fixed-tariff service (always payable): the outcome, or the transport error. */
export async function payCertificate(
  url: string,
  token: string,
  key: string,
  fiscalCode: string,
): Promise<{ status: number; body: Record<string, unknown> } | { error: string }> {
  try {
    const res = await fetch(`${url}/v1/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key },
      body: JSON.stringify({ service: 'CERTIFICATI', identifier: fiscalCode, amount: 100 }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch (err) {
    return { error: err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? '')}` : String(err) };
  }
}

/** Kills what a test file started and removes its data directory. */
export async function cleanUp(processes: ServerProcess[], dataDir: string): Promise<void> {
  for (const s of processes) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      const done = exited(s.child);
      s.child.kill('SIGKILL');
      await done;
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
}

/** A valid codice fiscale per index (with a given name part), so every request names something different. */
export function fiscalCodeFor(prefix12: string, i: number): string {
  const first15 = `${prefix12}${String(i % 1000).padStart(3, '0')}`;
  return first15 + codiceFiscaleCheckChar(first15);
}

/** The demo credentials a first start wrote into the data directory. */
export function demoTerminals(dataDir: string): { terminalId: string; apiSecret: string }[] {
  return (JSON.parse(readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8')) as { terminals: { terminalId: string; apiSecret: string }[] }).terminals;
}
