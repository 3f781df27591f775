// The event log as every instance delivers it: in seq order, without gaps or repeats,
// whichever instance committed. This instance's own commits are delivered at once when
// they follow what was delivered last; anything else (another instance's commits, told
// by NOTIFY tserve_events, or found by the one-second poll if a notification was lost)
// is read back from the table in order. seq values become visible in order (batch.ts
// takes them under event_sequence's row lock, held to COMMIT), so reading `seq > last`
// never skips an event that commits later.
import type pg from 'pg';
import { logger } from '../../log.js';
import type { EventRow } from '../../ledger/port.js';
import { toEvent, type EventDbRow } from '../rows.js';
import { deliver } from '../shared.js';
import type { PgContext } from './context.js';
import { openClient, type Pool } from './pool.js';

const POLL_MS = 1000;
const PAGE = 1000;

export interface TailHooks {
  onInvalidate(what: 'terminal' | 'counter', id: string): void;
  /** The LISTEN connection was lost and is back: cached rows may be stale. */
  onReconnect(): void;
}

export class EventTail {
  readonly listeners: ((events: EventRow[]) => void)[] = [];
  private last = 0;
  private reading = false;
  private again = false;
  private listener: pg.Client | null = null;
  private poll: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly pool: Pool,
    private readonly hooks: TailHooks,
  ) {}

  async start(): Promise<void> {
    await this.reset();
    await this.listen();
    this.poll = setInterval(() => void this.catchUp(), POLL_MS);
    this.poll.unref();
  }

  /** Starts from the newest committed event (at start, and after a seed empties the log). */
  async reset(): Promise<void> {
    const r = await this.pool.query<{ last_seq: number }>('SELECT last_seq FROM event_sequence WHERE id = 1');
    this.last = r.rows[0]?.last_seq ?? 0;
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    const client = openClient(this.url);
    client.on('notification', (n) => {
      if (n.channel === 'tserve_events') {
        if (Number(n.payload) > this.last) void this.catchUp();
      } else if (n.channel === 'tserve_cache' && n.payload) {
        const [what, id] = n.payload.split(':', 2) as [string, string];
        if (what === 'terminal' || what === 'counter') this.hooks.onInvalidate(what, id);
      }
    });
    client.on('error', (err) => {
      logger.warn('PostgreSQL LISTEN connection lost; reconnecting', { error: err.message });
      this.listener = null;
      client.end().catch(() => undefined);
      setTimeout(() => {
        void this.listen()
          .then(() => {
            this.hooks.onReconnect();
            void this.catchUp();
          })
          .catch(() => undefined);
      }, 500).unref();
    });
    try {
      await client.connect();
      await client.query('LISTEN tserve_events');
      await client.query('LISTEN tserve_cache');
      this.listener = client;
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
  }

  /** This instance's commit, just done. */
  committed(events: EventRow[]): void {
    if (events.length === 0) return;
    if (!this.reading && events[0]!.seq === this.last + 1) {
      this.deliver(events);
      return;
    }
    void this.catchUp();
  }

  private deliver(events: EventRow[]): void {
    const at = performance.timeOrigin + performance.now();
    for (const e of events) e.committedAt ??= at;
    this.last = events.at(-1)!.seq;
    deliver(this.listeners, events);
  }

  /** Reads and delivers everything after the last delivered event; one reader at a time. */
  async catchUp(): Promise<void> {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.again = false;
        for (;;) {
          const rows = await this.pool.query<EventDbRow>('SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2', [this.last, PAGE]);
          if (rows.rows.length === 0) break;
          this.deliver(rows.rows.map(toEvent));
          if (rows.rows.length < PAGE) break;
        }
      } while (this.again && !this.stopped);
    } catch (err) {
      if (!this.stopped) logger.warn('reading the event log failed; the poll tries again', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.reading = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    while (this.reading) await new Promise((r) => setTimeout(r, 5));
    await this.listener?.end().catch(() => undefined);
  }
}

// The event log as read by a subscriber that catches up, and its pruning.
export async function eventsAfter(ctx: PgContext, seq: number, limit: number): Promise<EventRow[]> {
  return (await ctx.q<EventDbRow>('SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2', [seq, limit])).map(toEvent);
}

export async function eventBounds(ctx: PgContext): Promise<{ minSeq: number; maxSeq: number }> {
  const r = (await ctx.one<{ lo: number; hi: number }>(
    'SELECT coalesce((SELECT min(seq) FROM events), 0) AS lo, (SELECT last_seq FROM event_sequence WHERE id = 1) AS hi',
  ))!;
  return { minSeq: r.lo, maxSeq: r.hi };
}

export async function pruneEvents(ctx: PgContext, before: number): Promise<number> {
  return ctx.exec('DELETE FROM events WHERE at < $1 AND seq < (SELECT max(seq) FROM events)', [before]);
}
