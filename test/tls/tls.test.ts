// TLS end to end (issue 12, "TLS in tests"): a switch started with HTTPS and ISO 8583
// over TLS, its certificate signed by a CA made for this run (test/helpers/tls.ts).
// Clients trust that CA because they are given it (--ca), never because certificate
// checks are off: without it, each of them refuses the switch.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addTerminalCommands } from '../../terminals/simulator/commands.js';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import type { DemoCredentials } from '../../fixtures/credentials.js';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { storeEnv } from '../helpers/store.js';
import { VALID_CF, idemKey } from '../stream/support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let pki: TestPki;
// On the wall clock: the simulator, run as its command, signs on with the time of day.
let sw: { dir: string; server: RunningServer; url: string; credentials: DemoCredentials };

beforeAll(async () => {
  pki = makeTestPki();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-tls-'));
  const config = loadConfig({
    TSERVE_DATA_DIR: dir,
    TSERVE_HTTP_HOST: '127.0.0.1',
    TSERVE_HTTP_PORT: '0',
    TSERVE_ISO_HOST: '127.0.0.1',
    TSERVE_ISO_PORT: '0',
    TSERVE_SEED_POSITIONS: '200',
    TSERVE_SETTLEMENT_SCHEDULE: 'false',
    TSERVE_TLS_CERT: pki.server.cert,
    TSERVE_TLS_KEY: pki.server.key,
    TSERVE_ISO_TLS_CERT: pki.server.cert,
    TSERVE_ISO_TLS_KEY: pki.server.key,
    ...(await storeEnv(dir)),
  });
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined); // "demo network seeded"
  const server = await startServer(config).finally(() => log.mockRestore());
  const credentials = JSON.parse(readFileSync(path.join(dir, 'demo-credentials.json'), 'utf8')) as DemoCredentials;
  sw = { dir, server, url: server.url, credentials };
});
afterAll(async () => {
  await sw?.server.close();
  if (sw) rmSync(sw.dir, { recursive: true, force: true });
  pki?.close();
});

const terminal = (i = 0) => {
  const t = sw.credentials.terminals[i]!;
  return { ...t, creds: { terminalId: t.terminalId, counterId: t.counterId, tmk: Buffer.from(t.tmk, 'hex') } };
};

/** A token and a €1.00 certificate payment over HTTPS, the switch checked against the test CA. */
async function payOverHttps(t: { terminalId: string; apiSecret: string }) {
  const token = await request(sw.url).post('/v1/auth/token').ca(pki.caPem).send({ terminalId: t.terminalId, secret: t.apiSecret });
  expect(token.status, token.text).toBe(200);
  const paid = await request(sw.url)
    .post('/v1/payments')
    .ca(pki.caPem)
    .set('Authorization', `Bearer ${token.body.token as string}`)
    .set('Idempotency-Key', idemKey())
    .send({ service: 'CERTIFICATI', identifier: VALID_CF, amount: 100 });
  return { token, paid };
}

describe('HTTPS', () => {
  it('serves https:// only', () => {
    expect(sw.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('a terminal gets a token and pays over HTTPS, the switch checked against the CA', async () => {
    const { token, paid } = await payOverHttps(terminal(0));
    expect(token.headers['cache-control']).toBe('no-store');
    expect(paid.status, paid.text).toBe(201);
    expect(paid.body).toMatchObject({ amount: 100, total: 200 });
  });

  it('a client without the CA refuses the connection (checks are on)', async () => {
    await expect(request(sw.url).get('/healthz')).rejects.toThrow(/self[- ]signed|unable to (get|verify)|certificate/i);
  });
});

describe('ISO 8583 over TLS', () => {
  it('a terminal signs on, inquires and pays over TLS, trusting the CA it is given', async () => {
    const t = terminal(1);
    const term = new IsoTerminal(t.creds, { host: '127.0.0.1', port: sw.server.isoPort, tls: { ca: pki.caPem }, timeoutMs: 20_000 });
    await term.connect();
    try {
      const on = await term.signOn();
      expect(on.code, on.tlv.get('ER')).toBe('00');
      expect(on.macOk).toBe(true);
      const due = await term.inquiry({ service: 'CERTIFICATI', identifier: VALID_CF });
      expect(due.code, due.tlv.get('ER')).toBe('00');
      const { response } = await term.pay({ service: 'CERTIFICATI', identifier: VALID_CF }, 100);
      expect(response.code, response.tlv.get('ER')).toBe('00');
      expect(response.macOk).toBe(true);
      expect(response.tlv.get('RN')).toMatch(/^\d{8}-\d+$/);
    } finally {
      term.close();
    }
  });

  it('a plain TCP client gets nothing from the TLS listener, and a TLS client without the CA refuses it', async () => {
    const t = terminal(2);
    const plain = new IsoTerminal(t.creds, { host: '127.0.0.1', port: sw.server.isoPort, timeoutMs: 5_000 });
    await plain.connect();
    await expect(plain.signOn()).rejects.toThrow(/connection closed|no answer/);
    plain.destroy();
    const unchecked = new IsoTerminal(t.creds, { host: '127.0.0.1', port: sw.server.isoPort, tls: true, timeoutMs: 5_000 });
    await expect(unchecked.connect()).rejects.toThrow(/self[- ]signed|unable to (get|verify)|certificate/i);
    unchecked.destroy();
  });
});

describe('the simulator (tserve terminal pay) over TLS', () => {
  const run = async (...args: string[]) => {
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((l: string) => void lines.push(String(l)));
    const saved = process.exitCode;
    try {
      const program = new Command().exitOverride();
      addTerminalCommands(program, () => ({ iso: { port: sw.server.isoPort }, seed: 2000, seedPositions: 3000 }));
      const t = terminal(3);
      await program.parseAsync(
        ['terminal', 'pay', '--terminal', t.terminalId, '--service', 'CERTIFICATI', '--id', VALID_CF, '--amount', '100', '--credentials', `${sw.dir}/demo-credentials.json`, ...args],
        { from: 'user' },
      );
      return { code: process.exitCode, out: lines.join('\n') };
    } finally {
      process.exitCode = saved;
      log.mockRestore();
    }
  };

  it('with --ca: signs on and pays (exit 0)', async () => {
    const r = await run('--ca', pki.ca);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('(TLS)');
  });

  it('with --tls but not the CA: no connection (exit 2), the certificate is not taken on trust', async () => {
    const r = await run('--tls');
    expect(r.code, r.out).toBe(2);
  });
});

describe('tserve watch --ca over wss://', () => {
  const watchCli = (args: string[], env: Record<string, string>) => {
    const child = spawn(process.execPath, ['bin/tserve.js', 'watch', '--url', sw.url, ...args], {
      cwd: ROOT,
      env: { ...process.env, TSERVE_LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, out: () => out, err: () => err };
  };

  it('logs in over HTTPS and prints the stream as it is booked', async () => {
    const t = terminal(4);
    const w = watchCli(['--ca', pki.ca, '--terminal', t.terminalId], { TSERVE_TERMINAL_SECRET: t.apiSecret });
    try {
      await expect.poll(() => w.err(), { timeout: 30_000, interval: 50 }).toMatch(/-- live from seq/);
      const { paid } = await payOverHttps(t);
      expect(paid.status, paid.text).toBe(201);
      await expect.poll(() => w.out(), { timeout: 30_000, interval: 50 }).toContain(paid.body.receiptNumber as string);
      expect(w.out().split('\n').find((l) => l.includes(paid.body.receiptNumber as string))).toMatch(/payment\.booked\s+EUR\s+2,00/);
    } finally {
      w.child.kill();
      await w.exited;
    }
  }, 60_000);

  it('without --ca it refuses the switch and exits non-zero', async () => {
    const t = terminal(4);
    const w = watchCli(['--terminal', t.terminalId], { TSERVE_TERMINAL_SECRET: t.apiSecret });
    const code = await w.exited;
    expect(code).not.toBe(0);
    expect(w.err()).toMatch(/self[- ]signed|unable to (get|verify)|certificate/i);
  }, 60_000);
});
