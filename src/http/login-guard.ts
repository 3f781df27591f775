// Credential checks under the per-account throttle (src/auth/login-throttle.ts), for
// POST /v1/auth/login (users) and POST /v1/auth/token (terminals): a locked account is
// answered 429 with Retry-After before its password is checked; each failure is counted,
// logged with the name and the client's address (never the password) and audited; a
// success clears the count and, for users, is logged and audited too. The console's
// login (POST /console/session) is the same door as POST /v1/auth/login: one guard, one
// per-address limit, one user check (loginUser).
import type { Request, RequestHandler, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { LoginThrottle, terminalAccount, userAccount, type Gate } from '../auth/login-throttle.js';
import { principalName } from '../auth/principal.js';
import { PASSWORD_COST, verifySecret } from '../auth/secrets.js';
import type { UserPrincipal } from '../auth/session.js';
import { systemClock } from '../clock.js';
import { logger } from '../log.js';
import type { Store } from '../store/types.js';
import type { AppContext } from './context.js';
import { sendProblem } from './problem.js';

// The scrypt hash of nothing anyone knows, at the cost real ones have, so that an
// unknown user costs the same time as a wrong password.
const DUMMY_PASSWORD_HASH = `scrypt$${PASSWORD_COST.N}$${PASSWORD_COST.r}$${PASSWORD_COST.p}$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`;

export interface Claimant {
  kind: 'user' | 'terminal';
  /** The user name or terminal id given, known or not. */
  name: string;
  address: string;
}

export const claimant = (req: Request, kind: Claimant['kind'], name: string): Claimant => ({ kind, name, address: req.ip ?? req.socket.remoteAddress ?? 'unknown' });

const account = (c: Claimant) => (c.kind === 'user' ? userAccount(c.name) : terminalAccount(c.name));
const action = (c: Claimant, what: 'success' | 'failure' | 'locked') => `${c.kind === 'user' ? 'login' : 'token'}.${what}`;

export class LoginGuard {
  /**
   * The lock each account's refusal was last recorded for: attempts on a locked account
   * are logged and audited once per lock (per instance), so an attacker hammering a
   * locked account from many addresses cannot flood the log and the audit chain.
   */
  private readonly lockNoted = new Map<string, number>();

  constructor(
    private readonly store: Store,
    readonly throttle: LoginThrottle,
    private readonly clock: () => number,
    /** Told every refusal (wrong credentials, or an attempt on a locked account), for metrics. */
    private readonly onRefused: (kind: Claimant['kind'], reason: 'bad_credentials' | 'locked') => void = () => {},
  ) {}

  private async record(c: Claimant, what: 'success' | 'failure' | 'locked', detail: Record<string, unknown>, actor = account(c)): Promise<void> {
    const fields = { [c.kind]: c.name, address: c.address, ...detail };
    if (what === 'success') logger.info(`${action(c, what)}`, fields);
    else logger.warn(`${action(c, what)}`, fields);
    // Terminals ask for tokens all day: only their failures are audited.
    if (c.kind === 'user' || what !== 'success') {
      await this.store.appendAudit([{ actor, action: action(c, what), target: account(c), detail: { address: c.address, ...detail } }]);
    }
  }

  private refuseLocked(res: Response, until: number): void {
    const seconds = Math.max(1, Math.ceil((until - this.clock()) / 1000));
    const at = new Date(until).toISOString();
    res.set('Retry-After', String(seconds));
    sendProblem(res, 'RATE_LIMITED', `too many failed attempts for this account: it is locked until ${at}; try again in ${seconds} s`, { retryAt: at });
  }

  /** Before checking credentials: null when locked (429 sent), else the gate to pass on. */
  async open(res: Response, c: Claimant): Promise<Gate | null> {
    const gate = await this.throttle.gate(account(c));
    if (!gate.locked) return gate;
    this.onRefused(c.kind, 'locked');
    if (this.lockNoted.get(account(c)) !== gate.until) {
      if (this.lockNoted.size >= 10_000) this.lockNoted.clear();
      this.lockNoted.set(account(c), gate.until);
      await this.record(c, 'locked', { failures: gate.failures, lockedUntil: new Date(gate.until).toISOString(), note: 'further attempts during this lock are refused unrecorded' });
    }
    this.refuseLocked(res, gate.until);
    return null;
  }

  /** Wrong credentials (or an unknown name): counted, logged, audited; 401, or 429 when this failure locks. */
  async fail(res: Response, c: Claimant, detail: string): Promise<void> {
    const gate = await this.throttle.failed(account(c));
    this.onRefused(c.kind, 'bad_credentials');
    await this.record(c, 'failure', gate.locked ? { failures: gate.failures, lockedUntil: new Date(gate.until).toISOString() } : { failures: gate.failures });
    if (gate.locked) return this.refuseLocked(res, gate.until);
    sendProblem(res, 'UNAUTHORIZED', detail);
  }

  /** Right credentials: the count starts again; users' logins are logged and audited under their principal's name. */
  async pass(c: Claimant, gate: Gate, actor?: string): Promise<void> {
    await this.throttle.succeeded(account(c), gate);
    await this.record(c, 'success', {}, actor);
  }

  /**
   * A user's password login, for a token or a console session: the principal, or null
   * when a refusal was sent (429 locked, 401 unknown user or wrong password, 403 disabled).
   */
  async loginUser(req: Request, res: Response, username: string, password: string): Promise<UserPrincipal | null> {
    const who = claimant(req, 'user', username);
    const gate = await this.open(res, who); // per-account throttle: null when locked (429 sent)
    if (!gate) return null;
    const user = await this.store.getUser(username);
    const ok = await verifySecret(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
    if (!user || !ok) {
      await this.fail(res, who, 'unknown user or wrong password');
      return null;
    }
    const p: UserPrincipal = user.role === 'entity' ? { role: 'entity', username: user.username, entityId: user.entityId! } : { role: user.role, username: user.username };
    await this.pass(who, gate, principalName(p));
    if (user.disabled) {
      sendProblem(res, 'FORBIDDEN', 'this user is disabled; an admin can enable it');
      return null;
    }
    return p;
  }
}

/** The guard and the per-address limit of every login route of one app (token and console logins count together). */
export interface LoginDoor {
  guard: LoginGuard;
  limiter: RequestHandler;
}

export function loginDoor(ctx: AppContext): LoginDoor {
  const clock = ctx.clock ?? systemClock;
  const guard = new LoginGuard(ctx.store, new LoginThrottle(ctx.store, ctx.config.loginThrottle, clock), clock, (kind, reason) => ctx.metrics?.loginFailures.inc({ kind, reason }));
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: ctx.config.authRateLimitPerMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, res) => sendProblem(res, 'RATE_LIMITED', 'too many authentication attempts; wait a minute'),
  });
  return { guard, limiter };
}
