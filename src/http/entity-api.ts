// Entity API: an entity publishes and cancels debt positions, one by one or in bulk
// (JSON array or CSV upload, all-or-nothing with a per-row report). An entity user
// acts for its own entity only; admin acts for any, naming entityId. Thin: decode,
// authorise, call src/payments/positions.ts, encode.
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { principalName } from '../auth/principal.js';
import { PaymentError, type ErrorCode } from '../payments/errors.js';
import type { DebtPositions, PositionsActor, PublishReport } from '../payments/positions.js';
import type { DebtPositionView } from '../store/types.js';
import { authenticate, principal, requireRole } from './auth.js';
import type { AppContext } from './context.js';
import { documented } from './openapi.js';
import { sendProblem } from './problem.js';
import * as S from './schemas.js';

/** Seconds an uploader is told to wait while its entity's previous upload runs. */
const BUSY_RETRY_SECONDS = 5;

/** A refused upload is a problem like every other error, its rows listed in `errors`. */
const REFUSED: Record<Exclude<PublishReport['outcome'], 'created'>, { code: ErrorCode; why: string }> = {
  invalid: { code: 'ROWS_INVALID', why: 'break the rules' },
  conflict: { code: 'CONFLICT', why: 'conflict with positions published already (or with each other)' },
};

/** What publishing a position may refuse beyond the input's format. */
const PUBLISH_ERRORS: ErrorCode[] = ['INVALID_NOTICE_NUMBER', 'INVALID_FISCAL_CODE', 'AMOUNT_OUT_OF_RANGE', 'SERVICE_UNKNOWN', 'UNSUPPORTED', 'CONFLICT'];

function positionOut(p: DebtPositionView): unknown {
  return {
    id: p.id,
    entityId: p.entityId,
    service: p.serviceCode,
    externalRef: p.externalRef,
    debtorFiscalCode: p.debtorCf,
    debtorName: p.debtorName,
    description: p.description,
    status: p.status,
    validUntil: p.validUntil,
    options: p.options.map((o) => ({
      noticeNumber: o.noticeNumber,
      lookupKey: o.lookupKey,
      kind: o.kind,
      instalmentNo: o.instalmentNo,
      amount: o.amountCents,
      dueDate: o.dueDate,
      description: o.description,
      paid: o.paidPaymentId !== null,
    })),
  };
}

/** The entity a caller is confined to: an entity user's own; none for finance and admin. */
function scopeOf(req: Request): string | null {
  const p = principal(req);
  return p.role === 'entity' ? p.entityId : null;
}

const actorOf = (req: Request): PositionsActor => ({ name: principalName(principal(req)), entityId: scopeOf(req) });

export function entityApi(ctx: AppContext, positions: DebtPositions): Router {
  const r = Router();
  const auth = authenticate(ctx.tokens);
  const canWrite = requireRole('entity', 'admin');
  const canRead = requireRole('entity', 'finance', 'admin');

  documented({ method: 'post', path: '/v1/debt-positions', summary: 'Publish one debt position', roles: ['entity', 'admin'], body: S.DebtPositionInput, response: S.DebtPositionOut, status: 201, errors: PUBLISH_ERRORS });
  r.post('/v1/debt-positions', auth, canWrite, async (req, res) => {
    const input = S.DebtPositionInput.parse(req.body);
    const out = await positions.publishOne(input, actorOf(req));
    if ('errors' in out) {
      const first = out.errors[0]!;
      return sendProblem(res, first.code, first.detail, { errors: out.errors });
    }
    res.status(201).json(positionOut(out.position));
  });

  documented({
    method: 'post', path: '/v1/debt-positions/bulk', summary: 'Publish many positions (JSON array, or text/csv one row per option), all or nothing',
    description: 'Refused rows are answered in a problem (422 ROWS_INVALID, or 409 CONFLICT for notices or references taken) whose `errors` list the first TSERVE_IMPORT_MAX_ERRORS of them (`row`: the array index, or the CSV line) and `errorCount` all. A file imported already is 409 DUPLICATE.',
    roles: ['entity', 'admin'], body: S.BulkPositionsInput, bodyTypes: ['application/json', 'text/csv'], response: S.BulkReport, status: 201,
    query: S.BulkQuery, errors: ['ROWS_INVALID', 'CONFLICT', 'DUPLICATE'],
  });
  // An upload costs seconds of work: per user a few a minute, per entity one at a time,
  // its bytes bounded before they are read; parsed and checked off the event loop.
  const limits = ctx.config.imports;
  const perMinute = rateLimit({
    windowMs: 60_000,
    limit: limits.perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => principalName(principal(req)),
    handler: (_req, res, _next, options) => {
      res.set('Retry-After', String(Math.ceil(options.windowMs / 1000)));
      sendProblem(res, 'RATE_LIMITED', `at most ${limits.perMinute} uploads a minute per user (TSERVE_IMPORT_PER_MINUTE)`);
    },
  });
  const running = new Set<string>();
  const oneAtATime = (req: Request, res: Response, next: NextFunction) => {
    const key = scopeOf(req) ?? principalName(principal(req));
    if (running.has(key)) {
      res.set('Retry-After', String(BUSY_RETRY_SECONDS));
      return sendProblem(res, 'RATE_LIMITED', `an upload for ${key} is in progress: send the next one when it is answered`);
    }
    running.add(key);
    res.once('close', () => running.delete(key));
    next();
  };
  const raw = express.raw({ type: ['application/json', 'text/csv'], limit: limits.maxBytes });
  const bulkBody = (req: Request, res: Response, next: NextFunction) =>
    raw(req, res, (err?: unknown) => {
      if ((err as { type?: string } | undefined)?.type === 'entity.too.large') {
        return next(new PaymentError('PAYLOAD_TOO_LARGE', `an upload is at most ${limits.maxBytes} bytes (TSERVE_IMPORT_MAX_BYTES): split it`));
      }
      next(err);
    });
  r.post('/v1/debt-positions/bulk', auth, canWrite, perMinute, oneAtATime, bulkBody, async (req, res) => {
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw new PaymentError('FORMAT', 'the upload is empty');
    const csv = Boolean(req.is('text/csv'));
    // CSV rows carry no entity: an admin names it with ?entityId=.
    const named = S.BulkQuery.parse(req.query).entityId;
    const entityId = csv ? named : undefined;
    const report = await positions.publishBulk({ bytes: req.body, csv, ...(entityId === undefined ? {} : { entityId }) }, actorOf(req));
    if (report.outcome === 'created') return res.status(201).json({ created: report.created, ids: report.ids });
    const { code, why } = REFUSED[report.outcome];
    const first = report.errors[0];
    const detail = `${report.errorCount} row error${report.errorCount === 1 ? '' : 's'}: rows ${why}; nothing was created${first ? ` (row ${first.row}: ${first.code} ${first.detail})` : ''}`;
    sendProblem(res, code, detail, { created: 0, errors: report.errors, errorCount: report.errorCount });
  });

  documented({ method: 'get', path: '/v1/debt-positions', summary: 'List positions (cursor pagination); entities see their own', roles: ['entity', 'finance', 'admin'], query: S.ListQuery, response: S.DebtPositionPage });
  r.get('/v1/debt-positions', auth, canRead, async (req, res) => {
    const page = await positions.list(S.ListQuery.parse(req.query), scopeOf(req));
    res.json({ items: page.items.map(positionOut), nextCursor: page.nextCursor });
  });

  documented({ method: 'get', path: '/v1/debt-positions/:id', summary: 'A debt position with its options', roles: ['entity', 'finance', 'admin'], response: S.DebtPositionOut, errors: ['NOT_FOUND'] });
  r.get('/v1/debt-positions/:id', auth, canRead, async (req, res) => {
    res.json(positionOut(await positions.get(String(req.params.id), scopeOf(req))));
  });

  documented({ method: 'post', path: '/v1/debt-positions/:id/cancel', summary: 'Cancel a position that is not paid (its notices answer NOTICE_CANCELLED)', roles: ['entity', 'admin'], response: S.DebtPositionOut, errors: ['NOT_FOUND', 'CONFLICT'] });
  r.post('/v1/debt-positions/:id/cancel', auth, canWrite, async (req, res) => {
    res.json(positionOut(await positions.cancel(String(req.params.id), actorOf(req))));
  });

  return r;
}
