// The demo catalogue and a small generated network as one NetworkChange (what a first
// import of the demo would send), and a store of either kind on a temporary directory.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CATALOGUE } from '../../fixtures/catalogue.js';
import { generateNetwork } from '../../fixtures/generator.js';
import { PgStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Clock } from '../../src/clock.js';
import type { NetworkChange } from '../../src/network/change.js';
import type { Store } from '../../src/store/types.js';
import { testClock, testToday } from '../helpers/clock.js';
import { storeEnv } from '../helpers/store.js';

export function demoChange(opts: { counters?: number } = {}): NetworkChange & Required<Pick<NetworkChange, 'entities' | 'circuitFees' | 'services' | 'feeSchedules' | 'counters' | 'terminals' | 'users'>> {
  const network = generateNetwork({ positions: 0, today: testToday() });
  const counters = network.counters.slice(0, opts.counters ?? 5);
  const ids = new Set(counters.map((c) => c.id));
  // A copy: tests edit it.
  return structuredClone({
    entities: CATALOGUE.entities.map((e) => ({
      id: e.id,
      name: e.name,
      fiscalCode: e.fiscalCode,
      vatNumber: e.vatNumber ?? null,
      iban: e.iban,
      officeCode: e.officeCode ?? null,
      isCircuitOwner: e.isCircuitOwner,
      segregationCode: e.segregationCode,
      pagopa: e.pagopa,
    })),
    circuitFees: CATALOGUE.entities.flatMap((e) => (e.circuitFee ? [{ entityId: e.id, ...e.circuitFee }] : [])),
    services: CATALOGUE.services.map((s) => ({ ...s, enabled: true })),
    feeSchedules: CATALOGUE.feeSchedules,
    counters: counters.map((c) => ({ ...c, status: 'active' as const })),
    terminals: network.terminals.filter((t) => ids.has(t.counterId)).map((t) => ({ id: t.id, counterId: t.counterId, status: 'active' as const })),
    users: [
      { username: 'admin', role: 'admin' as const, entityId: null },
      { username: 'ente-pisa', role: 'entity' as const, entityId: 'PISA' },
    ],
  });
}

/** An empty store (SQLite file or PostgreSQL database, as the suite runs) and its removal. */
export async function emptyStore(clock: Clock = testClock): Promise<{ store: Store; dir: string; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-network-'));
  const env = await storeEnv(dir);
  const url = env.TSERVE_DATABASE_URL;
  const store: Store = url ? await PgStore.open(url, { poolSize: 4, clock }) : SqliteStore.open(path.join(dir, 'tserve.db'), clock);
  return {
    store,
    dir,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
