// The network's CSV files (src/network/csv.ts), read and written without a store: the
// example network under fixtures/network reads without a problem and writes back to the
// same bytes; Italian Excel's files (semicolons, Windows-1252, CRLF, DD/MM/YYYY, decimal
// commas in rates) read as the same network; every format problem is told as file:line.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NetworkState } from '../../src/network/change.js';
import { NETWORK_FILES, NETWORK_KINDS, followsFromRefusedRow, formatProblem, readNetwork, writeNetwork } from '../../src/network/csv.js';
import { networkFiles, wouldDo } from '../../src/network-import-cli.js';
import { ROOT } from '../e2e/process.js';

const FIXTURE = path.join(ROOT, 'fixtures/network');
const fixtureFiles = () => NETWORK_KINDS.map((kind) => ({ kind, file: NETWORK_FILES[kind], bytes: readFileSync(path.join(FIXTURE, NETWORK_FILES[kind])) }));
const asState = (change: ReturnType<typeof readNetwork>['change']) => change as NetworkState;

/** Windows-1252 bytes of a string (the few accented letters the fixture has). */
function cp1252(s: string): Buffer {
  return Buffer.from([...s].map((c) => { const b = c.charCodeAt(0); if (b > 0xff) throw new Error(c); return b; }));
}

describe('the example network', () => {
  it('reads without a problem', () => {
    const read = readNetwork(fixtureFiles());
    expect(read.problems.map(formatProblem)).toEqual([]);
    const c = read.change;
    expect([c.entities!.length, c.circuitFees!.length, c.services!.length, c.feeSchedules!.length, c.counters!.length, c.terminals!.length, c.users!.length]).toEqual([2, 1, 5, 15, 3, 4, 3]);
    expect(c.entities!.find((e) => e.id === 'CBTN')).toMatchObject({ vatNumber: null, officeCode: null, isCircuitOwner: false, segregationCode: '21' });
    expect(c.feeSchedules!.find((f) => f.serviceCode === 'CONTRIBUTO' && f.counterKind === 'agenzia')!.feeRule).toEqual({
      type: 'tiers',
      tiers: [{ upToCents: 10_000, cents: 120 }, { upToCents: 50_000, cents: 180 }, { upToCents: null, cents: 220 }],
    });
    expect(c.feeSchedules!.find((f) => f.serviceCode === 'IMU' && f.counterKind === 'tabaccaio')!.feeRule).toEqual({ type: 'percent', rate: '0.01', minCents: 100, maxCents: 220 });
    expect(c.counters!.find((x) => x.id === 'LU0003')!.name).toBe("Supermercato Sant'Anna, Pieroni");
  });

  it('writes back to the same bytes', () => {
    const written = writeNetwork(asState(readNetwork(fixtureFiles()).change));
    for (const f of fixtureFiles()) expect(written.get(f.file), f.file).toBe(f.bytes.toString('utf8'));
  });

  it("reads Italian Excel's files as the same network: semicolons, Windows-1252, CRLF, dates DD/MM/YYYY, decimal commas in rates, snake_case headers", () => {
    const excel = fixtureFiles().map((f) => {
      const rows = writeNetwork(asState(readNetwork(fixtureFiles()).change), { delimiter: ';' }).get(f.file)!;
      const text = rows
        .replace(/(\d{4})-(\d{2})-(\d{2})/g, (_m, y: string, m: string, d: string) => `${d}/${m}/${y}`)
        .replace(/;0\.(\d+);/g, ';0,$1;')
        .replace(/fiscalCode|effectiveFrom|counterKind/g, (h) => h.replace(/[A-Z]/g, (l) => `_${l.toLowerCase()}`))
        .replace(/\n/g, '\r\n');
      return { ...f, bytes: cp1252(text) };
    });
    const read = readNetwork(excel);
    expect(read.problems.map(formatProblem)).toEqual([]);
    expect(read.change).toEqual(readNetwork(fixtureFiles()).change);
    expect(read.change.services!.find((s) => s.code === 'CIE')!.name).toBe("Carta d'identità elettronica");
  });

  it('the pagopa column: optional (false when left out), read as the booleans are; written only when an entity is flagged', () => {
    const entities = fixtureFiles().find((f) => f.kind === 'entities')!.bytes.toString('utf8');
    expect(readNetwork(fixtureFiles()).change.entities!.map((e) => e.pagopa)).toEqual([false, false]);
    const [header, cbtn, lucca] = entities.trimEnd().split('\n');
    const read = (a: string, b: string) => readNetwork([{ kind: 'entities', file: 'entities.csv', bytes: Buffer.from(`${header},pagopa\n${cbtn},${a}\n${lucca},${b}\n`) }]);
    for (const [a, b, flags] of [['true', 'false', [true, false]], ['1', '0', [true, false]], ['si', 'no', [true, false]], ['Sì', '', [true, false]], ['yes', 'TRUE', [true, true]]] as const) {
      const r = read(a, b);
      expect(r.problems).toEqual([]);
      expect(r.change.entities!.map((e) => e.pagopa), `${a}/${b}`).toEqual(flags);
    }
    expect(read('forse', 'false').problems.map(formatProblem)).toEqual(['entities.csv:2: pagopa: true or false expected, got "forse"']);
    // Written when used, as true/false, and read back the same; unused, the file is as before the column existed.
    const state = asState(readNetwork(fixtureFiles()).change);
    const flagged = { ...state, entities: state.entities.map((e) => ({ ...e, pagopa: e.id === 'CBTN' })) };
    const written = writeNetwork(flagged).get('entities.csv')!;
    expect(written).toBe(`${header},pagopa\n${cbtn},true\n${lucca},false\n`);
    expect(readNetwork([{ kind: 'entities', file: 'entities.csv', bytes: Buffer.from(written) }]).change.entities).toEqual(flagged.entities);
    expect(writeNetwork(state).get('entities.csv')).toBe(entities);
  });

  it('reads a UTF-8 file with a BOM, as export --bom writes it', () => {
    const withBom = writeNetwork(asState(readNetwork(fixtureFiles()).change), { delimiter: ';', bom: true });
    const read = readNetwork(fixtureFiles().map((f) => ({ ...f, bytes: Buffer.from(withBom.get(f.file)!, 'utf8') })));
    expect(read.problems).toEqual([]);
    expect(read.change).toEqual(readNetwork(fixtureFiles()).change);
  });
});

describe('format problems, each by file and line', () => {
  const one = (kind: (typeof NETWORK_KINDS)[number], text: string) => readNetwork([{ kind, file: NETWORK_FILES[kind], bytes: Buffer.from(text) }]).problems.map(formatProblem);

  it('money is integer cents: euros with a comma or a point are refused with the rule', () => {
    expect(one('counters', 'id,kind,name,address,town,iban,mandateRef,creditLimitCents\nLU9,tabaccaio,N,A,T,IT08P0872670220000000123456,M,"3000,00"\nLU8,tabaccaio,N,A,T,IT08P0872670220000000123456,M,3000.50\n')).toEqual([
      'counters.csv:2: creditLimitCents: integer cents expected (150 for €1.50), without separators; got "3000,00"',
      'counters.csv:3: creditLimitCents: integer cents expected (150 for €1.50), without separators; got "3000.50"',
    ]);
  });

  it('headers: unknown and missing columns at line 1', () => {
    expect(one('terminals', 'id,counter,status\n')).toEqual([
      'terminals.csv:1: unknown column "counter"; the columns are id, counterId, status',
      'terminals.csv:1: missing column counterId',
    ]);
  });

  it('every bad cell of every row, with its field; fee rule columns checked against feeType', () => {
    const problems = one(
      'feeSchedules',
      [
        'serviceCode,counterKind,effectiveFrom,feeType,feeCents,rate,minCents,maxCents,tiers,commissionRate,royaltyCents',
        'CIE,edicola,2024-02-30,fixed,150,,,,,0.70,10',
        'CIE,tabaccaio,2024-01-01,percent,150,,100,,,0.70,10',
        'CIE,agenzia,2024-01-01,tiers,,,,,100-200,0.75,10',
        'CIE,agenzia,2024-01-01,fixed,150,,,,,0.75,10,extra',
      ].join('\n'),
    );
    expect(problems).toEqual([
      'fee-schedules.csv:2: counterKind: one of tabaccaio, agenzia, supermercato expected',
      'fee-schedules.csv:2: effectiveFrom: a date YYYY-MM-DD (or DD/MM/YYYY) expected, got "2024-02-30"',
      'fee-schedules.csv:3: feeCents: not used by feeType percent: leave it empty',
      'fee-schedules.csv:3: rate: required for feeType percent',
      'fee-schedules.csv:3: maxCents: required for feeType percent',
      'fee-schedules.csv:4: tiers: tiers are upToCents:feeCents separated by |, the last open-ended, e.g. 5000:100|20000:150|:200; got "100-200"',
      'fee-schedules.csv:5: 12 fields, the header has 11 (a separator inside a value? quote the value)',
    ]);
  });

  it("rows of separators alone, as Excel leaves them, are blank; trailing empty fields are no extra fields", () => {
    const read = readNetwork([{ kind: 'users', file: 'users.csv', bytes: Buffer.from('username;role;entityId;;\r\nadmin.rossi;admin;;;\r\n;;;;\r\n;;;;\r\n') }]);
    expect(read.problems).toEqual([]);
    expect(read.change.users).toEqual([{ username: 'admin.rossi', role: 'admin', entityId: null }]);
  });

  it("references to a row refused for its format are the refused row's problem, not theirs", () => {
    const files = fixtureFiles().map((f) => (f.kind === 'entities' ? { ...f, bytes: Buffer.from(f.bytes.toString('utf8').replace(',true,01', ',forse,01')) } : f));
    const read = readNetwork(files);
    expect(read.problems.map(formatProblem)).toEqual(['entities.csv:3: isCircuitOwner: true or false expected, got "forse"']);
    const cie = read.change.services!.findIndex((s) => s.code === 'CIE');
    const contributo = read.change.services!.findIndex((s) => s.code === 'CONTRIBUTO');
    expect(followsFromRefusedRow(read, { kind: 'services', index: cie, field: 'entityId', message: 'no entity LUCCA' })).toBe(true);
    expect(followsFromRefusedRow(read, { kind: 'services', index: contributo, field: 'entityId', message: 'no entity CBTN' })).toBe(false);
    expect(followsFromRefusedRow(read, { kind: 'services', index: cie, field: 'name', message: 'too long' })).toBe(false);
    expect(followsFromRefusedRow(read, { kind: 'entities', index: 0, field: 'isCircuitOwner', message: 'the network needs one circuit owner' })).toBe(true);
    expect(followsFromRefusedRow(readNetwork(fixtureFiles()), { kind: 'entities', index: 0, field: 'isCircuitOwner', message: 'one circuit owner only' })).toBe(false);
  });

  it('a file that is not CSV (an unclosed quote) says where', () => {
    expect(one('users', 'username,role,entityId\nok,admin,\n"broken,admin,\n')[0]).toMatch(/^users\.csv:\d+: not readable as CSV/);
  });
});

describe('the files of an import, and what it would do', () => {
  it('a directory gives its files of known names; a file must be named as one kind, and each kind given once', () => {
    expect(networkFiles([FIXTURE]).map((f) => f.kind)).toEqual(NETWORK_KINDS);
    expect(networkFiles([path.join(FIXTURE, 'terminals.csv'), path.join(FIXTURE, 'counters.csv')]).map((f) => f.kind)).toEqual(['counters', 'terminals']);
    expect(() => networkFiles([path.join(ROOT, 'package.json')])).toThrow(/not a network file; the files are named entities\.csv, circuit-fees\.csv/);
    expect(() => networkFiles([FIXTURE, path.join(FIXTURE, 'users.csv')])).toThrow(/are both users\.csv/);
    expect(() => networkFiles([path.join(ROOT, 'docs')])).toThrow(/holds none of/);
  });

  it('counts new, changed and unchanged items against the stored network', () => {
    const change = readNetwork(fixtureFiles()).change;
    const state = asState(structuredClone(change));
    state.counters[0] = { ...state.counters[0]!, creditLimitCents: 1 };
    state.terminals.pop();
    const counts = wouldDo(change, state);
    expect(counts.counters).toEqual({ created: 0, updated: 1, unchanged: 2 });
    expect(counts.terminals).toEqual({ created: 1, updated: 0, unchanged: 3 });
    expect(counts.feeSchedules).toEqual({ created: 0, updated: 0, unchanged: 15 });
  });
});
