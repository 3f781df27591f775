// JWTs for the JSON API. HS256 only: the algorithm is pinned on both signing and
// verification, so `alg: none` and algorithm-confusion tokens are refused.
import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import type { Principal } from './principal.js';

const ALGORITHM = 'HS256' as const;
const ISSUER = 'tserve';
/** How far ahead of this clock another instance's may be: a token issued later than that is forged or from a broken clock. */
const CLOCK_SKEW_SECONDS = 30;

const Claims = z.discriminatedUnion('role', [
  z.object({ role: z.literal('terminal'), sub: z.string(), counterId: z.string(), sv: z.string().optional() }),
  z.object({ role: z.literal('entity'), sub: z.string(), entityId: z.string() }),
  z.object({ role: z.literal('finance'), sub: z.string() }),
  z.object({ role: z.literal('admin'), sub: z.string() }),
]);

export type TokenError = 'expired' | 'invalid';

export class TokenService {
  /**
   * The HMAC key as a KeyObject made once: given a Buffer, jsonwebtoken first tries to
   * parse it as a public or private key on every call (and fails, slowly, inside
   * OpenSSL) before treating it as a secret — the largest cost of an HTTPS payment.
   */
  private readonly secret: KeyObject;

  constructor(
    secret: Buffer,
    readonly ttlSeconds: number,
  ) {
    this.secret = createSecretKey(secret);
  }

  /**
   * A key for another use of this secret (HKDF-SHA256; `info` names the use, e.g. the
   * console's session cookies): the same on every instance, never the JWT key itself.
   */
  deriveKey(info: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.secret.export(), Buffer.alloc(0), info, 32));
  }

  issue(p: Principal): { token: string; expiresIn: number } {
    const claims =
      p.role === 'terminal'
        ? { role: p.role, counterId: p.counterId, ...(p.secretVersion === undefined ? {} : { sv: p.secretVersion }) }
        : p.role === 'entity'
          ? { role: p.role, entityId: p.entityId }
          : { role: p.role };
    const subject = p.role === 'terminal' ? p.terminalId : p.username;
    const token = jwt.sign(claims, this.secret, {
      algorithm: ALGORITHM,
      expiresIn: this.ttlSeconds,
      issuer: ISSUER,
      subject,
    });
    return { token, expiresIn: this.ttlSeconds };
  }

  verify(token: string): { ok: true; principal: Principal; expiresAt: number } | { ok: false; error: TokenError } {
    let payload: unknown;
    try {
      // maxAge bounds the age from iat, whatever exp says: a token lives at most the TTL.
      payload = jwt.verify(token, this.secret, { algorithms: [ALGORITHM], issuer: ISSUER, maxAge: this.ttlSeconds });
    } catch (err) {
      return { ok: false, error: err instanceof jwt.TokenExpiredError ? 'expired' : 'invalid' };
    }
    const claims = Claims.safeParse(payload);
    if (!claims.success) return { ok: false, error: 'invalid' };
    const c = claims.data;
    const { exp, iat } = payload as { exp?: number; iat?: number };
    // A token must say when it ends, and may not claim to live longer than the TTL.
    if (typeof exp !== 'number' || typeof iat !== 'number' || exp - iat > this.ttlSeconds) return { ok: false, error: 'invalid' };
    // Issued in the future: jsonwebtoken's maxAge counts from iat, so such a token would outlive the TTL.
    if (iat > Math.floor(Date.now() / 1000) + CLOCK_SKEW_SECONDS) return { ok: false, error: 'invalid' };
    const principal: Principal =
      c.role === 'terminal'
        ? { role: 'terminal', terminalId: c.sub, counterId: c.counterId, ...(c.sv === undefined ? {} : { secretVersion: c.sv }) }
        : c.role === 'entity'
          ? { role: 'entity', username: c.sub, entityId: c.entityId }
          : { role: c.role, username: c.sub };
    return { ok: true, principal, expiresAt: exp * 1000 };
  }
}
