// application/problem+json answers, always with a symbolic code of the error table.
import type { NextFunction, Request, Response } from 'express';
import { ZodError } from 'zod';
import { logger } from '../log.js';
import { ERROR_CODES, PaymentError, type ErrorCode } from '../payments/errors.js';
import { zodDetail } from '../payments/inputs.js';
import { StoreUnavailableError } from '../store/types.js';

export function sendProblem(res: Response, code: ErrorCode, detail: string, extra: Record<string, unknown> = {}): void {
  const e = ERROR_CODES[code];
  res
    .status(e.http)
    .type('application/problem+json')
    .send(JSON.stringify({ type: `urn:tserve:error:${code}`, title: e.title, status: e.http, code, detail, ...extra }));
}

/** The last middleware: every error becomes a problem; nothing unexpected leaks. */
export function errorHandler(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  if (err instanceof PaymentError) {
    // Overload is answered at once, with when to come back, instead of queueing for seconds.
    if (err.code === 'UNAVAILABLE') res.set('Retry-After', '1');
    return sendProblem(res, err.code, err.detail);
  }
  if (err instanceof StoreUnavailableError) {
    // Not logged per request: the store logs a burst of failures once (store/health.ts).
    res.set('Retry-After', '1');
    return sendProblem(res, 'UNAVAILABLE', 'the database is not reachable: try again shortly');
  }
  if (err instanceof ZodError) return sendProblem(res, 'FORMAT', zodDetail(err));
  const e = err as { type?: string; status?: number; message?: string };
  if (e.type === 'entity.parse.failed') return sendProblem(res, 'FORMAT', 'the body is not valid JSON');
  if (e.type === 'entity.too.large') return sendProblem(res, 'PAYLOAD_TOO_LARGE', 'the body is larger than allowed');
  if (e.type === 'charset.unsupported' || e.type === 'encoding.unsupported') {
    return sendProblem(res, 'UNSUPPORTED_MEDIA_TYPE', e.message ?? 'unsupported encoding');
  }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return sendProblem(res, 'FORMAT', e.message ?? 'bad request');
  logger.error('unhandled error', { error: err instanceof Error ? err.stack : String(err) });
  sendProblem(res, 'SYSTEM', 'an unexpected error occurred; it has been logged');
}
