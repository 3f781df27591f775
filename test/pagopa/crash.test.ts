// Crash between the commit of a pagoPA payment and its outcome (docs/pagopa.md, step 5):
// the real switch process (src/main.ts) against an in-process node simulator over HTTP.
// The node takes the outcome's request and never answers it; the switch has answered the
// terminal (so the booking and its outbox row are committed) and is killed with SIGKILL
// while the outcome is in flight. Restarted on the same data, its sender takes the pending
// row over and sends the outcome again: the node records one outcome OK, answered OK, and
// the payment is in the ledger once.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pspEnv } from './psp-env.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPagoPaQr } from '../../src/domain/qr.js';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import type { PspIdentity } from '../../src/pagopa/types.js';
import { cleanUp, demoTerminals, exited, runCli, startProcess, terminalToken, type ServerProcess } from '../e2e/process.js';
import { openTestDb } from '../helpers/store.js';

const PSP: PspIdentity = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-crash' };
const FIRENZE = '01307110484';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tserve-pagopa-crash-'));
const running: ServerProcess[] = [];
const sim = new NodeSimulator({ psp: PSP, seed: 15 });
let env: Record<string, string>;

beforeAll(async () => {
  const url = await sim.start();
  env = {
    TSERVE_SEED_POSITIONS: '100',
    TSERVE_SETTLEMENT_SCHEDULE: 'false',
    TSERVE_PAGOPA_DEMO_NODE: 'false',
    ...pspEnv(url, PSP),
    // The hung outcome must still be waiting for its answer when the process is killed.
    TSERVE_PAGOPA_TIMEOUT_MS: '60000',
  };
});

afterAll(async () => {
  await cleanUp(running, dataDir);
  await sim.stop();
});

/** Polls `probe` until it returns a value (bounded: the test fails with `what` rather than hang). */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, tries = 600, everyMs = 50): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`gave up waiting: ${what}`);
}

describe('a pagoPA payment and its outcome across a crash', () => {
  it('SIGKILL after commit and before the outcome: after restart the outcome is sent once', { timeout: 300_000 }, async () => {
    const first = await startProcess(dataDir, env);
    running.push(first);
    const terminal = demoTerminals(dataDir)[0]!;
    const token = await terminalToken(first.url, terminal.terminalId, terminal.apiSecret);
    const p = sim.creditors.find((c) => c.fiscalCode === FIRENZE)!.positions.find((x) => x.status === 'payable' && x.transfers.length === 1)!;
    const body = JSON.stringify({ qr: formatPagoPaQr(p.noticeNumber, FIRENZE, p.amountCents), amount: p.amountCents });
    const pay = (url: string, bearer: string) =>
      fetch(`${url}/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, 'idempotency-key': 'pagopa-crash-1' }, body });

    // The node takes the first outcome request and never answers it.
    sim.state.failNext(1, 'hang', 'sendPaymentOutcome');
    const outcomeCalls = sim.state.calls.sendPaymentOutcome;
    const res = await pay(first.url, token);
    const paid = (await res.json()) as { paymentId: string; pagopa: { paymentToken: string } };
    expect(res.status, JSON.stringify(paid)).toBe(201); // answered after the commit
    const paymentToken = paid.pagopa.paymentToken;
    // The outcome is in flight (the node holds it), unanswered: kill the switch now.
    await until('the outcome request at the node', () => (sim.state.calls.sendPaymentOutcome > outcomeCalls ? true : undefined));
    expect(sim.state.outcomes.filter((o) => o.request.paymentToken === paymentToken)).toEqual([]); // a hung call is no outcome received
    const killed = exited(first.child);
    first.child.kill('SIGKILL');
    expect((await killed).signal).toBe('SIGKILL');

    const db = await openTestDb(dataDir);
    try {
      const outcomeOf = async () => (await db.get<{ outcome: string }>('SELECT g.outcome FROM pagopa_payments g JOIN payments p ON p.id = g.payment_id WHERE p.public_id = ?', paid.paymentId))?.outcome;
      expect(await outcomeOf()).toBe('pending');

      // ---- restart on the same data: the sender takes the pending row over at start.
      const second = await startProcess(dataDir, env);
      running.push(second);
      await until("the row 'sent'", async () => ((await outcomeOf()) === 'sent' ? true : undefined));

      // The node: two outcome calls (the hung one, the resend), one outcome received, OK answered OK.
      expect(sim.state.calls.sendPaymentOutcome - outcomeCalls).toBe(2);
      const received = sim.state.outcomes.filter((o) => o.request.paymentToken === paymentToken);
      expect(received.map((o) => [o.request.outcome, o.answer.ok])).toEqual([['OK', true]]);

      // The terminal's retry after the restart gets the committed answer: no second activation, no second booking.
      const activations = sim.state.calls.activatePaymentNotice;
      const token2 = await terminalToken(second.url, terminal.terminalId, terminal.apiSecret);
      const again = await pay(second.url, token2);
      expect(again.status).toBe(201);
      expect(((await again.json()) as { paymentId: string }).paymentId).toBe(paid.paymentId);
      expect(sim.state.calls.activatePaymentNotice).toBe(activations);

      // Booked once: one payment, one activation row, balanced entries.
      expect(await db.scalar('SELECT count(*) AS n FROM pagopa_payments WHERE notice_number = ?', p.noticeNumber)).toBe(1);
      expect(await db.scalar("SELECT count(*) AS n FROM payments WHERE entity_id = 'PAGOPA'")).toBe(1);
      expect(await db.scalar('SELECT count(*) AS n FROM payments p JOIN pagopa_payments g ON g.payment_id = p.id WHERE g.payment_token = ?', paymentToken)).toBe(1);
      expect(await db.all('SELECT payment_id FROM ledger_entries GROUP BY payment_id, is_reversal HAVING sum(amount_cents) <> 0')).toEqual([]);

      const stopped = exited(second.child);
      second.child.kill('SIGTERM');
      expect((await stopped).code).toBe(0);
    } finally {
      await db.close();
    }
    const check = await runCli(dataDir, ['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('ledger invariants intact');
  });
});
