// Crash safety: SIGKILL the switch in the middle of load, restart it, and prove that
// every payment a terminal saw approved is in the ledger exactly once, that nothing
// unacknowledged is half-booked, and that the invariants hold. Requests whose answer
// was lost are retried with the same key after the restart: each is booked once.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestDb } from '../helpers/store.js';
import { cleanUp, demoTerminals, exited, fiscalCodeFor, payCertificate, runCli, startProcess, terminalToken, type ServerProcess } from './process.js';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tserve-crash-'));
const running: ServerProcess[] = [];

afterAll(() => cleanUp(running, dataDir));

const fiscalCode = (i: number) => fiscalCodeFor('RSSMRA85T10A', i);

describe('SIGKILL in the middle of load', () => {
  it('loses no acknowledged payment and books none twice', { timeout: 300_000 }, async () => {
    const first = await startProcess(dataDir);
    running.push(first);
    const terminals = demoTerminals(dataDir).slice(0, 30);
    const tokens = await Promise.all(terminals.map((t) => terminalToken(first.url, t.terminalId, t.apiSecret)));

    const approved = new Map<string, string>(); // idempotency key → paymentId
    const unknown = new Map<string, { terminal: number; fiscalCode: string }>(); // answer lost
    let sent = 0;
    let killed = false;
    const killAfter = 400; // approvals seen before the kill
    const worker = async (w: number) => {
      for (let i = 0; i < 400 && !killed; i++) {
        const key = `crash-${w}-${i}`;
        const cf = fiscalCode(w * 400 + i);
        sent++;
        const r = await payCertificate(first.url, tokens[w]!, key, cf);
        if ('error' in r) unknown.set(key, { terminal: w, fiscalCode: cf });
        else if (r.status === 201) {
          approved.set(key, r.body.paymentId as string);
          if (approved.size >= killAfter && !killed) {
            killed = true;
            first.child.kill('SIGKILL');
          }
        } else throw new Error(`unexpected ${r.status}: ${JSON.stringify(r.body)}`);
      }
    };
    const workers = Promise.all(terminals.map((_, w) => worker(w)));
    const done = await exited(first.child);
    killed = true;
    await workers;
    expect(done.signal).toBe('SIGKILL');
    expect(approved.size).toBeGreaterThanOrEqual(killAfter);
    expect(sent).toBeGreaterThan(approved.size);

    // ---- restart on the same data: every approved payment is there, once
    const second = await startProcess(dataDir);
    running.push(second);
    const tokens2 = await Promise.all(terminals.map((t) => terminalToken(second.url, t.terminalId, t.apiSecret)));
    for (const [key, paymentId] of approved) {
      const res = await fetch(`${second.url}/v1/payments/${paymentId}`, { headers: { authorization: `Bearer ${tokens2[Number(key.split('-')[1])]}` } });
      expect(res.status, key).toBe(200);
      expect(((await res.json()) as { status: string }).status).toBe('BOOKED');
    }
    // Requests whose answer was lost: the same key again gets the committed answer, or books it now.
    for (const [key, u] of unknown) {
      const r = await payCertificate(second.url, tokens2[u.terminal]!, key, u.fiscalCode);
      expect('status' in r && r.status, key).toBe(201);
      if ('status' in r) approved.set(key, r.body.paymentId as string);
    }
    // An approved key retried after the crash replays the first answer.
    const [someKey, someId] = [...approved.entries()][0]!;
    const w = Number(someKey.split('-')[1]);
    const replay = await payCertificate(second.url, tokens2[w]!, someKey, fiscalCode(w * 400 + Number(someKey.split('-')[2])));
    expect('status' in replay && replay.body.paymentId).toBe(someId);

    const stopped = exited(second.child);
    second.child.kill('SIGTERM');
    expect((await stopped).code).toBe(0);

    // ---- the ledger: one payment per approved key, each with balanced entries
    const db = await openTestDb(dataDir);
    try {
      const n = await db.scalar('SELECT count(*) AS n FROM payments');
      expect(n).toBe(approved.size);
      const ids = new Set(approved.values());
      expect(ids.size).toBe(approved.size);
      const unbalanced = await db.all('SELECT payment_id FROM ledger_entries GROUP BY payment_id, is_reversal HAVING sum(amount_cents) <> 0');
      expect(unbalanced).toEqual([]);
      const withoutEntries = await db.scalar('SELECT count(*) AS n FROM payments p WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.payment_id = p.id)');
      expect(withoutEntries).toBe(0);
    } finally {
      await db.close();
    }
    const check = await runCli(dataDir, ['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('ledger invariants intact');
  });
});
