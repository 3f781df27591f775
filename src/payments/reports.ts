// The console's reads (issue 14): the payment search, a payment's fee split, the day's
// figures of a settlement window and every counter's day. Finance and admin read
// everything; an entity user is confined to its own entity (`scope`). The store
// aggregates in SQL (src/store/console-reads.ts); this folds the grouped rows.
import { romeParts, settlementDate } from '../domain/calendar.js';
import { checkNoticeNumber } from '../domain/notice.js';
import type { PaymentSearch } from '../store/console-reads.js';
import type { Payment, Store } from '../store/types.js';
import { PaymentError } from './errors.js';
import type { Payments, PaymentView } from './service.js';

/** The entity a caller is confined to: an entity user's own; null for finance and admin. */
export type Scope = string | null;

/** A payment's fee split as it was booked (cents): what an entity, finance or admin reader sees. */
export interface PaymentSplit {
  commission: number;
  operator: number;
  royalty: number;
  circuitFee: number;
  circuitFeeMode: 'netted' | 'rebilled' | null;
}

export type DetailedPaymentView = PaymentView & { split: PaymentSplit };

export function splitOf(p: Payment): PaymentSplit {
  return { commission: p.feeCommission, operator: p.feeOperator, royalty: p.feeRoyalty, circuitFee: p.circuitFeeCents, circuitFeeMode: p.circuitFeeMode };
}

export interface SearchInput {
  notice?: string;
  receipt?: string;
  rrn?: string;
  identifier?: string;
  counterId?: string;
  entityId?: string;
  service?: string;
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
}

export interface Figures {
  count: number;
  amount: number;
  fee: number;
}
export interface Group extends Figures {
  key: string;
  name: string;
}

export interface DayReport {
  date: string;
  totals: Figures;
  reversed: { count: number; amount: number };
  byService: Group[];
  byEntity: Group[];
  byChannel: Group[];
  byCounterKind: Group[];
  byHour: { hour: number; count: number; amount: number }[];
  latest: DetailedPaymentView[];
}

export interface CounterDayView {
  id: string;
  name: string;
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

const HOUR_MS = 3_600_000;
const LATEST = 20;
const CHANNEL_NAMES: Record<string, string> = { json: 'API JSON', iso8583: 'ISO 8583' };
const KIND_NAMES: Record<string, string> = { tabaccaio: 'Tabaccheria', agenzia: 'Agenzia', supermercato: 'Supermercato' };

/**
 * The notice numbers a search term may mean: an 18-digit notice number as is, or an IUV:
 * 17 digits after aux digit 1, 2 or 3, or 15 digits after aux 0 and a two-digit
 * application code (src/domain/notice.ts); only numbers with valid check digits are kept,
 * so an IUV names one or two notices, each found by its unique index.
 */
export function noticeCandidates(input: string): string[] {
  const digits = input.replace(/\s+/g, '');
  if (/^\d{18}$/.test(digits)) return [digits];
  const valid = (n: string) => checkNoticeNumber(n).ok;
  if (/^\d{17}$/.test(digits)) return ['1', '2', '3'].map((aux) => aux + digits).filter(valid);
  if (/^\d{15}$/.test(digits)) return Array.from({ length: 100 }, (_, code) => `0${String(code).padStart(2, '0')}${digits}`).filter(valid);
  throw new PaymentError('FORMAT', 'notice must be a notice number (18 digits) or an IUV (15 or 17 digits)');
}

/** A receipt number is the window date and the payment's id (src/ledger/book.ts). */
const RECEIPT = /^(\d{8})-(\d{10})$/;

function sortGroups(groups: Map<string, Group>): Group[] {
  return [...groups.values()].sort((a, b) => b.amount - a.amount || a.key.localeCompare(b.key));
}

/** Day reports kept at most (windows × scopes asked for): beyond it the cache starts again. */
const DAY_CACHE_SIZE = 64;

export interface PagoPaRefundView {
  paymentId: string;
  receiptNumber: string;
  bookedAt: string;
  counterId: string;
  terminalId: string;
  amount: number;
  fee: number;
  creditorFiscalCode: string;
  creditorName: string;
  noticeNumber: string;
  iuv: string;
  paymentToken: string;
  markedAt: string | null;
  /** The node's fault code that made it refund_due. */
  reason: string | null;
  /** The office cancelled it (the citizen got the money back). */
  refunded: boolean;
  settlementDate: string;
}

export class ConsoleReads {
  /**
   * Day reports by window and scope, each with the commit count it was read at: every
   * open console asks again after each booking, and until the next commit (on any
   * instance: the store's tail delivers them all) they all get the same answer without
   * reading the window again.
   */
  private readonly dayCache = new Map<string, { commits: number; report: Promise<DayReport> }>();
  private commits = 0;

  constructor(
    private readonly store: Store,
    private readonly payments: Pick<Payments, 'view' | 'now' | 'service' | 'entityName'>,
    private readonly cutoff: string,
  ) {
    store.onCommit(() => {
      this.commits += 1;
    });
  }

  /** The window a payment booked now falls in: the day report's default. */
  currentWindow(): string {
    return settlementDate(this.payments.now(), this.cutoff);
  }

  detail(p: Payment): DetailedPaymentView {
    return { ...this.payments.view(p), split: splitOf(p) };
  }

  async search(q: SearchInput, scope: Scope): Promise<{ items: DetailedPaymentView[]; nextCursor: string | null }> {
    if (scope !== null && q.entityId !== undefined && q.entityId !== scope) throw new PaymentError('FORBIDDEN', 'an entity reads only its own payments');
    const filters: (keyof SearchInput)[] = ['notice', 'receipt', 'rrn', 'identifier', 'counterId', 'entityId', 'service', 'from', 'to'];
    if (!filters.some((f) => q[f] !== undefined)) throw new PaymentError('FORMAT', `name at least one filter (${filters.join(', ')})`);
    if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw new PaymentError('FORMAT', 'from is after to');
    const s: PaymentSearch = {};
    if (q.notice !== undefined) s.notices = noticeCandidates(q.notice);
    if (q.rrn !== undefined) {
      s.rrn = q.rrn.padStart(12, '0');
      s.ids = [Number(s.rrn)];
    }
    if (q.receipt !== undefined) {
      const m = RECEIPT.exec(q.receipt);
      if (!m) throw new PaymentError('FORMAT', 'receipt must be a receipt number YYYYMMDD-NNNNNNNNNN');
      s.receiptNumber = q.receipt;
      s.ids = [...(s.ids ?? []), Number(m[2])];
    }
    if (q.identifier !== undefined) {
      const given = q.identifier.trim();
      s.identifiers = [...new Set([given, given.toUpperCase(), given.replace(/\s+/g, '').toUpperCase()])];
    }
    if (q.counterId !== undefined) s.counterId = q.counterId;
    const entityId = scope ?? q.entityId;
    if (entityId !== undefined) s.entityId = entityId;
    if (q.service !== undefined) s.serviceCode = q.service.trim().toUpperCase();
    if (q.from !== undefined) s.from = q.from;
    if (q.to !== undefined) s.to = q.to;
    const page = await this.store.searchPayments(s, q.cursor === undefined ? null : Number(q.cursor), q.limit);
    return { items: page.items.map((p) => this.detail(p)), nextCursor: page.nextCursor };
  }

  /** A window's figures: its bookings not reversed, grouped; the reversed ones apart; its newest payments. */
  day(date: string | undefined, scope: Scope): Promise<DayReport> {
    const window = date ?? this.currentWindow();
    const key = `${window}|${scope ?? ''}`;
    const cached = this.dayCache.get(key);
    if (cached && cached.commits === this.commits) return cached.report;
    if (this.dayCache.size >= DAY_CACHE_SIZE) this.dayCache.clear();
    const report = this.readDay(window, scope);
    const entry = { commits: this.commits, report };
    this.dayCache.set(key, entry);
    // A failed read is not kept.
    report.catch(() => {
      if (this.dayCache.get(key) === entry) this.dayCache.delete(key);
    });
    return report;
  }

  private async readDay(window: string, scope: Scope): Promise<DayReport> {
    const [groups, latest] = await Promise.all([
      this.store.dayGroups(window, scope),
      this.store.searchPayments({ from: window, to: window, ...(scope === null ? {} : { entityId: scope }) }, null, LATEST),
    ]);
    const totals: Figures = { count: 0, amount: 0, fee: 0 };
    const reversed = { count: 0, amount: 0 };
    const by = { service: new Map<string, Group>(), entity: new Map<string, Group>(), channel: new Map<string, Group>(), kind: new Map<string, Group>() };
    const hours = Array.from({ length: 24 }, (_, hour) => ({ hour, count: 0, amount: 0 }));
    const add = (m: Map<string, Group>, key: string, name: () => string, g: Figures) => {
      let x = m.get(key);
      if (!x) m.set(key, (x = { key, name: name(), count: 0, amount: 0, fee: 0 }));
      x.count += g.count;
      x.amount += g.amount;
      x.fee += g.fee;
    };
    for (const g of groups) {
      if (g.reversed) {
        reversed.count += g.count;
        reversed.amount += g.amountCents;
        continue;
      }
      const f: Figures = { count: g.count, amount: g.amountCents, fee: g.feeCents };
      totals.count += f.count;
      totals.amount += f.amount;
      totals.fee += f.fee;
      add(by.service, g.serviceCode, () => this.payments.service(g.serviceCode)?.name ?? g.serviceCode, f);
      add(by.entity, g.entityId, () => this.payments.entityName(g.entityId), f);
      add(by.channel, g.channel, () => CHANNEL_NAMES[g.channel] ?? g.channel, f);
      add(by.kind, g.counterKind, () => KIND_NAMES[g.counterKind] ?? g.counterKind, f);
      const hour = hours[Number(romeParts(g.utcHour * HOUR_MS).time.slice(0, 2))]!;
      hour.count += f.count;
      hour.amount += f.amount;
    }
    return {
      date: window,
      totals,
      reversed,
      byService: sortGroups(by.service),
      byEntity: sortGroups(by.entity),
      byChannel: sortGroups(by.channel),
      byCounterKind: sortGroups(by.kind),
      byHour: hours,
      latest: latest.items.map((p) => this.detail(p)),
    };
  }

  /** Every counter: status, credit limit and credit used, and the window's bookings not reversed. */
  /**
   * pagoPA payments the node took no receipt for (docs/pagopa.md "Refunds"), newest first:
   * the counter took the money, so the citizen is refunded (the office cancels the payment)
   * or the creditor is paid and told with code 9 in the reporting flow.
   */
  async pagopaRefunds(limit = 200): Promise<PagoPaRefundView[]> {
    const rows = await this.store.pagopaRefundsDue(limit);
    const out: PagoPaRefundView[] = [];
    for (const g of rows) {
      const p = await this.store.getPaymentById(g.paymentId);
      if (!p) continue;
      out.push({
        paymentId: p.publicId, receiptNumber: p.receiptNumber, bookedAt: new Date(p.bookedAt).toISOString(), counterId: p.counterId, terminalId: p.terminalId,
        amount: p.amountCents, fee: p.feeCents, creditorFiscalCode: g.creditorFiscalCode, creditorName: g.creditorName, noticeNumber: g.noticeNumber, iuv: g.iuv,
        paymentToken: g.paymentToken, markedAt: g.outcomeAt === null ? null : new Date(g.outcomeAt).toISOString(), reason: g.outcomeFault,
        refunded: p.reversedAt !== null, settlementDate: p.settlementDate,
      });
    }
    return out;
  }

  async countersDay(date: string | undefined): Promise<CounterDayView[]> {
    const rows = await this.store.countersDay(date ?? this.currentWindow());
    return rows.map((c) => ({
      id: c.id, name: c.name, kind: c.kind, kindName: KIND_NAMES[c.kind] ?? c.kind, status: c.status, creditLimit: c.creditLimitCents, exposure: c.exposureCents,
      count: c.count, amount: c.amountCents, fee: c.feeCents, commission: c.commissionCents,
    }));
  }
}
