// checkNetworkChange: the demo network as a first import passes; each rule refuses what
// it should, naming the list, the item and the field; all problems come at once.
import { DEMO_PAGOPA_FISCAL_CODE, pagopaCatalogueChange } from '../../src/network/pagopa-catalogue.js';
import { describe, expect, it } from 'vitest';
import type { NetworkChange, NetworkKind, NetworkState } from '../../src/network/change.js';
import { checkNetworkChange } from '../../src/network/validate.js';
import { demoChange } from './support.js';

const TODAY = '2026-11-23';
const EMPTY: NetworkState = { entities: [], circuitFees: [], services: [], feeSchedules: [], counters: [], terminals: [], users: [] };
/** The demo network as stored: what later changes are checked against. */
const STORED = demoChange() as NetworkState;

type Demo = ReturnType<typeof demoChange>;
/** A change made from the demo by an edit; checked against `on`. */
interface Case {
  rule: string;
  on: NetworkState;
  edit: (c: Demo) => NetworkChange;
  problem: { kind: string; index: number; field?: string; message: RegExp };
}

const one = <K extends NetworkKind>(c: Demo, kind: K, index: number, patch: Partial<Demo[K][number]>): NetworkChange => ({ [kind]: [{ ...c[kind][index]!, ...patch }] });
const onEmpty = (edit: (c: Demo) => void) => (c: Demo) => (edit(c), c);

const CASES: Case[] = [
  // formats
  { rule: 'entity id shape', on: EMPTY, edit: onEmpty((c) => (c.entities[1]!.id = 'toscana')), problem: { kind: 'entities', index: 1, field: 'id', message: /uppercase/ } },
  { rule: 'fiscal code check digit', on: EMPTY, edit: onEmpty((c) => (c.entities[2]!.fiscalCode = '00341620509')), problem: { kind: 'entities', index: 2, field: 'fiscalCode', message: /check digit/ } },
  { rule: 'VAT number check digit', on: EMPTY, edit: onEmpty((c) => (c.entities[0]!.vatNumber = '00337360979')), problem: { kind: 'entities', index: 0, field: 'vatNumber', message: /partita IVA/ } },
  { rule: 'IBAN check digits', on: EMPTY, edit: onEmpty((c) => (c.entities[3]!.iban = 'IT74Y0200813900000102345678')), problem: { kind: 'entities', index: 3, field: 'iban', message: /IBAN/ } },
  { rule: 'office code shape', on: EMPTY, edit: onEmpty((c) => (c.entities[1]!.officeCode = 'ufrts1')), problem: { kind: 'entities', index: 1, field: 'officeCode', message: /6 uppercase/ } },
  { rule: 'reserved segregation code', on: EMPTY, edit: onEmpty((c) => (c.entities[1]!.segregationCode = '96')), problem: { kind: 'entities', index: 1, field: 'segregationCode', message: /reserved/ } },
  { rule: 'integer cents', on: EMPTY, edit: onEmpty((c) => (c.circuitFees[0]!.feeCents = 20.5)), problem: { kind: 'circuitFees', index: 0, field: 'feeCents', message: /integer/ } },
  { rule: 'calendar date', on: EMPTY, edit: onEmpty((c) => (c.circuitFees[1]!.effectiveFrom = '2026-02-30')), problem: { kind: 'circuitFees', index: 1, field: 'effectiveFrom', message: /calendar/ } },
  { rule: 'F needs its tariff', on: EMPTY, edit: onEmpty((c) => (c.services.find((s) => s.amountKind === 'F')!.fixedCents = null)), problem: { kind: 'services', index: -1, field: 'fixedCents', message: /required for amount kind F/ } },
  { rule: 'no amount kind C', on: EMPTY, edit: onEmpty((c) => (c.services[0]!.amountKind = 'C')), problem: { kind: 'services', index: 0, field: 'amountKind', message: /not supported/ } },
  { rule: 'L has no bounds', on: EMPTY, edit: onEmpty((c) => (c.services[0]!.minCents = 100)), problem: { kind: 'services', index: 0, field: 'minCents', message: /must be null/ } },
  { rule: 'identifier kind known', on: EMPTY, edit: onEmpty((c) => ((c.services[0] as { identifierKind: string }).identifierKind = 'iban')), problem: { kind: 'services', index: 0, field: 'identifierKind', message: /./ } },
  { rule: 'commission rate in [0, 1]', on: EMPTY, edit: onEmpty((c) => (c.feeSchedules[0]!.commissionRate = '1.5')), problem: { kind: 'feeSchedules', index: 0, field: 'commissionRate', message: /between 0 and 1/ } },
  { rule: 'fee rule shape', on: EMPTY, edit: onEmpty((c) => (c.feeSchedules[0]!.feeRule = { type: 'fixed', cents: -1 })), problem: { kind: 'feeSchedules', index: 0, field: 'feeRule.cents', message: /negative/ } },
  { rule: 'tiers end unbounded', on: EMPTY, edit: onEmpty((c) => (c.feeSchedules[0]!.feeRule = { type: 'tiers', tiers: [{ upToCents: 100, cents: 1 }] })), problem: { kind: 'feeSchedules', index: 0, field: 'feeRule.tiers', message: /last tier/ } },
  { rule: 'credit limit not negative', on: EMPTY, edit: onEmpty((c) => (c.counters[2]!.creditLimitCents = -1)), problem: { kind: 'counters', index: 2, field: 'creditLimitCents', message: /negative/ } },
  { rule: 'terminal id fits field 41', on: EMPTY, edit: onEmpty((c) => (c.terminals[0]!.id = 'T000000001')), problem: { kind: 'terminals', index: 0, field: 'id', message: /ISO field 41/ } },
  { rule: 'entity user names its entity', on: EMPTY, edit: onEmpty((c) => (c.users[1]!.entityId = null)), problem: { kind: 'users', index: 1, field: 'entityId', message: /entity user/ } },
  // references
  { rule: "service's entity exists", on: EMPTY, edit: onEmpty((c) => (c.services[3]!.entityId = 'NOWHERE')), problem: { kind: 'services', index: 3, field: 'entityId', message: /no entity NOWHERE/ } },
  { rule: "fee schedule's service exists", on: STORED, edit: (c) => ({ feeSchedules: [{ ...c.feeSchedules[0]!, serviceCode: 'NOPE', effectiveFrom: '2027-01-01' }] }), problem: { kind: 'feeSchedules', index: 0, field: 'serviceCode', message: /no service NOPE/ } },
  { rule: "terminal's counter exists", on: STORED, edit: (c) => ({ terminals: [{ id: 'TNEW1', counterId: 'C9999', status: 'active' }], counters: c.counters.slice(0, 1) }), problem: { kind: 'terminals', index: 0, field: 'counterId', message: /no counter C9999/ } },
  { rule: "user's entity exists", on: STORED, edit: () => ({ users: [{ username: 'ente-x', role: 'entity', entityId: 'NOWHERE' }] }), problem: { kind: 'users', index: 0, field: 'entityId', message: /no entity NOWHERE/ } },
  // the network's rules
  { rule: 'one owner at least', on: EMPTY, edit: onEmpty((c) => (c.entities[0]!.isCircuitOwner = false)), problem: { kind: 'entities', index: 0, field: 'isCircuitOwner', message: /needs one circuit owner/ } },
  { rule: 'one owner at most', on: EMPTY, edit: onEmpty((c) => (c.entities[1]!.isCircuitOwner = true)), problem: { kind: 'entities', index: 0, field: 'isCircuitOwner', message: /one circuit owner only/ } },
  { rule: 'the owner owes no circuit fee', on: STORED, edit: () => ({ circuitFees: [{ entityId: 'PRATO', effectiveFrom: '2027-01-01', feeCents: 10, mode: 'netted' }] }), problem: { kind: 'circuitFees', index: 0, field: 'entityId', message: /owns the circuit/ } },
  { rule: 'the owner does not change', on: STORED, edit: (c) => one(c, 'entities', 0, { isCircuitOwner: false }), problem: { kind: 'entities', index: 0, field: 'isCircuitOwner', message: /cannot change once created/ } },
  { rule: 'fiscal codes are unique', on: STORED, edit: (c) => one(c, 'entities', 2, { fiscalCode: c.entities[1]!.fiscalCode }), problem: { kind: 'entities', index: 0, field: 'fiscalCode', message: /both RTOSCANA's and PISA's/ } },
  { rule: 'an item comes once', on: EMPTY, edit: onEmpty((c) => c.counters.push(c.counters[0]!)), problem: { kind: 'counters', index: 5, message: /twice/ } },
  { rule: "a counter's kind is fixed", on: STORED, edit: (c) => one(c, 'counters', 0, { kind: c.counters[0]!.kind === 'agenzia' ? 'tabaccaio' : 'agenzia' }), problem: { kind: 'counters', index: 0, field: 'kind', message: /cannot change once created/ } },
  { rule: "a service's entity is fixed", on: STORED, edit: (c) => one(c, 'services', 0, { entityId: 'PISA' }), problem: { kind: 'services', index: 0, field: 'entityId', message: /cannot change/ } },
  { rule: "a service's identifier kind is fixed", on: STORED, edit: (c) => one(c, 'services', 0, { identifierKind: 'plate' }), problem: { kind: 'services', index: 0, field: 'identifierKind', message: /cannot change/ } },
  { rule: 'a terminal stays with its counter', on: STORED, edit: (c) => one(c, 'terminals', 0, { counterId: c.counters[1]!.id }), problem: { kind: 'terminals', index: 0, field: 'counterId', message: /cannot change/ } },
  // money never changes retroactively
  { rule: 'a new fee version starts after today', on: STORED, edit: (c) => ({ feeSchedules: [{ ...c.feeSchedules[0]!, effectiveFrom: TODAY }] }), problem: { kind: 'feeSchedules', index: 0, field: 'effectiveFrom', message: /after today \(2026-11-23\)/ } },
  { rule: 'a new circuit fee version starts after today', on: STORED, edit: () => ({ circuitFees: [{ entityId: 'PISA', effectiveFrom: '2025-01-01', feeCents: 30, mode: 'rebilled' }] }), problem: { kind: 'circuitFees', index: 0, field: 'effectiveFrom', message: /retroactively/ } },
  { rule: 'a version is never changed', on: STORED, edit: (c) => ({ feeSchedules: [{ ...c.feeSchedules[0]!, royaltyCents: 11 }] }), problem: { kind: 'feeSchedules', index: 0, message: /never changed/ } },
];

describe('checkNetworkChange', () => {
  it('accepts the demo network as a first import, whatever its dates', () => {
    expect(checkNetworkChange(EMPTY, demoChange(), TODAY)).toEqual([]);
  });

  it("takes today's versions of a service or entity the same change creates (no payment was ever booked under them), and the PAGOPA entry of the pagoPA bridge", () => {
    const change = pagopaCatalogueChange({ fiscalCode: DEMO_PAGOPA_FISCAL_CODE, iban: STORED.entities[0]!.iban, from: TODAY, royaltyCents: 10 });
    expect(checkNetworkChange(STORED, change, TODAY)).toEqual([]);
    // Once the service exists, a version of it from today is retroactive again.
    const stored = { ...STORED, entities: [...STORED.entities, ...change.entities!], services: [...STORED.services, ...change.services!], feeSchedules: [...STORED.feeSchedules, ...change.feeSchedules!] } as NetworkState;
    const later = { feeSchedules: [{ ...change.feeSchedules![0]!, effectiveFrom: TODAY, royaltyCents: 20 }] };
    expect(checkNetworkChange(stored, later, TODAY)).toMatchObject([{ kind: 'feeSchedules', index: 0 }]);
    const { entities: _e, services: _s, ...withoutItems } = change;
    expect(checkNetworkChange(STORED, withoutItems, TODAY).map((p) => p.field)).toContain('serviceCode');
  });

  it('accepts the stored network sent again (nothing changes) and future versions', () => {
    const c = demoChange();
    expect(checkNetworkChange(STORED, c, TODAY)).toEqual([]);
    expect(checkNetworkChange(STORED, { feeSchedules: [{ ...c.feeSchedules[0]!, effectiveFrom: '2026-11-24' }], circuitFees: [{ entityId: 'PISA', effectiveFrom: '2026-11-24', feeCents: 30, mode: 'rebilled' }] }, TODAY)).toEqual([]);
  });

  it.each(CASES)('refuses: $rule', ({ on, edit, problem }) => {
    const change = edit(demoChange());
    const problems = checkNetworkChange(on, change, TODAY);
    const index = problem.index === -1 ? (change.services ?? []).findIndex((s) => s.amountKind === 'F') : problem.index;
    expect(problems).toContainEqual({ kind: problem.kind, index, ...(problem.field ? { field: problem.field } : {}), message: expect.stringMatching(problem.message) });
  });

  it('tells every problem of a change, not only the first', () => {
    const c = demoChange();
    c.entities[1]!.iban = 'IT00';
    c.counters[0]!.creditLimitCents = -5;
    c.services[0]!.entityId = 'NOWHERE';
    const problems = checkNetworkChange(EMPTY, c, TODAY);
    expect(problems.map((p) => `${p.kind}[${p.index}].${p.field}`)).toEqual(expect.arrayContaining(['entities[1].iban', 'counters[0].creditLimitCents', 'services[0].entityId']));
  });
});
