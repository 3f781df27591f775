// Whether a running switch holds the store, for commands that must run while it is
// stopped (KEK rotation: a running switch keeps the old KEK in memory; restore), and the
// lock that makes it one switch per data directory on SQLite.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Config } from '../config.js';

/**
 * SQLite: a process that has the file open (WAL mode) holds a shared lock on it, so an
 * exclusive lock is refused. PostgreSQL: sessions of other tserve processes (their pools
 * connect as application_name 'tserve'). Returns who holds it, or null.
 */
export async function storeHolder(config: Pick<Config, 'dataDir' | 'dbFile' | 'database'>): Promise<string | null> {
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
  const locked = dataDirHolder(config.dataDir);
  if (locked) return locked;
  // A switch of a release before the lock: its connection's shared lock on the file.
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

/** In the data directory: an SQLite file whose exclusive lock the running switch holds, and its pid beside it. */
export const LOCK_FILE = 'tserve.lock';
export const PID_FILE = 'tserve.pid';

export interface DataDirLock {
  release(): void;
}

/**
 * One switch per data directory: an exclusive OS lock (SQLite's, on a file of its own)
 * held until release() or the process's end, so a switch killed with -9 leaves no stale
 * lock behind. A second holder is refused with the first one's pid.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, LOCK_FILE));
  try {
    db.pragma('busy_timeout = 0');
    // In EXCLUSIVE locking mode the lock taken by the first write is kept after COMMIT.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS held (at INTEGER); COMMIT');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new Error(`another tserve (pid ${lockHolderPid(dataDir) ?? 'unknown'}) is running on ${dataDir}`, { cause: err });
    throw err;
  }
  const pidFile = path.join(dataDir, PID_FILE);
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  return {
    release() {
      if (!db.open) return;
      rmSync(pidFile, { force: true });
      db.close();
    },
  };
}

function lockHolderPid(dataDir: string): number | null {
  try {
    return Number(readFileSync(path.join(dataDir, PID_FILE), 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

/** The pid of the switch holding the data directory (lockDataDir), or null when none does. */
export function dataDirHolder(dataDir: string): string | null {
  if (!existsSync(path.join(dataDir, LOCK_FILE))) return null;
  try {
    lockDataDir(dataDir).release();
    return null;
  } catch (err) {
    return err instanceof Error && err.message.startsWith('another tserve') ? err.message : null;
  }
}
