// Finance API (issue #5): settlement windows, statements (JSON, CSV, PDF), approval,
// SEPA files; administrative refunds; rebilling of circuit fees (monthly statements,
// detail lines, FatturaPA invoices). Finance and admin see every window; approval and
// SEPA files are finance's alone; an entity sees only its own statements; a terminal
// sees none of it. Thin: validate, authorise, call settlement/, encode.
import { Router, type Request, type Response } from 'express';
import { principalName } from '../auth/principal.js';
import { PaymentError } from '../payments/errors.js';
import type { WindowRow } from '../store/settlement-types.js';
import type { Entity } from '../store/types.js';
import type { CounterStatement, EntityStatement, SettlementFigures } from '../../settlement/figures.js';
import { fatturaPA, invoiceNumber } from '../../settlement/fatturapa.js';
import { monthBounds, rebillingStatement } from '../../settlement/rebilling.js';
import {
  counterStatementPdf,
  countersCsv,
  entitiesCsv,
  entityStatementPdf,
  linesCsv,
  rebillingCsv,
  reportPdf,
  windowPeriod,
} from '../../settlement/reports.js';
import { settle } from '../../settlement/run.js';
import { circuitAccount, pain001, pain008, sepaSummary } from '../../settlement/sepa.js';
import { authenticate, principal, requireRole } from './auth.js';
import type { AppContext } from './context.js';
import { documented } from './openapi.js';
import * as S from './schemas.js';

type Format = 'json' | 'csv' | 'pdf';
const MIME: Record<Format, string> = { json: 'application/json', csv: 'text/csv', pdf: 'application/pdf' };
/** Payment lines are read and written in pages of this many. */
const CSV_PAGE = 5000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** ?format= wins; else the Accept header among the formats offered (the first when there is none). */
function pickFormat(req: Request, offered: Format[], query?: string): Format {
  if (query !== undefined) {
    if (!offered.includes(query as Format)) throw new PaymentError('FORMAT', `format must be one of ${offered.join(', ')}`);
    return query as Format;
  }
  const type = req.accepts(offered.map((f) => MIME[f]));
  if (!type) throw new PaymentError('NOT_ACCEPTABLE', `this resource comes as ${offered.map((f) => MIME[f]).join(', ')}`);
  return offered.find((f) => MIME[f] === type)!;
}

function zeroStatement(e: Entity): EntityStatement {
  return {
    entityId: e.id, name: e.name, fiscalCode: e.fiscalCode, iban: e.iban, services: [], count: 0, gross: 0, reversals: 0, adjustments: 0,
    circuitFeesNetted: 0, circuitFeesRebilled: 0, royaltiesReceived: 0, circuitFeesReceived: 0, netPayout: 0,
  };
}

export function financeApi(ctx: AppContext): Router {
  const r = Router();
  const { store, payments, config } = ctx;
  const auth = authenticate(ctx.tokens);
  const readers = [auth, requireRole('finance', 'admin', 'entity')];
  const staff = [auth, requireRole('finance', 'admin')];
  const financeOnly = [auth, requireRole('finance')];
  const cutoff = config.settlementCutoff;

  const windowOut = (w: WindowRow) => {
    const p = windowPeriod(w.date, cutoff);
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
  };

  const dateParam = (req: Request): string => {
    const parsed = S.SettlementDate.safeParse(req.params.date);
    if (!parsed.success) throw new PaymentError('FORMAT', `"${String(req.params.date)}" is not a date YYYY-MM-DD`);
    return parsed.data;
  };

  /** A window with figures (draft, approved or exported). */
  const settled = async (date: string): Promise<{ window: WindowRow; figures: SettlementFigures }> => {
    const w = await store.getWindow(date);
    if (!w || !w.figures) throw new PaymentError('NOT_FOUND', `no settlement for ${date} yet: POST /v1/settlements/${date}/run computes it`);
    return { window: w, figures: JSON.parse(w.figures) as SettlementFigures };
  };

  /** The entity a request may read: an entity user its own only; finance and admin the one named. */
  const readableEntity = async (req: Request, named: string | undefined): Promise<Entity> => {
    const p = principal(req);
    if (p.role === 'entity' && named !== undefined && named !== p.entityId) throw new PaymentError('FORBIDDEN', 'an entity reads only its own statements');
    const id = p.role === 'entity' ? p.entityId : named;
    if (!id) throw new PaymentError('FORMAT', 'entityId is required');
    const e = (await store.loadCatalogue()).entities.get(id);
    if (!e) throw new PaymentError('NOT_FOUND', `no entity ${id}`);
    return e;
  };

  const send = (res: Response, format: Format, body: string | Buffer, filename: string) => {
    if (format === 'json') return res.type('application/json').send(body);
    res
      .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/pdf')
      .set('Content-Disposition', `${format === 'pdf' ? 'inline' : 'attachment'}; filename="${filename}.${format}"`)
      .send(body);
  };

  // ------------------------------------------------------------------ windows

  documented({ method: 'get', path: '/v1/settlements', summary: 'Settlement windows, newest first (entities: with their own statement summary)', roles: ['finance', 'admin', 'entity'] });
  r.get('/v1/settlements', ...readers, async (req, res) => {
    const q = S.SettlementListQuery.parse(req.query);
    const p = principal(req);
    const windows = (await store.listWindows()).filter((w) => (!q.from || w.date >= q.from) && (!q.to || w.date <= q.to));
    res.json(
      windows.map((w) => {
        const figures = w.figures ? (JSON.parse(w.figures) as SettlementFigures) : null;
        if (p.role === 'entity') {
          const e = figures?.entities.find((x) => x.entityId === p.entityId);
          const statement = figures
            ? { entityId: p.entityId, count: e?.count ?? 0, gross: e?.gross ?? 0, reversals: e?.reversals ?? 0, adjustments: e?.adjustments ?? 0, netPayout: e?.netPayout ?? 0 }
            : null;
          return { ...windowOut(w), figuresHash: undefined, statement };
        }
        return { ...windowOut(w), totals: figures?.totals ?? null };
      }),
    );
  });

  documented({
    method: 'get', path: '/v1/settlements/:date', summary: "A window: the whole figures (finance, admin) or the entity's own statement",
    roles: ['finance', 'admin', 'entity'],
  });
  r.get('/v1/settlements/:date', ...readers, async (req, res) => {
    const { window, figures } = await settled(dateParam(req));
    const p = principal(req);
    if (p.role === 'entity') {
      const e = await readableEntity(req, undefined);
      const statement = figures.entities.find((x) => x.entityId === e.id) ?? zeroStatement(e);
      return res.json({ window: { ...windowOut(window), figuresHash: undefined }, statement });
    }
    // Next to the figures, what the SEPA files carry (their CtrlSum) and what stays on the owner's account.
    const account = circuitAccount((await store.loadCatalogue()).owner, config.settlementFiles);
    res.json({ window: windowOut(window), figures, sepa: sepaSummary(figures, account) });
  });

  documented({ method: 'post', path: '/v1/settlements/:date/run', summary: 'Close and settle a business day into a draft (idempotent; an approved window is answered as stored)', roles: ['finance', 'admin'] });
  r.post('/v1/settlements/:date/run', ...staff, async (req, res) => {
    const date = dateParam(req);
    // Refusals (NOT_A_BUSINESS_DAY, WINDOW_OPEN, SETTLEMENT_UNBALANCED) are PaymentErrors: the error handler answers them.
    const result = await settle(store, date, { cutoff, operator: config.operator, now: payments.now() });
    res.status(result.outcome === 'created' ? 201 : 200).json({ outcome: result.outcome, window: windowOut(result.window), figures: result.figures });
  });

  documented({ method: 'post', path: '/v1/settlements/:date/approve', summary: 'Approve a draft: from now on it never changes (approving again changes nothing)', roles: ['finance'] });
  r.post('/v1/settlements/:date/approve', ...financeOnly, async (req, res) => {
    const date = dateParam(req);
    const before = await store.getWindow(date);
    if (!before) throw new PaymentError('NOT_FOUND', `no settlement for ${date}`);
    if (before.status === 'closed') throw new PaymentError('DRAFT_MISSING', `the settlement of ${date} has no draft yet: run it first`);
    // What each counter's direct debit collects now counts as settled against its credit limit.
    const figures = JSON.parse(before.figures!) as SettlementFigures;
    const settled = new Map(figures.counters.map((c) => [c.counterId, c.collected]));
    const w = await store.approveWindow(date, principalName(principal(req)), payments.now(), settled);
    res.json({ changed: before.status === 'draft', window: windowOut(w) });
  });

  // ------------------------------------------------------------------ statements

  documented({
    method: 'get', path: '/v1/settlements/:date/entities/:entityId', summary: "An entity's statement: JSON, CSV or PDF (?format= or Accept); entities read their own",
    roles: ['finance', 'admin', 'entity'],
  });
  r.get('/v1/settlements/:date/entities/:entityId', ...readers, async (req, res) => {
    const { format: f } = S.FormatQuery.parse(req.query);
    const date = dateParam(req);
    const e = await readableEntity(req, String(req.params.entityId));
    const format = pickFormat(req, ['json', 'csv', 'pdf'], f);
    const { window, figures } = await settled(date);
    const statement = figures.entities.find((x) => x.entityId === e.id) ?? zeroStatement(e);
    const name = `tserve-${date}-${e.id}`;
    if (format === 'json') return send(res, format, JSON.stringify({ window: { ...windowOut(window), figuresHash: undefined }, statement }), name);
    if (format === 'csv') return send(res, format, entitiesCsv(date, [statement]), name);
    send(res, format, await entityStatementPdf(figures, statement, window.status, cutoff, payments.now()), name);
  });

  documented({ method: 'get', path: '/v1/settlements/:date/counters/:counterId', summary: "A counter's statement: JSON, CSV or PDF", roles: ['finance', 'admin'] });
  r.get('/v1/settlements/:date/counters/:counterId', ...staff, async (req, res) => {
    const { format: f } = S.FormatQuery.parse(req.query);
    const date = dateParam(req);
    const format = pickFormat(req, ['json', 'csv', 'pdf'], f);
    const { window, figures } = await settled(date);
    const id = String(req.params.counterId);
    let statement: CounterStatement | undefined = figures.counters.find((c) => c.counterId === id);
    if (!statement) {
      const c = await store.getCounter(id);
      if (!c) throw new PaymentError('NOT_FOUND', `no counter ${id}`);
      statement = { counterId: c.id, name: c.name, kind: c.kind, iban: c.iban, mandateRef: c.mandateRef, count: 0, cancelledCount: 0, collected: 0, commission: 0, owed: 0 };
    }
    const name = `tserve-${date}-${id}`;
    if (format === 'json') return send(res, format, JSON.stringify({ window: windowOut(window), statement }), name);
    if (format === 'csv') return send(res, format, countersCsv(date, [statement]), name);
    send(res, format, await counterStatementPdf(figures, statement, window.status, cutoff, payments.now()), name);
  });

  documented({ method: 'get', path: '/v1/settlements/:date/entities.csv', summary: 'Every entity: one row per service and a TOTAL row (cents)', roles: ['finance', 'admin'], responseType: 'text/csv' });
  r.get('/v1/settlements/:date/entities.csv', ...staff, async (req, res) => {
    const date = dateParam(req);
    const { figures } = await settled(date);
    send(res, 'csv', entitiesCsv(date, figures.entities), `tserve-${date}-entities`);
  });

  documented({ method: 'get', path: '/v1/settlements/:date/counters.csv', summary: 'Every counter: collected, commission, owed (cents)', roles: ['finance', 'admin'], responseType: 'text/csv' });
  r.get('/v1/settlements/:date/counters.csv', ...staff, async (req, res) => {
    const date = dateParam(req);
    const { figures } = await settled(date);
    send(res, 'csv', countersCsv(date, figures.counters), `tserve-${date}-counters`);
  });

  documented({
    method: 'get', path: '/v1/settlements/:date/payments.csv', summary: "The window's payment lines with their split (entities: their own; ?entityId=, ?counterId=)",
    roles: ['finance', 'admin', 'entity'], responseType: 'text/csv',
  });
  r.get('/v1/settlements/:date/payments.csv', ...readers, async (req, res) => {
    const q = S.PaymentsCsvQuery.parse(req.query);
    const date = dateParam(req);
    const p = principal(req);
    const entityId = p.role === 'entity' ? (await readableEntity(req, q.entityId)).id : q.entityId;
    await settled(date);
    res.type('text/csv; charset=utf-8').set('Content-Disposition', `attachment; filename="tserve-${date}-payments${entityId ? `-${entityId}` : ''}.csv"`);
    let cursor: string | null = null;
    let first = true;
    do {
      const page: Awaited<ReturnType<typeof store.windowLines>> = await store.windowLines({ from: date, to: date, entityId, counterId: q.counterId }, cursor, CSV_PAGE);
      res.write(linesCsv(page.lines, first));
      first = false;
      cursor = page.nextCursor;
    } while (cursor);
    res.end();
  });

  documented({ method: 'get', path: '/v1/settlements/:date/report.pdf', summary: 'The finance office report: totals, every entity, every counter (A4 landscape)', roles: ['finance', 'admin'], responseType: 'application/pdf' });
  r.get('/v1/settlements/:date/report.pdf', ...staff, async (req, res) => {
    const date = dateParam(req);
    const { window, figures } = await settled(date);
    const account = circuitAccount((await store.loadCatalogue()).owner, config.settlementFiles);
    send(res, 'pdf', await reportPdf(figures, window, account, cutoff, payments.now()), `tserve-${date}-report`);
  });

  // ------------------------------------------------------------------ SEPA

  const sepaFile = (kind: 'pain.001' | 'pain.008') => async (req: Request, res: Response) => {
    const date = dateParam(req);
    const { window, figures } = await settled(date);
    if (window.status !== 'approved' && window.status !== 'exported') {
      throw new PaymentError('WINDOW_NOT_APPROVED', `the settlement of ${date} is a ${window.status}: SEPA files come from approved settlements only`);
    }
    const catalogue = await store.loadCatalogue();
    const account = circuitAccount(catalogue.owner, config.settlementFiles);
    // Dated from the approval; the requested date counts from now, when the file is produced.
    const dates = { createdAt: window.approvedAt!, producedAt: payments.now() };
    const xml =
      kind === 'pain.001'
        ? pain001(figures, { account, ...dates })
        : pain008(figures, { account, ...dates, creditorId: config.settlementFiles.creditorId });
    await store.markExported(date, payments.now());
    const id = `TSERVE-${kind === 'pain.001' ? 'CT' : 'DD'}-${date.replaceAll('-', '')}`;
    res.type('application/xml; charset=utf-8').set('Content-Disposition', `attachment; filename="${id}.${kind}.xml"`).send(xml);
  };

  documented({ method: 'get', path: '/v1/settlements/:date/sepa/pain.001.xml', summary: 'Credit transfers (pain.001.001.09) of an approved window; marks it exported', roles: ['finance'], responseType: 'application/xml' });
  r.get('/v1/settlements/:date/sepa/pain.001.xml', ...financeOnly, sepaFile('pain.001'));
  documented({ method: 'get', path: '/v1/settlements/:date/sepa/pain.008.xml', summary: 'Direct debits from counters (pain.008.001.08, CORE, RCUR) of an approved window; marks it exported', roles: ['finance'], responseType: 'application/xml' });
  r.get('/v1/settlements/:date/sepa/pain.008.xml', ...financeOnly, sepaFile('pain.008'));

  // ------------------------------------------------------------------ adjustments

  documented({
    method: 'post', path: '/v1/payments/:id/adjustment', summary: 'Administrative refund of a payment whose window is closed: booked in the current window, audited',
    roles: ['finance', 'admin'], body: S.AdjustmentInput, status: 201,
  });
  r.post('/v1/payments/:id/adjustment', ...staff, async (req, res) => {
    const body = S.AdjustmentInput.parse(req.body);
    const id = String(req.params.id).toLowerCase();
    const payment = /^[0-9a-f-]{36}$/.test(id) ? await store.getPayment(id) : undefined;
    if (!payment) throw new PaymentError('NOT_FOUND', `no payment ${id}`);
    if (payment.reversedAt !== null) {
      throw new PaymentError('ALREADY_REVERSED', `the payment was already ${payment.reversalKind === 'adjustment' ? 'refunded' : 'reversed'} in the window of ${payment.reversalSettlementDate}`);
    }
    const actor = principalName(principal(req));
    const adjusted = await payments.adjust(payment, actor, body.reason);
    res.status(201).json({ ...payments.view(adjusted), adjustment: { window: adjusted.reversalSettlementDate, originalWindow: adjusted.settlementDate, actor, reason: body.reason } });
  });

  // ------------------------------------------------------------------ rebilling

  const monthParam = (req: Request): string => {
    const parsed = S.Month.safeParse(req.params.month);
    if (!parsed.success) throw new PaymentError('FORMAT', `"${String(req.params.month)}" is not a month YYYY-MM`);
    return parsed.data;
  };

  documented({ method: 'get', path: '/v1/rebilling/:month', summary: "An entity's monthly circuit-fee statement: per service count × rate (JSON or CSV; finance and admin name ?entityId=)", roles: ['entity', 'finance', 'admin'] });
  r.get('/v1/rebilling/:month', ...readers, async (req, res) => {
    const q = S.RebillingQuery.parse(req.query);
    const month = monthParam(req);
    const e = await readableEntity(req, q.entityId);
    const format = pickFormat(req, ['json', 'csv'], q.format);
    const st = await rebillingStatement(store, e.id, month, { now: payments.now(), cutoff });
    if (format === 'csv') return send(res, 'csv', rebillingCsv(st), `tserve-rebilling-${month}-${e.id}`);
    res.json(st);
  });

  documented({ method: 'get', path: '/v1/rebilling/:month/lines', summary: 'The rebilled payments of the month, one line each (cursor pagination; JSON or CSV)', roles: ['entity', 'finance', 'admin'] });
  r.get('/v1/rebilling/:month/lines', ...readers, async (req, res) => {
    const q = S.RebillingLinesQuery.parse(req.query);
    const month = monthParam(req);
    const e = await readableEntity(req, q.entityId);
    const format = pickFormat(req, ['json', 'csv'], q.format);
    const { from, to } = monthBounds(month);
    const page = await store.windowLines({ from, to, entityId: e.id, rebilledOnly: true }, q.cursor ?? null, q.limit);
    if (page.nextCursor) res.set('X-Next-Cursor', page.nextCursor);
    if (format === 'csv') return send(res, 'csv', linesCsv(page.lines), `tserve-rebilling-${month}-${e.id}-lines`);
    res.json({
      items: page.lines.map((l) => ({ ...l, bookedAt: new Date(l.bookedAt).toISOString() })),
      nextCursor: page.nextCursor,
    });
  });

  documented({ method: 'get', path: '/v1/rebilling/:month/invoice.xml', summary: "The month's invoice of circuit fees to the entity (FatturaPA 1.2.2, FPA12), once the month is over", roles: ['entity', 'finance', 'admin'], responseType: 'application/xml' });
  r.get('/v1/rebilling/:month/invoice.xml', ...readers, async (req, res) => {
    const q = S.RebillingQuery.omit({ format: true }).parse(req.query);
    const month = monthParam(req);
    const e = await readableEntity(req, q.entityId);
    const catalogue = await store.loadCatalogue();
    if (e.isCircuitOwner) throw new PaymentError('NOTHING_TO_INVOICE', `${e.name} owns the circuit: it invoices no circuit fees to itself`);
    const st = await rebillingStatement(store, e.id, month, { now: payments.now(), cutoff });
    if (!st.final) throw new PaymentError('MONTH_NOT_OVER', `${month} is not over: its invoice is issued once its last settlement window has closed`);
    const xml = fatturaPA(st, {
      issuer: catalogue.owner,
      issuerVatNumber: config.settlementFiles.ownerVatNumber,
      iban: config.settlementFiles.iban ?? catalogue.owner.iban,
      recipientCode: config.settlementFiles.invoiceCodes[e.id],
    });
    res.type('application/xml; charset=utf-8').set('Content-Disposition', `attachment; filename="${invoiceNumber(e.id, month)}.xml"`).send(xml);
  });

  return r;
}
