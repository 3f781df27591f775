// Routing and verify through pagoPA (docs/pagopa.md "Routing and verify"): a switch with
// the bridge on, against an in-process node simulator over real HTTP, through the JSON
// API and ISO 8583 (the terminal simulator's client on a real socket). A notice of a
// creditor outside the catalogue is verified by the node (EF in field 48), every fault
// comes back as its code, a catalogue entity without the flag keeps the circuit's path,
// a payment of such a notice is refused with nothing booked, and without the bridge the
// same QR codes get today's answers.
import { pspEnv } from './psp-env.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TerminalKeys } from '../../src/auth/terminal-keys.js';
import { createApp } from '../../src/http/app.js';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import type { PspIdentity } from '../../src/pagopa/types.js';
import { PagoPaBridge } from '../../src/payments/pagopa.js';
import { Payments } from '../../src/payments/service.js';
import { PspClient } from '../../src/pagopa/client.js';
import { formatPagoPaQr } from '../../src/domain/qr.js';
import { buildNoticeNumber } from '../../src/domain/notice.js';
import { getField } from '../../terminals/iso8583/index.js';
import { IsoServer } from '../../terminals/server.js';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import { testClock } from '../helpers/clock.js';
import { api, startHarness, type Harness } from '../helpers/harness.js';
import { openTestDb } from '../helpers/store.js';
import request from 'supertest';

const PSP: PspIdentity = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-verify' };
const FIRENZE = '01307110484';
/** In the demo catalogue (Regione Toscana), without the pagopa flag. */
const REGIONE = '01386030488';

// The node waits 50 ms for a creditor's station: a slow station is PPT_STAZIONE_INT_PA_TIMEOUT at once.
const sim = new NodeSimulator({ psp: PSP, clock: testClock, seed: 11, creditorTimeoutMs: 50 });
let h: Harness;
let iso: IsoServer;
let terminal: IsoTerminal;
let token: string;

const firenze = (n: number) => sim.creditors.find((c) => c.fiscalCode === FIRENZE)!.positions[n]!;
const qrOf = (fiscalCode: string, p: { noticeNumber: string; amountCents: number }) => formatPagoPaQr(p.noticeNumber, fiscalCode, p.amountCents);

beforeAll(async () => {
  const url = await sim.start();
  h = await startHarness({
    positions: 200,
    env: {
      ...pspEnv(url, PSP),
    },
  });
  iso = new IsoServer(h.payments, new TerminalKeys(h.rt.store, h.rt.kek), { host: '127.0.0.1', port: 0, clock: h.rt.clock });
  const port = await iso.listen();
  const [jsonTerminal, isoTerminal] = h.credentials.terminals;
  token = h.terminalToken(jsonTerminal!.terminalId);
  terminal = new IsoTerminal(
    { terminalId: isoTerminal!.terminalId, counterId: isoTerminal!.counterId, tmk: Buffer.from(isoTerminal!.tmk, 'hex') },
    { host: '127.0.0.1', port, timeoutMs: 20_000, clock: h.rt.clock },
  );
  await terminal.connect();
  expect((await terminal.signOn()).code).toBe('00');
});

afterAll(async () => {
  terminal?.close();
  await iso?.close();
  await h?.close();
  await sim.stop();
});

const verify = (body: object, t = token) => api(h).post('/v1/verify').set('authorization', `Bearer ${t}`).send(body);
const pay = (body: object, key: string) => api(h).post('/v1/payments').set('authorization', `Bearer ${token}`).set('idempotency-key', key).send(body);
const nodeCalls = () => ({ ...sim.state.calls });

describe('a notice of a creditor outside the catalogue, verified through the node', () => {
  it('JSON: amount, due date, description and the creditor as the node gives them; fee 0; no entity or service of the catalogue', async () => {
    const p = firenze(1); // school meals, with a due date
    const res = await verify({ qr: qrOf(FIRENZE, p) });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      entity: 'Comune di Firenze',
      entityId: null,
      service: null,
      description: p.description,
      amountDue: p.amountCents,
      fee: 0,
      dueDate: '2099-03-31',
      status: 'PAYABLE',
      pagopa: { creditorFiscalCode: FIRENZE, companyName: 'Comune di Firenze', officeName: 'Direzione Risorse Finanziarie' },
    });
  });

  it('ISO 8583: the 0110 carries the amount in field 4, fee 0 in field 28, and EN, DS, AD and EF in field 48', async () => {
    const p = firenze(2); // TARI with TEFA: the verify shows the total
    const r = await terminal.inquiry({ qr: qrOf(FIRENZE, p) });
    expect(r.code, r.tlv.get('ER')).toBe('00');
    expect(r.macOk).toBe(true);
    expect(getField({ fields: r.fields }, 4)).toBe(p.amountCents);
    expect(getField({ fields: r.fields }, 28)).toBe(0);
    expect(r.tlv.get('EN')).toBe('Comune di Firenze');
    expect(r.tlv.get('DS')).toBe(p.description);
    expect(r.tlv.get('AD')).toBe(String(p.amountCents));
    expect(r.tlv.get('EF')).toBe(FIRENZE);
    expect(r.tlv.has('DD')).toBe(false); // the position has no due date
  });

  it('the identifier may repeat the QR code\'s notice; another notice or a service beside the QR code is a format error', async () => {
    const p = firenze(0);
    expect((await verify({ qr: qrOf(FIRENZE, p), identifier: p.noticeNumber })).status).toBe(200);
    const other = await verify({ qr: qrOf(FIRENZE, p), identifier: firenze(3).noticeNumber });
    expect([other.status, other.body.code]).toEqual([400, 'FORMAT']);
    const service = await verify({ qr: qrOf(FIRENZE, p), service: 'TARI' });
    expect([service.status, service.body.code]).toEqual([400, 'FORMAT']);
  });
});

describe("the node's faults, on both channels", () => {
  /** The JSON code and HTTP status, and the ISO field 39 and ER, for one QR code. */
  async function both(qr: string) {
    const json = await verify({ qr });
    const r = await terminal.inquiry({ qr });
    return { http: json.status, code: json.body.code as string, iso: r.code, er: r.tlv.get('ER'), ef: r.tlv.get('EF') };
  }

  it('already paid → 80 NOTICE_ALREADY_PAID', async () => {
    const p = firenze(3);
    sim.state.markPaidElsewhere(FIRENZE, p.noticeNumber);
    expect(await both(qrOf(FIRENZE, p))).toEqual({ http: 409, code: 'NOTICE_ALREADY_PAID', iso: '80', er: 'NOTICE_ALREADY_PAID', ef: undefined });
  });

  it('a token live on the notice (another PSP paying it) → 81 PAYMENT_IN_PROGRESS', async () => {
    const p = firenze(4);
    const other = new PspClient({ nodeUrl: sim.url, identity: PSP, pspFiscalCode: '09876543210', timeoutMs: 2000, tokenExpirationMs: 1_800_000 }, { clock: testClock });
    const activated = await other.activate({ idempotencyKey: other.keyFor('ELSEWHERE', '1'), fiscalCode: FIRENZE, noticeNumber: p.noticeNumber, amountCents: p.amountCents });
    expect(activated.ok).toBe(true);
    expect(await both(qrOf(FIRENZE, p))).toMatchObject({ http: 409, code: 'PAYMENT_IN_PROGRESS', iso: '81', er: 'PAYMENT_IN_PROGRESS' });
  });

  it('a notice the creditor does not know → 25 NOTICE_UNKNOWN; expired → 54; cancelled → 82', async () => {
    const unknown = buildNoticeNumber(3, '01' + '9'.repeat(13));
    expect(await both(formatPagoPaQr(unknown, FIRENZE, 100))).toMatchObject({ http: 404, code: 'NOTICE_UNKNOWN', iso: '25' });
    expect(await both(qrOf(FIRENZE, firenze(5)))).toMatchObject({ http: 409, code: 'NOTICE_EXPIRED', iso: '54' });
    expect(await both(qrOf(FIRENZE, firenze(6)))).toMatchObject({ http: 409, code: 'NOTICE_CANCELLED', iso: '82' });
  });

  it("the creditor's station down or too slow, or the node unreachable → 91 CREDITOR_UNAVAILABLE", async () => {
    const qr = qrOf(FIRENZE, firenze(0));
    try {
      sim.state.setStation(FIRENZE, 'down');
      expect(await both(qr)).toMatchObject({ http: 503, code: 'CREDITOR_UNAVAILABLE', iso: '91', er: 'CREDITOR_UNAVAILABLE' });
      sim.state.setStation(FIRENZE, 'up', 60_000);
      expect(await both(qr)).toMatchObject({ http: 503, code: 'CREDITOR_UNAVAILABLE', iso: '91' });
    } finally {
      sim.state.setStation(FIRENZE, 'up', 0);
    }
    // Every attempt of the client's three dropped: the node is unreachable.
    sim.state.failNext(3, 'drop');
    const json = await verify({ qr });
    expect([json.status, json.body.code]).toEqual([503, 'CREDITOR_UNAVAILABLE']);
    expect(json.body.detail).toContain('NODE_UNREACHABLE');
    // Then the node answers again.
    expect((await verify({ qr })).status).toBe(200);
  });
});

describe('what stays on the circuit', () => {
  it("a QR code of a catalogue entity without the pagopa flag keeps the circuit's path: the node is not asked", async () => {
    const regione = sim.creditors.find((c) => c.fiscalCode === REGIONE)!.positions[0]!;
    const before = nodeCalls();
    const res = await verify({ qr: qrOf(REGIONE, regione) });
    expect([res.status, res.body.code]).toEqual([404, 'NOTICE_UNKNOWN']);
    expect(res.body.detail).toBe(`notice ${regione.noticeNumber} is not known to the circuit`);
    expect(nodeCalls()).toEqual(before);
  });

  it('without the bridge, the same QR codes get the answers of a switch without pagoPA', async () => {
    const off = await Payments.create(h.rt.store, { settlementCutoff: h.config.settlementCutoff, clock: h.rt.clock });
    const app = createApp({ config: h.config, store: h.rt.store, payments: off, tokens: h.tokens, kek: h.rt.kek, version: 'test', clock: h.rt.clock });
    const p = firenze(0);
    const before = nodeCalls();
    const res = await request(app).post('/v1/verify').set('authorization', `Bearer ${token}`).send({ qr: qrOf(FIRENZE, p) });
    expect([res.status, res.body.code]).toEqual([404, 'NOTICE_UNKNOWN']);
    expect(res.body.detail).toBe(`notice ${p.noticeNumber} is not known to the circuit`);
    expect(res.body.pagopa).toBeUndefined();
    expect(nodeCalls()).toEqual(before);
  });

  it('an entity with the flag routes its QR codes and its notice services to the node; others do not', () => {
    const bridge = new PagoPaBridge(new PspClient({ nodeUrl: sim.url, identity: PSP, pspFiscalCode: '01234567890', timeoutMs: 2000, tokenExpirationMs: 1_800_000 }));
    const entities = new Map(h.payments.entities.map((e) => [e.id, e]));
    const services = new Map(h.payments.services.map((s) => [s.code, s]));
    const regione = h.payments.entities.find((e) => e.fiscalCode === REGIONE)!;
    const notice = buildNoticeNumber(3, '30' + '1'.padStart(13, '0'));
    const qr = formatPagoPaQr(notice, REGIONE, 100);
    expect(bridge.routes({ qr }, { entities, services })).toBeNull();
    expect(bridge.routes({ qr: qrOf(FIRENZE, firenze(0)) }, { entities, services })).toMatchObject({ fiscalCode: FIRENZE, entity: null, service: null });
    const flagged = new Map(entities).set(regione.id, { ...regione, pagopa: true });
    expect(bridge.routes({ qr }, { entities: flagged, services })).toMatchObject({ fiscalCode: REGIONE, noticeNumber: notice, entity: { id: regione.id } });
    // A notice typed under a notice service of a flagged entity (TARIPISA, the Comune di Pisa's).
    const pisa = entities.get(services.get('TARIPISA')!.entityId)!;
    const pisaNotice = buildNoticeNumber(3, (pisa.segregationCode ?? '00') + '42'.padStart(13, '0'));
    const withPisa = new Map(entities).set(pisa.id, { ...pisa, pagopa: true });
    expect(bridge.routes({ service: 'taripisa', identifier: pisaNotice }, { entities: withPisa, services })).toMatchObject({ fiscalCode: pisa.fiscalCode, noticeNumber: pisaNotice, service: { code: 'TARIPISA' } });
    expect(bridge.routes({ service: 'TARIPISA', identifier: pisaNotice }, { entities, services })).toBeNull();
    expect(bridge.routes({ service: 'TARIPISA', identifier: '123' }, { entities: withPisa, services })).toBeNull();
    // An unreadable QR code is the circuit's to refuse, as always.
    expect(bridge.routes({ qr: 'PAGOPA|002|x' }, { entities, services })).toBeNull();
  });
});

describe('paying a pagoPA notice on a network without service PAGOPA', () => {
  // The harness seeds the demo network without entity and service PAGOPA (the switch's
  // start adds them in demo mode only): a production network that has not imported them.
  it('JSON and ISO 0200 of a creditor outside the catalogue are refused 12 SERVICE_UNKNOWN, the node is not asked and nothing is booked', async () => {
    const p = firenze(0);
    const qr = qrOf(FIRENZE, p);
    const db = await openTestDb(h.dir);
    const booked = () => db.scalar('SELECT count(*) FROM payments');
    const before = { payments: await booked(), calls: nodeCalls() };

    const res = await pay({ qr, amount: p.amountCents }, 'pagopa-pay-0001');
    expect([res.status, res.body.code]).toEqual([404, 'SERVICE_UNKNOWN']);
    expect(res.body.detail).toContain('service PAGOPA');

    const r = await terminal.pay({ qr }, p.amountCents);
    expect(r.response.code).toBe('12');
    expect(r.response.tlv.get('ER')).toBe('SERVICE_UNKNOWN');
    expect(r.response.fields.has(38)).toBe(false);

    expect({ payments: await booked(), calls: nodeCalls() }).toEqual(before);
    await db.close();
  });
});
