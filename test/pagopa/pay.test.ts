// Paying pagoPA notices end to end (docs/pagopa.md "The payment"): the switch started as
// `tserve start` starts it (startServer: the PAGOPA catalogue entry, the outcome sender),
// against an in-process node simulator over real HTTP, through the JSON API and ISO 8583
// (the terminal simulator's client on a real socket). Verify, activate, booking with its
// outbox row, the answer with the token, the outcome OK at the node; retries reuse the
// activation and book once; faults come back as the contract's codes with nothing booked.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { pspEnv, localSwitchEnv } from './psp-env.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { formatPagoPaQr } from '../../src/domain/qr.js';
import { buildNoticeNumber } from '../../src/domain/notice.js';
import { defaultCreditors } from '../../src/pagopa/simulator/creditors.js';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import type { PspIdentity } from '../../src/pagopa/types.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { getField } from '../../terminals/iso8583/index.js';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import { runningClock } from '../helpers/clock.js';
import { openTestDb, storeEnv, type TestDb } from '../helpers/store.js';

const PSP: PspIdentity = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-pay' };
const FIRENZE = '01307110484';
const ACI = '00493410583';

const clock = runningClock();
/** The simulator's creditors, Firenze with twenty more single-transfer notices (fines) for this file. */
function creditors() {
  const list = defaultCreditors();
  const firenze = list.find((c) => c.fiscalCode === FIRENZE)!;
  const iban = firenze.positions[0]!.transfers[0]!.iban;
  for (let i = 0; i < 20; i++) {
    const amountCents = 4200 + 100 * i;
    firenze.positions.push({
      noticeNumber: buildNoticeNumber(3, `01${String(100 + i).padStart(13, '0')}`),
      description: `Multa, verbale 2025/${1000 + i}`,
      amountCents,
      status: 'payable',
      transfers: [{ index: 1, amountCents, fiscalCodePA: FIRENZE, iban, remittanceInformation: `Verbale 2025/${1000 + i}` }],
    });
  }
  return list;
}
// The node waits 50 ms for a creditor's station: a slow station is PPT_STAZIONE_INT_PA_TIMEOUT at once.
const sim = new NodeSimulator({ psp: PSP, clock, seed: 21, creditorTimeoutMs: 50, creditors: creditors() });
let server: RunningServer;
let db: TestDb;
let dir: string;
const tokens: string[] = [];
let isoTerminal: IsoTerminal;

interface DemoCredentials {
  terminals: { terminalId: string; counterId: string; tmk: string; apiSecret: string }[];
  users: { username: string; password: string }[];
}
let financeToken: string;
let pool: DemoCredentials['terminals'];

const positions = (fiscalCode: string) => sim.creditors.find((c) => c.fiscalCode === fiscalCode)!.positions;
/** Payable positions of a creditor, each handed out once across the file. */
const used = new Set<string>();
function notice(fiscalCode: string, transfers?: number) {
  const p = positions(fiscalCode).find((x) => !used.has(x.noticeNumber) && x.status === 'payable' && (transfers === undefined || x.transfers.length === transfers));
  if (!p) throw new Error(`no payable notice of ${fiscalCode} left`);
  used.add(p.noticeNumber);
  return p;
}
const qrOf = (fiscalCode: string, p: { noticeNumber: string; amountCents: number }) => formatPagoPaQr(p.noticeNumber, fiscalCode, p.amountCents);

const api = () => request(server.url);
const pay = (body: object, key: string, t = 0) => api().post('/v1/payments').set('authorization', `Bearer ${tokens[t]}`).set('idempotency-key', key).send(body);
const count = async (sql: string, ...params: unknown[]) => Number((await db.get<{ n: number }>(sql, ...params))?.n ?? 0);

beforeAll(async () => {
  const url = await sim.start();
  dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-pagopa-pay-'));
  const config = loadConfig({
    ...localSwitchEnv(dir),
    ...pspEnv(url, PSP),
    ...(await storeEnv(dir)),
  });
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined); // "demo network seeded"
  server = await startServer(config, { clock: clock as Clock }).finally(() => log.mockRestore());
  db = await openTestDb(dir);
  const credentials = JSON.parse(readFileSync(path.join(dir, 'demo-credentials.json'), 'utf8')) as DemoCredentials;
  // Terminals of different counters: two JSON ones and one ISO 8583.
  const seen = new Set<string>();
  pool = credentials.terminals.filter((t) => !seen.has(t.counterId) && seen.add(t.counterId));
  for (const t of pool.slice(0, 2)) {
    const res = await api().post('/v1/auth/token').send({ terminalId: t.terminalId, secret: t.apiSecret });
    expect(res.status, res.text).toBe(200);
    tokens.push(res.body.accessToken ?? res.body.token);
  }
  const finance = credentials.users.find((u) => u.username === 'finance')!;
  const login = await api().post('/v1/auth/login').send({ username: 'finance', password: finance.password });
  expect(login.status, login.text).toBe(200);
  financeToken = login.body.accessToken ?? login.body.token;
  const i = pool[2]!;
  isoTerminal = new IsoTerminal({ terminalId: i.terminalId, counterId: i.counterId, tmk: Buffer.from(i.tmk, 'hex') }, { host: '127.0.0.1', port: server.isoPort, timeoutMs: 20_000, clock });
  await isoTerminal.connect();
  expect((await isoTerminal.signOn()).code).toBe('00');
});

afterAll(async () => {
  isoTerminal?.close();
  await server?.close();
  await db?.close();
  await sim.stop();
});

describe('a pagoPA notice of a creditor outside the catalogue, paid at the counter', () => {
  it('JSON: verify, pay; booked under PAGOPA with the token and creditor; the outcome OK reaches the node once', async () => {
    const p = notice(FIRENZE, 5); // a building permit: five transfers
    const v = await api().post('/v1/verify').set('authorization', `Bearer ${tokens[0]}`).send({ qr: qrOf(FIRENZE, p) });
    expect(v.status, v.text).toBe(200);
    expect(v.body).toMatchObject({ service: 'PAGOPA', amountDue: p.amountCents, pagopa: { creditorFiscalCode: FIRENZE } });
    const fee = v.body.fee as number;
    expect(fee).toBeGreaterThan(0);

    const res = await pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents, fee }, 'pagopa-json-1');
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ amount: p.amountCents, fee, total: p.amountCents + fee, pagopa: { creditorFiscalCode: FIRENZE, creditorName: 'Comune di Firenze', noticeNumber: p.noticeNumber, iuv: p.noticeNumber.slice(1) } });
    const token = res.body.pagopa.paymentToken as string;
    expect(token).toMatch(/^[0-9a-f]{32}$/);

    // Booked: the payment under PAGOPA, its activation and five transfers summing to the amount.
    const row = await db.get<{ id: number; entity_id: string; service_code: string; circuit_fee_cents: number }>('SELECT id, entity_id, service_code, circuit_fee_cents FROM payments WHERE public_id = ?', res.body.paymentId);
    expect(row).toMatchObject({ entity_id: 'PAGOPA', service_code: 'PAGOPA', circuit_fee_cents: 0 });
    expect(await count('SELECT count(*) AS n FROM pagopa_transfers WHERE payment_id = ?', row!.id)).toBe(5);
    expect(await count('SELECT coalesce(sum(amount_cents), 0) AS n FROM pagopa_transfers WHERE payment_id = ?', row!.id)).toBe(p.amountCents);

    // The outcome: sent at once after the commit, taken by the node, recorded as sent.
    await server.pagopaOutcomes!.idle();
    const outcomes = sim.state.outcomes.filter((o) => o.request.paymentToken === token);
    expect(outcomes.map((o) => [o.request.outcome, o.answer.ok])).toEqual([['OK', true]]);
    expect(await db.get('SELECT outcome FROM pagopa_payments WHERE payment_id = ?', row!.id)).toEqual({ outcome: 'sent' });

    // The payment's detail and its receipt: the attestation pagoPA asks for.
    const detail = await api().get(`/v1/payments/${res.body.paymentId}`).set('authorization', `Bearer ${tokens[0]}`);
    expect(detail.body.pagopa).toMatchObject({ paymentToken: token, outcome: 'sent' });
    const receipt = await api().get(`/v1/payments/${res.body.paymentId}/receipt`).set('authorization', `Bearer ${tokens[0]}`).set('accept', 'text/plain');
    expect(receipt.status, receipt.text).toBe(200);
    for (const text of ['ATTESTAZIONE DI PAGAMENTO pagoPA', 'Comune di Firenze', FIRENZE, p.noticeNumber.slice(1), 'C.F. PSP', '01234567890']) expect(receipt.text).toContain(text);
    expect(receipt.text.replace(/\s/g, '')).toContain(token);
  });

  it('ISO 8583: the 0210 carries PT (the token) and EF (the creditor) in field 48', async () => {
    const p = notice(ACI);
    const inquiry = await isoTerminal.inquiry({ qr: qrOf(ACI, p) });
    expect(inquiry.code, inquiry.tlv.get('ER')).toBe('00');
    const fee = getField({ fields: inquiry.fields }, 28)!;
    const { response: r } = await isoTerminal.pay({ qr: qrOf(ACI, p) }, p.amountCents, fee);
    expect(r.code, r.tlv.get('ER')).toBe('00');
    expect(r.macOk).toBe(true);
    expect(r.tlv.get('EF')).toBe(ACI);
    const token = r.tlv.get('PT')!;
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    await server.pagopaOutcomes!.idle();
    expect(sim.state.outcomes.filter((o) => o.request.paymentToken === token).map((o) => o.answer.ok)).toEqual([true]);
  });

  it('a replayed Idempotency-Key and a retransmitted 0200 reuse the activation and book once', async () => {
    const p = notice(FIRENZE, 1);
    const before = sim.state.calls.activatePaymentNotice ?? 0;
    const first = await pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents }, 'pagopa-replay');
    const again = await pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents }, 'pagopa-replay');
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(again.body).toEqual(first.body);
    expect((sim.state.calls.activatePaymentNotice ?? 0) - before).toBe(1);
    expect(await count('SELECT count(*) AS n FROM pagopa_payments WHERE notice_number = ?', p.noticeNumber)).toBe(1);

    const q = notice(ACI);
    const { sent, response: iso } = await isoTerminal.pay({ qr: qrOf(ACI, q) }, q.amountCents);
    const retransmitted = await isoTerminal.sendRaw(sent.packed, sent.stan);
    expect([iso.code, retransmitted.code]).toEqual(['00', '00']);
    expect(retransmitted.tlv.get('PT')).toBe(iso.tlv.get('PT'));
    expect(await count('SELECT count(*) AS n FROM pagopa_payments WHERE notice_number = ?', q.noticeNumber)).toBe(1);
  });

  it('a notice paid elsewhere is refused 80; a creditor that times out 91; nothing is booked', async () => {
    const paid = notice(FIRENZE);
    sim.state.markPaidElsewhere(FIRENZE, paid.noticeNumber);
    const r1 = await pay({ qr: qrOf(FIRENZE, paid), amount: paid.amountCents }, 'pagopa-dup');
    expect([r1.status, r1.body.code]).toEqual([409, 'NOTICE_ALREADY_PAID']);
    const { response: iso } = await isoTerminal.pay({ qr: qrOf(FIRENZE, paid) }, paid.amountCents);
    expect([iso.code, iso.tlv.get('ER')]).toEqual(['80', 'NOTICE_ALREADY_PAID']);

    const slow = notice(ACI);
    sim.state.setStation(ACI, 'up', 60_000);
    try {
      const r2 = await pay({ qr: qrOf(ACI, slow), amount: slow.amountCents }, 'pagopa-slow');
      expect([r2.status, r2.body.code]).toEqual([503, 'CREDITOR_UNAVAILABLE']);
      const { response: iso2 } = await isoTerminal.pay({ qr: qrOf(ACI, slow) }, slow.amountCents);
      expect([iso2.code, iso2.tlv.get('ER')]).toEqual(['91', 'CREDITOR_UNAVAILABLE']);
    } finally {
      sim.state.setStation(ACI, 'up', 0);
    }
    expect(await count('SELECT count(*) AS n FROM pagopa_payments WHERE notice_number IN (?, ?)', paid.noticeNumber, slow.noticeNumber)).toBe(0);
  });

  it('two terminals paying one notice at once: one books, the other is told 81', async () => {
    const p = notice(FIRENZE);
    const [a, b] = await Promise.all([
      pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents }, 'pagopa-race-a', 0),
      pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents }, 'pagopa-race-b', 1),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    expect([a, b].find((r) => r.status === 409)!.body.code).toBe('PAYMENT_IN_PROGRESS');
    expect(await count('SELECT count(*) AS n FROM pagopa_payments WHERE notice_number = ?', p.noticeNumber)).toBe(1);
  });

  it('a wrong amount is refused and the activation released (outcome KO): the notice is payable again at once', async () => {
    const p = notice(FIRENZE);
    const wrong = await pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents + 100 }, 'pagopa-wrong');
    expect([wrong.status, wrong.body.code]).toEqual([422, 'AMOUNT_MISMATCH']);
    const right = await pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents }, 'pagopa-right');
    expect(right.status, right.text).toBe(201);
  });

  it('a booking refused after the activation (over the credit limit) sends outcome KO: nothing booked, the notice payable again', async () => {
    const p = notice(FIRENZE);
    const koFrom = sim.state.outcomes.length;
    const counter = pool[1]!.counterId;
    const limit = await db.scalar('SELECT credit_limit_cents FROM counters WHERE id = ?', counter);
    await db.run('UPDATE counters SET credit_limit_cents = 1 WHERE id = ?', counter);
    let refused;
    try {
      refused = await pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents }, 'pagopa-limit', 1);
    } finally {
      await db.run('UPDATE counters SET credit_limit_cents = ? WHERE id = ?', limit, counter);
    }
    expect([refused.status, refused.body.code]).toEqual([403, 'CREDIT_LIMIT_EXCEEDED']);
    // The KO goes out after the answer: wait for the node to have it (bounded).
    const ko = async () => sim.state.outcomes.find((o) => o.request.outcome === 'KO' && sim.state.outcomes.indexOf(o) >= koFrom);
    for (let i = 0; i < 100 && !(await ko()); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await ko())?.answer.ok).toBe(true);
    expect(await count('SELECT count(*) AS n FROM pagopa_payments WHERE notice_number = ?', p.noticeNumber)).toBe(0);
    const again = await pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents }, 'pagopa-limit-again', 0);
    expect(again.status, again.text).toBe(201);
  });

  it('a terminal reversal of a pagoPA payment is refused: pagoPA has no undo', async () => {
    const p = notice(FIRENZE);
    const res = await pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents }, 'pagopa-rev');
    expect(res.status).toBe(201);
    const rev = await api().post(`/v1/payments/${res.body.paymentId}/reversal`).set('authorization', `Bearer ${tokens[0]}`).set('idempotency-key', 'pagopa-rev-r').send({});
    expect([rev.status, rev.body.code]).toEqual([409, 'REVERSAL_NOT_ALLOWED']);
  });

  it('an outcome answered PPT_PAGAMENTO_DUPLICATO (paid elsewhere meanwhile) marks the payment refund_due, told on the stream', async () => {
    const p = notice(FIRENZE);
    // Another PSP pays the notice between our activation and our outcome: the node fails our
    // first outcome (no verdict: the row stays pending under its claim), the other PSP pays,
    // then the sender takes the row again (as after a restart) and sends it again.
    sim.state.failNext(1, 'fault', 'sendPaymentOutcome');
    const res = await pay({ qr: qrOf(FIRENZE, p), amount: p.amountCents }, 'pagopa-late');
    expect(res.status, res.text).toBe(201);
    await server.pagopaOutcomes!.idle();
    expect(await db.get('SELECT g.outcome FROM pagopa_payments g JOIN payments p ON p.id = g.payment_id WHERE p.public_id = ?', res.body.paymentId)).toEqual({ outcome: 'pending' });
    sim.state.markPaidElsewhere(FIRENZE, p.noticeNumber);
    server.pagopaOutcomes!.wake(true);
    await server.pagopaOutcomes!.idle();
    const row = await db.get<{ outcome: string; outcome_fault: string }>('SELECT g.outcome, g.outcome_fault FROM pagopa_payments g JOIN payments p ON p.id = g.payment_id WHERE p.public_id = ?', res.body.paymentId);
    expect(row).toEqual({ outcome: 'refund_due', outcome_fault: 'PPT_PAGAMENTO_DUPLICATO' });
    const event = await db.get<{ type: string; payload: string }>("SELECT type, payload FROM events WHERE type = 'pagopa.refund_due' ORDER BY seq DESC LIMIT 1");
    expect(JSON.parse(event!.payload)).toMatchObject({ paymentId: res.body.paymentId, reason: 'PPT_PAGAMENTO_DUPLICATO', pagopa: { creditorFiscalCode: FIRENZE } });

    // The finance office sees it, and refunds the citizen by cancelling it; a payment whose
    // outcome was taken by the node cannot be cancelled by the office (it is the creditor's).
    const office = (r: request.Test) => r.set('authorization', `Bearer ${financeToken}`);
    const refunds = await office(api().get('/v1/pagopa/refunds'));
    expect(refunds.status, refunds.text).toBe(200);
    expect(refunds.body.find((x: { paymentId: string }) => x.paymentId === res.body.paymentId)).toMatchObject({ reason: 'PPT_PAGAMENTO_DUPLICATO', refunded: false, creditorFiscalCode: FIRENZE, amount: p.amountCents });
    const cancel = await office(api().post(`/v1/payments/${res.body.paymentId}/cancel`)).send({ reason: 'rimborsato allo sportello: avviso già pagato altrove' });
    expect(cancel.status, cancel.text).toBe(200);
    const after = await office(api().get('/v1/pagopa/refunds'));
    expect(after.body.find((x: { paymentId: string }) => x.paymentId === res.body.paymentId).refunded).toBe(true);
    const sent = await db.get<{ public_id: string }>("SELECT p.public_id FROM payments p JOIN pagopa_payments g ON g.payment_id = p.id WHERE g.outcome = 'sent' LIMIT 1");
    const refused = await office(api().post(`/v1/payments/${sent!.public_id}/cancel`)).send({ reason: 'prova' });
    expect([refused.status, refused.body.code]).toEqual([409, 'REVERSAL_NOT_ALLOWED']);
  });
});
