// GET /metrics in Prometheus format. Business volumes are not for everyone: by default
// only loopback callers (a local Prometheus or an SSH tunnel) may scrape; a Prometheus
// on another host presents the bearer token of TSERVE_METRICS_TOKEN(_FILE).
// Also the HTTP latency histogram's middleware (route patterns, never URLs, as labels).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Metrics } from '../metrics.js';
import { sendProblem } from './problem.js';

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/** A caller on this host (a local probe, Prometheus or an SSH tunnel). */
export const isLoopback = (address: string | undefined): boolean => LOOPBACK.test(address ?? '');

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether the request's `Authorization: Bearer` is the token: compared in constant time (over digests, of equal length). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (\S+)$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

/**
 * `open` (TSERVE_METRICS_PUBLIC=true): any caller; `token` (TSERVE_METRICS_TOKEN(_FILE)):
 * callers from elsewhere presenting it as a bearer token.
 */
export function metricsHandler(metrics: Metrics, open: boolean, token: string | null = null): RequestHandler {
  return async (req, res) => {
    if (!open && !isLoopback(req.socket.remoteAddress)) {
      if (token === null) {
        return sendProblem(res, 'FORBIDDEN', 'metrics are served to loopback callers only (TSERVE_METRICS_TOKEN lets a Prometheus elsewhere scrape with a bearer token)');
      }
      if (!bearerMatches(req.get('authorization'), token)) {
        return sendProblem(res, 'UNAUTHORIZED', 'metrics from another host need Authorization: Bearer <TSERVE_METRICS_TOKEN>');
      }
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}

/** Methods as labels: the usual ones, anything else 'other' (bounded cardinality). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The matched route's pattern ('/v1/payments/:id'), or 'unmatched': never the URL, which holds ids. */
function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  return route?.path === undefined ? 'unmatched' : `${req.baseUrl}${String(route.path)}`;
}

/** Observes every request's duration, by method, route pattern and status, once its answer is sent. */
export function requestDurations(metrics: Metrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    res.on('finish', () => {
      metrics.httpRequestSeconds.observe(
        { method: METHODS.has(req.method) ? req.method : 'other', route: routeOf(req), status: String(res.statusCode) },
        (performance.now() - started) / 1000,
      );
    });
    next();
  };
}
