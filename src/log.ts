/**
 * Structured logging: JSON lines on stdout, one object per event.
 *
 * Every record goes through two steps before it is serialised:
 *  - the request id of the surrounding `withRequestId` context (AsyncLocalStorage)
 *    is added as `requestId`;
 *  - `redact` scrubs the record: values under sensitive keys (authorization,
 *    tokens, secrets, passwords, TMK, keys, MACs, cookies) become '[redacted]',
 *    Italian fiscal codes inside strings are masked (RSS************S) and
 *    JWT-looking strings become '[redacted-jwt]'.
 *
 * Level from TSERVE_LOG_LEVEL (default 'info'); TSERVE_LOG_LEVEL=silent mutes it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import winston from 'winston';
import type { Logger } from 'winston';

const requestContext = new AsyncLocalStorage<{ requestId: string }>();

/** Runs `fn` (and everything asynchronous it starts) with `id` as the current request id. */
export function withRequestId<T>(id: string, fn: () => T): T {
  return requestContext.run({ requestId: id }, fn);
}

/** The request id of the surrounding `withRequestId` context, if any. */
export function currentRequestId(): string | undefined {
  return requestContext.getStore()?.requestId;
}

// ---------------------------------------------------------------------------
// Redaction

export const REDACTED = '[redacted]';
export const REDACTED_JWT = '[redacted-jwt]';

const SENSITIVE_KEY = /authorization|token|secret|password|tmk|key|mac|cookie/i;
const FISCAL_CODE = /[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]/gi;
const JWT = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const MAX_DEPTH = 12;

function isSensitiveKey(key: string): boolean {
  return key !== 'requestId' && SENSITIVE_KEY.test(key);
}

function maskFiscalCode(cf: string): string {
  return cf.slice(0, 3) + '*'.repeat(cf.length - 4) + cf.slice(-1);
}

function redactString(s: string): string {
  return s.replace(JWT, REDACTED_JWT).replace(FISCAL_CODE, maskFiscalCode);
}

function redactInner(value: unknown, seen: WeakSet<object>, depth: number): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth > MAX_DEPTH) return '[too-deep]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => redactInner(v, seen, depth + 1));
    if (value instanceof Error) {
      const out: Record<string, unknown> = { name: value.name, message: value.message };
      if (value.stack !== undefined) out.stack = value.stack;
      Object.assign(out, value);
      return redactObject(out, seen, depth);
    }
    if (value instanceof Map) return redactObject(Object.fromEntries(value), seen, depth);
    if (value instanceof Set) return [...value].map((v) => redactInner(v, seen, depth + 1));
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[binary ${value.byteLength} bytes]`;
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      // Dates, Decimals, ... : serialise the way JSON.stringify would, then scrub the result.
      return redactInner(toJSON.call(value), seen, depth + 1);
    }
    return redactObject(value as Record<string, unknown>, seen, depth);
  } finally {
    seen.delete(value);
  }
}

function redactObject(obj: Record<string, unknown>, seen: WeakSet<object>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    out[key] = isSensitiveKey(key) ? REDACTED : redactInner(obj[key], seen, depth + 1);
  }
  return out;
}

/**
 * Returns a scrubbed copy of `value` (the input is never modified): values under
 * sensitive keys become '[redacted]' at any depth, fiscal codes inside strings are
 * masked to their first 3 and last character, JWTs become '[redacted-jwt]'.
 */
export function redact(value: unknown): unknown {
  return redactInner(value, new WeakSet(), 0);
}

// ---------------------------------------------------------------------------
// Format and logger

/** Adds the context's requestId (unless the record already carries one). */
const requestIdFormat = winston.format((info) => {
  const id = currentRequestId();
  if (id !== undefined && info.requestId === undefined) info.requestId = id;
  return info;
});

/** Scrubs every string-keyed property of the record; winston's Symbol keys are kept. */
const redactFormat = winston.format((info) => {
  const out = redact(info) as Record<string, unknown>;
  for (const key of Object.keys(info)) {
    if (key === 'level') continue; // winston needs it verbatim
    info[key] = out[key];
  }
  return info;
});

/** The full format chain: errors → requestId → redaction → timestamp → JSON line. */
export function logFormat(): winston.Logform.Format {
  return winston.format.combine(
    winston.format.errors({ stack: true }),
    requestIdFormat(),
    redactFormat(),
    winston.format.timestamp(),
    winston.format.json(),
  );
}

const LEVELS = new Set(Object.keys(winston.config.npm.levels));

/** Resolves a TSERVE_LOG_LEVEL value: a winston npm level, 'silent', or 'info' by default. */
export function resolveLevel(raw: string | undefined): { level: string; silent: boolean } {
  const value = (raw ?? '').trim().toLowerCase();
  if (value === 'silent') return { level: 'info', silent: true };
  if (LEVELS.has(value)) return { level: value, silent: false };
  return { level: 'info', silent: false };
}

export interface LoggerOptions {
  level?: string;
  silent?: boolean;
  /** Defaults to one Console transport writing to stdout. */
  transports?: winston.LoggerOptions['transports'];
}

/** Builds a logger with tserve's format (used for `logger`, and by tests with their own transports). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent ?? false,
    format: logFormat(),
    transports: options.transports ?? [new winston.transports.Console()],
    exitOnError: false,
  });
}

/** The process-wide logger. */
export const logger: Logger = createLogger(resolveLevel(process.env.TSERVE_LOG_LEVEL));
