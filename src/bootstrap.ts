// Wiring shared by the server and the CLI: keys, the store, and the demo network.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CATALOGUE } from '../fixtures/catalogue.js';
import { CREDENTIALS_FILE, type DemoCredentials } from '../fixtures/credentials.js';
import { generateNetwork } from '../fixtures/generator.js';
import { loadKeys } from './auth/keys.js';
import { KEY_COST, PASSWORD_COST, hashSecret, newApiSecret, sealTmk } from './auth/secrets.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { romeDate } from './domain/calendar.js';
import { requireExisting } from './store/existing.js';
import { PgStore } from './store/postgres/store.js';
import { migrateSqlite } from './store/sqlite/schema-version.js';
import { SqliteStore } from './store/sqlite/store.js';
import type { Store } from './store/types.js';

export interface Runtime {
  store: Store;
  kek: Buffer;
  jwtKey: Buffer;
  /** The switch's clock: business dates and timestamps. */
  clock: Clock;
}

export interface OpenOptions {
  checkBalances?: boolean;
  /** Create the database when it does not exist: only `tserve start`, `seed` and `import`. Otherwise refused (store/existing.ts). */
  create?: boolean;
}

/** The store the configuration names: PostgreSQL with TSERVE_DATABASE_URL, else the embedded SQLite file. */
export async function openStore(config: Pick<Config, 'dataDir' | 'dbFile' | 'database'>, clock: Clock = systemClock, opts: OpenOptions = {}): Promise<Store> {
  if (!opts.create) await requireExisting(config);
  // SQLite checks its balances at every open, from a checkpoint (fast); PostgreSQL sums
  // every entry, so only the switch's start asks for it.
  return config.database
    ? PgStore.open(config.database.url, { poolSize: config.database.poolSize, clock, checkBalances: opts.checkBalances })
    : openSqlite(config.dbFile, clock);
}

/** The file's schema brought to this release's version first (refused when newer: schema-version.ts). */
function openSqlite(file: string, clock: Clock): Store {
  migrateSqlite(file);
  return SqliteStore.open(file, clock);
}

export async function openRuntime(config: Config, clock: Clock = systemClock, opts: OpenOptions = {}): Promise<Runtime> {
  // Before the keys: demo mode would generate key files into a mistyped data directory.
  if (!opts.create) await requireExisting(config);
  // Production: from the environment or secret files outside the data directory, or refused (docs/keys.md).
  const { kek, jwtKey } = loadKeys(config);
  return { store: await openStore(config, clock, { ...opts, create: true }), kek, jwtKey, clock };
}

export { CREDENTIALS_FILE, type DemoCredentials };

export const DEMO_SEED_REFUSED =
  'production mode (TSERVE_MODE=production) never seeds the demo network: its terminal keys and passwords would be written in clear. ' +
  'For a demonstration, use TSERVE_MODE=demo on a data directory and database of its own';

/**
 * (Re)creates the catalogue and the demo network, and demo users, and writes their
 * credentials (mode 0600) to the data directory. Returns the credentials file's path.
 * The network is generated around the clock's Rome date, so the demo looks current
 * (fines notified in the last weeks, this year's TARI, bolli due and late) whenever
 * it is seeded.
 */
export async function seedDemo(
  rt: Runtime,
  config: Pick<Config, 'mode' | 'dataDir' | 'seed' | 'seedPositions'>,
  onProgress: (step: string) => void = () => undefined,
): Promise<{ file: string; credentials: DemoCredentials }> {
  // The demo's keys and passwords are written in clear: never in a production deployment.
  if (config.mode !== 'demo') throw new Error(DEMO_SEED_REFUSED);
  onProgress('generating the network');
  const generated = generateNetwork({ seed: config.seed, positions: config.seedPositions, today: romeDate(rt.clock()) });
  // Terminal keys are random, never derived from the seed: the generator is public, so
  // seeded keys would let anyone sign on as a demo terminal. Each terminal gets a TMK and,
  // apart from it, a JSON API secret; the credentials file is the only place they are written.
  const network = { ...generated, terminals: generated.terminals.map((t) => ({ ...t, tmkHex: randomBytes(32).toString('hex'), apiSecret: newApiSecret() })) };
  onProgress(`sealing ${network.terminals.length} terminal keys`);
  const sealed = new Map<string, { tmkSealed: string; secretHash: string }>();
  await Promise.all(
    network.terminals.map(async (t) => {
      const tmk = Buffer.from(t.tmkHex, 'hex');
      sealed.set(t.id, { tmkSealed: sealTmk(rt.kek, t.id, tmk), secretHash: await hashSecret(t.apiSecret, KEY_COST) });
    }),
  );
  onProgress(`writing ${network.counters.length} counters and ${network.positions.length} debt positions`);
  await rt.store.seed(CATALOGUE, network, sealed);

  const users: DemoCredentials['users'] = [
    { username: 'admin', role: 'admin', entityId: null, password: '' },
    { username: 'finance', role: 'finance', entityId: null, password: '' },
    ...CATALOGUE.entities.map((e) => ({ username: `ente-${e.id.toLowerCase()}`, role: 'entity' as const, entityId: e.id, password: '' })),
  ];
  onProgress(`creating ${users.length} demo users`);
  for (const u of users) {
    u.password = randomBytes(12).toString('base64url');
    await rt.store.addUser({ username: u.username, role: u.role, entityId: u.entityId, passwordHash: await hashSecret(u.password, PASSWORD_COST) });
  }
  const credentials: DemoCredentials = {
    terminals: network.terminals.map((t) => ({ terminalId: t.id, counterId: t.counterId, tmk: t.tmkHex, apiSecret: t.apiSecret })),
    users,
  };
  const file = path.join(config.dataDir, CREDENTIALS_FILE);
  // On PostgreSQL with keys from outside, nothing else has created the data directory.
  mkdirSync(config.dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  return { file, credentials };
}
