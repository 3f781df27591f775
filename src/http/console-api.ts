// The console's reads (issue 14, docs/console.md): the payment search, the day's figures
// of a settlement window, every counter's day. Finance and admin read everything; an
// entity user its own entity's payments and figures; terminals none of it. Thin: decode,
// authorise, call src/payments/reports.ts, encode.
import { Router, type Request } from 'express';
import type { ConsoleReads, Scope } from '../payments/reports.js';
import { authenticate, principal, requireRole } from './auth.js';
import type { AppContext } from './context.js';
import { documented } from './openapi.js';
import * as S from './schemas.js';

function scopeOf(req: Request): Scope {
  const p = principal(req);
  return p.role === 'entity' ? p.entityId : null;
}

export function consoleApi(ctx: AppContext, reads: ConsoleReads): Router {
  const r = Router();
  const auth = authenticate(ctx.tokens);
  const readers = [auth, requireRole('finance', 'admin', 'entity')];
  const staff = [auth, requireRole('finance', 'admin')];

  documented({
    method: 'get', path: '/v1/payments', summary: 'Search payments, newest first (entities: their own only)', tag: 'Finance', roles: ['finance', 'admin', 'entity'],
    description:
      'At least one filter; filters combine (AND). notice takes a notice number or an IUV. An entity user naming another entityId is refused (403). ' +
      'The next page: ?cursor=nextCursor with the same filters.',
    query: S.PaymentSearchQuery, response: S.PaymentSearchPage,
  });
  r.get('/v1/payments', ...readers, async (req, res) => {
    res.json(await reads.search(S.PaymentSearchQuery.parse(req.query), scopeOf(req)));
  });

  documented({
    method: 'get', path: '/v1/reports/day', summary: "A settlement window's figures: totals, by service, entity, channel, counter kind and hour, the newest payments (entities: their own)",
    tag: 'Finance', roles: ['finance', 'admin', 'entity'], query: S.DayQuery, response: S.DayReport,
  });
  r.get('/v1/reports/day', ...readers, async (req, res) => {
    res.json(await reads.day(S.DayQuery.parse(req.query).date, scopeOf(req)));
  });

  documented({
    method: 'get', path: '/v1/counters/day', summary: "Every counter: status, credit limit and credit used, and its bookings of a settlement window", tag: 'Finance',
    roles: ['finance', 'admin'], query: S.DayQuery, response: S.CountersDay,
  });
  r.get('/v1/counters/day', ...staff, async (req, res) => {
    res.json(await reads.countersDay(S.DayQuery.parse(req.query).date));
  });

  documented({
    method: 'get', path: '/v1/pagopa/refunds', summary: 'pagoPA payments the node took no receipt for (refund_due), newest first: refund the citizen or report them with code 9',
    tag: 'Finance', roles: ['finance', 'admin'], response: S.PagoPaRefunds,
    description: 'A payment is marked when its outcome is answered PPT_PAGAMENTO_DUPLICATO (someone paid the notice meanwhile) or the token expired or is unknown to the node. Cancelling it (POST /v1/payments/{id}/cancel) refunds the citizen; otherwise the reporting flow carries it with code 9 (docs/pagopa.md).',
  });
  r.get('/v1/pagopa/refunds', ...staff, async (_req, res) => {
    res.json(await reads.pagopaRefunds());
  });

  return r;
}
