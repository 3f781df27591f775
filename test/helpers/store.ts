// Which store the behaviour suites run against: the embedded SQLite file (default) or
// PostgreSQL (TSERVE_TEST_STORE=postgres, as the `postgres` vitest project sets). On
// PostgreSQL each data directory of a test gets its own database, created on first use
// and dropped when the test file ends (setup.ts), so test files never share rows.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

export const TEST_STORE: 'sqlite' | 'postgres' = process.env.TSERVE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** The server where test databases are created (CI runs one at 127.0.0.1:5432, trust auth). */
export const PG_ADMIN_URL = process.env.TSERVE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const databases = new Map<string, string>();

function urlOf(database: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${PG_ADMIN_URL} (start it: pg_ctlcluster --skip-systemctl-redirect 15 main start)`, { cause: err });
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A new empty database; dropped with the others when the test file ends. */
export async function createTestDatabase(): Promise<string> {
  const name = `tserve_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = urlOf(name);
  databases.set(`db:${name}`, url);
  return url;
}

/** The environment that points a switch at its store: nothing for SQLite (the data directory's file), a database of its own for PostgreSQL. */
export async function storeEnv(dataDir: string): Promise<Record<string, string>> {
  if (TEST_STORE === 'sqlite') return {};
  const key = path.resolve(dataDir);
  let url = databases.get(key);
  if (!url) {
    url = await createTestDatabase();
    databases.set(key, url);
  }
  return { TSERVE_DATABASE_URL: url };
}

export async function dropTestDatabases(): Promise<void> {
  const names = [...new Set([...databases.values()].map((u) => new URL(u).pathname.slice(1)))];
  databases.clear();
  if (names.length === 0) return;
  await admin(async (c) => {
    for (const n of names) await c.query(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`);
  });
}

/** Direct reads (and the odd write) of a test's store, for assertions: SQL with `?` placeholders on either store. */
export interface TestDb {
  all<R>(sql: string, ...params: unknown[]): Promise<R[]>;
  get<R>(sql: string, ...params: unknown[]): Promise<R | undefined>;
  /** A one-row, one-column query's value as a number (count, sum). */
  scalar(sql: string, ...params: unknown[]): Promise<number>;
  run(sql: string, ...params: unknown[]): Promise<number>;
  close(): Promise<void>;
}

function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

export async function openTestDb(dataDir: string): Promise<TestDb> {
  if (TEST_STORE === 'sqlite') {
    const db = new Database(path.join(dataDir, 'tserve.db'));
    db.pragma('busy_timeout = 5000');
    return {
      all: async <R>(sql: string, ...params: unknown[]) => db.prepare<unknown[], R>(sql).all(...params),
      get: async <R>(sql: string, ...params: unknown[]) => db.prepare<unknown[], R>(sql).get(...params),
      scalar: async (sql, ...params) => Number(db.prepare<unknown[], unknown>(sql).pluck().get(...params)),
      run: async (sql, ...params) => db.prepare(sql).run(...params).changes,
      close: async () => void db.close(),
    };
  }
  const { TSERVE_DATABASE_URL: url } = await storeEnv(dataDir);
  const parse = (v: string) => Number(v);
  const c = new pg.Client({ connectionString: url, types: { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 || oid === 1700 ? parse : pg.types.getTypeParser(oid, format)) } as pg.CustomTypesConfig });
  await c.connect();
  return {
    all: async <R>(sql: string, ...params: unknown[]) => (await c.query<R & object>(numbered(sql), params)).rows,
    get: async <R>(sql: string, ...params: unknown[]) => (await c.query<R & object>(numbered(sql), params)).rows[0],
    scalar: async (sql, ...params) => Number(Object.values((await c.query<Record<string, unknown>>(numbered(sql), params)).rows[0] ?? {})[0]),
    run: async (sql, ...params) => (await c.query(numbered(sql), params)).rowCount ?? 0,
    close: () => c.end(),
  };
}
