// The network's configuration from the command line (issue 13): the real CLI
// (bin/tserve.js) on a seeded data directory of its own (SQLite). Each write goes through the one door and is audited as 'cli'; a refused
// change prints every problem and exits 1; on SQLite a write is refused while a switch
// holds the file. Dates are taken far from the wall's today, so the test passes at any hour.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { italianIban } from '../../fixtures/generator.js';
import { addDays, romeDate } from '../../src/domain/calendar.js';
import { partitaIvaCheckDigit } from '../../src/domain/fiscal-code.js';
import { openTestDb, TEST_STORE } from '../helpers/store.js';
import { cleanUp, runCli } from './process.js';

// The commands are the same on both stores; the door under them is tested on PostgreSQL
// too (test/network, test/http/network-api.test.ts), so the CLI runs once, on SQLite.
const ON_POSTGRES = TEST_STORE === 'postgres';
let dir: string;
const cli = (...args: string[]) => runCli(dir, args);
const json = async <T>(...args: string[]): Promise<T> => {
  const r = await cli(...args, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
};
const ok = async (...args: string[]) => {
  const r = await cli(...args);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
};
const fiscal = (first10: string) => first10 + partitaIvaCheckDigit(first10);
/** A month after the wall's today: in the future whatever the hour. */
const future = addDays(romeDate(Date.now()), 30);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-netcli-'));
  if (!ON_POSTGRES) await ok('seed', '--positions', '50');
}, 180_000);
afterAll(async () => {
  await cleanUp([], dir);
});

// Each run of the CLI starts node and tsx (seconds on a busy machine): few runs, reads side by side.
const SLOW = 240_000;

describe.skipIf(ON_POSTGRES)('tserve entity, service, fee', () => {
  it('entity set creates, then changes only the fields given; a bad one prints every problem; circuit fees never retroactive', async () => {
    const out = await ok(
      'entity', 'set', 'EMPOLI', '--name', 'Comune di Empoli', '--fiscal-code', fiscal('0132916048'), '--vat-number', fiscal('0132916048'),
      '--iban', italianIban('03069', '37830', '000000012345'), '--office-code', 'UFEMP1', '--segregation-code', '31',
    );
    expect(out).toMatch(/entity EMPOLI created/);
    expect(await ok('entity', 'set', 'EMPOLI', '--no-office-code', '--pagopa')).toMatch(/updated/);
    // Writes one at a time: on SQLite a write refuses to run beside another process on the file.
    const bad = await cli('entity', 'set', 'BADENT', '--name', 'Bad', '--fiscal-code', '12345678901', '--iban', 'IT00X0000000000000000000000', '--office-code', 'x!');
    const past = await cli('entity', 'circuit-fee', 'EMPOLI', '--from', '2020-01-01', '--cents', '30', '--mode', 'netted');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/3 problems/);
    for (const field of ['fiscalCode', 'iban', 'officeCode']) expect(bad.stderr).toContain(`entities ${field}:`);
    expect(past.code).toBe(1);
    expect(past.stderr).toMatch(/effectiveFrom: .*retroactively/);
    expect(await ok('entity', 'circuit-fee', 'EMPOLI', '--from', future, '--cents', '30', '--mode', 'rebilled')).toMatch(/created/);
    const [shown, list] = await Promise.all([json<Record<string, unknown>>('entity', 'show', 'EMPOLI'), ok('entity', 'list')]);
    expect(shown).toMatchObject({ name: 'Comune di Empoli', officeCode: null, vatNumber: fiscal('0132916048'), pagopa: true, isCircuitOwner: false });
    expect(shown.circuitFees).toEqual([{ entityId: 'EMPOLI', effectiveFrom: future, feeCents: 30, mode: 'rebilled' }]);
    expect(list).toMatch(/^EMPOLI\s+Comune di Empoli/m);
    expect(list).not.toMatch(/BADENT/);
  }, SLOW);

  it('service set and disable; fee add: retroactive refused, future added and listed', async () => {
    expect(await ok('service', 'set', 'SEGRETEMP', '--name', 'Diritti Empoli', '--entity', 'EMPOLI', '--amount-kind', 'F', '--identifier-kind', 'file_number', '--fixed-cents', '1500')).toMatch(/created/);
    await ok('service', 'disable', 'SEGRETEMP');
    const args = (from: string) => ['fee', 'add', '--service', 'SEGRETEMP', '--counter-kind', 'tabaccaio', '--from', from, '--tiers', '5000:100,*:150', '--commission-rate', '0.70', '--royalty-cents', '10'];
    const past = await cli(...args('2020-01-01'));
    expect(past.code).toBe(1);
    expect(past.stderr).toMatch(/effectiveFrom/);
    expect(await ok(...args(future))).toMatch(/created/);
    const [services, fees] = await Promise.all([
      json<{ code: string; enabled: boolean }[]>('service', 'list'),
      json<{ effectiveFrom: string; feeRule: unknown }[]>('fee', 'list', '--service', 'SEGRETEMP', '--counter-kind', 'tabaccaio'),
    ]);
    expect(services.find((x) => x.code === 'SEGRETEMP')?.enabled).toBe(false);
    expect(fees).toEqual([expect.objectContaining({ effectiveFrom: future, feeRule: { type: 'tiers', tiers: [{ upToCents: 5000, cents: 100 }, { upToCents: null, cents: 150 }] } })]);
  }, SLOW);
});

describe.skipIf(ON_POSTGRES)('tserve counter, terminals, user list', () => {
  it('add a counter and a terminal for it (keys printed once), block the terminal, suspend the counter; its kind may not change', async () => {
    const added = await ok(
      'counter', 'add', '--id', 'C9001', '--kind', 'tabaccaio', '--name', 'Tabacchi Nuovi', '--address', 'Via Roma 1', '--town', 'Empoli',
      '--iban', italianIban('08673', '37830', '000000054321'), '--mandate-ref', 'MNDT-9001', '--credit-limit-cents', '500000',
    );
    expect(added).toMatch(/counter C9001 created/);
    const t = await ok('terminals', 'add', '--counter', 'C9001');
    expect(t).toMatch(/^tmk: [0-9a-f]{64}$/m);
    expect(t).toMatch(/^apiSecret: [\w-]{43}$/m);
    const id = /^terminal (\S+) of counter C9001/m.exec(t)![1]!;
    await ok('terminals', 'block', id);
    await ok('counter', 'suspend', 'C9001');
    const kind = await cli('counter', 'set', 'C9001', '--kind', 'agenzia');
    expect(kind.code).toBe(1);
    expect(kind.stderr).toMatch(/counters kind: kind cannot change/);
    const [terminals, counters, audit, users] = await Promise.all([
      json<unknown[]>('terminals', 'list', '--counter', 'C9001'),
      json<{ id: string; status: string; creditLimitCents: number }[]>('counter', 'list'),
      ok('audit', 'list', '--actor', 'cli'),
      json<unknown[]>('user', 'list'),
    ]);
    expect(terminals).toEqual([{ id, counterId: 'C9001', status: 'blocked' }]);
    expect(counters.find((x) => x.id === 'C9001')).toMatchObject({ status: 'suspended', creditLimitCents: 500000 });
    for (const action of ['counter.save', 'terminal.create', 'terminal.save', 'entity.save', 'fee_schedule.add']) expect(audit).toContain(action);
    expect(users).toContainEqual(expect.objectContaining({ username: 'admin', role: 'admin', disabled: false }));
  }, SLOW);
});

describe.skipIf(ON_POSTGRES)('while a switch holds the SQLite file', () => {
  it('a write is refused, pointing at the admin API', async () => {
    const db = await openTestDb(dir);
    try {
      // A reader holds its shared lock as a running switch does.
      await db.scalar('SELECT count(*) FROM counters');
      const r = await cli('counter', 'reactivate', 'C9001');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/admin API/);
    } finally {
      await db.close();
    }
  }, SLOW);
});
