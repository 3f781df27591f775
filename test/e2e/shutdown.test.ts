// Graceful shutdown: SIGTERM while payments are in flight. The switch stops
// accepting, finishes the batch in flight, answers what it committed, and exits 0;
// nothing it answered is lost, nothing is booked twice.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestDb } from '../helpers/store.js';
import { cleanUp, demoTerminals, exited, fiscalCodeFor, payCertificate, runCli, startProcess, terminalToken, type ServerProcess } from './process.js';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tserve-term-'));
const running: ServerProcess[] = [];

afterAll(() => cleanUp(running, dataDir));

const fiscalCode = (i: number) => fiscalCodeFor('VRDLGU70A01G', i);

describe('SIGTERM under load', () => {
  it('answers what it committed, exits 0, and loses nothing', { timeout: 300_000 }, async () => {
    const first = await startProcess(dataDir);
    running.push(first);
    const terminals = demoTerminals(dataDir).slice(0, 20);
    const tokens = await Promise.all(terminals.map((t) => terminalToken(first.url, t.terminalId, t.apiSecret)));

    const results = new Map<string, { terminal: number; cf: string; outcome: Awaited<ReturnType<typeof payCertificate>> }>();
    let stop = false;
    let answered = 0;
    const worker = async (w: number) => {
      for (let i = 0; i < 300 && !stop; i++) {
        const key = `term-${w}-${i}`;
        const cf = fiscalCode(w * 300 + i);
        const outcome = await payCertificate(first.url, tokens[w]!, key, cf);
        results.set(key, { terminal: w, cf, outcome });
        if ('error' in outcome) stop = true; // the server has stopped accepting
        else if (++answered === 150) first.child.kill('SIGTERM');
      }
    };
    await Promise.all(terminals.map((_, w) => worker(w)));
    const done = await exited(first.child);
    expect(done.code, first.output()).toBe(0);

    const ok = [...results.entries()].filter(([, r]) => 'status' in r.outcome && r.outcome.status === 201);
    const failedTransport = [...results.entries()].filter(([, r]) => 'error' in r.outcome);
    expect(ok.length).toBeGreaterThanOrEqual(150);
    // Anything answered was answered properly: 201, never a 5xx.
    for (const [, r] of results) if ('status' in r.outcome) expect(r.outcome.status).toBe(201);

    // ---- restart: every 201 is there; requests refused at the door are booked once on retry
    const second = await startProcess(dataDir);
    running.push(second);
    const tokens2 = await Promise.all(terminals.map((t) => terminalToken(second.url, t.terminalId, t.apiSecret)));
    for (const [key, r] of ok) {
      const id = (r.outcome as { body: Record<string, unknown> }).body.paymentId as string;
      const res = await fetch(`${second.url}/v1/payments/${id}`, { headers: { authorization: `Bearer ${tokens2[r.terminal]}` } });
      expect(res.status, key).toBe(200);
    }
    for (const [key, r] of failedTransport) {
      const again = await payCertificate(second.url, tokens2[r.terminal]!, key, r.cf);
      expect('status' in again && again.status, key).toBe(201);
    }
    const stopped = exited(second.child);
    second.child.kill('SIGTERM');
    expect((await stopped).code).toBe(0);

    const db = await openTestDb(dataDir);
    try {
      const n = await db.scalar('SELECT count(*) AS n FROM payments');
      expect(n).toBe(ok.length + failedTransport.length);
    } finally {
      await db.close();
    }
    const check = await runCli(dataDir, ['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });
});
