// A real switch for tests: a temporary data directory with a real SQLite file (or its
// own PostgreSQL database, see store.ts),
// seeded with the demo catalogue and a network with fewer debt positions, and the
// express app (for supertest) wired exactly as main.ts does.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { secretVersion } from '../../src/auth/secrets.js';
import { TokenService } from '../../src/auth/tokens.js';
import { openRuntime, seedDemo, type DemoCredentials, type Runtime } from '../../src/bootstrap.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createApp } from '../../src/http/app.js';
import { PspClient } from '../../src/pagopa/client.js';
import { Payments } from '../../src/payments/service.js';
import { testClock } from './clock.js';
import { storeEnv } from './store.js';

process.env.TSERVE_LOG_LEVEL ??= 'silent';

export interface Harness {
  dir: string;
  config: Config;
  rt: Runtime;
  payments: Payments;
  tokens: TokenService;
  app: Express;
  credentials: DemoCredentials;
  /** A bearer token for a demo terminal (by id) or user (by username). */
  terminalToken(terminalId: string): string;
  userToken(username: string): string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  positions?: number;
  env?: Record<string, string>;
  /** The embedded SQLite store whichever store the suite runs on (tests of `tserve copy`). */
  sqlite?: boolean;
  /** The switch's clock; the test clock (TEST_DAY, 10:00 Rome) by default. */
  clock?: () => number;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-test-'));
  const config = loadConfig({
    TSERVE_DATA_DIR: dir,
    TSERVE_SEED_POSITIONS: String(opts.positions ?? 3000),
    TSERVE_RATE_LIMIT_PER_MINUTE: '1000000',
    TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: '1000000',
    TSERVE_IMPORT_PER_MINUTE: '1000000',
    ...(opts.sqlite ? {} : await storeEnv(dir)),
    ...opts.env,
  });
  const rt = await openRuntime(config, opts.clock ?? testClock, { checkBalances: true, create: true });
  const { credentials } = await seedDemo(rt, config);
  const payments = await Payments.create(rt.store, {
    settlementCutoff: config.settlementCutoff,
    clock: rt.clock,
    pagopa: config.pagopa ? new PspClient(config.pagopa, { clock: rt.clock }) : null,
  });
  const tokens = new TokenService(rt.jwtKey, config.tokenTtlSeconds);
  const app = createApp({ config, store: rt.store, payments, tokens, kek: rt.kek, version: 'test', clock: rt.clock });
  const counterOf = new Map(credentials.terminals.map((t) => [t.terminalId, t.counterId]));
  // A terminal's token names the API secret it was issued under (its fingerprint, `sv`).
  const seeded = await Promise.all(credentials.terminals.map((t) => rt.store.getTerminal(t.terminalId)));
  const versionOf = new Map(seeded.map((t) => [t!.id, secretVersion(t!.secretHash)]));
  const users = new Map(credentials.users.map((u) => [u.username, u]));
  return {
    dir,
    config,
    rt,
    payments,
    tokens,
    app,
    credentials,
    terminalToken(terminalId) {
      const counterId = counterOf.get(terminalId);
      if (!counterId) throw new Error(`no demo terminal ${terminalId}`);
      return tokens.issue({ role: 'terminal', terminalId, counterId, secretVersion: versionOf.get(terminalId) }).token;
    },
    userToken(username) {
      const u = users.get(username);
      if (!u) throw new Error(`no demo user ${username}`);
      return tokens.issue(
        u.role === 'entity' ? { role: 'entity', username, entityId: u.entityId! } : { role: u.role, username },
      ).token;
    },
    async close() {
      await rt.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** supertest against the harness's app. */
export function api(h: Harness) {
  return request(h.app);
}
