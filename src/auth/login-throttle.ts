// Per-account login throttling (issue 12, finding 4). Failures are counted per account
// in the store, so the count holds across restarts and across instances on one
// PostgreSQL, and an attacker spread over many addresses meets the same lock as one at
// a single address. After `lockAfter` consecutive failures the account is locked for
// `baseLockMs`, doubling with each further failure up to `maxLockMs`; while locked every
// attempt is refused before its password is even checked, the right one too. Unknown
// user names are counted the same way, so a lock tells nothing about who exists. A
// success (or an admin's unlock) starts the count again.
import type { Clock } from '../clock.js';
import type { Store } from '../store/types.js';

export interface ThrottlePolicy {
  /** Consecutive failures that lock the account. */
  lockAfter: number;
  /** The first lock's length; each further failure doubles it. */
  baseLockMs: number;
  /** No lock is longer. */
  maxLockMs: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = { lockAfter: 5, baseLockMs: 60_000, maxLockMs: 3_600_000 };

/** The lock that `failures` consecutive failures earn: 0 below the threshold. */
export function lockMs(failures: number, p: ThrottlePolicy): number {
  if (failures < p.lockAfter) return 0;
  const doublings = Math.min(failures - p.lockAfter, 40); // 2^40 × base is past any cap
  return Math.min(p.maxLockMs, p.baseLockMs * 2 ** doublings);
}

/** The account a login or a token request counts against. */
export const userAccount = (username: string) => `user:${username}`;
export const terminalAccount = (terminalId: string) => `terminal:${terminalId}`;

export type Gate = { locked: false; failures: number } | { locked: true; failures: number; until: number };

export class LoginThrottle {
  constructor(
    private readonly store: Store,
    private readonly policy: ThrottlePolicy,
    private readonly clock: Clock,
  ) {}

  /** Before checking a password: is the account locked, and until when? */
  async gate(account: string): Promise<Gate> {
    const f = await this.store.loginFailures(account);
    if (!f) return { locked: false, failures: 0 };
    const until = f.lastFailureAt + lockMs(f.failures, this.policy);
    return until > this.clock() ? { locked: true, failures: f.failures, until } : { locked: false, failures: f.failures };
  }

  /** A wrong password (or unknown account): counted; the lock it earns, if any. */
  async failed(account: string): Promise<Gate> {
    const f = await this.store.recordLoginFailure(account, this.clock());
    const ms = lockMs(f.failures, this.policy);
    return ms > 0 ? { locked: true, failures: f.failures, until: f.lastFailureAt + ms } : { locked: false, failures: f.failures };
  }

  /** A success: the count starts again (no write when there was none). */
  async succeeded(account: string, gate: Gate): Promise<void> {
    if (gate.failures > 0) await this.store.clearLoginFailures(account);
  }

  /** An admin's unlock; false when the account had no failures counted. */
  unlock(account: string): Promise<boolean> {
    return this.store.clearLoginFailures(account);
  }
}
