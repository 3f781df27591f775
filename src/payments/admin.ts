// The network's administration (admin API): counters (suspend, reactivate, credit
// limit) and terminals (provision with a fresh TMK and API secret shown once, rotate
// either, block, unblock). Every
// change goes to the store with an audit entry naming its actor; src/http/admin-api.ts
// decodes, authorises, calls one method here and encodes.
import { randomBytes } from 'node:crypto';
import { KEY_COST, hashSecret, newApiSecret, sealTmk } from '../auth/secrets.js';
import type { Counter, Store, Terminal } from '../store/types.js';
import { PaymentError } from './errors.js';

export type TerminalSummary = Awaited<ReturnType<Store['listTerminals']>>[number];

export interface CounterDetail {
  counter: Counter;
  /** Cash collected and not yet settled, cents. */
  exposureCents: number;
  terminals: TerminalSummary[];
}

export interface ProvisionedTerminal {
  terminalId: string;
  counterId: string;
  /** The terminal master key in hex: returned this once, stored only sealed under the KEK. */
  tmkHex: string;
  /** The JSON API secret (base64url): returned this once, stored only as a slow hash. */
  apiSecret: string;
}

export class NetworkAdmin {
  constructor(
    private readonly store: Store,
    /** The key-encryption key that seals every TMK. */
    private readonly kek: Buffer,
  ) {}

  listCounters(): Promise<Counter[]> {
    return this.store.listCounters();
  }

  private async counter(id: string): Promise<Counter> {
    const c = await this.store.getCounter(id);
    if (!c) throw new PaymentError('NOT_FOUND', `no counter ${id}`);
    return c;
  }

  /** A counter with its exposure and its terminals. */
  async counterDetail(id: string): Promise<CounterDetail> {
    const counter = await this.counter(id);
    const [exposureCents, terminals] = await Promise.all([this.store.counterExposure(id), this.store.listTerminals(id)]);
    return { counter, exposureCents, terminals };
  }

  /** Suspend (its terminals are refused) or reactivate a counter; audited as counter.<status>. */
  async setCounterStatus(id: string, status: Counter['status'], actor: string): Promise<Counter> {
    if (!(await this.store.setCounterStatus(id, status, { actor, action: `counter.${status}`, target: id }))) {
      throw new PaymentError('NOT_FOUND', `no counter ${id}`);
    }
    return this.counter(id);
  }

  /** Change a counter's credit limit (cents), auditing the old and new limits. */
  async setCreditLimit(id: string, creditLimitCents: number, actor: string): Promise<{ counter: Counter; exposureCents: number }> {
    const before = await this.counter(id);
    await this.store.setCreditLimit(id, creditLimitCents, {
      actor,
      action: 'counter.credit_limit',
      target: id,
      detail: { from: before.creditLimitCents, to: creditLimitCents },
    });
    return { counter: await this.counter(id), exposureCents: await this.store.counterExposure(id) };
  }

  listTerminals(counterId?: string): Promise<TerminalSummary[]> {
    return this.store.listTerminals(counterId);
  }

  /**
   * A new terminal of a counter, with a fresh TMK (sealed for the store) and a JSON API
   * secret of its own (hashed), both random and unrelated: the API secret opens no ISO key.
   */
  async provisionTerminal(input: { counterId: string; terminalId?: string }, actor: string): Promise<ProvisionedTerminal> {
    const counter = await this.counter(input.counterId);
    const terminalId = input.terminalId ?? (await this.store.nextTerminalId());
    if (await this.store.getTerminal(terminalId)) throw new PaymentError('CONFLICT', `terminal ${terminalId} exists`);
    const tmk = randomBytes(32);
    const apiSecret = newApiSecret();
    await this.store.insertTerminal(
      { id: terminalId, counterId: counter.id, tmkSealed: sealTmk(this.kek, terminalId, tmk), secretHash: await hashSecret(apiSecret, KEY_COST) },
      { actor, action: 'terminal.provision', target: terminalId, detail: { counterId: counter.id } },
    );
    return { terminalId, counterId: counter.id, tmkHex: tmk.toString('hex'), apiSecret };
  }

  /**
   * A new TMK for a terminal (returned this once, sealed under the KEK); audited as
   * terminal.rotate_tmk. The terminal's ISO session ends on every instance: it signs on
   * again with the new TMK, and a sign-on under the old one is answered 63.
   */
  async rotateTmk(id: string, actor: string): Promise<{ terminalId: string; tmkHex: string }> {
    const tmk = randomBytes(32);
    const ok = await this.store.rotateTerminalKey(id, { tmkSealed: sealTmk(this.kek, id, tmk) }, { actor, action: 'terminal.rotate_tmk', target: id });
    if (!ok) throw new PaymentError('NOT_FOUND', `no terminal ${id}`);
    return { terminalId: id, tmkHex: tmk.toString('hex') };
  }

  /**
   * A new JSON API secret for a terminal (returned this once, kept as a slow hash);
   * audited as terminal.rotate_secret. The old secret stops working at once, and so do
   * the tokens issued under it (they carry its fingerprint).
   */
  async rotateApiSecret(id: string, actor: string): Promise<{ terminalId: string; apiSecret: string }> {
    const apiSecret = newApiSecret();
    const ok = await this.store.rotateTerminalKey(id, { secretHash: await hashSecret(apiSecret, KEY_COST) }, { actor, action: 'terminal.rotate_secret', target: id });
    if (!ok) throw new PaymentError('NOT_FOUND', `no terminal ${id}`);
    return { terminalId: id, apiSecret };
  }

  /** Block or unblock a terminal; audited as terminal.block or terminal.unblock. */
  /** Disables a user (no login, its tokens refused, its streams closed) or enables it again. */
  async setUserDisabled(username: string, disabled: boolean, actor: string): Promise<{ username: string; role: string; disabled: boolean }> {
    if (!(await this.store.setUserDisabled(username, disabled, { actor, action: disabled ? 'user.disable' : 'user.enable', target: `user:${username}` }))) {
      throw new PaymentError('NOT_FOUND', `no user ${username}`);
    }
    const u = (await this.store.getUser(username))!;
    return { username: u.username, role: u.role, disabled: u.disabled };
  }

  async setTerminalStatus(id: string, status: 'active' | 'blocked', actor: string): Promise<Terminal> {
    if (!(await this.store.setTerminalStatus(id, status, { actor, action: status === 'blocked' ? 'terminal.block' : 'terminal.unblock', target: id }))) {
      throw new PaymentError('NOT_FOUND', `no terminal ${id}`);
    }
    return (await this.store.getTerminal(id))!;
  }
}
