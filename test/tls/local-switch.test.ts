// The switch reached from its own configuration (src/net/local-switch.ts): the
// container's health check (src/healthcheck.ts, the Dockerfile's HEALTHCHECK) and
// `tserve watch` without --url, each run as its own process with the switch's
// configuration, as Docker and an operator run them. They find the port and TLS from
// it, and with TLS on they check over https a certificate made for a public name (not
// 127.0.0.1) without turning verification off: they trust exactly the configured
// certificate, and refuse any other, even one from the same CA.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/tls.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Starts a process of the project with these TSERVE_* variables only (as the container's environment). */
function start(args: string[], env: Record<string, string>) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSERVE_')));
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exited, out: () => out };
}

/** Runs the health check as the HEALTHCHECK line does. */
async function healthcheck(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const p = start(['--import', 'tsx', 'src/healthcheck.ts'], env);
  return { code: await p.exited, out: p.out() };
}

let pki: TestPki;
let dir: string;
/** The certificate file as deployments have it: the leaf for the public name, then its CA. */
let fullchain: CertFiles;

beforeAll(() => {
  pki = makeTestPki();
  dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-health-'));
  const leaf = pki.serverFor('tserve.comune.example.it');
  fullchain = { cert: path.join(pki.dir, 'fullchain.pem'), key: leaf.key };
  writeFileSync(fullchain.cert, Buffer.concat([readFileSync(leaf.cert), readFileSync(pki.ca)]));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  pki?.close();
});

/** A switch on one SQLite file (seeded small at its first start), listening on every address. */
async function withSwitch(tls: CertFiles | null, body: (port: string, server: RunningServer) => Promise<void>): Promise<void> {
  const env = {
    TSERVE_DATA_DIR: dir,
    TSERVE_SEED_POSITIONS: '200',
    TSERVE_HTTP_HOST: '0.0.0.0',
    TSERVE_HTTP_PORT: '0',
    TSERVE_ISO_HOST: '127.0.0.1',
    TSERVE_ISO_PORT: '0',
    TSERVE_SETTLEMENT_SCHEDULE: 'false',
    ...(tls ? { TSERVE_TLS_CERT: tls.cert, TSERVE_TLS_KEY: tls.key } : {}),
  };
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined); // "demo network seeded"
  const server = await startServer(loadConfig(env)).finally(() => log.mockRestore());
  try {
    await body(new URL(server.url).port, server);
  } finally {
    await server.close();
  }
}

describe('health check', () => {
  it('TLS off: http on the configured port, the wildcard bind reached on loopback', async () => {
    await withSwitch(null, async (port) => {
      const r = await healthcheck({ TSERVE_HTTP_HOST: '0.0.0.0', TSERVE_HTTP_PORT: port });
      expect(r.out).toContain(`http://127.0.0.1:${port}/healthz: 200`);
      expect(r.code).toBe(0);
    });
  });

  it('TLS on: https, the configured certificate trusted though it names the public name only', async () => {
    await withSwitch(fullchain, async (port) => {
      const r = await healthcheck({ TSERVE_HTTP_PORT: port, TSERVE_TLS_CERT: fullchain.cert, TSERVE_TLS_KEY: fullchain.key });
      expect(r.out).toContain(`https://127.0.0.1:${port}/healthz: 200`);
      expect(r.code).toBe(0);
      // Over plain http the same port is unhealthy: TLS is read from the configuration, not guessed.
      const plain = await healthcheck({ TSERVE_HTTP_PORT: port });
      expect(plain.code).toBe(1);
    });
  });

  it('TLS on: a listener presenting another certificate, even from the same CA, is refused', async () => {
    const other = pki.serverFor('tserve.comune.example.it');
    await withSwitch(other, async (port) => {
      const r = await healthcheck({ TSERVE_HTTP_PORT: port, TSERVE_TLS_CERT: fullchain.cert, TSERVE_TLS_KEY: fullchain.key });
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/certificate/i);
    });
  });

  it('nothing listening: exit 1, saying so', async () => {
    let port = '';
    await withSwitch(null, async (p) => void (port = p));
    const r = await healthcheck({ TSERVE_HTTP_PORT: port });
    expect(r.code).toBe(1);
    expect(r.out).toContain('ECONNREFUSED');
  });
});

describe('tserve watch without --url, TLS on', () => {
  it('goes to https on the configured port and trusts the configured certificate; another is refused', async () => {
    const finance = (JSON.parse(readFileSync(path.join(dir, 'demo-credentials.json'), 'utf8')) as { users: { username: string; password: string }[] }).users.find((u) => u.username === 'finance')!;
    const watchAs = (port: string) =>
      start(['bin/tserve.js', 'watch', '--user', 'finance'], {
        TSERVE_HTTP_PORT: port,
        TSERVE_TLS_CERT: fullchain.cert,
        TSERVE_TLS_KEY: fullchain.key,
        TSERVE_PASSWORD: finance.password,
        TSERVE_LOG_LEVEL: 'silent',
      });
    await withSwitch(fullchain, async (port) => {
      const w = watchAs(port);
      try {
        await expect.poll(() => w.out(), { timeout: 30_000, interval: 50 }).toMatch(/-- live from seq \d+/);
      } finally {
        w.child.kill();
        await w.exited;
      }
    });
    await withSwitch(pki.serverFor('tserve.comune.example.it'), async (port) => {
      const w = watchAs(port);
      expect(await w.exited).toBe(1);
      expect(w.out()).toMatch(/certificate/i);
    });
  }, 60_000);
});
