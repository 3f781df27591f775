// The OpenAPI document, generated from the zod schemas the routes validate with. Every
// route registers here with documented(); test/http/openapi.test.ts walks the express
// router and fails on a route left out (or a documented one that is not served), and
// lints the document with Redocly.
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../payments/errors.js';

export const TAGS = {
  Auth: 'Tokens for terminals (API secret) and users (password)',
  Terminals: 'What a terminal does: services, verify, pay, reverse, payments and receipts',
  Entities: 'Debt positions an entity publishes, one by one or in bulk, and cancels',
  Finance: 'Settlement windows, statements, SEPA files, refunds and rebilling of circuit fees',
  Admin: 'The network: counters, terminals, users and their credentials',
  Audit: 'The audit log and the unlock of accounts locked by failed logins',
  Operations: 'Liveness, readiness, metrics, this document and the reference page',
  Console: "The web console's login: a session cookie beside the Bearer tokens (docs/console.md)",
} as const;
export type Tag = keyof typeof TAGS;

/** The tag of a route by its path, the longest prefix first; a RouteDoc may name its own. */
const TAG_BY_PREFIX: [RegExp, Tag][] = [
  [/^\/v1\/auth\//, 'Auth'],
  [/^\/v1\/admin\/audit$|\/unlock$/, 'Audit'],
  [/^\/v1\/admin\//, 'Admin'],
  [/^\/v1\/debt-positions/, 'Entities'],
  [/^\/v1\/(settlements|rebilling)\b|^\/v1\/payments\/:id\/adjustment$/, 'Finance'],
  [/^\/v1\//, 'Terminals'],
  [/^\/console\b/, 'Console'],
  [/^\//, 'Operations'],
];

export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string; // express style, ':id'
  summary: string;
  description?: string;
  /** Derived from the method and path when not given (getPaymentsById); unique. */
  operationId?: string;
  tag?: Tag;
  roles: string[]; // [] = public
  body?: z.ZodType;
  /** Media types the body may come as (application/json when not given). */
  bodyTypes?: string[];
  response?: z.ZodType;
  status?: number;
  /** Media types of the success answer; more than one is chosen by Accept (or ?format=). */
  responseTypes?: string[];
  /** Other success statuses of the same answer, e.g. 200 beside 201 for "already done". */
  alsoStatus?: Record<number, string>;
  headers?: string[];
  /** Query parameters, each optional unless its schema says otherwise. */
  query?: z.ZodObject;
  /** Schemas of path parameters (a string when not named). */
  params?: Record<string, z.ZodType>;
  /**
   * Refusals this route answers beyond those of every route of its kind (see
   * errorsOf): a code of the error table, whose HTTP status it takes.
   */
  errors?: ErrorCode[];
  /** Served by the HTTP server's 'upgrade' event (the WebSocket stream), not by a router. */
  upgrade?: boolean;
  /** Only the console's session cookie opens it (GET/DELETE /console/session), not a Bearer token. */
  cookie?: boolean;
}

/** By method and path: every app a process builds (tests build many) documents the same routes once. */
const routes = new Map<string, RouteDoc>();

export function documented(doc: RouteDoc): RouteDoc {
  routes.set(`${doc.method} ${doc.path}`, doc);
  return doc;
}

/** Every documented route (the completeness test compares them with the router's). */
export function documentedRoutes(): RouteDoc[] {
  return [...routes.values()];
}

/** Routes for users (not only terminals) take the console's session cookie too. */
const acceptsSession = (r: RouteDoc) => r.roles.some((role) => role !== 'terminal');

/** Refusals every route of its kind can answer: the rate limit, the store, credentials, input. */
export function errorsOf(r: RouteDoc): ErrorCode[] {
  const codes = new Set<ErrorCode>(['RATE_LIMITED', 'SYSTEM']);
  if (r.path.startsWith('/v1/')) codes.add('UNAVAILABLE');
  if (r.roles.length) ['UNAUTHORIZED', 'FORBIDDEN'].forEach((c) => codes.add(c as ErrorCode));
  // A user's unsafe request may come with the console's cookie, and then needs its X-CSRF-Token.
  if (acceptsSession(r) && r.method !== 'get') codes.add('CSRF');
  if (r.body) ['FORMAT', 'UNSUPPORTED_MEDIA_TYPE', 'PAYLOAD_TOO_LARGE'].forEach((c) => codes.add(c as ErrorCode));
  if (r.query || r.params || r.headers?.length) codes.add('FORMAT');
  if ((r.responseTypes?.length ?? 0) > 1) codes.add('NOT_ACCEPTABLE');
  for (const c of r.errors ?? []) codes.add(c);
  return [...codes];
}

export function operationIdOf(r: RouteDoc): string {
  if (r.operationId) return r.operationId;
  const words = r.path
    .replace(/^\/v1\//, '/')
    .split(/[/.-]/)
    .filter(Boolean)
    .map((w) => (w.startsWith(':') ? `By${cap(w.slice(1))}` : cap(w)));
  return r.method + words.join('');
}
const cap = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);

function schema(s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** Every error answer: RFC 9457 with the symbolic code; some carry more (listed). */
export const Problem = z
  .object({
    type: z.string().describe('urn:tserve:error:<code>'),
    title: z.string(),
    status: z.number().int(),
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]).describe('the symbolic code of the error table (docs/api.md)'),
    detail: z.string().describe('what a person reads'),
    errors: z
      .array(z.object({ row: z.number().int().optional(), option: z.number().int().optional(), code: z.string(), detail: z.string() }))
      .optional()
      .describe('debt positions: each refused row (bulk: the first TSERVE_IMPORT_MAX_ERRORS) or option'),
    errorCount: z.number().int().optional().describe('bulk upload: how many errors in all'),
    created: z.literal(0).optional().describe('bulk upload: nothing was created'),
    problems: z.array(z.object({ field: z.string().optional(), message: z.string() }).loose()).optional().describe('a refused network change: every problem'),
    retryAt: z.string().optional().describe('a locked account: when it opens again'),
    alarms: z.array(z.unknown()).optional().describe('/readyz to a caller on the host: the open alarms'),
    alarmCount: z.number().int().optional().describe('/readyz to other callers: how many alarms are open'),
  })
  .describe('application/problem+json (RFC 9457)');

const problemRef = { $ref: '#/components/schemas/Problem' };

function errorResponses(r: RouteDoc): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of errorsOf(r)) byStatus.set(ERROR_CODES[c].http, [...(byStatus.get(ERROR_CODES[c].http) ?? []), c]);
  const out: Record<string, unknown> = {};
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: codes.map((c) => `${c}: ${ERROR_CODES[c].title}`).join('; '),
      ...(status === 401 ? { headers: { 'WWW-Authenticate': { description: 'Bearer realm="tserve"', schema: { type: 'string' } } } } : {}),
      ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } } } } : {}),
      content: { 'application/problem+json': { schema: problemRef } },
    };
  }
  return out;
}

function operation(r: RouteDoc, ids: Set<string>): Record<string, unknown> {
  const operationId = operationIdOf(r);
  if (ids.has(operationId)) throw new Error(`OpenAPI: operationId ${operationId} used twice (${r.method} ${r.path})`);
  ids.add(operationId);
  const path = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
    name: m[1]!,
    in: 'path',
    required: true,
    schema: r.params?.[m[1]!] ? schema(r.params[m[1]!]!, 'input') : { type: 'string' },
  }));
  const unknownParam = Object.keys(r.params ?? {}).find((p) => !path.some((x) => x.name === p));
  if (unknownParam) throw new Error(`OpenAPI: ${r.path} has no path parameter ${unknownParam}`);
  const headers = (r.headers ?? []).map((h) => ({ name: h, in: 'header', required: true, schema: { type: 'string', minLength: 8, maxLength: 64 } }));
  const query = Object.entries(r.query?.shape ?? {}).map(([name, s]) => {
    const zs = s as z.ZodType;
    const { description, ...js } = schema(zs, 'input');
    return { name, in: 'query', required: !zs.safeParse(undefined).success, ...(description ? { description } : {}), schema: js };
  });
  const types = r.responseTypes ?? ['application/json'];
  const content = Object.fromEntries(types.map((t) => [t, { schema: t === 'application/json' && r.response ? schema(r.response, 'output') : bytesSchema(t) }]));
  const ok = { description: r.upgrade ? 'Switching Protocols: the WebSocket stream' : 'success', ...(r.upgrade ? {} : { content }) };
  const also = Object.fromEntries(Object.entries(r.alsoStatus ?? {}).map(([s, d]) => [s, { description: d, content }]));
  return {
    operationId,
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
    tags: [r.tag ?? TAG_BY_PREFIX.find(([re]) => re.test(r.path))![1]],
    // Public routes say so: a missing security would inherit nothing, but lints as unknown.
    security: r.cookie ? [{ session: [] }] : r.roles.length ? [{ bearer: [] }, ...(acceptsSession(r) ? [{ session: [] }] : [])] : [],
    ...(r.roles.length ? { 'x-roles': r.roles } : {}),
    ...(path.length + query.length + headers.length ? { parameters: [...path, ...query, ...headers] } : {}),
    ...(r.body
      ? { requestBody: { required: true, content: Object.fromEntries((r.bodyTypes ?? ['application/json']).map((t) => [t, { schema: t === 'application/json' ? schema(r.body!, 'input') : bytesSchema(t) }])) } }
      : {}),
    responses: { [String(r.status ?? 200)]: ok, ...also, ...errorResponses(r) },
  };
}

/** A document that is not JSON: text as a string, the rest as bytes. */
function bytesSchema(type: string): Record<string, unknown> {
  return /^text\/|xml|json/.test(type) ? { type: 'string' } : { type: 'string', contentEncoding: 'binary' };
}

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const ids = new Set<string>();
  for (const r of routes.values()) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    paths[path] ??= {};
    if (paths[path][r.method]) throw new Error(`OpenAPI: ${r.method} ${r.path} documented twice`);
    paths[path][r.method] = operation(r, ids);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tserve',
      version,
      description:
        'Payment switch for counter networks: terminal, entity, finance and admin APIs. Amounts are integer cents; dates YYYY-MM-DD (Europe/Rome). ' +
        'Every error is application/problem+json with a symbolic code. Live confirmations: a WebSocket at /v1/stream (GET with Upgrade: websocket; docs/stream.md). ' +
        'Prose and examples: docs/api.md.',
      license: { name: 'UNLICENSED (proprietary)', identifier: 'LicenseRef-tserve' },
    },
    servers: [{ url: '/', description: 'this switch (the origin serving this document)' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'POST /v1/auth/token (terminals) or /v1/auth/login (users); 15 minutes' },
        session: {
          type: 'apiKey', in: 'cookie', name: 'tserve_session',
          description: 'The console: POST /console/session; used when no Authorization header is sent; POST, PUT, PATCH and DELETE also need X-CSRF-Token (403 CSRF)',
        },
      },
      schemas: { Problem: schema(Problem, 'output') },
    },
    paths,
  };
}
