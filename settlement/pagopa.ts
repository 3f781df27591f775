// Settlement and reporting of pagoPA payments (docs/pagopa.md "Settlement and reporting
// flows"). The money of a window's pagoPA payments does not go to the IBAN of the
// catalogue entity they were booked under: it goes, per creditor fiscal code and IBAN of
// the activations' transfers, in one SEPA credit transfer (SCT) each, whose remittance
// information is the id of its reporting flow (FlussoRiversamento), the list of exactly
// the transfers it pays. A payment reversed in its own window (the office's cancel of a
// refund_due one) is not paid out.
//
// - pagopaSettlement(): pure, the SCTs of a window from its records (figures.ts);
// - buildWindowFlows(): at approval, the flows of the approved SCTs, stored;
// - sendPagoPaFlows(): sends the flows not accepted yet (at approval, then nightly).
//
// Deterministic: the flow id is `<window date><idPSP>-<unique>`, the unique part a hash
// of (window date, creditor, IBAN); the flow's dataOraFlusso is the window's approval
// time, so a rebuilt flow is the same document and the node accepts it again.
import { createHash } from 'node:crypto';
import { addDays, nextWorkingDay, romeDate, romeInstant } from '../src/domain/calendar.js';
import { logger } from '../src/log.js';
import { NodeTransportError, type PspClient } from '../src/pagopa/client.js';
import { buildFlow, flowId, type FlowTransfer } from '../src/pagopa/flow.js';
import type { PagoPaFlow, PagoPaSettlementRecord } from '../src/store/pagopa-flow-types.js';
import type { Store } from '../src/store/types.js';

/** One SCT to a creditor's IBAN and its reporting flow. */
export interface PagoPaSct {
  fiscalCode: string;
  name: string;
  iban: string;
  flowId: string;
  /** Transfers it pays (the flow's lines). */
  count: number;
  amount: number;
}

/** The figures' pagoPA section, present only when the window has pagoPA payments. */
export interface PagoPaFigures {
  /** Payments booked in the window, and of them those reversed in it (not paid out). */
  payments: number;
  amount: number;
  reversedInWindow: { count: number; amount: number };
  /** Per creditor fiscal code: its SCTs, one per IBAN. */
  creditors: { fiscalCode: string; name: string; count: number; amount: number; scts: PagoPaSct[] }[];
  /** Per catalogue entity: the share of its payout sent to pagoPA creditors instead of its IBAN. */
  entities: { entityId: string; amount: number }[];
}

/** A flow line with the payment it comes from. */
interface Line extends FlowTransfer {
  paymentId: number;
}

interface Group {
  fiscalCode: string;
  iban: string;
  lines: Line[];
}

/** The most characters the flow id's unique part takes. */
const UNIQUE_MAX = 16;
/** Below this, the flow ids of a day could collide: the idPSP is too long for the 35 characters. */
const UNIQUE_MIN = 8;
const BASE36 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * The flow id of the SCT of a window to a creditor's IBAN: `<date><idPSP>-<unique>`, the
 * unique part base36 of a SHA-256 of (date, fiscal code, IBAN), as long as the 35
 * characters allow (at most 16).
 */
export function sctFlowId(date: string, idPSP: string, fiscalCode: string, iban: string): string {
  const room = Math.min(UNIQUE_MAX, 35 - date.length - idPSP.length - 1);
  if (room < UNIQUE_MIN) throw new RangeError(`idPSP "${idPSP}" leaves ${room} characters of the 35 of a flow id: at least ${UNIQUE_MIN} are needed`);
  let n = BigInt(`0x${createHash('sha256').update(`${date}\0${fiscalCode}\0${iban}`).digest('hex')}`);
  let unique = '';
  for (let i = 0; i < room; i++) {
    unique += BASE36[Number(n % 36n)];
    n /= 36n;
  }
  return flowId(date, idPSP, unique);
}

/** The outcome code of a paid-out transfer: 0 the node took the outcome OK (or it is still on its way), 9 paid without the node's receipt. */
function outcomeOf(r: PagoPaSettlementRecord): 0 | 9 {
  return r.outcome === 'refund_due' ? 9 : 0;
}

/** The window's transfers to pay, grouped by creditor fiscal code and IBAN, sorted; payments by id, transfers by index. */
function groupsOf(records: PagoPaSettlementRecord[]): Group[] {
  const groups = new Map<string, Group>();
  for (const r of [...records].sort((a, b) => a.paymentId - b.paymentId)) {
    if (r.reversedInWindow) continue;
    for (const t of r.transfers) {
      const key = `${t.fiscalCode}\0${t.iban}`;
      const g = groups.get(key) ?? { fiscalCode: t.fiscalCode, iban: t.iban, lines: [] };
      g.lines.push({
        paymentId: r.paymentId,
        iuv: r.iuv,
        paymentToken: r.paymentToken,
        transferIndex: t.index,
        amountCents: t.amountCents,
        outcome: outcomeOf(r),
        outcomeDate: romeDate(r.outcomeAt ?? r.activatedAt),
      });
      groups.set(key, g);
    }
  }
  return [...groups.values()].sort((a, b) => (a.fiscalCode === b.fiscalCode ? (a.iban < b.iban ? -1 : 1) : a.fiscalCode < b.fiscalCode ? -1 : 1));
}

/**
 * A creditor's name: the catalogue entity with its fiscal code, else the name the node
 * gave with the lowest payment whose creditor it is, else its fiscal code (a transfer's
 * beneficiary the window names nowhere else, e.g. a Città Metropolitana's TEFA share).
 */
function nameOf(fiscalCode: string, records: PagoPaSettlementRecord[], catalogueNames: Map<string, string>): string {
  return catalogueNames.get(fiscalCode) ?? records.find((r) => r.creditorFiscalCode === fiscalCode)?.creditorName ?? `Ente ${fiscalCode}`;
}

/**
 * The pagoPA section of a window's figures, with the problems that refuse its settlement
 * (a payment whose transfers do not sum to its amount). Null when the window has none.
 */
export function pagopaSettlement(
  date: string,
  records: PagoPaSettlementRecord[],
  idPSP: string,
  catalogueNames: Map<string, string>,
  problems: string[],
): PagoPaFigures | null {
  if (records.length === 0) return null;
  const sorted = [...records].sort((a, b) => a.paymentId - b.paymentId);
  const byEntity = new Map<string, number>();
  let reversedCount = 0;
  let reversedAmount = 0;
  for (const r of sorted) {
    const sum = r.transfers.reduce((a, t) => a + t.amountCents, 0);
    if (sum !== r.amountCents) problems.push(`pagoPA payment ${r.paymentId}: its transfers sum to ${sum} cents, the payment is ${r.amountCents}`);
    if (r.reversedInWindow) {
      reversedCount++;
      reversedAmount += r.amountCents;
    } else byEntity.set(r.entityId, (byEntity.get(r.entityId) ?? 0) + r.amountCents);
  }
  const creditors: PagoPaFigures['creditors'] = [];
  for (const g of groupsOf(sorted)) {
    const sct: PagoPaSct = {
      fiscalCode: g.fiscalCode,
      name: nameOf(g.fiscalCode, sorted, catalogueNames),
      iban: g.iban,
      flowId: sctFlowId(date, idPSP, g.fiscalCode, g.iban),
      count: g.lines.length,
      amount: g.lines.reduce((a, l) => a + l.amountCents, 0),
    };
    let c = creditors.at(-1);
    if (!c || c.fiscalCode !== g.fiscalCode) {
      c = { fiscalCode: g.fiscalCode, name: sct.name, count: 0, amount: 0, scts: [] };
      creditors.push(c);
    }
    c.count += sct.count;
    c.amount += sct.amount;
    c.scts.push(sct);
  }
  return {
    payments: sorted.length,
    amount: sorted.reduce((a, r) => a + r.amountCents, 0),
    reversedInWindow: { count: reversedCount, amount: reversedAmount },
    creditors,
    entities: [...byEntity.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([entityId, amount]) => ({ entityId, amount })),
  };
}

// ---------------------------------------------------------------------------
// Reporting flows

/** The end of D+2: the flows of a window must be accepted before the end of its second business day after it (Rome). */
export function flowDeadline(date: string): number {
  const d1 = nextWorkingDay(addDays(date, 1));
  const d2 = nextWorkingDay(addDays(d1, 1));
  return romeInstant(addDays(d2, 1), '00:00:00');
}

/**
 * Builds and stores the reporting flows of an approved window's SCTs (a flow already
 * stored stays as it is). Each flow is checked against its SCT: same id, same total, same
 * count; a flow that does not match is not stored, and said loudly. Returns the flows of
 * the window as stored.
 */
export async function buildWindowFlows(
  store: Store,
  date: string,
  section: PagoPaFigures,
  opts: { idPSP: string; approvedAt: number },
): Promise<PagoPaFlow[]> {
  const records = await store.pagopaSettlementOfWindow(date);
  const groups = new Map(groupsOf(records).map((g) => [`${g.fiscalCode}\0${g.iban}`, g]));
  const built = [];
  for (const c of section.creditors) {
    for (const sct of c.scts) {
      const g = groups.get(`${sct.fiscalCode}\0${sct.iban}`);
      const prefix = `${date}${opts.idPSP}-`;
      if (!g || !sct.flowId.startsWith(prefix)) {
        logger.error('pagoPA flow not built: the approved transfer does not match the window or the PSP', { date, flowId: sct.flowId, creditor: sct.fiscalCode });
        continue;
      }
      const flow = buildFlow({
        settlementDate: date,
        idPSP: opts.idPSP,
        creditor: { fiscalCode: sct.fiscalCode, name: sct.name },
        sctReference: sct.flowId,
        unique: sct.flowId.slice(prefix.length),
        createdAt: opts.approvedAt,
        transfers: g.lines.map(({ paymentId: _, ...t }) => t),
      });
      if (flow.flowId !== sct.flowId || flow.totalCents !== sct.amount || flow.count !== sct.count) {
        logger.error('pagoPA flow not built: its total differs from its credit transfer', { date, flowId: sct.flowId, flowCents: flow.totalCents, sctCents: sct.amount });
        continue;
      }
      built.push({
        flowId: flow.flowId,
        settlementDate: date,
        creditorFiscalCode: sct.fiscalCode,
        creditorName: sct.name,
        iban: sct.iban,
        totalCents: flow.totalCents,
        count: flow.count,
        flowDateTime: flow.flowDateTime,
        xml: flow.xml,
        createdAt: opts.approvedAt,
      });
    }
  }
  await store.savePagoPaFlows(built);
  return store.pagopaFlows({ date });
}

/** The node's faults worth another attempt: its own trouble, not the flow's. */
const RETRYABLE_FAULTS = new Set(['PPT_SYSTEM_ERROR']);

/**
 * Sends the flows not accepted yet (of one window, or of all), each once (the client
 * retries transport failures), and records each answer: accepted; a transport failure or
 * the node's system error keeps it pending (sent again by the nightly job); any other
 * fault refuses it, said as an error (the same content would be refused again). A flow
 * still not accepted past its deadline (end of D+2) is logged as an error.
 */
export async function sendPagoPaFlows(store: Store, client: PspClient, now: () => number, opts: { date?: string } = {}): Promise<PagoPaFlow[]> {
  const pending = await store.pagopaFlows({ ...opts, pendingOnly: true });
  for (const f of pending) {
    let state: PagoPaFlow['state'];
    let fault: string | null = null;
    try {
      const answer = await client.sendFlow(f);
      if (answer.ok) state = 'accepted';
      else {
        fault = `${answer.fault.code}: ${answer.fault.description ?? ''}`.slice(0, 500);
        state = RETRYABLE_FAULTS.has(answer.fault.code) ? 'pending' : 'refused';
      }
    } catch (err) {
      if (!(err instanceof NodeTransportError)) throw err;
      state = 'pending';
      fault = `${err.code}: ${err.message}`.slice(0, 500);
    }
    await store.recordPagoPaFlowAttempt(f.flowId, { state, fault, at: now() });
    const log = { flowId: f.flowId, date: f.settlementDate, creditor: f.creditorFiscalCode, totalCents: f.totalCents, fault };
    if (state === 'accepted') logger.info('pagoPA flow accepted', log);
    else if (state === 'refused') logger.error('pagoPA flow refused by the node: fix and report it by hand', log);
    else logger.warn('pagoPA flow not accepted yet: sent again by the nightly job', log);
  }
  // Of one window: all its flows; of all: the ones still pending (accepted ones are done, refused ones were said).
  const after = await store.pagopaFlows(opts.date !== undefined ? opts : { pendingOnly: true });
  for (const f of after) {
    if (f.state === 'pending' && now() >= flowDeadline(f.settlementDate)) {
      logger.error('pagoPA flow not accepted by the end of D+2', { flowId: f.flowId, date: f.settlementDate, creditor: f.creditorFiscalCode, state: f.state, lastFault: f.lastFault });
    }
  }
  return after;
}

/** How many approved windows back the nightly job looks for flows to build or send. */
export const FLOW_LOOKBACK_WINDOWS = 10;

/**
 * The nightly job's part: builds the flows of recently approved windows that have none
 * yet (approved while the bridge was off, or a crash between approval and building),
 * then sends every flow not accepted yet.
 */
export async function reportPagoPaFlows(store: Store, client: PspClient, now: () => number): Promise<PagoPaFlow[]> {
  const windows = (await store.listWindows()).filter((w) => w.status === 'approved' || w.status === 'exported').slice(0, FLOW_LOOKBACK_WINDOWS);
  for (const w of windows) {
    const section = (JSON.parse(w.figures!) as { pagopa?: PagoPaFigures }).pagopa;
    if (!section) continue;
    const stored = await store.pagopaFlows({ date: w.date });
    const expected = section.creditors.reduce((a, c) => a + c.scts.length, 0);
    if (stored.length < expected) await buildWindowFlows(store, w.date, section, { idPSP: client.config.identity.idPSP, approvedAt: w.approvedAt! });
  }
  return sendPagoPaFlows(store, client, now);
}
