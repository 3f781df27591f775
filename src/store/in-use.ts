// Whether a running switch holds the store, for commands that must run while it is
// stopped (KEK rotation: a running switch keeps the old KEK in memory).
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Config } from '../config.js';

/**
 * SQLite: a process that has the file open (WAL mode) holds a shared lock on it, so an
 * exclusive lock is refused. PostgreSQL: sessions of other tserve processes (their pools
 * connect as application_name 'tserve'). Returns who holds it, or null.
 */
export async function storeHolder(config: Pick<Config, 'dbFile' | 'database'>): Promise<string | null> {
  if (config.database) {
    const c = new pg.Client({ connectionString: config.database.url, application_name: 'tserve-cli' });
    await c.connect();
    try {
      const r = await c.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tserve' AND pid <> pg_backend_pid()",
      );
      const n = r.rows[0]?.n ?? 0;
      return n > 0 ? `${n} connection(s) of running tserve instances on the database` : null;
    } finally {
      await c.end();
    }
  }
  if (!existsSync(config.dbFile)) return null;
  const db = new Database(config.dbFile);
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
    return null;
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return `a running switch has ${config.dbFile} open`;
    throw err;
  } finally {
    db.close();
  }
}
