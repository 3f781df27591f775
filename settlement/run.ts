// The settlement run: close a window, compute its figures from one snapshot, check
// them against the ledger, and keep them as a draft until finance approves.
// Deterministic and idempotent: the figures depend only on the window's payments, so
// a second run stores the identical draft (same hash) and moves no money twice; an
// approved window is never recomputed into anything else.
import { createHash } from 'node:crypto';
import { addDays, isWorkingDay, settlementDate } from '../src/domain/calendar.js';
import { PaymentError } from '../src/payments/errors.js';
import type { Counter, Store } from '../src/store/types.js';
import type { WindowRow } from '../src/store/settlement-types.js';
import { computeFigures, type Operator, type SettlementFigures } from './figures.js';

export interface SettleOptions {
  cutoff: string;
  operator: Operator;
  /** The switch's clock reading: what is over and when the window closes. */
  now: number;
  onProgress?: (step: string, done: number, total: number) => void;
  /** Who runs it, for the audit log: 'finance:anna', 'cli', 'system:scheduler'. */
  actor?: string;
  /**
   * The PSP on pagoPA's node (config.pagopa's idPSP): its pagoPA payments' credit transfers
   * carry flow ids made of it. Null or absent: a window with pagoPA payments is refused.
   */
  pagopa?: { idPSP: string } | null;
}

export interface SettleResult {
  window: WindowRow;
  figures: SettlementFigures;
  /** 'created': first draft; 'unchanged': same figures again; 'approved': the stored, immutable figures. */
  outcome: 'created' | 'unchanged' | 'recomputed' | 'approved';
}

/** WINDOW_OPEN: the business day's window has not closed yet. */
export class WindowOpenError extends PaymentError {
  constructor(readonly date: string) {
    super('WINDOW_OPEN', `the settlement window of ${date} is still open: it closes at the cutoff after that business day`);
    this.name = 'WindowOpenError';
  }
}

export function figuresHash(json: string): string {
  return createHash('sha256').update(json).digest('hex');
}

/** Runs the settlement of a day (below) and audits the run, or its refusal, as settlement.run. */
export async function settle(store: Store, date: string, opts: SettleOptions): Promise<SettleResult> {
  const audit = (detail: Record<string, unknown>) => store.appendAudit([{ actor: opts.actor ?? 'system', action: 'settlement.run', target: date, detail }]);
  let r: SettleResult;
  try {
    r = await settleDay(store, date, opts);
  } catch (err) {
    if (err instanceof PaymentError) await audit({ refused: err.code });
    throw err;
  }
  await audit({ outcome: r.outcome, figuresHash: r.window.figuresHash, payments: r.figures.totals.payments });
  return r;
}

async function settleDay(store: Store, date: string, opts: SettleOptions): Promise<SettleResult> {
  const now = opts.now;
  const progress = opts.onProgress ?? (() => undefined);
  if (!isWorkingDay(date)) throw new PaymentError('NOT_A_BUSINESS_DAY', `${date} is not a business day: weekend and holiday payments settle on the next one`);
  if (settlementDate(now, opts.cutoff) <= date) throw new WindowOpenError(date);

  const existing = await store.getWindow(date);
  if (existing && (existing.status === 'approved' || existing.status === 'exported')) {
    return { window: existing, figures: JSON.parse(existing.figures!) as SettlementFigures, outcome: 'approved' };
  }
  progress('closing the window', 0, 4);
  await store.closeWindow(date, now);
  progress('summing the window', 1, 4);
  const sums = await store.windowSums(date);
  progress('checking against the ledger', 2, 4);
  const [catalogue, counters, pagopaRecords] = await Promise.all([store.loadCatalogue(), store.listCounters(), store.pagopaSettlementOfWindow(date)]);
  if (pagopaRecords.length > 0 && !opts.pagopa) {
    throw new PaymentError('UNAVAILABLE', `the window of ${date} has ${pagopaRecords.length} pagoPA payments: settling them needs the PSP's identity (TSERVE_PAGOPA_NODE_URL, TSERVE_PAGOPA_PSP_ID...)`);
  }
  const pagopa = pagopaRecords.length > 0 ? { records: pagopaRecords, idPSP: opts.pagopa!.idPSP } : null;
  const figures = computeFigures(date, opts.cutoff, sums, catalogue, new Map<string, Counter>(counters.map((c) => [c.id, c])), opts.operator, pagopa);
  const json = JSON.stringify(figures);
  const hash = figuresHash(json);
  progress('saving the draft', 3, 4);
  if (!(await store.saveDraft(date, json, hash, now))) {
    // Approved in the meantime by someone else: the stored figures stand.
    const w = (await store.getWindow(date))!;
    return { window: w, figures: JSON.parse(w.figures!) as SettlementFigures, outcome: 'approved' };
  }
  if (!existing || existing.status === 'closed') {
    await store.recordEvent({
      type: 'settlement.closed',
      at: now,
      terminalId: null,
      counterId: null,
      entityId: null,
      serviceCode: null,
      payload: { date, figuresHash: hash, payments: figures.totals.payments, gross: figures.totals.gross, collected: figures.totals.collected },
    });
  }
  progress('done', 4, 4);
  const window = (await store.getWindow(date))!;
  const outcome = !existing?.figuresHash ? 'created' : existing.figuresHash === hash ? 'unchanged' : 'recomputed';
  return { window, figures, outcome };
}

/**
 * Business days whose windows are over and not yet settled, oldest first, up to `limit`
 * days back. Before the first window ever settled, days before the switch's first
 * movement are not due: a new installation owes no empty settlements for the weeks
 * before it booked anything.
 */
export async function windowsDue(store: Store, cutoff: string, now: number, limit = 31): Promise<string[]> {
  const current = settlementDate(now, cutoff);
  const due: string[] = [];
  let settledBefore = false;
  for (let d = addDays(current, -1), i = 0; i < limit; d = addDays(d, -1), i++) {
    if (!isWorkingDay(d)) continue;
    const w = await store.getWindow(d);
    if (w && w.status !== 'closed') {
      settledBefore = true; // everything before it was settled already
      break;
    }
    due.unshift(d);
  }
  if (!settledBefore) {
    while (due.length > 0 && !(await store.getWindow(due[0]!)) && (await store.windowSums(due[0]!)).movements.length === 0) due.shift();
  }
  return due;
}

export interface CatchUp {
  /** The windows that were due, oldest first. */
  due: string[];
  settled: SettleResult[];
  /** The first window that could not be settled, and why; the later ones were left for the next run. */
  failed: { date: string; error: unknown } | null;
}

/**
 * Settles every window that is over and not settled yet, oldest first: after a night or
 * a week of downtime one run catches up. It stops at the first window it cannot settle
 * (a refusal, the database gone): the later ones are left for the next run, so that
 * windows are always settled, approved and exported in date order.
 */
export async function settleDue(
  store: Store,
  opts: SettleOptions & { onWindow?: (date: string, index: number, count: number) => void; onSettled?: (r: SettleResult) => void },
): Promise<CatchUp> {
  const due = await windowsDue(store, opts.cutoff, opts.now);
  const settled: SettleResult[] = [];
  for (const [i, date] of due.entries()) {
    opts.onWindow?.(date, i, due.length);
    try {
      const r = await settle(store, date, opts);
      settled.push(r);
      opts.onSettled?.(r);
    } catch (error) {
      return { due, settled, failed: { date, error } };
    }
  }
  return { due, settled, failed: null };
}
