// The console's reads (issue 14, docs/console.md "Reads"): the payment search by every
// filter, an entity confined to its own payments, pagination newest first; a payment's
// fee split for users and not for terminals; the day report's figures against the
// payments made here; every counter's day and its credit used. Real HTTP, both stores.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noticeCandidates } from '../../src/payments/reports.js';
import { searchFilter, type PaymentSearch } from '../../src/store/console-reads.js';
import { PAYMENT_COLUMNS } from '../../src/store/rows.js';
import { TEST_STORE } from '../helpers/store.js';
import { bearer, counterOf, expectProblem, idemKey, setup, TerminalPool, type Ctx } from './support.js';

interface View {
  paymentId: string;
  receiptNumber: string;
  rrn: string;
  amount: number;
  fee: number;
  total: number;
  settlementDate: string;
  status: 'BOOKED' | 'REVERSED';
  service: string;
  identifier: string;
  channel: string;
  counterId: string;
  bookedAt: string;
  split?: { commission: number; operator: number; royalty: number; circuitFee: number; circuitFeeMode: string | null };
}
interface Group {
  key: string;
  name: string;
  count: number;
  amount: number;
  fee: number;
}
interface DayReport {
  date: string;
  totals: { count: number; amount: number; fee: number };
  reversed: { count: number; amount: number };
  byService: Group[];
  byEntity: Group[];
  byChannel: Group[];
  byCounterKind: Group[];
  byHour: { hour: number; count: number; amount: number }[];
  latest: View[];
}
interface CounterDay {
  id: string;
  kind: string;
  kindName: string;
  status: string;
  creditLimit: number;
  exposure: number;
  count: number;
  amount: number;
  fee: number;
  commission: number;
}

let c: Ctx;
let pool: TerminalPool;
const user = (u: string) => bearer(c.h.userToken(u));
const finance = () => user('finance');

/** Pays a payable notice of a service at a terminal over the JSON API; the payment as finance reads it. */
async function pay(terminalId: string, service: 'TARI' | 'TARIPISA'): Promise<{ notice: string; view: View }> {
  const o = service === 'TARI' ? await c.notices.tari() : await c.notices.payable(service);
  const res = await c
    .api()
    .post('/v1/payments')
    .set(bearer(c.h.terminalToken(terminalId)))
    .set('Idempotency-Key', idemKey())
    .send({ service, identifier: o.notice, amount: o.amount });
  expect(res.status, res.text).toBe(201);
  const view = await c.api().get(`/v1/payments/${res.body.paymentId}`).set(finance());
  expect(view.status, view.text).toBe(200);
  return { notice: o.notice, view: view.body as View };
}

const search = (query: Record<string, string | number>, who = finance()) => c.api().get('/v1/payments').query(query).set(who);
const ids = (body: { items: View[] }) => body.items.map((p) => p.paymentId);
const day = async (who = finance(), query: Record<string, string> = {}) => {
  const res = await c.api().get('/v1/reports/day').query(query).set(who);
  expect(res.status, res.text).toBe(200);
  return res.body as DayReport;
};
const countersDay = async () => {
  const res = await c.api().get('/v1/counters/day').set(finance());
  expect(res.status, res.text).toBe(200);
  return res.body as CounterDay[];
};

// The payments of this file: three PRATO ones at one counter (one reversed later), one of PISA at another.
let terminalA: string;
let terminalB: string;
let prato: { notice: string; view: View }[];
let pisa: { notice: string; view: View };
let reportBefore: DayReport;
let countersBefore: CounterDay[];

beforeAll(async () => {
  c = await setup();
  pool = new TerminalPool(c.h, 'tabaccaio');
  terminalA = pool.take();
  terminalB = pool.take();
  reportBefore = await day();
  countersBefore = await countersDay();
  prato = [];
  for (let i = 0; i < 3; i += 1) prato.push(await pay(terminalA, 'TARI'));
  pisa = await pay(terminalB, 'TARIPISA');
});
afterAll(async () => {
  await c?.close();
});

describe('GET /v1/payments: search', () => {
  it('each filter finds exactly its payment', async () => {
    const p = prato[1]!;
    const iuv = p.notice.slice(1); // aux 3: the 17 digits after the aux digit
    const queries: Record<string, string>[] = [{ rrn: p.view.rrn }, { rrn: String(Number(p.view.rrn)) }, { receipt: p.view.receiptNumber }, { notice: p.notice }, { notice: iuv }, { identifier: p.view.identifier }];
    for (const q of queries) {
      const res = await search(q);
      expect(res.status, `${JSON.stringify(q)}: ${res.text}`).toBe(200);
      expect(ids(res.body), JSON.stringify(q)).toEqual([p.view.paymentId]);
      expect(res.body.nextCursor).toBeNull();
    }
    // Filters combine: the right RRN with another entity's id finds nothing.
    expect(ids((await search({ rrn: p.view.rrn, entityId: 'PISA' })).body)).toEqual([]);
    expect(ids((await search({ receipt: pisa.view.receiptNumber })).body)).toEqual([pisa.view.paymentId]);
  });

  it('by counter, entity, service and settlement dates: newest first', async () => {
    const newestFirst = prato.map((p) => p.view.paymentId).reverse();
    expect(ids((await search({ counterId: counterOf(c.h, terminalA) })).body)).toEqual(newestFirst);
    const date = prato[0]!.view.settlementDate;
    const window = await search({ from: date, to: date, limit: 200 });
    expect(ids(window.body).slice(0, 4)).toEqual([pisa.view.paymentId, ...newestFirst]);
    expect(ids((await search({ service: 'TARIPISA', from: date })).body)).toEqual([pisa.view.paymentId]);
    expect(ids((await search({ entityId: 'PISA', to: date })).body)).toEqual([pisa.view.paymentId]);
    expect(ids((await search({ counterId: counterOf(c.h, terminalA), to: '2000-01-01' })).body)).toEqual([]);
    // Each result carries the split, as GET /v1/payments/:id gives it to users.
    const first = (await search({ rrn: pisa.view.rrn })).body.items[0] as View;
    expect(first.split).toEqual(pisa.view.split);
  });

  it('pages with a cursor, newest first', async () => {
    const counterId = counterOf(c.h, terminalA);
    const first = await search({ counterId, limit: 2 });
    expect(first.status, first.text).toBe(200);
    expect(ids(first.body)).toEqual([prato[2]!.view.paymentId, prato[1]!.view.paymentId]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await search({ counterId, limit: 2, cursor: first.body.nextCursor });
    expect(ids(second.body)).toEqual([prato[0]!.view.paymentId]);
    expect(second.body.nextCursor).toBeNull();
  });

  it('an entity user finds its own payments only; naming another entity is refused', async () => {
    const pisaUser = user('ente-pisa');
    expect(ids((await search({ rrn: pisa.view.rrn }, pisaUser)).body)).toEqual([pisa.view.paymentId]);
    // A PRATO payment, however named, is not found...
    const queries: Record<string, string>[] = [{ rrn: prato[0]!.view.rrn }, { notice: prato[0]!.notice }, { counterId: counterOf(c.h, terminalA) }];
    for (const q of queries) {
      const res = await search(q, pisaUser);
      expect(res.status).toBe(200);
      expect(ids(res.body), JSON.stringify(q)).toEqual([]);
    }
    // ...naming PRATO is refused, and its payment's URL too.
    expectProblem(await search({ entityId: 'PRATO', from: pisa.view.settlementDate }, pisaUser), 403, 'FORBIDDEN');
    expectProblem(await c.api().get(`/v1/payments/${prato[0]!.view.paymentId}`).set(pisaUser), 403, 'FORBIDDEN');
    expect(ids((await search({ entityId: 'PISA', counterId: counterOf(c.h, terminalB) }, pisaUser)).body)).toEqual([pisa.view.paymentId]);
  });

  it('refuses terminals, a search without a filter and malformed filters', async () => {
    expectProblem(await search({ rrn: pisa.view.rrn }, bearer(c.h.terminalToken(terminalB))), 403, 'FORBIDDEN');
    expectProblem(await search({}), 400, 'FORMAT');
    expectProblem(await search({ limit: 10 }), 400, 'FORMAT');
    expectProblem(await search({ notice: '1234' }), 400, 'FORMAT');
    expectProblem(await search({ receipt: 'R-1' }), 400, 'FORMAT');
    expectProblem(await search({ rrn: pisa.view.rrn, limit: 201 }), 400, 'FORMAT');
    expectProblem(await search({ from: '2026-02-02', to: '2026-02-01' }), 400, 'FORMAT');
    expectProblem(await search({ rrn: pisa.view.rrn, colour: 'red' }), 400, 'FORMAT');
  });
});

describe('the search by RRN, receipt, notice (or IUV) and identifier runs on indexes', () => {
  it('no scan of the payments', async () => {
    const { view, notice } = prato[0]!;
    const id = Number(view.rrn);
    const searches: PaymentSearch[] = [
      { ids: [id], rrn: view.rrn },
      { ids: [id], receiptNumber: view.receiptNumber, entityId: 'PRATO' },
      { notices: noticeCandidates(notice.slice(1)) },
      { identifiers: [view.identifier] },
    ];
    // PostgreSQL would scan a table this small anyway: told not to, it still does when no index serves.
    if (TEST_STORE === 'postgres') await c.db.run('SET enable_seqscan = off');
    for (const q of searches) {
      const { where, params } = searchFilter(q, null, () => '?');
      const sql = `SELECT ${PAYMENT_COLUMNS} FROM payments ${where} ORDER BY id DESC LIMIT 51`;
      const plan = TEST_STORE === 'sqlite'
        ? (await c.db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, ...params)).map((r) => r.detail.trim())
        : (await c.db.all<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, ...params)).map((r) => r['QUERY PLAN'].trim().replace(/^->\s*/, ''));
      // A scan of payments: SQLite's SCAN; PostgreSQL's Seq Scan, or an index scan without an Index Cond (the whole index).
      const scans = plan.filter((line, i) => /^SCAN payments\b|^Seq Scan on payments\b/.test(line) || (/^Index (Only )?Scan.* on payments\b/.test(line) && !/^Index Cond/.test(plan[i + 1] ?? '')));
      expect(scans, `${JSON.stringify(q)}\n${plan.join('\n')}`).toEqual([]);
    }
    if (TEST_STORE === 'postgres') await c.db.run('RESET enable_seqscan');
  });
});

describe('GET /v1/payments/:id: the fee split', () => {
  it('users read the split as booked; terminals do not', async () => {
    const { view } = prato[0]!;
    expect(view.split).toBeDefined();
    const s = view.split!;
    expect(s.commission + s.operator + s.royalty).toBe(view.fee);
    expect(s.circuitFee).toBeGreaterThanOrEqual(0);
    const own = await c.api().get(`/v1/payments/${view.paymentId}`).set(user('ente-prato'));
    expect(own.body.split).toEqual(s);
    const terminal = await c.api().get(`/v1/payments/${view.paymentId}`).set(bearer(c.h.terminalToken(terminalA)));
    expect(terminal.status).toBe(200);
    expect(terminal.body.split).toBeUndefined();
  });
});

describe('GET /v1/reports/day and GET /v1/counters/day', () => {
  const sum = (vs: View[]) => ({ count: vs.length, amount: vs.reduce((a, v) => a + v.amount, 0), fee: vs.reduce((a, v) => a + v.fee, 0) });
  const minus = (a: { count: number; amount: number; fee: number }, b: { count: number; amount: number; fee: number }) => ({
    count: a.count - b.count, amount: a.amount - b.amount, fee: a.fee - b.fee,
  });
  const group = (groups: Group[], key: string) => {
    const g = groups.find((x) => x.key === key);
    return { count: g?.count ?? 0, amount: g?.amount ?? 0, fee: g?.fee ?? 0 };
  };
  const hourSums = (r: DayReport) => r.byHour.reduce((a, h) => ({ count: a.count + h.count, amount: a.amount + h.amount }), { count: 0, amount: 0 });
  const romeHour = (iso: string) => Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Rome', hour: '2-digit', hourCycle: 'h23' }).format(new Date(iso)));

  it("the window is the payments' by default; its figures grow by the payments made here", async () => {
    const r = await day();
    const all = [...prato.map((p) => p.view), pisa.view];
    expect(r.date).toBe(pisa.view.settlementDate);
    expect(await day(finance(), { date: r.date })).toEqual(r);
    expect(minus(r.totals, reportBefore.totals)).toEqual(sum(all));
    expect(minus(group(r.byService, 'TARI'), group(reportBefore.byService, 'TARI'))).toEqual(sum(prato.map((p) => p.view)));
    expect(minus(group(r.byService, 'TARIPISA'), group(reportBefore.byService, 'TARIPISA'))).toEqual(sum([pisa.view]));
    expect(minus(group(r.byEntity, 'PISA'), group(reportBefore.byEntity, 'PISA'))).toEqual(sum([pisa.view]));
    expect(minus(group(r.byChannel, 'json'), group(reportBefore.byChannel, 'json'))).toEqual(sum(all));
    expect(minus(group(r.byCounterKind, 'tabaccaio'), group(reportBefore.byCounterKind, 'tabaccaio'))).toEqual(sum(all));
    for (const by of [r.byService, r.byEntity, r.byChannel, r.byCounterKind]) {
      expect(by.reduce((a, g) => ({ count: a.count + g.count, amount: a.amount + g.amount, fee: a.fee + g.fee }), { count: 0, amount: 0, fee: 0 })).toEqual(r.totals);
    }
    expect(r.byService.find((g) => g.key === 'TARIPISA')?.name).toBe('TARI Comune di Pisa');
    // byHour: 24 Rome hours summing to the totals; the payments fall in their Rome hour.
    expect(r.byHour.map((h) => h.hour)).toEqual([...Array(24).keys()]);
    expect(hourSums(r)).toEqual({ count: r.totals.count, amount: r.totals.amount });
    const hour = romeHour(pisa.view.bookedAt);
    const before = reportBefore.byHour[hour]!;
    const madeThen = all.filter((v) => romeHour(v.bookedAt) === hour);
    expect(r.byHour[hour]!.count - before.count).toBe(madeThen.length);
    expect(r.latest.slice(0, 4).map((v) => v.paymentId)).toEqual([pisa.view.paymentId, ...prato.map((p) => p.view.paymentId).reverse()]);
    expect(r.latest.length).toBeLessThanOrEqual(20);
  });

  it('an entity user reads its own figures only; terminals none', async () => {
    const own = await day(user('ente-pisa'));
    expect(own.byEntity.map((g) => g.key)).toEqual(own.totals.count > 0 ? ['PISA'] : []);
    expect(own.latest.every((v) => v.service === 'TARIPISA')).toBe(true);
    expect(own.latest.map((v) => v.paymentId)).toContain(pisa.view.paymentId);
    expect(hourSums(own)).toEqual({ count: own.totals.count, amount: own.totals.amount });
    const whole = await day();
    expect(own.totals).toEqual(group(whole.byEntity, 'PISA'));
    expectProblem(await c.api().get('/v1/reports/day').set(bearer(c.h.terminalToken(terminalA))), 403, 'FORBIDDEN');
    expectProblem(await c.api().get('/v1/reports/day?date=2026-13-01').set(finance()), 400, 'FORMAT');
    const empty = await day(finance(), { date: '2001-01-02' });
    expect(empty.totals).toEqual({ count: 0, amount: 0, fee: 0 });
    expect(empty.latest).toEqual([]);
  });

  it("every counter's day: its bookings, commission and credit used as the admin API tells it", async () => {
    const counters = await countersDay();
    expect(counters.length).toBe(countersBefore.length);
    const counterA = counterOf(c.h, terminalA);
    const a = counters.find((x) => x.id === counterA)!;
    const aBefore = countersBefore.find((x) => x.id === counterA)!;
    const views = prato.map((p) => p.view);
    expect(minus(a, aBefore)).toEqual(sum(views));
    expect(a.commission - aBefore.commission).toBe(views.reduce((s, v) => s + v.split!.commission, 0));
    expect(a.exposure - aBefore.exposure).toBe(views.reduce((s, v) => s + v.total, 0));
    const admin = await c.api().get(`/v1/admin/counters/${counterA}`).set(user('admin'));
    expect(admin.status, admin.text).toBe(200);
    expect(a).toMatchObject({ kind: admin.body.kind, status: admin.body.status, creditLimit: admin.body.creditLimit, exposure: admin.body.exposure });
    expect(a.kindName).toBe(({ tabaccaio: 'Tabaccheria', agenzia: 'Agenzia', supermercato: 'Supermercato' } as Record<string, string>)[a.kind]);
    expectProblem(await c.api().get('/v1/counters/day').set(user('ente-prato')), 403, 'FORBIDDEN');
    expectProblem(await c.api().get('/v1/counters/day').set(bearer(c.h.terminalToken(terminalA))), 403, 'FORBIDDEN');
  });

  it('a reversed payment leaves the totals and counts as reversed', async () => {
    const before = await day();
    const counterBefore = (await countersDay()).find((x) => x.id === counterOf(c.h, terminalA))!;
    const victim = prato[2]!.view;
    const rev = await c
      .api()
      .post(`/v1/payments/${victim.paymentId}/reversal`)
      .set(bearer(c.h.terminalToken(terminalA)))
      .set('Idempotency-Key', idemKey('rev'));
    expect(rev.status, rev.text).toBe(200);
    const after = await day();
    expect(minus(before.totals, after.totals)).toEqual(sum([victim]));
    expect(after.reversed).toEqual({ count: before.reversed.count + 1, amount: before.reversed.amount + victim.amount });
    expect(hourSums(after)).toEqual({ count: after.totals.count, amount: after.totals.amount });
    expect(after.latest.find((v) => v.paymentId === victim.paymentId)?.status).toBe('REVERSED');
    const counterAfter = (await countersDay()).find((x) => x.id === counterOf(c.h, terminalA))!;
    expect(minus(counterBefore, counterAfter)).toEqual(sum([victim]));
    expect(counterBefore.exposure - counterAfter.exposure).toBe(victim.total);
  });
});
