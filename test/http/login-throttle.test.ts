// Issue 12, finding 4: brute force was limited per address only. Now failures count per
// account in the store: after TSERVE_LOGIN_LOCK_AFTER (5) the account is locked, the
// right password too is refused (429, Retry-After, the time named), unknown names are
// treated alike, a second instance on the same store sees the lock, an admin unlocks;
// every attempt is audited with the name and address. Terminal token requests likewise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createApp } from '../../src/http/app.js';
import { bearer, expectProblem, setup, type Ctx } from './support.js';

let c: Ctx;
beforeAll(async () => {
  c = await setup(100);
});
afterAll(async () => {
  await c?.close();
});

const passwordOf = (username: string) => c.h.credentials.users.find((u) => u.username === username)!.password;
const login = (username: string, password: string) => c.api().post('/v1/auth/login').send({ username, password });
const admin = () => bearer(c.h.userToken('admin'));

interface AuditItem {
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown> | null;
}
async function auditOf(query: Record<string, string>): Promise<AuditItem[]> {
  const res = await c.api().get('/v1/admin/audit').query({ limit: '500', ...query }).set(admin());
  expect(res.status, res.text).toBe(200);
  return res.body.items as AuditItem[];
}

function expectLocked(res: request.Response): void {
  expectProblem(res, 429, 'RATE_LIMITED');
  const seconds = Number(res.headers['retry-after']);
  expect(seconds).toBeGreaterThan(0);
  expect(seconds).toBeLessThanOrEqual(60);
  expect(res.body.detail).toMatch(/locked until \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
  expect(res.body.detail).not.toMatch(/password/i);
}

describe('per-account login throttling', () => {
  it('locks the finance user after 5 failures; the right password is refused while locked; an admin unlocks', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await login('finance', `wrong-guess-${i}`)).status);
    // 4 plain refusals, then the fifth failure locks, and every later try is refused unseen.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);

    const right = await login('finance', passwordOf('finance'));
    expectLocked(right);
    expect(right.body.token).toBeUndefined();

    // Another instance on the same store (a fresh app: nothing in memory) sees the same lock.
    const other = createApp({ config: c.h.config, store: c.h.rt.store, payments: c.h.payments, tokens: c.h.tokens, kek: c.h.rt.kek, version: 'test', clock: c.h.rt.clock });
    expectLocked(await request(other).post('/v1/auth/login').send({ username: 'finance', password: passwordOf('finance') }));

    const unlock = await c.api().post('/v1/admin/users/finance/unlock').set(admin());
    expect(unlock.status, unlock.text).toBe(200);
    expect(unlock.body).toEqual({ account: 'user:finance', unlocked: true });
    const after = await login('finance', passwordOf('finance'));
    expect(after.status, after.text).toBe(200);
    expect(typeof after.body.token).toBe('string');
    // The success started the count again: one wrong password is a plain 401.
    expect((await login('finance', 'wrong-again-1')).status).toBe(401);
    expect((await login('finance', passwordOf('finance'))).status).toBe(200);
  });

  it('treats an unknown user name exactly like a known one (no enumeration)', async () => {
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 6; i++) {
      known.push((await login('ente-pisa', `nope-${i}`)).status);
      unknown.push((await login('nobody-here', `nope-${i}`)).status);
    }
    expect(unknown).toEqual(known);
    const a = await login('ente-pisa', 'nope-x');
    const b = await login('nobody-here', 'nope-x');
    expectLocked(a);
    expectLocked(b);
    expect(b.body.detail.replace(/\d/g, '0')).toBe(a.body.detail.replace(/\d/g, '0'));
    await c.api().post('/v1/admin/users/ente-pisa/unlock').set(admin()).expect(200);
  });

  it('audits and names each attempt: failures, locks and successes, with the address and never the password', async () => {
    const failures = await auditOf({ action: 'login.failure', target: 'user:finance' });
    expect(failures.length).toBeGreaterThanOrEqual(5);
    for (const f of failures) {
      expect(f.actor).toBe('user:finance');
      expect(f.detail).toMatchObject({ address: expect.stringMatching(/127\.0\.0\.1/), failures: expect.any(Number) });
      expect(JSON.stringify(f)).not.toMatch(/wrong-guess|nope-/);
    }
    const locked = await auditOf({ action: 'login.locked', target: 'user:finance' });
    // Refused attempts on a locked account are recorded once per lock and instance, not
    // each time: five were refused during the one lock (four by the first app, one by the second).
    expect(locked.length).toBe(2);
    expect(new Set(locked.map((l) => (l.detail as { lockedUntil: string }).lockedUntil)).size).toBe(1);
    const ok = await auditOf({ action: 'login.success', actor: 'finance:finance' });
    expect(ok.length).toBe(2);
    expect(ok[0]!.detail).toMatchObject({ address: expect.stringMatching(/127\.0\.0\.1/) });
    expect((await auditOf({ action: 'login.failure', target: 'user:nobody-here' })).length).toBe(5);
    expect((await auditOf({ action: 'user.unlock' })).map((a) => [a.actor, a.target])).toContainEqual(['admin:admin', 'user:finance']);
  });

  it('throttles terminal token requests per terminal id the same way', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await c.api().post('/v1/auth/token').send({ terminalId: 'T0002', secret: 'A'.repeat(43) })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const t = c.h.credentials.terminals.find((x) => x.terminalId === 'T0002')!;
    expectLocked(await c.api().post('/v1/auth/token').send({ terminalId: 'T0002', secret: t.apiSecret }));
    await c.api().post('/v1/admin/terminals/T0002/unlock').set(admin()).expect(200);
    expect((await c.api().post('/v1/auth/token').send({ terminalId: 'T0002', secret: t.apiSecret })).status).toBe(200);
    expect((await auditOf({ action: 'token.failure', target: 'terminal:T0002' })).length).toBe(5);
  });
});

describe('failed-login counts are forgotten a day after their last failure', () => {
  it('prunes counts older than the bound, keeps newer ones; a pruned name starts again at one failure', async () => {
    const store = c.h.rt.store;
    const now = c.h.rt.clock();
    await store.recordLoginFailure('user:sprayed-name', now - 2 * 86_400_000);
    await store.recordLoginFailure('user:recent-name', now - 60_000);
    expect(await store.pruneLoginFailures(now - 86_400_000)).toBeGreaterThanOrEqual(1);
    expect(await store.loginFailures('user:sprayed-name')).toBeUndefined();
    expect((await store.loginFailures('user:recent-name'))?.failures).toBe(1);
    expect((await store.recordLoginFailure('user:sprayed-name', now)).failures).toBe(1);
  });
});

describe('GET /v1/admin/audit', () => {
  it('is for admins only', async () => {
    for (const user of ['finance', 'ente-pisa']) {
      expectProblem(await c.api().get('/v1/admin/audit').set(bearer(c.h.userToken(user))), 403, 'FORBIDDEN');
    }
    expectProblem(await c.api().get('/v1/admin/audit'), 401, 'UNAUTHORIZED');
    expectProblem(await c.api().post('/v1/admin/users/admin/unlock').set(bearer(c.h.userToken('finance'))), 403, 'FORBIDDEN');
  });

  it('pages newest first and filters by actor, action and time', async () => {
    const first = await c.api().get('/v1/admin/audit').query({ limit: '3' }).set(admin());
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(3);
    const ids = first.body.items.map((i: { id: number }) => i.id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    const second = await c.api().get('/v1/admin/audit').query({ limit: '3', cursor: first.body.nextCursor }).set(admin());
    expect(second.body.items[0].id).toBeLessThan(ids[2]);
    expect(second.body.items[0].hash).toMatch(/^[0-9a-f]{64}$/);

    const all = await auditOf({ action: 'login.failure' });
    const at = Date.parse((all[0] as unknown as { at: string }).at);
    expect((await auditOf({ action: 'login.failure', from: new Date(at + 1).toISOString() })).length).toBe(0);
    expect((await auditOf({ action: 'login.failure', to: new Date(at + 1).toISOString() })).length).toBe(all.length);
    expectProblem(await c.api().get('/v1/admin/audit').query({ from: 'yesterday' }).set(admin()), 400, 'FORMAT');
  });

  it('is in the OpenAPI document with its query parameters', async () => {
    const doc = (await c.api().get('/openapi.json')).body;
    const op = doc.paths['/v1/admin/audit'].get;
    expect(op['x-roles']).toEqual(['admin']);
    expect(op.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['actor', 'action', 'from', 'to', 'cursor', 'limit']));
    expect(doc.paths['/v1/admin/users/{username}/unlock'].post).toBeDefined();
  });
});
