// Idempotency-Key on POST /v1/payments (terminal-protocol.md §2) and concurrency:
// replays are byte-identical and book nothing; a notice is paid at most once however
// many terminals race for it.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer, expectProblem, idemKey, paymentCount, pluck, setup, TerminalPool, type Ctx } from './support.js';

let c: Ctx;
let pool: TerminalPool;
beforeAll(async () => {
  c = await setup();
  pool = new TerminalPool(c.h, 'agenzia');
});
afterAll(async () => {
  await c?.close();
});

const auth = (terminalId: string) => bearer(c.h.terminalToken(terminalId));
const post = (terminalId: string, key: string | undefined, body: unknown) => {
  const r = c.api().post('/v1/payments').set(auth(terminalId));
  // set() returns the same request for chaining; awaiting it here would send it.
  if (key !== undefined) void r.set('Idempotency-Key', key);
  return r.send(body as object);
};

describe('the Idempotency-Key header', () => {
  it('is required: missing, too short, too long or not printable ASCII → 400 FORMAT, nothing booked', async () => {
    const t = pool.take();
    const o = await c.notices.tari();
    const body = { service: 'TARI', identifier: o.notice, amount: o.amount };
    expectProblem(await post(t, undefined, body), 400, 'FORMAT');
    expectProblem(await post(t, '1234567', body), 400, 'FORMAT');
    expectProblem(await post(t, 'x'.repeat(65), body), 400, 'FORMAT');
    expectProblem(await post(t, 'caffè-latte-1', body), 400, 'FORMAT');
    expect(await paymentCount(c.db, o.optionId)).toBe(0);
    // §2 only asks for 8–64 characters: printable ones with spaces are fine.
    expect((await post(t, 'has a space', body)).status).toBe(201);
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
    const o1 = await c.notices.tari();
    body.identifier = o1.notice;
    body.amount = o1.amount;
    // 8 and 64 characters are fine.
    expect((await post(t, `${'k'.repeat(7)}8`, body)).status).toBe(201);
    const o2 = await c.notices.tari();
    expect((await post(t, `${'z'.repeat(63)}9`, { service: 'TARI', identifier: o2.notice, amount: o2.amount })).status).toBe(201);
  });

  it('same key, same body → the same status and a byte-identical body, one payment', async () => {
    const t = pool.take();
    const o = await c.notices.tari();
    const key = idemKey();
    const body = { service: 'TARI', identifier: o.notice, amount: o.amount };
    const first = await post(t, key, body);
    expect(first.status, first.text).toBe(201);
    const again = await post(t, key, body);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.location).toBe(first.headers.location);
    const third = await post(t, key, body);
    expect(third.text).toBe(first.text);
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
    const total = await c.db.scalar('SELECT count(*) FROM payments WHERE terminal_id = ?', t);
    expect(total).toBe(1);
  });

  it('same key, same body with its fields in another order → replay', async () => {
    const t = pool.take();
    const o = await c.notices.tari();
    const key = idemKey();
    const first = await post(t, key, { service: 'TARI', identifier: o.notice, amount: o.amount });
    expect(first.status).toBe(201);
    const again = await c
      .api()
      .post('/v1/payments')
      .set(auth(t))
      .set('Idempotency-Key', key)
      .set('Content-Type', 'application/json')
      .send(`{"amount":${o.amount},"identifier":"${o.notice}","service":"TARI"}`);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
  });

  it('same key, different body → 409 IDEMPOTENCY_CONFLICT, nothing booked', async () => {
    const t = pool.take();
    const o = await c.notices.tari();
    const other = await c.notices.tari();
    const key = idemKey();
    expect((await post(t, key, { service: 'TARI', identifier: o.notice, amount: o.amount })).status).toBe(201);
    const before = await paymentCount(c.db);
    expectProblem(await post(t, key, { service: 'TARI', identifier: other.notice, amount: other.amount }), 409, 'IDEMPOTENCY_CONFLICT');
    expectProblem(await post(t, key, { service: 'TARI', identifier: o.notice, amount: o.amount, fee: 190 }), 409, 'IDEMPOTENCY_CONFLICT');
    expectProblem(await post(t, key, { service: 'TARI', identifier: o.notice, amount: o.amount, payer: 'RSSMRA85T10A562S' }), 409, 'IDEMPOTENCY_CONFLICT');
    expect(await paymentCount(c.db)).toBe(before);
    expect(await paymentCount(c.db, other.optionId)).toBe(0);
  });

  it('keys belong to a terminal: another terminal with the same key is not served the first answer', async () => {
    const [t1, t2] = [pool.take(), pool.take()];
    const o = await c.notices.tari();
    const key = idemKey();
    const body = { service: 'TARI', identifier: o.notice, amount: o.amount };
    const first = await post(t1, key, body);
    expect(first.status).toBe(201);
    const second = await post(t2, key, body);
    expectProblem(second, 409, 'NOTICE_ALREADY_PAID');
    expect(second.text).not.toContain(first.body.paymentId as string);
    // And another terminal may use the same key for its own different request.
    const o2 = await c.notices.tari();
    expect((await post(t2, key, { service: 'TARI', identifier: o2.notice, amount: o2.amount })).status).toBe(201);
  });

  it('a refused request is not recorded: the same key may carry the corrected request', async () => {
    const t = pool.take();
    const o = await c.notices.tari();
    const key = idemKey();
    expectProblem(await post(t, key, { service: 'TARI', identifier: o.notice, amount: o.amount + 5 }), 422, 'AMOUNT_MISMATCH');
    // The same wrong request gets the same answer again.
    expectProblem(await post(t, key, { service: 'TARI', identifier: o.notice, amount: o.amount + 5 }), 422, 'AMOUNT_MISMATCH');
    expect((await post(t, key, { service: 'TARI', identifier: o.notice, amount: o.amount })).status).toBe(201);
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
  });
});

describe('concurrency', () => {
  it('50 terminals pay one notice at once with 50 keys: exactly one 201, the rest 409, one payment', async () => {
    const o = await c.notices.tari();
    const terminals = Array.from({ length: 50 }, () => pool.take());
    const tokens = terminals.map((t) => auth(t));
    const results = await Promise.all(
      tokens.map((h) => c.api().post('/v1/payments').set(h).set('Idempotency-Key', idemKey('race')).send({ service: 'TARI', identifier: o.notice, amount: o.amount })),
    );
    const created = results.filter((r) => r.status === 201);
    expect(created.length, results.map((r) => `${r.status} ${r.text}`).join('\n')).toBe(1);
    for (const r of results.filter((x) => x.status !== 201)) {
      expect(r.status, r.text).toBe(409);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(['NOTICE_ALREADY_PAID', 'PAYMENT_IN_PROGRESS']).toContain(r.body.code);
    }
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
    expect(await c.db.scalar('SELECT CASE WHEN paid_payment_id IS NOT NULL THEN 1 ELSE 0 END FROM payment_options WHERE id = ?', o.optionId)).toBe(1);
    expect((await c.h.rt.store.checkInvariants()).ok).toBe(true);
  });

  it('a retry whose first read of its key missed the commit of the first request (read before, answered after) gets the first answer, not NOTICE_ALREADY_PAID', async () => {
    const t = pool.take();
    const o = await c.notices.tari();
    const key = idemKey('late-read');
    const body = { service: 'TARI', identifier: o.notice, amount: o.amount };
    const first = await post(t, key, body);
    expect(first.status, first.text).toBe(201);
    // The interleaving CI met on PostgreSQL, made certain: the retry's first read of its
    // key is the one made before the first request committed.
    const store = c.h.rt.store;
    const spy = vi.spyOn(store, 'priorRequest').mockImplementationOnce(async () => ({ record: undefined, advised: false }));
    try {
      const retry = await post(t, key, body);
      expect(retry.status, retry.text).toBe(201);
      expect(retry.text).toBe(first.text);
      // A retry with another amount under the key is still a conflict.
      spy.mockImplementationOnce(async () => ({ record: undefined, advised: false }));
      expectProblem(await post(t, key, { ...body, amount: o.amount + 1 }), 409, 'IDEMPOTENCY_CONFLICT');
    } finally {
      spy.mockRestore();
    }
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
  });

  it('20 identical requests at once (same key, same terminal): all the same 201 body, one payment', async () => {
    const t = pool.take();
    const o = await c.notices.tari();
    const key = idemKey('same');
    const h = auth(t);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        c.api().post('/v1/payments').set(h).set('Idempotency-Key', key).send({ service: 'TARI', identifier: o.notice, amount: o.amount }),
      ),
    );
    const statuses = results.map((r) => `${r.status} ${r.text}`);
    for (const r of results) expect(r.status, statuses.join('\n')).toBe(201);
    const bodies = new Set(results.map((r) => r.text));
    expect(bodies.size, [...bodies].join('\n')).toBe(1);
    expect(await paymentCount(c.db, o.optionId)).toBe(1);
    expect(await c.db.scalar('SELECT count(*) FROM payments WHERE terminal_id = ?', t)).toBe(1);
  });

  it('the single payment and the instalments of one TARI position raced from four terminals: never both paid', async () => {
    const first = await c.notices.take(
      "p.service_code = 'TARI' AND p.status = 'VALID' AND p.valid_until IS NULL AND o.kind = 'instalment' AND o.instalment_no = 1",
    );
    const options = await c.db.all<{ id: number; notice: string; kind: string; amount: number }>(
      'SELECT id, notice_number AS notice, kind, amount_cents AS amount FROM payment_options WHERE position_id = ? ORDER BY id',
      first.positionId,
    );
    expect(options.length).toBe(4);
    const results = await Promise.all(
      options.map((o) =>
        c.api().post('/v1/payments').set(auth(pool.take())).set('Idempotency-Key', idemKey('inst')).send({ service: 'TARI', identifier: o.notice, amount: o.amount }),
      ),
    );
    const ok = options.filter((_, i) => results[i]!.status === 201);
    const singlePaid = ok.some((o) => o.kind === 'single');
    const instalmentsPaid = ok.filter((o) => o.kind === 'instalment').length;
    expect(ok.length).toBeGreaterThan(0);
    expect(singlePaid && instalmentsPaid > 0, results.map((r) => `${r.status} ${r.text}`).join('\n')).toBe(false);
    for (const r of results.filter((x) => x.status !== 201)) expectProblem(r, 409, r.body.code as string);
    const status = await pluck(c.db, 'SELECT status FROM debt_positions WHERE id = ?', first.positionId);
    expect(status).toBe(singlePaid || instalmentsPaid === 3 ? 'PAID' : 'PARTIALLY_PAID');
    expect((await c.h.rt.store.checkInvariants()).ok).toBe(true);
  });
});
