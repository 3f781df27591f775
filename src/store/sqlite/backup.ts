// Online backup of the embedded store and its restore (docs/operations.md).
import Database from 'better-sqlite3';
import { chmodSync, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';

/** Pages copied per step of the backup: small enough for a smooth progress bar. */
const PAGES_PER_STEP = 1024;

/**
 * Copies the database into `dest` (mode 0600: it holds sealed keys and secret hashes)
 * while a switch may be booking on it. The whole copy runs inside one read transaction,
 * so its pages are one snapshot of the file (WAL): everything committed before the backup
 * began, nothing half-written. Without it, a commit between two steps restarts the copy.
 * Written to `<dest>.partial` and renamed: a file named `dest` is always whole.
 */
export async function backupSqlite(file: string, dest: string, onProgress: (done: number, total: number) => void = () => undefined): Promise<{ pages: number }> {
  if (existsSync(dest)) throw new Error(`${dest} exists: a backup never overwrites a file; give a new name`);
  const partial = `${dest}.partial`;
  rmSync(partial, { force: true });
  writeFileSync(partial, '', { mode: 0o600, flag: 'wx' });
  const db = new Database(file, { readonly: true, fileMustExist: true });
  let pages = 0;
  try {
    db.pragma('busy_timeout = 5000');
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM meta').get(); // the read transaction starts at the first read
    await db.backup(partial, {
      progress: ({ totalPages, remainingPages }) => {
        pages = totalPages;
        onProgress(totalPages - remainingPages, totalPages);
        return PAGES_PER_STEP;
      },
    });
    db.exec('COMMIT');
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    db.close();
  }
  // A standalone file: no -wal beside it to be forgotten when it is copied away.
  const out = new Database(partial);
  try {
    out.pragma('journal_mode = DELETE');
  } finally {
    out.close();
  }
  chmodSync(partial, 0o600);
  renameSync(partial, dest);
  return { pages };
}

/** Folds the file's WAL into it and leaves it standalone (rollback journal), for a copy or rename. */
export function standalone(file: string): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('journal_mode = DELETE');
  } finally {
    db.close();
  }
  for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}
