// A payment token that expires before its outcome reaches the node (docs/pagopa.md, "Faults":
// a token expired before the outcome is treated as a late outcome answered duplicate): the
// money was taken at the counter, the node has no receipt and never will for this token,
// so the payment becomes refund_due with its pagopa.refund_due event. The switch
// (startServer, as `tserve start`) and the node simulator share one movable clock; tokens
// live 60 s (TSERVE_PAGOPA_TOKEN_EXPIRATION_MS). The node's answers travel over real HTTP.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { pspEnv, localSwitchEnv } from './psp-env.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { formatPagoPaQr } from '../../src/domain/qr.js';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import type { PspIdentity } from '../../src/pagopa/types.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { runningClock } from '../helpers/clock.js';
import { openTestDb, storeEnv, type TestDb } from '../helpers/store.js';

const PSP: PspIdentity = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-expiry' };
const FIRENZE = '01307110484';
const TOKEN_LIFETIME_MS = 60_000;

/** The clock of the switch and of the node: running, and moved forward by the test. */
const running = runningClock();
let skewMs = 0;
const clock: Clock = () => running() + skewMs;
const moveClocks = (ms: number) => void (skewMs += ms);

const sim = new NodeSimulator({ psp: PSP, clock, seed: 60 });
let server: RunningServer;
let db: TestDb;
let dir: string;
const tokens: string[] = [];

const used = new Set<string>();
function notice() {
  const p = sim.creditors.find((c) => c.fiscalCode === FIRENZE)!.positions.find((x) => x.status === 'payable' && !used.has(x.noticeNumber))!;
  used.add(p.noticeNumber);
  return p;
}
const pay = (p: { noticeNumber: string; amountCents: number }, key: string, t = 0) =>
  request(server.url).post('/v1/payments').set('authorization', `Bearer ${tokens[t]}`).set('idempotency-key', key).send({ qr: formatPagoPaQr(p.noticeNumber, FIRENZE, p.amountCents), amount: p.amountCents });
const rowOf = (paymentId: string) =>
  db.get<{ outcome: string; outcome_fault: string | null }>('SELECT g.outcome, g.outcome_fault FROM pagopa_payments g JOIN payments p ON p.id = g.payment_id WHERE p.public_id = ?', paymentId);
const outcomesOf = (paymentToken: string) => sim.state.outcomes.filter((o) => o.request.paymentToken === paymentToken).map((o) => (o.answer.ok ? 'OK' : o.answer.fault.code));

beforeAll(async () => {
  const url = await sim.start();
  dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-pagopa-expiry-'));
  const config = loadConfig({
    ...localSwitchEnv(dir),
    ...pspEnv(url, PSP),
    TSERVE_PAGOPA_TOKEN_EXPIRATION_MS: String(TOKEN_LIFETIME_MS),
    ...(await storeEnv(dir)),
  });
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined); // "demo network seeded"
  server = await startServer(config, { clock }).finally(() => log.mockRestore());
  db = await openTestDb(dir);
  const credentials = JSON.parse(readFileSync(path.join(dir, 'demo-credentials.json'), 'utf8')) as { terminals: { terminalId: string; counterId: string; apiSecret: string }[] };
  const seen = new Set<string>();
  for (const t of credentials.terminals.filter((x) => !seen.has(x.counterId) && seen.add(x.counterId)).slice(0, 2)) {
    const res = await request(server.url).post('/v1/auth/token').send({ terminalId: t.terminalId, secret: t.apiSecret });
    expect(res.status, res.text).toBe(200);
    tokens.push(res.body.accessToken ?? res.body.token);
  }
});

afterAll(async () => {
  await server?.close();
  await db?.close();
  await sim.stop();
});

describe('a token that expires before the outcome', () => {
  it('is handled as the contract says: the node answers PPT_TOKEN_SCADUTO, the payment becomes refund_due with its event', async () => {
    const p = notice();
    // The first outcome gets no verdict (the node fails it): the row stays pending under its claim.
    sim.state.failNext(1, 'fault', 'sendPaymentOutcome');
    const res = await pay(p, 'expiry-1');
    expect(res.status, res.text).toBe(201);
    const paymentToken = res.body.pagopa.paymentToken as string;
    await server.pagopaOutcomes!.idle();
    expect(await rowOf(res.body.paymentId)).toEqual({ outcome: 'pending', outcome_fault: null });
    expect(outcomesOf(paymentToken)).toEqual([]); // an injected failure is no outcome received

    // Past the token's expiry on both clocks; the sender takes the row again.
    const expiresAt = Number(await db.scalar('SELECT token_expires_at FROM pagopa_payments WHERE payment_token = ?', paymentToken));
    moveClocks(expiresAt - clock() + 1_000);
    server.pagopaOutcomes!.wake(true);
    await server.pagopaOutcomes!.idle();

    expect(outcomesOf(paymentToken)).toEqual(['PPT_TOKEN_SCADUTO']);
    expect(await rowOf(res.body.paymentId)).toEqual({ outcome: 'refund_due', outcome_fault: 'PPT_TOKEN_SCADUTO' });
    const events = await db.all<{ payload: string }>("SELECT payload FROM events WHERE type = 'pagopa.refund_due'");
    const mine = events.map((e) => JSON.parse(e.payload) as { paymentId: string }).filter((e) => e.paymentId === res.body.paymentId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ paymentId: res.body.paymentId, reason: 'PPT_TOKEN_SCADUTO', amount: p.amountCents, pagopa: { creditorFiscalCode: FIRENZE, paymentToken } });

    // Once decided, the sender leaves it: another takeover sends nothing more.
    server.pagopaOutcomes!.wake(true);
    await server.pagopaOutcomes!.idle();
    expect(outcomesOf(paymentToken)).toEqual(['PPT_TOKEN_SCADUTO']);
  });

  it('expired and the notice paid again meanwhile at another counter: the late outcome is refused, refund_due; the new payment is sent', async () => {
    const p = notice();
    sim.state.failNext(1, 'fault', 'sendPaymentOutcome');
    const first = await pay(p, 'expiry-2a', 0);
    expect(first.status, first.text).toBe(201);
    await server.pagopaOutcomes!.idle();
    expect(await rowOf(first.body.paymentId)).toMatchObject({ outcome: 'pending' });

    // The lock lapses with the token: another counter pays the same notice under a new token.
    moveClocks(TOKEN_LIFETIME_MS + 1_000);
    const second = await pay(p, 'expiry-2b', 1);
    expect(second.status, second.text).toBe(201);
    expect(second.body.pagopa.paymentToken).not.toBe(first.body.pagopa.paymentToken);
    // The new payment's outcome goes at once after its commit: the notice is paid by then.
    await server.pagopaOutcomes!.idle();
    server.pagopaOutcomes!.wake(true);
    await server.pagopaOutcomes!.idle();

    expect(outcomesOf(first.body.pagopa.paymentToken)).toEqual(['PPT_PAGAMENTO_DUPLICATO']);
    expect(await rowOf(first.body.paymentId)).toEqual({ outcome: 'refund_due', outcome_fault: 'PPT_PAGAMENTO_DUPLICATO' });
    expect(outcomesOf(second.body.pagopa.paymentToken)).toEqual(['OK']);
    expect(await rowOf(second.body.paymentId)).toEqual({ outcome: 'sent', outcome_fault: null });
    const reasons = (await db.all<{ payload: string }>("SELECT payload FROM events WHERE type = 'pagopa.refund_due'")).map((e) => JSON.parse(e.payload) as { paymentId: string; reason: string });
    expect(reasons.filter((e) => e.paymentId === first.body.paymentId).map((e) => e.reason)).toEqual(['PPT_PAGAMENTO_DUPLICATO']);
    expect(reasons.filter((e) => e.paymentId === second.body.paymentId)).toEqual([]);
  });
});
