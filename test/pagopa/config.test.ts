// TSERVE_PAGOPA_* (src/config.ts): the bridge is off without a node URL; with one, the
// PSP's whole identity is required, secrets may come from files, and limits are the node's.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const full = {
  TSERVE_PAGOPA_NODE_URL: 'http://127.0.0.1:8081/nodo/node-for-psp/v1',
  TSERVE_PAGOPA_PSP_ID: 'TSERVEPSP01',
  TSERVE_PAGOPA_BROKER_ID: '01234567890',
  TSERVE_PAGOPA_CHANNEL_ID: '01234567890_01',
  TSERVE_PAGOPA_PSP_FISCAL_CODE: '01234567890',
  TSERVE_PAGOPA_PASSWORD: 'Pa55word!',
  TSERVE_PAGOPA_SUBSCRIPTION_KEY: 'sub-key-123',
};

describe('pagoPA configuration', () => {
  it('no node URL: the bridge is off', () => {
    expect(loadConfig({}).pagopa).toBeNull();
  });

  it('the whole identity, with the defaults of timeout (8 s) and token lifetime (30 min)', () => {
    expect(loadConfig(full).pagopa).toEqual({
      nodeUrl: full.TSERVE_PAGOPA_NODE_URL,
      identity: { idPSP: 'TSERVEPSP01', idBrokerPSP: '01234567890', idChannel: '01234567890_01', password: 'Pa55word!', subscriptionKey: 'sub-key-123' },
      pspFiscalCode: '01234567890',
      timeoutMs: 8000,
      tokenExpirationMs: 1_800_000,
    });
    expect(loadConfig({ ...full, TSERVE_PAGOPA_TIMEOUT_MS: '3000', TSERVE_PAGOPA_TOKEN_EXPIRATION_MS: '600000' }).pagopa).toMatchObject({ timeoutMs: 3000, tokenExpirationMs: 600_000 });
  });

  it('a URL without the identity names what is missing', () => {
    expect(() => loadConfig({ TSERVE_PAGOPA_NODE_URL: full.TSERVE_PAGOPA_NODE_URL, TSERVE_PAGOPA_PSP_ID: 'X' })).toThrow(
      /set also TSERVE_PAGOPA_BROKER_ID, TSERVE_PAGOPA_CHANNEL_ID, TSERVE_PAGOPA_PSP_FISCAL_CODE, TSERVE_PAGOPA_PASSWORD, TSERVE_PAGOPA_SUBSCRIPTION_KEY/,
    );
  });

  it('secrets from files (first line), not both ways', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tserve-pagopa-'));
    writeFileSync(path.join(dir, 'password'), 'FromFile123\n');
    writeFileSync(path.join(dir, 'key'), 'key-from-file\nignored\n');
    const { TSERVE_PAGOPA_PASSWORD: _p, TSERVE_PAGOPA_SUBSCRIPTION_KEY: _k, ...rest } = full;
    const fromFiles = loadConfig({ ...rest, TSERVE_PAGOPA_PASSWORD_FILE: path.join(dir, 'password'), TSERVE_PAGOPA_SUBSCRIPTION_KEY_FILE: path.join(dir, 'key') });
    expect(fromFiles.pagopa?.identity).toMatchObject({ password: 'FromFile123', subscriptionKey: 'key-from-file' });
    expect(() => loadConfig({ ...full, TSERVE_PAGOPA_PASSWORD_FILE: path.join(dir, 'password') })).toThrow(/TSERVE_PAGOPA_PASSWORD or TSERVE_PAGOPA_PASSWORD_FILE, not both/);
    writeFileSync(path.join(dir, 'short'), 'short\n');
    expect(() => loadConfig({ ...rest, TSERVE_PAGOPA_SUBSCRIPTION_KEY: 'k', TSERVE_PAGOPA_PASSWORD_FILE: path.join(dir, 'short') })).toThrow(/8\.\.15/);
  });

  it.each([
    ['a token lifetime above the node maximum', { TSERVE_PAGOPA_TOKEN_EXPIRATION_MS: '1800001' }, /TSERVE_PAGOPA_TOKEN_EXPIRATION_MS/],
    ['a password the node cannot take', { TSERVE_PAGOPA_PASSWORD: 'short' }, /TSERVE_PAGOPA_PASSWORD/],
    ['a PSP fiscal code an idempotency key cannot carry', { TSERVE_PAGOPA_PSP_FISCAL_CODE: '0123-4567' }, /TSERVE_PAGOPA_PSP_FISCAL_CODE/],
    ['a URL that is not http(s)', { TSERVE_PAGOPA_NODE_URL: 'ftp://node' }, /TSERVE_PAGOPA_NODE_URL/],
    ['plain http in production', { TSERVE_MODE: 'production' }, /https:\/\/ in production/],
  ])('refuses %s', (_what, change, message) => {
    expect(() => loadConfig({ ...full, ...change })).toThrow(message);
  });
});
