// The terminal API of terminal-protocol.md §2: /v1/services, /v1/verify, /v1/payments,
// GET /v1/payments/{id} and its receipt, for every amount kind (L by notice, by QR,
// MULTA by date, BOLLO by plate; F fixed; S self-assessed) and every refusal code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bolloAmountDue } from '../../src/domain/bollo.js';
import {
  bearer,
  corruptCheckDigits,
  counterOf,
  expectProblem,
  idemKey,
  jsonText,
  paymentCount,
  setup,
  TerminalPool,
  today,
  type Ctx,
  type OptionRow,
} from './support.js';

let c: Ctx;
let pool: TerminalPool;
beforeAll(async () => {
  c = await setup();
  pool = new TerminalPool(c.h, 'tabaccaio');
});
afterAll(async () => {
  await c?.close();
});

const PRATO_CF = '84006890481';
const PISA_CF = '00341620508';
const VALID_CF = 'RSSMRA85T10A562S';

/** TARI fee at a tabaccaio: the schedule in force today (catalogue: 150, from 2026-07-01 160). */
const tariFeeTabaccaio = () => (today() >= '2026-07-01' ? 160 : 150);
/** 1%, at least 100 and at most 220 cents, rounded half-even (catalogue's ONE_PERCENT). */
function onePercentFee(amount: number): number {
  const raw = amount / 100;
  const floor = Math.floor(raw);
  const frac = amount % 100;
  const rounded = frac > 50 ? floor + 1 : frac < 50 ? floor : floor % 2 === 0 ? floor : floor + 1;
  return Math.min(220, Math.max(100, rounded));
}
/** Italian euro format, independently of src/domain/money.ts. */
const euro = (cents: number) =>
  `${Math.floor(cents / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, '.')},${String(cents % 100).padStart(2, '0')}`;

function terminal() {
  const id = pool.take();
  return { id, counterId: counterOf(c.h, id), auth: bearer(c.h.terminalToken(id)) };
}
type Term = ReturnType<typeof terminal>;

const verify = (t: Term, body: Record<string, unknown>) => c.api().post('/v1/verify').set(t.auth).send(body);
const pay = (t: Term, body: Record<string, unknown>, key = idemKey()) =>
  c.api().post('/v1/payments').set(t.auth).set('Idempotency-Key', key).send(body);

const daysBetween = (a: string, b: string) => Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);

describe('GET /v1/services', () => {
  it('lists the catalogue with amount kinds and F/S amounts', async () => {
    const res = await c.api().get('/v1/services').set(terminal().auth);
    expect(res.status).toBe(200);
    const byCode = new Map<string, Record<string, unknown>>((res.body as Record<string, unknown>[]).map((s) => [s.code as string, s]));
    expect(byCode.size).toBe(30);
    expect(byCode.get('TARI')).toMatchObject({ amountKind: 'L', entityId: 'PRATO', entity: 'Comune di Prato', enabled: true });
    expect(byCode.get('CERTIFICATI')).toMatchObject({ amountKind: 'F', fixedAmount: 100 });
    expect(byCode.get('IMU')).toMatchObject({ amountKind: 'S', minAmount: 100, maxAmount: 5_000_000 });
  });
});

describe('verify and pay a TARI notice', () => {
  let t: Term;
  let o: OptionRow;
  let paid: Record<string, unknown>;
  let location: string | undefined;

  beforeAll(async () => {
    t = terminal();
    o = await c.notices.tari();
  });

  it('verify answers what is due: entity, description, amountDue, fee, dueDate, status', async () => {
    const res = await verify(t, { service: 'TARI', identifier: o.notice });
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({
      entity: 'Comune di Prato',
      service: 'TARI',
      amountDue: o.amount,
      fee: tariFeeTabaccaio(),
      dueDate: o.dueDate,
      status: 'VALID',
    });
    expect(typeof res.body.description).toBe('string');
    expect(res.body.description.length).toBeGreaterThan(0);
  });

  it('verify accepts the notice as printed, in groups of four, and the service in lower case', async () => {
    const grouped = o.notice.replace(/(\d{4})(?=\d)/g, '$1 ');
    const res = await verify(t, { service: 'tari', identifier: grouped });
    expect(res.status, res.text).toBe(200);
    expect(res.body.amountDue).toBe(o.amount);
  });

  it('pay books it: 201, Location, receipt fields, total = amount + fee', async () => {
    const before = await paymentCount(c.db);
    const res = await pay(t, { service: 'TARI', identifier: o.notice, amount: o.amount, fee: tariFeeTabaccaio(), payer: VALID_CF });
    expect(res.status, res.text).toBe(201);
    paid = res.body;
    location = res.headers.location;
    expect(location).toBe(`/v1/payments/${paid.paymentId as string}`);
    expect(paid.paymentId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(typeof paid.receiptNumber).toBe('string');
    expect((paid.receiptNumber as string).length).toBeGreaterThan(0);
    expect(paid.rrn).toMatch(/^[0-9A-Za-z]{12}$/);
    expect(paid.approvalCode).toMatch(/^[0-9A-Z]{6}$/);
    expect(paid.amount).toBe(o.amount);
    expect(paid.fee).toBe(tariFeeTabaccaio());
    expect(paid.total).toBe(o.amount + tariFeeTabaccaio());
    expect(new Date(paid.bookedAt as string).toISOString()).toBe(paid.bookedAt);
    expect(paid.settlementDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect((paid.settlementDate as string) >= today()).toBe(true);
    expect(await paymentCount(c.db)).toBe(before + 1);
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
  });

  it('the notice is then paid: verify and pay answer 409 NOTICE_ALREADY_PAID and book nothing', async () => {
    expectProblem(await verify(t, { service: 'TARI', identifier: o.notice }), 409, 'NOTICE_ALREADY_PAID');
    const other = terminal();
    expectProblem(await pay(other, { service: 'TARI', identifier: o.notice, amount: o.amount }), 409, 'NOTICE_ALREADY_PAID');
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
  });

  it('GET /v1/payments/{id} (the Location) shows the payment', async () => {
    const res = await c.api().get(location!).set(t.auth);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      paymentId: paid.paymentId,
      receiptNumber: paid.receiptNumber,
      rrn: paid.rrn,
      approvalCode: paid.approvalCode,
      amount: paid.amount,
      fee: paid.fee,
      total: paid.total,
      bookedAt: paid.bookedAt,
      settlementDate: paid.settlementDate,
      status: 'BOOKED',
      service: 'TARI',
      entity: 'Comune di Prato',
      identifier: o.notice,
      channel: 'json',
      terminalId: t.id,
      counterId: t.counterId,
      reversedAt: null,
    });
  });

  it('the receipt as text/plain: 40 columns at most, with receipt number, RRN and amounts', async () => {
    const res = await c.api().get(`/v1/payments/${paid.paymentId as string}/receipt`).set(t.auth).set('Accept', 'text/plain');
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const lines = res.text.replace(/\n$/, '').split('\n');
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect([...line].length, JSON.stringify(line)).toBeLessThanOrEqual(40);
    expect(res.text).toContain(paid.receiptNumber as string);
    expect(res.text).toContain(paid.rrn as string);
    expect(res.text).toContain(paid.approvalCode as string);
    expect(res.text).toContain(euro(o.amount));
    expect(res.text).toContain(euro(o.amount + tariFeeTabaccaio()));
    expect(res.text).toContain(PRATO_CF);
  });

  it('the receipt without Accept is text', async () => {
    const res = await c.api().get(`/v1/payments/${paid.paymentId as string}/receipt`).set(t.auth);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('the receipt as application/pdf', async () => {
    const res = await c
      .api()
      .get(`/v1/payments/${paid.paymentId as string}/receipt`)
      .set(t.auth)
      .set('Accept', 'application/pdf')
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (d: Buffer) => chunks.push(d));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/pdf/);
    const body = res.body as Buffer;
    expect(body.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(body.length).toBeGreaterThan(500);
  });

  it('a receipt in image/png → 406 NOT_ACCEPTABLE', async () => {
    const res = await c.api().get(`/v1/payments/${paid.paymentId as string}/receipt`).set(t.auth).set('Accept', 'image/png');
    expectProblem(res, 406, 'NOT_ACCEPTABLE');
  });

  it('an unknown payment id → 404 NOT_FOUND, also for ids that are not UUIDs', async () => {
    expectProblem(await c.api().get('/v1/payments/00000000-0000-4000-8000-000000000000').set(t.auth), 404, 'NOT_FOUND');
    expectProblem(await c.api().get('/v1/payments/not-a-uuid').set(t.auth), 404, 'NOT_FOUND');
    expectProblem(await c.api().get('/v1/payments/00000000-0000-4000-8000-000000000000/receipt').set(t.auth), 404, 'NOT_FOUND');
  });
});

describe('pay by pagoPA QR code', () => {
  it('verify and pay with the QR payload alone; the QR amount is informative only', async () => {
    const t = terminal();
    const o = await c.notices.tari();
    const qr = `PAGOPA|002|${o.notice}|${PRATO_CF}|${o.amount}`;
    const v = await verify(t, { qr });
    expect(v.status, v.text).toBe(200);
    expect(v.body).toMatchObject({ service: 'TARI', amountDue: o.amount, entity: 'Comune di Prato' });
    // A QR printed with another amount still pays the amount due.
    const stale = `PAGOPA|002|${o.notice}|${PRATO_CF}|1`;
    const res = await pay(t, { qr: stale, amount: o.amount });
    expect(res.status, res.text).toBe(201);
    const got = await c.api().get(`/v1/payments/${res.body.paymentId as string}`).set(t.auth);
    expect(got.body).toMatchObject({ service: 'TARI', identifier: o.notice, amount: o.amount });
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
  });

  it('the QR with service and the same identifier is accepted; a different identifier → 400 FORMAT', async () => {
    const t = terminal();
    const o = await c.notices.tari();
    const other = await c.notices.tari();
    const qr = `PAGOPA|002|${o.notice}|${PRATO_CF}|${o.amount}`;
    expect((await verify(t, { qr, service: 'TARI', identifier: o.notice })).status).toBe(200);
    expectProblem(await verify(t, { qr, identifier: other.notice }), 400, 'FORMAT');
    expectProblem(await pay(t, { qr, identifier: other.notice, amount: o.amount }), 400, 'FORMAT');
    expectProblem(await verify(t, { qr, service: 'SANZIONI' }), 400, 'FORMAT');
    expect(await paymentCount(c.db, o.optionId) + await paymentCount(c.db, other.optionId)).toBe(0);
  });

  it('a QR with bad check digits → 422 INVALID_NOTICE_NUMBER; of an unknown notice → 404 NOTICE_UNKNOWN; malformed → 422', async () => {
    const t = terminal();
    const o = await c.notices.tari();
    expectProblem(await verify(t, { qr: `PAGOPA|002|${corruptCheckDigits(o.notice)}|${PRATO_CF}|${o.amount}` }), 422, 'INVALID_NOTICE_NUMBER');
    expectProblem(await verify(t, { qr: `PAGOPA|002|347202400012345688|${PRATO_CF}|100` }), 404, 'NOTICE_UNKNOWN');
    expectProblem(await verify(t, { qr: `PAGOPA|001|${o.notice}|${PRATO_CF}|${o.amount}` }), 422, 'INVALID_NOTICE_NUMBER');
  });
});

describe('F services: fixed tariff', () => {
  it('CERTIFICATI by fiscal code: amountDue = tariff, pays only the tariff, and can be paid again', async () => {
    const t = terminal();
    const v = await verify(t, { service: 'CERTIFICATI', identifier: VALID_CF });
    expect(v.status, v.text).toBe(200);
    expect(v.body).toMatchObject({ service: 'CERTIFICATI', amountDue: 100, dueDate: null, entity: 'Comune di Prato' });
    expect(v.body.fee).toBe(100);
    const before = await paymentCount(c.db);
    expectProblem(await pay(t, { service: 'CERTIFICATI', identifier: VALID_CF, amount: 200 }), 422, 'AMOUNT_MISMATCH');
    expect(await paymentCount(c.db)).toBe(before);
    const first = await pay(t, { service: 'CERTIFICATI', identifier: VALID_CF, amount: 100 });
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ amount: 100, fee: 100, total: 200 });
    const second = await pay(t, { service: 'CERTIFICATI', identifier: VALID_CF, amount: 100 });
    expect(second.status).toBe(201);
    expect(second.body.paymentId).not.toBe(first.body.paymentId);
    expect(await paymentCount(c.db)).toBe(before + 2);
  });

  it('FOTOGRAMMI by fine number: 1000 cents', async () => {
    const t = terminal();
    const res = await pay(t, { service: 'FOTOGRAMMI', identifier: 'AB1234', amount: 1000, fee: 100 });
    expect(res.status, res.text).toBe(201);
    expect(res.body.total).toBe(1100);
  });

  it('an F service with an invalid fiscal code → 422 INVALID_FISCAL_CODE', async () => {
    const t = terminal();
    expectProblem(await verify(t, { service: 'CIE', identifier: 'RSSMRA50A01A110X' }), 422, 'INVALID_FISCAL_CODE');
    expectProblem(await pay(t, { service: 'CIE', identifier: 'RSSMRA50A01A110X', amount: 2221 }), 422, 'INVALID_FISCAL_CODE');
  });
});

describe('S services: self-assessed (IMU)', () => {
  it('verify gives min and max, amountDue 0', async () => {
    const t = terminal();
    const v = await verify(t, { service: 'IMU', identifier: VALID_CF, year: 2026 });
    expect(v.status, v.text).toBe(200);
    expect(v.body).toMatchObject({ service: 'IMU', amountDue: 0, minAmount: 100, maxAmount: 5_000_000, dueDate: null });
  });

  it('pays any amount within the limits, with the 1% fee (min 100, max 220)', async () => {
    const t = terminal();
    const a = await pay(t, { service: 'IMU', identifier: VALID_CF, year: 2026, amount: 25_000 });
    expect(a.status, a.text).toBe(201);
    expect(a.body).toMatchObject({ amount: 25_000, fee: onePercentFee(25_000), total: 25_000 + onePercentFee(25_000) });
    const b = await pay(t, { service: 'IMU', identifier: `${VALID_CF}/2025`, amount: 15_050 });
    expect(b.status, b.text).toBe(201);
    expect(b.body.fee).toBe(onePercentFee(15_050));
    const got = await c.api().get(`/v1/payments/${b.body.paymentId as string}`).set(t.auth);
    expect(got.body.identifier).toBe(`${VALID_CF}/2025`);
  });

  it('an amount outside [min, max] → 422 AMOUNT_OUT_OF_RANGE and nothing booked', async () => {
    const t = terminal();
    const before = await paymentCount(c.db);
    expectProblem(await pay(t, { service: 'IMU', identifier: VALID_CF, year: 2026, amount: 99 }), 422, 'AMOUNT_OUT_OF_RANGE');
    expectProblem(await pay(t, { service: 'IMU', identifier: VALID_CF, year: 2026, amount: 5_000_001 }), 422, 'AMOUNT_OUT_OF_RANGE');
    expect(await paymentCount(c.db)).toBe(before);
  });

  it('IMU without a year → 400 FORMAT; with an invalid fiscal code → 422 INVALID_FISCAL_CODE', async () => {
    const t = terminal();
    expectProblem(await verify(t, { service: 'IMU', identifier: VALID_CF }), 400, 'FORMAT');
    expectProblem(await verify(t, { service: 'IMU', identifier: 'RSSMRA50A01A110X', year: 2026 }), 422, 'INVALID_FISCAL_CODE');
  });
});

describe('MULTA: the amount depends on the day of payment', () => {
  const multe = async () =>
    (
      await c.db.all<{ optionId: number; notice: string; lookupKey: string; ruleParams: string; amount: number }>(
        `SELECT o.id AS "optionId", o.notice_number AS notice, o.lookup_key AS "lookupKey", o.rule_params AS "ruleParams", o.amount_cents AS amount
         FROM payment_options o JOIN debt_positions p ON p.id = o.position_id
         WHERE p.service_code = 'MULTA' AND p.status = 'VALID' AND o.paid_payment_id IS NULL AND (p.valid_until IS NULL OR p.valid_until >= ?)
         ORDER BY o.id`,
        today(),
      )
    ).map((r) => ({
      ...r,
      p: JSON.parse(r.ruleParams) as { minCents: number; maxCents: number; costsCents: number; notifiedOn: string; discountExcluded: boolean },
    }));
  const used = new Set<number>();
  const pick = async (pred: (days: number, p: { discountExcluded: boolean }) => boolean) => {
    const m = (await multe()).find((x) => !used.has(x.optionId) && pred(daysBetween(x.p.notifiedOn, today()), x.p));
    if (!m) throw new Error('no suitable MULTA in the seed');
    used.add(m.optionId);
    return m;
  };

  it('within 60 days of notification: the minimum plus costs (by notice)', async () => {
    const t = terminal();
    const m = await pick((d) => d >= 10 && d <= 50);
    const expected = m.p.minCents + m.p.costsCents;
    const v = await verify(t, { service: 'MULTA', identifier: m.notice });
    expect(v.status, v.text).toBe(200);
    expect(v.body.amountDue).toBe(expected);
    const res = await pay(t, { service: 'MULTA', identifier: m.notice, amount: expected, fee: v.body.fee });
    expect(res.status, res.text).toBe(201);
    expect(res.body.amount).toBe(expected);
  });

  it('within 5 days: the minimum −30% plus costs (by fine number and plate)', async () => {
    const t = terminal();
    const m = await pick((d, p) => d >= 0 && d <= 3 && !p.discountExcluded);
    const expected = Math.round(m.p.minCents * 0.7) + m.p.costsCents;
    const v = await verify(t, { service: 'MULTA', identifier: m.lookupKey });
    expect(v.status, v.text).toBe(200);
    expect(v.body.amountDue).toBe(expected);
    // The nominal amount (minimum + costs) is not what is due today.
    expectProblem(await pay(t, { service: 'MULTA', identifier: m.lookupKey, amount: m.p.minCents + m.p.costsCents }), 422, 'AMOUNT_MISMATCH');
    const res = await pay(t, { service: 'MULTA', identifier: m.lookupKey, amount: expected });
    expect(res.status, res.text).toBe(201);
    expect(await paymentCount(c.db, m.optionId)).toBe(1);
  });

  it('long after notification: half the maximum plus costs', async () => {
    const t = terminal();
    const m = await pick((d) => d >= 75);
    const expected = m.p.maxCents / 2 + m.p.costsCents;
    const v = await verify(t, { service: 'MULTA', identifier: m.notice });
    expect(v.status, v.text).toBe(200);
    expect(v.body.amountDue).toBe(expected);
    expectProblem(await pay(t, { service: 'MULTA', identifier: m.notice, amount: m.amount }), 422, 'AMOUNT_MISMATCH');
    expect((await pay(t, { service: 'MULTA', identifier: m.notice, amount: expected })).status).toBe(201);
  });

  it('a fine number with a malformed plate → 422 INVALID_PLATE', async () => {
    const t = terminal();
    expectProblem(await verify(t, { service: 'MULTA', identifier: 'V2026000001/12' }), 422, 'INVALID_PLATE');
  });
});

describe('BOLLO: by plate and vehicle type', () => {
  it('a current bollo: amount as published, 1% fee; identifier PLATE/TYPE', async () => {
    const t = terminal();
    const o = await c.notices.payable('BOLLO', `${jsonText('o.rule_params', 'dueDate')} >= ?`, today());
    const [plate, type] = o.lookupKey!.split('/') as [string, string];
    const v = await verify(t, { service: 'BOLLO', identifier: plate, vehicleType: type });
    expect(v.status, v.text).toBe(200);
    expect(v.body).toMatchObject({ entity: 'Regione Toscana', amountDue: o.amount, fee: onePercentFee(o.amount), status: 'VALID' });
    expect(v.body.breakdown).toEqual({ tax: o.amount, sanction: 0, interest: 0, daysLate: 0 });
    const res = await pay(t, { service: 'BOLLO', identifier: plate.toLowerCase(), vehicleType: type, amount: o.amount, fee: onePercentFee(o.amount) });
    expect(res.status, res.text).toBe(201);
    const got = await c.api().get(`/v1/payments/${res.body.paymentId as string}`).set(t.auth);
    expect(got.body).toMatchObject({ service: 'BOLLO', identifier: `${plate}/${type}`, entity: 'Regione Toscana' });
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
  });

  it('a late bollo costs more than published (sanction and interest)', async () => {
    const t = terminal();
    const o = await c.notices.payable('BOLLO', `${jsonText('o.rule_params', 'dueDate')} < ?`, today());
    const [plate, type] = o.lookupKey!.split('/') as [string, string];
    const v = await verify(t, { service: 'BOLLO', identifier: `${plate}/${type}` });
    expect(v.status, v.text).toBe(200);
    expect(v.body.amountDue).toBeGreaterThan(o.amount);
    // The breakdown: the published tax, then sanction and interest for the days late, summing to what is due.
    const dueDate = (JSON.parse(o.ruleParams!) as { dueDate: string }).dueDate;
    const expected = bolloAmountDue(o.amount, dueDate, today());
    expect(v.body.breakdown).toEqual({ tax: o.amount, sanction: expected.sanctionCents, interest: expected.interestCents, daysLate: expected.daysLate });
    const b = v.body.breakdown as { tax: number; sanction: number; interest: number; daysLate: number };
    expect(b.daysLate).toBeGreaterThan(0);
    expect(b.sanction).toBeGreaterThan(0);
    expect(b.tax + b.sanction + b.interest).toBe(v.body.amountDue);
    expectProblem(await pay(t, { service: 'BOLLO', identifier: plate, vehicleType: type, amount: o.amount }), 422, 'AMOUNT_MISMATCH');
    const paid = await pay(t, { service: 'BOLLO', identifier: plate, vehicleType: type, amount: v.body.amountDue });
    expect(paid.status).toBe(201);
    // The receipt prints the same breakdown under the amount.
    const receipt = await c.api().get(`/v1/payments/${paid.body.paymentId as string}/receipt`).set(t.auth).set('Accept', 'text/plain');
    expect(receipt.status).toBe(200);
    expect(receipt.text).toMatch(new RegExp(`di cui tassa +EUR ${euro(b.tax)}\n di cui sanzione +EUR ${euro(b.sanction)}\n di cui interessi +EUR ${euro(b.interest)}\n giorni di ritardo +${b.daysLate}\n`));
  });

  it('the wrong vehicle type finds nothing (404 NOTICE_UNKNOWN); no type → 400; bad plate → 422 INVALID_PLATE', async () => {
    const t = terminal();
    const o = await c.notices.payable('BOLLO', "o.lookup_key LIKE '%/1'");
    const plate = o.lookupKey!.split('/')[0]!;
    expectProblem(await verify(t, { service: 'BOLLO', identifier: plate, vehicleType: '4' }), 404, 'NOTICE_UNKNOWN');
    expectProblem(await verify(t, { service: 'BOLLO', identifier: plate }), 400, 'FORMAT');
    expectProblem(await verify(t, { service: 'BOLLO', identifier: 'ABCDEFG', vehicleType: '1' }), 422, 'INVALID_PLATE');
  });
});

describe('L services looked up by a user code', () => {
  it('LAMPADE by user code: amount as published; once paid, the key answers NOTICE_ALREADY_PAID', async () => {
    const t = terminal();
    const o = await c.notices.payable('LAMPADE', 'p.valid_until IS NULL');
    const v = await verify(t, { service: 'LAMPADE', identifier: o.lookupKey!.toLowerCase() });
    expect(v.status, v.text).toBe(200);
    expect(v.body.amountDue).toBe(o.amount);
    const res = await pay(t, { service: 'LAMPADE', identifier: o.lookupKey!, amount: o.amount });
    expect(res.status, res.text).toBe(201);
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
    expectProblem(await verify(t, { service: 'LAMPADE', identifier: o.lookupKey! }), 409, 'NOTICE_ALREADY_PAID');
    expectProblem(await verify(t, { service: 'LAMPADE', identifier: 'LV999999' }), 404, 'NOTICE_UNKNOWN');
  });
});

describe('TARI instalments and a fee-less service', () => {
  it('paying an instalment makes the position PARTIALLY_PAID; the single payment is no longer on offer', async () => {
    const t = terminal();
    const first = await c.notices.take(
      "p.service_code = 'TARI' AND p.status = 'VALID' AND p.valid_until IS NULL AND o.kind = 'instalment' AND o.instalment_no = 1",
    );
    const siblings = await c.db.all<{ notice: string; kind: string; n: number | null; amount: number }>(
      'SELECT notice_number AS notice, kind, instalment_no AS n, amount_cents AS amount FROM payment_options WHERE position_id = ? ORDER BY id',
      first.positionId,
    );
    const single = siblings.find((s) => s.kind === 'single')!;
    const second = siblings.find((s) => s.n === 2)!;
    expect((await pay(t, { service: 'TARI', identifier: first.notice, amount: first.amount })).status).toBe(201);
    expectProblem(await verify(t, { service: 'TARI', identifier: single.notice }), 409, 'NOTICE_ALREADY_PAID');
    const v2 = await verify(t, { service: 'TARI', identifier: second.notice });
    expect(v2.status, v2.text).toBe(200);
    expect(v2.body.status).toBe('PARTIALLY_PAID');
    expect(v2.body.amountDue).toBe(second.amount);
  });

  it('TICKET: the entity absorbs the fee (0), total = amount', async () => {
    const t = terminal();
    const o = await c.notices.payable('TICKET');
    const res = await pay(t, { service: 'TICKET', identifier: o.notice, amount: o.amount, fee: 0 });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ fee: 0, total: o.amount });
  });
});

describe('refusals: every one a problem+json with its code, and nothing booked', () => {
  let before: number;
  beforeAll(async () => {
    before = await paymentCount(c.db);
  });

  it('unknown service → 404 SERVICE_UNKNOWN', async () => {
    const t = terminal();
    expectProblem(await verify(t, { service: 'NOPE', identifier: '301202400000000164' }), 404, 'SERVICE_UNKNOWN');
    expectProblem(await pay(t, { service: 'NOPE', identifier: '301202400000000164', amount: 100 }), 404, 'SERVICE_UNKNOWN');
  });

  it('a notice with wrong check digits → 422 INVALID_NOTICE_NUMBER', async () => {
    const t = terminal();
    const o = await c.notices.tari();
    const bad = corruptCheckDigits(o.notice);
    expectProblem(await verify(t, { service: 'TARI', identifier: bad }), 422, 'INVALID_NOTICE_NUMBER');
    expectProblem(await pay(t, { service: 'TARI', identifier: bad, amount: o.amount }), 422, 'INVALID_NOTICE_NUMBER');
    expectProblem(await verify(t, { service: 'TARI', identifier: '311111111112222222' }), 422, 'INVALID_NOTICE_NUMBER');
    expectProblem(await verify(t, { service: 'TARI', identifier: '12345' }), 422, 'INVALID_NOTICE_NUMBER');
    expectProblem(await verify(t, { service: 'TARI', identifier: '501202400000000164' }), 422, 'INVALID_NOTICE_NUMBER');
  });

  it('a valid but unknown notice → 404 NOTICE_UNKNOWN; a notice of another service → 404 NOTICE_UNKNOWN', async () => {
    const t = terminal();
    expectProblem(await verify(t, { service: 'TARI', identifier: '001000000001234516' }), 404, 'NOTICE_UNKNOWN');
    expectProblem(await pay(t, { service: 'TARI', identifier: '347202400012345688', amount: 100 }), 404, 'NOTICE_UNKNOWN');
    const o = await c.notices.tari();
    expectProblem(await verify(t, { service: 'SANZIONI', identifier: o.notice }), 404, 'NOTICE_UNKNOWN');
    expectProblem(await pay(t, { service: 'SANZIONI', identifier: o.notice, amount: o.amount }), 404, 'NOTICE_UNKNOWN');
  });

  it('a wrong amount → 422 AMOUNT_MISMATCH', async () => {
    const t = terminal();
    const o = await c.notices.tari();
    expectProblem(await pay(t, { service: 'TARI', identifier: o.notice, amount: o.amount + 1 }), 422, 'AMOUNT_MISMATCH');
    expectProblem(await pay(t, { service: 'TARI', identifier: o.notice, amount: o.amount - 1 }), 422, 'AMOUNT_MISMATCH');
    expect(await paymentCount(c.db, o.optionId)).toBe(0);
    // Still payable afterwards.
    expect((await verify(t, { service: 'TARI', identifier: o.notice })).status).toBe(200);
  });

  it('a fee other than the schedule → 422 FEE_MISMATCH', async () => {
    const t = terminal();
    const o = await c.notices.tari();
    expectProblem(await pay(t, { service: 'TARI', identifier: o.notice, amount: o.amount, fee: tariFeeTabaccaio() - 10 }), 422, 'FEE_MISMATCH');
    expectProblem(await pay(t, { service: 'TARI', identifier: o.notice, amount: o.amount, fee: 0 }), 422, 'FEE_MISMATCH');
    expect(await paymentCount(c.db, o.optionId)).toBe(0);
  });

  it('a cancelled position → 409 NOTICE_CANCELLED', async () => {
    const t = terminal();
    const o = await c.notices.take("p.status = 'INVALID' AND p.service_code = 'TARI'");
    expectProblem(await verify(t, { service: 'TARI', identifier: o.notice }), 409, 'NOTICE_CANCELLED');
    expectProblem(await pay(t, { service: 'TARI', identifier: o.notice, amount: o.amount }), 409, 'NOTICE_CANCELLED');
  });

  it('an expired position → 409 NOTICE_EXPIRED', async () => {
    const t = terminal();
    const o = await c.notices.take("p.status = 'EXPIRED' AND p.service_code = 'TARI'");
    expectProblem(await verify(t, { service: 'TARI', identifier: o.notice }), 409, 'NOTICE_EXPIRED');
    expectProblem(await pay(t, { service: 'TARI', identifier: o.notice, amount: o.amount }), 409, 'NOTICE_EXPIRED');
  });

  it('missing service or identifier → 400 FORMAT', async () => {
    const t = terminal();
    expectProblem(await verify(t, { identifier: '301202400000000164' }), 400, 'FORMAT');
    expectProblem(await verify(t, { service: 'TARI' }), 400, 'FORMAT');
    expectProblem(await pay(t, { service: 'TARI', amount: 100 }), 400, 'FORMAT');
  });

  it('an entity fiscal code in the QR that is not the notice entity\'s is at least a well-formed refusal or a payment of the right entity', async () => {
    const t = terminal();
    const o = await c.notices.tari();
    const res = await verify(t, { qr: `PAGOPA|002|${o.notice}|${PISA_CF}|${o.amount}` });
    // The notice belongs to the Comune di Prato; whatever the switch decides, it must never
    // present it as Pisa's.
    if (res.status === 200) expect(res.body.entity).toBe('Comune di Prato');
    else expect(res.status).toBeGreaterThanOrEqual(400);
  });

  it('none of the refusals booked anything', async () => {
    expect(await paymentCount(c.db)).toBe(before);
  });
});
