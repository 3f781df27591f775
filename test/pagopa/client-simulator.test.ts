// The PSP client against the node simulator over real HTTP: the three operations, the
// node's rules as the switch will meet them (idempotent activation, in progress, already
// paid, paid elsewhere before the outcome), every fault mapped to its ISO code, retries
// of dropped calls, a node that hangs (91), a refused subscription key (configuration).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeTransportError, PspClient, type PspClientConfig, type PspClientDeps } from '../../src/pagopa/client.js';
import { mapFault } from '../../src/pagopa/faults.js';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import type { NodeAnswer, PspIdentity } from '../../src/pagopa/types.js';

const PSP: PspIdentity = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-1' };
const FIRENZE = '01307110484';
const REGIONE = '01386030488';
const ACI = '00493410583';
const SLOW = '77777777701';
const DOWN = '77777777702';

const now = Date.UTC(2026, 10, 30, 9, 0, 0);
// The slow creditor's station outlasts a node that waits 50 ms: PPT_STAZIONE_INT_PA_TIMEOUT at once.
const sim = new NodeSimulator({ psp: PSP, clock: () => now, seed: 7, creditorTimeoutMs: 50 });
let url = '';

beforeAll(async () => {
  url = await sim.start();
});
afterAll(() => sim.stop());

function client(overrides: Partial<PspClientConfig> = {}, deps: PspClientDeps = {}) {
  const waits: number[] = [];
  const config: PspClientConfig = { nodeUrl: url, identity: PSP, pspFiscalCode: '01234567890', timeoutMs: 2000, tokenExpirationMs: 1_800_000, ...overrides };
  const c = new PspClient(config, { clock: () => now, sleep: async (ms) => void waits.push(ms), ...deps });
  return { c, waits };
}

const notice = (fiscalCode: string, n: number) => {
  const creditor = sim.creditors.find((c) => c.fiscalCode === fiscalCode)!;
  return { creditor, position: creditor.positions[n]! };
};

function fault<T>(a: NodeAnswer<T>) {
  if (a.ok) throw new Error('expected a fault');
  return { node: a.fault.code, ...(a.fault.originalFaultCode ? { original: a.fault.originalFaultCode } : {}), iso: mapFault(a.fault).iso };
}

describe('verify, activate, outcome against the simulator', () => {
  it('pays a notice of two transfers: verify, activate, outcome OK; then it is paid (80)', async () => {
    const { c } = client();
    const { position } = notice(FIRENZE, 2); // TARI with TEFA
    const qr = { fiscalCode: FIRENZE, noticeNumber: position.noticeNumber };

    const verified = await c.verify(qr);
    expect(verified).toMatchObject({ ok: true, value: { amountCents: position.amountCents, fiscalCodePA: FIRENZE, companyName: 'Comune di Firenze', description: position.description } });

    const key = c.keyFor('T0001', 'RRN000000001');
    const activated = await c.activate({ idempotencyKey: key, ...qr, amountCents: position.amountCents });
    if (!activated.ok) throw new Error(activated.fault.code);
    expect(activated.value.totalAmountCents).toBe(position.amountCents);
    expect(activated.value.creditorReferenceId).toBe(position.noticeNumber.slice(1));
    expect(activated.value.transfers).toEqual(position.transfers);
    expect(activated.value.paymentToken).toMatch(/^.{1,35}$/);

    // A retried 0200: the same key and parameters give the same activation.
    const again = await c.activate({ idempotencyKey: key, ...qr, amountCents: position.amountCents });
    expect(again).toEqual(activated);
    // Another terminal meanwhile: in progress.
    expect(fault(await c.activate({ idempotencyKey: c.keyFor('T0002', 'RRN000000009'), ...qr, amountCents: position.amountCents }))).toEqual({ node: 'PPT_PAGAMENTO_IN_CORSO', iso: '81' });

    const outcome = await c.sendOutcome({
      idempotencyKey: key,
      paymentToken: activated.value.paymentToken,
      outcome: 'OK',
      details: { feeCents: 150, applicationDate: '2026-11-30', transferDate: '2026-12-01' },
    });
    expect(outcome).toEqual({ ok: true, value: {} });
    expect(sim.state.payments().map((p) => p.noticeNumber)).toContain(position.noticeNumber);
    expect(fault(await c.verify(qr))).toEqual({ node: 'PPT_PAGAMENTO_DUPLICATO', iso: '80' });
  });

  it('an outcome after someone else paid: PPT_PAGAMENTO_DUPLICATO (the switch refunds)', async () => {
    const { c } = client();
    const { position } = notice(REGIONE, 0);
    const key = c.keyFor('T0003', 'RRN000000003');
    const activated = await c.activate({ idempotencyKey: key, fiscalCode: REGIONE, noticeNumber: position.noticeNumber, amountCents: position.amountCents });
    if (!activated.ok) throw new Error(activated.fault.code);
    sim.markPaidElsewhere(REGIONE, position.noticeNumber);
    const late = await c.sendOutcome({ idempotencyKey: key, paymentToken: activated.value.paymentToken, outcome: 'OK', details: { feeCents: 0, applicationDate: '2026-11-30', transferDate: '2026-12-01' } });
    expect(fault(late)).toEqual({ node: 'PPT_PAGAMENTO_DUPLICATO', iso: '80' });
  });

  it('the same key with another amount: PPT_ERRORE_IDEMPOTENZA (94)', async () => {
    const { c } = client();
    const { position } = notice(ACI, 1);
    const key = c.keyFor('T0004', 'RRN000000004');
    const qr = { fiscalCode: ACI, noticeNumber: position.noticeNumber };
    expect((await c.activate({ idempotencyKey: key, ...qr, amountCents: position.amountCents })).ok).toBe(true);
    expect(fault(await c.activate({ idempotencyKey: key, ...qr, amountCents: position.amountCents + 1 }))).toEqual({ node: 'PPT_ERRORE_IDEMPOTENZA', iso: '94' });
  });
});

describe("the node's faults, mapped", () => {
  it.each([
    ['an unknown creditor', () => ({ fiscalCode: '99999999999', noticeNumber: notice(FIRENZE, 0).position.noticeNumber }), { node: 'PPT_DOMINIO_SCONOSCIUTO', iso: '25' }],
    ["a creditor whose station is down", () => ({ fiscalCode: DOWN, noticeNumber: notice(DOWN, 0).position.noticeNumber }), { node: 'PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE', iso: '91' }],
    ["a creditor slower than the node waits", () => ({ fiscalCode: SLOW, noticeNumber: notice(SLOW, 0).position.noticeNumber }), { node: 'PPT_STAZIONE_INT_PA_TIMEOUT', iso: '91' }],
  ])('verify of %s', async (_what, qr, expected) => {
    const { c } = client();
    expect(fault(await c.verify(qr()))).toMatchObject(expected);
  });

  it('an expired and a cancelled notice: the codes of the creditor as the node relays them', async () => {
    const { c } = client();
    const expired = fault(await c.verify({ fiscalCode: FIRENZE, noticeNumber: notice(FIRENZE, 5).position.noticeNumber }));
    const cancelled = fault(await c.verify({ fiscalCode: FIRENZE, noticeNumber: notice(FIRENZE, 6).position.noticeNumber }));
    expect([expired.iso, cancelled.iso]).toEqual(['54', '82']);
  });

  it('a wrong password: PPT_AUTENTICAZIONE, a configuration error (96)', async () => {
    const { c } = client({ identity: { ...PSP, password: 'WrongPass1' } });
    const f = fault(await c.verify({ fiscalCode: FIRENZE, noticeNumber: notice(FIRENZE, 0).position.noticeNumber }));
    expect(f).toEqual({ node: 'PPT_AUTENTICAZIONE', iso: '96' });
  });

  it('an outcome for a token the node never gave: PPT_TOKEN_SCONOSCIUTO (96)', async () => {
    const { c } = client();
    expect(fault(await c.sendOutcome({ idempotencyKey: c.keyFor('T9', 'x'), paymentToken: 'nosuchtoken', outcome: 'KO' }))).toEqual({ node: 'PPT_TOKEN_SCONOSCIUTO', iso: '96' });
  });
});

describe('transport failures against the simulator', () => {
  it('a node dropping two calls then answering: the third attempt verifies', async () => {
    const { c, waits } = client();
    const before = sim.state.calls.verifyPaymentNotice;
    sim.failNext(2, 'drop');
    const { position } = notice(FIRENZE, 3);
    expect(await c.verify({ fiscalCode: FIRENZE, noticeNumber: position.noticeNumber })).toMatchObject({ ok: true, value: { amountCents: position.amountCents } });
    expect(sim.state.calls.verifyPaymentNotice - before).toBe(3);
    expect(waits).toHaveLength(2);
  });

  it('an activation whose answer was lost is retried with the same key: one activation', async () => {
    const { c } = client();
    const { position } = notice(ACI, 2);
    const key = c.keyFor('T0005', 'RRN000000005');
    const qr = { fiscalCode: ACI, noticeNumber: position.noticeNumber };
    const first = await c.activate({ idempotencyKey: key, ...qr, amountCents: position.amountCents });
    sim.failNext(1, 'drop');
    expect(await c.activate({ idempotencyKey: key, ...qr, amountCents: position.amountCents })).toEqual(first);
  });

  it('a node that never answers: NODE_TIMEOUT, 91', async () => {
    const { c } = client({ timeoutMs: 150 }, { retry: { attempts: 2 } });
    sim.failNext(2, 'hang');
    const err = await c.verify({ fiscalCode: FIRENZE, noticeNumber: notice(FIRENZE, 0).position.noticeNumber }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeTransportError);
    expect(mapFault(err as NodeTransportError)).toMatchObject({ nodeCode: 'NODE_TIMEOUT', code: 'CREDITOR_UNAVAILABLE', iso: '91' });
  });

  it('a refused subscription key: HTTP 401, a configuration error, tried once', async () => {
    const { c, waits } = client({ identity: { ...PSP, subscriptionKey: 'wrong' } });
    await expect(c.verify({ fiscalCode: FIRENZE, noticeNumber: notice(FIRENZE, 0).position.noticeNumber })).rejects.toMatchObject({ code: 'NODE_CONFIGURATION', status: 401 });
    expect(waits).toEqual([]);
  });

  it('injected node failures (PPT_SYSTEM_ERROR) are answers: not retried, 96', async () => {
    const { c } = client();
    sim.failNext(1, 'fault');
    expect(fault(await c.verify({ fiscalCode: FIRENZE, noticeNumber: notice(FIRENZE, 0).position.noticeNumber }))).toEqual({ node: 'PPT_SYSTEM_ERROR', iso: '96' });
  });
});
