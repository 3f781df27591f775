// Finance API (issue #5): settlement windows, statements (JSON, CSV, PDF), approval,
// SEPA files; administrative refunds; rebilling of circuit fees (monthly statements,
// detail lines, FatturaPA invoices). Finance and admin see every window; approval and
// SEPA files are finance's alone; an entity sees only its own statements; a terminal
// sees none of it. Thin: decode, authorise, call settlement/finance.ts, encode.
import { once } from 'node:events';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { principalName } from '../auth/principal.js';
import { PaymentError } from '../payments/errors.js';
import type { Finance, FinanceDocument, Format, Scope } from '../../settlement/finance.js';
import { authenticate, principal, requireRole } from './auth.js';
import type { AppContext } from './context.js';
import { documented } from './openapi.js';
import { errorHandler } from './problem.js';
import * as S from './schemas.js';

const MIME: Record<Format, string> = { json: 'application/json', csv: 'text/csv', pdf: 'application/pdf' };

/** ?format= wins; else the Accept header among the formats offered (the first when there is none). */
function pickFormat<F extends Format>(req: Request, offered: F[], query?: string): F {
  if (query !== undefined) {
    if (!offered.includes(query as F)) throw new PaymentError('FORMAT', `format must be one of ${offered.join(', ')}`);
    return query as F;
  }
  const type = req.accepts(offered.map((f) => MIME[f]));
  if (!type) throw new PaymentError('NOT_ACCEPTABLE', `this resource comes as ${offered.map((f) => MIME[f]).join(', ')}`);
  return offered.find((f) => MIME[f] === type)!;
}

/** As pickFormat; ?dialect= asks for a CSV: it picks CSV when no format is named, and goes with no other. */
function pickCsvFormat<F extends Format>(req: Request, offered: F[], q: { format?: string; dialect?: string }): F {
  const format = pickFormat(req, offered, q.format ?? (q.dialect ? 'csv' : undefined));
  if (q.dialect && format !== 'csv') throw new PaymentError('FORMAT', `dialect=${q.dialect} is for CSV only, not ${format}`);
  return format;
}

/** The entity a caller is confined to: an entity user's own; none for finance and admin. */
function scopeOf(req: Request): Scope {
  const p = principal(req);
  return p.role === 'entity' ? p.entityId : null;
}

const actor = (req: Request) => principalName(principal(req));

function dateParam(req: Request): string {
  const parsed = S.SettlementDate.safeParse(req.params.date);
  if (!parsed.success) throw new PaymentError('FORMAT', `"${String(req.params.date)}" is not a date YYYY-MM-DD`);
  return parsed.data;
}

function monthParam(req: Request): string {
  const parsed = S.Month.safeParse(req.params.month);
  if (!parsed.success) throw new PaymentError('FORMAT', `"${String(req.params.month)}" is not a month YYYY-MM`);
  return parsed.data;
}

function sendDocument(res: Response, doc: FinanceDocument): void {
  if (doc.format === 'json') {
    res.json(doc.body);
    return;
  }
  const type = { csv: 'text/csv; charset=utf-8', pdf: 'application/pdf', xml: 'application/xml; charset=utf-8' }[doc.format];
  res
    .type(type)
    .set('Content-Disposition', `${doc.format === 'pdf' ? 'inline' : 'attachment'}; filename="${doc.filename}.${doc.format}"`)
    .send(doc.body);
}

// Path parameters as the routes check them (dateParam, monthParam).
const DATE = { date: S.SettlementDate };
const MONTH = { month: S.Month };
const DOCUMENTS = ['application/json', 'text/csv', 'application/pdf'];
/** Refusals of the SEPA files and invoices: accounts and identifiers checked before a file is made. */
const FILE_ERRORS = ['INVALID_IBAN', 'INVALID_CREDITOR_ID', 'MANDATE_MISSING'] as const;

export function financeApi(ctx: AppContext, finance: Finance): Router {
  const r = Router();
  const { payments } = ctx;
  const auth = authenticate(ctx.tokens);
  const readers = [auth, requireRole('finance', 'admin', 'entity')];
  const staff = [auth, requireRole('finance', 'admin')];
  const financeOnly = [auth, requireRole('finance')];

  // Every document handed out is audited first (who, which, what file): SEPA files as
  // sepa.export, FatturaPA invoices as invoice.export, the rest as report.download. A
  // document whose audit row cannot be written is not sent.
  const auditDownload = (req: Request, format: string, filename: string) => {
    const action = format !== 'xml' ? 'report.download' : req.path.includes('/sepa/') ? 'sepa.export' : 'invoice.export';
    return ctx.store.appendAudit([{ actor: actor(req), action, target: req.path, detail: { format, filename } }]);
  };
  const send = async (res: Response, doc: FinanceDocument) => {
    try {
      await auditDownload(res.req, doc.format, doc.filename);
    } catch (err) {
      return errorHandler(err, res.req, res, () => undefined);
    }
    sendDocument(res, doc);
  };

  // ------------------------------------------------------------------ windows

  documented({ method: 'get', path: '/v1/settlements', summary: 'Settlement windows, newest first (entities: with their own statement summary)', roles: ['finance', 'admin', 'entity'],
    query: S.SettlementListQuery, response: z.array(S.SettlementListItem),
  });
  r.get('/v1/settlements', ...readers, async (req, res) => {
    const q = S.SettlementListQuery.parse(req.query);
    res.json(await finance.windows(q, scopeOf(req)));
  });

  // Before /:date. The console lists these beside the windows, each with its run button.
  documented({ method: 'get', path: '/v1/settlements/due', summary: 'Business days whose windows are over and not settled yet, oldest first (what the nightly run would settle)',
    roles: ['finance', 'admin'], response: z.object({ due: z.array(S.SettlementDate) }),
  });
  r.get('/v1/settlements/due', ...staff, async (_req, res) => {
    res.json({ due: await finance.due() });
  });

  documented({
    method: 'get', path: '/v1/settlements/:date', summary: "A window: the whole figures (finance, admin) or the entity's own statement",
    roles: ['finance', 'admin', 'entity'], params: DATE, response: S.SettlementOut, errors: ['NOT_FOUND'],
  });
  r.get('/v1/settlements/:date', ...readers, async (req, res) => {
    res.json(await finance.window(dateParam(req), scopeOf(req)));
  });

  documented({ method: 'post', path: '/v1/settlements/:date/run', summary: 'Close and settle a business day into a draft (idempotent; an approved window is answered as stored)', roles: ['finance', 'admin'],
    params: DATE, response: S.SettlementRunOut, status: 201, alsoStatus: { 200: 'settled before: the window as stored' },
    errors: ['WINDOW_OPEN', 'NOT_A_BUSINESS_DAY', 'SETTLEMENT_UNBALANCED'],
  });
  r.post('/v1/settlements/:date/run', ...staff, async (req, res) => {
    const result = await finance.run(dateParam(req), actor(req));
    res.status(result.outcome === 'created' ? 201 : 200).json(result);
  });

  documented({ method: 'post', path: '/v1/settlements/:date/approve', summary: 'Approve a draft: from now on it never changes (approving again changes nothing)', roles: ['finance'],
    params: DATE, response: S.SettlementApproveOut, errors: ['NOT_FOUND', 'DRAFT_MISSING'],
  });
  r.post('/v1/settlements/:date/approve', ...financeOnly, async (req, res) => {
    res.json(await finance.approve(dateParam(req), actor(req)));
  });

  documented({
    method: 'get', path: '/v1/settlements/:date/pagopa-flows', summary: "The window's pagoPA reporting flows (one per credit transfer to a creditor's IBAN) and the node's answer to each",
    description: 'Built when the window is approved and sent to the node at once; the nightly job sends again what is not accepted, until the end of D+2 (docs/pagopa.md).',
    roles: ['finance', 'admin'], params: DATE, response: S.PagoPaFlowsOut, errors: ['NOT_FOUND'],
  });
  r.get('/v1/settlements/:date/pagopa-flows', ...staff, async (req, res) => {
    res.json(await finance.pagopaFlows(dateParam(req)));
  });

  // ------------------------------------------------------------------ statements

  documented({
    method: 'get', path: '/v1/settlements/:date/entities/:entityId', summary: "An entity's statement: JSON, CSV or PDF (?format= or Accept; ?dialect=it: CSV for Italian Excel); entities read their own",
    roles: ['finance', 'admin', 'entity'], params: DATE, query: S.FormatQuery, response: S.StatementOut, responseTypes: DOCUMENTS, errors: ['NOT_FOUND'],
  });
  r.get('/v1/settlements/:date/entities/:entityId', ...readers, async (req, res) => {
    const q = S.FormatQuery.parse(req.query);
    const date = dateParam(req);
    await send(res, await finance.entityStatement(date, String(req.params.entityId), pickCsvFormat(req, ['json', 'csv', 'pdf'], q), scopeOf(req), q.dialect));
  });

  documented({ method: 'get', path: '/v1/settlements/:date/counters/:counterId', summary: "A counter's statement: JSON, CSV or PDF (?dialect=it: CSV for Italian Excel)", roles: ['finance', 'admin'],
    params: DATE, query: S.FormatQuery, response: S.StatementOut, responseTypes: DOCUMENTS, errors: ['NOT_FOUND'],
  });
  r.get('/v1/settlements/:date/counters/:counterId', ...staff, async (req, res) => {
    const q = S.FormatQuery.parse(req.query);
    const date = dateParam(req);
    await send(res, await finance.counterStatement(date, String(req.params.counterId), pickCsvFormat(req, ['json', 'csv', 'pdf'], q), q.dialect));
  });

  documented({ method: 'get', path: '/v1/settlements/:date/entities.csv', summary: 'Every entity: one row per service and a TOTAL row (cents; ?dialect=it: euros for Italian Excel)', roles: ['finance', 'admin'], params: DATE, query: S.DialectQuery, responseTypes: ['text/csv'], errors: ['NOT_FOUND'] });
  r.get('/v1/settlements/:date/entities.csv', ...staff, async (req, res) => {
    const { dialect } = S.DialectQuery.parse(req.query);
    await send(res, await finance.summaryCsv(dateParam(req), 'entities', dialect));
  });

  documented({ method: 'get', path: '/v1/settlements/:date/counters.csv', summary: 'Every counter: collected, commission, owed (cents; ?dialect=it: euros for Italian Excel)', roles: ['finance', 'admin'], params: DATE, query: S.DialectQuery, responseTypes: ['text/csv'], errors: ['NOT_FOUND'] });
  r.get('/v1/settlements/:date/counters.csv', ...staff, async (req, res) => {
    const { dialect } = S.DialectQuery.parse(req.query);
    await send(res, await finance.summaryCsv(dateParam(req), 'counters', dialect));
  });

  documented({
    method: 'get', path: '/v1/settlements/:date/payments.csv', summary: "The window's payment lines with their split and what to reconcile them by (entities: their own; ?entityId=, ?counterId=, ?dialect=it)",
    roles: ['finance', 'admin', 'entity'], params: DATE, query: S.PaymentsCsvQuery, responseTypes: ['text/csv'], errors: ['NOT_FOUND'],
  });
  r.get('/v1/settlements/:date/payments.csv', ...readers, async (req, res) => {
    const q = S.PaymentsCsvQuery.parse(req.query);
    const { filename, chunks } = await finance.paymentLines(dateParam(req), q, scopeOf(req));
    await auditDownload(req, 'csv', filename);
    res.type('text/csv; charset=utf-8').set('Content-Disposition', `attachment; filename="${filename}.csv"`);
    for await (const chunk of chunks) {
      if (!res.write(chunk)) await once(res, 'drain');
    }
    res.end();
  });

  documented({ method: 'get', path: '/v1/settlements/:date/report.pdf', summary: 'The finance office report: totals, every entity, every counter (A4 landscape)', roles: ['finance', 'admin'],
    params: DATE, responseTypes: ['application/pdf'], errors: ['NOT_FOUND'],
  });
  r.get('/v1/settlements/:date/report.pdf', ...staff, async (req, res) => {
    await send(res, await finance.report(dateParam(req)));
  });

  // ------------------------------------------------------------------ SEPA

  documented({ method: 'get', path: '/v1/settlements/:date/sepa/pain.001.xml', summary: 'Credit transfers (pain.001.001.09) of an approved window; marks it exported', roles: ['finance'],
    params: DATE, responseTypes: ['application/xml'], errors: ['NOT_FOUND', 'WINDOW_NOT_APPROVED', 'NOTHING_TO_EXPORT', ...FILE_ERRORS],
  });
  r.get('/v1/settlements/:date/sepa/pain.001.xml', ...financeOnly, async (req, res) => {
    await send(res, await finance.sepaFile(dateParam(req), 'pain.001'));
  });
  documented({ method: 'get', path: '/v1/settlements/:date/sepa/pain.008.xml', summary: 'Direct debits from counters (pain.008.001.08, CORE, RCUR) of an approved window; marks it exported', roles: ['finance'],
    params: DATE, responseTypes: ['application/xml'], errors: ['NOT_FOUND', 'WINDOW_NOT_APPROVED', 'NOTHING_TO_EXPORT', ...FILE_ERRORS],
  });
  r.get('/v1/settlements/:date/sepa/pain.008.xml', ...financeOnly, async (req, res) => {
    await send(res, await finance.sepaFile(dateParam(req), 'pain.008'));
  });

  // ------------------------------------------------------------------ adjustments

  documented({
    method: 'post', path: '/v1/payments/:id/adjustment', summary: 'Administrative refund of a payment whose window is closed: booked in the current window, audited',
    roles: ['finance', 'admin'], body: S.AdjustmentInput, response: S.AdjustedPayment, status: 201, errors: ['NOT_FOUND', 'CONFLICT', 'ALREADY_REVERSED', 'REVERSAL_NOT_ALLOWED', 'WINDOW_OPEN'],
  });
  r.post('/v1/payments/:id/adjustment', ...staff, async (req, res) => {
    const body = S.AdjustmentInput.parse(req.body);
    const { payment, adjustment } = await finance.refund(String(req.params.id), actor(req), body.reason);
    res.status(201).json({ ...payments.view(payment), adjustment });
  });

  documented({
    method: 'post', path: '/v1/payments/:id/cancel', tag: 'Finance', roles: ['finance', 'admin'],
    summary: "The finance office cancels a payment, audited with its reason: a reversal while its window is open, an adjustment once it has closed",
    body: S.CancelInput, response: S.CancelledPayment, errors: ['NOT_FOUND', 'ALREADY_REVERSED', 'REVERSAL_NOT_ALLOWED'],
  });
  r.post('/v1/payments/:id/cancel', ...staff, async (req, res) => {
    const body = S.CancelInput.parse(req.body);
    const { payment, cancellation } = await finance.cancel(String(req.params.id), actor(req), body.reason);
    res.json({ ...payments.view(payment), cancellation });
  });

  // ------------------------------------------------------------------ rebilling

  documented({ method: 'get', path: '/v1/rebilling/:month', summary: "An entity's monthly circuit-fee statement: per service count × rate (JSON or CSV; finance and admin name ?entityId=)", roles: ['entity', 'finance', 'admin'],
    params: MONTH, query: S.RebillingQuery, response: S.RebillingOut, responseTypes: ['application/json', 'text/csv'], errors: ['NOT_FOUND'],
  });
  r.get('/v1/rebilling/:month', ...readers, async (req, res) => {
    const q = S.RebillingQuery.parse(req.query);
    const month = monthParam(req);
    await send(res, await finance.rebilling(month, q.entityId, pickCsvFormat(req, ['json', 'csv'], q), scopeOf(req), q.dialect));
  });

  documented({ method: 'get', path: '/v1/rebilling/:month/lines', summary: 'The rebilled payments of the month, one line each (cursor pagination; JSON or CSV)', roles: ['entity', 'finance', 'admin'],
    description: 'The next page\'s cursor is nextCursor in JSON, and the X-Next-Cursor header in both formats.',
    params: MONTH, query: S.RebillingLinesQuery, response: S.RebillingLinesOut, responseTypes: ['application/json', 'text/csv'], errors: ['NOT_FOUND'],
  });
  r.get('/v1/rebilling/:month/lines', ...readers, async (req, res) => {
    const q = S.RebillingLinesQuery.parse(req.query);
    const month = monthParam(req);
    const { document, nextCursor } = await finance.rebillingLines(month, q, pickCsvFormat(req, ['json', 'csv'], q), scopeOf(req));
    if (nextCursor) res.set('X-Next-Cursor', nextCursor);
    await send(res, document);
  });

  documented({ method: 'get', path: '/v1/rebilling/:month/invoice.xml', summary: "The month's invoice of circuit fees to the entity (FatturaPA 1.2.2, FPA12), once the month is over", roles: ['entity', 'finance', 'admin'],
    params: MONTH, query: S.RebillingQuery.omit({ format: true, dialect: true }), responseTypes: ['application/xml'],
    errors: ['NOT_FOUND', 'NOTHING_TO_INVOICE', 'MONTH_NOT_OVER', 'OFFICE_CODE_MISSING', 'OFFICE_CODE_INVALID', 'SEAT_MISSING', 'INVALID_IBAN'],
  });
  r.get('/v1/rebilling/:month/invoice.xml', ...readers, async (req, res) => {
    const q = S.RebillingQuery.omit({ format: true, dialect: true }).parse(req.query);
    await send(res, await finance.invoice(monthParam(req), q.entityId, scopeOf(req)));
  });

  return r;
}
