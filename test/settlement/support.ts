// Shared pieces of the settlement tests: a switch with a fake clock, a generator of a
// business day of payments (every service, every counter kind, with reversals) booked
// through the payments use-cases, an independent recomputation of the figures in plain
// SQL. The XSD validator is in xsd.ts.
import { seededRandom } from '../../terminals/simulator/common.js';
import { expect } from 'vitest';
import type { SettlementFigures } from '../../settlement/figures.js';
import { romeInstant } from '../../src/domain/calendar.js';
import { PaymentError } from '../../src/payments/errors.js';
import type { PayRequest, TerminalContext } from '../../src/payments/service.js';
import type { Payment } from '../../src/store/types.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { openTestDb, type TestDb } from '../helpers/store.js';

process.env.TSERVE_LOG_LEVEL ??= 'silent';

export interface Switch {
  h: Harness;
  /** A direct connection on the switch's store (SQLite file or PostgreSQL database), for assertions. */
  db: TestDb;
  /** The fake clock of the payments use-cases (and of the finance API). */
  clock: { now: number };
  setRome(date: string, time: string, ms?: number): void;
  close(): Promise<void>;
}

export async function startSwitch(opts: { positions?: number; env?: Record<string, string>; at?: [string, string] } = {}): Promise<Switch> {
  const clock = { now: romeInstant(...(opts.at ?? ['2026-11-20', '10:00:00'])) };
  const h = await startHarness({ positions: opts.positions ?? 500, env: opts.env, clock: () => clock.now });
  const db = await openTestDb(h.dir);
  // Tens of thousands of payments in a day pass any realistic credit limit: lift them.
  for (const c of await h.rt.store.listCounters()) {
    await h.rt.store.setCreditLimit(c.id, 99_999_999_999, { actor: 'test', action: 'counter.credit_limit', target: c.id });
  }
  return {
    h,
    db,
    clock,
    setRome(date, time, ms = 0) {
      clock.now = romeInstant(date, time) + ms;
    },
    async close() {
      await db.close();
      await h.close();
    },
  };
}

// ---------------------------------------------------------------------------
// A generated day

/** One terminal per counter (the first), so every counter and kind takes part. */
export function terminalsByCounter(h: Harness): TerminalContext[] {
  const seen = new Set<string>();
  const out: TerminalContext[] = [];
  for (const t of h.credentials.terminals) {
    if (seen.has(t.counterId)) continue;
    seen.add(t.counterId);
    out.push({ terminalId: t.terminalId, counterId: t.counterId });
  }
  return out;
}

/** The simulator's seeded generator (mulberry32): the same numbers on every run. */
export const rng = seededRandom;

const PLATES = ['AB123CD', 'EF456GH', 'ZA001BC', 'GK777LM', 'FX250RT'];
const CFS = ['RSSMRA85T10A562S', 'MRTMTT91D08F205J', 'BNCLCU75M52G999F', '84006890481'];

/** A payment request for a service paid without a debt position (fixed tariff or self-assessed). */
function freeRequest(service: string, amountKind: string, r: () => number, seq: number, min: number | null, max: number | null): PayRequest | null {
  const plate = PLATES[seq % PLATES.length]!;
  const cf = CFS[seq % CFS.length]!;
  const code = `R${String(seq).padStart(6, '0')}`;
  const identifier: Record<string, string | undefined> = {
    PREAVVISO: `P${String(seq).padStart(6, '0')}/${plate}`,
    FOTOGRAMMI: `V${String(seq).padStart(6, '0')}`,
    ZTL: `${plate}/${cf}`,
    RESIDENTI: plate,
    IMU: `${cf}/2026`,
    SOGGIORNO: '84006890481/202610',
    REFEZIONE: code,
    MUSICA: cf,
    CIMITERO: code,
    CERTIFICATI: cf,
    CIE: cf,
    EDILIZIA: code,
    SUAP: code,
    BIBLIOTECA: code,
  };
  const id = identifier[service];
  if (!id) return null;
  if (amountKind === 'S') {
    // Self-assessed: a few euros to a few hundred, inside the service's range.
    const amount = Math.min(max!, Math.max(min!, 500 + Math.floor(r() * 30_000)));
    return { service, identifier: id, amount };
  }
  return { service, identifier: id, amount: -1 };
}

export interface DayReport {
  booked: Payment[];
  reversed: Payment[];
  failures: Map<string, number>;
  services: Set<string>;
  kinds: Set<string>;
}

/**
 * Books a business day: every payable seeded option (debt-position services of every
 * entity, rebilled and netted ones included) and `free` payments of the fixed and
 * self-assessed services, spread over all counters, `concurrency` at a time; then
 * reverses about one in `reverseOneIn` of them at the same terminal, in the same window.
 * The clock moves a little between batches, inside the day.
 */
export async function bookDay(
  s: Switch,
  opts: { date: string; free: number; reverseOneIn: number; concurrency?: number; seed?: number; positions?: number },
): Promise<DayReport> {
  const { h } = s;
  const r = rng(opts.seed ?? 20261120);
  const terminals = terminalsByCounter(h);
  const counterKind = new Map((await h.rt.store.listCounters()).map((c) => [c.id, c.kind]));
  const services = h.payments.services;
  const options = await s.db.all<{ notice: string; lookupKey: string | null; service: string; kind: string }>(
    `SELECT o.notice_number AS notice, o.lookup_key AS "lookupKey", p.service_code AS service, s.identifier_kind AS kind
     FROM payment_options o JOIN debt_positions p ON p.id = o.position_id JOIN services s ON s.code = p.service_code
     WHERE p.status IN ('VALID', 'PARTIALLY_PAID') AND o.paid_payment_id IS NULL
       -- the single payment where there is one (paying it settles the instalments too)
       AND (o.kind = 'single' OR NOT EXISTS (SELECT 1 FROM payment_options x WHERE x.position_id = p.id AND x.kind = 'single'))
     ORDER BY o.id`,
  );

  type Job = { t: TerminalContext; req: PayRequest; lookup: boolean };
  const jobs: Job[] = [];
  let k = 0;
  const nextTerminal = () => terminals[Math.floor(r() * terminals.length)]!;
  for (const o of options.slice(0, opts.positions ?? options.length)) {
    const identifier = o.kind === 'plate_vehicle' || o.kind === 'user_code' ? o.lookupKey : o.notice;
    if (!identifier) continue;
    jobs.push({ t: nextTerminal(), req: { service: o.service, identifier, amount: 0 }, lookup: true });
  }
  const free = services.filter((x) => x.amountKind === 'F' || x.amountKind === 'S');
  for (let i = 0; i < opts.free; i++) {
    const svc = free[i % free.length]!;
    const req = freeRequest(svc.code, svc.amountKind, r, k++, svc.minCents, svc.maxCents);
    if (!req) continue;
    if (req.amount === -1) req.amount = svc.fixedCents!;
    jobs.push({ t: nextTerminal(), req, lookup: false });
  }
  // Interleave debt-position and free payments, deterministically.
  for (let i = jobs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [jobs[i], jobs[j]] = [jobs[j]!, jobs[i]!];
  }

  const report: DayReport = { booked: [], reversed: [], failures: new Map(), services: new Set(), kinds: new Set() };
  const fail = (err: unknown) => {
    const code = err instanceof PaymentError ? err.code : String(err);
    report.failures.set(code, (report.failures.get(code) ?? 0) + 1);
  };
  const concurrency = opts.concurrency ?? 200;
  const start = romeInstantOf(opts.date, '08:00:00');
  let batch = 0;
  for (let i = 0; i < jobs.length; i += concurrency) {
    s.clock.now = start + batch++ * 1000;
    await Promise.all(
      jobs.slice(i, i + concurrency).map(async (job) => {
        try {
          if (job.lookup) {
            const v = await h.payments.verify(job.t, { service: job.req.service, identifier: job.req.identifier });
            job.req.amount = v.amountDue;
          }
          const res = await h.payments.pay(job.t, job.req, null, 'json');
          report.booked.push(res.payment);
          report.services.add(res.payment.serviceCode);
          report.kinds.add(counterKind.get(res.payment.counterId)!);
        } catch (err) {
          fail(err);
        }
      }),
    );
  }
  // Reversals: the same terminal, the same window, later in the day.
  const toReverse = report.booked.filter(() => r() < 1 / opts.reverseOneIn);
  for (let i = 0; i < toReverse.length; i += concurrency) {
    s.clock.now = start + batch++ * 1000;
    await Promise.all(
      toReverse.slice(i, i + concurrency).map(async (p) => {
        try {
          report.reversed.push(await h.payments.reverse({ terminalId: p.terminalId, counterId: p.counterId }, p));
        } catch (err) {
          fail(err);
        }
      }),
    );
  }
  return report;
}

function romeInstantOf(date: string, time: string): number {
  return romeInstant(date, time);
}

// ---------------------------------------------------------------------------
// The independent recomputation: plain SQL over the payments table only (no ledger,
// no store code), then the same arithmetic the domain states (domain.md §2–3).

export interface Recomputed {
  entities: Map<string, { count: number; gross: number; reversals: number; adjustments: number; netted: number; rebilled: number; services: Map<string, { count: number; gross: number; reversalCount: number; reversals: number; adjustmentCount: number; adjustments: number }> }>;
  counters: Map<string, { count: number; cancelled: number; collected: number; commission: number }>;
  operator: number;
  royalties: number;
}

export async function recompute(db: TestDb, date: string): Promise<Recomputed> {
  const out: Recomputed = { entities: new Map(), counters: new Map(), operator: 0, royalties: 0 };
  const rows = await db.all<Record<string, number | string | null>>(
    `SELECT 'booking' AS kind, * FROM payments WHERE settlement_date = ?
     UNION ALL
     SELECT reversal_kind AS kind, * FROM payments WHERE reversal_settlement_date = ?`,
    date,
    date,
  );
  for (const p of rows) {
    const kind = p.kind as string;
    const sign = kind === 'booking' ? 1 : -1;
    const entityId = p.entity_id as string;
    const e = out.entities.get(entityId) ?? { count: 0, gross: 0, reversals: 0, adjustments: 0, netted: 0, rebilled: 0, services: new Map() };
    const svc = e.services.get(p.service_code as string) ?? { count: 0, gross: 0, reversalCount: 0, reversals: 0, adjustmentCount: 0, adjustments: 0 };
    const amount = p.amount_cents as number;
    if (kind === 'booking') {
      e.count++;
      e.gross += amount;
      svc.count++;
      svc.gross += amount;
    } else if (kind === 'reversal') {
      e.reversals += amount;
      svc.reversalCount++;
      svc.reversals += amount;
    } else {
      e.adjustments += amount;
      svc.adjustmentCount++;
      svc.adjustments += amount;
    }
    if (p.circuit_fee_mode === 'netted') e.netted += sign * (p.circuit_fee_cents as number);
    if (p.circuit_fee_mode === 'rebilled') e.rebilled += sign * (p.circuit_fee_cents as number);
    e.services.set(p.service_code as string, svc);
    out.entities.set(entityId, e);

    const c = out.counters.get(p.counter_id as string) ?? { count: 0, cancelled: 0, collected: 0, commission: 0 };
    if (kind === 'booking') c.count++;
    else c.cancelled++;
    c.collected += sign * (amount + (p.fee_cents as number));
    c.commission += sign * (p.fee_commission as number);
    out.counters.set(p.counter_id as string, c);
    out.operator += sign * (p.fee_operator as number);
    out.royalties += sign * (p.fee_royalty as number);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Comparing the settlement's figures with the recomputation


/** Every entity statement (by service), every counter statement and the totals, to the cent. */
export function expectFiguresEqualRecomputation(f: SettlementFigures, r: Recomputed, ownerId: string): void {
  const owner = { royalties: r.royalties, netted: [...r.entities.values()].reduce((a, e) => a + e.netted, 0) };
  const entityIds = new Set([...r.entities.keys(), ...(owner.royalties !== 0 || owner.netted !== 0 ? [ownerId] : [])]);
  expect(f.entities.map((e) => e.entityId).sort()).toEqual([...entityIds].sort());
  for (const e of f.entities) {
    const x = r.entities.get(e.entityId) ?? { count: 0, gross: 0, reversals: 0, adjustments: 0, netted: 0, rebilled: 0, services: new Map() };
    const ctx = `entity ${e.entityId}`;
    expect({ count: e.count, gross: e.gross, reversals: e.reversals, adjustments: e.adjustments, netted: e.circuitFeesNetted, rebilled: e.circuitFeesRebilled }, ctx).toEqual({
      count: x.count,
      gross: x.gross,
      reversals: x.reversals,
      adjustments: x.adjustments,
      netted: x.netted,
      rebilled: x.rebilled,
    });
    const services = Object.fromEntries(
      e.services.map((s) => [s.serviceCode, { count: s.count, gross: s.gross, reversalCount: s.reversalCount, reversals: s.reversals, adjustmentCount: s.adjustmentCount, adjustments: s.adjustments }]),
    );
    expect(services, ctx).toEqual(Object.fromEntries(x.services));
    const received = e.entityId === ownerId ? owner.royalties + owner.netted : 0;
    expect(e.netPayout, ctx).toBe(x.gross - x.reversals - x.adjustments - x.netted + received);
  }
  expect(f.counters.map((c) => c.counterId)).toEqual([...r.counters.keys()].sort());
  for (const c of f.counters) {
    const x = r.counters.get(c.counterId)!;
    expect({ count: c.count, cancelled: c.cancelledCount, collected: c.collected, commission: c.commission, owed: c.owed }, `counter ${c.counterId}`).toEqual({
      count: x.count,
      cancelled: x.cancelled,
      collected: x.collected,
      commission: x.commission,
      owed: x.collected - x.commission,
    });
  }
  const sum = <T>(xs: Iterable<T>, k: (x: T) => number) => [...xs].reduce((a, x) => a + k(x), 0);
  expect(f.operator.fees).toBe(r.operator);
  expect(f.owner.royalties).toBe(r.royalties);
  expect(f.owner.circuitFeesNetted).toBe(owner.netted);
  expect(f.owner.circuitFeesRebilled).toBe(sum(r.entities.values(), (e) => e.rebilled));
  expect(f.totals.payments).toBe(sum(r.counters.values(), (c) => c.count));
  expect(f.totals.gross).toBe(sum(r.entities.values(), (e) => e.gross));
  expect(f.totals.reversals).toBe(sum(r.entities.values(), (e) => e.reversals));
  expect(f.totals.adjustments).toBe(sum(r.entities.values(), (e) => e.adjustments));
  expect(f.totals.collected).toBe(sum(r.counters.values(), (c) => c.collected));
  expect(f.totals.commissions).toBe(sum(r.counters.values(), (c) => c.commission));
  expect(f.totals.netPayouts).toBe(sum(r.entities.values(), (e) => e.gross - e.reversals - e.adjustments) + r.royalties);
}

// ---------------------------------------------------------------------------
// Reading a PDFKit document back (test/helpers/pdf.ts)

export { pdfTexts } from '../helpers/pdf.js';

/** The cell right of the one that starts with `label` (a key-value table's amount). */
export function pdfValueAfter(texts: string[], label: string): string | undefined {
  const i = texts.findIndex((t) => t.startsWith(label));
  return i < 0 ? undefined : texts[i + 1];
}
