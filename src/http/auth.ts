// Bearer-token (or console session cookie) authentication and role checks for every route.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Principal, Role } from '../auth/principal.js';
import { NO_API_SECRET, secretVersion } from '../auth/secrets.js';
import type { TokenService } from '../auth/tokens.js';
import type { Store } from '../store/types.js';
import { sendProblem } from './problem.js';
import type { ConsoleSessions } from './session.js';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** Where each app's tokens learn that a user was disabled since its token was issued (createApp registers its store). */
const userStatus = new WeakMap<TokenService, (username: string) => Promise<{ disabled: boolean } | undefined>>();

export function checkUsersWith(tokens: TokenService, getUser: (username: string) => Promise<{ disabled: boolean } | undefined>): void {
  userStatus.set(tokens, getUser);
}

/** Where each app's routes find the console's sessions (createApp registers them beside the users). */
const consoleSessions = new WeakMap<TokenService, ConsoleSessions>();

export function acceptSessionsWith(tokens: TokenService, sessions: ConsoleSessions): void {
  consoleSessions.set(tokens, sessions);
}

export function authenticate(tokens: TokenService): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization');
    // No Authorization header but the console's cookie: the session (CSRF checked on
    // unsafe methods); with a header, the token alone counts, as before.
    const sessions = consoleSessions.get(tokens);
    if (header === undefined && sessions?.cookieOf(req) !== undefined) return sessionOf(sessions, tokens, req, res, next);
    const m = header ? /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header) : null;
    // RFC 7235 §3.1 / RFC 6750 §3: every 401 names the scheme; a rejected token says so.
    if (!m) {
      res.set('WWW-Authenticate', 'Bearer realm="tserve"');
      return sendProblem(res, 'UNAUTHORIZED', 'an Authorization: Bearer <token> header is required');
    }
    const v = tokens.verify(m[1]!);
    if (!v.ok) {
      res.set('WWW-Authenticate', 'Bearer realm="tserve", error="invalid_token"');
      return sendProblem(res, 'UNAUTHORIZED', v.error === 'expired' ? 'the token has expired' : 'the token is not valid');
    }
    req.principal = v.principal;
    const getUser = userStatus.get(tokens);
    // A user's token is worth what the user is now: a disabled (or removed) user's tokens are refused.
    // Terminals' are not read here: booking checks the terminal and its counter itself.
    if (v.principal.role === 'terminal' || !getUser) return next();
    getUser(v.principal.username).then((u) => {
      if (u && !u.disabled) return next();
      res.set('WWW-Authenticate', 'Bearer realm="tserve", error="invalid_token"');
      sendProblem(res, 'UNAUTHORIZED', 'credentials revoked: the user is disabled');
    }, next);
  };
}

function sessionOf(sessions: ConsoleSessions, tokens: TokenService, req: Request, res: Response, next: NextFunction): void {
  const s = sessions.check(req, res);
  if (!s) return;
  const getUser = userStatus.get(tokens);
  const pass = () => {
    req.principal = s.principal;
    sessions.issue(res, s); // the idle expiry slides with each accepted request
    next();
  };
  // Ended by logout, or its user disabled since: both read at once (one round trip).
  sessions.revoked(s, getUser ?? (async () => ({ disabled: false }))).then((refusal) => {
    if (refusal === null) return pass();
    sessions.refuse(res, refusal);
  }, next);
}

/**
 * A terminal's token holds only while the API secret it was issued under is the
 * terminal's current one (its fingerprint, `sv`): rotating the secret refuses the tokens
 * already out, on every instance (the terminal row is re-read after a change). Other
 * principals pass.
 */
export function currentTerminalSecret(store: Pick<Store, 'getTerminal'>): RequestHandler {
  return (req, res, next) => {
    const p = req.principal;
    if (!p || p.role !== 'terminal') return next();
    store.getTerminal(p.terminalId).then((t) => {
      if (t && t.secretHash !== NO_API_SECRET && secretVersion(t.secretHash) === p.secretVersion) return next();
      res.set('WWW-Authenticate', 'Bearer realm="tserve", error="invalid_token"');
      sendProblem(res, 'UNAUTHORIZED', "the token was issued under an API secret that is no longer the terminal's: get a new token");
    }, next);
  };
}

export function requireRole(...roles: Role[]): RequestHandler {
  return (req, res, next) => {
    const p = req.principal;
    if (!p || !roles.includes(p.role)) {
      return sendProblem(res, 'FORBIDDEN', `this operation is for ${roles.join(' or ')} credentials`);
    }
    next();
  };
}

export function principal(req: Request): Principal {
  if (!req.principal) throw new Error('route without authenticate()');
  return req.principal;
}
