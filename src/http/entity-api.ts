// Entity API: an entity publishes and cancels debt positions, one by one or in bulk
// (JSON array or CSV upload, all-or-nothing with a per-row report). An entity user
// acts for its own entity only; admin acts for any, naming entityId.
import { parse as parseCsv } from 'csv-parse/sync';
import express, { Router, type Request } from 'express';
import { PaymentError } from '../payments/errors.js';
import { positionRowErrors, toNewPosition } from '../payments/positions.js';
import type { DebtPositionView } from '../store/types.js';
import { authenticate, principal, requireRole } from './auth.js';
import type { AppContext } from './context.js';
import { documented } from './openapi.js';
import { sendProblem, zodDetail } from './problem.js';
import * as S from './schemas.js';

/** A bulk upload, JSON or CSV, may carry thousands of positions (the schema allows 50,000). */
const BULK_BODY_LIMIT = '20mb';

/** CSV columns of a bulk upload: one row per payment option; rows with the same externalRef form one position. */
export const CSV_COLUMNS = [
  'externalRef', 'service', 'debtorFiscalCode', 'debtorName', 'description', 'validUntil',
  'noticeNumber', 'lookupKey', 'kind', 'instalmentNo', 'amount', 'dueDate', 'optionDescription',
] as const;

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

/** Groups CSV rows into position inputs; returns per-line errors for malformed rows. */
/** Where each position and each of its options came from: CSV line numbers, or array indexes for JSON. */
type Origins = { line: number; options: number[] }[];

function rowOf(origins: Origins | null, position: number, option?: number): number {
  if (!origins) return position;
  const o = origins[position];
  if (!o) return -1;
  return option === undefined ? o.line : (o.options[option] ?? o.line);
}

function csvToPositions(text: string, entityId: string | undefined): { positions: unknown[]; origins: Origins } {
  let records: Record<string, string>[];
  try {
    records = parseCsv(text, { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Record<string, string>[];
  } catch (err) {
    throw new PaymentError('FORMAT', `CSV: ${(err as Error).message}`);
  }
  const missing = CSV_COLUMNS.filter((c) => !['debtorName', 'validUntil', 'lookupKey', 'kind', 'instalmentNo', 'optionDescription'].includes(c))
    .filter((c) => records.length > 0 && !(c in records[0]!));
  if (missing.length > 0) throw new PaymentError('FORMAT', `CSV: missing columns ${missing.join(', ')}; expected ${CSV_COLUMNS.join(',')}`);
  const byRef = new Map<string, { position: Record<string, unknown>; line: number; options: number[] }>();
  records.forEach((rec, i) => {
    const opt = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
    const num = (v: string | undefined) => (opt(v) === undefined ? undefined : /^\d+$/.test(v!) ? Number(v) : v);
    let entry = byRef.get(rec.externalRef ?? '');
    if (!entry) {
      entry = {
        line: i + 2, // header is line 1
        options: [],
        position: {
          ...(entityId ? { entityId } : {}),
          service: rec.service,
          externalRef: rec.externalRef,
          debtorFiscalCode: rec.debtorFiscalCode,
          debtorName: opt(rec.debtorName),
          description: rec.description,
          validUntil: opt(rec.validUntil),
          options: [],
        },
      };
      byRef.set(rec.externalRef ?? '', entry);
    }
    entry.options.push(i + 2);
    (entry.position.options as unknown[]).push({
      noticeNumber: rec.noticeNumber,
      lookupKey: opt(rec.lookupKey),
      kind: opt(rec.kind),
      instalmentNo: num(rec.instalmentNo),
      amount: num(rec.amount),
      dueDate: rec.dueDate,
      description: opt(rec.optionDescription) ?? rec.description,
    });
  });
  const entries = [...byRef.values()];
  return { positions: entries.map((e) => e.position), origins: entries.map((e) => ({ line: e.line, options: e.options })) };
}

export function entityApi(ctx: AppContext): Router {
  const r = Router();
  const { store, payments } = ctx;
  const auth = authenticate(ctx.tokens);
  const canWrite = requireRole('entity', 'admin');

  /** The entity a request acts for: the user's own, or the one admin names. */
  const actingEntity = (req: Request, named: string | undefined): string => {
    const p = principal(req);
    if (p.role === 'entity') {
      if (named !== undefined && named !== p.entityId) throw new PaymentError('FORBIDDEN', 'an entity acts only for itself');
      return p.entityId;
    }
    if (!named) throw new PaymentError('FORMAT', 'entityId is required');
    return named;
  };

  const create = async (req: Request, inputs: S.DebtPositionInputT[], origins: Origins | null) => {
    const p = principal(req);
    const rows = inputs.map((input) => ({ input, entityId: actingEntity(req, input.entityId) }));
    const errors = rows.flatMap(({ input, entityId }, i) =>
      positionRowErrors(input, entityId, payments).map(({ option, ...e }) => ({ row: rowOf(origins, i, option), ...e })),
    );
    if (errors.length > 0) return { status: 422, body: { created: 0, errors } };
    const result = await store.createPositions(rows.map(({ input, entityId }) => toNewPosition(input, entityId)), `${p.role}:${'username' in p ? p.username : ''}`);
    if ('errors' in result) {
      return { status: 409, body: { created: 0, errors: result.errors.map((e) => ({ ...e, row: rowOf(origins, e.row) })) } };
    }
    return { status: 201, body: { created: result.ids.length, ids: result.ids } };
  };

  documented({ method: 'post', path: '/v1/debt-positions', summary: 'Publish one debt position', roles: ['entity', 'admin'], body: S.DebtPositionInput, response: S.DebtPositionOut, status: 201 });
  r.post('/v1/debt-positions', auth, canWrite, async (req, res) => {
    const input = S.DebtPositionInput.parse(req.body);
    const out = await create(req, [input], null);
    if (out.status !== 201) {
      const first = out.body.errors![0]!;
      return sendProblem(res, first.code as never, first.detail, { errors: out.body.errors });
    }
    res.status(201).json(positionOut((await store.getPosition(out.body.ids![0]!))!));
  });

  documented({
    method: 'post', path: '/v1/debt-positions/bulk', summary: 'Publish many positions (JSON array, or text/csv one row per option), all or nothing',
    roles: ['entity', 'admin'], body: S.BulkPositionsInput, response: S.BulkReport, status: 201,
  });
  const bulkBody = [
    express.json({ type: 'application/json', limit: BULK_BODY_LIMIT, strict: true }),
    express.text({ type: 'text/csv', limit: BULK_BODY_LIMIT }),
  ];
  r.post('/v1/debt-positions/bulk', auth, canWrite, ...bulkBody, async (req, res) => {
    let raw: unknown = req.body;
    let origins: Origins | null = null;
    if (req.is('text/csv')) {
      if (typeof req.body !== 'string') throw new PaymentError('FORMAT', 'empty CSV body');
      // CSV rows carry no entity: an admin names it with ?entityId=.
      const named = typeof req.query.entityId === 'string' ? req.query.entityId : undefined;
      ({ positions: raw, origins } = csvToPositions(req.body, named));
    }
    const parsed = S.BulkPositionsInput.safeParse(raw);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => ({
        row:
          typeof i.path[0] === 'number'
            ? rowOf(origins, i.path[0], i.path[1] === 'options' && typeof i.path[2] === 'number' ? i.path[2] : undefined)
            : -1,
        code: 'FORMAT',
        detail: zodDetail({ issues: [{ ...i, path: i.path.slice(1) }] } as never),
      }));
      return res.status(422).json({ created: 0, errors });
    }
    const out = await create(req, parsed.data, origins);
    res.status(out.status).json(out.body);
  });

  documented({ method: 'get', path: '/v1/debt-positions', summary: 'List positions (cursor pagination); entities see their own', roles: ['entity', 'finance', 'admin'] });
  r.get('/v1/debt-positions', auth, requireRole('entity', 'finance', 'admin'), async (req, res) => {
    const q = S.ListQuery.parse(req.query);
    const p = principal(req);
    const entityId = p.role === 'entity' ? actingEntity(req, q.entityId) : q.entityId;
    if (!entityId) throw new PaymentError('FORMAT', 'entityId is required');
    const page = await store.listPositions(entityId, q.cursor ?? 0, q.limit);
    res.json({ items: page.items.map(positionOut), nextCursor: page.nextCursor });
  });

  const loadOwn = async (req: Request): Promise<DebtPositionView> => {
    const id = Number(req.params.id);
    const pos = Number.isSafeInteger(id) && id > 0 ? await store.getPosition(id) : undefined;
    if (!pos) throw new PaymentError('NOT_FOUND', `no debt position ${String(req.params.id)}`);
    const p = principal(req);
    if (p.role === 'entity' && pos.entityId !== p.entityId) throw new PaymentError('FORBIDDEN', 'this position belongs to another entity');
    return pos;
  };

  documented({ method: 'get', path: '/v1/debt-positions/:id', summary: 'A debt position with its options', roles: ['entity', 'finance', 'admin'], response: S.DebtPositionOut });
  r.get('/v1/debt-positions/:id', auth, requireRole('entity', 'finance', 'admin'), async (req, res) => {
    res.json(positionOut(await loadOwn(req)));
  });

  documented({ method: 'post', path: '/v1/debt-positions/:id/cancel', summary: 'Cancel a position that is not paid (its notices answer NOTICE_CANCELLED)', roles: ['entity', 'admin'], response: S.DebtPositionOut });
  r.post('/v1/debt-positions/:id/cancel', auth, canWrite, async (req, res) => {
    const pos = await loadOwn(req);
    const p = principal(req);
    const result = await store.cancelPosition(pos.id, `${p.role}:${'username' in p ? p.username : ''}`);
    if (!result.ok) throw new PaymentError(result.code, result.detail);
    res.json(positionOut((await store.getPosition(pos.id))!));
  });

  return r;
}
