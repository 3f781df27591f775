// KEK rotation (issue 12, "Keys apart"): `tserve kek rotate --new-kek-file` re-seals
// every terminal's TMK under a new KEK in one transaction. Refused while a switch holds
// the store; with a wrong current KEK nothing changes; after it, the old KEK opens no TMK
// (a switch started with it refuses to start) and a terminal signs on over ISO 8583 with
// a switch started on the new one. The store's write refuses values read before a
// terminal changed. Real processes, the real CLI, the real store (SQLite or PostgreSQL).
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTmk, sealTmk } from '../../src/auth/secrets.js';
import { openStore } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import { openTestDb, storeEnv, type TestDb } from '../helpers/store.js';
import { cleanUp, exited, runToEnd, startProcess, type ServerProcess } from './process.js';

const OLD_KEK = '1f'.repeat(32);
const NEW_KEK = '2e'.repeat(32);
const WRONG_KEK = '3d'.repeat(32);
const JWT = 'jwt-signing-key-of-this-test-0123456789';

let root: string;
let dir: string;
let files: { oldKek: string; newKek: string; wrongKek: string; jwt: string };
let terminals: { terminalId: string; counterId: string; tmk: string }[];
/** A direct view of the store, open only while a test reads it (an open SQLite file counts as a switch holding it). */
async function withDb<T>(fn: (db: TestDb) => Promise<T>): Promise<T> {
  const db = await openTestDb(dir);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
const started: ServerProcess[] = [];

function secret(name: string, content: string): string {
  const file = path.join(root, 'secrets', name);
  writeFileSync(file, content + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

const production = (kekFile: string) => ({ TSERVE_MODE: 'production', TSERVE_KEK_FILE: kekFile, TSERVE_JWT_KEY_FILE: files.jwt, TSERVE_LOG_LEVEL: 'info' });

const run = (args: string[], env: Record<string, string>) => runToEnd(dir, args, env);

const rotate = (kekFile: string) => run(['bin/tserve.js', 'kek', 'rotate', '--new-kek-file', files.newKek], production(kekFile));

async function stop(server: ServerProcess): Promise<void> {
  const done = exited(server.child);
  server.child.kill('SIGTERM');
  await done;
}

async function sealedNow(): Promise<Map<string, string>> {
  return withDb(async (db) => new Map((await db.all<{ id: string; tmk_enc: string }>('SELECT id, tmk_enc FROM terminals')).map((r) => [r.id, r.tmk_enc])));
}

const rotations = () => withDb((db) => db.scalar("SELECT count(*) FROM audit_log WHERE action = 'kek.rotate'"));

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'tserve-kek-'));
  mkdirSync(path.join(root, 'secrets'), { mode: 0o700 });
  dir = path.join(root, 'data');
  files = { oldKek: secret('kek-old', OLD_KEK), newKek: secret('kek-new', NEW_KEK), wrongKek: secret('kek-wrong', WRONG_KEK), jwt: secret('jwt', JWT) };
  // Provisioned under the old KEK (the demo seed, its credentials file then taken away).
  const seed = await run(['bin/tserve.js', 'seed', '--positions', '200'], { TSERVE_MODE: 'demo', TSERVE_KEK_FILE: files.oldKek, TSERVE_JWT_KEY_FILE: files.jwt });
  expect(seed.code, seed.out).toBe(0);
  const credentialsFile = path.join(dir, 'demo-credentials.json');
  terminals = (JSON.parse(readFileSync(credentialsFile, 'utf8')) as { terminals: typeof terminals }).terminals;
  rmSync(credentialsFile);
});

afterAll(async () => {
  await cleanUp(started, root);
});

describe('tserve kek rotate', () => {
  it('refuses while a switch holds the store', async () => {
    const server = await startProcess(dir, production(files.oldKek));
    started.push(server);
    const before = await sealedNow();
    const r = await rotate(files.oldKek);
    await stop(server);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('Stop the switch (every instance) first');
    expect(await sealedNow()).toEqual(before);
  });

  it('the store refuses re-sealed values read before a terminal changed, and writes nothing', async () => {
    const before = await sealedNow();
    const store = await openStore(loadConfig({ TSERVE_DATA_DIR: dir, ...(await storeEnv(dir)) }));
    try {
      const read = await store.sealedTerminalKeys();
      const changes = read.map((t) => ({ id: t.id, from: t.tmkSealed, to: sealTmk(Buffer.from(NEW_KEK, 'hex'), t.id, openTmk(Buffer.from(OLD_KEK, 'hex'), t.id, t.tmkSealed)) }));
      const audit = { actor: 'test', action: 'kek.rotate', target: 'terminals' };
      // A terminal re-keyed between the read and the write.
      const [first] = read;
      await withDb((db) => db.run('UPDATE terminals SET tmk_enc = ? WHERE id = ?', sealTmk(Buffer.from(OLD_KEK, 'hex'), first!.id, Buffer.alloc(32, 7)), first!.id));
      await expect(store.resealTerminalKeys(changes, audit)).rejects.toThrow(/changed during the KEK rotation/);
      await withDb((db) => db.run('UPDATE terminals SET tmk_enc = ? WHERE id = ?', first!.tmkSealed, first!.id));
      // A terminal provisioned meanwhile (missing from the list).
      await expect(store.resealTerminalKeys(changes.slice(1), audit)).rejects.toThrow(/changed during the KEK rotation/);
    } finally {
      await store.close();
    }
    expect(await sealedNow()).toEqual(before);
    expect(await rotations()).toBe(0);
  });

  it('with a wrong current KEK changes nothing', async () => {
    const before = await sealedNow();
    const r = await rotate(files.wrongKek);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain(`${before.size} of ${before.size} terminal keys do not open under the current KEK`);
    expect(r.out).toContain('nothing was changed');
    expect(await sealedNow()).toEqual(before);
    expect(await rotations()).toBe(0);
  });

  it('re-seals every TMK under the new KEK; the old KEK opens none; a terminal signs on after a restart with the new KEK', async () => {
    const before = await sealedNow();
    const r = await rotate(files.oldKek);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`re-sealed ${terminals.length} terminal keys under the new KEK`);
    expect(r.out).toContain('now start the switch with the new KEK');
    const after = await sealedNow();
    expect(after.size).toBe(terminals.length);
    for (const t of terminals) {
      const sealed = after.get(t.terminalId)!;
      expect(sealed).not.toBe(before.get(t.terminalId));
      expect(openTmk(Buffer.from(NEW_KEK, 'hex'), t.terminalId, sealed).toString('hex')).toBe(t.tmk);
      expect(() => openTmk(Buffer.from(OLD_KEK, 'hex'), t.terminalId, sealed)).toThrow();
    }
    const audit = await withDb((db) => db.all<{ actor: string; detail: string }>("SELECT actor, detail FROM audit_log WHERE action = 'kek.rotate'"));
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.detail)).toMatchObject({ terminals: terminals.length });
    expect(audit[0]!.detail).not.toContain(NEW_KEK);

    // A switch restarted on the old KEK refuses to start rather than fail every sign-on.
    const old = await run(['--import', 'tsx', 'src/main.ts'], production(files.oldKek));
    expect(old.code, old.out).toBe(1);
    expect(old.out).toContain(`opens none of the ${terminals.length} terminal keys`);

    const server = await startProcess(dir, production(files.newKek));
    started.push(server);
    const isoPort = Number(/ISO 8583 on port (\d+)/.exec(server.output())![1]);
    const t = terminals[0]!;
    const terminal = new IsoTerminal({ terminalId: t.terminalId, counterId: t.counterId, tmk: Buffer.from(t.tmk, 'hex') }, { host: '127.0.0.1', port: isoPort, timeoutMs: 20_000 });
    await terminal.connect();
    try {
      const signOn = await terminal.signOn();
      expect(signOn.code).toBe('00');
      expect(terminal.sessionKey).not.toBeNull();
    } finally {
      terminal.close();
      await stop(server);
    }
  });
});
