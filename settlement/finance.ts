// The finance office's use-cases (issue #5): settlement windows (run, approve), the
// statements and reports (JSON, CSV, PDF), the SEPA files, administrative refunds, and
// the monthly rebilling of circuit fees (statements, lines, FatturaPA invoices).
// src/http/finance-api.ts decodes, authorises (role; it passes the entity a caller is
// confined to as `scope`), calls one method here and encodes. Every refusal is a
// PaymentError with a code of the one table (src/payments/errors.ts).
import { logger } from '../src/log.js';
import type { PspClient } from '../src/pagopa/client.js';
import type { PagoPaFlow } from '../src/store/pagopa-flow-types.js';
import { PaymentError } from '../src/payments/errors.js';
import type { Payments } from '../src/payments/service.js';
import type { WindowRow } from '../src/store/settlement-types.js';
import type { Entity, Payment, Store } from '../src/store/types.js';
import { fatturaPA, invoiceNumber } from './fatturapa.js';
import { SettlementError, type CounterStatement, type EntityStatement, type Operator, type SettlementFigures } from './figures.js';
import { monthBounds, rebillingStatement } from './rebilling.js';
import { csvFilename, type Dialect } from './csv-dialect.js';
import { countersCsv, entitiesCsv, linesCsv, rebillingCsv } from './csv-reports.js';
import { counterStatementPdf, entityStatementPdf, reportPdf, windowPeriod } from './reports.js';
import { buildWindowFlows, flowDeadline, sendPagoPaFlows } from './pagopa.js';
import { settle, windowsDue } from './run.js';
import { circuitAccount, pain001, pain008, sepaSummary } from './sepa.js';

/** The settlement files' settings (TSERVE_SDD_CREDITOR_ID, TSERVE_SETTLEMENT_IBAN/BIC, TSERVE_OWNER_VAT_NUMBER, TSERVE_FATTURAPA_CODES). */
export interface SettlementFilesSettings {
  creditorId: string;
  iban: string | null;
  bic: string | null;
  ownerVatNumber: string;
  invoiceCodes: Record<string, string>;
}

export interface FinanceDeps {
  store: Store;
  /** The switch's clock and its door to booking (administrative refunds). */
  payments: Pick<Payments, 'now' | 'adjust' | 'cancel'>;
  cutoff: string;
  operator: Operator;
  files: SettlementFilesSettings;
  /** pagoPA's node (config.pagopa): builds and sends the reporting flows at approval; null or absent: the bridge is off. */
  pagopa?: PspClient | null;
}

/**
 * The entity a caller is confined to: an entity user's own; null for finance and admin,
 * who read every entity (naming the one they want where a route needs one).
 */
export type Scope = string | null;

export type Format = 'json' | 'csv' | 'pdf';

/** The CSV a caller asks for: the machine CSV, or 'it' for Italian Excel (csv-dialect.ts). */
export type { Dialect };

/** A document to hand over: JSON data, or the bytes of a CSV, PDF or XML file named `filename` (no extension). */
export type FinanceDocument =
  | { format: 'json'; body: unknown; filename: string }
  | { format: 'csv' | 'pdf' | 'xml'; body: string | Buffer; filename: string };

/** A window as the API shows it: instants in ISO 8601 UTC, with the period it covers. */
export interface WindowView {
  date: string;
  status: WindowRow['status'];
  period: { from: string; to: string };
  closedAt: string;
  computedAt: string | null;
  approvedAt: string | null;
  approvedBy: string | null;
  exportedAt: string | null;
  figuresHash: string | null | undefined;
}

/** How the finance office's cancel was booked: a reversal in the payment's own window, or an adjustment in a later one. */
export interface Cancellation {
  kind: 'reversal' | 'adjustment';
  window: string;
  originalWindow: string;
  actor: string;
  reason: string;
}

/** Payment lines are read and written in pages of this many. */
export const LINES_PAGE = 5000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A reporting flow as the API shows it (without its XML). */
function flowView(f: PagoPaFlow) {
  return {
    flowId: f.flowId,
    creditorFiscalCode: f.creditorFiscalCode,
    creditorName: f.creditorName,
    iban: f.iban,
    totalCents: f.totalCents,
    count: f.count,
    state: f.state,
    attempts: f.attempts,
    lastFault: f.lastFault,
    createdAt: iso(f.createdAt)!,
    sentAt: iso(f.sentAt),
  };
}

function zeroStatement(e: Entity): EntityStatement {
  return {
    entityId: e.id, name: e.name, fiscalCode: e.fiscalCode, iban: e.iban, services: [], count: 0, gross: 0, reversals: 0, adjustments: 0,
    circuitFeesNetted: 0, circuitFeesRebilled: 0, royaltiesReceived: 0, circuitFeesReceived: 0, netPayout: 0,
  };
}

export class Finance {
  private readonly store: Store;

  constructor(private readonly deps: FinanceDeps) {
    this.store = deps.store;
  }

  private now(): number {
    return this.deps.payments.now();
  }

  view(w: WindowRow): WindowView {
    const p = windowPeriod(w.date, this.deps.cutoff);
    return {
      date: w.date,
      status: w.status,
      period: { from: new Date(p.from).toISOString(), to: new Date(p.to).toISOString() },
      closedAt: iso(w.closedAt)!,
      computedAt: iso(w.computedAt),
      approvedAt: iso(w.approvedAt),
      approvedBy: w.approvedBy,
      exportedAt: iso(w.exportedAt),
      figuresHash: w.figuresHash,
    };
  }

  /** What an entity may see of a window: no hash of figures it cannot see. */
  private entityView(w: WindowRow): WindowView {
    return { ...this.view(w), figuresHash: undefined };
  }

  /** A window with figures (draft, approved or exported). */
  private async settled(date: string): Promise<{ window: WindowRow; figures: SettlementFigures }> {
    const w = await this.store.getWindow(date);
    if (!w || !w.figures) throw new PaymentError('NOT_FOUND', `no settlement for ${date} yet: POST /v1/settlements/${date}/run computes it`);
    return { window: w, figures: JSON.parse(w.figures) as SettlementFigures };
  }

  /** The entity a caller may read: its own when confined to one; else the one named. */
  private async readableEntity(scope: Scope, named: string | undefined): Promise<Entity> {
    if (scope !== null && named !== undefined && named !== scope) throw new PaymentError('FORBIDDEN', 'an entity reads only its own statements');
    const id = scope ?? named;
    if (!id) throw new PaymentError('FORMAT', 'entityId is required');
    const e = (await this.store.loadCatalogue()).entities.get(id);
    if (!e) throw new PaymentError('NOT_FOUND', `no entity ${id}`);
    return e;
  }

  private async account() {
    return circuitAccount((await this.store.loadCatalogue()).owner, this.deps.files);
  }

  // ---------------------------------------------------------------- windows

  /** Windows, newest first; an entity gets its own statement summary, finance and admin the totals. */
  async windows(q: { from?: string; to?: string }, scope: Scope) {
    const windows = (await this.store.listWindows()).filter((w) => (!q.from || w.date >= q.from) && (!q.to || w.date <= q.to));
    return windows.map((w) => {
      const figures = w.figures ? (JSON.parse(w.figures) as SettlementFigures) : null;
      if (scope !== null) {
        const e = figures?.entities.find((x) => x.entityId === scope);
        const statement = figures
          ? { entityId: scope, count: e?.count ?? 0, gross: e?.gross ?? 0, reversals: e?.reversals ?? 0, adjustments: e?.adjustments ?? 0, netPayout: e?.netPayout ?? 0 }
          : null;
        return { ...this.entityView(w), statement };
      }
      return { ...this.view(w), totals: figures?.totals ?? null };
    });
  }

  /** A window: the whole figures with what the SEPA files carry (finance, admin), or an entity's own statement. */
  async window(date: string, scope: Scope) {
    const { window, figures } = await this.settled(date);
    if (scope !== null) {
      const e = await this.readableEntity(scope, undefined);
      return { window: this.entityView(window), statement: figures.entities.find((x) => x.entityId === e.id) ?? zeroStatement(e) };
    }
    const pagopa = figures.pagopa ? { pagopa: await this.pagopaReport(date, figures) } : {};
    return { window: this.view(window), figures, sepa: sepaSummary(figures, await this.account()), ...pagopa };
  }

  /** The pagoPA payments of a window apart, per creditor: each credit transfer with its reporting flow's state. */
  private async pagopaReport(date: string, figures: SettlementFigures) {
    const flows = new Map((await this.store.pagopaFlows({ date })).map((f) => [f.flowId, f]));
    return {
      payments: figures.pagopa!.payments,
      amount: figures.pagopa!.amount,
      reversedInWindow: figures.pagopa!.reversedInWindow,
      deadline: new Date(flowDeadline(date)).toISOString(),
      creditors: figures.pagopa!.creditors.map((c) => ({
        ...c,
        scts: c.scts.map((s) => ({ ...s, flow: flows.has(s.flowId) ? flowView(flows.get(s.flowId)!) : null })),
      })),
    };
  }

  /** The reporting flows of a window (finance, admin): built at approval, with the node's answer. */
  async pagopaFlows(date: string) {
    const { window, figures } = await this.settled(date);
    const flows = await this.store.pagopaFlows({ date });
    return {
      date,
      status: window.status,
      deadline: figures.pagopa ? new Date(flowDeadline(date)).toISOString() : null,
      scts: figures.pagopa ? figures.pagopa.creditors.reduce((a, c) => a + c.scts.length, 0) : 0,
      flows: flows.map(flowView),
    };
  }

  /**
   * The reporting flows of an approved window: built (once; the same document again on a
   * second call) and sent at once. A flow the node does not accept now stays pending and
   * the nightly job sends it again; nothing here undoes the approval.
   */
  private async reportFlows(date: string, w: WindowRow): Promise<void> {
    const figures = JSON.parse(w.figures!) as SettlementFigures;
    if (!figures.pagopa) return;
    const client = this.deps.pagopa;
    if (!client) {
      logger.warn('pagoPA flows not built: the bridge is off (TSERVE_PAGOPA_NODE_URL); the nightly job builds them once it is on', { date });
      return;
    }
    try {
      await buildWindowFlows(this.store, date, figures.pagopa, { idPSP: client.config.identity.idPSP, approvedAt: w.approvedAt! });
      await sendPagoPaFlows(this.store, client, () => this.now(), { date });
    } catch (err) {
      logger.error('pagoPA flows of an approved window could not be built or sent: the nightly job tries again', { date, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Business days whose windows are over and not settled yet, oldest first: what the nightly run would settle. */
  due(): Promise<string[]> {
    return windowsDue(this.store, this.deps.cutoff, this.now());
  }

  /** Close and settle a business day into a draft (settlement/run.ts). */
  async run(date: string, actor: string) {
    try {
      const pagopa = this.deps.pagopa ? { idPSP: this.deps.pagopa.config.identity.idPSP } : null;
      const result = await settle(this.store, date, { cutoff: this.deps.cutoff, operator: this.deps.operator, now: this.now(), actor, pagopa });
      return { outcome: result.outcome, window: this.view(result.window), figures: result.figures };
    } catch (err) {
      // A broken invariant: refused (SETTLEMENT_UNBALANCED), and said loudly.
      if (err instanceof SettlementError) logger.error('settlement refused: the figures do not balance with the ledger', { date, problems: err.problems });
      throw err;
    }
  }

  /** Approve a draft; approving again changes nothing. */
  async approve(date: string, actor: string): Promise<{ changed: boolean; window: WindowView }> {
    const before = await this.store.getWindow(date);
    if (!before) throw new PaymentError('NOT_FOUND', `no settlement for ${date}`);
    if (before.status === 'closed' || !before.figures) throw new PaymentError('DRAFT_MISSING', `the settlement of ${date} has no draft yet: run it first`);
    // What each counter's direct debit collects now counts as settled against its credit limit.
    const figures = JSON.parse(before.figures) as SettlementFigures;
    const collected = new Map(figures.counters.map((c) => [c.counterId, c.collected]));
    const w = await this.store.approveWindow(date, actor, this.now(), collected);
    await this.reportFlows(date, w);
    return { changed: before.status === 'draft', window: this.view(w) };
  }

  // ---------------------------------------------------------------- statements and reports

  /** An entity's statement; an entity reads its own. */
  async entityStatement(date: string, entityId: string, format: Format, scope: Scope, dialect: Dialect = 'machine'): Promise<FinanceDocument> {
    const e = await this.readableEntity(scope, entityId);
    const { window, figures } = await this.settled(date);
    const statement = figures.entities.find((x) => x.entityId === e.id) ?? zeroStatement(e);
    const filename = `tserve-${date}-${e.id}`;
    if (format === 'json') return { format, body: { window: this.entityView(window), statement }, filename };
    if (format === 'csv') return { format, body: entitiesCsv(date, [statement], dialect), filename: csvFilename(filename, dialect) };
    return { format, body: await entityStatementPdf(figures, statement, window.status, this.deps.cutoff, this.now()), filename };
  }

  /** A counter's statement (a counter without payments in the window: zeros). */
  async counterStatement(date: string, counterId: string, format: Format, dialect: Dialect = 'machine'): Promise<FinanceDocument> {
    const { window, figures } = await this.settled(date);
    let statement: CounterStatement | undefined = figures.counters.find((c) => c.counterId === counterId);
    if (!statement) {
      const c = await this.store.getCounter(counterId);
      if (!c) throw new PaymentError('NOT_FOUND', `no counter ${counterId}`);
      statement = { counterId: c.id, name: c.name, kind: c.kind, iban: c.iban, mandateRef: c.mandateRef, count: 0, cancelledCount: 0, collected: 0, commission: 0, owed: 0 };
    }
    const filename = `tserve-${date}-${counterId}`;
    if (format === 'json') return { format, body: { window: this.view(window), statement }, filename };
    if (format === 'csv') return { format, body: countersCsv(date, [statement], dialect), filename: csvFilename(filename, dialect) };
    return { format, body: await counterStatementPdf(figures, statement, window.status, this.deps.cutoff, this.now()), filename };
  }

  /** Every entity (one row per service and a TOTAL row), or every counter, as CSV. */
  async summaryCsv(date: string, of: 'entities' | 'counters', dialect: Dialect = 'machine'): Promise<FinanceDocument> {
    const { figures } = await this.settled(date);
    const body = of === 'entities' ? entitiesCsv(date, figures.entities, dialect) : countersCsv(date, figures.counters, dialect);
    return { format: 'csv', body, filename: csvFilename(`tserve-${date}-${of}`, dialect) };
  }

  /**
   * The window's payment lines as CSV, read in pages: the checks are made before the
   * first chunk, so a refusal is still an error answer.
   */
  async paymentLines(
    date: string,
    q: { entityId?: string; counterId?: string; dialect?: Dialect },
    scope: Scope,
  ): Promise<{ filename: string; chunks: AsyncIterable<string> }> {
    const dialect = q.dialect ?? 'machine';
    const entityId = scope !== null ? (await this.readableEntity(scope, q.entityId)).id : q.entityId;
    await this.settled(date);
    const store = this.store;
    async function* chunks(): AsyncIterable<string> {
      let cursor: string | null = null;
      let first = true;
      do {
        const page: Awaited<ReturnType<Store['windowLines']>> = await store.windowLines({ from: date, to: date, entityId, counterId: q.counterId }, cursor, LINES_PAGE);
        yield linesCsv(page.lines, first, dialect);
        first = false;
        cursor = page.nextCursor;
      } while (cursor);
    }
    return { filename: csvFilename(`tserve-${date}-payments${entityId ? `-${entityId}` : ''}`, dialect), chunks: chunks() };
  }

  /** The finance office report (A4 landscape PDF). */
  async report(date: string): Promise<FinanceDocument> {
    const { window, figures } = await this.settled(date);
    return { format: 'pdf', body: await reportPdf(figures, window, await this.account(), this.deps.cutoff, this.now()), filename: `tserve-${date}-report` };
  }

  // ---------------------------------------------------------------- SEPA

  /**
   * The SEPA file of an approved window (pain.001 credit transfers, pain.008 direct
   * debits); writing it marks the window exported. Nothing is marked when it is refused.
   */
  async sepaFile(date: string, kind: 'pain.001' | 'pain.008'): Promise<FinanceDocument> {
    const { window, figures } = await this.settled(date);
    if (window.status !== 'approved' && window.status !== 'exported') {
      throw new PaymentError('WINDOW_NOT_APPROVED', `the settlement of ${date} is a ${window.status}: SEPA files come from approved settlements only`);
    }
    const account = await this.account();
    // Dated from the approval; the requested date counts from now, when the file is produced.
    const dates = { createdAt: window.approvedAt!, producedAt: this.now() };
    const xml = kind === 'pain.001' ? pain001(figures, { account, ...dates }) : pain008(figures, { account, ...dates, creditorId: this.deps.files.creditorId });
    await this.store.markExported(date, this.now());
    return { format: 'xml', body: xml, filename: `TSERVE-${kind === 'pain.001' ? 'CT' : 'DD'}-${date.replaceAll('-', '')}.${kind}` };
  }

  // ---------------------------------------------------------------- adjustments

  /** Administrative refund of a payment whose window is closed, booked in the current window and audited. */
  async refund(publicId: string, actor: string, reason: string): Promise<{ payment: Payment; adjustment: { window: string | null; originalWindow: string; actor: string; reason: string } }> {
    const payment = await this.paymentByPublicId(publicId);
    if (payment.reversedAt !== null) {
      throw new PaymentError('ALREADY_REVERSED', `the payment was already ${payment.reversalKind === 'adjustment' ? 'refunded' : 'reversed'} in the window of ${payment.reversalSettlementDate}`);
    }
    const adjusted = await this.deps.payments.adjust(payment, actor, reason);
    return { payment: adjusted, adjustment: { window: adjusted.reversalSettlementDate, originalWindow: adjusted.settlementDate, actor, reason } };
  }

  /**
   * The finance office cancels a payment (the console's "Storna"): a reversal while its
   * window is open, the administrative refund above once it has closed, booked as one
   * command so that a window closing meanwhile cannot split the difference. Already
   * reversed or adjusted: ALREADY_REVERSED, said by the booking (of two at once, one books).
   */
  async cancel(publicId: string, actor: string, reason: string): Promise<{ payment: Payment; cancellation: Cancellation }> {
    const payment = await this.paymentByPublicId(publicId);
    const cancelled = await this.deps.payments.cancel(payment, actor, reason);
    const cancellation: Cancellation = {
      kind: cancelled.reversalKind ?? 'reversal',
      window: cancelled.reversalSettlementDate!,
      originalWindow: cancelled.settlementDate,
      actor,
      reason,
    };
    return { payment: cancelled, cancellation };
  }

  private async paymentByPublicId(publicId: string): Promise<Payment> {
    const id = publicId.toLowerCase();
    const payment = /^[0-9a-f-]{36}$/.test(id) ? await this.store.getPayment(id) : undefined;
    if (!payment) throw new PaymentError('NOT_FOUND', `no payment ${id}`);
    return payment;
  }

  // ---------------------------------------------------------------- rebilling

  /** An entity's monthly circuit-fee statement (JSON or CSV). */
  async rebilling(month: string, named: string | undefined, format: 'json' | 'csv', scope: Scope, dialect: Dialect = 'machine'): Promise<FinanceDocument> {
    const e = await this.readableEntity(scope, named);
    const st = await rebillingStatement(this.store, e.id, month, { now: this.now(), cutoff: this.deps.cutoff });
    if (format === 'csv') return { format, body: rebillingCsv(st, dialect), filename: csvFilename(`tserve-rebilling-${month}-${e.id}`, dialect) };
    return { format, body: st, filename: `tserve-rebilling-${month}-${e.id}` };
  }

  /** The rebilled payments of the month, one line each, a page at a time. */
  async rebillingLines(
    month: string,
    q: { entityId?: string; cursor?: string; limit: number; dialect?: Dialect },
    format: 'json' | 'csv',
    scope: Scope,
  ): Promise<{ document: FinanceDocument; nextCursor: string | null }> {
    const e = await this.readableEntity(scope, q.entityId);
    const { from, to } = monthBounds(month);
    const page = await this.store.windowLines({ from, to, entityId: e.id, rebilledOnly: true }, q.cursor ?? null, q.limit);
    const filename = `tserve-rebilling-${month}-${e.id}-lines`;
    const document: FinanceDocument =
      format === 'csv'
        ? { format, body: linesCsv(page.lines, true, q.dialect), filename: csvFilename(filename, q.dialect ?? 'machine') }
        : { format, body: { items: page.lines.map((l) => ({ ...l, bookedAt: iso(l.bookedAt)!, cancelledAt: iso(l.cancelledAt) })), nextCursor: page.nextCursor }, filename };
    return { document, nextCursor: page.nextCursor };
  }

  /** The month's FatturaPA invoice of circuit fees to the entity, once the month is over. */
  async invoice(month: string, named: string | undefined, scope: Scope): Promise<FinanceDocument> {
    const e = await this.readableEntity(scope, named);
    const catalogue = await this.store.loadCatalogue();
    if (e.isCircuitOwner) throw new PaymentError('NOTHING_TO_INVOICE', `${e.name} owns the circuit: it invoices no circuit fees to itself`);
    const st = await rebillingStatement(this.store, e.id, month, { now: this.now(), cutoff: this.deps.cutoff });
    if (!st.final) throw new PaymentError('MONTH_NOT_OVER', `${month} is not over: its invoice is issued once its last settlement window has closed`);
    const xml = fatturaPA(st, {
      issuer: catalogue.owner,
      // The network's own values (src/network) first; the settings stand in where it has none.
      issuerVatNumber: catalogue.owner.vatNumber ?? this.deps.files.ownerVatNumber,
      iban: this.deps.files.iban ?? catalogue.owner.iban,
      recipientCode: catalogue.entities.get(e.id)?.officeCode ?? this.deps.files.invoiceCodes[e.id],
    });
    return { format: 'xml', body: xml, filename: invoiceNumber(e.id, month) };
  }
}
