// The finance API: who sees what (finance all, an entity its own, a terminal nothing),
// formats by ?format= or Accept, bad input, and a broken IBAN refusing a SEPA file
// before a byte of XML is written.
import { composeIBAN, extractIBAN } from 'ibantools';
import { parse as parseCsv } from 'csv-parse/sync';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isValidIBAN } from 'ibantools';
import { isValidIban } from '../../src/domain/iban.js';
import type { SettlementFigures } from '../../settlement/figures.js';
import { ENTITY_COLUMNS, LINE_COLUMNS } from '../../settlement/csv-reports.js';
import { NetworkService } from '../../src/network/service.js';
import { bookDay, startSwitch, type Switch } from './support.js';

const DAY = '2026-11-20';
let s: Switch;
let tokens: Record<'finance' | 'admin' | 'pisa' | 'livorno' | 'terminal', string>;
let brokenCounter: string;
let brokenIban: string;
const api = () => request(s.h.app);
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

/** The same IBAN with another CIN letter and check digits recomputed: mod 97 passes, the CIN does not. */
function wrongCin(iban: string): string {
  const bban = extractIBAN(iban).bban!;
  const cin = bban[0] === 'A' ? 'B' : 'A';
  return composeIBAN({ countryCode: 'IT', bban: cin + bban.slice(1) })!;
}

beforeAll(async () => {
  s = await startSwitch({ positions: 3000, at: [DAY, '09:00:00'] });
  const t = s.h.credentials.terminals[0]!;
  tokens = {
    finance: s.h.userToken('finance'),
    admin: s.h.userToken('admin'),
    pisa: s.h.userToken('ente-pisa'),
    livorno: s.h.userToken('ente-livorno'),
    terminal: s.h.terminalToken(t.terminalId),
  };
  // Payments at the first counter (its debit will be refused), and a mixed day elsewhere.
  for (let i = 0; i < 5; i++) {
    await s.h.payments.pay({ terminalId: t.terminalId, counterId: t.counterId }, { service: 'CIE', identifier: 'RSSMRA85T10A562S', amount: 2221 }, null, 'json');
  }
  const pisa = (
    await s.db.all<{ notice_number: string }>(
      "SELECT o.notice_number FROM payment_options o JOIN debt_positions p ON p.id = o.position_id WHERE p.service_code = 'TARIPISA' AND p.status = 'VALID' AND o.kind = 'single' ORDER BY o.id LIMIT 5",
    )
  ).map((r) => r.notice_number);
  for (const notice of pisa) {
    const v = await s.h.payments.verify({ terminalId: t.terminalId, counterId: t.counterId }, { service: 'TARIPISA', identifier: notice });
    await s.h.payments.pay({ terminalId: t.terminalId, counterId: t.counterId }, { service: 'TARIPISA', identifier: notice, amount: v.amountDue }, null, 'json');
  }
  await bookDay(s, { date: DAY, free: 300, positions: 200, reverseOneIn: 10 });

  // A counter's IBAN broken in the database: check digits right, CIN wrong.
  brokenCounter = t.counterId;
  const good = (await s.db.get<{ iban: string }>('SELECT iban FROM counters WHERE id = ?', brokenCounter))!.iban;
  brokenIban = wrongCin(good);
  expect(isValidIBAN(brokenIban)).toBe(true);
  expect(isValidIban(brokenIban)).toBe(false);
  await s.db.run('UPDATE counters SET iban = ? WHERE id = ?', brokenIban, brokenCounter);

  s.setRome('2026-11-23', '00:10:00');
  const run = await api().post(`/v1/settlements/${DAY}/run`).set(bearer(tokens.finance));
  expect(run.status, run.text).toBe(201);
}, 300_000);

afterAll(async () => {
  await s?.close();
});

describe('authorization', () => {
  const matrix: [string, 'get' | 'post', string, Partial<Record<keyof typeof tokens, number>>][] = [
    ['list windows', 'get', '/v1/settlements', { finance: 200, admin: 200, pisa: 200, terminal: 403 }],
    ['a window', 'get', `/v1/settlements/${DAY}`, { finance: 200, admin: 200, pisa: 200, terminal: 403 }],
    ['run', 'post', `/v1/settlements/${DAY}/run`, { finance: 200, admin: 200, pisa: 403, terminal: 403 }],
    ['own entity statement', 'get', `/v1/settlements/${DAY}/entities/PISA`, { finance: 200, admin: 200, pisa: 200, livorno: 403, terminal: 403 }],
    ['a counter statement', 'get', `/v1/settlements/${DAY}/counters/C0002`, { finance: 200, admin: 200, pisa: 403, terminal: 403 }],
    ['entities.csv', 'get', `/v1/settlements/${DAY}/entities.csv`, { finance: 200, admin: 200, pisa: 403, terminal: 403 }],
    ['counters.csv', 'get', `/v1/settlements/${DAY}/counters.csv`, { finance: 200, admin: 200, pisa: 403, terminal: 403 }],
    ['payments.csv', 'get', `/v1/settlements/${DAY}/payments.csv`, { finance: 200, admin: 200, pisa: 200, terminal: 403 }],
    ["another entity's payments", 'get', `/v1/settlements/${DAY}/payments.csv?entityId=LIVORNO`, { finance: 200, pisa: 403, terminal: 403 }],
    ['report.pdf', 'get', `/v1/settlements/${DAY}/report.pdf`, { finance: 200, admin: 200, pisa: 403, terminal: 403 }],
    ['pain.001 of a draft', 'get', `/v1/settlements/${DAY}/sepa/pain.001.xml`, { finance: 409, admin: 403, pisa: 403, terminal: 403 }],
    ['pain.008 of a draft', 'get', `/v1/settlements/${DAY}/sepa/pain.008.xml`, { finance: 409, admin: 403, pisa: 403, terminal: 403 }],
    ['rebilling', 'get', '/v1/rebilling/2026-11', { pisa: 200, livorno: 200, finance: 400, terminal: 403 }],
    ["another entity's rebilling", 'get', '/v1/rebilling/2026-11?entityId=PISA', { finance: 200, admin: 200, pisa: 200, livorno: 403, terminal: 403 }],
    ['rebilling lines', 'get', '/v1/rebilling/2026-11/lines', { pisa: 200, terminal: 403 }],
    ['invoice of a month not over', 'get', '/v1/rebilling/2026-11/invoice.xml', { pisa: 409, terminal: 403 }],
  ];
  for (const [what, method, path, expected] of matrix) {
    it(`${what}: ${Object.entries(expected).map(([k, v]) => `${k} ${v}`).join(', ')}`, async () => {
      for (const [who, status] of Object.entries(expected)) {
        const res = await api()[method](path).set(bearer(tokens[who as keyof typeof tokens]));
        expect(res.status, `${who} ${method} ${path}: ${(res.text ?? "").slice(0, 300)}`).toBe(status);
        if (status >= 400) expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
      const anonymous = await api()[method](path);
      expect(anonymous.status).toBe(401);
    });
  }

  it('approval is for finance only; adjustments for finance and admin', async () => {
    for (const who of ['admin', 'pisa', 'terminal'] as const) {
      expect((await api().post(`/v1/settlements/${DAY}/approve`).set(bearer(tokens[who]))).status).toBe(403);
    }
    const p = (await s.db.get<{ public_id: string }>('SELECT public_id FROM payments WHERE reversed_at IS NULL ORDER BY id LIMIT 1'))!.public_id;
    for (const who of ['pisa', 'terminal'] as const) {
      expect((await api().post(`/v1/payments/${p}/adjustment`).set(bearer(tokens[who])).send({ reason: 'not mine to refund' })).status).toBe(403);
    }
  });

  it('an entity sees its own statement and lines, never another entity or the whole figures', async () => {
    const list = await api().get('/v1/settlements').set(bearer(tokens.pisa));
    expect(list.body[0].statement.entityId).toBe('PISA');
    expect(list.body[0].totals).toBeUndefined();
    const w = await api().get(`/v1/settlements/${DAY}`).set(bearer(tokens.pisa));
    expect(w.body.figures).toBeUndefined();
    expect(w.body.statement.entityId).toBe('PISA');
    expect(w.body.statement.count).toBeGreaterThanOrEqual(5);
    expect(JSON.stringify(w.body)).not.toContain('LIVORNO');
    const csv = await api().get(`/v1/settlements/${DAY}/payments.csv`).set(bearer(tokens.pisa));
    const rows = parseCsv(csv.text, { columns: true }) as Record<string, string>[];
    expect(rows.length).toBeGreaterThanOrEqual(5);
    expect(new Set(rows.map((r) => r.entityId))).toEqual(new Set(['PISA']));
    const own = await api().get(`/v1/settlements/${DAY}/payments.csv?entityId=PISA`).set(bearer(tokens.pisa));
    expect(own.status).toBe(200);
  });
});

describe('formats', () => {
  it('statements come as JSON by default, CSV or PDF by ?format= or Accept', async () => {
    const path = `/v1/settlements/${DAY}/entities/PISA`;
    const json = await api().get(path).set(bearer(tokens.pisa));
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.body.statement.services.map((x: { serviceCode: string }) => x.serviceCode)).toContain('TARIPISA');
    const csv = await api().get(path).set(bearer(tokens.pisa)).set('Accept', 'text/csv');
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.text.split('\n')[0]).toBe(ENTITY_COLUMNS.join(','));
    const pdf = await api().get(`${path}?format=pdf`).set(bearer(tokens.pisa)).buffer(true).parse(binary);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect((pdf.body as Buffer).subarray(0, 5).toString()).toBe('%PDF-');
    const counter = await api().get(`/v1/settlements/${DAY}/counters/${brokenCounter}`).set(bearer(tokens.finance)).set('Accept', 'application/pdf').buffer(true).parse(binary);
    expect(counter.headers['content-type']).toBe('application/pdf');
    expect((await api().get(path).set(bearer(tokens.pisa)).set('Accept', 'image/png')).status).toBe(406);
    expect((await api().get(`${path}?format=xml`).set(bearer(tokens.pisa))).status).toBe(400);
    const lines = await api().get(`/v1/settlements/${DAY}/payments.csv`).set(bearer(tokens.finance));
    expect(lines.text.split('\n')[0]).toBe(LINE_COLUMNS.join(','));
  });

  it('refuses bad dates and months, weekends, and windows that do not exist', async () => {
    expect((await api().get('/v1/settlements/2026-02-30').set(bearer(tokens.finance))).status).toBe(400);
    expect((await api().get('/v1/settlements/2026-11-24').set(bearer(tokens.finance))).status).toBe(404);
    const weekend = await api().post('/v1/settlements/2026-11-21/run').set(bearer(tokens.finance));
    expect(weekend.status).toBe(400);
    expect(weekend.body).toMatchObject({ code: 'NOT_A_BUSINESS_DAY', detail: expect.stringMatching(/^2026-11-21 is not a business day/) });
    expect((await api().get('/v1/rebilling/2026-13').set(bearer(tokens.pisa))).status).toBe(400);
    expect((await api().get('/v1/rebilling/2026-11/lines?cursor=zz').set(bearer(tokens.pisa))).status).toBe(400);
    expect((await api().get(`/v1/settlements/${DAY}/entities/NOPE`).set(bearer(tokens.finance))).status).toBe(404);
    expect((await api().post('/v1/payments/00000000-0000-0000-0000-000000000000/adjustment').set(bearer(tokens.finance)).send({ reason: 'x' })).status).toBe(400);
    expect((await api().post('/v1/payments/00000000-0000-0000-0000-000000000000/adjustment').set(bearer(tokens.finance)).send({ reason: 'no such payment' })).status).toBe(404);
  });
});

describe('a broken IBAN', () => {
  it('refuses the SEPA file naming the party and the IBAN, writes no XML, and does not mark the window exported', async () => {
    const approve = await api().post(`/v1/settlements/${DAY}/approve`).set(bearer(tokens.finance));
    expect(approve.status).toBe(200);
    const figures = JSON.parse((await s.h.rt.store.getWindow(DAY))!.figures!) as SettlementFigures;
    expect(figures.directDebits.some((d) => d.id === brokenCounter)).toBe(true);

    const res = await api().get(`/v1/settlements/${DAY}/sepa/pain.008.xml`).set(bearer(tokens.finance));
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.text).not.toContain('<?xml');
    expect(res.body.code).toBe('INVALID_IBAN');
    expect(res.body.detail).toMatch(/^pain\.008 refused: invalid IBAN: /);
    expect(res.body.detail).toContain(`counter ${brokenCounter}`);
    expect(res.body.detail).toContain(brokenIban);
    expect(res.body.detail).toContain('CIN');
    expect((await s.h.rt.store.getWindow(DAY))!.status).toBe('approved');

    // The credit transfers do not involve that account: their file is written.
    const ct = await api().get(`/v1/settlements/${DAY}/sepa/pain.001.xml`).set(bearer(tokens.finance));
    expect(ct.status).toBe(200);
    expect((await s.h.rt.store.getWindow(DAY))!.status).toBe('exported');
  });
});

describe('an invoice without a FatturaPA office code', () => {
  it('is refused as a problem naming the entity and the setting, never issued with a made-up code', async () => {
    // This switch configures no TSERVE_FATTURAPA_CODES; PISA's circuit fees are rebilled.
    s.setRome('2026-12-01', '10:00:00');
    const st = await api().get('/v1/rebilling/2026-11').query({ entityId: 'PISA' }).set(bearer(tokens.finance));
    expect(st.body).toMatchObject({ final: true, mode: 'rebilled' });
    expect(st.body.totals.amount).toBeGreaterThan(0);
    for (const [who, query] of [['finance', { entityId: 'PISA' }], ['pisa', {}]] as const) {
      const res = await api().get('/v1/rebilling/2026-11/invoice.xml').query(query).set(bearer(tokens[who]));
      expect(res.status, res.text).toBe(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      // Was the generic CONFLICT; the table now has a code of its own for it (same 409).
      expect(res.body.code).toBe('OFFICE_CODE_MISSING');
      expect(res.body.detail).toBe(
        'invoice refused: entity PISA has no FatturaPA office code: set TSERVE_FATTURAPA_CODES=PISA=<6 chars> (its Codice Univoco Ufficio in the IPA index)',
      );
      expect(res.text).not.toContain('<?xml');
    }
    // Nothing to invoice still answers as before (a netted entity), with its own code.
    const netted = await api().get('/v1/rebilling/2026-11/invoice.xml').query({ entityId: 'RTOSCANA' }).set(bearer(tokens.finance));
    expect(netted.status).toBe(404);
    expect(netted.body.code).toBe('NOTHING_TO_INVOICE');
  });

  it("is issued once the network gives the entity its office code, under the owner's VAT number from the network", async () => {
    const network = new NetworkService(s.h.rt.store, s.h.rt.kek, s.h.rt.clock);
    const entities = (await network.state()).entities;
    const pisa = entities.find((e) => e.id === 'PISA')!;
    const prato = entities.find((e) => e.id === 'PRATO')!;
    const r = await network.apply({ entities: [{ ...pisa, officeCode: 'UFPIS1' }, { ...prato, vatNumber: '01386030488' }] }, 'admin');
    expect(r).toMatchObject({ ok: true, applied: { entities: { updated: 2 } } });
    const res = await api().get('/v1/rebilling/2026-11/invoice.xml').query({ entityId: 'PISA' }).set(bearer(tokens.finance));
    expect(res.status, res.text).toBe(200);
    expect(res.text).toContain('<CodiceDestinatario>UFPIS1</CodiceDestinatario>');
    expect(res.text).toContain('<IdCodice>01386030488</IdCodice>');
  });
});
