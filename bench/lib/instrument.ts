// Times every better-sqlite3 statement call (Statement.prototype patched once, for the
// whole process), keyed by its SQL. Used to split the store's work by statement and to
// find the settlement run's slow queries. Adds a fraction of a microsecond per call.
import Database from 'better-sqlite3';

export interface StatementTiming {
  sql: string;
  calls: number;
  us: number;
  /** The parameters of the slowest call (to explain it). */
  slowestParams: unknown[];
  slowestUs: number;
}

export function instrumentStatements(): Map<string, StatementTiming> {
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  const acc = new Map<string, StatementTiming>();
  for (const method of ['run', 'get', 'all']) {
    const orig = proto[method]!;
    proto[method] = function (this: { source: string }, ...args: unknown[]) {
      const a = performance.now();
      try {
        return orig.apply(this, args);
      } finally {
        const us = (performance.now() - a) * 1000;
        let e = acc.get(this.source);
        if (!e) {
          e = { sql: this.source, calls: 0, us: 0, slowestParams: [], slowestUs: 0 };
          acc.set(this.source, e);
        }
        e.calls++;
        e.us += us;
        if (us > e.slowestUs) {
          e.slowestUs = us;
          e.slowestParams = args;
        }
      }
    };
  }
  return acc;
}

/** One line of SQL, shortened. */
export function oneLine(sql: string, max = 110): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
