// The door on a real store (SQLite file, or PostgreSQL as the suite runs): a valid change
// applied reads back as sent (a property over generated changes), with one audit entry
// per changed item and one network.changed event; a change with one bad item writes
// nothing; a retroactive fee is refused; new credentials work once.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTmk, verifySecret } from '../../src/auth/secrets.js';
import type { NetworkChange, NetworkState } from '../../src/network/change.js';
import { NetworkService } from '../../src/network/service.js';
import type { EventRow, Store } from '../../src/store/types.js';
import { testClock, testToday } from '../helpers/clock.js';
import { demoChange, emptyStore } from './support.js';

const KEK = Buffer.alloc(32, 7);
let store: Store;
let close: () => Promise<void>;
let service: NetworkService;
const events: EventRow[] = [];

beforeAll(async () => {
  ({ store, close } = await emptyStore());
  store.onCommit((e) => events.push(...e));
  service = new NetworkService(store, KEK, testClock);
});
afterAll(() => close());

const byKey = <T>(xs: T[], key: (x: T) => string) => [...xs].sort((a, b) => (key(a) < key(b) ? -1 : 1));
const sorted = (s: NetworkState): NetworkState => ({
  entities: byKey(s.entities, (e) => e.id),
  circuitFees: byKey(s.circuitFees, (f) => `${f.entityId}/${f.effectiveFrom}`),
  services: byKey(s.services, (x) => x.code),
  feeSchedules: byKey(s.feeSchedules, (f) => `${f.serviceCode}/${f.counterKind}/${f.effectiveFrom}`),
  counters: byKey(s.counters, (c) => c.id),
  terminals: byKey(s.terminals, (t) => t.id),
  users: byKey(s.users, (u) => u.username),
});
const count = async (sql: string) => (await store.listAudit({}, null, 1000)).items.filter((a) => a.action.startsWith(sql)).length;

describe('applying a network change', () => {
  it('a change with one bad item writes nothing and says what is wrong', async () => {
    const c = demoChange();
    c.terminals[2]!.counterId = 'C9999';
    const r = await service.apply(c, 'admin');
    expect(r).toEqual({ ok: false, problems: [{ kind: 'terminals', index: 2, field: 'counterId', message: 'no counter C9999 in the network or the change' }] });
    expect(await store.isEmpty()).toBe(true);
    expect(sorted(await store.networkState())).toEqual(sorted({ entities: [], circuitFees: [], services: [], feeSchedules: [], counters: [], terminals: [], users: [] }));
  });

  it('the store itself writes nothing when one statement fails (all or nothing)', async () => {
    const c = demoChange();
    // Past the validation: a user of an entity that does not exist fails on its foreign key, last.
    c.users.push({ username: 'ghost', role: 'entity', entityId: 'GHOST' });
    const secrets = { terminals: new Map(c.terminals.map((t) => [t.id, { tmkSealed: 'x', secretHash: 'y' }])), users: new Map(c.users.map((u) => [u.username, { passwordHash: 'z' }])) };
    await expect(store.applyNetworkChange(c, secrets, 'admin')).rejects.toThrow();
    expect(await store.isEmpty()).toBe(true);
    expect(await count('entity.')).toBe(0);
  });

  it('a first import applies whole: audited per item, one event, credentials shown once', async () => {
    const c = demoChange();
    const before = events.length;
    const r = await service.apply(c, 'admin');
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.applied.entities).toEqual({ created: c.entities.length, updated: 0, unchanged: 0 });
    expect(r.applied.feeSchedules.created).toBe(c.feeSchedules.length);
    expect(sorted(await store.networkState())).toEqual(sorted(c as NetworkState));
    // Audit: one entry per item, never a secret.
    expect(await count('entity.save')).toBe(c.entities.length);
    expect(await count('fee_schedule.add')).toBe(c.feeSchedules.length);
    expect(await count('terminal.create')).toBe(c.terminals.length);
    const audit = JSON.stringify((await store.listAudit({}, null, 1000)).items);
    for (const t of r.credentials.terminals) expect(audit).not.toContain(t.apiSecret);
    // One event, for finance and admin: what changed, counted.
    await expect.poll(() => events.length).toBe(before + 1);
    expect(events.at(-1)).toMatchObject({ type: 'network.changed', terminalId: null, counterId: null, entityId: null, payload: { services: { created: c.services.length } } });
    // The credentials: a TMK sealed under the KEK, an API secret and a password that verify.
    const t = r.credentials.terminals[0]!;
    const stored = (await store.getTerminal(t.terminalId))!;
    expect(openTmk(KEK, t.terminalId, stored.tmkSealed).toString('hex')).toBe(t.tmk);
    expect(await verifySecret(t.apiSecret, stored.secretHash)).toBe(true);
    const u = r.credentials.users.find((x) => x.username === 'ente-pisa')!;
    expect(await verifySecret(u.password, (await store.getUser('ente-pisa'))!.passwordHash)).toBe(true);
  });

  it('the same change again changes nothing: no audit entry, no event', async () => {
    const before = { events: events.length, audit: await count('') };
    const r = await service.apply(demoChange(), 'admin');
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(Object.values(r.applied).every((k) => k.created === 0 && k.updated === 0)).toBe(true);
    expect(r.credentials).toEqual({ terminals: [], users: [] });
    expect(await count('')).toBe(before.audit);
    expect(events.length).toBe(before.events);
  });

  it('refuses a retroactive fee on a configured network, and takes one from tomorrow', async () => {
    const fee = demoChange().feeSchedules[0]!;
    const today = await service.apply({ feeSchedules: [{ ...fee, effectiveFrom: testToday() }] }, 'admin');
    expect(today).toMatchObject({ ok: false, problems: [{ kind: 'feeSchedules', index: 0, field: 'effectiveFrom' }] });
    const tomorrow = new Date(Date.parse(`${testToday()}T12:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const r = await service.apply({ feeSchedules: [{ ...fee, effectiveFrom: tomorrow, feeRule: { type: 'fixed', cents: 999 } }] }, 'admin');
    expect(r).toMatchObject({ ok: true, applied: { feeSchedules: { created: 1 } } });
    const last = (await store.listAudit({}, null, 1)).items[0]!;
    expect(last).toMatchObject({ action: 'fee_schedule.add', actor: 'admin' });
    expect(JSON.parse(String(last.detail))).toMatchObject({ created: true, feeRule: { cents: 999 } });
  });

  it('an update is audited with what changed, from and to', async () => {
    const c = demoChange();
    const r = await service.apply({ counters: [{ ...c.counters[0]!, creditLimitCents: 123_400, status: 'suspended' }] }, 'admin');
    expect(r).toMatchObject({ ok: true, applied: { counters: { updated: 1 } } });
    const last = (await store.listAudit({}, null, 1)).items[0]!;
    expect(last).toMatchObject({ action: 'counter.save', target: c.counters[0]!.id });
    expect(JSON.parse(String(last.detail))).toEqual({ creditLimitCents: { from: c.counters[0]!.creditLimitCents, to: 123_400 }, status: { from: 'active', to: 'suspended' } });
    expect((await store.getCounter(c.counters[0]!.id))!.status).toBe('suspended');
  });

  it('an entity flagged pagopa reads back flagged, in the network and in the catalogue, audited from and to', async () => {
    const c = demoChange();
    const pisa = c.entities.find((e) => e.id === 'PISA')!;
    expect(pisa.pagopa).toBe(false);
    const r = await service.apply({ entities: [{ ...pisa, pagopa: true }] }, 'admin');
    expect(r).toMatchObject({ ok: true, applied: { entities: { updated: 1 } } });
    const last = (await store.listAudit({}, null, 1)).items[0]!;
    expect(last).toMatchObject({ action: 'entity.save', target: 'PISA', actor: 'admin' });
    expect(JSON.parse(String(last.detail))).toEqual({ pagopa: { from: false, to: true } });
    expect((await store.networkState()).entities.find((e) => e.id === 'PISA')!.pagopa).toBe(true);
    const catalogue = await store.loadCatalogue();
    expect(catalogue.entities.get('PISA')!.pagopa).toBe(true);
    expect(catalogue.entities.get('PRATO')!.pagopa).toBe(false);
    // A new entity may start flagged; the flag is a boolean, nothing else.
    const empoli = { ...pisa, id: 'EMPOLI', name: 'Comune di Empoli', fiscalCode: '01329160483', vatNumber: null, segregationCode: null, pagopa: true };
    expect(await service.apply({ entities: [empoli] }, 'admin')).toMatchObject({ ok: true, applied: { entities: { created: 1 } } });
    expect(JSON.parse(String((await store.listAudit({}, null, 1)).items[0]!.detail))).toMatchObject({ created: true, pagopa: true });
    expect((await store.loadCatalogue()).entities.get('EMPOLI')!.pagopa).toBe(true);
    const bad = await service.apply({ entities: [{ ...empoli, pagopa: 'si' as unknown as boolean }] }, 'admin');
    expect(bad).toMatchObject({ ok: false, problems: [{ kind: 'entities', index: 0, field: 'pagopa' }] });
    // Back as it was, for the tests that follow.
    expect(await service.apply({ entities: [pisa] }, 'admin')).toMatchObject({ ok: true, applied: { entities: { updated: 1 } } });
  });

  it('round trip: whatever valid edits are applied, the network reads back as the change made it', async () => {
    const demo = demoChange();
    const edit = fc.record({
      service: fc.nat(demo.services.length - 1),
      enabled: fc.boolean(),
      name: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim() === s && s.length > 0),
      counter: fc.nat(demo.counters.length - 1),
      limit: fc.nat(10_000_000),
      entity: fc.nat(demo.entities.length - 1),
      officeCode: fc.option(fc.stringMatching(/^[A-Z0-9]{6}$/), { nil: null }),
      pagopa: fc.boolean(),
      newCounter: fc.boolean(),
    });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(edit, async (e) => {
        const before = await store.networkState();
        const id = `CP${String(++n).padStart(4, '0')}`;
        const change: NetworkChange = {
          services: [{ ...before.services.find((s) => s.code === demo.services[e.service]!.code)!, enabled: e.enabled, name: e.name }],
          counters: [
            { ...before.counters.find((c) => c.id === demo.counters[e.counter]!.id)!, creditLimitCents: e.limit },
            ...(e.newCounter ? [{ ...demo.counters[0]!, id, status: 'active' as const }] : []),
          ],
          terminals: e.newCounter ? [{ id: `TP${String(n).padStart(4, '0')}`, counterId: id, status: 'active' }] : [],
          entities: [{ ...before.entities.find((x) => x.id === demo.entities[e.entity]!.id)!, officeCode: e.officeCode, pagopa: e.pagopa }],
        };
        const r = await service.apply(change, 'admin');
        if (!r.ok) throw new Error(JSON.stringify(r.problems));
        // Expected: the state before, with the change's items put in by key.
        const expected = structuredClone(before);
        const put = <T>(list: T[], items: T[] | undefined, key: (x: T) => string) => {
          for (const x of items ?? []) {
            const i = list.findIndex((y) => key(y) === key(x));
            if (i >= 0) list[i] = x;
            else list.push(x);
          }
        };
        put(expected.services, change.services, (s) => s.code);
        put(expected.counters, change.counters, (c) => c.id);
        put(expected.terminals, change.terminals, (t) => t.id);
        put(expected.entities, change.entities, (x) => x.id);
        expect(sorted(await store.networkState())).toEqual(sorted(expected));
      }),
      { numRuns: 15 },
    );
  });

  it('a create that finds its item already made (another instance, since the check) is refused whole: no credentials for a terminal it did not store', async () => {
    const before = await store.networkState();
    const counter = { ...before.counters[0]!, id: 'CRACE1' };
    // A second door whose check sees the network as it was before the other's create.
    const stale = new NetworkService(Object.assign(Object.create(store) as Store, { networkState: () => Promise.resolve(before) }), KEK, testClock);
    const first = await service.apply({ counters: [counter], terminals: [{ id: 'TRACE001', counterId: 'CRACE1', status: 'active' }] }, 'admin');
    expect(first.ok).toBe(true);
    const sealedBefore = (await store.sealedTerminalKeys()).find((t) => t.id === 'TRACE001')!.tmkSealed;

    const late = await stale.apply({ counters: [counter], terminals: [{ id: 'TRACE001', counterId: 'CRACE1', status: 'active' }] }, 'admin');
    expect(late).toEqual({ ok: false, problems: [{ kind: 'terminals', index: 0, message: 'terminals TRACE001 exists already: it was created meanwhile' }] });
    expect((await store.sealedTerminalKeys()).find((t) => t.id === 'TRACE001')!.tmkSealed).toBe(sealedBefore);

    // A create (mustBeNew) is refused by the check, and by the store when the check saw it absent.
    const again = await service.apply({ counters: [{ ...counter, name: 'Other' }], mustBeNew: ['counters'] }, 'admin');
    expect(again).toEqual({ ok: false, problems: [{ kind: 'counters', index: 0, message: 'CRACE1 exists already: this creates, it does not change' }] });
    const raced = await stale.apply({ counters: [{ ...counter, name: 'Other' }], mustBeNew: ['counters'] }, 'admin');
    expect(raced).toEqual({ ok: false, problems: [{ kind: 'counters', index: 0, message: 'counters CRACE1 exists already: it was created meanwhile' }] });
    expect((await store.networkState()).counters.find((c) => c.id === 'CRACE1')!.name).toBe(counter.name);
  });
});
