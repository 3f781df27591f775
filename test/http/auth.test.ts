// Authentication (terminal-protocol.md §2): /v1/auth/token and /v1/auth/login, bearer
// tokens on protected routes (missing, garbage, expired, alg none, wrong algorithm,
// wrong key) and role checks.
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretVersion } from '../../src/auth/secrets.js';
import { bearer, expectProblem, idemKey, pluck, setup, type Ctx } from './support.js';

let c: Ctx;
let t1Version = '';
beforeAll(async () => {
  c = await setup();
  t1Version = secretVersion((await c.h.rt.store.getTerminal('T0001'))!.secretHash);
});
afterAll(async () => {
  await c?.close();
});

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function secretOf(terminalId: string): string {
  const t = c.h.credentials.terminals.find((x) => x.terminalId === terminalId);
  if (!t) throw new Error(terminalId);
  return t.apiSecret;
}
function passwordOf(username: string): string {
  const u = c.h.credentials.users.find((x) => x.username === username);
  if (!u) throw new Error(username);
  return u.password;
}

// sv: the fingerprint of T0001's API secret, as a token from /v1/auth/token carries it.
const terminalClaims = () => ({ role: 'terminal', counterId: 'C0001', sv: t1Version });

describe('POST /v1/auth/token', () => {
  it('issues a pinned-algorithm JWT for the right secret, living at most 15 minutes', async () => {
    const res = await c.api().post('/v1/auth/token').send({ terminalId: 'T0001', secret: secretOf('T0001') });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(typeof res.body.token).toBe('string');
    expect(Number.isInteger(res.body.expiresIn)).toBe(true);
    expect(res.body.expiresIn).toBeGreaterThan(0);
    expect(res.body.expiresIn).toBeLessThanOrEqual(900);
    expect(res.headers['cache-control']).toBe('no-store'); // a credential: never cached
    const decoded = jwt.decode(res.body.token, { complete: true });
    expect(decoded?.header.alg).toBe('HS256');
    const payload = decoded?.payload as jwt.JwtPayload;
    expect(payload.sub).toBe('T0001');
    expect(payload.iss).toBe('tserve');
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(900);
    // The token works on a terminal route.
    const svc = await c.api().get('/v1/services').set(bearer(res.body.token));
    expect(svc.status).toBe(200);
    expect(Array.isArray(svc.body)).toBe(true);
  });

  it('takes the API secret exactly as issued (base64url is case-sensitive)', async () => {
    const secret = secretOf('T0002');
    const changed = secret.replace(/[a-z]/, (ch) => ch.toUpperCase());
    expect(changed).not.toBe(secret);
    expectProblem(await c.api().post('/v1/auth/token').send({ terminalId: 'T0002', secret: changed }), 401, 'UNAUTHORIZED');
  });

  it('refuses a wrong secret with 401 UNAUTHORIZED', async () => {
    const res = await c.api().post('/v1/auth/token').send({ terminalId: 'T0001', secret: secretOf('T0002') });
    expectProblem(res, 401, 'UNAUTHORIZED');
  });

  it('refuses an unknown terminal with 401 UNAUTHORIZED (same answer as a wrong secret)', async () => {
    const res = await c.api().post('/v1/auth/token').send({ terminalId: 'T9999', secret: secretOf('T0001') });
    expectProblem(res, 401, 'UNAUTHORIZED');
  });

  it('refuses a secret that is not 43 base64url characters with 400 FORMAT', async () => {
    const res = await c.api().post('/v1/auth/token').send({ terminalId: 'T0001', secret: 'abc' });
    expectProblem(res, 400, 'FORMAT');
  });

  it('refuses a blocked terminal with 403 TERMINAL_BLOCKED, and serves it again once unblocked', async () => {
    const admin = bearer(c.h.userToken('admin'));
    expect((await c.api().post('/v1/admin/terminals/T0003/block').set(admin)).status).toBe(200);
    try {
      const res = await c.api().post('/v1/auth/token').send({ terminalId: 'T0003', secret: secretOf('T0003') });
      expectProblem(res, 403, 'TERMINAL_BLOCKED');
      // A wrong secret for a blocked terminal must not reveal that it is blocked.
      const wrong = await c.api().post('/v1/auth/token').send({ terminalId: 'T0003', secret: secretOf('T0001') });
      expectProblem(wrong, 401, 'UNAUTHORIZED');
    } finally {
      expect((await c.api().post('/v1/admin/terminals/T0003/unblock').set(admin)).status).toBe(200);
    }
    const again = await c.api().post('/v1/auth/token').send({ terminalId: 'T0003', secret: secretOf('T0003') });
    expect(again.status).toBe(200);
  });
});

describe('POST /v1/auth/login', () => {
  it('issues a token for a user with the right password, with the user role', async () => {
    const res = await c.api().post('/v1/auth/login').send({ username: 'ente-prato', password: passwordOf('ente-prato') });
    expect(res.status).toBe(200);
    const payload = jwt.decode(res.body.token) as jwt.JwtPayload;
    expect(res.headers['cache-control']).toBe('no-store');
    expect(payload.sub).toBe('ente-prato');
    expect(payload.role).toBe('entity');
    expect(payload.entityId).toBe('PRATO');
    const list = await c.api().get('/v1/debt-positions?limit=1').set(bearer(res.body.token));
    expect(list.status).toBe(200);
  });

  it('refuses a wrong password and an unknown user alike with 401 UNAUTHORIZED', async () => {
    expectProblem(await c.api().post('/v1/auth/login').send({ username: 'admin', password: 'not-the-password' }), 401, 'UNAUTHORIZED');
    expectProblem(await c.api().post('/v1/auth/login').send({ username: 'nobody', password: 'whatever' }), 401, 'UNAUTHORIZED');
  });

  it('refuses extra fields with 400 FORMAT', async () => {
    const res = await c.api().post('/v1/auth/login').send({ username: 'admin', password: passwordOf('admin'), role: 'admin' });
    expectProblem(res, 400, 'FORMAT');
  });
});

describe('bearer tokens on protected routes', () => {
  const protectedCall = (headers: Record<string, string>) =>
    c.api().post('/v1/verify').set(headers).send({ service: 'TARI', identifier: '301202400000000164' });

  it('a valid terminal token passes (control)', async () => {
    const res = await protectedCall(bearer(c.h.terminalToken('T0001')));
    expect(res.status).toBe(200);
  });

  it('no Authorization header → 401 with a WWW-Authenticate: Bearer challenge', async () => {
    const res = await protectedCall({});
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
  });

  it('a rejected token → 401 with WWW-Authenticate error="invalid_token"', async () => {
    const res = await protectedCall(bearer('not.a.token'));
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer\b.*error="invalid_token"/);
  });

  it('a non-Bearer scheme → 401', async () => {
    expectProblem(await protectedCall({ Authorization: `Basic ${Buffer.from('T0001:x').toString('base64')}` }), 401, 'UNAUTHORIZED');
  });

  it('a garbage token → 401', async () => {
    expectProblem(await protectedCall(bearer('not.a.token')), 401, 'UNAUTHORIZED');
    expectProblem(await protectedCall(bearer('garbage')), 401, 'UNAUTHORIZED');
  });

  it('an expired token → 401 saying so', async () => {
    const token = jwt.sign({ ...terminalClaims(), iat: now() - 3600, exp: now() - 60 }, c.h.rt.jwtKey, {
      algorithm: 'HS256',
      issuer: 'tserve',
      subject: 'T0001',
    });
    const res = await protectedCall(bearer(token));
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.body.detail).toMatch(/expired/);
  });

  it('a token not valid yet (nbf in the future) → 401', async () => {
    const token = jwt.sign(terminalClaims(), c.h.rt.jwtKey, { algorithm: 'HS256', issuer: 'tserve', subject: 'T0001', expiresIn: 600, notBefore: 300 });
    expectProblem(await protectedCall(bearer(token)), 401, 'UNAUTHORIZED');
  });

  it('a token issued in the future (iat ahead of the clock) → 401, since it would outlive the TTL', async () => {
    const ahead = jwt.sign({ ...terminalClaims(), iat: now() + 3600, exp: now() + 3600 + 600 }, c.h.rt.jwtKey, { algorithm: 'HS256', issuer: 'tserve', subject: 'T0001' });
    expectProblem(await protectedCall(bearer(ahead)), 401, 'UNAUTHORIZED');
    // A few seconds ahead (another instance's clock) is fine.
    const close = jwt.sign({ ...terminalClaims(), iat: now() + 5, exp: now() + 5 + 600 }, c.h.rt.jwtKey, { algorithm: 'HS256', issuer: 'tserve', subject: 'T0001' });
    expect((await protectedCall(bearer(close))).status).toBe(200);
  });

  it('tokens live at most 15 minutes: one without exp, or issued to live longer, is refused', async () => {
    const eternal = jwt.sign(terminalClaims(), c.h.rt.jwtKey, { algorithm: 'HS256', issuer: 'tserve', subject: 'T0001' });
    expectProblem(await protectedCall(bearer(eternal)), 401, 'UNAUTHORIZED');
    const old = jwt.sign({ ...terminalClaims(), iat: now() - 3600, exp: now() + 3600 }, c.h.rt.jwtKey, { algorithm: 'HS256', issuer: 'tserve', subject: 'T0001' });
    expectProblem(await protectedCall(bearer(old)), 401, 'UNAUTHORIZED');
  });

  it('an alg:none token → 401', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...terminalClaims(), sub: 'T0001', iss: 'tserve', iat: now(), exp: now() + 600 })}.`;
    expectProblem(await protectedCall(bearer(token)), 401, 'UNAUTHORIZED');
  });

  it('an alg:none token with the signature of a real token → 401', async () => {
    const real = c.h.terminalToken('T0001');
    const [, payload, sig] = real.split('.');
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${payload}.${sig}`;
    expectProblem(await protectedCall(bearer(token)), 401, 'UNAUTHORIZED');
  });

  it('a token signed with HS512 and the right key → 401 (algorithm pinned)', async () => {
    const token = jwt.sign(terminalClaims(), c.h.rt.jwtKey, { algorithm: 'HS512', issuer: 'tserve', subject: 'T0001', expiresIn: 600 });
    expectProblem(await protectedCall(bearer(token)), 401, 'UNAUTHORIZED');
  });

  it('a token signed with HS256 and another key → 401', async () => {
    const token = jwt.sign(terminalClaims(), Buffer.alloc(32, 7), { algorithm: 'HS256', issuer: 'tserve', subject: 'T0001', expiresIn: 600 });
    expectProblem(await protectedCall(bearer(token)), 401, 'UNAUTHORIZED');
  });

  it('a token with another issuer → 401', async () => {
    const token = jwt.sign(terminalClaims(), c.h.rt.jwtKey, { algorithm: 'HS256', issuer: 'someone-else', subject: 'T0001', expiresIn: 600 });
    expectProblem(await protectedCall(bearer(token)), 401, 'UNAUTHORIZED');
  });

  it('a well-signed token whose claims do not fit a role → 401', async () => {
    const token = jwt.sign({ role: 'superuser' }, c.h.rt.jwtKey, { algorithm: 'HS256', issuer: 'tserve', subject: 'x', expiresIn: 600 });
    expectProblem(await protectedCall(bearer(token)), 401, 'UNAUTHORIZED');
    const noCounter = jwt.sign({ role: 'terminal' }, c.h.rt.jwtKey, { algorithm: 'HS256', issuer: 'tserve', subject: 'T0001', expiresIn: 600 });
    expectProblem(await protectedCall(bearer(noCounter)), 401, 'UNAUTHORIZED');
  });

  it('a token with a tampered payload (role raised to admin) → 401', async () => {
    const [h, , s] = c.h.terminalToken('T0001').split('.');
    const forged = `${h}.${b64url({ role: 'admin', sub: 'T0001', iss: 'tserve', iat: now(), exp: now() + 600 })}.${s}`;
    expectProblem(await c.api().get('/v1/admin/counters').set(bearer(forged)), 401, 'UNAUTHORIZED');
  });

  it('a terminal token naming a counter the terminal does not belong to cannot verify or pay', async () => {
    // Signed with the real key (as if leaked claims were altered by the issuer): the switch
    // must still check the terminal's counter against its records.
    const sv = secretVersion((await c.h.rt.store.getTerminal('T0001'))!.secretHash);
    const token = jwt.sign({ role: 'terminal', counterId: 'C0002', sv }, c.h.rt.jwtKey, { algorithm: 'HS256', issuer: 'tserve', subject: 'T0001', expiresIn: 600 });
    const res = await protectedCall(bearer(token));
    expectProblem(res, 403, 'FORBIDDEN');
  });
});

describe('role checks', () => {
  it('a terminal calling admin routes → 403 FORBIDDEN', async () => {
    const t = bearer(c.h.terminalToken('T0001'));
    expectProblem(await c.api().get('/v1/admin/counters').set(t), 403, 'FORBIDDEN');
    expectProblem(await c.api().get('/v1/admin/counters/C0001').set(t), 403, 'FORBIDDEN');
    expectProblem(await c.api().get('/v1/admin/terminals').set(t), 403, 'FORBIDDEN');
    expectProblem(await c.api().post('/v1/admin/terminals').set(t).send({ counterId: 'C0001' }), 403, 'FORBIDDEN');
    expectProblem(await c.api().put('/v1/admin/counters/C0001/credit-limit').set(t).send({ creditLimit: 1 }), 403, 'FORBIDDEN');
    expectProblem(await c.api().post('/v1/admin/counters/C0001/suspend').set(t), 403, 'FORBIDDEN');
    expectProblem(await c.api().post('/v1/admin/terminals/T0002/block').set(t), 403, 'FORBIDDEN');
  });

  it('a terminal calling entity routes → 403 FORBIDDEN', async () => {
    const t = bearer(c.h.terminalToken('T0001'));
    expectProblem(await c.api().get('/v1/debt-positions?entityId=PRATO').set(t), 403, 'FORBIDDEN');
    expectProblem(await c.api().get('/v1/debt-positions/1').set(t), 403, 'FORBIDDEN');
    expectProblem(await c.api().post('/v1/debt-positions/1/cancel').set(t), 403, 'FORBIDDEN');
    expectProblem(
      await c.api().post('/v1/debt-positions').set(t).send({ entityId: 'PRATO', service: 'TARI', externalRef: 'x', debtorFiscalCode: 'RSSMRA85T10A562S', description: 'x', options: [] }),
      403,
      'FORBIDDEN',
    );
    expectProblem(await c.api().post('/v1/debt-positions/bulk').set(t).send([]), 403, 'FORBIDDEN');
    // Nothing was cancelled by the refused call.
    expect(await pluck(c.db, 'SELECT status FROM debt_positions WHERE id = 1')).not.toBe('INVALID');
  });

  it('an entity or a finance user calling /v1/verify or /v1/payments → 403 FORBIDDEN', async () => {
    for (const user of ['ente-prato', 'finance', 'admin']) {
      const u = bearer(c.h.userToken(user));
      expectProblem(await c.api().post('/v1/verify').set(u).send({ service: 'TARI', identifier: '301202400000000164' }), 403, 'FORBIDDEN');
      expectProblem(
        await c.api().post('/v1/payments').set(u).set('Idempotency-Key', idemKey()).send({ service: 'TARI', identifier: '301202400000000164', amount: 12345 }),
        403,
        'FORBIDDEN',
      );
    }
    expect(await c.db.scalar('SELECT count(*) FROM payments')).toBe(0);
  });

  it('an entity user calling admin routes → 403; finance may read counters but not change them', async () => {
    const e = bearer(c.h.userToken('ente-prato'));
    expectProblem(await c.api().get('/v1/admin/counters').set(e), 403, 'FORBIDDEN');
    const f = bearer(c.h.userToken('finance'));
    expect((await c.api().get('/v1/admin/counters').set(f)).status).toBe(200);
    expectProblem(await c.api().put('/v1/admin/counters/C0001/credit-limit').set(f).send({ creditLimit: 1 }), 403, 'FORBIDDEN');
    expectProblem(await c.api().post('/v1/admin/terminals').set(f).send({ counterId: 'C0001' }), 403, 'FORBIDDEN');
    expect(await c.db.scalar("SELECT credit_limit_cents FROM counters WHERE id = 'C0001'")).not.toBe(1);
  });

  it('finance cannot create debt positions', async () => {
    const f = bearer(c.h.userToken('finance'));
    expectProblem(await c.api().post('/v1/debt-positions/bulk').set(f).send([]), 403, 'FORBIDDEN');
  });

  it('the unauthenticated catalogue read is refused', async () => {
    expectProblem(await c.api().get('/v1/services'), 401, 'UNAUTHORIZED');
  });
});
