// Issue 14, section A: the console's cookie sessions. Login sets an HttpOnly,
// SameSite=Strict cookie; every /v1 route takes it when no Authorization header is sent,
// unsafe methods only with the session's own X-CSRF-Token; the idle expiry slides with
// each request on the switch's (injected) clock, under an absolute cap; logout clears it;
// a disabled user's session is refused; the stream takes it from the switch's own origin
// only; bad passwords meet the same throttle as POST /v1/auth/login. Logout ends the
// session on the switch (ended_sessions): a copy of its cookie is refused everywhere.
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { SessionService } from '../../src/auth/session.js';
import { TokenService } from '../../src/auth/tokens.js';
import { createApp } from '../../src/http/app.js';
import { StreamServer } from '../../src/stream/server.js';
import { runningClock } from '../helpers/clock.js';
import { bearer, expectProblem, setup, type Ctx } from './support.js';

// The switch's clock, which the tests move forward (idle expiry, absolute cap).
const base = runningClock();
let offsetMs = 0;
const clock = () => base() + offsetMs;
const advance = (minutes: number) => (offsetMs += minutes * 60_000);

let c: Ctx;
let stream: StreamServer;
beforeAll(async () => {
  c = await setup(100, clock);
  stream = new StreamServer(c.h.rt.store, c.h.tokens, { heartbeatMs: 3_600_000 }, new SessionService(c.h.tokens, c.h.config.consoleSession, clock));
  stream.attach(c.server);
});
afterAll(async () => {
  await stream?.closeAll();
  await c?.close();
});

const passwordOf = (username: string) => c.h.credentials.users.find((u) => u.username === username)!.password;
const setCookies = (res: request.Response): string[] => {
  const h = res.headers['set-cookie'] as unknown as string[] | string | undefined;
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
};
/** The tserve_session cookie a response sets ('' when it clears it), or undefined. */
const sessionCookieOf = (res: request.Response): string | undefined => {
  const line = setCookies(res).find((l) => l.startsWith('tserve_session='));
  return line === undefined ? undefined : line.slice('tserve_session='.length).split(';')[0];
};

interface Login {
  cookie: string;
  csrf: string;
  res: request.Response;
}
async function login(username: string, password = passwordOf(username)): Promise<Login> {
  const res = await c.api().post('/console/session').send({ username, password });
  expect(res.status, res.text).toBe(200);
  return { cookie: `tserve_session=${sessionCookieOf(res)}`, csrf: res.body.csrfToken as string, res };
}

/** A business day whose window is closed on the test day (a Friday before the Monday TEST_DAY). */
const FRIDAY = '2026-11-20';

describe('console sessions', () => {
  it('login answers who and the CSRF token, and sets an HttpOnly, SameSite=Strict cookie on Path=/ (not Secure over plain HTTP)', async () => {
    const { res } = await login('finance');
    expect(res.body).toEqual({ username: 'finance', role: 'finance', entityId: null, entityName: null, csrfToken: expect.any(String), idleSeconds: 900, expiresAt: expect.any(String) });
    expect(res.headers['cache-control']).toBe('no-store');
    const line = setCookies(res).find((l) => l.startsWith('tserve_session='))!;
    const attrs = line.split(';').map((a) => a.trim().toLowerCase());
    expect(attrs).toEqual(expect.arrayContaining(['httponly', 'samesite=strict', 'path=/']));
    expect(attrs).not.toContain('secure');
    expect(attrs.some((a) => a.startsWith('max-age') || a.startsWith('expires'))).toBe(false);
    // Neither the password nor the CSRF token is in the cookie's clear part.
    expect(Buffer.from(line.split('.')[1]!, 'base64url').toString()).not.toMatch(new RegExp(`${passwordOf('finance')}|${res.body.csrfToken as string}`));
    const ente = await login('ente-pisa');
    expect(ente.res.body).toMatchObject({ username: 'ente-pisa', role: 'entity', entityId: 'PISA', entityName: 'Comune di Pisa' });
  });

  it('the cookie is Secure when the HTTP listener is TLS', async () => {
    const config = { ...c.h.config, http: { ...c.h.config.http, tls: { cert: 'cert.pem', key: 'key.pem' } } };
    // Its own TokenService: apps register their sessions by it.
    const tokens = new TokenService(c.h.rt.jwtKey, config.tokenTtlSeconds);
    const app = createApp({ config, store: c.h.rt.store, payments: c.h.payments, tokens, kek: c.h.rt.kek, version: 'test', clock });
    const res = await request(app).post('/console/session').send({ username: 'admin', password: passwordOf('admin') });
    expect(res.status, res.text).toBe(200);
    expect(setCookies(res).find((l) => l.startsWith('tserve_session='))!.toLowerCase()).toMatch(/;\s*secure(;|$)/);
  });

  it('GET /console/session echoes the live session; without a cookie, or with a forged one, 401', async () => {
    const s = await login('finance');
    const res = await c.api().get('/console/session').set('Cookie', s.cookie);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ username: 'finance', role: 'finance', csrfToken: s.csrf });
    expectProblem(await c.api().get('/console/session'), 401, 'UNAUTHORIZED');
    // One character of the claims changed: the MAC no longer matches.
    const [v, body, mac] = s.cookie.slice('tserve_session='.length).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const forged = `tserve_session=${v}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url')}.${mac}`;
    const refused = await c.api().get('/console/session').set('Cookie', forged);
    expectProblem(refused, 401, 'UNAUTHORIZED');
    expect(refused.body.detail).toMatch(/not valid/);
    expect(sessionCookieOf(refused)).toBe(''); // cleared
    expectProblem(await c.api().get('/v1/admin/audit').set('Cookie', forged), 401, 'UNAUTHORIZED');
  });

  it('a GET of the API with the cookie works, and re-issues the cookie (the idle expiry slides)', async () => {
    const s = await login('finance');
    const res = await c.api().get('/v1/settlements').set('Cookie', s.cookie);
    expect(res.status, res.text).toBe(200);
    expect(Array.isArray(res.body)).toBe(true);
    expect(sessionCookieOf(res)).toMatch(/^v1\./);
    // An entity's session sees as an entity: finance-only routes refuse it.
    const ente = await login('ente-pisa');
    expectProblem(await c.api().get(`/v1/settlements/${FRIDAY}/counters.csv`).set('Cookie', ente.cookie), 403, 'FORBIDDEN');
    // Without a cookie or token: 401, as before.
    expectProblem(await c.api().get('/v1/settlements'), 401, 'UNAUTHORIZED');
  });

  it('a POST with the cookie needs the X-CSRF-Token of its own session; a Bearer token needs none', async () => {
    const s = await login('finance');
    const other = await login('finance');
    expect(other.csrf).not.toBe(s.csrf);
    const run = () => c.api().post(`/v1/settlements/${FRIDAY}/run`).set('Cookie', s.cookie);

    const without = await run();
    expectProblem(without, 403, 'CSRF');
    expect(without.body.detail).toMatch(/X-CSRF-Token/);
    expectProblem(await run().set('X-CSRF-Token', other.csrf), 403, 'CSRF'); // another session's token
    expectProblem(await run().set('X-CSRF-Token', `${s.csrf}x`), 403, 'CSRF');
    expect(await c.db.scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'settlement.%'")).toBe(0); // nothing ran

    const ok = await run().set('X-CSRF-Token', s.csrf);
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.outcome).toBe('created');
    // Audited under the session's user.
    expect(await c.db.scalar("SELECT count(*) FROM audit_log WHERE action = 'settlement.run' AND actor = 'finance:finance'")).toBe(1);
    // The Bearer token path is unchanged: no CSRF token, and a cookie beside it is ignored.
    const withToken = await c.api().post(`/v1/settlements/${FRIDAY}/run`).set(bearer(c.h.userToken('finance'))).set('Cookie', 'tserve_session=garbage');
    expect(withToken.status, withToken.text).toBe(200);
  });

  it('logout needs the CSRF token, clears the cookie; a disabled user is refused at login and its open session refused', async () => {
    const s = await login('ente-pistoia');
    expectProblem(await c.api().delete('/console/session').set('Cookie', s.cookie), 403, 'CSRF');
    const out = await c.api().delete('/console/session').set('Cookie', s.cookie).set('X-CSRF-Token', s.csrf);
    expect(out.status, out.text).toBe(204);
    const cleared = setCookies(out).find((l) => l.startsWith('tserve_session='))!;
    expect(cleared).toMatch(/^tserve_session=;/);
    expect(cleared.toLowerCase()).toMatch(/max-age=0|expires=thu, 01 jan 1970/);

    const open = await login('ente-livorno');
    const admin = bearer(c.h.userToken('admin'));
    expect((await c.api().post('/v1/admin/users/ente-livorno/disable').set(admin)).status).toBe(200);
    try {
      const refused = await c.api().get('/v1/settlements').set('Cookie', open.cookie);
      expectProblem(refused, 401, 'UNAUTHORIZED');
      expect(refused.body.detail).toMatch(/disabled/);
      expectProblem(await c.api().get('/console/session').set('Cookie', open.cookie), 401, 'UNAUTHORIZED');
      const again = await c.api().post('/console/session').send({ username: 'ente-livorno', password: passwordOf('ente-livorno') });
      expectProblem(again, 403, 'FORBIDDEN');
      expect(sessionCookieOf(again)).toBeUndefined();
    } finally {
      await c.api().post('/v1/admin/users/ente-livorno/enable').set(admin);
    }
  });

  it('the stream takes the cookie with the switch own Origin, and refuses it from a foreign one', async () => {
    const s = await login('finance');
    const port = (c.server.address() as AddressInfo).port;
    const open = (origin: string, cookie = s.cookie) =>
      new Promise<{ opened: true; first: string } | { opened: false; status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, ['tserve.v1'], { headers: { Cookie: cookie, Origin: origin } });
        ws.once('message', (raw) => {
          resolve({ opened: true, first: raw.toString() });
          ws.close();
        });
        ws.once('unexpected-response', (_req, res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ opened: false, status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
        });
        ws.once('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)));
      });
    const same = await open(`http://127.0.0.1:${port}`);
    expect(same).toMatchObject({ opened: true });
    expect(JSON.parse((same as { first: string }).first)).toMatchObject({ control: 'live' });
    for (const origin of ['http://evil.example', `https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`]) {
      expect(await open(origin), origin).toMatchObject({ opened: false, status: 403, body: { code: 'CSRF' } });
    }
    expect(await open(`http://127.0.0.1:${port}`, 'tserve_session=v1.e30.AAAA')).toMatchObject({ opened: false, status: 401, body: { code: 'UNAUTHORIZED' } });
  });

  it('bad passwords meet the same per-account throttle as POST /v1/auth/login (shared count), audited', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await c.api().post('/console/session').send({ username: 'ente-prato', password: `wrong-${i}` })).status);
    for (let i = 0; i < 2; i++) statuses.push((await c.api().post('/v1/auth/login').send({ username: 'ente-prato', password: `wrong-${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
    const locked = await c.api().post('/console/session').send({ username: 'ente-prato', password: passwordOf('ente-prato') });
    expectProblem(locked, 429, 'RATE_LIMITED');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(sessionCookieOf(locked)).toBeUndefined();
    expect(await c.db.scalar("SELECT count(*) FROM audit_log WHERE action = 'login.failure' AND target = 'user:ente-prato'")).toBe(5);
    expect((await c.api().post('/v1/admin/users/ente-prato/unlock').set(bearer(c.h.userToken('admin')))).status).toBe(200);
    await login('ente-prato');
    expect(await c.db.scalar("SELECT count(*) FROM audit_log WHERE action = 'login.success' AND target = 'user:ente-prato'")).toBe(1);
  });

  // The clock moves forward from here on.
  it('idle expiry: past 15 minutes without a request, 401 saying the session expired; activity before keeps it alive', async () => {
    const idle = await login('finance');
    let alive = await login('admin');
    advance(10);
    // A request at 10 minutes slides the expiry: the re-issued cookie lives 15 minutes from now.
    const slid = await c.api().get('/v1/admin/audit').query({ limit: '1' }).set('Cookie', alive.cookie);
    expect(slid.status, slid.text).toBe(200);
    alive = { ...alive, cookie: `tserve_session=${sessionCookieOf(slid)}` };
    advance(6); // 16 minutes after login, 6 after the last request
    const expired = await c.api().get('/v1/settlements').set('Cookie', idle.cookie);
    expectProblem(expired, 401, 'UNAUTHORIZED');
    expect(expired.body.detail).toMatch(/session expired after 15 minutes without activity/);
    expect(sessionCookieOf(expired)).toBe('');
    expectProblem(await c.api().get('/console/session').set('Cookie', idle.cookie), 401, 'UNAUTHORIZED');
    const still = await c.api().get('/console/session').set('Cookie', alive.cookie);
    expect(still.status, still.text).toBe(200);
    expect(still.body.csrfToken).toBe(alive.csrf); // the same session throughout
    // The old cookie (before the slide) is past its own idle end: only the newest counts for the browser anyway.
    advance(16);
    expectProblem(await c.api().get('/console/session').set('Cookie', `tserve_session=${sessionCookieOf(still)}`), 401, 'UNAUTHORIZED');
  });

  it('absolute cap: however active, a session ends 8 hours after its login', async () => {
    let s = await login('finance');
    // A request every 14 minutes for 7 h 56 min: always alive.
    for (let elapsed = 14; elapsed < 8 * 60; elapsed += 14) {
      advance(14);
      const res = await c.api().get('/console/session').set('Cookie', s.cookie);
      expect(res.status, `${elapsed} min: ${res.text}`).toBe(200);
      s = { ...s, cookie: `tserve_session=${sessionCookieOf(res)}` };
    }
    advance(14); // 8 h 10 min after login, 14 min after the last request
    const capped = await c.api().get('/v1/settlements').set('Cookie', s.cookie);
    expectProblem(capped, 401, 'UNAUTHORIZED');
    expect(capped.body.detail).toMatch(/session expired: it reached its limit of 8 hours/);
  });
});

describe('logout ends the session on the switch, not only in the browser', () => {
  const port = () => (c.server.address() as AddressInfo).port;
  /** The session id inside a cookie (its claims' sid). */
  const claimsOf = (cookie: string) => JSON.parse(Buffer.from(cookie.split('.')[1]!, 'base64url').toString()) as { sid: string; iat: number };
  const sidOf = (cookie: string) => claimsOf(cookie).sid;
  const logout = (s: Login) => c.api().delete('/console/session').set('Cookie', s.cookie).set('X-CSRF-Token', s.csrf);
  const upgrade = (cookie: string) =>
    new Promise<{ opened: true; ws: WebSocket } | { opened: false; status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port()}/v1/stream`, ['tserve.v1'], { headers: { Cookie: cookie, Origin: `http://127.0.0.1:${port()}` } });
      ws.once('message', () => resolve({ opened: true, ws }));
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ opened: false, status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      ws.once('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)));
    });

  it('a copy of the cookie taken before logout is refused (API, GET /console/session, stream); other sessions of the same user go on; a new login works', async () => {
    const mine = await login('finance');
    const colleague = await login('finance'); // another officer on the shared finance user
    const audits = () => c.db.scalar("SELECT count(*) FROM audit_log WHERE action = 'session.logout' AND actor = 'finance:finance' AND target = 'user:finance'");
    const before = await audits();

    const out = await logout(mine);
    expect(out.status, out.text).toBe(204);
    expect(sessionCookieOf(out)).toBe('');
    expect(await c.db.scalar('SELECT count(*) FROM ended_sessions WHERE session_id = ?', sidOf(mine.cookie))).toBe(1);
    expect(await audits()).toBe(before + 1);

    // The copy: refused, and cleared, wherever it is shown.
    const api = await c.api().get('/v1/settlements').set('Cookie', mine.cookie);
    expectProblem(api, 401, 'UNAUTHORIZED');
    expect(api.body.detail).toMatch(/ended by logout/);
    expect(sessionCookieOf(api)).toBe('');
    const again = await c.api().get('/console/session').set('Cookie', mine.cookie);
    expectProblem(again, 401, 'UNAUTHORIZED');
    expect(again.body.detail).toMatch(/ended by logout/);
    expect(sessionCookieOf(again)).toBe('');
    expect(await upgrade(mine.cookie)).toMatchObject({ opened: false, status: 401, body: { code: 'UNAUTHORIZED', detail: expect.stringMatching(/ended by logout/) } });
    // A second logout with the copy: 204, nothing recorded twice.
    expect((await logout(mine)).status).toBe(204);
    expect(await audits()).toBe(before + 1);

    // The colleague's session of the same user is untouched.
    expect((await c.api().get('/v1/settlements').set('Cookie', colleague.cookie)).status).toBe(200);
    expect((await c.api().get('/console/session').set('Cookie', colleague.cookie)).status).toBe(200);
    const stream = await upgrade(colleague.cookie);
    expect(stream.opened).toBe(true);
    if (stream.opened) stream.ws.close();
    // A fresh login after logout is a new session.
    const fresh = await login('finance');
    expect(sidOf(fresh.cookie)).not.toBe(sidOf(mine.cookie));
    expect((await c.api().get('/v1/settlements').set('Cookie', fresh.cookie)).status).toBe(200);
  });

  it("an open stream of a session that logs out closes with 4401 at the next heartbeat; the others' stay open", async () => {
    const mine = await login('finance');
    const colleague = await login('finance');
    const a = await upgrade(mine.cookie);
    const b = await upgrade(colleague.cookie);
    if (!a.opened || !b.opened) throw new Error('the streams did not open');
    const closed = new Promise<number>((resolve) => a.ws.once('close', (code) => resolve(code)));
    expect((await logout(mine)).status).toBe(204);
    (stream as unknown as { beat(): void }).beat(); // the test's heartbeat is an hour long
    expect(await closed).toBe(4401);
    expect(b.ws.readyState).toBe(WebSocket.OPEN);
    b.ws.close();
  });

  it('rows past their session cap are pruned at the next logout', async () => {
    const first = await login('admin');
    expect((await logout(first)).status).toBe(204);
    const ended = (s: Login) => c.db.scalar('SELECT count(*) FROM ended_sessions WHERE session_id = ?', sidOf(s.cookie));
    expect(await ended(first)).toBe(1);
    const until = await c.db.scalar('SELECT until FROM ended_sessions WHERE session_id = ?', sidOf(first.cookie));
    expect(until).toBe(claimsOf(first.cookie).iat + 8 * 3_600_000); // its absolute cap

    advance(4 * 60); // before the first's cap: it stays
    const second = await login('admin');
    expect((await logout(second)).status).toBe(204);
    expect(await ended(first)).toBe(1);

    advance(4 * 60 + 1); // past the first's cap, not the second's
    const later = await login('admin');
    expect((await logout(later)).status).toBe(204);
    expect(await ended(first)).toBe(0);
    expect(await ended(second)).toBe(1);
    expect(await ended(later)).toBe(1);
    expect(await c.db.scalar('SELECT count(*) FROM ended_sessions WHERE until < ?', clock())).toBe(0);
  });
});
