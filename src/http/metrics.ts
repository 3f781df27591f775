// GET /metrics in Prometheus format. Business volumes are not for everyone: by default
// only loopback callers (a local Prometheus or an SSH tunnel) may scrape.
import type { RequestHandler } from 'express';
import type { Metrics } from '../metrics.js';
import { sendProblem } from './problem.js';

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/** A caller on this host (a local probe, Prometheus or an SSH tunnel). */
export const isLoopback = (address: string | undefined): boolean => LOOPBACK.test(address ?? '');

export function metricsHandler(metrics: Metrics, open: boolean): RequestHandler {
  return async (req, res) => {
    if (!open && !isLoopback(req.socket.remoteAddress)) {
      return sendProblem(res, 'FORBIDDEN', 'metrics are served to loopback callers only (TSERVE_METRICS_PUBLIC=true opens them)');
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
