// What PgStore (store.ts) hands to the modules that hold its methods (admin.ts, users.ts,
// positions.ts, settlement.ts, operations.ts): its statements, its two kinds of
// transaction, its clock and the caches that their writes make stale.
import type { Clock } from '../../clock.js';
import type { AuditEntry, Counter, EventRow, Terminal } from '../types.js';
import type { PoolClient } from './pool.js';

/** A transaction of administration: its events go out once it has committed. */
export interface AdminTx {
  c: PoolClient;
  emit(e: Omit<EventRow, 'seq'>): void;
  audit(a: AuditEntry, at: number): void;
  /** Tells every instance to forget a cached terminal or counter. */
  invalidate(what: 'terminal' | 'counter', id: string): void;
}

export interface PgContext {
  /** The rows of a statement outside a transaction. */
  q<R>(sql: string, params?: unknown[]): Promise<R[]>;
  /** The first row of a statement outside a transaction. */
  one<R>(sql: string, params?: unknown[]): Promise<R | undefined>;
  /** A statement outside a transaction; its row count. */
  exec(sql: string, params?: unknown[]): Promise<number>;
  /** A connection of the pool, its failure to connect told as UNAVAILABLE. */
  connect(): Promise<PoolClient>;
  /** An administrative transaction; its events are appended last and published after COMMIT. */
  tx<T>(fn: (t: AdminTx) => Promise<T>): Promise<T>;
  /** Reads in one REPEATABLE READ snapshot, while booking goes on. */
  snapshot<T>(fn: (c: PoolClient) => Promise<T>): Promise<T>;
  clock: Clock;
  /** This instance's cached rows (other instances forget theirs on NOTIFY tserve_cache). */
  terminals: Map<string, Terminal | undefined>;
  counters: Map<string, Counter | undefined>;
}
