// Two switch instances (real processes) on one PostgreSQL database: terminals and
// clients use either; a subscriber on one sees the other's commits in order; the same
// notice or the same idempotency key on both at once books once; and SIGKILL of one
// instance under load from 100 terminals spread over both loses no approved payment and
// books none twice.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PgStore } from '../../src/store/postgres/store.js';
import { cleanUp, demoTerminals, exited, fiscalCodeFor, payCertificate, startProcess, terminalToken, type ServerProcess } from '../e2e/process.js';
import { createTestDatabase, TEST_STORE } from '../helpers/store.js';
import pg from 'pg';

const dirA = mkdtempSync(path.join(os.tmpdir(), 'tserve-pg-a-'));
const dirB = mkdtempSync(path.join(os.tmpdir(), 'tserve-pg-b-'));
const running: ServerProcess[] = [];
let url = '';
let shared: Record<string, string> = {};
let a: ServerProcess;
let b: ServerProcess;
let terminals: { terminalId: string; apiSecret: string }[] = [];

async function sql<R extends object>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  url = await createTestDatabase();
  // Both instances: the same database, the same keys (a token or a sealed TMK from one is good on the other).
  shared = { TSERVE_DATABASE_URL: url, TSERVE_KEK: randomBytes(32).toString('hex'), TSERVE_JWT_SECRET: randomBytes(32).toString('hex') };
  a = await startProcess(dirA, shared);
  running.push(a);
  b = await startProcess(dirB, { ...shared, TSERVE_AUTO_SEED: 'false' });
  running.push(b);
  terminals = demoTerminals(dirA);
}, 240_000);

afterAll(async () => {
  await cleanUp(running, dirA);
  rmSync(dirB, { recursive: true, force: true });
});

async function token(instance: ServerProcess, i: number): Promise<string> {
  return terminalToken(instance.url, terminals[i]!.terminalId, terminals[i]!.apiSecret);
}

async function financeToken(instance: ServerProcess, username = 'finance'): Promise<string> {
  const { users } = (await import(path.join(dirA, 'demo-credentials.json'), { with: { type: 'json' } })).default as { users: { username: string; password: string }[] };
  const u = users.find((x) => x.username === username)!;
  const res = await fetch(`${instance.url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: u.username, password: u.password }) });
  const body = (await res.json()) as { token?: string };
  if (!body.token) throw new Error(`finance login: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

describe.skipIf(TEST_STORE !== 'postgres')('two instances on one PostgreSQL', () => {
  it('a subscriber on A sees the payments booked on A and on B, in order, each once', { timeout: 120_000 }, async () => {
    const ws = new WebSocket(`${a.url.replace('http', 'ws')}/v1/stream`, { headers: { authorization: `Bearer ${await financeToken(a)}` } });
    const seen: { seq: number; type: string; paymentId?: string }[] = [];
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { seq?: number; type?: string; data?: { paymentId?: string } };
      if (typeof m.seq === 'number' && m.type) seen.push({ seq: m.seq, type: m.type, paymentId: m.data?.paymentId });
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const [ta, tb] = [await token(a, 0), await token(b, 1)];
    const booked: string[] = [];
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const onA = i % 2 === 0;
        const r = await payCertificate(onA ? a.url : b.url, onA ? ta : tb, `stream-${i}`, fiscalCodeFor('BNCLRA80A41A', i));
        if (!('status' in r) || r.status !== 201) throw new Error(`payment ${i}: ${JSON.stringify(r)}`);
        booked.push(r.body.paymentId as string);
      }),
    );
    for (let i = 0; i < 100 && booked.some((id) => !seen.some((e) => e.paymentId === id)); i++) await new Promise((r) => setTimeout(r, 100));
    ws.close();
    const payments = seen.filter((e) => e.type === 'payment.booked');
    expect(new Set(payments.map((e) => e.paymentId))).toEqual(new Set(booked));
    expect(payments).toHaveLength(booked.length); // once each
    const seqs = seen.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y)); // in order
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]! - seqs[i - 1]!).toBe(1); // no gap: both instances' events interleaved
  });

  it('the same notice paid on both at once is booked once', { timeout: 60_000 }, async () => {
    const [opt] = await sql<{ notice_number: string }>(
      `SELECT o.notice_number FROM payment_options o JOIN debt_positions p ON p.id = o.position_id
       WHERE p.service_code = 'TARI' AND p.status = 'VALID' AND o.kind = 'single' AND o.paid_payment_id IS NULL ORDER BY o.id LIMIT 1`,
    );
    const notice = opt!.notice_number;
    const tokens = await Promise.all([2, 3, 4, 5, 6, 7].map((i, k) => token(k % 2 === 0 ? a : b, i)));
    const verify = await fetch(`${a.url}/v1/verify`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[0]}` }, body: JSON.stringify({ service: 'TARI', identifier: notice }),
    });
    const amount = ((await verify.json()) as { amountDue: number }).amountDue;
    const answers = await Promise.all(
      tokens.map(async (t, k) => {
        const res = await fetch(`${(k % 2 === 0 ? a : b).url}/v1/payments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${t}`, 'idempotency-key': `notice-${k}` },
          body: JSON.stringify({ service: 'TARI', identifier: notice, amount }),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      }),
    );
    expect(answers.filter((x) => x.status === 201)).toHaveLength(1);
    for (const x of answers.filter((y) => y.status !== 201)) expect(x.status).toBe(409);
    const rows = await sql<{ n: number }>(
      'SELECT count(*)::int AS n FROM payments p JOIN payment_options o ON o.id = p.option_id WHERE o.notice_number = $1 AND p.reversed_at IS NULL', [notice],
    );
    expect(rows[0]!.n).toBe(1);
  });

  it('the same idempotency key on both at once books once and both answers name that payment', { timeout: 60_000 }, async () => {
    const [tA, tB] = [await token(a, 8), await token(b, 8)];
    const cf = fiscalCodeFor('VRDGPP70C15A', 1);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => payCertificate(i % 2 === 0 ? a.url : b.url, i % 2 === 0 ? tA : tB, 'same-key-on-both', cf)),
    );
    const ids = new Set(results.map((r) => ('status' in r && r.status === 201 ? r.body.paymentId : `failed ${JSON.stringify(r)}`)));
    expect(ids.size).toBe(1);
    const rows = await sql<{ n: number }>("SELECT count(*)::int AS n FROM idempotency_records WHERE key = 'json:same-key-on-both'");
    expect(rows[0]!.n).toBe(1);
    const pays = await sql<{ n: number }>('SELECT count(*)::int AS n FROM payments WHERE public_id = $1', [[...ids][0]]);
    expect(pays[0]!.n).toBe(1);
  });

  it('a terminal blocked through A is refused by B, and unblocked through B is served by A (caches told by NOTIFY)', { timeout: 60_000 }, async () => {
    const victim = terminals[9]!.terminalId;
    const [tA, tB] = [await token(a, 9), await token(b, 9)];
    // Warm both instances' caches with the terminal as active.
    const verify = (s: ServerProcess, t: string) =>
      fetch(`${s.url}/v1/verify`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` }, body: JSON.stringify({ service: 'CERTIFICATI', identifier: fiscalCodeFor('RSSMRA85T10A', 1) }),
      });
    expect((await verify(a, tA)).status).toBe(200);
    expect((await verify(b, tB)).status).toBe(200);
    const adminA = await financeToken(a, 'admin');
    const blocked = await fetch(`${a.url}/v1/admin/terminals/${victim}/block`, { method: 'POST', headers: { authorization: `Bearer ${adminA}` } });
    expect(blocked.status).toBe(200);
    // B hears of it by NOTIFY: wait (bounded) until it answers from the new state.
    let status = 0;
    for (let i = 0; i < 50 && status !== 403; i++) {
      status = (await verify(b, tB)).status;
      if (status !== 403) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(403);
    const adminB = await financeToken(b, 'admin');
    expect((await fetch(`${b.url}/v1/admin/terminals/${victim}/unblock`, { method: 'POST', headers: { authorization: `Bearer ${adminB}` } })).status).toBe(200);
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await verify(a, tA)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  });

  it('SIGKILL of A under load from 100 terminals over both: every approved payment is there once, the ledger check passes', { timeout: 300_000 }, async () => {
    const n = 100;
    const tokensA = await Promise.all(Array.from({ length: n }, (_, i) => token(a, 10 + i)));
    const tokensB = await Promise.all(Array.from({ length: n }, (_, i) => token(b, 10 + i)));
    const approved = new Map<string, string>(); // key → paymentId
    const lost = new Map<string, { w: number; cf: string }>();
    let killed = false;
    const worker = async (w: number) => {
      // Half the terminals are on A until it dies, then fail over to B with the same key, as a terminal would.
      for (let i = 0; i < 30; i++) {
        const key = `kill-${w}-${i}`;
        const cf = fiscalCodeFor('RSSMRA85T10A', w * 30 + i);
        const onA = w % 2 === 0 && !killed;
        const r = await payCertificate(onA ? a.url : b.url, onA ? tokensA[w]! : tokensB[w]!, key, cf);
        if ('error' in r) {
          lost.set(key, { w, cf });
          continue;
        }
        if (r.status !== 201) throw new Error(`${key}: ${r.status} ${JSON.stringify(r.body)}`);
        approved.set(key, r.body.paymentId as string);
        if (approved.size === 600 && !killed) {
          killed = true;
          a.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: n }, (_, w) => worker(w)));
    expect(killed).toBe(true);
    expect((await exited(a.child)).signal).toBe('SIGKILL');
    // Requests whose answer was lost with A: retried on B with the same key.
    for (const [key, { w, cf }] of lost) {
      const r = await payCertificate(b.url, tokensB[w]!, key, cf);
      expect('status' in r && r.status, key).toBe(201);
      if ('status' in r) approved.set(key, r.body.paymentId as string);
    }
    expect(approved.size).toBe(n * 30);
    console.info(`two-instance crash: ${approved.size} approved, ${lost.size} answers lost with A and retried on B`);
    const rows = await sql<{ key: string; public_id: string }>(
      "SELECT r.key, p.public_id FROM idempotency_records r JOIN payments p ON p.id = r.payment_id WHERE r.key LIKE 'json:kill-%'",
    );
    expect(rows).toHaveLength(approved.size);
    for (const r of rows) expect(approved.get(r.key.slice('json:'.length)), r.key).toBe(r.public_id);
    const dup = await sql<{ n: number }>("SELECT count(*)::int AS n FROM payments WHERE public_id = ANY($1)", [[...approved.values()]]);
    expect(dup[0]!.n).toBe(approved.size);
    const store = await PgStore.open(url);
    try {
      const report = await store.checkInvariants();
      expect(report.violations).toEqual([]);
      expect(report.ok).toBe(true);
    } finally {
      await store.close();
    }
  });
});
