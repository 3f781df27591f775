// Admin API: counters (exposure, credit limit, suspend/reactivate) and terminals
// (provision with a TMK shown once, block/unblock), and what they do to payments.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, counterOf, expectProblem, idemKey, paymentCount, setup, TerminalPool, type Ctx, type OptionRow } from './support.js';

let c: Ctx;
let pool: TerminalPool;
let admin: Record<string, string>;
beforeAll(async () => {
  c = await setup();
  pool = new TerminalPool(c.h, 'tabaccaio');
  admin = bearer(c.h.userToken('admin'));
});
afterAll(async () => {
  await c?.close();
});

const tAuth = (id: string) => bearer(c.h.terminalToken(id));
const secretOf = (id: string) => c.h.credentials.terminals.find((t) => t.terminalId === id)!.apiSecret;

async function payTari(auth: Record<string, string>, given?: OptionRow) {
  const o = given ?? (await c.notices.tari());
  return c.api().post('/v1/payments').set(auth).set('Idempotency-Key', idemKey()).send({ service: 'TARI', identifier: o.notice, amount: o.amount });
}
async function counter(id: string) {
  const res = await c.api().get(`/v1/admin/counters/${id}`).set(admin);
  expect(res.status, res.text).toBe(200);
  return res.body as { id: string; creditLimit: number; exposure: number; status: string; terminals: { id: string; status: string }[] };
}

describe('counters', () => {
  it('GET /v1/admin/counters lists every counter; GET one adds exposure and its terminals', async () => {
    const list = await c.api().get('/v1/admin/counters').set(admin);
    expect(list.status).toBe(200);
    expect(list.body.length).toBe(359);
    expect(list.body[0]).toMatchObject({ id: 'C0001', kind: 'tabaccaio', status: 'active' });
    expect(Number.isInteger(list.body[0].creditLimit)).toBe(true);
    const one = await counter('C0001');
    expect(one.exposure).toBe(0);
    expect(one.terminals.map((t) => t.id)).toContain('T0001');
    expect(JSON.stringify(one)).not.toMatch(/secret|tmk/i);
  });

  it('an unknown counter → 404 on every counter route', async () => {
    expectProblem(await c.api().get('/v1/admin/counters/C9999').set(admin), 404, 'NOT_FOUND');
    expectProblem(await c.api().put('/v1/admin/counters/C9999/credit-limit').set(admin).send({ creditLimit: 1000 }), 404, 'NOT_FOUND');
    expectProblem(await c.api().post('/v1/admin/counters/C9999/suspend').set(admin), 404, 'NOT_FOUND');
    expectProblem(await c.api().post('/v1/admin/counters/C9999/reactivate').set(admin), 404, 'NOT_FOUND');
  });
});

describe('credit limit', () => {
  it('a payment that would pass the limit is declined 403 CREDIT_LIMIT_EXCEEDED and books nothing; at the limit it passes', async () => {
    const t = pool.take();
    const counterId = counterOf(c.h, t);
    const auth = tAuth(t);
    // Some exposure first.
    const warm = await payTari(auth);
    expect(warm.status, warm.text).toBe(201);
    const before = await counter(counterId);
    expect(before.exposure).toBe(warm.body.total);

    const o = await c.notices.tari();
    const v = await c.api().post('/v1/verify').set(auth).send({ service: 'TARI', identifier: o.notice });
    const needed = (v.body.amountDue as number) + (v.body.fee as number);
    const put = await c.api().put(`/v1/admin/counters/${counterId}/credit-limit`).set(admin).send({ creditLimit: before.exposure + needed - 1 });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({ id: counterId, creditLimit: before.exposure + needed - 1, exposure: before.exposure });

    const paymentsBefore = await paymentCount(c.db);
    expectProblem(await payTari(auth, o), 403, 'CREDIT_LIMIT_EXCEEDED');
    expect(await paymentCount(c.db)).toBe(paymentsBefore);
    expect(await paymentCount(c.db, o.optionId)).toBe(0);
    expect((await counter(counterId)).exposure).toBe(before.exposure);
    // The notice is untouched: still payable.
    expect((await c.api().post('/v1/verify').set(auth).send({ service: 'TARI', identifier: o.notice })).body.status).toBe('VALID');

    // Exactly at the limit is allowed.
    expect((await c.api().put(`/v1/admin/counters/${counterId}/credit-limit`).set(admin).send({ creditLimit: before.exposure + needed })).status).toBe(200);
    const ok = await payTari(auth, o);
    expect(ok.status, ok.text).toBe(201);
    expect((await counter(counterId)).exposure).toBe(before.exposure + needed);
  });

  it('a limit of 0 declines even a fixed-tariff payment', async () => {
    const t = pool.take();
    const counterId = counterOf(c.h, t);
    expect((await c.api().put(`/v1/admin/counters/${counterId}/credit-limit`).set(admin).send({ creditLimit: 0 })).status).toBe(200);
    const res = await c
      .api()
      .post('/v1/payments')
      .set(tAuth(t))
      .set('Idempotency-Key', idemKey())
      .send({ service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 });
    expectProblem(res, 403, 'CREDIT_LIMIT_EXCEEDED');
    expect(await c.db.scalar('SELECT count(*) FROM payments WHERE counter_id = ?', counterId)).toBe(0);
  });

  it('concurrent payments at one counter never pass its limit together', async () => {
    const t = pool.take();
    const counterId = counterOf(c.h, t);
    const auth = tAuth(t);
    const { exposure } = await counter(counterId);
    // CERTIFICATI: 100 + fee 100 at a tabaccaio = 200 each; room for exactly two.
    expect((await c.api().put(`/v1/admin/counters/${counterId}/credit-limit`).set(admin).send({ creditLimit: exposure + 2 * 200 + 199 })).status).toBe(200);
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        c.api().post('/v1/payments').set(auth).set('Idempotency-Key', idemKey('cl')).send({ service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(2);
    for (const r of results.filter((x) => x.status !== 201)) expectProblem(r, 403, 'CREDIT_LIMIT_EXCEEDED');
    expect((await counter(counterId)).exposure).toBe(exposure + 400);
    expect((await c.h.rt.store.checkInvariants()).ok).toBe(true);
  });

  it('validation: negative, non-integer, string, missing, extra fields, too large → 400 FORMAT; the limit unchanged', async () => {
    const id = counterOf(c.h, pool.take());
    const { creditLimit } = await counter(id);
    for (const body of [{ creditLimit: -1 }, { creditLimit: 1.5 }, { creditLimit: '1000' }, {}, { creditLimit: 1000, note: 'x' }, { creditLimit: 1e15 }, { creditLimit: null }]) {
      const res = await c.api().put(`/v1/admin/counters/${id}/credit-limit`).set(admin).send(body);
      expectProblem(res, 400, 'FORMAT');
    }
    expect((await counter(id)).creditLimit).toBe(creditLimit);
  });
});

describe('terminals: provision', () => {
  it('201 with a 64-hex TMK and a separate API secret shown once; the list never shows them; the terminal logs in with the API secret and pays', async () => {
    const counterId = counterOf(c.h, pool.take());
    const res = await c.api().post('/v1/admin/terminals').set(admin).send({ counterId });
    expect(res.status, res.text).toBe(201);
    expect(res.headers['cache-control']).toMatch(/no-store/);
    expect(res.body.counterId).toBe(counterId);
    expect(res.body.terminalId).toMatch(/^[A-Z0-9]{1,8}$/);
    expect(res.body.tmk).toMatch(/^[0-9a-f]{64}$/);
    expect(res.body.apiSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body.apiSecret).not.toContain(res.body.tmk.slice(0, 16));
    const created = res;
    const { terminalId, tmk } = res.body as { terminalId: string; tmk: string };
    expect(c.h.credentials.terminals.some((t) => t.terminalId === terminalId)).toBe(false);

    const list = await c.api().get('/v1/admin/terminals').set(admin);
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(tmk);
    expect(list.text.toLowerCase()).not.toContain(tmk.toUpperCase().toLowerCase());
    expect(list.text).not.toMatch(/secret|tmk|scrypt/i);
    expect(list.text).not.toContain(res.body.apiSecret);
    expect(list.body.find((t: { id: string }) => t.id === terminalId)).toMatchObject({ counterId, status: 'active' });
    const one = await c.api().get(`/v1/admin/counters/${counterId}`).set(admin);
    expect(one.text).not.toContain(tmk);
    const byCounter = await c.api().get(`/v1/admin/terminals?counterId=${counterId}`).set(admin);
    expect(byCounter.body.every((t: { counterId: string }) => t.counterId === counterId)).toBe(true);
    expect(byCounter.body.map((t: { id: string }) => t.id)).toContain(terminalId);

    // The TMK is the ISO 8583 key only; the JSON API takes the API secret issued beside it.
    expectProblem(await c.api().post('/v1/auth/token').send({ terminalId, secret: tmk }), 401, 'UNAUTHORIZED');
    const tok = await c.api().post('/v1/auth/token').send({ terminalId, secret: created.body.apiSecret });
    expect(tok.status, tok.text).toBe(200);
    const paid = await payTari(bearer(tok.body.token as string));
    expect(paid.status, paid.text).toBe(201);
    const got = await c.api().get(`/v1/payments/${paid.body.paymentId as string}`).set(admin);
    expect(got.body).toMatchObject({ terminalId, counterId });
  });

  it('each terminal gets its own random TMK; the other terminal\'s TMK does not open it', async () => {
    const counterId = counterOf(c.h, pool.take());
    const a = await c.api().post('/v1/admin/terminals').set(admin).send({ counterId });
    const b = await c.api().post('/v1/admin/terminals').set(admin).send({ counterId });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body.terminalId).not.toBe(b.body.terminalId);
    expect(a.body.tmk).not.toBe(b.body.tmk);
    expect(a.body.apiSecret).not.toBe(b.body.apiSecret);
    expectProblem(await c.api().post('/v1/auth/token').send({ terminalId: a.body.terminalId, secret: b.body.apiSecret }), 401, 'UNAUTHORIZED');
  });

  it('a chosen terminal id: 201, then 409 CONFLICT for the same id; bad ids → 400; unknown counter → 404', async () => {
    const counterId = counterOf(c.h, pool.take());
    const first = await c.api().post('/v1/admin/terminals').set(admin).send({ counterId, terminalId: 'NEWT01' });
    expect(first.status, first.text).toBe(201);
    expect(first.body.terminalId).toBe('NEWT01');
    const again = await c.api().post('/v1/admin/terminals').set(admin).send({ counterId, terminalId: 'NEWT01' });
    expectProblem(again, 409, 'CONFLICT');
    expect(again.text).not.toMatch(/[0-9a-f]{64}/);
    expectProblem(await c.api().post('/v1/admin/terminals').set(admin).send({ counterId, terminalId: 'T0001' }), 409, 'CONFLICT');
    expectProblem(await c.api().post('/v1/admin/terminals').set(admin).send({ counterId, terminalId: 'newt02' }), 400, 'FORMAT');
    expectProblem(await c.api().post('/v1/admin/terminals').set(admin).send({ counterId, terminalId: 'TOOLONG99' }), 400, 'FORMAT');
    expectProblem(await c.api().post('/v1/admin/terminals').set(admin).send({ counterId: 'C9999' }), 404, 'NOT_FOUND');
    expectProblem(await c.api().post('/v1/admin/terminals').set(admin).send({}), 400, 'FORMAT');
    // The existing terminal's key still works.
    expect((await c.api().post('/v1/auth/token').send({ terminalId: 'T0001', secret: secretOf('T0001') })).status).toBe(200);
  });
});

describe('terminals: block and unblock', () => {
  it('a blocked terminal is refused even with a token issued before; unblocked it pays again', async () => {
    const t = pool.take();
    const auth = tAuth(t); // issued before the block
    const o = await c.notices.tari();
    const blocked = await c.api().post(`/v1/admin/terminals/${t}/block`).set(admin);
    expect(blocked.status, blocked.text).toBe(200);
    expect(blocked.body).toMatchObject({ id: t, status: 'blocked' });
    expectProblem(await payTari(auth, o), 403, 'TERMINAL_BLOCKED');
    expectProblem(await c.api().post('/v1/verify').set(auth).send({ service: 'TARI', identifier: o.notice }), 403, 'TERMINAL_BLOCKED');
    expectProblem(await c.api().post('/v1/auth/token').send({ terminalId: t, secret: secretOf(t) }), 403, 'TERMINAL_BLOCKED');
    expect(await paymentCount(c.db, o.optionId)).toBe(0);
    const listed = await c.api().get(`/v1/admin/terminals?counterId=${counterOf(c.h, t)}`).set(admin);
    expect(listed.body.find((x: { id: string }) => x.id === t).status).toBe('blocked');

    const unblocked = await c.api().post(`/v1/admin/terminals/${t}/unblock`).set(admin);
    expect(unblocked.status).toBe(200);
    expect(unblocked.body.status).toBe('active');
    const res = await payTari(auth, o);
    expect(res.status, res.text).toBe(201);
  });

  it('a blocked terminal cannot reverse its payment either', async () => {
    const t = pool.take();
    const auth = tAuth(t);
    const paid = await payTari(auth);
    expect(paid.status).toBe(201);
    expect((await c.api().post(`/v1/admin/terminals/${t}/block`).set(admin)).status).toBe(200);
    try {
      const res = await c.api().post(`/v1/payments/${paid.body.paymentId as string}/reversal`).set(auth).set('Idempotency-Key', idemKey());
      expect(res.status, res.text).toBe(403);
      expect(res.body.code).toBe('TERMINAL_BLOCKED');
      const got = await c.api().get(`/v1/payments/${paid.body.paymentId as string}`).set(admin);
      expect(got.body.status).toBe('BOOKED');
    } finally {
      await c.api().post(`/v1/admin/terminals/${t}/unblock`).set(admin);
    }
  });

  it("a suspended counter's terminal cannot reverse its payment either", async () => {
    const t = pool.take();
    const counterId = counterOf(c.h, t);
    const auth = tAuth(t);
    const paid = await payTari(auth);
    expect(paid.status).toBe(201);
    expect((await c.api().post(`/v1/admin/counters/${counterId}/suspend`).set(admin)).status).toBe(200);
    try {
      const res = await c.api().post(`/v1/payments/${paid.body.paymentId as string}/reversal`).set(auth).set('Idempotency-Key', idemKey());
      expect(res.status, res.text).toBe(403);
      expect(res.body.code).toBe('COUNTER_SUSPENDED');
      const got = await c.api().get(`/v1/payments/${paid.body.paymentId as string}`).set(admin);
      expect(got.body.status).toBe('BOOKED');
    } finally {
      await c.api().post(`/v1/admin/counters/${counterId}/reactivate`).set(admin);
    }
  });

  it('an unknown terminal → 404', async () => {
    expectProblem(await c.api().post('/v1/admin/terminals/T9999/block').set(admin), 404, 'NOT_FOUND');
    expectProblem(await c.api().post('/v1/admin/terminals/T9999/unblock').set(admin), 404, 'NOT_FOUND');
  });
});

describe('counters: suspend and reactivate', () => {
  it("a suspended counter's terminals are refused 403 COUNTER_SUSPENDED; reactivated they pay", async () => {
    const t = pool.take();
    const counterId = counterOf(c.h, t);
    const auth = tAuth(t);
    const o = await c.notices.tari();
    const s = await c.api().post(`/v1/admin/counters/${counterId}/suspend`).set(admin);
    expect(s.status, s.text).toBe(200);
    expect(s.body).toMatchObject({ id: counterId, status: 'suspended' });
    expectProblem(await payTari(auth, o), 403, 'COUNTER_SUSPENDED');
    expectProblem(await c.api().post('/v1/verify').set(auth).send({ service: 'TARI', identifier: o.notice }), 403, 'COUNTER_SUSPENDED');
    expect(await paymentCount(c.db, o.optionId)).toBe(0);
    expect((await counter(counterId)).status).toBe('suspended');

    const r = await c.api().post(`/v1/admin/counters/${counterId}/reactivate`).set(admin);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('active');
    expect((await payTari(auth, o)).status).toBe(201);
  });

  it("every terminal of a suspended counter is refused (supermarkets have two)", async () => {
    const sm = c.h.credentials.terminals.filter((t) => t.counterId === 'C0359');
    expect(sm.length).toBe(2);
    expect((await c.api().post('/v1/admin/counters/C0359/suspend').set(admin)).status).toBe(200);
    try {
      for (const t of sm) {
        const res = await c
          .api()
          .post('/v1/payments')
          .set(tAuth(t.terminalId))
          .set('Idempotency-Key', idemKey())
          .send({ service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 });
        expectProblem(res, 403, 'COUNTER_SUSPENDED');
      }
    } finally {
      await c.api().post('/v1/admin/counters/C0359/reactivate').set(admin);
    }
  });

  it("a suspended counter's terminal gets no new token (sign-on is refused, §1.5)", async () => {
    const t = pool.take();
    const counterId = counterOf(c.h, t);
    expect((await c.api().post(`/v1/admin/counters/${counterId}/suspend`).set(admin)).status).toBe(200);
    try {
      const res = await c.api().post('/v1/auth/token').send({ terminalId: t, secret: secretOf(t) });
      expect(res.status, res.text).toBe(403);
      expect(['COUNTER_SUSPENDED', 'TERMINAL_BLOCKED']).toContain(res.body.code);
    } finally {
      await c.api().post(`/v1/admin/counters/${counterId}/reactivate`).set(admin);
    }
  });
});
