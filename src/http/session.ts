// The web console's login: a cookie session (src/auth/session.ts) beside the JSON API's
// Bearer tokens. POST /console/session logs in through the same door as POST
// /v1/auth/login (throttle, lockout, audit); every /v1 route then takes the cookie when
// no Authorization header is sent (auth.ts), unsafe methods only with the session's
// X-CSRF-Token. Each accepted request slides the idle expiry by re-issuing the cookie.
// Logout records the session's id as ended (the store's ended_sessions, until the
// session's absolute cap), so a copy of the cookie taken before is refused too.
import type { Request, Response } from 'express';
import { Router } from 'express';
import { parse, serialize } from 'cookie';
import { userAccount } from '../auth/login-throttle.js';
import { principalName } from '../auth/principal.js';
import { SESSION_COOKIE, SessionService, type Session } from '../auth/session.js';
import { systemClock } from '../clock.js';
import { logger } from '../log.js';
import type { AppContext } from './context.js';
import type { LoginDoor } from './login-guard.js';
import { documented } from './openapi.js';
import { sendProblem } from './problem.js';
import * as S from './schemas.js';

export const CSRF_HEADER = 'X-CSRF-Token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The cookie side of the sessions of one app: read, check, re-issue, clear. */
export class ConsoleSessions {
  constructor(
    readonly sessions: SessionService,
    /** The HTTP listener is TLS: the cookie is Secure (never sent over plain HTTP). */
    readonly secure: boolean,
    /** Was this session ended by logout (the store's ended_sessions)? */
    readonly ended: (id: string) => Promise<boolean>,
  ) {}

  static of(ctx: AppContext): ConsoleSessions {
    const sessions = new SessionService(ctx.tokens, ctx.config.consoleSession, ctx.clock ?? systemClock);
    return new ConsoleSessions(sessions, ctx.config.http.tls !== null, (id) => ctx.store.sessionEnded(id));
  }

  /** The session cookie's value, if the request carries one. */
  cookieOf(req: Request): string | undefined {
    const header = req.headers.cookie;
    return header ? parse(header)[SESSION_COOKIE] : undefined;
  }

  private attributes(): Parameters<typeof serialize>[2] {
    // No Max-Age: the browser forgets it when closed; the switch alone decides when it ends.
    return { httpOnly: true, sameSite: 'strict', path: '/', secure: this.secure };
  }

  /** Sends the session, seen now (the idle expiry slides), as the cookie; answers the session so refreshed. */
  issue(res: Response, s: Session): Session {
    const { session, value } = this.sessions.touch(s);
    res.append('Set-Cookie', serialize(SESSION_COOKIE, value, this.attributes()));
    return session;
  }

  clear(res: Response): void {
    res.append('Set-Cookie', serialize(SESSION_COOKIE, '', { ...this.attributes(), maxAge: 0, expires: new Date(0) }));
  }

  /**
   * Why a session that check() passed may not be used now, or null: ended by logout, or
   * its user disabled (or removed). Both read at once, so the logout check adds no round trip.
   */
  async revoked(s: Session, getUser: (username: string) => Promise<{ disabled: boolean } | undefined>): Promise<string | null> {
    const [user, ended] = await Promise.all([getUser(s.principal.username), this.ended(s.id)]);
    if (ended) return 'the session was ended by logout: log in again';
    return user && !user.disabled ? null : 'credentials revoked: the user is disabled';
  }

  /** A 401 for a session refused after check() (revoked()): the cookie cleared. */
  refuse(res: Response, detail: string): void {
    this.clear(res);
    res.set('WWW-Authenticate', 'Bearer realm="tserve"');
    sendProblem(res, 'UNAUTHORIZED', detail);
  }

  /**
   * The request's session, or null when a refusal was sent: 401 without a cookie, with a
   * forged or expired one (the cookie is then cleared); 403 CSRF when an unsafe method
   * lacks the session's X-CSRF-Token. Users' status is the caller's to check.
   */
  check(req: Request, res: Response): Session | null {
    const value = this.cookieOf(req);
    const refuse = (detail: string) => {
      if (value !== undefined) this.clear(res);
      res.set('WWW-Authenticate', 'Bearer realm="tserve"');
      sendProblem(res, 'UNAUTHORIZED', detail);
      return null;
    };
    if (value === undefined) return refuse('no console session: log in (POST /console/session)');
    const v = this.sessions.check(value);
    if (!v.ok) {
      if (v.error === 'invalid') return refuse('the session is not valid: log in again');
      const { idleMs, maxMs } = this.sessions.limits;
      return refuse(
        v.why === 'idle'
          ? `the session expired after ${idleMs / 60_000} minutes without activity: log in again`
          : `the session expired: it reached its limit of ${maxMs / 3_600_000} hours from login; log in again`,
      );
    }
    if (!SAFE_METHODS.has(req.method) && !this.sessions.csrfMatches(v.session, req.get(CSRF_HEADER))) {
      sendProblem(res, 'CSRF', `a ${req.method} with the session cookie needs the session's ${CSRF_HEADER} header (csrfToken of POST or GET /console/session)`);
      return null;
    }
    return v.session;
  }

  /** What the console's script is told: who, the CSRF token, the idle length. */
  view(s: Session, entityName: (id: string) => string) {
    const p = s.principal;
    return {
      username: p.username,
      role: p.role,
      entityId: p.role === 'entity' ? p.entityId : null,
      entityName: p.role === 'entity' ? entityName(p.entityId) : null,
      csrfToken: this.sessions.csrfToken(s),
      idleSeconds: Math.round(this.sessions.limits.idleMs / 1000),
      expiresAt: new Date(this.sessions.expiresAt(s)).toISOString(),
    };
  }
}

export function sessionApi(ctx: AppContext, door: LoginDoor, sessions: ConsoleSessions): Router {
  const r = Router();
  const { guard, limiter } = door;

  /** A live session, not ended by logout, of a user still enabled; or null (refusal sent, cookie cleared). */
  const live = async (req: Request, res: Response): Promise<Session | null> => {
    const s = sessions.check(req, res);
    if (!s) return null;
    const refusal = await sessions.revoked(s, (username) => ctx.store.getUser(username));
    if (refusal === null) return s;
    sessions.refuse(res, refusal);
    return null;
  };

  documented({
    method: 'post', path: '/console/session', summary: 'Console login: a session cookie (HttpOnly, SameSite=Strict) and its CSRF token', roles: [],
    description: 'Users only (entity, finance, admin), under the same throttle, lockout and audit as POST /v1/auth/login. Sets the cookie tserve_session (Secure under TLS).',
    body: S.LoginRequest, response: S.ConsoleSessionOut, errors: ['UNAUTHORIZED', 'FORBIDDEN'],
  });
  r.post('/console/session', limiter, async (req, res) => {
    const body = S.LoginRequest.parse(req.body);
    const p = await guard.loginUser(req, res, body.username, body.password); // null: refused, answered
    if (!p) return;
    const session = sessions.issue(res, sessions.sessions.open(p));
    res.set('Cache-Control', 'no-store').json(sessions.view(session, (id) => ctx.payments.entityName(id)));
  });

  documented({
    method: 'get', path: '/console/session', summary: 'The live console session: who, and its CSRF token again (slides the idle expiry)', roles: ['entity', 'finance', 'admin'],
    cookie: true, response: S.ConsoleSessionOut,
  });
  r.get('/console/session', async (req, res) => {
    const s = await live(req, res);
    if (s) res.set('Cache-Control', 'no-store').json(sessions.view(sessions.issue(res, s), (id) => ctx.payments.entityName(id)));
  });

  documented({
    method: 'delete', path: '/console/session', summary: 'Console logout: the session is ended on the switch (a copy of its cookie is refused too) and the cookie cleared (send X-CSRF-Token)',
    roles: ['entity', 'finance', 'admin'], cookie: true, status: 204,
  });
  r.delete('/console/session', async (req, res) => {
    const s = sessions.check(req, res);
    if (!s) return;
    // Recorded before the cookie is cleared: from the commit on, every instance refuses
    // this session. Ended already (a second logout): nothing more to record or audit.
    if (!(await sessions.ended(s.id))) {
      const p = s.principal;
      const now = sessions.sessions.now();
      await ctx.store.endSession(s.id, s.issuedAt + sessions.sessions.limits.maxMs, now);
      await ctx.store.appendAudit([{ actor: principalName(p), action: 'session.logout', target: userAccount(p.username), detail: { address: req.ip ?? req.socket.remoteAddress ?? 'unknown' } }]);
      logger.info('logout', { user: p.username });
    }
    sessions.clear(res);
    res.set('Cache-Control', 'no-store').status(204).end();
  });

  return r;
}
