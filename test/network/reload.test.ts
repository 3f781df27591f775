// A running switch serves what the door changes, without restart: a service added (with
// fees from tomorrow: money never changes retroactively) is refused today and paid
// tomorrow; a service disabled is refused at once. On PostgreSQL the change is made by
// another instance (its own PgStore on the same database): this switch hears of it by
// the event log's LISTEN/NOTIFY. The network.changed event is for finance and admin only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventRow } from '../../src/store/types.js';
import type { NetworkChange } from '../../src/network/change.js';
import { NetworkService } from '../../src/network/service.js';
import { PgStore } from '../../src/store/postgres/store.js';
import type { Store } from '../../src/store/types.js';
import { maySee } from '../../src/stream/server.js';
import { api, startHarness, type Harness } from '../helpers/harness.js';
import { testClock, testToday } from '../helpers/clock.js';

const VALID_CF = 'RSSMRA85T10A562S';
const DAY = 86_400_000;
let shift = 0;
const clock = () => testClock() + shift;
let h: Harness;
let door: Store;
let network: NetworkService;
let n = 0;

beforeAll(async () => {
  h = await startHarness({ positions: 200, clock });
  // PostgreSQL: the change comes from another instance on the same database.
  door = h.config.database ? await PgStore.open(h.config.database.url, { poolSize: 2, clock }) : h.rt.store;
  network = new NetworkService(door, h.rt.kek, clock);
});
afterAll(async () => {
  if (door !== h.rt.store) await door.close();
  await h.close();
});

async function pay(service: string, amount: number) {
  const terminal = h.credentials.terminals[0]!.terminalId;
  const res = await api(h)
    .post('/v1/payments')
    .set('authorization', `Bearer ${h.terminalToken(terminal)}`)
    .set('idempotency-key', `reload-${++n}`)
    .send({ service, identifier: VALID_CF, amount });
  return { status: res.status, code: (res.body as { code?: string }).code };
}

async function apply(change: NetworkChange) {
  const r = await network.apply(change, 'admin');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
}

describe('a running switch and the door', () => {
  it('serves a service added through the door from the day its fees start, without restart', async () => {
    expect(await pay('NUOVO', 700)).toMatchObject({ status: 404, code: 'SERVICE_UNKNOWN' });
    const tomorrow = new Date(Date.parse(`${testToday()}T12:00:00Z`) + DAY).toISOString().slice(0, 10);
    await apply({
      services: [{ code: 'NUOVO', name: 'Nuovo servizio', entityId: 'PRATO', amountKind: 'F', identifierKind: 'fiscal_code', rule: null, fixedCents: 700, minCents: null, maxCents: null, enabled: true }],
      feeSchedules: (['tabaccaio', 'agenzia', 'supermercato'] as const).map((counterKind) => ({
        serviceCode: 'NUOVO',
        counterKind,
        effectiveFrom: tomorrow,
        feeRule: { type: 'fixed' as const, cents: 120 },
        commissionRate: '0.70',
        royaltyCents: 10,
      })),
    });
    await expect.poll(() => h.payments.service('NUOVO')?.name).toBe('Nuovo servizio');
    // Known now, but no fee is in force before tomorrow.
    expect(await pay('NUOVO', 700)).toMatchObject({ status: 403, code: 'SERVICE_NOT_ALLOWED' });
    shift = DAY;
    expect(await pay('NUOVO', 700)).toMatchObject({ status: 201 });
  });

  it('refuses a service disabled through the door at once', async () => {
    expect(await pay('CERTIFICATI', 100)).toMatchObject({ status: 201 });
    const certificati = (await door.networkState()).services.find((s) => s.code === 'CERTIFICATI')!;
    await apply({ services: [{ ...certificati, enabled: false }] });
    await expect.poll(() => h.payments.service('CERTIFICATI')?.enabled).toBe(false);
    expect(await pay('CERTIFICATI', 100)).toMatchObject({ status: 403, code: 'SERVICE_DISABLED' });
  });

  it('refuses a counter suspended through the door at once (its cached row forgotten on every instance)', async () => {
    const counterId = h.credentials.terminals[0]!.counterId;
    expect(await pay('MUSICA', 9000)).toMatchObject({ status: 201 });
    const counter = (await door.networkState()).counters.find((c) => c.id === counterId)!;
    await apply({ counters: [{ ...counter, status: 'suspended' }] });
    await expect.poll(async () => (await pay('MUSICA', 9000)).code).toBe('COUNTER_SUSPENDED');
  });

  it('sees an entity flagged pagopa through the door, without restart', async () => {
    expect(h.payments.entities.find((e) => e.id === 'PISA')!.pagopa).toBe(false);
    const pisa = (await door.networkState()).entities.find((e) => e.id === 'PISA')!;
    await apply({ entities: [{ ...pisa, pagopa: true }] });
    await expect.poll(() => h.payments.entities.find((e) => e.id === 'PISA')!.pagopa).toBe(true);
    expect(h.payments.entities.filter((e) => e.pagopa).map((e) => e.id)).toEqual(['PISA']);
    await apply({ entities: [pisa] });
    await expect.poll(() => h.payments.entities.find((e) => e.id === 'PISA')!.pagopa).toBe(false);
  });

  it('tells network.changed to finance and admin, never to a terminal or an entity', () => {
    const e: EventRow = { seq: 1, type: 'network.changed', at: 0, terminalId: null, counterId: null, entityId: null, serviceCode: null, payload: {} };
    expect(maySee({ role: 'finance', username: 'finance' }, 'terminal', e)).toBe(true);
    expect(maySee({ role: 'admin', username: 'admin' }, 'terminal', e)).toBe(true);
    expect(maySee({ role: 'entity', username: 'ente-prato', entityId: 'PRATO' }, 'terminal', e)).toBe(false);
    expect(maySee({ role: 'terminal', terminalId: 'T0001', counterId: 'C0001' }, 'counter', e)).toBe(false);
  });
});
