// A listener on a non-loopback address without TLS is named at start, with what to
// configure (issue 12): the demo's default 0.0.0.0 on both ports says so; loopback, or
// TLS, says nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { logger } from '../../src/log.js';
import { isLoopback, plaintextListenerWarnings } from '../../src/plaintext-listeners.js';
import { startServer } from '../../src/server.js';
import { storeEnv } from '../helpers/store.js';

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function warningsAtStart(env: Record<string, string>): Promise<string[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-warn-'));
  dirs.push(dir);
  const config = loadConfig({ TSERVE_DATA_DIR: dir, TSERVE_HTTP_PORT: '0', TSERVE_ISO_PORT: '0', TSERVE_SEED_POSITIONS: '100', TSERVE_SETTLEMENT_SCHEDULE: 'false', ...(await storeEnv(dir)), ...env });
  const warn = vi.spyOn(logger, 'warn');
  vi.spyOn(console, 'log').mockImplementation(() => undefined); // "demo network seeded"
  const server = await startServer(config);
  await server.close();
  return warn.mock.calls.map((args) => String(args[0]));
}

describe('plain listeners on reachable addresses', () => {
  it('the default 0.0.0.0 without TLS: a warning for HTTP and one for ISO 8583, each naming what to set', async () => {
    const warnings = await warningsAtStart({ TSERVE_HTTP_HOST: '0.0.0.0', TSERVE_ISO_HOST: '0.0.0.0' });
    const http = warnings.filter((w) => w.startsWith('HTTP on 0.0.0.0 without TLS'));
    const iso = warnings.filter((w) => w.startsWith('ISO 8583 on 0.0.0.0 without TLS'));
    expect(http, warnings.join('\n')).toHaveLength(1);
    expect(iso, warnings.join('\n')).toHaveLength(1);
    expect(http[0]).toContain('TSERVE_TLS_CERT and TSERVE_TLS_KEY');
    expect(iso[0]).toContain('TSERVE_ISO_TLS_CERT and TSERVE_ISO_TLS_KEY');
  });

  it('loopback listeners: no such warning', async () => {
    const warnings = await warningsAtStart({ TSERVE_HTTP_HOST: '127.0.0.1', TSERVE_ISO_HOST: '127.0.0.1' });
    expect(warnings.filter((w) => / without TLS/.test(w))).toEqual([]);
  });

  it('TLS on both: no warning whatever the address (checked on the configuration)', () => {
    const tls = { cert: 'c.pem', key: 'k.pem' };
    const config = { http: { host: '0.0.0.0', port: 8080, tls }, iso: { host: '10.0.0.5', port: 8583, tls: { ...tls, clientCa: null } } };
    expect(plaintextListenerWarnings(config as never)).toEqual([]);
    expect(plaintextListenerWarnings({ ...config, iso: { ...config.iso, tls: null } } as never).map((w) => w.listener)).toEqual(['iso8583']);
  });

  it('what counts as loopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.10', 'tserve.example.org', '128.0.0.1']) expect(isLoopback(h), h).toBe(false);
  });
});
