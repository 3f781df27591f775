// Bearer-token authentication and role checks for every route.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Principal, Role } from '../auth/principal.js';
import type { TokenService } from '../auth/tokens.js';
import { sendProblem } from './problem.js';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

export function authenticate(tokens: TokenService): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization');
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
    next();
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
