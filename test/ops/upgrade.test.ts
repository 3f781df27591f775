// Issue 13: "a database made by the previous release upgrades with no loss". The files in
// test/fixtures/previous-release were made by the release before issue 12 (README there):
// a SQLite file and a PostgreSQL dump, each with payments booked by that release. Today's
// `tserve migrate` upgrades them; every payment and balance is still there, the ledger
// check passes, and a new payment books. A database newer than the code is refused.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_STORE, openTestDb, storeEnv } from '../helpers/store.js';
import { ROOT, cleanUp, exited, fiscalCodeFor, payCertificate, startProcess, terminalToken, type ServerProcess } from '../e2e/process.js';
import { copyKeys, tserve } from './support.js';

const FIXTURE = path.join(ROOT, 'test/fixtures/previous-release');
const booked = (JSON.parse(readFileSync(path.join(FIXTURE, 'payments.json'), 'utf8')) as Record<'sqlite' | 'postgres', { terminalId: string; paymentId: string; total: number }[]>)[TEST_STORE];

let root: string;
let dir: string;
const started: ServerProcess[] = [];

/** The data directory holding the previous release's database and its keys. */
beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'tserve-upgrade-'));
  dir = path.join(root, 'data');
  mkdirSync(dir);
  copyKeys(FIXTURE, dir);
  if (TEST_STORE === 'sqlite') copyFileSync(path.join(FIXTURE, 'tserve.db'), path.join(dir, 'tserve.db'));
  else execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', '-d', (await storeEnv(dir)).TSERVE_DATABASE_URL!, '-f', path.join(FIXTURE, 'postgres.sql')], { stdio: 'pipe' });
});

afterAll(async () => {
  await cleanUp(started, root);
});

type Row = Record<string, unknown>;
async function snapshot(): Promise<{ payments: Row[]; balances: Row[] }> {
  const db = await openTestDb(dir);
  try {
    return {
      payments: await db.all<Row>('SELECT public_id, terminal_id, amount_cents, fee_cents, rrn, reversed_at FROM payments ORDER BY id'),
      balances: await db.all<Row>('SELECT account_id, balance_cents FROM ledger_balances ORDER BY account_id'),
    };
  } finally {
    await db.close();
  }
}

describe(`a ${TEST_STORE === 'sqlite' ? 'SQLite file' : 'PostgreSQL database'} of the previous release`, () => {
  let before: { payments: Row[]; balances: Row[] };

  it('tserve migrate --dry-run lists what would run and changes nothing', async () => {
    before = await snapshot();
    expect(before.payments.length).toBe(booked.length);
    const r = await tserve(dir, ['migrate', '--dry-run']);
    expect(r.code, r.out).toBe(0);
    if (TEST_STORE === 'sqlite') {
      expect(r.out).toContain('schema version 1 → 2');
      expect(r.out).toMatch(/pending 2: issue 12/);
      expect(r.out).toMatch(/tables and columns to add: .*position_imports/);
    } else {
      expect(r.out).toMatch(/schema version 1 → \d+/);
      expect(r.out).toContain('pending 002_terminal_credentials.sql');
    }
    const again = await tserve(dir, ['migrate', '--dry-run']);
    expect(again.out).toBe(r.out);
  });

  it('tserve migrate upgrades it with no loss: every payment and balance, the ledger check', async () => {
    const r = await tserve(dir, ['migrate']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(TEST_STORE === 'sqlite' ? /applied 2: issue 12/ : /applied \d+ migration\(s\)/);
    const twice = await tserve(dir, ['migrate']);
    expect(twice.out).toContain('up to date');

    const after = await snapshot();
    expect(after).toEqual(before);
    const ids = new Set(after.payments.map((p) => p.public_id));
    expect(booked.filter((b) => !ids.has(b.paymentId))).toEqual([]);

    const check = await tserve(dir, ['check']);
    expect(check.code, check.out).toBe(0);
    expect(check.out).toContain(`payments: ${booked.length}`);
    expect(check.out).toContain('ledger invariants intact');
  });

  it('the upgraded switch starts under the same KEK and books a new payment (the terminal given an API secret first: the upgrade erased the TMK hashes)', async () => {
    const terminalId = booked[0]!.terminalId;
    const secret = await tserve(dir, ['credentials', 'rotate-secret', terminalId]);
    expect(secret.code, secret.out).toBe(0);
    const apiSecret = /apiSecret: (\S+)/.exec(secret.out)![1]!;
    const server = await startProcess(dir);
    started.push(server);
    const token = await terminalToken(server.url, terminalId, apiSecret);
    const r = await payCertificate(server.url, token, 'after-upgrade-1', fiscalCodeFor('RSSMRA85T10A', 7));
    const done = exited(server.child);
    server.child.kill('SIGTERM');
    await done;
    expect('status' in r && r.status, JSON.stringify(r)).toBe(201);
    const check = await tserve(dir, ['check']);
    expect(check.code, check.out).toBe(0);
    expect(check.out).toContain(`payments: ${booked.length + 1}`);
  });

  it('a database whose schema is newer than the code is refused (no downgrade)', async () => {
    const db = await openTestDb(dir);
    try {
      if (TEST_STORE === 'sqlite') await db.run("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
      else await db.run("INSERT INTO schema_migrations (version, name) VALUES (999, '999_future.sql')");
    } finally {
      await db.close();
    }
    const r = await tserve(dir, ['check']);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('newer than this tserve knows');
    expect(r.out).toContain('a downgrade is not supported');
  });
});
