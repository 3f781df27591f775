// Issue 13, `tserve import`: the example network (fixtures/network) imported from CSV by
// the real CLI onto an empty production-mode database, then a switch on it takes
// payments over ISO 8583 and JSON at one of its counters, the day is settled, and the
// figures are checked against sums made here from the fixture's fee rules. A dry run of
// broken files lists every problem by file:line and changes nothing, nor does the same
// import without --dry-run (all or nothing). export → import → export gives the same bytes.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settle } from '../../settlement/run.js';
import { openRuntime, openStore } from '../../src/bootstrap.js';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { romeInstant } from '../../src/domain/calendar.js';
import type { NetworkState, NewCredentials } from '../../src/network/change.js';
import { startServer } from '../../src/server.js';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import { ROOT, cleanUp, runToEnd, terminalToken } from '../e2e/process.js';
import { TEST_DAY } from '../helpers/clock.js';
import { storeEnv } from '../helpers/store.js';

const KEK = 'a'.repeat(16) + '0123456789abcdef'.repeat(3);
const JWT = 'b'.repeat(16) + 'fedcba9876543210'.repeat(3);
const FIXTURE = path.join(ROOT, 'fixtures/network');
const CF = 'RSSMRA85T10A562S';

let root: string;
let keys: Record<string, string>;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'tserve-network-import-'));
  const secrets = path.join(root, 'secrets');
  mkdirSync(secrets, { mode: 0o700 });
  const secret = (name: string, content: string) => {
    const file = path.join(secrets, name);
    writeFileSync(file, content + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    return file;
  };
  keys = { TSERVE_MODE: 'production', TSERVE_KEK_FILE: secret('kek', KEK), TSERVE_JWT_KEY_FILE: secret('jwt', JWT) };
});

afterAll(async () => {
  await cleanUp([], root);
});

/** The real CLI on a data directory (its own database on PostgreSQL), production mode. */
const cli = (dir: string, ...args: string[]) => runToEnd(dir, ['--import', 'tsx', 'src/cli.ts', ...args], keys);

async function configOf(dir: string, extra: Record<string, string> = {}) {
  return loadConfig({
    TSERVE_DATA_DIR: dir,
    TSERVE_HTTP_HOST: '127.0.0.1',
    TSERVE_HTTP_PORT: '0',
    TSERVE_ISO_HOST: '127.0.0.1',
    TSERVE_ISO_PORT: '0',
    TSERVE_SETTLEMENT_SCHEDULE: 'false',
    TSERVE_LOG_LEVEL: 'silent',
    ...keys,
    ...(await storeEnv(dir)),
    ...extra,
  });
}

async function networkState(dir: string): Promise<NetworkState> {
  const store = await openStore(await configOf(dir));
  try {
    return await store.networkState();
  } finally {
    await store.close();
  }
}

/** Each run of the CLI starts a Node process with tsx: seconds on a busy machine. */
const SLOW = 300_000;

const files = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((n) => [n, readFileSync(path.join(dir, n), 'utf8')]));

describe('the example network on an empty production database', () => {
  const dir = () => path.join(root, 'data');
  const credentialsFile = () => path.join(root, 'handover', 'credentials.json');

  it('imports from CSV, pays over ISO 8583 and JSON at a counter, settles the day to the figures of its fee rules', async () => {
    const imported = await cli(dir(), 'import', FIXTURE, '--credentials', credentialsFile());
    expect(imported.code, imported.out).toBe(0);
    expect(imported.out).toContain('terminals.csv      4 new, 0 changed, 0 unchanged');
    // The secrets are in the file (owner-only), never printed.
    expect(statSync(credentialsFile()).mode & 0o777).toBe(0o600);
    const credentials = JSON.parse(readFileSync(credentialsFile(), 'utf8')) as NewCredentials;
    expect(credentials.terminals.map((t) => t.terminalId).sort()).toEqual(['TLU00001', 'TLU00002', 'TLU00003', 'TLU00004']);
    expect(credentials.users.map((u) => u.username).sort()).toEqual(['admin.rossi', 'ente.cbtn', 'finanza.bianchi']);
    for (const secret of [...credentials.terminals.flatMap((t) => [t.apiSecret, t.tmk]), ...credentials.users.map((u) => u.password)]) {
      expect(imported.out).not.toContain(secret);
    }
    // The same files again: nothing to do, and no new secrets.
    const again = await cli(dir(), 'import', FIXTURE, '--credentials', path.join(root, 'handover', 'again.json'));
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('fee-schedules.csv  0 new, 0 changed, 15 unchanged');

    // The switch on the imported network, at 10:00 in Rome on a working day.
    const dayStart = romeInstant(TEST_DAY, '10:00');
    const t0 = performance.now();
    const clock: Clock = () => dayStart + Math.floor(performance.now() - t0);
    const config = await configOf(dir());
    const server = await startServer(config, { clock });
    try {
      // Counter LU0001, a tabaccaio: terminal TLU00001 over ISO 8583, TLU00002 over JSON.
      const iso = credentials.terminals.find((t) => t.terminalId === 'TLU00001')!;
      const terminal = new IsoTerminal({ terminalId: iso.terminalId, counterId: iso.counterId, tmk: Buffer.from(iso.tmk, 'hex') }, { host: '127.0.0.1', port: server.isoPort, timeoutMs: 20_000, clock });
      await terminal.connect();
      try {
        expect((await terminal.signOn()).code).toBe('00');
        const cie = await terminal.pay({ service: 'CIE', identifier: CF }, 2221);
        expect(cie.response.code, cie.response.tlv.get('ER')).toBe('00');
        const contributo = await terminal.pay({ service: 'CONTRIBUTO', identifier: CF }, 15_000);
        expect(contributo.response.code, contributo.response.tlv.get('ER')).toBe('00');
      } finally {
        terminal.close();
      }
      const json = credentials.terminals.find((t) => t.terminalId === 'TLU00002')!;
      const token = await terminalToken(server.url, json.terminalId, json.apiSecret);
      for (const [key, body] of [
        ['pay-residenti', { service: 'RESIDENTI', identifier: 'AB123CD', amount: 3000 }],
        ['pay-imu-2026', { service: 'IMU', identifier: `${CF}/2026`, amount: 45_000 }],
      ] as const) {
        const res = await fetch(`${server.url}/v1/payments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key },
          body: JSON.stringify(body),
        });
        expect(res.status, JSON.stringify(await res.clone().json())).toBe(201);
      }
    } finally {
      await server.close();
    }

    // The day settled the next morning.
    const rt = await openRuntime(config, clock);
    try {
      const next = new Date(Date.parse(`${TEST_DAY}T12:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
      const r = await settle(rt.store, TEST_DAY, { cutoff: config.settlementCutoff, operator: config.operator, now: romeInstant(next, '10:00'), actor: 'test' });
      const f = r.figures;
      // The fixture's rules at a tabaccaio (fee-schedules.csv): CIE fixed 150; CONTRIBUTO
      // tiers, 15,000 in "50000:180"; RESIDENTI fixed 150; IMU 1% of 45,000 = 450, capped
      // at 220. Royalty 10 each; the counter's commission 0.70 of (fee − 10), rounded half-even.
      const payments = [
        { entity: 'LUCCA', amount: 2221, fee: 150 },
        { entity: 'CBTN', amount: 15_000, fee: 180 },
        { entity: 'LUCCA', amount: 3000, fee: 150 },
        { entity: 'LUCCA', amount: 45_000, fee: 220 },
      ];
      const commission = (fee: number) => Math.round(0.7 * (fee - 10)); // 98, 119, 147: no half cents here
      const gross = 65_221;
      const fees = 700;
      const commissions = 98 + 119 + 98 + 147;
      const royalties = 4 * 10;
      const operatorFees = fees - royalties - commissions;
      // CBTN's circuit fee (circuit-fees.csv): 25 per payment, netted from its payout and paid to the owner.
      const cbtnPayout = 15_000 - 25;
      const luccaPayout = 2221 + 3000 + 45_000 + royalties + 25;
      expect(payments.reduce((s, p) => s + p.amount, 0)).toBe(gross);
      expect(payments.reduce((s, p) => s + p.fee, 0)).toBe(fees);
      expect(payments.reduce((s, p) => s + commission(p.fee), 0)).toBe(commissions);

      expect(f.totals).toMatchObject({ payments: 4, gross, fees, collected: gross + fees, commissions, netPayouts: cbtnPayout + luccaPayout });
      expect(f.operator.fees).toBe(operatorFees);
      expect(f.owner).toMatchObject({ entityId: 'LUCCA', royalties, circuitFeesNetted: 25, circuitFeesRebilled: 0 });
      const entity = (id: string) => f.entities.find((e) => e.entityId === id)!;
      expect(entity('CBTN')).toMatchObject({ count: 1, gross: 15_000, circuitFeesNetted: 25, netPayout: cbtnPayout, iban: 'IT22S0103013700000063100277' });
      expect(entity('LUCCA')).toMatchObject({ count: 3, gross: 50_221, royaltiesReceived: royalties, circuitFeesReceived: 25, netPayout: luccaPayout });
      expect(f.counters.filter((c) => c.count > 0)).toEqual([
        expect.objectContaining({ counterId: 'LU0001', count: 2 + 2, collected: gross + fees, commission: commissions, owed: gross + fees - commissions }),
      ]);
      // Money out equals money in: the counter's direct debit pays the entities and the operator.
      expect(f.directDebits).toEqual([expect.objectContaining({ id: 'LU0001', amount: gross + fees - commissions, mandateRef: 'TSRV-LU0001-2024', iban: 'IT08P0872670220000000123456' })]);
      expect(Object.fromEntries(f.creditTransfers.map((t) => [t.id, t.amount]))).toMatchObject({ CBTN: cbtnPayout, LUCCA: luccaPayout });
      expect(f.totals.creditTransfers).toBe(cbtnPayout + luccaPayout + operatorFees);
      expect(f.totals.directDebits).toBe(f.totals.creditTransfers);
    } finally {
      await rt.store.close();
    }
  }, SLOW);

  it('export gives the fixture back, byte for byte; export → import on an empty database → export gives the same files', async () => {
    const out1 = path.join(root, 'export-1');
    const e1 = await cli(dir(), 'export', out1);
    expect(e1.code, e1.out).toBe(0);
    expect(files(out1)).toEqual(files(FIXTURE));
    // Excel's form (semicolons, BOM) reads back as the same network.
    const excel = path.join(root, 'export-excel');
    expect((await cli(dir(), 'export', excel, '--delimiter', ';', '--bom')).code).toBe(0);
    expect(readFileSync(path.join(excel, 'counters.csv'), 'utf8')).toMatch(/^\ufeffid;kind;name;/);
    const other = path.join(root, 'data-other');
    const imported = await cli(other, 'import', excel, '--credentials', path.join(root, 'handover', 'other.json'));
    expect(imported.code, imported.out).toBe(0);
    const out2 = path.join(root, 'export-2');
    const e2 = await cli(other, 'export', out2);
    expect(e2.code, e2.out).toBe(0);
    expect(files(out2)).toEqual(files(out1));
    // Never over existing files unless asked.
    const refused = await cli(other, 'export', out2);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('add --force');
  }, SLOW);

  it('export refuses a database that does not exist, and creates none', async () => {
    const missing = path.join(root, 'no-such-data');
    const r = await cli(missing, 'export', path.join(root, 'export-missing'));
    expect(r.code).toBe(1);
    expect(readdirSync(root)).not.toContain('export-missing');
  }, SLOW);

  it('a dry run of broken files lists every problem by file:line and changes nothing; the import without --dry-run neither', async () => {
    const broken = path.join(root, 'broken');
    cpSync(FIXTURE, broken, { recursive: true });
    const edit = (file: string, from: string, to: string) => {
      const p = path.join(broken, file);
      const before = readFileSync(p, 'utf8');
      expect(before).toContain(from);
      writeFileSync(p, before.replace(from, to));
    };
    edit('entities.csv', 'IT62H0691513700000000012345', 'IT62H0691513700000000012346'); // line 3: check digits
    edit('services.csv', ',2221,', ',"22,21",'); // line 3: euros, not cents
    edit('fee-schedules.csv', 'IMU,agenzia,2024-01-01,percent,,0.01,100,220', 'IMU,agenzia,2024-01-01,percent,,0.01,100,'); // line 11: maxCents
    edit('counters.csv', 'Tabaccheria Nieri', 'Tabaccheria Nieri & Figli'); // line 2: a valid change, which must not be applied alone
    edit('counters.csv', 'LU0002,agenzia', 'LU0002,edicola'); // line 3: kind
    edit('terminals.csv', 'TLU00004,LU0003', 'TLU00005,LU0009'); // line 5: a counter that does not exist
    edit('users.csv', 'ente.cbtn,entity,CBTN', 'ente.pisa,entity,PISA'); // line 3: an entity that does not exist
    const before = await networkState(dir());

    const dry = await cli(dir(), 'import', broken, '--dry-run');
    expect(dry.code, dry.out).toBe(1);
    const lines = dry.out.split('\n').filter((l) => /\.csv:\d+:/.test(l));
    const at = (prefix: string) => expect(lines.some((l) => l.startsWith(`${path.join(broken, prefix)}`)), `${prefix} in\n${dry.out}`).toBe(true);
    at('entities.csv:3: iban: ');
    at('services.csv:3: fixedCents: integer cents expected');
    at('fee-schedules.csv:11: maxCents: required for feeType percent');
    at('counters.csv:3: kind: ');
    at('terminals.csv:5: counterId: ');
    at('users.csv:3: entityId: ');
    expect(lines.some((l) => l.includes('counters.csv:2:'))).toBe(false);
    expect(dry.out).toMatch(/\d+ problems; nothing would be changed/);
    expect(await networkState(dir())).toEqual(before);

    const real = await cli(dir(), 'import', broken, '--credentials', path.join(root, 'handover', 'broken.json'));
    expect(real.code, real.out).toBe(1);
    expect(real.out).toMatch(/nothing was changed/);
    expect(await networkState(dir())).toEqual(before);
    expect(readdirSync(path.join(root, 'handover'))).not.toContain('broken.json');
  }, SLOW);

  it('an entities.csv with a pagopa column flags the entity: stored, in the catalogue, exported; the fixture again unflags it', async () => {
    const flagged = path.join(root, 'flagged');
    mkdirSync(flagged);
    const fixture = readFileSync(path.join(FIXTURE, 'entities.csv'), 'utf8');
    const [header, cbtn, lucca] = fixture.trimEnd().split('\n');
    writeFileSync(path.join(flagged, 'entities.csv'), `${header},pagopa\n${cbtn},si\n${lucca},\n`);
    const imported = await cli(dir(), 'import', path.join(flagged, 'entities.csv'));
    expect(imported.code, imported.out).toBe(0);
    expect(imported.out).toMatch(/entities\.csv\s+0 new, 1 changed, 1 unchanged/);
    expect((await networkState(dir())).entities.map((e) => [e.id, e.pagopa])).toEqual([['CBTN', true], ['LUCCA', false]]);
    const store = await openStore(await configOf(dir()));
    try {
      const catalogue = await store.loadCatalogue();
      expect([catalogue.entities.get('CBTN')!.pagopa, catalogue.entities.get('LUCCA')!.pagopa]).toEqual([true, false]);
      const audit = (await store.listAudit({ action: 'entity.save' }, null, 1)).items[0]!;
      expect(audit).toMatchObject({ actor: 'cli', target: 'CBTN' });
      expect(JSON.parse(String(audit.detail))).toEqual({ pagopa: { from: false, to: true } });
    } finally {
      await store.close();
    }
    const out = path.join(root, 'export-flagged');
    expect((await cli(dir(), 'export', out)).code).toBe(0);
    expect(readFileSync(path.join(out, 'entities.csv'), 'utf8')).toBe(`${header},pagopa\n${cbtn},true\n${lucca},false\n`);
    // The fixture's file has no pagopa column: its entities are not flagged, and the export is the fixture's again.
    expect((await cli(dir(), 'import', path.join(FIXTURE, 'entities.csv'))).code).toBe(0);
    const back = path.join(root, 'export-back');
    expect((await cli(dir(), 'export', back)).code).toBe(0);
    expect(files(back)).toEqual(files(FIXTURE));
  }, SLOW);
});
