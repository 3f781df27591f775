// Who may read what (terminals their own payments, entities theirs, finance and admin
// all) and reversals (annullo): by the paying terminal only, idempotent, the notice
// payable again, the ledger balanced, and refused once the settlement window closed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, counterOf, expectProblem, idemKey, paymentCount, pluck, setup, TerminalPool, type Ctx, type OptionRow } from './support.js';
import { testClock } from '../helpers/clock.js';

let c: Ctx;
let pool: TerminalPool;
beforeAll(async () => {
  c = await setup();
  pool = new TerminalPool(c.h, 'tabaccaio');
});
afterAll(async () => {
  await c?.close();
});

const tAuth = (id: string) => bearer(c.h.terminalToken(id));
const uAuth = (u: string) => bearer(c.h.userToken(u));

async function payTari(terminalId: string, given?: OptionRow) {
  const o = given ?? (await c.notices.tari());
  const res = await c
    .api()
    .post('/v1/payments')
    .set(tAuth(terminalId))
    .set('Idempotency-Key', idemKey())
    .send({ service: 'TARI', identifier: o.notice, amount: o.amount });
  expect(res.status, res.text).toBe(201);
  return { o, payment: res.body as Record<string, unknown> & { paymentId: string } };
}

const reverse = (terminalId: string, paymentId: string, key = idemKey('rev')) =>
  c.api().post(`/v1/payments/${paymentId}/reversal`).set(tAuth(terminalId)).set('Idempotency-Key', key);

describe('ownership of payments and positions', () => {
  let owner: string;
  let paymentId: string;
  let positionId: number;

  beforeAll(async () => {
    owner = pool.take();
    const { o, payment } = await payTari(owner);
    paymentId = payment.paymentId;
    positionId = o.positionId;
  });

  it('the paying terminal reads its payment and receipt', async () => {
    expect((await c.api().get(`/v1/payments/${paymentId}`).set(tAuth(owner))).status).toBe(200);
    expect((await c.api().get(`/v1/payments/${paymentId}/receipt`).set(tAuth(owner))).status).toBe(200);
  });

  it('another terminal → 403 on the payment, its receipt and its reversal', async () => {
    const other = pool.take();
    expectProblem(await c.api().get(`/v1/payments/${paymentId}`).set(tAuth(other)), 403, 'FORBIDDEN');
    expectProblem(await c.api().get(`/v1/payments/${paymentId}/receipt`).set(tAuth(other)), 403, 'FORBIDDEN');
    expectProblem(await reverse(other, paymentId), 403, 'FORBIDDEN');
    // A terminal of the same counter is another terminal too.
    const sibling = c.h.credentials.terminals.find((t) => t.counterId === counterOf(c.h, owner) && t.terminalId !== owner);
    if (sibling) expectProblem(await c.api().get(`/v1/payments/${paymentId}`).set(tAuth(sibling.terminalId)), 403, 'FORBIDDEN');
    const after = await c.api().get(`/v1/payments/${paymentId}`).set(tAuth(owner));
    expect(after.body.status).toBe('BOOKED');
  });

  it('ente-pisa cannot read a PRATO payment, nor a PRATO position, nor list PRATO positions', async () => {
    const pisa = uAuth('ente-pisa');
    expectProblem(await c.api().get(`/v1/payments/${paymentId}`).set(pisa), 403, 'FORBIDDEN');
    expectProblem(await c.api().get(`/v1/payments/${paymentId}/receipt`).set(pisa), 403, 'FORBIDDEN');
    expectProblem(await c.api().get(`/v1/debt-positions/${positionId}`).set(pisa), 403, 'FORBIDDEN');
    expectProblem(await c.api().get('/v1/debt-positions?entityId=PRATO').set(pisa), 403, 'FORBIDDEN');
  });

  it('ente-prato reads its own payment, receipt and position', async () => {
    const prato = uAuth('ente-prato');
    const p = await c.api().get(`/v1/payments/${paymentId}`).set(prato);
    expect(p.status).toBe(200);
    expect(p.body.paymentId).toBe(paymentId);
    expect((await c.api().get(`/v1/payments/${paymentId}/receipt`).set(prato)).status).toBe(200);
    const pos = await c.api().get(`/v1/debt-positions/${positionId}`).set(prato);
    expect(pos.status).toBe(200);
    expect(pos.body).toMatchObject({ id: positionId, entityId: 'PRATO', service: 'TARI', status: 'PAID' });
    expect(pos.body.options.some((o: { paid: boolean }) => o.paid)).toBe(true);
  });

  it('finance and admin read every payment and position', async () => {
    for (const u of ['finance', 'admin']) {
      expect((await c.api().get(`/v1/payments/${paymentId}`).set(uAuth(u))).status).toBe(200);
      expect((await c.api().get(`/v1/debt-positions/${positionId}`).set(uAuth(u))).status).toBe(200);
      const list = await c.api().get('/v1/debt-positions?entityId=PISA&limit=5').set(uAuth(u));
      expect(list.status).toBe(200);
      expect(list.body.items.every((p: { entityId: string }) => p.entityId === 'PISA')).toBe(true);
    }
  });

  it('users cannot reverse payments, even finance and admin (403, nothing changed)', async () => {
    for (const u of ['ente-prato', 'finance', 'admin']) {
      expectProblem(await c.api().post(`/v1/payments/${paymentId}/reversal`).set(uAuth(u)).set('Idempotency-Key', idemKey()), 403, 'FORBIDDEN');
    }
    const after = await c.api().get(`/v1/payments/${paymentId}`).set(tAuth(owner));
    expect(after.body.status).toBe('BOOKED');
  });
});

describe('reversal (annullo)', () => {
  const entriesOf = (paymentId: string) =>
    c.db.scalar('SELECT count(*) FROM ledger_entries e JOIN payments p ON p.id = e.payment_id WHERE p.public_id = ?', paymentId);
  const exposure = async (counterId: string) => {
    const res = await c.api().get(`/v1/admin/counters/${counterId}`).set(uAuth('finance'));
    expect(res.status).toBe(200);
    return res.body.exposure as number;
  };

  it('by the paying terminal: 200 REVERSED, the notice payable again, the ledger balanced, exposure restored', async () => {
    const t = pool.take();
    const counterId = counterOf(c.h, t);
    const exposureBefore = await exposure(counterId);
    const { o, payment } = await payTari(t);
    expect(await exposure(counterId)).toBe(exposureBefore + (payment.total as number));
    const res = await reverse(t, payment.paymentId);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      paymentId: payment.paymentId,
      receiptNumber: payment.receiptNumber,
      rrn: payment.rrn,
      amount: payment.amount,
      fee: payment.fee,
      total: payment.total,
      status: 'REVERSED',
    });
    expect(new Date(res.body.reversedAt as string).toISOString()).toBe(res.body.reversedAt);
    expect(await exposure(counterId)).toBe(exposureBefore);

    const v = await c.api().post('/v1/verify').set(tAuth(t)).send({ service: 'TARI', identifier: o.notice });
    expect(v.status, v.text).toBe(200);
    expect(v.body).toMatchObject({ status: 'VALID', amountDue: o.amount });
    expect(await pluck(c.db, 'SELECT status FROM debt_positions WHERE id = ?', o.positionId)).toBe('VALID');

    const inv = await c.h.rt.store.checkInvariants();
    expect(inv.violations).toEqual([]);
    expect(inv.ok).toBe(true);

    // GET shows it reversed; the receipt says so.
    const got = await c.api().get(`/v1/payments/${payment.paymentId}`).set(tAuth(t));
    expect(got.body.status).toBe('REVERSED');
    const receipt = await c.api().get(`/v1/payments/${payment.paymentId}/receipt`).set(tAuth(t));
    expect(receipt.text).toContain('ANNULLATO');
  });

  it('a second reversal → 200 and changes nothing', async () => {
    const t = pool.take();
    const { payment } = await payTari(t);
    const first = await reverse(t, payment.paymentId);
    expect(first.status).toBe(200);
    const entries = await entriesOf(payment.paymentId);
    const second = await reverse(t, payment.paymentId);
    expect(second.status, second.text).toBe(200);
    expect(second.body).toEqual(first.body);
    // Even with the same key again.
    const key = idemKey('rev2');
    expect((await reverse(t, payment.paymentId, key)).status).toBe(200);
    expect((await reverse(t, payment.paymentId, key)).status).toBe(200);
    expect(await entriesOf(payment.paymentId)).toBe(entries);
    expect((await c.h.rt.store.checkInvariants()).ok).toBe(true);
  });

  it('the reversed notice can be paid again, once', async () => {
    const [t1, t2] = [pool.take(), pool.take()];
    const { o, payment } = await payTari(t1);
    expect((await reverse(t1, payment.paymentId)).status).toBe(200);
    const again = await payTari(t2, o);
    expect(again.payment.paymentId).not.toBe(payment.paymentId);
    expect(await paymentCount(c.db, o.optionId)).toBe(2);
    const paidBy = await pluck(c.db, 'SELECT p.public_id FROM payment_options o JOIN payments p ON p.id = o.paid_payment_id WHERE o.id = ?', o.optionId);
    expect(paidBy).toBe(again.payment.paymentId);
    // Reversing the old one again must not free the notice paid by the new one.
    expect((await reverse(t1, payment.paymentId)).status).toBe(200);
    expectProblem(await c.api().post('/v1/verify').set(tAuth(t1)).send({ service: 'TARI', identifier: o.notice }), 409, 'NOTICE_ALREADY_PAID');
    expect((await c.h.rt.store.checkInvariants()).ok).toBe(true);
  });

  it('by another terminal → 403 and nothing changes', async () => {
    const [t1, t2] = [pool.take(), pool.take()];
    const { o, payment } = await payTari(t1);
    const entries = await entriesOf(payment.paymentId);
    expectProblem(await reverse(t2, payment.paymentId), 403, 'FORBIDDEN');
    expect(await entriesOf(payment.paymentId)).toBe(entries);
    expectProblem(await c.api().post('/v1/verify').set(tAuth(t1)).send({ service: 'TARI', identifier: o.notice }), 409, 'NOTICE_ALREADY_PAID');
  });

  it('an unknown payment → 404', async () => {
    const t = pool.take();
    expectProblem(await reverse(t, '00000000-0000-4000-8000-000000000000'), 404, 'NOT_FOUND');
    expectProblem(await reverse(t, 'nope'), 404, 'NOT_FOUND');
  });

  it('needs an Idempotency-Key (400), and a key already used for a payment → 409 IDEMPOTENCY_CONFLICT', async () => {
    const t = pool.take();
    const o = await c.notices.tari();
    const key = idemKey('pay');
    const paid = await c.api().post('/v1/payments').set(tAuth(t)).set('Idempotency-Key', key).send({ service: 'TARI', identifier: o.notice, amount: o.amount });
    expect(paid.status).toBe(201);
    expectProblem(await c.api().post(`/v1/payments/${paid.body.paymentId as string}/reversal`).set(tAuth(t)), 400, 'FORMAT');
    expectProblem(await reverse(t, paid.body.paymentId as string, key), 409, 'IDEMPOTENCY_CONFLICT');
    const got = await c.api().get(`/v1/payments/${paid.body.paymentId as string}`).set(tAuth(t));
    expect(got.body.status).toBe('BOOKED');
  });

  it('a reversal key reused for another request → 409 IDEMPOTENCY_CONFLICT (the key is remembered)', async () => {
    const t = pool.take();
    const a = await payTari(t);
    const b = await payTari(t);
    const key = idemKey('revkey');
    expect((await reverse(t, a.payment.paymentId, key)).status).toBe(200);
    // The same key for the reversal of another payment, or for a payment, is another request.
    expectProblem(await reverse(t, b.payment.paymentId, key), 409, 'IDEMPOTENCY_CONFLICT');
    const o = await c.notices.tari();
    expectProblem(
      await c.api().post('/v1/payments').set(tAuth(t)).set('Idempotency-Key', key).send({ service: 'TARI', identifier: o.notice, amount: o.amount }),
      409,
      'IDEMPOTENCY_CONFLICT',
    );
    const got = await c.api().get(`/v1/payments/${b.payment.paymentId}`).set(tAuth(t));
    expect(got.body.status).toBe('BOOKED');
  });

  it('a fixed-tariff payment (no notice) reverses too', async () => {
    const t = pool.take();
    const paid = await c
      .api()
      .post('/v1/payments')
      .set(tAuth(t))
      .set('Idempotency-Key', idemKey())
      .send({ service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 });
    expect(paid.status).toBe(201);
    const res = await reverse(t, paid.body.paymentId as string);
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe('REVERSED');
    expect((await c.h.rt.store.checkInvariants()).ok).toBe(true);
  });

  it('a reversed payment is not counted twice when paid, reversed and paid over many notices (ledger check)', async () => {
    const t = pool.take();
    for (let i = 0; i < 5; i++) {
      const { payment } = await payTari(t);
      if (i % 2 === 0) expect((await reverse(t, payment.paymentId)).status).toBe(200);
    }
    const inv = await c.h.rt.store.checkInvariants();
    expect(inv.violations).toEqual([]);
  });
});

describe('reversal after the settlement window closed', () => {
  let w: Ctx;
  let offset = 0;
  beforeAll(async () => {
    w = await setup(300, () => testClock() + offset);
  });
  afterAll(async () => {
    await w?.close();
  });

  it('→ 409 REVERSAL_WINDOW_CLOSED and the payment stays booked', async () => {
    const t = 'T0001';
    const auth = bearer(w.h.terminalToken(t));
    const o = await w.notices.tari();
    const paid = await w.api().post('/v1/payments').set(auth).set('Idempotency-Key', idemKey()).send({ service: 'TARI', identifier: o.notice, amount: o.amount });
    expect(paid.status, paid.text).toBe(201);
    offset = 8 * 86_400_000; // a week later: certainly another settlement day
    const res = await w.api().post(`/v1/payments/${paid.body.paymentId as string}/reversal`).set(auth).set('Idempotency-Key', idemKey());
    expectProblem(res, 409, 'REVERSAL_WINDOW_CLOSED');
    const got = await w.api().get(`/v1/payments/${paid.body.paymentId as string}`).set(auth);
    expect(got.body.status).toBe('BOOKED');
    expect((await w.h.rt.store.checkInvariants()).ok).toBe(true);
  });
});
