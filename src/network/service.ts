// The network configuration service: the one door (change.ts). A change is checked whole
// against the stored network (validate.ts); applied, it gets secrets for what it creates
// (a random TMK sealed under the KEK and an API secret per new terminal, a random
// password per new user, hashed), then goes to the store in one transaction. The
// secrets are returned this once; the store keeps only their sealed or hashed forms.
import { randomBytes } from 'node:crypto';
import { KEY_COST, PASSWORD_COST, hashSecret, newApiSecret, sealTmk } from '../auth/secrets.js';
import type { Clock } from '../clock.js';
import { romeDate } from '../domain/calendar.js';
import type { Store } from '../store/types.js';
import { NETWORK_KEYS, type NetworkApplied, type NetworkChange, type NetworkConfiguration, type NetworkKind, type NetworkProblem, type NetworkState, type NewCredentials, type NewSecrets } from './change.js';
import { checkNetworkChange } from './validate.js';

export class NetworkService implements NetworkConfiguration {
  constructor(
    private readonly store: Store,
    /** The key-encryption key that seals every TMK. */
    private readonly kek: Buffer,
    /** Today's Rome business date, for the effective-date rules. */
    private readonly clock: Clock,
  ) {}

  state(): Promise<NetworkState> {
    return this.store.networkState();
  }

  async check(change: NetworkChange): Promise<NetworkProblem[]> {
    return checkNetworkChange(await this.store.networkState(), change, romeDate(this.clock()));
  }

  async apply(change: NetworkChange, actor: string): Promise<{ ok: true; applied: NetworkApplied; credentials: NewCredentials } | { ok: false; problems: NetworkProblem[] }> {
    const current = await this.store.networkState();
    const problems = checkNetworkChange(current, change, romeDate(this.clock()));
    if (problems.length > 0) return { ok: false, problems };
    const { secrets, credentials } = await this.newSecrets(current, change);
    try {
      const applied = await this.store.applyNetworkChange(change, secrets, actor);
      return { ok: true, applied, credentials };
    } catch (err) {
      // Another instance or process created an item of this change since it was checked.
      const e = err as { name?: string; code?: string; message?: string };
      if (e.name !== 'NetworkConflictError') throw err;
      const at = (e.code ?? '').indexOf(':');
      const [kind, met] = [(e.code ?? '').slice(0, at) as NetworkKind, (e.code ?? '').slice(at + 1)];
      const key = NETWORK_KEYS[kind] as (x: unknown) => string;
      return { ok: false, problems: [{ kind, index: Math.max(0, (change[kind] ?? []).findIndex((x) => key(x) === met)), message: e.message ?? 'exists already' }] };
    }
  }

  /**
   * Secrets of the terminals and users the change creates. Generated passwords are 16
   * random bytes (the password policy is for chosen ones); hashes are slow (scrypt), so
   * they are made before the store's transaction, never inside it.
   */
  private async newSecrets(current: NetworkState, change: NetworkChange): Promise<{ secrets: NewSecrets; credentials: NewCredentials }> {
    const terminals = new Set(current.terminals.map((t) => t.id));
    const users = new Set(current.users.map((u) => u.username));
    const secrets: NewSecrets = { terminals: new Map(), users: new Map() };
    const credentials: NewCredentials = { terminals: [], users: [] };
    for (const t of change.terminals ?? []) {
      if (terminals.has(t.id)) continue;
      const tmk = randomBytes(32);
      const apiSecret = newApiSecret();
      secrets.terminals.set(t.id, { tmkSealed: sealTmk(this.kek, t.id, tmk), secretHash: await hashSecret(apiSecret, KEY_COST) });
      credentials.terminals.push({ terminalId: t.id, counterId: t.counterId, tmk: tmk.toString('hex'), apiSecret });
    }
    for (const u of change.users ?? []) {
      if (users.has(u.username)) continue;
      const password = randomBytes(16).toString('base64url');
      secrets.users.set(u.username, { passwordHash: await hashSecret(password, PASSWORD_COST) });
      credentials.users.push({ username: u.username, password });
    }
    return { secrets, credentials };
  }
}
