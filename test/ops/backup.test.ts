// Issue 13: "Backup taken under load restores to a database whose ledger check passes
// and which holds every payment acknowledged before the backup began." A real switch
// process books payments from terminals in a loop while the real `tserve backup` runs;
// the backup is restored into a fresh data directory by `tserve restore` and checked by
// `tserve check`. Restore refuses a running switch, a broken ledger and another KEK.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_STORE } from '../helpers/store.js';
import { cleanUp, demoTerminals, exited, fiscalCodeFor, payCertificate, startProcess, terminalToken, type ServerProcess } from '../e2e/process.js';
import { copyKeys, tserve } from './support.js';

let root: string;
const started: ServerProcess[] = [];

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'tserve-backup-'));
});

afterAll(async () => {
  await cleanUp(started, root);
});

async function stop(s: ServerProcess): Promise<void> {
  const done = exited(s.child);
  s.child.kill('SIGTERM');
  expect((await done).code).toBe(0);
}

describe.skipIf(TEST_STORE !== 'sqlite')('tserve backup and restore (SQLite)', () => {
  const source = () => path.join(root, 'source');
  const backupFile = () => path.join(root, 'under-load.db');

  it('a backup taken under load restores to a database whose check passes and holds every payment acknowledged before it began', async () => {
    const server = await startProcess(source(), { TSERVE_SEED_POSITIONS: '200' });
    started.push(server);
    const terminals = demoTerminals(source()).slice(0, 4);
    const tokens = await Promise.all(terminals.map((t) => terminalToken(server.url, t.terminalId, t.apiSecret)));

    let backupBegun = false;
    let backupDone = false;
    const ackedBefore: string[] = []; // paymentIds answered before the backup process was started
    let acked = 0;
    const MAX_PER_TERMINAL = 400; // bounded, whatever the backup's speed
    const worker = async (i: number) => {
      for (let n = 0; n < MAX_PER_TERMINAL && !(backupDone && n > 20); n++) {
        const r = await payCertificate(server.url, tokens[i]!, `backup-load-${i}-${n}`, fiscalCodeFor('RSSMRA85T10A', i * 1000 + n));
        if (!('status' in r)) throw new Error(r.error);
        expect([200, 201], JSON.stringify(r.body)).toContain(r.status);
        acked++;
        if (!backupBegun) ackedBefore.push(r.body.paymentId as string);
      }
    };
    const load = Promise.all(tokens.map((_, i) => worker(i)));
    while (acked < 40) await new Promise((r) => setTimeout(r, 20));
    backupBegun = true;
    const ackedAtStart = acked;
    const backup = await tserve(source(), ['backup', backupFile()]);
    backupDone = true;
    const ackedAtEnd = acked;
    await load;
    await stop(server);

    expect(backup.code, backup.out).toBe(0);
    expect(backup.out).toContain(`written to ${backupFile()}`);
    expect(ackedAtEnd, 'the switch booked while the backup ran').toBeGreaterThan(ackedAtStart);
    expect(statSync(backupFile()).mode & 0o777).toBe(0o600);
    expect(readdirSync(root).filter((f) => f.endsWith('.partial'))).toEqual([]);

    const target = path.join(root, 'restored');
    copyKeys(source(), target); // the keys are not in the backup
    const restore = await tserve(target, ['restore', backupFile()]);
    expect(restore.code, restore.out).toBe(0);
    expect(restore.out).toMatch(/ledger invariants intact; the configured KEK opens (\d+) of \1 terminal keys/);
    const check = await tserve(target, ['check']);
    expect(check.code, check.out).toBe(0);
    expect(check.out).toContain('ledger invariants intact');

    const db = new Database(path.join(target, 'tserve.db'), { readonly: true });
    try {
      const present = new Set(db.prepare<[], string>('SELECT public_id FROM payments').pluck().all());
      expect(ackedBefore.length).toBeGreaterThanOrEqual(40);
      expect(ackedBefore.filter((id) => !present.has(id))).toEqual([]);
      expect(present.size).toBeLessThanOrEqual(acked);
    } finally {
      db.close();
    }
  }, 300_000);

  it('restore refuses while a switch runs on the data directory, and a second switch is refused too', async () => {
    const server = await startProcess(source());
    started.push(server);
    const second = await tserve(source(), ['start']);
    const restore = await tserve(source(), ['restore', backupFile()]);
    await stop(server);
    expect(second.code, second.out).toBe(1);
    expect(second.out).toContain(`another tserve (pid ${server.child.pid}) is running on ${source()}`);
    expect(restore.code, restore.out).toBe(1);
    expect(restore.out).toContain(`another tserve (pid ${server.child.pid}) is running on ${source()}: stop the switch before restoring`);
  });

  it('restore refuses a backup whose ledger is broken, and one whose terminal keys the KEK does not open; the database stays as it was', async () => {
    const target = path.join(root, 'restored');
    const files = readdirSync(target).sort();
    const payments = () => {
      const db = new Database(path.join(target, 'tserve.db'), { readonly: true });
      try {
        return db.prepare('SELECT count(*) FROM payments').pluck().get();
      } finally {
        db.close();
      }
    };
    const before = payments();
    const broken = path.join(root, 'broken.db');
    copyFileSync(backupFile(), broken);
    const db = new Database(broken);
    db.prepare('UPDATE ledger_entries SET amount_cents = amount_cents + 1 WHERE id = (SELECT min(id) FROM ledger_entries)').run();
    db.close();
    const r1 = await tserve(target, ['restore', broken]);
    expect(r1.code, r1.out).toBe(1);
    expect(r1.out).toContain("the backup's ledger is broken, not restored");

    const otherKek = path.join(root, 'other.kek');
    writeFileSync(otherKek, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const r2 = await tserve(target, ['restore', backupFile()], { TSERVE_KEK_FILE: otherKek });
    expect(r2.code, r2.out).toBe(1);
    expect(r2.out).toContain('not restored: the KEK');
    expect(payments()).toBe(before);
    expect(readdirSync(target).sort()).toEqual(files); // no file replaced, kept or left behind
  });

  it('a killed switch leaves no stale lock: the next start takes the data directory', async () => {
    const first = await startProcess(source());
    started.push(first);
    const done = exited(first.child);
    first.child.kill('SIGKILL');
    await done;
    const again = await startProcess(source());
    started.push(again);
    expect((await fetch(`${again.url}/healthz`)).status).toBe(200);
    await stop(again);
  });
});

describe.skipIf(TEST_STORE !== 'postgres')('tserve backup and restore on PostgreSQL', () => {
  it("say to use PostgreSQL's own tools, and exit 1", async () => {
    const dir = path.join(root, 'pg');
    const server = await startProcess(dir, { TSERVE_SEED_POSITIONS: '50' });
    started.push(server);
    const backup = await tserve(dir, ['backup', path.join(root, 'pg.db')]);
    const restore = await tserve(dir, ['restore', path.join(root, 'pg.db')]);
    // Several instances on one database (scale-out): no data-directory lock.
    const second = await startProcess(dir);
    started.push(second);
    await stop(second);
    await stop(server);
    expect(backup.code, backup.out).toBe(1);
    expect(backup.out).toContain('pg_dump');
    expect(restore.code, restore.out).toBe(1);
    expect(restore.out).toContain('pg_restore');
  });
});
