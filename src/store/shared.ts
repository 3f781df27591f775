// What both stores do alike once the rows are read: the catalogue assembled from its
// tables, a window's sums from its kept totals, the paging of a window's payment lines,
// the bounded caches of terminals and counters, and the delivery of committed events.
import { logger } from '../log.js';
import type { EventRow } from '../ledger/port.js';
import {
  toCircuitFee,
  toEntity,
  toFeeSchedule,
  toPaymentLine,
  toService,
  type CircuitFeeRow,
  type EntityRow,
  type FeeScheduleRow,
  type PaymentLineRow,
  type ServiceRow,
  type WindowTotalRow,
} from './rows.js';
import { parseFeeRule } from './fee-rule.js';
import type { CounterSums, EntityServiceSums, LinesQuery, PaymentLine, WindowSums } from './settlement-types.js';
import type { CatalogueSnapshot } from './types.js';

const MAX_CACHED = 100_000;

/** A bounded cache read-through: past MAX_CACHED entries it starts again. */
export async function cached<T>(cache: Map<string, T | undefined>, id: string, load: () => T | undefined | Promise<T | undefined>): Promise<T | undefined> {
  if (cache.has(id)) return cache.get(id);
  const v = await load();
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(id, v);
  return v;
}

/** The catalogue from its tables' rows (services in catalogue order, the rest by key). */
export function catalogueOf(rows: { entities: EntityRow[]; fees: CircuitFeeRow[]; services: ServiceRow[]; schedules: FeeScheduleRow[] }): CatalogueSnapshot {
  const { fees } = rows;
  const entities: CatalogueSnapshot['entities'] = new Map();
  for (const e of rows.entities) entities.set(e.id, toEntity(e, fees.filter((x) => x.entity_id === e.id).at(-1)));
  const services: CatalogueSnapshot['services'] = new Map();
  for (const s of rows.services) services.set(s.code, toService(s));
  const feeSchedules: CatalogueSnapshot['feeSchedules'] = new Map();
  for (const f of rows.schedules) {
    const key = `${f.service_code}/${f.counter_kind}`;
    const list = feeSchedules.get(key) ?? [];
    list.push(toFeeSchedule(f, parseFeeRule(f.fee_rule)));
    feeSchedules.set(key, list);
  }
  const circuitFees: CatalogueSnapshot['circuitFees'] = new Map();
  for (const f of fees) {
    const list = circuitFees.get(f.entity_id) ?? [];
    list.push(toCircuitFee(f));
    circuitFees.set(f.entity_id, list);
  }
  const owner = [...entities.values()].find((e) => e.isCircuitOwner);
  if (!owner) throw new Error('the catalogue has no circuit owner; run `tserve seed`');
  return { entities, services, feeSchedules, circuitFees, owner };
}

/** A window's sums per entity and service and per counter, from its kept totals; movements as read. */
export function windowSumsOf(rows: readonly WindowTotalRow[], movements: WindowSums['movements']): WindowSums {
  const entities = new Map<string, EntityServiceSums>();
  const counters = new Map<string, CounterSums>();
  for (const r of rows) {
    const ek = `${r.kind}|${r.entity_id}|${r.service_code}`;
    const e = entities.get(ek) ?? { kind: r.kind, entityId: r.entity_id, serviceCode: r.service_code, count: 0, amount: 0, fee: 0, circuitNetted: 0, circuitRebilled: 0 };
    e.count += r.n;
    e.amount += r.amount_cents;
    e.fee += r.fee_cents;
    e.circuitNetted += r.netted;
    e.circuitRebilled += r.rebilled;
    entities.set(ek, e);
    const ck = `${r.kind}|${r.counter_id}`;
    const c = counters.get(ck) ?? { kind: r.kind, counterId: r.counter_id, count: 0, amount: 0, fee: 0, commission: 0, operator: 0, royalty: 0 };
    c.count += r.n;
    c.amount += r.amount_cents;
    c.fee += r.fee_cents;
    c.commission += r.commission;
    c.operator += r.operator;
    c.royalty += r.royalty;
    counters.set(ck, c);
  }
  const order = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  return { byEntityService: order(entities), byCounter: order(counters), movements };
}

/** Where a payment counts: its booking in settlement_date's window, its reversal or adjustment in reversal_settlement_date's. */
export const WINDOW_PHASES = [
  { code: 'b', dateColumn: 'settlement_date', kind: "'booking'" },
  { code: 'c', dateColumn: 'reversal_settlement_date', kind: 'reversal_kind' },
] as const;
export type WindowPhase = (typeof WINDOW_PHASES)[number];

/** The filters of a lines query as SQL conditions, each placeholder given by `param`. */
export function lineFilters(q: LinesQuery, param: (name: 'entityId' | 'counterId', value: string) => string): string {
  return [
    q.entityId ? `entity_id = ${param('entityId', q.entityId)}` : '',
    q.counterId ? `counter_id = ${param('counterId', q.counterId)}` : '',
    q.rebilledOnly ? "circuit_fee_mode = 'rebilled'" : '',
  ]
    .filter(Boolean)
    .map((f) => ` AND ${f}`)
    .join('');
}

/**
 * Pages of payment lines: bookings, then cancellations, each in id order. The cursor is
 * opaque ('b:<id>' or 'c:<id>'); `fetch` reads one phase's rows after an id.
 */
export async function pageLines(
  cursor: string | null,
  limit: number,
  fetch: (phase: WindowPhase, afterId: number, limit: number) => PaymentLineRow[] | Promise<PaymentLineRow[]>,
): Promise<{ lines: PaymentLine[]; nextCursor: string | null }> {
  const m = cursor ? /^([bc]):(\d+)$/.exec(cursor) : null;
  let phase = m?.[1] === 'c' ? 1 : 0;
  let after = m ? Number(m[2]) : 0;
  const lines: PaymentLine[] = [];
  while (lines.length < limit) {
    for (const r of await fetch(WINDOW_PHASES[phase]!, after, limit - lines.length)) lines.push(toPaymentLine(r));
    if (lines.length >= limit) {
      after = lines.at(-1)!.id;
      break;
    }
    if (phase === 1) return { lines, nextCursor: null };
    phase = 1;
    after = 0;
  }
  return { lines, nextCursor: `${WINDOW_PHASES[phase]!.code}:${after}` };
}

/** Committed events to the stream's listeners; a listener that throws is logged, never stops the others. */
export function deliver(listeners: readonly ((events: EventRow[]) => void)[], events: EventRow[]): void {
  for (const l of listeners) {
    try {
      l(events);
    } catch (err) {
      logger.error('event listener failed', { error: err instanceof Error ? err.stack : String(err) });
    }
  }
}
