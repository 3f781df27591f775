// Terminal master keys for the ISO 8583 channel: opened from their sealed form once
// and kept in memory, never logged.
import type { Store } from '../store/types.js';
import { openTmk } from './secrets.js';
import { kekFingerprint } from './kek-rotation.js';
import { logger } from '../log.js';

export interface TerminalKey {
  terminalId: string;
  counterId: string;
  tmk: Buffer;
}

export class TerminalKeys {
  private readonly cache = new Map<string, TerminalKey>();
  /** Bumped by forget(): a read that began before it does not cache what it read. */
  private generation = 0;

  private readonly forgetListeners: ((terminalId: string) => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly kek: Buffer,
  ) {
    // A TMK rotated on any instance (the event log reaches each one) is forgotten here,
    // and the ISO server ends the terminal's session (onForget).
    store.onCommit((events) => {
      for (const e of events) {
        if (e.type === 'terminal.key_rotated' && e.payload.key === 'tmk' && e.terminalId) this.forget(e.terminalId);
      }
    });
  }

  /** Called with a terminal id whenever its key is dropped. */
  onForget(listener: (terminalId: string) => void): void {
    this.forgetListeners.push(listener);
  }

  /** The terminal's key and counter, or undefined for an unknown terminal. */
  async get(terminalId: string): Promise<TerminalKey | undefined> {
    const hit = this.cache.get(terminalId);
    if (hit) return hit;
    const generation = this.generation;
    const t = await this.store.getTerminal(terminalId);
    if (!t) return undefined;
    const key = { terminalId: t.id, counterId: t.counterId, tmk: this.open(t.id, t.tmkSealed) };
    if (generation === this.generation) this.cache.set(terminalId, key);
    return key;
  }

  /**
   * A TMK that does not open under this instance's KEK: the KEK was rotated while this
   * instance ran (docs/keys.md), or the row was altered. An alarm, and the terminal is
   * hung up on (the caller's failure path); never retried into a loop.
   */
  private open(terminalId: string, sealed: string): Buffer {
    try {
      return openTmk(this.kek, terminalId, sealed);
    } catch {
      logger.error('ALARM: a terminal key does not open under this instance\'s KEK: if the KEK was rotated (tserve kek rotate), restart this instance with the new KEK', {
        terminalId,
        kekFingerprint: kekFingerprint(this.kek),
      });
      throw new Error(`the TMK of terminal ${terminalId} does not open under this instance's KEK`);
    }
  }

  /** Drops a terminal's key (its TMK was rotated): the next request reads the new one. */
  forget(terminalId: string): void {
    this.generation++;
    this.cache.delete(terminalId);
    for (const l of this.forgetListeners) l(terminalId);
  }
}
