// The node simulator over real HTTP: raw SOAP envelopes in, the shared codec's answers out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import { buildFlowXml, type ReportingFlow } from '../../src/pagopa/simulator/flow.js';
import { buildFlowRequest, parseFlowResponse } from '../../src/pagopa/flow-soap.js';
import { buildRequest, parseResponse, NODE_FOR_PSP_NS } from '../../src/pagopa/soap.js';
import type { OperationName, PspCredentials } from '../../src/pagopa/types.js';

const PSP = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-1' };
const CRED: PspCredentials = { idPSP: PSP.idPSP, idBrokerPSP: PSP.idBrokerPSP, idChannel: PSP.idChannel, password: PSP.password };
const FIRENZE = '01307110484';
const CITTA_METROPOLITANA = '80016450480';

let now = Date.UTC(2025, 2, 10, 9, 0, 0);
const sim = new NodeSimulator({ psp: PSP, clock: () => now, seed: 42 });
let url = '';

beforeAll(async () => {
  url = await sim.start();
});
afterAll(() => sim.stop());

async function post(body: string, action: string, key: string | null = PSP.subscriptionKey) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', SOAPAction: action, ...(key ? { 'Ocp-Apim-Subscription-Key': key } : {}) },
    body,
  });
  return { status: res.status, text: await res.text() };
}

async function call<Op extends OperationName>(op: Op, request: Parameters<typeof buildRequest<Op>>[2], cred = CRED) {
  const res = await post(buildRequest(op, cred, request), op);
  expect(res.status).toBe(200);
  return parseResponse(op, res.text);
}

/** A verify written by hand, as the schema reads: root in the nodeForPsp namespace, children unqualified. */
const rawVerify = (noticeNumber: string, password = PSP.password) => `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:nfp="${NODE_FOR_PSP_NS}">
  <soapenv:Header/>
  <soapenv:Body>
    <nfp:verifyPaymentNoticeReq>
      <idPSP>${PSP.idPSP}</idPSP>
      <idBrokerPSP>${PSP.idBrokerPSP}</idBrokerPSP>
      <idChannel>${PSP.idChannel}</idChannel>
      <password>${password}</password>
      <qrCode>
        <fiscalCode>${FIRENZE}</fiscalCode>
        <noticeNumber>${noticeNumber}</noticeNumber>
      </qrCode>
    </nfp:verifyPaymentNoticeReq>
  </soapenv:Body>
</soapenv:Envelope>`;

const firenze = () => sim.creditors.find((c) => c.fiscalCode === FIRENZE)!;

describe('the gateway and the PSP', () => {
  it('no or a wrong subscription key: HTTP 401, nothing reaches the node', async () => {
    const before = sim.state.calls.verifyPaymentNotice;
    const notice = firenze().positions[0]!.noticeNumber;
    expect((await post(rawVerify(notice), 'verifyPaymentNotice', null)).status).toBe(401);
    expect((await post(rawVerify(notice), 'verifyPaymentNotice', 'other-key')).status).toBe(401);
    expect(sim.state.calls.verifyPaymentNotice).toBe(before);
  });

  it('a raw verify is answered OK with the amount as the schema writes it; a wrong password PPT_AUTENTICAZIONE', async () => {
    const notice = firenze().positions[0]!.noticeNumber;
    const ok = await post(rawVerify(notice), '"verifyPaymentNotice"');
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('<outcome>OK</outcome>');
    expect(ok.text).toContain('<amount>42.00</amount>');
    expect(parseResponse('verifyPaymentNotice', ok.text)).toMatchObject({ ok: true, value: { amountCents: 4200, companyName: 'Comune di Firenze' } });
    const ko = await post(rawVerify(notice, 'WrongPass1'), 'verifyPaymentNotice');
    expect(ko.status).toBe(200);
    expect(parseResponse('verifyPaymentNotice', ko.text)).toMatchObject({ ok: false, fault: { code: 'PPT_AUTENTICAZIONE' } });
  });

  it('a body that breaks the schema is PPT_SINTASSI_XSD in the operation answer; an unknown operation a SOAP Fault', async () => {
    const broken = await post(rawVerify('12345'), 'verifyPaymentNotice');
    expect(parseResponse('verifyPaymentNotice', broken.text)).toMatchObject({ ok: false, fault: { code: 'PPT_SINTASSI_XSD' } });
    const unknown = await post('<not-soap/>', 'nodoChiediCatalogoServizi');
    expect(unknown.status).toBe(500);
    expect(unknown.text).toContain('Fault');
  });
});

describe('a payment over the wire', () => {
  it('verify, activate (twice, same key), outcome OK; then duplicate', async () => {
    const tari = firenze().positions[2]!; // two transfers
    const qr = { fiscalCode: FIRENZE, noticeNumber: tari.noticeNumber };
    expect(await call('verifyPaymentNotice', qr)).toMatchObject({ ok: true, value: { amountCents: tari.amountCents } });
    const req = { ...qr, idempotencyKey: 'TSERVEPSP_abcdefghij', amountCents: tari.amountCents, expirationMs: 600_000 };
    const a = await call('activatePaymentNotice', req);
    expect(a.ok && a.value.transfers.map((t) => t.fiscalCodePA)).toEqual([FIRENZE, CITTA_METROPOLITANA]);
    expect(await call('activatePaymentNotice', req)).toEqual(a);
    const token = a.ok ? a.value.paymentToken : '';
    const outcome = { idempotencyKey: 'TSERVEPSP_abcdefghij', paymentToken: token, outcome: 'OK' as const, details: { feeCents: 100, applicationDate: '2025-03-10', transferDate: '2025-03-11' } };
    expect(await call('sendPaymentOutcome', outcome)).toEqual({ ok: true, value: {} });
    expect(await call('sendPaymentOutcome', { ...outcome, idempotencyKey: 'TSERVEPSP_zzzzzzzzzz' })).toMatchObject({ ok: false, fault: { code: 'PPT_ESITO_GIA_ACQUISITO' } });
    expect(await call('verifyPaymentNotice', qr)).toMatchObject({ ok: false, fault: { code: 'PPT_PAGAMENTO_DUPLICATO' } });
    expect(sim.state.payments().map((p) => p.paymentToken)).toContain(token);
  });

  it('forced failures: a dropped connection, a PPT_SYSTEM_ERROR, then the answer', async () => {
    const notice = firenze().positions[3]!.noticeNumber;
    sim.failNext(1, 'drop');
    sim.failNext(1);
    await expect(post(rawVerify(notice), 'verifyPaymentNotice')).rejects.toThrow();
    expect(parseResponse('verifyPaymentNotice', (await post(rawVerify(notice), 'verifyPaymentNotice')).text)).toMatchObject({ ok: false, fault: { code: 'PPT_SYSTEM_ERROR' } });
    expect(parseResponse('verifyPaymentNotice', (await post(rawVerify(notice), 'verifyPaymentNotice')).text)).toMatchObject({ ok: true });
  });
});

describe('reporting flows', () => {
  /** Pays a notice over the wire; its token. */
  async function pay(index: number): Promise<{ token: string; iuv: string; transfers: { index: number; amountCents: number; fiscalCodePA: string }[] }> {
    const p = firenze().positions[index]!;
    const a = await call('activatePaymentNotice', { fiscalCode: FIRENZE, noticeNumber: p.noticeNumber, idempotencyKey: `TSERVEPSP_flow${index}aaaaa`, amountCents: p.amountCents });
    if (!a.ok) throw new Error(a.fault.code);
    const o = await call('sendPaymentOutcome', {
      idempotencyKey: `TSERVEPSP_flow${index}aaaaa`,
      paymentToken: a.value.paymentToken,
      outcome: 'OK',
      details: { feeCents: 100, applicationDate: '2025-03-10', transferDate: '2025-03-11' },
    });
    expect(o.ok).toBe(true);
    return { token: a.value.paymentToken, iuv: a.value.creditorReferenceId, transfers: a.value.transfers };
  }

  const flow = (flowId: string, payments: ReportingFlow['payments'], totalCents = payments.reduce((s, p) => s + p.amountCents, 0)): ReportingFlow => ({
    flowId,
    flowDateTime: '2025-03-12T08:00:00',
    settlementReference: 'SCT-20250312-0001',
    settlementDate: '2025-03-12',
    senderId: PSP.idPSP,
    receiverId: FIRENZE,
    totalPayments: payments.length,
    totalCents,
    payments,
  });

  async function send(f: ReportingFlow, flowId = f.flowId) {
    const res = await post(buildFlowRequest(CRED, { domain: FIRENZE, flowId, flowDateTime: f.flowDateTime, xml: buildFlowXml(f) }), 'nodoInviaFlussoRendicontazione');
    expect(res.status).toBe(200);
    return parseFlowResponse(res.text);
  }

  it("accepts a flow whose payments are ones the node saw paid, to the creditor's transfers, totals equal", async () => {
    const a = await pay(0);
    const b = await pay(4); // five transfers: three are Firenze's
    const lines = [a, b].flatMap((p) =>
      p.transfers
        .filter((t) => t.fiscalCodePA === FIRENZE)
        .map((t) => ({ iuv: p.iuv, iur: p.token, index: t.index, amountCents: t.amountCents, outcomeCode: '0' as const, outcomeDate: '2025-03-10' })),
    );
    expect(lines).toHaveLength(4);
    const f = flow('2025-03-12TSERVEPSP-0001', lines);
    expect(await send(f)).toEqual({ ok: true, value: null });
    const kept = sim.state.flows.at(-1)!;
    expect(kept).toMatchObject({ ok: true, flowId: f.flowId, domain: FIRENZE });
    expect(kept.flow!.totalCents).toBe(4200 + 10_000 + 25_000 + 17_550);
    // The same flow again (a retry) is answered OK and kept once; the same id with other content is refused.
    const before = sim.state.flows.length;
    expect(await send(f)).toEqual({ ok: true, value: null });
    expect(sim.state.flows.length).toBe(before);
    expect(await send(flow(f.flowId, lines.slice(1)))).toMatchObject({ ok: false, fault: { code: 'PPT_SEMANTICA', description: expect.stringMatching(/already received, with other content/) } });
  });

  it('refuses totals that differ from the payments, a payment it never saw, an amount that differs, a bad identifier, wrong credentials', async () => {
    const p = await pay(1);
    const line = { iuv: p.iuv, iur: p.token, index: 1, amountCents: p.transfers[0]!.amountCents, outcomeCode: '0' as const, outcomeDate: '2025-03-10' };
    const reason = async (f: ReportingFlow, flowId?: string) => {
      const a = await send(f, flowId);
      return a.ok ? 'OK' : `${a.fault.code}: ${a.fault.description}`;
    };
    expect(await reason(flow('2025-03-12TSERVEPSP-0002', [line], line.amountCents + 1))).toMatch(/PPT_SEMANTICA: importoTotalePagamenti/);
    expect(await reason(flow('2025-03-12TSERVEPSP-0003', [{ ...line, iur: 'ffffffffffffffffffffffffffffffff' }]))).toMatch(/not a payment this node saw/);
    expect(await reason(flow('2025-03-12TSERVEPSP-0004', [{ ...line, amountCents: line.amountCents - 1 }]))).toMatch(/reported/);
    expect(await reason(flow('2025-03-12OTHERPSP-0005', [line]))).toMatch(/<dataRegolamento><idPSP>-<unique>/);
    expect(await reason(flow('2025-03-12TSERVEPSP-0006', [line]), '2025-03-12TSERVEPSP-0007')).toMatch(/differs between/);
    expect(await reason(flow('2025-03-12TSERVEPSP-0008', [{ ...line, outcomeCode: '9' }]))).toMatch(/reported 9/);
    const badPassword = await post(
      buildFlowRequest({ ...CRED, password: 'WrongPass1' }, { domain: FIRENZE, flowId: '2025-03-12TSERVEPSP-0009', flowDateTime: '2025-03-12T08:00:00', xml: buildFlowXml(flow('2025-03-12TSERVEPSP-0009', [line])) }),
      'nodoInviaFlussoRendicontazione',
    );
    expect(parseFlowResponse(badPassword.text)).toMatchObject({ ok: false, fault: { code: 'PPT_AUTENTICAZIONE' } });
    const notXml = await post(buildFlowRequest(CRED, { domain: FIRENZE, flowId: 'x', flowDateTime: '2025-03-12T08:00:00', xml: '<a>' }), 'nodoInviaFlussoRendicontazione');
    expect(parseFlowResponse(notXml.text)).toMatchObject({ ok: false, fault: { code: 'PPT_SINTASSI_XSD' } });
    // Every one kept for inspection, with its reason; then the right one is accepted.
    expect(sim.state.flows.filter((f) => !f.ok).length).toBeGreaterThanOrEqual(7);
    expect(await reason(flow('2025-03-12TSERVEPSP-0010', [line]))).toBe('OK');
    now += 1; // the clock is the node's: flows are stamped with it
    expect(sim.state.flows.at(-1)!.at).toBe(now - 1);
  });
});
