// Terminal master keys for the ISO 8583 channel: opened from their sealed form once
// and kept in memory, never logged.
import type { Store } from '../store/types.js';
import { openTmk } from './secrets.js';

export interface TerminalKey {
  terminalId: string;
  counterId: string;
  tmk: Buffer;
}

export class TerminalKeys {
  private readonly cache = new Map<string, TerminalKey>();

  constructor(
    private readonly store: Store,
    private readonly kek: Buffer,
  ) {}

  /** The terminal's key and counter, or undefined for an unknown terminal. */
  async get(terminalId: string): Promise<TerminalKey | undefined> {
    const hit = this.cache.get(terminalId);
    if (hit) return hit;
    const t = await this.store.getTerminal(terminalId);
    if (!t) return undefined;
    const key = { terminalId: t.id, counterId: t.counterId, tmk: openTmk(this.kek, t.id, t.tmkSealed) };
    this.cache.set(terminalId, key);
    return key;
  }
}
