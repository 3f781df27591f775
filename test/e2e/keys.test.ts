// Issue 12, finding 5 "Keys together": kek.key and jwt.key beside the database, and the
// demo credentials in the data directory. Production mode (TSERVE_MODE=production) takes
// its keys from the environment or from secret files outside the data directory and
// refuses to start otherwise; it never seeds the demo network. Demo mode (the default)
// keeps generating its keys and says so. Real server processes and the real CLI.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb } from '../helpers/store.js';
import { cleanUp, exited, runToEnd, startProcess, type ServerProcess } from './process.js';

const KEK = 'a'.repeat(16) + '0123456789abcdef'.repeat(3);
const JWT = 'b'.repeat(16) + 'fedcba9876543210'.repeat(3);

let root: string;
let secrets: string;
const started: ServerProcess[] = [];

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'tserve-keys-'));
  secrets = path.join(root, 'secrets');
  mkdirSync(secrets, { mode: 0o700 });
});

afterAll(async () => {
  await cleanUp(started, root);
});

let n = 0;
/** A fresh data directory of this file (its own database on PostgreSQL). */
function dataDir(): string {
  return path.join(root, `data-${++n}`);
}

function secretFile(name: string, content: string, mode = 0o600, dir = secrets): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, content + '\n', { mode });
  chmodSync(file, mode); // whatever the umask
  return file;
}

function production(extra: Record<string, string> = {}): Record<string, string> {
  return { TSERVE_MODE: 'production', ...extra };
}

const run = runToEnd;

/** Starts the switch and expects it to refuse: exit 1 and its message. */
async function refusal(dir: string, env: Record<string, string>): Promise<string> {
  const r = await run(dir, ['--import', 'tsx', 'src/main.ts'], env);
  expect(r.code, r.out).toBe(1);
  expect(r.out).not.toContain('listening');
  return r.out;
}

describe('production mode: the keys come from outside the data directory', () => {
  it('refuses to start without keys, saying exactly what to set, and creates no key file', async () => {
    const dir = dataDir();
    const out = await refusal(dir, production());
    expect(out).toContain('TSERVE_MODE=production');
    expect(out).toContain('set TSERVE_KEK_FILE');
    expect(out).toContain('or TSERVE_KEK');
    expect(out).toContain('set TSERVE_JWT_KEY_FILE');
    expect(out).toContain('or TSERVE_JWT_SECRET');
    expect(existsSync(path.join(dir, 'kek.key'))).toBe(false);
    expect(existsSync(path.join(dir, 'jwt.key'))).toBe(false);
    // One key given: the other is still asked for.
    const half = await refusal(dir, production({ TSERVE_KEK_FILE: secretFile('kek-only', KEK) }));
    expect(half).not.toContain('set TSERVE_KEK_FILE');
    expect(half).toContain('set TSERVE_JWT_KEY_FILE');
  });

  it('refuses a key file inside the data directory, also behind a symbolic link', async () => {
    const dir = dataDir();
    const inside = secretFile('kek', KEK, 0o600, path.join(dir, 'keys'));
    const out = await refusal(dir, production({ TSERVE_KEK_FILE: inside, TSERVE_JWT_KEY_FILE: secretFile('jwt-1', JWT) }));
    expect(out).toContain('TSERVE_KEK_FILE');
    expect(out).toContain('is inside the data directory');
    // A Kubernetes-style link from outside to a file inside: the real path decides.
    const link = path.join(secrets, 'kek-link');
    symlinkSync(inside, link);
    const linked = await refusal(dir, production({ TSERVE_KEK_FILE: link, TSERVE_JWT_KEY_FILE: secretFile('jwt-1', JWT) }));
    expect(linked).toContain('is inside the data directory');
  });

  it('refuses a key file its group or others can read', async () => {
    const dir = dataDir();
    const world = await refusal(dir, production({ TSERVE_KEK_FILE: secretFile('kek-644', KEK, 0o644), TSERVE_JWT_KEY_FILE: secretFile('jwt-2', JWT) }));
    expect(world).toContain('can be read by its group or by others (mode 0644)');
    expect(world).toContain('chmod 600');
    const group = await refusal(dir, production({ TSERVE_KEK_FILE: secretFile('kek-2', KEK), TSERVE_JWT_KEY_FILE: secretFile('jwt-640', JWT, 0o640) }));
    expect(group).toContain('TSERVE_JWT_KEY_FILE');
    expect(group).toContain('(mode 0640)');
  });

  it('refuses key files of the wrong length or format, without echoing them', async () => {
    const dir = dataDir();
    const short = await refusal(dir, production({ TSERVE_KEK_FILE: secretFile('kek-short', 'abcd'.repeat(8)), TSERVE_JWT_KEY_FILE: secretFile('jwt-3', JWT) }));
    expect(short).toContain('must hold the KEK as 64 hex characters');
    expect(short).not.toContain('abcd'.repeat(8));
    const weak = await refusal(dir, production({ TSERVE_KEK_FILE: secretFile('kek-3', KEK), TSERVE_JWT_KEY_FILE: secretFile('jwt-short', 'too-short') }));
    expect(weak).toContain('TSERVE_JWT_KEY_FILE');
    expect(weak).toContain('at least 32 printable characters');
  });

  it('refuses the same key as KEK and JWT key, from files or from the environment', async () => {
    const dir = dataDir();
    const files = await refusal(dir, production({ TSERVE_KEK_FILE: secretFile('kek-4', KEK), TSERVE_JWT_KEY_FILE: secretFile('jwt-same', KEK) }));
    expect(files).toContain('the KEK and the JWT signing key are the same key');
    const env = await refusal(dir, production({ TSERVE_KEK: KEK, TSERVE_JWT_SECRET: KEK.toUpperCase() }));
    expect(env).toContain('the KEK and the JWT signing key are the same key');
  });

  it('refuses a data directory holding demo key files or demo credentials', async () => {
    const keys = { TSERVE_KEK_FILE: secretFile('kek-5', KEK), TSERVE_JWT_KEY_FILE: secretFile('jwt-5', JWT) };
    const withKey = dataDir();
    secretFile('kek.key', KEK, 0o600, withKey);
    expect(await refusal(withKey, production(keys))).toContain('kek.key in the data directory');
    const withCredentials = dataDir();
    secretFile('demo-credentials.json', '{"terminals":[],"users":[]}', 0o600, withCredentials);
    expect(await refusal(withCredentials, production(keys))).toContain('demo-credentials.json in the data directory');
  });

  it('never seeds: an empty database starts unconfigured (payments refused), tserve seed is refused; a provisioned one starts', async () => {
    const dir = dataDir();
    const keys = { TSERVE_KEK_FILE: secretFile('kek-6', KEK), TSERVE_JWT_KEY_FILE: secretFile('jwt-6', JWT) };
    const env = production({ ...keys, TSERVE_LOG_LEVEL: 'info' });
    // Empty: it starts and answers, seeds nothing, and says payments wait for a configured network.
    const bare = await startProcess(dir, env);
    started.push(bare);
    expect((await fetch(`${bare.url}/healthz`)).status).toBe(200);
    const stopped = exited(bare.child);
    bare.child.kill('SIGTERM');
    await stopped;
    expect(bare.output()).toContain('production mode seeds nothing');
    expect(bare.output()).toContain('every payment is refused (SERVICE_UNKNOWN) until the network');
    expect(bare.output()).not.toContain('seeding the demo network');
    const seed = await run(dir, ['bin/tserve.js', 'seed'], env);
    expect(seed.code, seed.out).toBe(1);
    expect(seed.out).toContain('production mode (TSERVE_MODE=production) never seeds the demo network');
    expect(await refusal(dir, { ...env, TSERVE_AUTO_SEED: 'true' })).toContain('production mode never seeds it');
    expect(existsSync(path.join(dir, 'demo-credentials.json'))).toBe(false);
    expect(existsSync(path.join(dir, 'kek.key'))).toBe(false);
    expect(existsSync(path.join(dir, 'jwt.key'))).toBe(false);
    const db = await openTestDb(dir);
    try {
      expect(await db.scalar('SELECT count(*) FROM terminals')).toBe(0);
      expect(await db.scalar('SELECT count(*) FROM users')).toBe(0);
    } finally {
      await db.close();
    }

    // Provisioned (here by the demo seed under the same keys, its credentials file then
    // taken away): production starts with the keys from the files, and seeds nothing.
    const demoSeed = await run(dir, ['bin/tserve.js', 'seed', '--positions', '200'], { ...keys, TSERVE_MODE: 'demo' });
    expect(demoSeed.code, demoSeed.out).toBe(0);
    rmSync(path.join(dir, 'demo-credentials.json'));
    const server = await startProcess(dir, env);
    started.push(server);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const done = exited(server.child);
    server.child.kill('SIGTERM');
    await done;
    expect(server.output()).not.toContain('demo mode');
    expect(server.output()).not.toContain('seeding');
    expect(existsSync(path.join(dir, 'demo-credentials.json'))).toBe(false);
    expect(existsSync(path.join(dir, 'kek.key'))).toBe(false);
  });
});

describe('demo mode', () => {
  it('keeps generating its keys in the data directory and says so at start', async () => {
    const dir = dataDir();
    const server = await startProcess(dir, { TSERVE_SEED_POSITIONS: '200', TSERVE_LOG_LEVEL: 'warn' });
    started.push(server);
    const done = exited(server.child);
    server.child.kill('SIGTERM');
    await done;
    expect(server.output()).toMatch(/demo mode \(TSERVE_MODE=demo\): the KEK and the JWT signing key in .* beside the database/);
    expect(server.output()).toContain('Not for production');
    expect(existsSync(path.join(dir, 'kek.key'))).toBe(true);
    expect(existsSync(path.join(dir, 'jwt.key'))).toBe(true);
  });
});
