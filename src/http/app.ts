// The express application: security headers, request ids, body limits, the APIs,
// /healthz, /openapi.json, and problem+json for every error.
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import { logger, withRequestId } from '../log.js';
import { NetworkAdmin } from '../payments/admin.js';
import { DebtPositions } from '../payments/positions.js';
import { Finance } from '../../settlement/finance.js';
import { adminApi } from './admin-api.js';
import { networkApi } from './network-api.js';
import { NetworkService } from '../network/service.js';
import { systemClock } from '../clock.js';
import { auditApi } from './audit-api.js';
import type { AppContext } from './context.js';
import { entityApi } from './entity-api.js';
import { financeApi } from './finance-api.js';
import { consoleApi } from './console-api.js';
import { ConsoleReads } from '../payments/reports.js';
import { isLoopback, metricsHandler, requestDurations } from './metrics.js';
import { documented, openApiDocument } from './openapi.js';
import { referencePage } from './reference.js';
import { Health, Ready } from './schemas.js';
import { StreamQuery } from '../stream/server.js';
import { acceptSessionsWith, checkUsersWith } from './auth.js';
import { loginDoor } from './login-guard.js';
import { ConsoleSessions, sessionApi } from './session.js';
import { errorHandler, sendProblem } from './problem.js';
import { terminalApi } from './terminal-api.js';
import { consoleRouter } from '../console/serve.js';

const BODY_LIMIT = '1mb';
const BULK_PATH = '/v1/debt-positions/bulk';

function requestIds(req: Request, res: Response, next: NextFunction): void {
  const given = req.get('x-request-id');
  const id = given && /^[\w.:-]{1,64}$/.test(given) ? given : randomUUID();
  res.set('X-Request-Id', id);
  const started = process.hrtime.bigint();
  withRequestId(id, () => {
    res.on('finish', () =>
      withRequestId(id, () =>
        logger.info('http', {
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          principal: req.principal ? (req.principal.role === 'terminal' ? req.principal.terminalId : req.principal.username) : undefined,
        }),
      ),
    );
    next();
  });
}

/** A body must be JSON (or CSV where a route says so): anything else is refused before parsing. */
function requireJsonBody(req: Request, res: Response, next: NextFunction): void {
  const hasBody = req.get('content-length') !== undefined ? Number(req.get('content-length')) > 0 : req.get('transfer-encoding') !== undefined;
  if (!hasBody || req.method === 'GET') return next();
  if (req.is('application/json') || (req.path === BULK_PATH && req.is('text/csv'))) return next();
  sendProblem(res, 'UNSUPPORTED_MEDIA_TYPE', `send application/json${req.path.endsWith('/bulk') ? ' or text/csv' : ''}`);
}

export function createApp(ctx: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(helmet());
  // Every API answer may hold personal data or a secret (payments, receipts, debt
  // positions with fiscal codes, reports, keys): no browser or proxy keeps a copy.
  app.use('/v1', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  app.use(requestIds);
  if (ctx.metrics) app.use(requestDurations(ctx.metrics));
  app.use(
    rateLimit({
      windowMs: 60_000,
      limit: ctx.config.rateLimitPerMinute,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      handler: (_req, res) => sendProblem(res, 'RATE_LIMITED', 'too many requests; slow down'),
    }),
  );
  app.use(requireJsonBody);
  // Bulk uploads parse their own (larger) JSON body, after authentication (entity-api.ts).
  const json = express.json({ limit: BODY_LIMIT, strict: true, type: 'application/json' });
  app.use((req, res, next) => (req.path === BULK_PATH ? next() : json(req, res, next)));

  documented({ method: 'get', path: '/healthz', summary: 'Liveness: the process answers and reaches its database', roles: [], response: Health, errors: ['UNAVAILABLE'] });
  app.get('/healthz', async (_req, res) => {
    const empty = await ctx.store.isEmpty().catch(() => null);
    if (empty === null) return sendProblem(res, 'UNAVAILABLE', 'the database is not reachable');
    res.json({ status: 'ok', version: ctx.version });
  });
  // Readiness: can the switch book? The write path's last result and any alarm (no
  // query, so a load balancer may ask often); /healthz above stays liveness.
  // The reasons and alarms name files, accounts and balances: told to a caller on this
  // host (a local probe, the operator); others (a remote load balancer) get the verdict
  // and how many alarms are open.
  documented({
    method: 'get', path: '/readyz', summary: 'Readiness: can the switch book now (reasons and alarms to a caller on this host only)', roles: [], response: Ready,
    errors: ['UNAVAILABLE'],
  });
  app.get('/readyz', (req, res) => {
    const r = ctx.store.readiness();
    res.set('Cache-Control', 'no-store');
    const local = ctx.config.metricsPublic || isLoopback(req.socket.remoteAddress);
    const alarms = local ? { alarms: r.alarms } : { alarmCount: r.alarms.length };
    if (!r.ready) return sendProblem(res, 'UNAVAILABLE', local ? (r.reason ?? 'not ready') : 'the switch cannot book now (details in its log, or from this host)', alarms);
    res.json({ status: 'ready', ...alarms });
  });
  documented({
    method: 'get', path: '/metrics', summary: 'Prometheus metrics: loopback callers, or others with the bearer token of TSERVE_METRICS_TOKEN (docs/observability.md)', roles: [],
    responseTypes: ['text/plain'], errors: ['UNAUTHORIZED', 'FORBIDDEN'],
  });
  if (ctx.metrics) app.get('/metrics', metricsHandler(ctx.metrics, ctx.config.metricsPublic, ctx.config.metricsToken));
  documented({ method: 'get', path: '/openapi.json', summary: 'This document (OpenAPI 3.1)', roles: [], responseTypes: ['application/json'] });
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(ctx.version));
  });
  app.use(referencePage());
  // The stream is a WebSocket (src/stream/server.ts answers the upgrade on the HTTP
  // server); a plain GET reaches express and is told so.
  documented({
    method: 'get', path: '/v1/stream', summary: 'Live confirmations over WebSocket (send Upgrade: websocket; docs/stream.md)', tag: 'Terminals',
    description: 'Authorization: Bearer <token>, or the subprotocol bearer.<token>. Events in seq order, resumed with ?after=. Without an Upgrade header: 400 FORMAT.',
    roles: ['terminal', 'entity', 'finance', 'admin'], query: StreamQuery, upgrade: true, status: 101,
  });
  app.get('/v1/stream', (_req, res) => sendProblem(res, 'FORMAT', 'the stream is a WebSocket: send GET /v1/stream with Upgrade: websocket (docs/stream.md)'));

  // The use-cases the routers call, over what main.ts gave the edge.
  const { store, payments, config } = ctx;
  const positions = new DebtPositions(store, payments, config.imports);
  const network = new NetworkAdmin(store, ctx.kek);
  const finance = new Finance({ store, payments, cutoff: config.settlementCutoff, operator: config.operator, files: config.settlementFiles, pagopa: ctx.pagopa ?? null });

  checkUsersWith(ctx.tokens, (username) => store.getUser(username));
  // The console's cookie sessions, taken by every route as tokens are; one login door for both.
  const sessions = ConsoleSessions.of(ctx);
  acceptSessionsWith(ctx.tokens, sessions);
  const door = loginDoor(ctx);
  app.use(terminalApi(ctx, door));
  app.use(sessionApi(ctx, door, sessions));
  app.use(entityApi(ctx, positions));
  app.use(adminApi(ctx, network));
  // Configuration changes (issue 13); this instance's catalogue is reloaded after each one.
  app.use(networkApi(ctx, new NetworkService(store, ctx.kek, ctx.clock ?? systemClock), () => payments.reloadCatalogue()));
  app.use(auditApi(ctx));
  app.use(financeApi(ctx, finance));
  // The console's reads (issue 14): payment search, the day's figures, counters' day.
  app.use(consoleApi(ctx, new ConsoleReads(store, payments, config.settlementCutoff)));
  // The console's page and its files (/console): plain static files, no build step.
  app.use(consoleRouter());
  app.use((req, res) => sendProblem(res, 'NOT_FOUND', `no route ${req.method} ${req.path}`));
  app.use(errorHandler);
  return app;
}
