// The PSP's reporting flow: the builder against the schema's order and types, its totals
// and flow ids (fast-check), and the flow of two notices paid through the client, sent
// to the node simulator over real HTTP: accepted with its totals, refused with the
// reason when wrong, accepted once when resent.
import fc from 'fast-check';
import { create } from 'xmlbuilder2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PspClient } from '../../src/pagopa/client.js';
import { FLOW_NAMESPACE, buildFlow, flowId, sctRemittanceInformation, writeFlowXml, type FlowInput, type FlowTransfer } from '../../src/pagopa/flow.js';
import { amountToCents } from '../../src/pagopa/soap.js';
import { parseFlow } from '../../src/pagopa/simulator/flow.js';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import type { PspIdentity } from '../../src/pagopa/types.js';

interface DomNode {
  nodeType: number;
  localName?: string | null;
  namespaceURI?: string | null;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
}
const elements = (n: DomNode) => Array.from(n.childNodes).filter((c) => c.nodeType === 1);
const names = (n: DomNode) => elements(n).map((c) => c.localName);
const child = (n: DomNode, name: string) => elements(n).find((c) => c.localName === name)!;
const text = (n: DomNode, name: string) => (child(n, name).textContent ?? '').trim();
const rootOf = (xml: string) => create(xml).root().node as unknown as DomNode;

const FIRENZE = '01307110484';
const now = Date.UTC(2026, 10, 30, 9, 0, 0);

const input = (transfers: FlowTransfer[], over: Partial<FlowInput> = {}): FlowInput => ({
  settlementDate: '2026-12-01',
  idPSP: 'TSERVEPSP',
  pspName: 'Tserve PSP',
  creditor: { fiscalCode: FIRENZE, name: 'Comune di Firenze' },
  sctReference: 'SCT0001',
  createdAt: now,
  transfers,
  ...over,
});

const line = (n: number, amountCents: number, outcome: 0 | 3 | 9 = 0): FlowTransfer => ({
  iuv: `01000000000000${String(n).padStart(3, '0')}`,
  paymentToken: `tok${n}`,
  transferIndex: 1,
  amountCents,
  outcome,
  outcomeDate: '2026-11-30',
});

describe('the builder', () => {
  it('writes FlussoRiversamento 1.0.4: elements in the schema order, in its namespace, values of its types', () => {
    const f = buildFlow(input([line(1, 4200), { ...line(2, 28_500), transferIndex: 2 }, line(3, 5, 9)]));
    expect(f).toMatchObject({ flowId: '2026-12-01TSERVEPSP-SCT0001', creditorFiscalCode: FIRENZE, flowDateTime: '2026-11-30T09:00:00Z', totalCents: 32_705, count: 3 });
    const root = rootOf(f.xml);
    expect(root.localName).toBe('FlussoRiversamento');
    expect(root.namespaceURI).toBe(FLOW_NAMESPACE);
    expect(names(root)).toEqual([
      'versioneOggetto',
      'identificativoFlusso',
      'dataOraFlusso',
      'identificativoUnivocoRegolamento',
      'dataRegolamento',
      'istitutoMittente',
      'istitutoRicevente',
      'numeroTotalePagamenti',
      'importoTotalePagamenti',
      'datiSingoliPagamenti',
      'datiSingoliPagamenti',
      'datiSingoliPagamenti',
    ]);
    // Qualified everywhere (elementFormDefault="qualified").
    const all = (n: DomNode): DomNode[] => elements(n).flatMap((c) => [c, ...all(c)]);
    expect(all(root).every((e) => e.namespaceURI === FLOW_NAMESPACE)).toBe(true);
    expect(text(root, 'versioneOggetto')).toBe('1.0');
    expect(text(root, 'identificativoFlusso')).toMatch(/^[a-zA-Z0-9\-_]{1,35}$/);
    expect(Number.isNaN(Date.parse(text(root, 'dataOraFlusso')))).toBe(false);
    expect(text(root, 'identificativoUnivocoRegolamento')).toBe('SCT0001');
    expect(text(root, 'dataRegolamento')).toBe('2026-12-01');
    const sender = child(root, 'istitutoMittente');
    expect(names(sender)).toEqual(['identificativoUnivocoMittente', 'denominazioneMittente']);
    expect(names(child(sender, 'identificativoUnivocoMittente'))).toEqual(['tipoIdentificativoUnivoco', 'codiceIdentificativoUnivoco']);
    expect(text(child(sender, 'identificativoUnivocoMittente'), 'tipoIdentificativoUnivoco')).toBe('B');
    expect(text(child(sender, 'identificativoUnivocoMittente'), 'codiceIdentificativoUnivoco')).toBe('TSERVEPSP');
    expect(text(sender, 'denominazioneMittente')).toBe('Tserve PSP');
    const receiver = child(root, 'istitutoRicevente');
    expect(names(receiver)).toEqual(['identificativoUnivocoRicevente', 'denominazioneRicevente']);
    expect(text(child(receiver, 'identificativoUnivocoRicevente'), 'tipoIdentificativoUnivoco')).toBe('G');
    expect(text(child(receiver, 'identificativoUnivocoRicevente'), 'codiceIdentificativoUnivoco')).toBe(FIRENZE);
    expect(text(receiver, 'denominazioneRicevente')).toBe('Comune di Firenze');
    expect(text(root, 'numeroTotalePagamenti')).toBe('3');
    expect(text(root, 'importoTotalePagamenti')).toBe('327.05');
    const payments = elements(root).filter((e) => e.localName === 'datiSingoliPagamenti');
    for (const p of payments) {
      expect(names(p)).toEqual([
        'identificativoUnivocoVersamento',
        'identificativoUnivocoRiscossione',
        'indiceDatiSingoloPagamento',
        'singoloImportoPagato',
        'codiceEsitoSingoloPagamento',
        'dataEsitoSingoloPagamento',
      ]);
      expect(text(p, 'singoloImportoPagato')).toMatch(/^\d+\.\d{2}$/);
      expect(text(p, 'indiceDatiSingoloPagamento')).toMatch(/^[1-5]$/);
      expect(text(p, 'dataEsitoSingoloPagamento')).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    expect(payments.map((p) => [text(p, 'identificativoUnivocoRiscossione'), text(p, 'indiceDatiSingoloPagamento'), text(p, 'singoloImportoPagato'), text(p, 'codiceEsitoSingoloPagamento')])).toEqual([
      ['tok1', '1', '42.00', '0'],
      ['tok2', '2', '285.00', '0'],
      ['tok3', '1', '0.05', '9'],
    ]);
    // The node's own parser reads what the PSP wrote.
    const parsed = parseFlow(f.xml);
    expect(parsed).toMatchObject({ ok: true, flow: { flowId: f.flowId, totalCents: 32_705, totalPayments: 3, receiverId: FIRENZE, senderId: 'TSERVEPSP' } });
  });

  it('leaves out the optional names; refuses what the schema or the spec does not allow', () => {
    const { pspName: _, ...noName } = input([line(1, 100)]);
    const root = rootOf(buildFlow(noName).xml);
    expect(names(child(root, 'istitutoMittente'))).toEqual(['identificativoUnivocoMittente']);
    expect(() => buildFlow(input([]))).toThrow(/at least one/);
    expect(() => buildFlow(input([line(1, 0)]))).toThrow(/at least 1 cent/);
    expect(() => buildFlow(input([line(1, 12.5)]))).toThrow(/at least 1 cent/);
    expect(() => buildFlow(input([{ ...line(1, 100), transferIndex: 6 }]))).toThrow(/1\.\.5/);
    expect(() => buildFlow(input([{ ...line(1, 100), outcome: 4 as 0 }]))).toThrow(/0, 3 or 9/);
    expect(() => buildFlow(input([{ ...line(1, 100), outcomeDate: '2026-02-30' }]))).toThrow(/not a date/);
    expect(() => buildFlow(input([line(1, 100), line(1, 200)]))).toThrow(/listed twice/);
    expect(() => buildFlow(input([{ ...line(1, 100), paymentToken: 'x'.repeat(36) }]))).toThrow(/1\.\.35/);
    expect(() => buildFlow(input([line(1, 99_999_999_999), line(2, 1)]))).toThrow(/split the flow/);
    expect(() => buildFlow(input([line(1, 100)], { pspName: 'AB' }))).toThrow(/3\.\.70/);
  });

  it('total = the sum of the transfers, count = their number, every amount round-trips by digits (fast-check)', () => {
    const transfers = fc.uniqueArray(
      fc.record({
        n: fc.integer({ min: 1, max: 999 }),
        amountCents: fc.integer({ min: 1, max: 5_000_000_000 }),
        index: fc.integer({ min: 1, max: 5 }),
        outcome: fc.constantFrom(0 as const, 3 as const, 9 as const),
      }),
      { minLength: 1, maxLength: 12, selector: (t) => `${t.n} ${t.index}` },
    );
    fc.assert(
      fc.property(transfers, (ts) => {
        const f = buildFlow(input(ts.map((t) => ({ ...line(t.n, t.amountCents, t.outcome), transferIndex: t.index }))));
        const sum = ts.reduce((s, t) => s + t.amountCents, 0);
        expect(f.totalCents).toBe(sum);
        expect(f.count).toBe(ts.length);
        const root = rootOf(f.xml);
        expect(amountToCents(text(root, 'importoTotalePagamenti'))).toBe(sum);
        expect(Number(text(root, 'numeroTotalePagamenti'))).toBe(ts.length);
        const amounts = elements(root)
          .filter((e) => e.localName === 'datiSingoliPagamenti')
          .map((p) => amountToCents(text(p, 'singoloImportoPagato')));
        expect(amounts).toEqual(ts.map((t) => t.amountCents));
      }),
      { numRuns: 150 },
    );
  });

  it('flow id: <YYYY-MM-DD><idPSP>-<unique>, at most 35 characters, the SCT remittance information (fast-check)', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9_]{1,30}$/);
    const day = fc.date({ min: new Date(Date.UTC(2020, 0, 1)), max: new Date(Date.UTC(2099, 11, 31)), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
    fc.assert(
      fc.property(day, id, id, (date, psp, unique) => {
        const length = 10 + psp.length + 1 + unique.length;
        if (length > 35) {
          expect(() => flowId(date, psp, unique)).toThrow(/1\.\.35/);
          return;
        }
        const made = flowId(date, psp, unique);
        expect(made).toBe(`${date}${psp}-${unique}`);
        expect(made).toMatch(/^\d{4}-\d{2}-\d{2}[A-Za-z0-9_]+-[A-Za-z0-9_]+$/);
        expect(made.length).toBeLessThanOrEqual(35);
        expect(sctRemittanceInformation(made)).toBe(made);
      }),
      { numRuns: 300 },
    );
    expect(flowId('2026-12-01', 'TSERVEPSP', 'X'.repeat(15))).toHaveLength(35);
    expect(() => flowId('2026-12-01', 'TSERVEPSP', 'X'.repeat(16))).toThrow(/\(36\)/);
    expect(() => flowId('2026-13-01', 'TSERVEPSP', 'A')).toThrow(/not a date/);
    expect(() => flowId('2026-12-01', 'TSERVEPSP', '')).toThrow(/empty/);
    expect(() => flowId('2026-12-01', 'TSERVEPSP', 'a b')).toThrow(/a-z A-Z 0-9/);
    // The unique part defaults to the SCT's reference.
    expect(buildFlow(input([line(1, 1)], { sctReference: 'REF9' })).flowId).toBe('2026-12-01TSERVEPSP-REF9');
    expect(buildFlow(input([line(1, 1)], { unique: 'U1' })).flowId).toBe('2026-12-01TSERVEPSP-U1');
  });
});

describe('sent to the node simulator over HTTP', () => {
  const PSP: PspIdentity = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-1' };
  const sim = new NodeSimulator({ psp: PSP, clock: () => now, seed: 11 });
  let client: PspClient;

  beforeAll(async () => {
    const nodeUrl = await sim.start();
    client = new PspClient({ nodeUrl, identity: PSP, pspFiscalCode: '01234567890', timeoutMs: 2000, tokenExpirationMs: 1_800_000 }, { clock: () => now, sleep: async () => {} });
  });
  afterAll(() => sim.stop());

  /** verify, activate, outcome OK through the client: the transfers to Firenze, as settlement will know them. */
  async function pay(n: number, terminalKey: string): Promise<FlowTransfer[]> {
    const position = sim.creditors.find((c) => c.fiscalCode === FIRENZE)!.positions[n]!;
    const qr = { fiscalCode: FIRENZE, noticeNumber: position.noticeNumber };
    expect((await client.verify(qr)).ok).toBe(true);
    const key = client.keyFor('T0001', terminalKey);
    const a = await client.activate({ idempotencyKey: key, ...qr, amountCents: position.amountCents });
    if (!a.ok) throw new Error(a.fault.code);
    const o = await client.sendOutcome({
      idempotencyKey: key,
      paymentToken: a.value.paymentToken,
      outcome: 'OK',
      details: { feeCents: 100, applicationDate: '2026-11-30', transferDate: '2026-12-01' },
    });
    expect(o).toEqual({ ok: true, value: {} });
    return a.value.transfers
      .filter((t) => t.fiscalCodePA === FIRENZE)
      .map((t) => ({ iuv: a.value.creditorReferenceId, paymentToken: a.value.paymentToken, transferIndex: t.index, amountCents: t.amountCents, outcome: 0, outcomeDate: '2026-11-30' }));
  }

  let paid: FlowTransfer[] = [];
  beforeAll(async () => {
    // TARI (Firenze's 285.00 + the Città Metropolitana's 14.25: only Firenze's is in its flow) and a COSAP of 310.00.
    paid = [...(await pay(2, 'RRN000000101')), ...(await pay(3, 'RRN000000102'))];
  });

  const accepted = (id: string) => sim.state.flows.filter((f) => f.ok && f.flowId === id);

  it('the flow of two paid notices is accepted and kept with its totals', async () => {
    expect(paid.map((t) => t.amountCents)).toEqual([28_500, 31_000]);
    const f = buildFlow(input(paid, { sctReference: 'SCT20261201A' }));
    expect(f).toMatchObject({ totalCents: 59_500, count: 2 });
    expect(await client.sendFlow(f)).toEqual({ ok: true, value: null });
    const kept = accepted(f.flowId);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ domain: FIRENZE, flow: { totalCents: 59_500, totalPayments: 2, settlementReference: 'SCT20261201A', settlementDate: '2026-12-01' } });
    expect(kept[0]!.flow!.payments.map((p) => [p.iur, p.index, p.amountCents, p.outcomeCode])).toEqual(paid.map((t) => [t.paymentToken, t.transferIndex, t.amountCents, '0']));
  });

  it('resent identical (a retry after a lost answer, or rebuilt later): accepted once; the same id with other content is refused', async () => {
    const f = buildFlow(input(paid, { sctReference: 'SCT20261201B' }));
    expect(await client.sendFlow(f)).toEqual({ ok: true, value: null });
    expect(await client.sendFlow(f)).toEqual({ ok: true, value: null });
    // Rebuilt an hour later: only dataOraFlusso differs.
    expect(await client.sendFlow(buildFlow(input(paid, { sctReference: 'SCT20261201B', createdAt: now + 3_600_000 })))).toEqual({ ok: true, value: null });
    // The node dropped the connection once: the client resends, the node keeps one.
    sim.state.failNext(1, 'drop');
    expect(await client.sendFlow(f)).toEqual({ ok: true, value: null });
    expect(accepted(f.flowId)).toHaveLength(1);
    const other = buildFlow(input(paid.slice(0, 1), { sctReference: 'SCT20261201B' }));
    expect(await client.sendFlow(other)).toMatchObject({ ok: false, fault: { code: 'PPT_SEMANTICA', description: expect.stringMatching(/already received, with other content/) } });
    expect(accepted(f.flowId)).toHaveLength(1);
  });

  it('refused with the reason: a total that does not match, a token the node never issued', async () => {
    const good = buildFlow(input(paid, { sctReference: 'SCT20261201C' }));
    const parsed = parseFlow(good.xml);
    if (!parsed.ok) throw new Error(parsed.reason);
    const calls = sim.state.calls.nodoInviaFlussoRendicontazione;
    const wrongTotal = { ...good, xml: writeFlowXml({ ...parsed.flow, totalCents: good.totalCents + 1 }) };
    expect(await client.sendFlow(wrongTotal)).toMatchObject({
      ok: false,
      fault: { code: 'PPT_SEMANTICA', description: expect.stringMatching(/importoTotalePagamenti 59501 cents, payments sum to 59500/) },
    });
    const unknown = buildFlow(input([...paid, { ...paid[1]!, paymentToken: 'ffffffffffffffffffffffffffffffff' }], { sctReference: 'SCT20261201D' }));
    expect(await client.sendFlow(unknown)).toMatchObject({ ok: false, fault: { code: 'PPT_SEMANTICA', description: expect.stringMatching(/IUR ffffffffffffffffffffffffffffffff is not a payment this node saw/) } });
    expect(accepted(good.flowId)).toHaveLength(0);
    expect(sim.state.flows.filter((f) => !f.ok && (f.flowId === good.flowId || f.flowId === unknown.flowId)).map((f) => f.reason)).toHaveLength(2);
    // Refusals are answers, not retried: one call each. And the right flow is then accepted.
    expect(sim.state.calls.nodoInviaFlussoRendicontazione - calls).toBe(2);
    expect(await client.sendFlow(good)).toEqual({ ok: true, value: null });
  });
});
