// End to end: the real server process (`node --import tsx src/main.ts`) on a fresh data
// directory: first start seeds the demo network, a terminal pays over HTTP, the receipt
// comes as text and PDF; SIGTERM stops it cleanly; a restart on the same directory
// keeps the payment (no re-seed) and refuses to book the notice twice; `tserve check`
// finds the ledger intact.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, runCli as runCliIn, startProcess, type ServerProcess } from './process.js';

const NOTICE = '301202400000000164';

type Server = ServerProcess;
let dataDir: string;
const children: ChildProcess[] = [];

/** Starts src/main.ts on this test's data directory (5,000 seeded positions). */
async function startServer(): Promise<Server> {
  const server = await startProcess(dataDir, { TSERVE_SEED_POSITIONS: '5000' });
  children.push(server.child);
  return server;
}

async function stop(server: Server): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const done = exited(server.child);
  server.child.kill('SIGTERM');
  return done;
}

const runCli = (args: string[]) => runCliIn(dataDir, args);

async function json(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON (status ${res.status}): ${text}`);
  }
}

function api(server: Server, token?: string) {
  const headers = (extra: Record<string, string> = {}) => ({
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  });
  return {
    post: (p: string, body: unknown, extra: Record<string, string> = {}) =>
      fetch(server.url + p, { method: 'POST', headers: headers({ 'content-type': 'application/json', ...extra }), body: JSON.stringify(body) }),
    get: (p: string, extra: Record<string, string> = {}) => fetch(server.url + p, { headers: headers(extra) }),
  };
}

async function terminalToken(server: Server, terminal: { terminalId: string; apiSecret: string }): Promise<string> {
  const res = await api(server).post('/v1/auth/token', { terminalId: terminal.terminalId, secret: terminal.apiSecret });
  const body = await json(res);
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(typeof body.token).toBe('string');
  return body.token as string;
}

beforeAll(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'tserve-e2e-'));
});

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      const done = exited(c);
      c.kill('SIGKILL');
      await done;
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the tserve process', () => {
  it('seeds, pays, prints receipts, stops cleanly, restarts with its data, and checks intact', { timeout: 240_000 }, async () => {
    // ---- first start: empty data directory, so the demo network is seeded
    const first = await startServer();
    const seeded = /^tserve: demo network seeded; terminal and user credentials written to (.+)$/m.exec(first.output());
    expect(seeded, first.output()).not.toBeNull();
    const credentialsFile = seeded![1]!.trim();
    expect(path.dirname(credentialsFile)).toBe(dataDir);
    const credentials = JSON.parse(readFileSync(credentialsFile, 'utf8')) as {
      terminals: { terminalId: string; counterId: string; tmk: string; apiSecret: string }[];
    };
    const terminal = credentials.terminals[0]!;
    expect(terminal.tmk).toMatch(/^[0-9a-f]{64}$/);
    expect(terminal.apiSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const wrong = await api(first).post('/v1/auth/token', { terminalId: terminal.terminalId, secret: '0'.repeat(64) });
    expect(wrong.status).toBe(401);
    // The TMK is no JSON API secret (issue 12, finding 2).
    expect((await api(first).post('/v1/auth/token', { terminalId: terminal.terminalId, secret: terminal.tmk })).status).toBe(401);

    let token = await terminalToken(first, terminal);
    let t = api(first, token);

    const vRes = await t.post('/v1/verify', { service: 'TARI', identifier: NOTICE });
    const verification = await json(vRes);
    expect(vRes.status, JSON.stringify(verification)).toBe(200);
    expect(verification).toMatchObject({ service: 'TARI', entityId: 'PRATO', status: 'VALID' });
    const amount = verification.amountDue as number;
    expect(amount).toBeGreaterThan(0);
    const fee = verification.fee as number;

    const payBody = { service: 'TARI', identifier: NOTICE, amount };
    const idemKey = 'e2e-first-payment-0001';
    const pRes = await t.post('/v1/payments', payBody, { 'idempotency-key': idemKey });
    const receipt = await json(pRes);
    expect(pRes.status, JSON.stringify(receipt)).toBe(201);
    expect(receipt).toMatchObject({ amount, fee, total: amount + fee });
    const paymentId = receipt.paymentId as string;
    const receiptNumber = receipt.receiptNumber as string;
    expect(pRes.headers.get('location')).toBe(`/v1/payments/${paymentId}`);

    const textRes = await t.get(`/v1/payments/${paymentId}/receipt`, { accept: 'text/plain' });
    expect(textRes.status).toBe(200);
    expect(textRes.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await textRes.text();
    expect(text).toContain(receiptNumber);
    expect(text).toContain('TOTALE');

    const pdfRes = await t.get(`/v1/payments/${paymentId}/receipt`, { accept: 'application/pdf' });
    expect(pdfRes.status).toBe(200);
    expect(pdfRes.headers.get('content-type')).toMatch(/^application\/pdf/);
    const pdf = Buffer.from(await pdfRes.arrayBuffer());
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.length).toBeGreaterThan(500);

    // ---- SIGTERM: a clean shutdown exits 0
    expect(await stop(first)).toEqual({ code: 0, signal: null });

    // ---- restart on the same directory: no re-seed, the payment is still there
    const second = await startServer();
    expect(second.output()).not.toMatch(/demo network seeded/);
    token = await terminalToken(second, terminal); // same credentials: the network was not regenerated
    t = api(second, token);

    const gRes = await t.get(`/v1/payments/${paymentId}`);
    const view = await json(gRes);
    expect(gRes.status, JSON.stringify(view)).toBe(200);
    expect(view).toMatchObject({ paymentId, receiptNumber, status: 'BOOKED', amount, identifier: NOTICE, reversedAt: null });

    // The same request with the same key gets the first answer again (the record survived the restart)...
    const replay = await t.post('/v1/payments', payBody, { 'idempotency-key': idemKey });
    expect(replay.status).toBe(201);
    expect(await json(replay)).toEqual(receipt);
    // ...and a new request for the same notice is refused.
    const again = await t.post('/v1/payments', payBody, { 'idempotency-key': 'e2e-second-attempt-0002' });
    const problem = await json(again);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(problem).toMatchObject({ code: 'NOTICE_ALREADY_PAID', status: 409 });

    expect(await stop(second)).toEqual({ code: 0, signal: null });

    // ---- the CLI check on the same data directory
    const check = await runCli(['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('ledger invariants intact');
    expect(check.stdout).toMatch(/payments: 1\b/);
  });
});
