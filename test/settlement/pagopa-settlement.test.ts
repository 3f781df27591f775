// Settlement and reporting of pagoPA payments (docs/pagopa.md "Settlement and reporting
// flows"), on the real store (SQLite file or PostgreSQL) against an in-process node
// simulator over HTTP. pagoPA payments are activated at the node by a PspClient, booked
// with store.write (as the payment path books them: entity PAGOPA for creditors outside
// the catalogue, the flagged catalogue entity RTOSCANA for Regione Toscana's notice),
// their outcome sent; one is paid elsewhere meanwhile (refund_due, code 9) and another
// refund_due one is cancelled by the office in its own window (not paid out). Then the
// day is settled and approved: one SCT per creditor and IBAN, its flow accepted by the
// node, the SEPA file and the flows agreeing to the cent; a flow the node could not take
// at approval is sent by the nightly job.
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Finance } from '../../settlement/finance.js';
import type { SettlementFigures } from '../../settlement/figures.js';
import { flowDeadline, sctFlowId } from '../../settlement/pagopa.js';
import { nightly } from '../../settlement/scheduler.js';
import { romeInstant } from '../../src/domain/calendar.js';
import type { PayCommand } from '../../src/ledger/commands.js';
import { paymentPostings } from '../../src/ledger/postings.js';
import { logger } from '../../src/log.js';
import { PspClient } from '../../src/pagopa/client.js';
import { defaultCreditors, type Creditor, type DebtPosition } from '../../src/pagopa/simulator/creditors.js';
import { parseFlow } from '../../src/pagopa/simulator/flow.js';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import type { PspIdentity } from '../../src/pagopa/types.js';
import { elementsOf, parseXml, type DomNode } from '../../src/xml.js';
import { startSwitch, terminalsByCounter, type Switch } from './support.js';
import { itWithXsd, validate } from './xsd.js';

const PSP: PspIdentity = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-settle' };
const DAY = '2026-11-20'; // Friday
const DAY2 = '2026-11-23'; // Monday
const FIRENZE = '01307110484';
const REGIONE = '01386030488';
const ACI = '00493410583';
const CITTA_METROPOLITANA = '80016450480';
/** A valid IBAN for the PAGOPA catalogue entity: never paid, its payments go to the transfers' IBANs. */
const PAGOPA_ENTITY_IBAN = 'IT60X0542811101000000123456';

// The Città Metropolitana receives TEFA shares: a creditor of the node too, so its flows are checked like the others.
const creditors: Creditor[] = [
  ...defaultCreditors(),
  { fiscalCode: CITTA_METROPOLITANA, companyName: 'Città Metropolitana di Firenze', segregationCode: '02', station: 'up', latencyMs: 0, positions: [] },
];
let s: Switch;
let sim: NodeSimulator;
let client: PspClient;
let finance: Finance;

interface Booked {
  paymentId: number;
  publicId: string;
  fiscalCode: string;
  position: DebtPosition;
  token: string;
  terminalId: string;
  excluded: boolean;
}
const booked: Booked[] = [];
let seq = 0;

const positionOf = (fiscalCode: string, n: number) => creditors.find((c) => c.fiscalCode === fiscalCode)!.positions[n]!;

/** Activates a notice at the node, books it as the payment path does, sends its outcome and records the answer. */
async function payPagoPa(date: string, fiscalCode: string, n: number, entityId: string, serviceCode: string, opts: { paidElsewhere?: boolean } = {}): Promise<Booked> {
  const t = terminalsByCounter(s.h)[seq % 3]!;
  const counter = (await s.h.rt.store.getCounter(t.counterId))!;
  const position = positionOf(fiscalCode, n);
  const key = client.keyFor(t.terminalId, `K${++seq}`);
  const activated = await client.activate({ idempotencyKey: key, fiscalCode, noticeNumber: position.noticeNumber, amountCents: position.amountCents });
  if (!activated.ok) throw new Error(`activation refused: ${activated.fault.code}`);
  const a = activated.value;
  const now = s.clock.now;
  const fee = 200;
  const split = { commission: 140, operator: 30, royalty: 30 };
  const cmd: PayCommand = {
    kind: 'pay',
    channel: 'json',
    terminalId: t.terminalId,
    counterId: t.counterId,
    counterKind: counter.kind,
    entityId,
    serviceCode,
    identifier: position.noticeNumber,
    optionId: null,
    payerCf: null,
    amountCents: position.amountCents,
    feeCents: fee,
    split,
    circuitFeeCents: 0,
    circuitFeeMode: null,
    stan: null,
    approvalCode: `P${String(seq).padStart(5, '0')}`,
    publicId: randomUUID(),
    description: position.description,
    bookedAt: now,
    settlementDate: date,
    postings: paymentPostings({ counterId: t.counterId, entityId, amountCents: position.amountCents, feeCents: fee, ...split, circuitFeeCents: 0, circuitFeeMode: null }),
    idempotency: null,
    pagopa: {
      creditorFiscalCode: fiscalCode,
      creditorName: a.companyName,
      noticeNumber: position.noticeNumber,
      iuv: a.creditorReferenceId,
      paymentToken: a.paymentToken,
      idempotencyKey: key,
      activatedAt: now,
      tokenExpiresAt: now + 1_800_000,
      // No sender runs here: the outbox row is nobody's.
      claimedUntil: 0,
      transfers: a.transfers.map((x) => ({ index: x.index, amountCents: x.amountCents, fiscalCode: x.fiscalCodePA, iban: x.iban, remittance: x.remittanceInformation })),
    },
  };
  const r = await s.h.rt.store.write(cmd);
  if (!r.ok || !r.payment) throw new Error(`booking refused: ${JSON.stringify(r)}`);
  if (opts.paidElsewhere) sim.markPaidElsewhere(fiscalCode, position.noticeNumber);
  const outcome = await client.sendOutcome({ idempotencyKey: key, paymentToken: a.paymentToken, outcome: 'OK', details: { feeCents: fee, applicationDate: date, transferDate: date } });
  await s.h.rt.store.recordPagoPaOutcomes([
    {
      paymentId: r.payment.id,
      record: outcome.ok ? { outcome: 'sent', at: s.clock.now, fault: null } : { outcome: 'refund_due', at: s.clock.now, fault: outcome.fault.code },
      event: null,
    },
  ]);
  expect(outcome.ok, `outcome of ${position.noticeNumber}`).toBe(!opts.paidElsewhere);
  const b: Booked = { paymentId: r.payment.id, publicId: r.payment.publicId, fiscalCode, position, token: a.paymentToken, terminalId: t.terminalId, excluded: false };
  booked.push(b);
  return b;
}

/** The SCTs the transfers of the payments not excluded imply: (fiscal code, IBAN) → cents. */
function expectedScts(date: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const b of booked.filter((x) => !x.excluded && dateOf.get(x.paymentId) === date)) {
    for (const t of b.position.transfers) out.set(`${t.fiscalCodePA} ${t.iban}`, (out.get(`${t.fiscalCodePA} ${t.iban}`) ?? 0) + t.amountCents);
  }
  return out;
}
const dateOf = new Map<number, string>();

function figuresOf(date: string): Promise<SettlementFigures> {
  return s.h.rt.store.getWindow(date).then((w) => JSON.parse(w!.figures!) as SettlementFigures);
}

// ---- reading the pain.001 back

const text = (n: DomNode, path: string[]): string => {
  let cur: DomNode | undefined = n;
  for (const name of path) cur = cur && elementsOf(cur).find((c) => c.localName === name);
  return cur?.textContent ?? '';
};

function pain001Transactions(xml: string): { endToEnd: string; cents: number; iban: string; ustrd: string; name: string }[] {
  const doc = parseXml(xml).node as unknown as DomNode;
  const root = elementsOf(doc)[0]!;
  const pmt = elementsOf(elementsOf(root)[0]!).find((c) => c.localName === 'PmtInf')!;
  return elementsOf(pmt)
    .filter((c) => c.localName === 'CdtTrfTxInf')
    .map((tx) => {
      const [euros, cents] = text(tx, ['Amt', 'InstdAmt']).split('.') as [string, string];
      return {
        endToEnd: text(tx, ['PmtId', 'EndToEndId']),
        cents: Number(euros) * 100 + Number(cents),
        iban: text(tx, ['CdtrAcct', 'Id', 'IBAN']),
        ustrd: text(tx, ['RmtInf', 'Ustrd']),
        name: text(tx, ['Cdtr', 'Nm']),
      };
    });
}

beforeAll(async () => {
  s = await startSwitch({ positions: 200, at: [DAY, '09:00:00'] });
  sim = new NodeSimulator({ psp: PSP, clock: () => s.clock.now, seed: 15, creditors });
  const url = await sim.start();
  client = new PspClient(
    { nodeUrl: url, identity: PSP, pspFiscalCode: '01234567890', timeoutMs: 2000, tokenExpirationMs: 1_800_000 },
    { clock: () => s.clock.now, retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 } },
  );
  const config = s.h.config;
  finance = new Finance({ store: s.h.rt.store, payments: s.h.payments, cutoff: config.settlementCutoff, operator: config.operator, files: config.settlementFiles, pagopa: client });
  // The catalogue's place for creditors outside it, and Regione Toscana flagged: its notices go through pagoPA.
  await s.db.run(
    'INSERT INTO entities (id, name, fiscal_code, iban, is_circuit_owner, segregation_code, vat_number, office_code, pagopa) VALUES (?, ?, ?, ?, 0, NULL, NULL, NULL, 1)',
    'PAGOPA',
    'Creditori tramite pagoPA',
    '00000000000',
    PAGOPA_ENTITY_IBAN,
  );
  await s.db.run("INSERT INTO services (code, name, entity_id, amount_kind, identifier_kind) VALUES ('PAGOPA', 'Avvisi pagoPA', 'PAGOPA', 'L', 'notice')");
  await s.db.run("UPDATE entities SET pagopa = 1 WHERE id = 'RTOSCANA'");

  // A circuit payment of the day beside them: its entity is paid to its own IBAN as always.
  const t = terminalsByCounter(s.h)[0]!;
  await s.h.payments.pay(t, { service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 1650 }, null, 'json').catch(() => undefined);

  s.setRome(DAY, '10:00:00');
  const pay = async (fc: string, n: number, entity: string, service: string, opts?: { paidElsewhere?: boolean }) => {
    const b = await payPagoPa(DAY, fc, n, entity, service, opts);
    dateOf.set(b.paymentId, DAY);
    return b;
  };
  await pay(FIRENZE, 0, 'PAGOPA', 'PAGOPA'); // 1 transfer
  await pay(FIRENZE, 2, 'PAGOPA', 'PAGOPA'); // TARI + TEFA: 2 transfers, 2 creditors
  await pay(FIRENZE, 4, 'PAGOPA', 'PAGOPA'); // 5 transfers: Firenze's two IBANs, the Città Metropolitana, the Regione
  await pay(REGIONE, 0, 'RTOSCANA', 'BOLLO'); // a catalogue entity flagged pagopa
  await pay(ACI, 0, 'PAGOPA', 'PAGOPA', { paidElsewhere: true }); // refund_due, not refunded: paid out with code 9
  const cancelled = await pay(FIRENZE, 3, 'PAGOPA', 'PAGOPA', { paidElsewhere: true }); // refund_due, cancelled below
  // The finance office cancels the refund_due one while its window is open: a reversal in it, not paid out.
  s.setRome(DAY, '15:00:00');
  const c = await s.h.rt.store.write({
    kind: 'reverse',
    original: { paymentId: cancelled.paymentId },
    terminalId: cancelled.terminalId,
    at: s.clock.now,
    settlementDate: DAY,
    cancel: { actor: 'finance:anna', reason: 'refunded at the counter' },
  });
  expect(c.ok && c.payment?.reversalKind, JSON.stringify(c)).toBe('reversal');
  cancelled.excluded = true;

  s.setRome('2026-11-21', '09:00:00');
  await finance.run(DAY, 'finance:anna');
  s.setRome('2026-11-21', '09:30:00');
  await finance.approve(DAY, 'finance:anna');
}, 120_000);

afterAll(async () => {
  await sim?.stop();
  await s?.close();
});

describe('the settlement of a day with pagoPA payments', () => {
  it('pays one SCT per creditor fiscal code and IBAN of the transfers, the flow id as its remittance information; the cancelled one is not paid', async () => {
    const f = await figuresOf(DAY);
    const scts = f.creditTransfers.filter((t) => t.party === 'pagopa');
    const expected = expectedScts(DAY);
    expect(new Map(scts.map((t) => [`${t.id} ${t.iban}`, t.amount]))).toEqual(expected);
    // Firenze's two IBANs, the Città Metropolitana, the Regione (its bollo, the building permit's and the ACI notice's shares), ACI.
    expect(scts.length).toBe(5);
    expect(new Set(scts.map((t) => t.id))).toEqual(new Set([FIRENZE, CITTA_METROPOLITANA, REGIONE, ACI]));
    for (const t of scts) expect(t.flowId).toBe(sctFlowId(DAY, PSP.idPSP, t.id, t.iban));
    expect(new Set(scts.map((t) => t.flowId)).size).toBe(scts.length);
    for (const t of scts) expect(t.flowId!.length).toBeLessThanOrEqual(35);
    expect(f.pagopa!.reversedInWindow).toEqual({ count: 1, amount: positionOf(FIRENZE, 3).amountCents });
    expect(f.pagopa!.creditors.find((c) => c.fiscalCode === CITTA_METROPOLITANA)!.name).toBe('Ente 80016450480');
    expect(f.pagopa!.creditors.find((c) => c.fiscalCode === REGIONE)!.name).toBe('Regione Toscana');
  });

  it("keeps the entities' statements, and reduces their own transfers by what goes to pagoPA creditors; money in equals money out", async () => {
    const f = await figuresOf(DAY);
    const paid = booked.filter((b) => !b.excluded);
    const pagopaEntity = f.entities.find((e) => e.entityId === 'PAGOPA')!;
    const regioneShare = positionOf(REGIONE, 0).amountCents;
    const allPagoPa = booked.filter((b) => b.fiscalCode !== REGIONE);
    expect(pagopaEntity.gross).toBe(allPagoPa.reduce((a, b) => a + b.position.amountCents, 0));
    expect(pagopaEntity.reversals).toBe(positionOf(FIRENZE, 3).amountCents);
    expect(pagopaEntity.pagopaTransferred).toBe(paid.filter((b) => b.fiscalCode !== REGIONE).reduce((a, b) => a + b.position.amountCents, 0));
    expect(pagopaEntity.netPayout).toBe(pagopaEntity.pagopaTransferred);
    // Nothing to the PAGOPA entity's own IBAN.
    expect(f.creditTransfers.some((t) => t.party === 'entity' && t.id === 'PAGOPA')).toBe(false);
    const rtoscana = f.entities.find((e) => e.entityId === 'RTOSCANA')!;
    expect(rtoscana.pagopaTransferred).toBe(regioneShare);
    const own = f.creditTransfers.find((t) => t.party === 'entity' && t.id === 'RTOSCANA');
    expect(own?.amount ?? 0).toBe(rtoscana.netPayout - regioneShare);
    // Entities without pagoPA payments carry no pagoPA key.
    for (const e of f.entities.filter((x) => x.entityId !== 'PAGOPA' && x.entityId !== 'RTOSCANA')) expect('pagopaTransferred' in e).toBe(false);
    const sum = (ts: { amount: number }[]) => ts.reduce((a, t) => a + t.amount, 0);
    expect(sum(f.creditTransfers)).toBe(f.totals.creditTransfers);
    expect(sum(f.directDebits) + sum(f.receivables) + Math.max(0, -f.operator.fees)).toBe(sum(f.creditTransfers));
  });

  it('is deterministic: the same figures hash on a rerun', async () => {
    const w = (await s.h.rt.store.getWindow(DAY))!;
    expect(w.status).toBe('approved');
    const { computeFigures } = await import('../../settlement/figures.js');
    const { figuresHash } = await import('../../settlement/run.js');
    const records = await s.h.rt.store.pagopaSettlementOfWindow(DAY);
    const again = computeFigures(
      DAY,
      s.h.config.settlementCutoff,
      await s.h.rt.store.windowSums(DAY),
      await s.h.rt.store.loadCatalogue(),
      new Map((await s.h.rt.store.listCounters()).map((c) => [c.id, c])),
      s.h.config.operator,
      { records, idPSP: PSP.idPSP },
    );
    expect(figuresHash(JSON.stringify(again))).toBe(w.figuresHash);
  });

  it('sends one reporting flow per SCT at approval, and the node accepts every one', async () => {
    const f = await figuresOf(DAY);
    const flows = await s.h.rt.store.pagopaFlows({ date: DAY });
    expect(flows.map((x) => x.flowId).sort()).toEqual(f.creditTransfers.filter((t) => t.party === 'pagopa').map((t) => t.flowId!).sort());
    for (const x of flows) expect({ id: x.flowId, state: x.state, fault: x.lastFault }).toEqual({ id: x.flowId, state: 'accepted', fault: null });
    const received = sim.state.flows.filter((x) => x.flowId.startsWith(DAY));
    expect(received.every((x) => x.ok)).toBe(true);
    expect(new Set(received.map((x) => x.flowId))).toEqual(new Set(flows.map((x) => x.flowId)));
    // The ACI notice paid elsewhere meanwhile: reported with code 9 in both its creditors' flows; the cancelled one nowhere.
    const aci = booked.find((b) => b.fiscalCode === ACI)!;
    const cancelled = booked.find((b) => b.excluded)!;
    const lines = received.flatMap((x) => x.flow!.payments);
    expect(lines.filter((l) => l.iur === aci.token).map((l) => l.outcomeCode)).toEqual(['9', '9']);
    expect(lines.some((l) => l.iur === cancelled.token)).toBe(false);
    // Every transfer of every payment paid out is reported once, with its amount.
    const expectedLines = booked.filter((b) => !b.excluded).flatMap((b) => b.position.transfers.map((t) => `${b.token} ${t.index} ${t.amountCents}`));
    expect(lines.map((l) => `${l.iur} ${l.index} ${l.amountCents}`).sort()).toEqual(expectedLines.sort());
  });

  it('THE RECONCILIATION: the flows add up, to the cent, to the pagoPA SCTs of the SEPA file, and each flow equals its SCT', async () => {
    s.setRome('2026-11-21', '10:00:00');
    const doc = await finance.sepaFile(DAY, 'pain.001');
    const txs = pain001Transactions(doc.body as string);
    const flows = await s.h.rt.store.pagopaFlows({ date: DAY });
    let flowsTotal = 0;
    for (const flow of flows) {
      const parsed = parseFlow(flow.xml);
      if (!parsed.ok) throw new Error(parsed.reason);
      const sum = parsed.flow.payments.reduce((a, p) => a + p.amountCents, 0);
      expect(parsed.flow.totalCents).toBe(sum);
      expect(parsed.flow.totalCents).toBe(flow.totalCents);
      expect(parsed.flow.flowId).toBe(flow.flowId);
      const tx = txs.filter((t) => t.ustrd === flow.flowId);
      expect(tx.length, flow.flowId).toBe(1);
      expect({ cents: tx[0]!.cents, iban: tx[0]!.iban, endToEnd: tx[0]!.endToEnd }).toEqual({ cents: sum, iban: flow.iban, endToEnd: flow.flowId });
      flowsTotal += sum;
    }
    const pagopaTxs = txs.filter((t) => flows.some((f) => f.flowId === t.ustrd));
    expect(pagopaTxs.length).toBe(flows.length);
    expect(pagopaTxs.reduce((a, t) => a + t.cents, 0)).toBe(flowsTotal);
    expect(flowsTotal).toBe([...expectedScts(DAY).values()].reduce((a, b) => a + b, 0));
  });

  itWithXsd('the pain.001 with pagoPA SCTs validates against the XSDs', async () => {
    const doc = await finance.sepaFile(DAY, 'pain.001');
    expect(await validate(doc.body as string, 'pain.001')).toEqual([]);
    expect(await validate(doc.body as string, 'pain.001-epc')).toEqual([]);
  });

  it('the finance office reads the flows and the pagoPA section over HTTP; an entity may not', async () => {
    const financeToken = s.h.userToken('finance');
    const res = await request(s.h.app).get(`/v1/settlements/${DAY}/pagopa-flows`).set({ Authorization: `Bearer ${financeToken}` });
    expect(res.status, res.text).toBe(200);
    expect(res.body.scts).toBe(5);
    expect(res.body.deadline).toBe(new Date(flowDeadline(DAY)).toISOString());
    expect(res.body.flows.map((x: { state: string }) => x.state)).toEqual(Array(5).fill('accepted'));
    expect(res.body.flows[0]).not.toHaveProperty('xml');
    const admin = await request(s.h.app).get(`/v1/settlements/${DAY}/pagopa-flows`).set({ Authorization: `Bearer ${s.h.userToken('admin')}` });
    expect(admin.status).toBe(200);
    const entity = await request(s.h.app).get(`/v1/settlements/${DAY}/pagopa-flows`).set({ Authorization: `Bearer ${s.h.userToken('ente-pisa')}` });
    expect(entity.status).toBe(403);
    const w = await request(s.h.app).get(`/v1/settlements/${DAY}`).set({ Authorization: `Bearer ${financeToken}` });
    expect(w.status).toBe(200);
    const firenze = w.body.pagopa.creditors.find((c: { fiscalCode: string }) => c.fiscalCode === FIRENZE);
    expect(firenze.scts.length).toBe(2);
    expect(firenze.scts.every((x: { flow: { state: string } }) => x.flow.state === 'accepted')).toBe(true);
  });
});

describe('a flow the node could not take at approval', () => {
  it('stays pending, is sent again by the nightly job and accepted; past D+2 a pending flow is an error', async () => {
    s.setRome(DAY2, '11:00:00');
    const b = await payPagoPa(DAY2, FIRENZE, 1, 'PAGOPA', 'PAGOPA');
    dateOf.set(b.paymentId, DAY2);
    s.setRome('2026-11-24', '09:00:00');
    await finance.run(DAY2, 'finance:anna');
    // The node is down at approval: every attempt's connection is dropped (2 attempts of the one flow).
    sim.failNext(2, 'drop');
    await finance.approve(DAY2, 'finance:anna');
    let [flow] = await s.h.rt.store.pagopaFlows({ date: DAY2 });
    expect(flow).toMatchObject({ state: 'pending', attempts: 1, totalCents: positionOf(FIRENZE, 1).amountCents });
    expect(flow!.lastFault).toMatch(/^NODE_UNREACHABLE/);

    // Past D+2 with the node still down: the nightly run says so as an error, and the flow waits.
    const errors = vi.spyOn(logger, 'error');
    s.clock.now = flowDeadline(DAY2) + 1000;
    sim.failNext(2, 'drop');
    const clock = () => s.clock.now;
    await nightly(s.h.rt.store, s.h.config.settlementCutoff, s.h.config.operator, clock, client);
    expect(errors.mock.calls.some((call) => (call as unknown[])[0] === 'pagoPA flow not accepted by the end of D+2')).toBe(true);
    errors.mockRestore();
    [flow] = await s.h.rt.store.pagopaFlows({ date: DAY2 });
    expect(flow).toMatchObject({ state: 'pending', attempts: 2 });

    // The next night the node answers: accepted.
    s.clock.now += 86_400_000;
    await nightly(s.h.rt.store, s.h.config.settlementCutoff, s.h.config.operator, clock, client);
    [flow] = await s.h.rt.store.pagopaFlows({ date: DAY2 });
    expect(flow).toMatchObject({ state: 'accepted', attempts: 3, lastFault: null });
    expect(sim.state.flows.filter((x) => x.flowId === flow!.flowId && x.ok).length).toBe(1);
    // The day before's flows are not sent again.
    expect((await s.h.rt.store.pagopaFlows({ date: DAY })).every((x) => x.attempts === 1)).toBe(true);
    expect(romeInstant(DAY2)).toBeLessThan(s.clock.now);
  });
});
