// A counter's credit limit holds when its terminals book through two instances at once:
// each instance's batch locks the counter's row before it reads the cash balance.
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../../src/auth/tokens.js';
import { openRuntime, type Runtime } from '../../src/bootstrap.js';
import { createApp } from '../../src/http/app.js';
import { Payments } from '../../src/payments/service.js';
import { fiscalCodeFor } from '../e2e/process.js';
import { testClock } from '../helpers/clock.js';
import { api, startHarness, type Harness } from '../helpers/harness.js';
import { TEST_STORE } from '../helpers/store.js';

let h: Harness;
let second: { rt: Runtime; app: Express };

beforeAll(async () => {
  if (TEST_STORE !== 'postgres') return;
  h = await startHarness({ positions: 200 });
  // A second instance: the same configuration (database, keys), its own store, writer and app.
  const rt = await openRuntime(h.config, testClock);
  const payments = await Payments.create(rt.store, { settlementCutoff: h.config.settlementCutoff, clock: rt.clock });
  const app = createApp({ config: h.config, store: rt.store, payments, tokens: new TokenService(rt.jwtKey, h.config.tokenTtlSeconds), kek: rt.kek, version: 'test' });
  second = { rt, app };
}, 120_000);

afterAll(async () => {
  await second?.rt.store.close();
  await h?.close();
});

describe.skipIf(TEST_STORE !== 'postgres')('credit limit across instances', () => {
  it("payments of one counter's terminals on two instances at once never pass its limit together", { timeout: 60_000 }, async () => {
    const byCounter = new Map<string, string[]>();
    for (const t of h.credentials.terminals) byCounter.set(t.counterId, [...(byCounter.get(t.counterId) ?? []), t.terminalId]);
    const [counterId, terms] = [...byCounter].find(([, ts]) => ts.length >= 2)!;
    const admin = { authorization: `Bearer ${h.userToken('admin')}` };
    const before = (await api(h).get(`/v1/admin/counters/${counterId}`).set(admin)).body as { exposure: number; kind: string };
    const fee = ((await api(h).post('/v1/verify').set('authorization', `Bearer ${h.terminalToken(terms[0]!)}`).send({ service: 'CERTIFICATI', identifier: fiscalCodeFor('RSSMRA85T10A', 0) })).body as { fee: number }).fee;
    const each = 100 + fee;
    // Room for exactly five payments.
    expect((await api(h).put(`/v1/admin/counters/${counterId}/credit-limit`).set(admin).send({ creditLimit: before.exposure + 5 * each + each - 1 })).status).toBe(200);
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => {
        const app = i % 2 === 0 ? h.app : second.app;
        const terminal = terms[i % terms.length]!;
        return request(app)
          .post('/v1/payments')
          .set('authorization', `Bearer ${h.terminalToken(terminal)}`)
          .set('idempotency-key', `credit-${i}-key`)
          .send({ service: 'CERTIFICATI', identifier: fiscalCodeFor('RSSMRA85T10A', i), amount: 100 });
      }),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(5);
    for (const r of results.filter((x) => x.status !== 201)) expect(r.body.code, JSON.stringify(r.body)).toBe('CREDIT_LIMIT_EXCEEDED');
    const after = (await api(h).get(`/v1/admin/counters/${counterId}`).set(admin)).body as { exposure: number };
    expect(after.exposure).toBe(before.exposure + 5 * each);
    expect((await h.rt.store.checkInvariants()).violations).toEqual([]);
  });
});
