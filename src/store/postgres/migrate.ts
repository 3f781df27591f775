// Schema migrations for PostgreSQL: numbered SQL files in migrations/postgres, applied at
// start in order, each in its own transaction, under an advisory lock so that instances
// starting together apply each file once.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectFile } from '../../paths.js';
import type { Pool } from './pool.js';

/** The advisory lock of schema migrations (any constant distinct from the others). */
const MIGRATION_LOCK = 7_351_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function migrations(dir = projectFile('migrations/postgres')): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
    .map((f) => ({ version: Number(f.split('_')[0]), name: f, sql: readFileSync(path.join(dir, f), 'utf8') }))
    .sort((a, b) => a.version - b.version);
}

/** Applies what is missing; returns the versions applied now. */
export async function migrate(pool: Pool, list: Migration[] = migrations()): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      refuseNewer([...done], list);
      const applied: number[] = [];
      for (const m of list) {
        if (done.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new Error(`migration ${m.name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
        applied.push(m.version);
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

/** A database migrated by a later release is refused: this code would not know its tables (no downgrade). */
function refuseNewer(done: number[], list: Migration[]): void {
  const known = new Set(list.map((m) => m.version));
  const unknown = done.filter((v) => !known.has(v)).sort((a, b) => a - b);
  if (unknown.length > 0) {
    throw new Error(
      `the database has schema migration(s) ${unknown.join(', ')}, newer than this tserve knows (up to ${Math.max(0, ...known)}): it was migrated by a later release. ` +
        'Run that release; a downgrade is not supported (restore a dump taken before the upgrade to go back)',
    );
  }
}

export interface MigrationStatus {
  /** The highest version applied (0: none). */
  current: number;
  target: number;
  pending: Migration[];
}

/** What migrate() would apply (read only); refused like migrate() when the database is newer. */
export async function migrationStatus(pool: Pool, list: Migration[] = migrations()): Promise<MigrationStatus> {
  const exists = (await pool.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t")).rows[0]?.t;
  const done = exists ? (await pool.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version) : [];
  refuseNewer(done, list);
  return { current: Math.max(0, ...done), target: Math.max(0, ...list.map((m) => m.version)), pending: list.filter((m) => !done.includes(m.version)) };
}
