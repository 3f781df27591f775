// The embedded schema's versions (meta.schema_version), brought up to date at every open
// and by `tserve migrate` alone. A file newer than the code is refused (no downgrade).
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareDatabase } from './connection.js';

export interface SqliteStep {
  version: number;
  name: string;
  up(db: Database.Database): void;
}

/** Tables and columns a version must have: a step that only checks what schema.sql and ADDED_COLUMNS built. */
function requireShape(tables: string[], columns: [table: string, column: string][]) {
  return (db: Database.Database): void => {
    const has = (t: string, c?: string) =>
      c === undefined
        ? db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t) !== undefined
        : db.prepare('SELECT 1 FROM pragma_table_info(?) WHERE name = ?').get(t, c) !== undefined;
    const missing = [...tables.filter((t) => !has(t)), ...columns.filter(([t, c]) => !has(t, c)).map(([t, c]) => `${t}.${c}`)];
    if (missing.length > 0) throw new Error(`schema upgrade incomplete: ${missing.join(', ')} missing`);
  };
}

/**
 * The numbered steps. schema.sql (idempotent) and ADDED_COLUMNS (connection.ts) run at
 * every open first and bring new tables, indexes and columns: a new column goes there.
 * A change they cannot express (rows rewritten, a table rebuilt) is a step here, run
 * once, in order, in one transaction with the version it reaches. Version 1: every file
 * written before versions were counted (up to the release before issue 12).
 */
export const SQLITE_STEPS: SqliteStep[] = [
  {
    version: 2,
    name: 'issue 12: terminal API secrets apart from the TMK, audit hash chain, users.disabled, position_imports (PostgreSQL 002-005)',
    up: requireShape(['audit_chain', 'position_imports', 'login_failures'], [['users', 'disabled'], ['audit_log', 'hash'], ['terminals', 'signon_at']]),
  },
];

export const SQLITE_SCHEMA_VERSION = SQLITE_STEPS.at(-1)!.version;

/** The file's schema version; null when it has none yet (a new, empty file). */
export function sqliteSchemaVersion(file: string): number | null {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() === undefined) return null;
    const row = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get();
    return row ? Number(row.value) : null;
  } finally {
    db.close();
  }
}

export function refuseNewerSchema(file: string, version: number | null): void {
  if (version !== null && version > SQLITE_SCHEMA_VERSION) {
    throw new Error(
      `${file} has schema version ${version}, newer than this tserve knows (${SQLITE_SCHEMA_VERSION}): it was written by a later release. ` +
        'Run that release; a downgrade is not supported (restore a backup taken before the upgrade to go back)',
    );
  }
}

export interface MigrationRun {
  from: number | null;
  to: number;
  applied: SqliteStep[];
}

/** Creates or upgrades the file: schema.sql and ADDED_COLUMNS, then the pending numbered steps. */
export function migrateSqlite(file: string): MigrationRun {
  const from = existsSync(file) ? sqliteSchemaVersion(file) : null;
  refuseNewerSchema(file, from);
  prepareDatabase(file); // a file without a version gets 1 here
  const db = new Database(file);
  try {
    db.pragma('busy_timeout = 5000');
    const applied: SqliteStep[] = [];
    for (const step of SQLITE_STEPS) {
      db.transaction(() => {
        const now = Number(db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get()!.value);
        if (now >= step.version) return;
        step.up(db);
        db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(step.version));
        applied.push(step);
      }).immediate();
    }
    return { from, to: SQLITE_SCHEMA_VERSION, applied };
  } finally {
    db.close();
  }
}

export interface MigrationPlan extends MigrationRun {
  /** Tables and columns the open would add (schema.sql, ADDED_COLUMNS). */
  added: string[];
}

function shape(db: Database.Database): Set<string> {
  const out = new Set<string>();
  for (const { name } of db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all()) {
    out.add(name);
    for (const c of db.prepare<[string], { name: string }>('SELECT name FROM pragma_table_info(?)').all(name)) out.add(`${name}.${c.name}`);
  }
  return out;
}

/** What migrateSqlite would do, found by running it on a copy (the file is only read). */
export function planSqliteMigration(file: string): MigrationPlan {
  const from = sqliteSchemaVersion(file);
  refuseNewerSchema(file, from);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-migrate-'));
  try {
    const copy = path.join(dir, 'copy.db');
    const src = new Database(file, { readonly: true, fileMustExist: true });
    let before: Set<string>;
    try {
      before = shape(src);
      src.prepare('VACUUM INTO ?').run(copy);
    } finally {
      src.close();
    }
    const run = migrateSqlite(copy);
    const db = new Database(copy, { readonly: true });
    try {
      return { ...run, from, added: [...shape(db)].filter((n) => !before.has(n)) };
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
