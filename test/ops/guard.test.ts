// Issue 13: commands on a data directory or database that does not exist refuse with a
// clear message instead of creating one; only start, seed (and import) create.
// Real CLI processes.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_ADMIN_URL, TEST_STORE, storeEnv } from '../helpers/store.js';
import { tserve } from './support.js';

let root: string;
let newKek: string;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'tserve-guard-'));
  newKek = path.join(root, 'new.kek');
  writeFileSync(newKek, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every command that opens the store, except those that create it (start, seed, import; restore writes a new file). */
const COMMANDS: string[][] = [
  ['check'],
  ['audit', 'verify'],
  ['audit', 'list'],
  ['user', 'add', 'someone', '--role', 'admin', '--password', 'Zq8!vNw3#pLk9@Tr-long'],
  ['user', 'disable', 'someone'],
  ['user', 'unlock', 'someone'],
  ['settle'],
  ['kek', 'rotate', '--new-kek-file', 'NEW_KEK'],
  ['credentials', 'provision', '--counter', 'C0001'],
  ['credentials', 'rotate-secret', 'T0001'],
  ['migrate'],
  ['migrate', '--dry-run'],
  ['backup', 'OUT'],
];

const args = (cmd: string[]) => cmd.map((a) => (a === 'NEW_KEK' ? newKek : a === 'OUT' ? path.join(root, 'backup.db') : a));

describe.skipIf(TEST_STORE !== 'sqlite')('SQLite: a data directory that does not exist', () => {
  it.concurrent.each(COMMANDS.map((c) => [c.join(' '), c] as const))('tserve %s refuses, naming it, and creates nothing', async (_name, cmd) => {
    const dir = path.join(root, 'mistyped');
    const r = await tserve(dir, args(cmd));
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain(`no data directory ${dir}`);
    expect(r.out).toContain('tserve start');
    expect(existsSync(dir)).toBe(false);
  });

  it('an existing directory without a database is refused too, and only seed creates one', async () => {
    const dir = path.join(root, 'empty');
    const r1 = await tserve(dir, ['seed', '--positions', '20']);
    expect(r1.code, r1.out).toBe(0);
    rmSync(path.join(dir, 'tserve.db'));
    const r2 = await tserve(dir, ['check']);
    expect(r2.code, r2.out).toBe(1);
    expect(r2.out).toContain(`no database ${path.join(dir, 'tserve.db')}`);
    expect(existsSync(path.join(dir, 'tserve.db'))).toBe(false);
    const r3 = await tserve(dir, ['seed', '--positions', '20']);
    expect(r3.code, r3.out).toBe(0);
    const r4 = await tserve(dir, ['check']);
    expect(r4.code, r4.out).toBe(0);
    expect(r4.out).toContain('ledger invariants intact');
  });
});

describe.skipIf(TEST_STORE !== 'postgres')('PostgreSQL: a database that does not exist, or holds no schema', () => {
  const SUBSET = COMMANDS.filter((c) => c[0] !== 'backup'); // PostgreSQL's backups are pg_dump's

  it.concurrent.each(SUBSET.map((c) => [c.join(' '), c] as const))('tserve %s refuses both, and creates no schema', async (_name, cmd) => {
    const u = new URL(PG_ADMIN_URL);
    u.pathname = `/tserve_no_such_db_${randomBytes(4).toString('hex')}`;
    const missing = await tserve(path.join(root, 'a'), args(cmd), { TSERVE_DATABASE_URL: u.toString() });
    expect(missing.code, missing.out).toBe(1);
    expect(missing.out).toMatch(/the PostgreSQL database tserve_no_such_db_\w+ on [\w.]+:\d+ does not exist/);

    const dir = path.join(root, `empty-${cmd.join('-')}`);
    const empty = await tserve(dir, args(cmd)); // storeEnv: a database of its own, created empty
    expect(empty.code, empty.out).toBe(1);
    expect(empty.out).toContain('holds no tserve schema');
    expect(empty.out).toContain('tserve start');
    const c = new pg.Client({ connectionString: (await storeEnv(dir)).TSERVE_DATABASE_URL });
    await c.connect();
    try {
      expect((await c.query("SELECT to_regclass('schema_migrations') AS t")).rows[0].t).toBeNull();
    } finally {
      await c.end();
    }
    expect(existsSync(dir)).toBe(false);
  });
});
