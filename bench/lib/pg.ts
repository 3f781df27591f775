// PostgreSQL for the bench: databases created (from a template) and dropped, the CPU
// time of the PostgreSQL server's processes from /proc (the backends of one database,
// and the shared background writers), what those backends wait on (pg_stat_activity,
// sampled), and the counters of pg_stat_database and pg_stat_wal before and after.
//
// The admin URL (--pg-url, TSERVE_BENCH_PG_URL; default postgres://postgres@127.0.0.1:5432/postgres)
// names a role that may CREATE DATABASE; the bench's databases are named
// tserve_bench_<pid>_<what>, so several benches (and other users) can share the server.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { ROOT } from './proc.js';

export const DEFAULT_PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The URL of database `name` on the admin URL's server (same user, password, host, options). */
export function dbUrl(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

const ident = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${name}`);
  return `"${name}"`;
};

/** Runs `fn` on one connection to `url`, closed after. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, application_name: 'tserve-bench' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Whether the server answers at `adminUrl` (with the reason when not). */
export async function pgReachable(adminUrl: string): Promise<{ ok: true; version: string } | { ok: false; why: string }> {
  try {
    const v = await withClient(adminUrl, async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v);
    return { ok: true, version: v };
  } catch (err) {
    return { ok: false, why: err instanceof Error ? err.message : String(err) };
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * CREATE DATABASE, empty or as a copy of `template`. PostgreSQL refuses to copy a
 * database anyone is connected to (55006): a server just stopped may still be closing
 * its connections, so that is tried again for up to 30 s.
 */
export async function createDatabase(adminUrl: string, name: string, template?: string): Promise<number> {
  const t0 = performance.now();
  const sql = `CREATE DATABASE ${ident(name)}${template ? ` TEMPLATE ${ident(template)}` : ''}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await withClient(adminUrl, (c) => c.query(sql));
      return performance.now() - t0;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '55006' && performance.now() - t0 < 30_000) {
        await sleep(Math.min(1000, 50 * 2 ** attempt));
        continue;
      }
      throw new Error(`${sql}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}

/** DROP DATABASE IF EXISTS ... WITH (FORCE): connections still open on it are ended. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`));
}

/** The same, synchronously (in a child process), for the bench's exit handler. */
export function dropDatabasesSync(adminUrl: string, names: string[]): void {
  if (names.length === 0) return;
  const script = `import pg from 'pg';
const c = new pg.Client({ connectionString: process.env.URL });
await c.connect();
for (const n of JSON.parse(process.env.NAMES)) await c.query('DROP DATABASE IF EXISTS "' + n + '" WITH (FORCE)').catch((e) => console.error(n, e.message));
await c.end();`;
  for (const n of names) ident(n);
  spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, URL: adminUrl, NAMES: JSON.stringify(names) },
    stdio: 'ignore',
    timeout: 30_000,
  });
}

// ---------------------------------------------------------------- CPU of the server's processes

/** utime + stime of a process, seconds; null once it is gone. */
function cpuOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

type PgProcessKind = 'backend' | 'background' | 'other';

/**
 * CPU seconds of the PostgreSQL processes on this machine, from /proc, sampled every
 * `everyMs` so that a backend that exits keeps what it used: the backends (client
 * backends and autovacuum workers) of the named databases, and the server's shared
 * background processes (WAL writer, checkpointer, background writer), which also work
 * for every other database on the server. Works when PostgreSQL runs on this machine and
 * its process titles are on (update_process_title, the default); `found` says whether
 * any backend was seen.
 */
export class PgCpuSampler {
  private readonly kinds = new Map<number, PgProcessKind>();
  /** CPU seconds at the reset (or when first seen after it: 0) and at the last sample, per pid. */
  private readonly base = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private timer: NodeJS.Timeout;
  found = false;

  constructor(
    private readonly databases: string[],
    everyMs = 250,
  ) {
    this.timer = setInterval(() => this.sample(false), everyMs);
    this.timer.unref();
    this.reset();
  }

  private classify(pid: number): PgProcessKind {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      return 'other';
    }
    const m = /^postgres: (?:[^:]+: )?(.*)$/.exec(cmd);
    if (!m) return 'other';
    const title = m[1]!;
    if (/^(walwriter|checkpointer|background writer)\b/.test(title)) return 'background';
    const words = title.split(/\s+/);
    // "user database host(port) state" or "autovacuum worker database"
    const db = title.startsWith('autovacuum worker') ? words[2] : words[1];
    return db !== undefined && this.databases.includes(db) ? 'backend' : 'other';
  }

  private sample(atReset: boolean): void {
    let pids: number[];
    try {
      pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
    } catch {
      return;
    }
    for (const pid of pids) {
      let kind = this.kinds.get(pid);
      if (kind === undefined) {
        kind = this.classify(pid);
        this.kinds.set(pid, kind);
      }
      if (kind === 'other') continue;
      const c = cpuOf(pid);
      if (c === null) continue;
      if (kind === 'backend') this.found = true;
      if (!this.base.has(pid)) this.base.set(pid, atReset ? c : 0);
      this.last.set(pid, c);
    }
  }

  /** Counts from now. */
  reset(): void {
    this.base.clear();
    this.last.clear();
    this.sample(true);
  }

  /** CPU seconds since the reset: the databases' backends, and the shared background processes. */
  cpu(): { backends: number; background: number } {
    this.sample(false);
    let backends = 0;
    let background = 0;
    for (const [pid, v] of this.last) {
      const d = v - (this.base.get(pid) ?? v);
      if (this.kinds.get(pid) === 'backend') backends += d;
      else background += d;
    }
    return { backends: Math.round(backends * 100) / 100, background: Math.round(background * 100) / 100 };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Busy share of the machine's CPUs between two readings of /proc/stat (everyone's work). */
export function machineCpu(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- what the backends wait on

export interface WaitProfile {
  samples: number;
  /**
   * Mean number of the databases' client backends in each state over the samples:
   * `CPU` (active, waiting on nothing), `Lock:transactionid`, `IO:WALSync`, `LWLock:WALWrite`...
   * (active and waiting), `idle in transaction` (waiting for the switch in the middle of a
   * transaction: its round trips), `idle` (waiting for work).
   */
  meanBackends: Record<string, number>;
}

/**
 * Samples pg_stat_activity every `everyMs` through its own connection (to the admin
 * database, so not counted): the state and wait event of every client backend of the
 * databases (the switch's LISTEN connections left out).
 */
export class PgWaitSampler {
  private readonly counts = new Map<string, number>();
  private samples = 0;
  private running = true;
  private client: pg.Client | null = null;
  private loop: Promise<void> = Promise.resolve();

  private constructor(
    private readonly databases: string[],
    private readonly everyMs: number,
  ) {}

  static async start(adminUrl: string, databases: string[], everyMs = 100): Promise<PgWaitSampler> {
    const s = new PgWaitSampler(databases, everyMs);
    s.client = new pg.Client({ connectionString: adminUrl, application_name: 'tserve-bench-monitor' });
    s.client.on('error', () => undefined); // a lost connection ends the sampling (run() catches the failed query)
    await s.client.connect();
    s.loop = s.run();
    return s;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const t = performance.now();
      try {
        const r = await this.client!.query<{ state: string | null; wt: string | null; we: string | null }>(
          `SELECT state, wait_event_type AS wt, wait_event AS we FROM pg_stat_activity
           WHERE datname = ANY($1::text[]) AND backend_type = 'client backend' AND application_name <> 'tserve-listen' AND pid <> pg_backend_pid()`,
          [this.databases],
        );
        if (this.running) {
          this.samples++;
          for (const b of r.rows) {
            const key = b.state === 'active' ? (b.wt ? `${b.wt}:${b.we ?? ''}` : 'CPU') : (b.state ?? 'unknown');
            this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
          }
        }
      } catch {
        if (!this.running) break;
      }
      await sleep(Math.max(0, this.everyMs - (performance.now() - t)));
    }
  }

  /** Starts counting again from now. */
  reset(): void {
    this.counts.clear();
    this.samples = 0;
  }

  profile(): WaitProfile {
    const n = Math.max(1, this.samples);
    const meanBackends = Object.fromEntries(
      [...this.counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round((v / n) * 100) / 100]),
    );
    return { samples: this.samples, meanBackends };
  }

  async stop(): Promise<WaitProfile> {
    this.running = false;
    await this.loop;
    await this.client?.end().catch(() => undefined);
    return this.profile();
  }
}

// ---------------------------------------------------------------- statistics views

export interface PgCounters {
  /** pg_stat_database of the databases, summed. */
  db: { xactCommit: number; xactRollback: number; deadlocks: number; blksRead: number; blksHit: number; tupInserted: number; tupUpdated: number; tempBytes: number };
  /** pg_stat_wal: the whole server (every database's work). */
  wal: { records: number; fpi: number; bytes: number; writes: number; syncs: number } | null;
}

/** The counters now (a backend reports its own at most once a second, and when it exits). */
export async function pgCounters(adminUrl: string, databases: string[]): Promise<PgCounters> {
  return withClient(adminUrl, async (c) => {
    const d = (await c.query<Record<string, string>>(
      `SELECT coalesce(sum(xact_commit), 0) AS xact_commit, coalesce(sum(xact_rollback), 0) AS xact_rollback, coalesce(sum(deadlocks), 0) AS deadlocks,
         coalesce(sum(blks_read), 0) AS blks_read, coalesce(sum(blks_hit), 0) AS blks_hit, coalesce(sum(tup_inserted), 0) AS tup_inserted,
         coalesce(sum(tup_updated), 0) AS tup_updated, coalesce(sum(temp_bytes), 0) AS temp_bytes
       FROM pg_stat_database WHERE datname = ANY($1::text[])`,
      [databases],
    )).rows[0]!;
    let wal: PgCounters['wal'] = null;
    try {
      const w = (await c.query<Record<string, string>>('SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync FROM pg_stat_wal')).rows[0]!;
      wal = { records: Number(w.wal_records), fpi: Number(w.wal_fpi), bytes: Number(w.wal_bytes), writes: Number(w.wal_write), syncs: Number(w.wal_sync) };
    } catch {
      // pg_stat_wal is PostgreSQL 14 and later
    }
    return {
      db: {
        xactCommit: Number(d.xact_commit), xactRollback: Number(d.xact_rollback), deadlocks: Number(d.deadlocks), blksRead: Number(d.blks_read),
        blksHit: Number(d.blks_hit), tupInserted: Number(d.tup_inserted), tupUpdated: Number(d.tup_updated), tempBytes: Number(d.temp_bytes),
      },
      wal,
    };
  });
}

/** b - a, field by field. */
export function countersDelta(a: PgCounters, b: PgCounters): PgCounters {
  const sub = <T extends Record<string, number>>(x: T, y: T): T => Object.fromEntries(Object.keys(x).map((k) => [k, (y[k] ?? 0) - (x[k] ?? 0)])) as T;
  return { db: sub(a.db, b.db), wal: a.wal && b.wal ? sub(a.wal, b.wal) : null };
}

/** Scans per table of one database (pg_stat_user_tables): a whole-table scan per row shows here. */
export type TableScans = Record<string, { seqScan: number; seqTupRead: number; idxScan: number }>;

export async function pgTableScans(url: string): Promise<TableScans> {
  return withClient(url, async (c) =>
    Object.fromEntries(
      (await c.query<{ relname: string; seq_scan: string; seq_tup_read: string; idx_scan: string | null }>(
        'SELECT relname, seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables',
      )).rows.map((r) => [r.relname, { seqScan: Number(r.seq_scan), seqTupRead: Number(r.seq_tup_read), idxScan: Number(r.idx_scan ?? 0) }]),
    ),
  );
}

/** b - a per table, the tables that read most rows by sequential scans first. */
export function tableScansDelta(a: TableScans, b: TableScans): TableScans {
  const out = Object.entries(b).map(([t, v]) => {
    const x = a[t] ?? { seqScan: 0, seqTupRead: 0, idxScan: 0 };
    return [t, { seqScan: v.seqScan - x.seqScan, seqTupRead: v.seqTupRead - x.seqTupRead, idxScan: v.idxScan - x.idxScan }] as const;
  });
  return Object.fromEntries(out.sort((p, q) => q[1].seqTupRead - p[1].seqTupRead));
}
