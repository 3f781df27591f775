// Admin API of the network's configuration (issue 13): entities and circuit fees,
// services, fee schedules, counters and users over real HTTP, on a switch whose clock
// the test moves (a fee version from tomorrow applies to payments booked tomorrow).
// Every write is audited; bad input is a 422 listing every problem; only admins write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codiceFiscaleCheckChar, partitaIvaCheckDigit } from '../../src/domain/fiscal-code.js';
import { addDays, romeDate } from '../../src/domain/calendar.js';
import { italianIban } from '../../fixtures/generator.js';
import { runningClock } from '../helpers/clock.js';
import { bearer, expectProblem, idemKey, setup, TerminalPool, type Ctx } from './support.js';

const DAY = 86_400_000;
let shift = 0;
const base = runningClock();
/** The switch's clock: the test clock, moved by whole days when a test says so. */
const clock = () => base() + shift;
const today = () => romeDate(clock());

let c: Ctx;
let pool: TerminalPool;
let admin: Record<string, string>;
let finance: Record<string, string>;
beforeAll(async () => {
  c = await setup(300, clock);
  pool = new TerminalPool(c.h, 'tabaccaio');
  admin = bearer(c.h.userToken('admin'));
  finance = bearer(c.h.userToken('finance'));
});
afterAll(async () => {
  await c?.close();
});

const partitaIva = (first10: string) => first10 + partitaIvaCheckDigit(first10);
const fiscalCode = (first15: string) => first15 + codiceFiscaleCheckChar(first15);

const EMPOLI = {
  name: 'Comune di Empoli',
  fiscalCode: partitaIva('0132916048'),
  vatNumber: partitaIva('0132916048'),
  iban: italianIban('03069', '37830', '000000012345'),
  officeCode: 'UFEMP1',
  isCircuitOwner: false,
  segregationCode: '31',
};
const COUNTER = {
  kind: 'tabaccaio',
  name: 'Tabaccheria Nuova',
  address: 'Via Roma 1',
  town: 'Empoli',
  iban: italianIban('08673', '37830', '000000054321'),
  mandateRef: 'MNDT-NEW-0001',
  creditLimitCents: 500_000,
};

async function audit(action: string, target: string) {
  const res = await c.api().get('/v1/admin/audit').query({ action, target }).set(admin);
  expect(res.status, res.text).toBe(200);
  return res.body.items as { actor: string; action: string; target: string; detail: unknown }[];
}

function problemFields(res: { text: string }): string[] {
  return (JSON.parse(res.text).problems as { field?: string }[]).map((p) => p.field ?? '').sort();
}

async function pay(auth: Record<string, string>, service: string, identifier: string, amount: number) {
  return c.api().post('/v1/payments').set(auth).set('Idempotency-Key', idemKey()).send({ service, identifier, amount });
}

describe('entities', () => {
  it('PUT creates (201) then replaces (200); GET lists and shows it; both audited under the admin', async () => {
    const created = await c.api().put('/v1/admin/entities/EMPOLI').set(admin).send(EMPOLI);
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ id: 'EMPOLI', ...EMPOLI, circuitFees: [] });
    const replaced = await c.api().put('/v1/admin/entities/EMPOLI').set(admin).send({ ...EMPOLI, name: 'Comune di Empoli (FI)', officeCode: null });
    expect(replaced.status, replaced.text).toBe(200);
    expect(replaced.body).toMatchObject({ name: 'Comune di Empoli (FI)', officeCode: null });

    const one = await c.api().get('/v1/admin/entities/EMPOLI').set(finance);
    expect(one.status).toBe(200);
    expect(one.body.name).toBe('Comune di Empoli (FI)');
    const all = await c.api().get('/v1/admin/entities').set(finance);
    expect(all.body.map((e: { id: string }) => e.id)).toEqual(expect.arrayContaining(['PRATO', 'EMPOLI']));
    const rows = await audit('entity.save', 'EMPOLI');
    expect(rows.length).toBe(2);
    expect(rows.every((r) => r.actor === 'admin:admin')).toBe(true);
  });

  it('pagopa: a PUT flags an entity (omitted: false, as a whole replace); GET shows it; the running catalogue sees it; audited from and to', async () => {
    const flagged = await c.api().put('/v1/admin/entities/EMPOLIPA').set(admin).send({ ...EMPOLI, fiscalCode: partitaIva('0132916049'), vatNumber: null, segregationCode: null, pagopa: true });
    expect(flagged.status, flagged.text).toBe(201);
    expect(flagged.body).toMatchObject({ id: 'EMPOLIPA', pagopa: true });
    expect((await c.api().get('/v1/admin/entities/EMPOLIPA').set(finance)).body.pagopa).toBe(true);
    const all = (await c.api().get('/v1/admin/entities').set(finance)).body as { id: string; pagopa: boolean }[];
    expect(all.find((e) => e.id === 'PRATO')!.pagopa).toBe(false);
    await expect.poll(() => c.h.payments.entities.find((e) => e.id === 'EMPOLIPA')?.pagopa).toBe(true);
    expect(c.h.payments.entities.filter((e) => e.pagopa).map((e) => e.id)).toEqual(['EMPOLIPA']);
    expect((await audit('entity.save', 'EMPOLIPA'))[0]!.detail).toMatchObject({ created: true, pagopa: true });

    const cleared = await c.api().put('/v1/admin/entities/EMPOLIPA').set(admin).send({ ...EMPOLI, fiscalCode: partitaIva('0132916049'), vatNumber: null, segregationCode: null });
    expect(cleared.status, cleared.text).toBe(200);
    expect(cleared.body.pagopa).toBe(false);
    await expect.poll(() => c.h.payments.entities.find((e) => e.id === 'EMPOLIPA')?.pagopa).toBe(false);
    const rows = await audit('entity.save', 'EMPOLIPA');
    expect(rows.map((r) => r.detail)).toContainEqual({ pagopa: { from: true, to: false } });
    expectProblem(await c.api().put('/v1/admin/entities/EMPOLIPA').set(admin).send({ ...EMPOLI, pagopa: 'si' }), 422, 'NETWORK_INVALID');
  });

  it('bad input: 422 NETWORK_INVALID listing every problem, nothing written', async () => {
    const res = await c.api().put('/v1/admin/entities/BADENT').set(admin).send({ ...EMPOLI, fiscalCode: '12345678901', iban: 'IT00X0000000000000000000000', officeCode: 'x!' });
    expectProblem(res, 422, 'NETWORK_INVALID');
    expect(problemFields(res)).toEqual(['fiscalCode', 'iban', 'officeCode']);
    // Shapes too: every issue, not the first.
    const shapes = await c.api().put('/v1/admin/entities/BADENT').set(admin).send({ fiscalCode: 1, iban: 'IT', extra: true });
    expectProblem(shapes, 422, 'NETWORK_INVALID');
    expect(problemFields(shapes)).toEqual(expect.arrayContaining(['name', 'fiscalCode']));
    expect(JSON.parse(shapes.text).problems.length).toBeGreaterThanOrEqual(3);
    // Control characters in a text field, like everywhere else, and in the id of the path.
    const control = await c.api().put('/v1/admin/entities/BAD%0AENT').set(admin).send({ ...EMPOLI, name: 'Comune\u001b[31m' });
    expectProblem(control, 422, 'NETWORK_INVALID');
    expect(problemFields(control)).toContain('name');
    expectProblem(await c.api().get('/v1/admin/entities/BADENT').set(admin), 404, 'NOT_FOUND');
  });

  it('circuit fees: a version from tomorrow is added (201) and listed; today or earlier is refused 422; unknown entity 404', async () => {
    const tomorrow = addDays(today(), 1);
    const add = await c.api().post('/v1/admin/entities/EMPOLI/circuit-fees').set(admin).send({ effectiveFrom: tomorrow, feeCents: 25, mode: 'rebilled' });
    expect(add.status, add.text).toBe(201);
    const again = await c.api().post('/v1/admin/entities/EMPOLI/circuit-fees').set(admin).send({ effectiveFrom: tomorrow, feeCents: 25, mode: 'rebilled' });
    expect(again.status, again.text).toBe(200); // the same version: a no-op
    for (const effectiveFrom of [today(), addDays(today(), -30)]) {
      const res = await c.api().post('/v1/admin/entities/PRATO/circuit-fees').set(admin).send({ effectiveFrom, feeCents: 99, mode: 'netted' });
      expectProblem(res, 422, 'NETWORK_INVALID');
    }
    const list = await c.api().get('/v1/admin/entities/EMPOLI/circuit-fees').set(finance);
    expect(list.body).toEqual([{ entityId: 'EMPOLI', effectiveFrom: tomorrow, feeCents: 25, mode: 'rebilled' }]);
    expectProblem(await c.api().post('/v1/admin/entities/NOPE/circuit-fees').set(admin).send({ effectiveFrom: tomorrow, feeCents: 1, mode: 'netted' }), 404, 'NOT_FOUND');
    expectProblem(await c.api().get('/v1/admin/entities/NOPE/circuit-fees').set(admin), 404, 'NOT_FOUND');
    expect((await audit('circuit_fee.add', `EMPOLI/${tomorrow}`)).length).toBe(1);
  });
});

describe('who may', () => {
  it('terminals, entity users and finance are refused every write (403); terminals and entity users every read', async () => {
    const terminal = bearer(c.h.terminalToken(pool.take()));
    const entity = bearer(c.h.userToken('ente-prato'));
    const writes = [
      () => c.api().put('/v1/admin/entities/EMPOLI').send(EMPOLI),
      () => c.api().post('/v1/admin/entities/EMPOLI/circuit-fees').send({ effectiveFrom: addDays(today(), 2), feeCents: 1, mode: 'netted' }),
      () => c.api().put('/v1/admin/services/CERTIFICATI').send({}),
      () => c.api().post('/v1/admin/services/CERTIFICATI/disable'),
      () => c.api().post('/v1/admin/fee-schedules').send({}),
      () => c.api().post('/v1/admin/counters').send(COUNTER),
      () => c.api().put('/v1/admin/counters/C0001').send(COUNTER),
      () => c.api().put('/v1/admin/users/someone').send({ role: 'admin' }),
    ];
    for (const who of [terminal, entity, finance]) for (const w of writes) expectProblem(await w().set(who), 403, 'FORBIDDEN');
    for (const path of ['/v1/admin/entities', '/v1/admin/services', '/v1/admin/fee-schedules', '/v1/admin/users']) {
      for (const who of [terminal, entity]) expectProblem(await c.api().get(path).set(who), 403, 'FORBIDDEN');
      expect((await c.api().get(path).set(finance)).status).toBe(200);
    }
    expectProblem(await c.api().get('/v1/admin/entities'), 401, 'UNAUTHORIZED');
  });
});

describe('services', () => {
  it('PUT creates a service and replaces it; GET one and all; unknown 404', async () => {
    const body = { name: 'Diritti di segreteria Empoli', entityId: 'EMPOLI', amountKind: 'F', identifierKind: 'file_number', fixedCents: 1500 };
    const created = await c.api().put('/v1/admin/services/SEGRETEMP').set(admin).send(body);
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ code: 'SEGRETEMP', enabled: true, rule: null, minCents: null });
    const replaced = await c.api().put('/v1/admin/services/SEGRETEMP').set(admin).send({ ...body, fixedCents: 1600 });
    expect(replaced.status, replaced.text).toBe(200);
    expect((await c.api().get('/v1/admin/services/SEGRETEMP').set(finance)).body.fixedCents).toBe(1600);
    expect((await c.api().get('/v1/admin/services').set(admin)).body.length).toBeGreaterThan(30);
    expectProblem(await c.api().get('/v1/admin/services/NOPE').set(admin), 404, 'NOT_FOUND');
    expectProblem(await c.api().post('/v1/admin/services/NOPE/disable').set(admin), 404, 'NOT_FOUND');
    // Kind F without its tariff but with bounds: both told; then an entity that does not exist.
    const bad = await c.api().put('/v1/admin/services/SEGRETEMP2').set(admin).send({ ...body, fixedCents: null, maxCents: 100 });
    expectProblem(bad, 422, 'NETWORK_INVALID');
    expect(problemFields(bad)).toEqual(['fixedCents', 'maxCents']);
    const nowhere = await c.api().put('/v1/admin/services/SEGRETEMP2').set(admin).send({ ...body, entityId: 'NOWHERE' });
    expectProblem(nowhere, 422, 'NETWORK_INVALID');
    expect(problemFields(nowhere)).toEqual(['entityId']);
    // What may not change once created.
    const moved = await c.api().put('/v1/admin/services/SEGRETEMP').set(admin).send({ ...body, entityId: 'PRATO' });
    expect(problemFields(moved)).toEqual(['entityId']);
    expect((await audit('service.save', 'SEGRETEMP')).length).toBe(2);
  });

  it('a service disabled through the API is refused to a terminal at once, and payable again once enabled', async () => {
    const t = pool.take();
    const auth = bearer(c.h.terminalToken(t));
    const off = await c.api().post('/v1/admin/services/BIBLIOTECA/disable').set(admin);
    expect(off.status, off.text).toBe(200);
    expect(off.body.enabled).toBe(false);
    expectProblem(await pay(auth, 'BIBLIOTECA', 'USER1234', 500), 403, 'SERVICE_DISABLED');
    expect((await c.api().post('/v1/admin/services/BIBLIOTECA/enable').set(admin)).status).toBe(200);
    const ok = await pay(auth, 'BIBLIOTECA', 'USER1234', 500);
    expect(ok.status, ok.text).toBe(201);
  });
});

describe('counters and terminals', () => {
  it('a counter created through the API, then a terminal provisioned for it, can pay', async () => {
    const created = await c.api().post('/v1/admin/counters').set(admin).send(COUNTER);
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({ ...COUNTER, status: 'active' });
    expectProblem(await c.api().post('/v1/admin/counters').set(admin).send({ ...COUNTER, id }), 409, 'CONFLICT');

    const t = await c.api().post('/v1/admin/terminals').set(admin).send({ counterId: id });
    expect(t.status, t.text).toBe(201);
    const token = await c.api().post('/v1/auth/token').send({ terminalId: t.body.terminalId, secret: t.body.apiSecret });
    expect(token.status, token.text).toBe(200);
    const paid = await pay(bearer(token.body.token), 'CERTIFICATI', fiscalCode('RSSMRA80A01H501'), 100);
    expect(paid.status, paid.text).toBe(201);
    const detail = await c.api().get(`/v1/admin/counters/${id}`).set(admin);
    expect(detail.body.exposure).toBe(paid.body.total);
    expect((await audit('counter.save', id)).length).toBe(1);
  });

  it('counters created at once without ids each get their own', async () => {
    const made = await Promise.all([1, 2, 3].map((n) => c.api().post('/v1/admin/counters').set(admin).send({ ...COUNTER, name: `Tabacchi ${n}` })));
    for (const m of made) expect(m.status, m.text).toBe(201);
    const ids = made.map((m) => m.body.id as string);
    expect(new Set(ids).size).toBe(3);
    for (const [i, id] of ids.entries()) expect((await c.api().get(`/v1/admin/counters/${id}`).set(admin)).body.name).toBe(`Tabacchi ${i + 1}`);
  });

  it('PUT replaces a counter (status kept); its kind may not change; unknown 404; bad fields 422 each', async () => {
    const res = await c.api().put('/v1/admin/counters/C0002').set(admin).send({ ...COUNTER, name: 'Tabacchi Due' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: 'C0002', name: 'Tabacchi Due', status: 'active' });
    expect((await c.api().get('/v1/admin/counters/C0002').set(finance)).body.name).toBe('Tabacchi Due');
    expectProblem(await c.api().put('/v1/admin/counters/C9999').set(admin).send(COUNTER), 404, 'NOT_FOUND');
    const kind = await c.api().put('/v1/admin/counters/C0002').set(admin).send({ ...COUNTER, kind: 'agenzia' });
    expectProblem(kind, 422, 'NETWORK_INVALID');
    expect(problemFields(kind)).toEqual(['kind']);
    const bad = await c.api().post('/v1/admin/counters').set(admin).send({ ...COUNTER, iban: 'IT60X0542811101000000123457', mandateRef: 'ü'.repeat(40), creditLimitCents: -1 });
    expectProblem(bad, 422, 'NETWORK_INVALID');
    expect(problemFields(bad)).toEqual(['creditLimitCents', 'mandateRef']);
  });
});

describe('users', () => {
  it('PUT creates a user with a generated password shown once (201, no-store), then changes its role (200, no password)', async () => {
    const res = await c.api().put('/v1/admin/users/newops').set(admin).send({ role: 'finance' });
    expect(res.status, res.text).toBe(201);
    expect(res.headers['cache-control']).toMatch(/no-store/);
    expect(res.body).toMatchObject({ username: 'newops', role: 'finance', entityId: null });
    const login = await c.api().post('/v1/auth/login').send({ username: 'newops', password: res.body.password });
    expect(login.status, login.text).toBe(200);
    const again = await c.api().put('/v1/admin/users/newops').set(admin).send({ role: 'entity', entityId: 'EMPOLI' });
    expect(again.status, again.text).toBe(200);
    expect(again.body.password).toBeUndefined();
    // Its password is untouched.
    expect((await c.api().post('/v1/auth/login').send({ username: 'newops', password: res.body.password })).status).toBe(200);
    const list = await c.api().get('/v1/admin/users').set(finance);
    expect(list.body).toContainEqual({ username: 'newops', role: 'entity', entityId: 'EMPOLI', disabled: false });
    expect(JSON.stringify(list.body)).not.toMatch(/password|hash/i);
    const bad = await c.api().put('/v1/admin/users/Bad%20Name').set(admin).send({ role: 'entity' });
    expectProblem(bad, 422, 'NETWORK_INVALID');
    expect(problemFields(bad)).toEqual(['entityId', 'username']);
    expect((await audit('user.save', 'user:newops')).length).toBe(2);
  });
});

// Last: it moves the switch's clock a day on.
describe('fee schedules', () => {
  it('a retroactive version is refused 422; a version from tomorrow is accepted and applies to payments booked from tomorrow', async () => {
    const t = pool.take();
    const auth = bearer(c.h.terminalToken(t));
    const before = (await c.api().get('/v1/admin/fee-schedules').query({ service: 'SUAP', counterKind: 'tabaccaio' }).set(finance)).body as { feeRule: { cents?: number }; effectiveFrom: string }[];
    expect(before.length).toBeGreaterThan(0);
    const version = (effectiveFrom: string) => ({ serviceCode: 'SUAP', counterKind: 'tabaccaio', effectiveFrom, feeRule: { type: 'fixed', cents: 777 }, commissionRate: '0.70', royaltyCents: 10 });
    for (const d of [today(), addDays(today(), -1)]) {
      const res = await c.api().post('/v1/admin/fee-schedules').set(admin).send(version(d));
      expectProblem(res, 422, 'NETWORK_INVALID');
      expect(problemFields(res)).toEqual(['effectiveFrom']);
      expect(res.body.problems[0].message).toMatch(/retroactively/);
    }
    // The version in force: never changed.
    const inForce = await c.api().post('/v1/admin/fee-schedules').set(admin).send(version(before[0]!.effectiveFrom));
    expectProblem(inForce, 422, 'NETWORK_INVALID');
    expect(inForce.body.problems[0].message).toMatch(/never changed/);
    const tomorrow = addDays(today(), 1);
    const added = await c.api().post('/v1/admin/fee-schedules').set(admin).send(version(tomorrow));
    expect(added.status, added.text).toBe(201);
    const after = await c.api().get('/v1/admin/fee-schedules').query({ service: 'SUAP', counterKind: 'tabaccaio' }).set(admin);
    expect(after.body.length).toBe(before.length + 1);
    expect((await audit('fee_schedule.add', `SUAP/tabaccaio/${tomorrow}`)).length).toBe(1);

    const todays = await pay(auth, 'SUAP', 'PRATICA001', 5000);
    expect(todays.status, todays.text).toBe(201);
    expect(todays.body.fee).not.toBe(777);
    shift += DAY;
    expect(today()).toBe(tomorrow);
    const tomorrows = await pay(auth, 'SUAP', 'PRATICA002', 5000);
    expect(tomorrows.status, tomorrows.text).toBe(201);
    expect(tomorrows.body.fee).toBe(777);
    // Now in force: never changed again, and no version before it added.
    expectProblem(await c.api().post('/v1/admin/fee-schedules').set(admin).send({ ...version(tomorrow), feeRule: { type: 'fixed', cents: 1 } }), 422, 'NETWORK_INVALID');
  });

  it('bad fee rules: every problem listed', async () => {
    const res = await c.api().post('/v1/admin/fee-schedules').set(admin).send({ serviceCode: 'NOPE', counterKind: 'edicola', effectiveFrom: '2099-02-30', feeRule: { type: 'fixed', cents: -5 }, commissionRate: 'x', royaltyCents: 1.5 });
    expectProblem(res, 422, 'NETWORK_INVALID');
    expect(problemFields(res)).toEqual(['commissionRate', 'counterKind', 'effectiveFrom', 'feeRule.cents', 'royaltyCents']);
  });
});
