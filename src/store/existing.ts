// Commands on a data directory or database that does not exist refuse instead of creating
// one: a mistyped TSERVE_DATA_DIR must not answer "ledger invariants intact" on a fresh,
// empty database. Only `tserve start`, `seed` and `import` create (openRuntime's create).
import { existsSync } from 'node:fs';
import pg from 'pg';
import type { Config } from '../config.js';

const HOW_TO_CREATE = 'to create one, run tserve start (demo mode seeds it), tserve seed or tserve import';

/** The database's name in a URL, without its password. */
export function databaseName(url: string): string {
  try {
    const u = new URL(url);
    return `${u.pathname.slice(1) || '(default)'} on ${u.hostname}:${u.port || 5432}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** Resolves when the configured store exists (PostgreSQL: with tserve's schema); otherwise throws a message saying what is missing and how to create it. */
export async function requireExisting(config: Pick<Config, 'dataDir' | 'dbFile' | 'database'>): Promise<void> {
  if (!config.database) {
    if (existsSync(config.dbFile)) return;
    const where = existsSync(config.dataDir) ? `no database ${config.dbFile}` : `no data directory ${config.dataDir}`;
    throw new Error(`${where} (TSERVE_DATA_DIR): check the path; ${HOW_TO_CREATE}`);
  }
  const name = databaseName(config.database.url);
  const c = new pg.Client({ connectionString: config.database.url, application_name: 'tserve-cli' });
  try {
    await c.connect();
  } catch (err) {
    // 3D000 invalid_catalog_name: the database itself does not exist.
    if ((err as { code?: string }).code === '3D000') {
      throw new Error(`the PostgreSQL database ${name} does not exist (TSERVE_DATABASE_URL): check the URL, or create it empty (createdb) and then ${HOW_TO_CREATE}`, { cause: err });
    }
    throw err;
  }
  try {
    const r = await c.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
    if (!r.rows[0]?.t) throw new Error(`the PostgreSQL database ${name} holds no tserve schema (TSERVE_DATABASE_URL): check the URL; ${HOW_TO_CREATE}`);
  } finally {
    await c.end();
  }
}
