// SQLite connections: WAL, synchronous=FULL on the one write connection (a commit is on
// disk before it is answered), read-only connections for everything else.
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectFile } from '../../paths.js';
import { auditRowHash, GENESIS_HASH, type AuditRecord } from '../audit-chain.js';
import { WINDOW_TOTALS_SQL } from '../invariants.js';

const SCHEMA_VERSION = '1';

/**
 * Columns added to a table after its first release. schema.sql's CREATE TABLE IF NOT
 * EXISTS has them for a new file but does not add them to an existing one, so each is
 * also listed here (the same DDL as in schema.sql) and added when missing.
 */
const ADDED_COLUMNS: { table: string; column: string; ddl: string }[] = [
  { table: 'terminals', column: 'signon_at', ddl: 'INTEGER' },
  { table: 'terminals', column: 'signon_stan', ddl: 'INTEGER' },
  { table: 'audit_log', column: 'prev_hash', ddl: 'TEXT' },
  { table: 'audit_log', column: 'hash', ddl: 'TEXT' },
  { table: 'users', column: 'disabled', ddl: 'INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))' },
  { table: 'entities', column: 'vat_number', ddl: 'TEXT CHECK (vat_number IS NULL OR length(vat_number) = 11)' },
  { table: 'entities', column: 'office_code', ddl: 'TEXT CHECK (office_code IS NULL OR length(office_code) = 6)' },
  { table: 'entities', column: 'pagopa', ddl: 'INTEGER NOT NULL DEFAULT 0 CHECK (pagopa IN (0, 1))' },
];

function addMissingColumns(db: Database.Database): void {
  for (const c of ADDED_COLUMNS) {
    const columns = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(c.table) as { name: string }[]).map((r) => r.name);
    // A table not there yet is created whole by schema.sql, which runs next.
    if (columns.length > 0 && !columns.includes(c.column)) db.exec(`ALTER TABLE ${c.table} ADD COLUMN ${c.column} ${c.ddl}`);
  }
}

/**
 * A file written before the audit log was hash-chained: its rows are chained once, in id
 * order, and the chain's head is created (a new file gets an empty head here too).
 */
function chainLegacyAudit(db: Database.Database): void {
  db.transaction(() => {
    if (db.prepare('SELECT 1 FROM audit_chain WHERE id = 1').get() !== undefined) return;
    let prev = GENESIS_HASH;
    let lastId = 0;
    const set = db.prepare<[string, string, number]>('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?');
    for (const r of db.prepare('SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id').all() as AuditRecord[]) {
      const hash = auditRowHash(prev, r);
      set.run(prev, hash, r.id);
      [prev, lastId] = [hash, r.id];
    }
    db.prepare('INSERT INTO audit_chain (id, last_id, last_hash) VALUES (1, ?, ?)').run(lastId, prev);
  })();
}

function open(file: string, readonly: boolean): Database.Database {
  const db = new Database(file, { readonly, fileMustExist: readonly });
  db.pragma('busy_timeout = 5000');
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before the writer resolves, so nothing acknowledged is lost.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('cache_size = -65536'); // 64 MiB: the hot index pages of a day stay in memory
  }
  return db;
}

/**
 * Creates the file if needed and brings its schema up to date (schema.sql is idempotent),
 * owner-only like the key files: it holds secret hashes and sealed keys.
 */
export function prepareDatabase(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = open(file, false);
  try {
    db.transaction(() => addMissingColumns(db))();
    db.exec(readFileSync(projectFile('schema.sql'), 'utf8'));
    db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)`).run(SCHEMA_VERSION);
    // A database written when the JSON API secret was the TMK: those hashes (of the TMK)
    // are erased once, so the TMK stops opening /v1/auth/token; such terminals have no
    // API secret until an admin issues one (tserve credentials rotate-secret).
    db.transaction(() => {
      if (db.prepare("SELECT 1 FROM meta WHERE key = 'api_secrets'").get() !== undefined) return;
      db.prepare("UPDATE terminals SET secret_hash = ''").run();
      db.prepare("INSERT INTO meta (key, value) VALUES ('api_secrets', 'apart from the TMK')").run();
    })();
    chainLegacyAudit(db);
    // A database written before window_totals existed: build it once from the payments.
    db.transaction(() => {
      const done = db.prepare("SELECT 1 FROM meta WHERE key = 'window_totals'").get() !== undefined;
      if (done) return;
      db.exec(`DELETE FROM window_totals; INSERT INTO window_totals ${WINDOW_TOTALS_SQL}`);
      db.prepare("INSERT INTO meta (key, value) VALUES ('window_totals', 'kept by booking')").run();
    })();
  } finally {
    db.close();
  }
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

/** The writer's connection: it never checkpoints (checkpointer.ts does, on its own thread). */
export function openWriteConnection(file: string): Database.Database {
  const db = open(file, false);
  db.pragma('wal_autocheckpoint = 0');
  return db;
}

export function openReadConnection(file: string): Database.Database {
  return open(file, true);
}
