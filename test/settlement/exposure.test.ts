// The credit limit bounds cash collected and not yet settled: once finance approves a
// window, its cash counts as settled and the counter may collect again.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { romeInstant } from '../../src/domain/calendar.js';
import { startHarness, type Harness } from '../helpers/harness.js';

let now = romeInstant('2026-11-20', '10:00:00'); // a Friday
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ positions: 500, clock: () => now });
});
afterAll(async () => {
  await h.close();
});

describe('credit limit and settlement', () => {
  it('frees the cash of an approved window', async () => {
    const t = h.credentials.terminals[0]!;
    const token = h.terminalToken(t.terminalId);
    const admin = h.userToken('admin');
    const finance = h.userToken('finance');
    const pay = (key: string) =>
      request(h.app)
        .post('/v1/payments')
        .set('authorization', `Bearer ${token}`)
        .set('idempotency-key', key)
        .send({ service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 });

    const first = await pay('exposure-0001');
    expect(first.status).toBe(201);
    const total = first.body.total as number;
    // Room for exactly one more payment.
    const limit = await request(h.app)
      .put(`/v1/admin/counters/${t.counterId}/credit-limit`)
      .set('authorization', `Bearer ${admin}`)
      .send({ creditLimit: 2 * total });
    expect(limit.body.exposure).toBe(total);
    expect((await pay('exposure-0002')).status).toBe(201);
    const refused = await pay('exposure-0003');
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('CREDIT_LIMIT_EXCEEDED');

    // Monday: Friday's window is settled and approved.
    now = romeInstant('2026-11-23', '10:00:00');
    expect((await request(h.app).post('/v1/settlements/2026-11-20/run').set('authorization', `Bearer ${finance}`)).status).toBe(201);
    expect((await request(h.app).post('/v1/settlements/2026-11-20/approve').set('authorization', `Bearer ${finance}`)).status).toBe(200);
    const counter = await request(h.app).get(`/v1/admin/counters/${t.counterId}`).set('authorization', `Bearer ${admin}`);
    expect(counter.body.exposure).toBe(0);
    expect((await pay('exposure-0004')).status).toBe(201);
    // Approving again settles nothing twice.
    await request(h.app).post('/v1/settlements/2026-11-20/approve').set('authorization', `Bearer ${finance}`);
    const again = await request(h.app).get(`/v1/admin/counters/${t.counterId}`).set('authorization', `Bearer ${admin}`);
    expect(again.body.exposure).toBe(total);
    expect((await h.rt.store.checkInvariants()).ok).toBe(true);
  });
});
