// The web console's sessions: stateless, so that any instance on the same store answers
// any request. A session is a signed value the browser keeps in an HttpOnly cookie:
//
//   v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(macKey, "v1." + claims))>
//
// The algorithm is pinned by the version ("v1" is HMAC-SHA256 and nothing else; no
// header names an algorithm), the keys are derived from the JWT key (HKDF, one per use)
// so no new secret has to be kept, and every time is the switch's injected clock. The
// CSRF token is an HMAC of the session id under its own key: it holds for that session
// only, and the browser's script reads it from the login answer (never from the cookie).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { Principal } from './principal.js';
import type { TokenService } from './tokens.js';

/** The cookie's name (HttpOnly, SameSite=Strict, Path=/; Secure under TLS: src/http/session.ts). */
export const SESSION_COOKIE = 'tserve_session';

const VERSION = 'v1';
/** How far ahead of this clock another instance's may be (as for JWTs, tokens.ts). */
const CLOCK_SKEW_MS = 30_000;

/** Sessions are for people: terminals use their Bearer tokens. */
export type UserPrincipal = Exclude<Principal, { role: 'terminal' }>;

export interface SessionLimits {
  /** Without a request for this long, the session ends; each request slides it. */
  idleMs: number;
  /** However active, a session ends this long after its login. */
  maxMs: number;
}

export interface Session {
  /** Random, made at login: binds the CSRF token to this session only. */
  id: string;
  principal: UserPrincipal;
  /** The login (ms, switch clock): the absolute cap counts from it. */
  issuedAt: number;
  /** The last request (ms, switch clock): the idle expiry counts from it. */
  seenAt: number;
}

export type SessionCheck =
  | { ok: true; session: Session; expiresAt: number }
  | { ok: false; error: 'invalid' }
  /** A genuine session past its end: idle (no request for too long) or max (the absolute cap). */
  | { ok: false; error: 'expired'; why: 'idle' | 'max'; session: Session };

const Claims = z.strictObject({
  sid: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  sub: z.string().min(1).max(200),
  role: z.enum(['entity', 'finance', 'admin']),
  ent: z.string().min(1).max(50).optional(),
  iat: z.number().int().nonnegative(),
  seen: z.number().int().nonnegative(),
});

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class SessionService {
  private readonly macKey: Buffer;
  private readonly csrfKey: Buffer;

  /** Keys derived from the JWT key: the same on every instance that shares it. */
  constructor(
    tokens: Pick<TokenService, 'deriveKey'>,
    readonly limits: SessionLimits,
    private readonly clock: Clock,
  ) {
    this.macKey = tokens.deriveKey('tserve console session v1');
    this.csrfKey = tokens.deriveKey('tserve console csrf v1');
  }

  now(): number {
    return this.clock();
  }

  /** A new session at login. */
  open(principal: UserPrincipal): Session {
    const now = this.clock();
    return { id: randomBytes(16).toString('base64url'), principal, issuedAt: now, seenAt: now };
  }

  /** The session as seen now (the sliding expiry starts again), encoded for the cookie. */
  touch(s: Session): { session: Session; value: string } {
    const session = { ...s, seenAt: Math.max(s.seenAt, this.clock()) };
    return { session, value: this.encode(session) };
  }

  expiresAt(s: Session): number {
    return Math.min(s.seenAt + this.limits.idleMs, s.issuedAt + this.limits.maxMs);
  }

  /** Reads a cookie's value: forged, altered or malformed is invalid; a genuine one past its end is expired. */
  check(value: string): SessionCheck {
    const session = this.decode(value);
    if (!session) return { ok: false, error: 'invalid' };
    const now = this.clock();
    // From the future (a forged clock or a broken instance): its expiry cannot be trusted.
    if (session.issuedAt > now + CLOCK_SKEW_MS || session.seenAt > now + CLOCK_SKEW_MS) return { ok: false, error: 'invalid' };
    // The limits of now, not of when it was issued: lowering them shortens open sessions too.
    if (now >= session.issuedAt + this.limits.maxMs) return { ok: false, error: 'expired', why: 'max', session };
    if (now >= session.seenAt + this.limits.idleMs) return { ok: false, error: 'expired', why: 'idle', session };
    return { ok: true, session, expiresAt: this.expiresAt(session) };
  }

  /** The session's CSRF token: sent back by the console as X-CSRF-Token on every unsafe request. */
  csrfToken(s: Pick<Session, 'id'>): string {
    return createHmac('sha256', this.csrfKey).update(s.id).digest('base64url');
  }

  csrfMatches(s: Pick<Session, 'id'>, given: string | undefined): boolean {
    if (!given) return false;
    const want = Buffer.from(this.csrfToken(s));
    const got = Buffer.from(given);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  private mac(claims: string): Buffer {
    return createHmac('sha256', this.macKey).update(`${VERSION}.${claims}`).digest();
  }

  private encode(s: Session): string {
    const p = s.principal;
    const claims = { sid: s.id, sub: p.username, role: p.role, ...(p.role === 'entity' ? { ent: p.entityId } : {}), iat: s.issuedAt, seen: s.seenAt };
    const body = b64(JSON.stringify(claims));
    return `${VERSION}.${body}.${this.mac(body).toString('base64url')}`;
  }

  private decode(value: string): Session | null {
    const parts = value.split('.');
    if (parts.length !== 3 || parts[0] !== VERSION) return null;
    const [, body, mac] = parts as [string, string, string];
    const want = this.mac(body);
    const got = Buffer.from(mac, 'base64url');
    // The MAC first, then the claims: nothing of an unsigned value is parsed.
    if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    const c = Claims.safeParse(json);
    if (!c.success || c.data.seen < c.data.iat) return null;
    const { sid, sub, role, ent, iat, seen } = c.data;
    if ((role === 'entity') !== (ent !== undefined)) return null;
    const principal: UserPrincipal = role === 'entity' ? { role, username: sub, entityId: ent! } : { role, username: sub };
    return { id: sid, principal, issuedAt: iat, seenAt: seen };
  }
}
