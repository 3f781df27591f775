// Rebilling (domain.md §2): entities whose circuit fee is 'rebilled' are invoiced each
// month for the circuit fees of their payments, instead of having them deducted from
// their payouts. A month's statement covers the settlement windows (business days) of
// that month: the payments booked in them, less the ones cancelled in them (reversals and
// administrative adjustments), per service and per rate, where the rate is the circuit
// fee stored with each payment when it was booked (so a new rate never changes history).
import { addDays, settlementDate } from '../src/domain/calendar.js';
import { PaymentError } from '../src/payments/errors.js';
import type { RebilledSums } from '../src/store/settlement-types.js';
import type { CatalogueSnapshot, Store } from '../src/store/types.js';

export interface RebillingLine {
  serviceCode: string;
  serviceName: string;
  /** Circuit fee per payment, cents. */
  rate: number;
  /** Payments booked in the month's windows. */
  count: number;
  /** Of those or earlier ones, cancelled in the month's windows (reversals and adjustments). */
  cancelled: number;
  net: number;
  /** net × rate, cents (negative when more was cancelled than booked). */
  amount: number;
}

export interface RebillingStatement {
  entityId: string;
  name: string;
  fiscalCode: string;
  month: string;
  /** First and last calendar day of the month: the windows (business days) in between. */
  from: string;
  to: string;
  /** How the entity's circuit fees are settled now: rebilled (invoiced), netted, or none (the owner). */
  mode: 'rebilled' | 'netted' | null;
  /** True once every window of the month is over: the statement can no longer change (but for adjustments, which land in later months). */
  final: boolean;
  lines: RebillingLine[];
  totals: { count: number; cancelled: number; net: number; amount: number };
}

/** FORMAT: not a month YYYY-MM. */
export class MonthError extends PaymentError {
  constructor(month: string) {
    super('FORMAT', `not a month (YYYY-MM): "${month}"`);
    this.name = 'MonthError';
  }
}

export function monthBounds(month: string): { from: string; to: string } {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
  if (!m) throw new MonthError(month);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const next = mo === 12 ? `${y + 1}-01-01` : `${y}-${String(mo + 1).padStart(2, '0')}-01`;
  return { from: `${month}-01`, to: addDays(next, -1) };
}

/** Every window of the month is over at `now`: the current window is in a later month. */
export function monthIsOver(month: string, now: number, cutoff: string): boolean {
  return settlementDate(now, cutoff) > monthBounds(month).to;
}

export function buildStatement(
  catalogue: CatalogueSnapshot,
  entityId: string,
  month: string,
  rows: RebilledSums[],
  final: boolean,
): RebillingStatement {
  const entity = catalogue.entities.get(entityId);
  if (!entity) throw new PaymentError('NOT_FOUND', `no entity ${entityId}`);
  const { from, to } = monthBounds(month);
  const byKey = new Map<string, RebillingLine>();
  for (const r of rows) {
    const key = `${r.serviceCode}/${String(r.rate).padStart(12, '0')}`;
    const line = byKey.get(key) ?? {
      serviceCode: r.serviceCode,
      serviceName: catalogue.services.get(r.serviceCode)?.name ?? r.serviceCode,
      rate: r.rate,
      count: 0,
      cancelled: 0,
      net: 0,
      amount: 0,
    };
    if (r.kind === 'booking') line.count += r.count;
    else line.cancelled += r.count;
    line.net = line.count - line.cancelled;
    line.amount = line.net * line.rate;
    byKey.set(key, line);
  }
  const lines = [...byKey.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, l]) => l);
  const versions = catalogue.circuitFees.get(entityId) ?? [];
  const current = versions.filter((v) => v.effectiveFrom <= to).at(-1) ?? null;
  return {
    entityId,
    name: entity.name,
    fiscalCode: entity.fiscalCode,
    month,
    from,
    to,
    mode: entity.isCircuitOwner ? null : (current?.mode ?? null),
    final,
    lines,
    totals: {
      count: lines.reduce((a, l) => a + l.count, 0),
      cancelled: lines.reduce((a, l) => a + l.cancelled, 0),
      net: lines.reduce((a, l) => a + l.net, 0),
      amount: lines.reduce((a, l) => a + l.amount, 0),
    },
  };
}

/** The month's circuit-fee statement of an entity, from the store's per-service, per-rate sums. */
export async function rebillingStatement(
  store: Store,
  entityId: string,
  month: string,
  opts: { now: number; cutoff: string },
): Promise<RebillingStatement> {
  monthBounds(month);
  const [catalogue, rows] = await Promise.all([store.loadCatalogue(), store.rebilledSums(entityId, month)]);
  return buildStatement(catalogue, entityId, month, rows, monthIsOver(month, opts.now, opts.cutoff));
}
