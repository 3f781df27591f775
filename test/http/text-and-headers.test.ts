// Issue 12, "Headers and inputs". Control characters (C0, DEL, C1) are refused in
// every text field of the JSON API, the bulk upload (JSON and CSV) and nothing of them
// is stored: finding 6 was a `payer` stored with its NUL and ESC bytes. And every /v1
// answer, personal data or secrets or not, carries Cache-Control: no-store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../../src/payments/positions.js';
import { bearer, expectProblem, idemKey, noticeFactory, paymentCount, positionCount, setup, type Ctx, type OptionRow } from './support.js';

let c: Ctx;
let term: Record<string, string>;
let prato: Record<string, string>;
let admin: Record<string, string>;
let finance: Record<string, string>;
const pratoNotice = noticeFactory('01', 71);
let refSeq = 0;
const ref = () => `CTRL-${process.pid}-${++refSeq}`;
const CF = 'RSSMRA85T10A562S';

beforeAll(async () => {
  c = await setup(300);
  term = bearer(c.h.terminalToken('T0001'));
  prato = bearer(c.h.userToken('ente-prato'));
  admin = bearer(c.h.userToken('admin'));
  finance = bearer(c.h.userToken('finance'));
});
afterAll(async () => {
  await c?.close();
});

const pay = (body: Record<string, unknown>) => c.api().post('/v1/payments').set(term).set('Idempotency-Key', idemKey()).send(body);
const position = (over: Record<string, unknown> = {}, option: Record<string, unknown> = {}) => ({
  service: 'TARI',
  externalRef: ref(),
  debtorFiscalCode: CF,
  debtorName: 'Mario Rossi',
  description: 'TARI 2026 - test',
  options: [{ noticeNumber: pratoNotice(), amount: 12_000, dueDate: '2026-12-31', description: 'TARI 2026 - rata unica', ...option }],
  ...over,
});

describe('control characters in text fields (finding 6: payer stored NUL and ESC)', () => {
  it.each([
    ['NUL', 'RSSMRA85T10A562\u0000'],
    ['ESC', '\u001b[31mRSSMRA85T1'],
  ])('payer with %s → 400 FORMAT, nothing booked, nothing stored', async (_name, payer) => {
    const o: OptionRow = await c.notices.tari();
    const res = await pay({ service: 'TARI', identifier: o.notice, amount: o.amount, payer });
    expectProblem(res, 400, 'FORMAT');
    expect(res.body.detail).toMatch(/payer.*control character/);
    expect(await paymentCount(c.db, o.optionId)).toBe(0);
  });

  it('a clean payer is still booked', async () => {
    const o = await c.notices.tari();
    const res = await pay({ service: 'TARI', identifier: o.notice, amount: o.amount, payer: CF });
    expect(res.status, res.text).toBe(201);
  });

  it.each([
    ['service', { service: 'TA\u0000RI' }],
    ['identifier', { identifier: '30120240000000\u00070164' }],
    ['fiscalCode', { service: 'CERTIFICATI', identifier: CF, fiscalCode: 'RSSMRA85T10A562\u007f' }],
    ['qr', { qr: 'PAGOPA|002|\u0085' }],
  ])('verify with a control character in %s → 400 FORMAT', async (field, body) => {
    const res = await c.api().post('/v1/verify').set(term).send({ service: 'TARI', identifier: '301202400000000164', ...body });
    expectProblem(res, 400, 'FORMAT');
    expect(res.body.detail).toContain(field);
  });

  it.each([
    ['description', { description: 'TARI\r\n2026' }],
    ['debtorName', { debtorName: 'Mario\u0000Rossi' }],
    ['externalRef', { externalRef: 'REF\u001b' }],
    ['debtorFiscalCode', { debtorFiscalCode: 'RSSMRA85T10A56\u009b' }],
  ])('a debt position with a control character in %s → 400 FORMAT, not stored', async (field, over) => {
    const before = await positionCount(c.db, 'PRATO');
    const res = await c.api().post('/v1/debt-positions').set(prato).send(position(over));
    expectProblem(res, 400, 'FORMAT');
    expect(res.body.detail).toContain(field);
    expect(await positionCount(c.db, 'PRATO')).toBe(before);
  });

  it("an option's description or lookup key with a control character → 400 FORMAT", async () => {
    expectProblem(await c.api().post('/v1/debt-positions').set(prato).send(position({}, { description: 'rata\u0008unica' })), 400, 'FORMAT');
    expectProblem(await c.api().post('/v1/debt-positions').set(prato).send(position({}, { lookupKey: 'K\u0000' })), 400, 'FORMAT');
  });

  it('accented letters, apostrophes and euro signs are text, not control characters', async () => {
    const res = await c.api().post('/v1/debt-positions').set(prato).send(position({ debtorName: "Niccolò D'Agostino", description: 'Rifiuti € 2026 – saldo' }));
    expect(res.status, res.text).toBe(201);
    expect(res.body.debtorName).toBe("Niccolò D'Agostino");
  });

  it('bulk JSON: the row with a control character is reported, nothing created', async () => {
    const before = await positionCount(c.db, 'PRATO');
    const res = await c.api().post('/v1/debt-positions/bulk').set(prato).send([position(), position({ debtorName: 'Anna\u001bBianchi' })]);
    expect(res.status, res.text).toBe(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ row: 1, code: 'FORMAT', detail: expect.stringContaining('debtorName') })]);
    expect(await positionCount(c.db, 'PRATO')).toBe(before);
  });

  it('bulk CSV: a line with a control character is reported by its line, nothing created', async () => {
    const before = await positionCount(c.db, 'PRATO');
    const line = (description: string) =>
      CSV_COLUMNS.map((col) => ({ externalRef: ref(), service: 'TARI', debtorFiscalCode: CF, description, noticeNumber: pratoNotice(), amount: '5000', dueDate: '2026-12-31' })[col as string] ?? '').join(',');
    const text = [CSV_COLUMNS.join(','), line('clean'), line('bell\u0007here')].join('\n') + '\n';
    const res = await c.api().post('/v1/debt-positions/bulk').set(prato).set('Content-Type', 'text/csv').send(text);
    expect(res.status, res.text).toBe(422);
    // The position's description and, taken from it, its option's: both on line 3.
    expect(res.body.errors).toEqual([
      { row: 3, code: 'FORMAT', detail: expect.stringMatching(/^description: control characters/) },
      { row: 3, code: 'FORMAT', detail: expect.stringMatching(/^options\.0\.description: control characters/) },
    ]);
    expect(await positionCount(c.db, 'PRATO')).toBe(before);
  });

  it('login user name, adjustment reason and provisioned counter id refuse control characters', async () => {
    expectProblem(await c.api().post('/v1/auth/login').send({ username: 'admin\nforged log line', password: 'x' }), 400, 'FORMAT');
    expectProblem(await c.api().post('/v1/auth/token').send({ terminalId: 'T\u00000001', secret: '0'.repeat(64) }), 400, 'FORMAT');
    expectProblem(await c.api().post('/v1/payments/00000000-0000-0000-0000-000000000000/adjustment').set(finance).send({ reason: 'refund\u0000ok' }), 400, 'FORMAT');
    expectProblem(await c.api().post('/v1/admin/terminals').set(admin).send({ counterId: 'C0001\u001b' }), 400, 'FORMAT');
  });
});

describe('Cache-Control: no-store on /v1 answers', () => {
  it('payments, receipts, debt positions, reports, admin answers and problems are never cached', async () => {
    const o = await c.notices.tari();
    const paid = await pay({ service: 'TARI', identifier: o.notice, amount: o.amount, payer: CF });
    expect(paid.status, paid.text).toBe(201);
    const id = paid.body.paymentId as string;
    const created = await c.api().post('/v1/debt-positions').set(prato).send(position());
    expect(created.status, created.text).toBe(201);
    const answers = [
      paid,
      created,
      await c.api().get(`/v1/payments/${id}`).set(term),
      await c.api().get(`/v1/payments/${id}/receipt`).set(term).set('Accept', 'text/plain'),
      await c.api().post('/v1/verify').set(term).send({ service: 'TARI', identifier: o.notice }),
      await c.api().get('/v1/debt-positions?limit=2').set(prato),
      await c.api().get(`/v1/debt-positions/${created.body.id as number}`).set(prato),
      await c.api().get('/v1/admin/counters/C0001').set(admin),
      await c.api().get('/v1/admin/terminals?counterId=C0001').set(admin),
      await c.api().get('/v1/settlements').set(finance),
      await c.api().get('/v1/services').set(term),
      await c.api().get(`/v1/payments/${id}`), // 401
      await c.api().get('/v1/nothing-here').set(term), // 404
    ];
    for (const res of answers) expect(res.headers['cache-control'], `${res.status} ${res.text.slice(0, 80)}`).toBe('no-store');
  });
});
