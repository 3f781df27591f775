// Credential checks under the per-account throttle (src/auth/login-throttle.ts), for
// POST /v1/auth/login (users) and POST /v1/auth/token (terminals): a locked account is
// answered 429 with Retry-After before its password is checked; each failure is counted,
// logged with the name and the client's address (never the password) and audited; a
// success clears the count and, for users, is logged and audited too.
import type { Request, Response } from 'express';
import { LoginThrottle, terminalAccount, userAccount, type Gate } from '../auth/login-throttle.js';
import { logger } from '../log.js';
import type { Store } from '../store/types.js';
import { sendProblem } from './problem.js';

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
}
