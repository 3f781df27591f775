// /openapi.json is the whole API: every route express serves is documented and every
// documented route is served (the router's own table, walked); each operation has an
// id, a tag, its parameters and problem+json errors; Redocly's linter passes it. And
// the reference page at /docs, served offline under its own CSP.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentedRoutes } from '../../src/http/openapi.js';
import { bearer, setup, type Ctx } from './support.js';

let c: Ctx;
beforeAll(async () => {
  c = await setup(10);
});
afterAll(async () => {
  await c?.close();
});

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** 'get /v1/payments/:id' for every route of the app's routers (head answered by express from get). */
function servedRoutes(app: Express): Set<string> {
  const out = new Set<string>();
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const m of Object.keys(layer.route.methods)) if (m !== '_all' && m !== 'head') out.add(`${m} ${layer.route.path}`);
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out;
}

/** Routes the switch serves that a test app may lack, and why. */
const SERVED_BY_THE_SWITCH_ONLY = new Set([
  'get /metrics', // registered when the app has metrics: src/server.ts always gives them, the harness none
]);

type Operation = {
  operationId: string;
  tags: string[];
  security: unknown[];
  parameters?: { name: string; in: string; required: boolean }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
};
type Doc = { openapi: string; servers: unknown[]; tags: { name: string }[]; components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> }; paths: Record<string, Record<string, Operation>> };

describe('/openapi.json', () => {
  let doc: Doc;
  beforeAll(async () => {
    doc = (await c.api().get('/openapi.json')).body as Doc;
  });

  it('documents every route express serves, and serves every documented route', () => {
    const served = servedRoutes(c.h.app);
    const documented = new Set(documentedRoutes().map((r) => `${r.method} ${r.path}`));
    expect([...served].filter((r) => !documented.has(r)), 'served but not documented').toEqual([]);
    expect([...documented].filter((r) => !served.has(r) && !SERVED_BY_THE_SWITCH_ONLY.has(r)), 'documented but not served').toEqual([]);
    const inDoc = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
    expect(new Set(inDoc)).toEqual(documented);
  });

  it('every operation: a unique operationId, a declared tag, security, problem+json errors', () => {
    const ids = new Set<string>();
    const tags = new Set(doc.tags.map((t) => t.name));
    expect([...tags].sort()).toEqual(['Admin', 'Audit', 'Auth', 'Console', 'Entities', 'Finance', 'Operations', 'Terminals']);
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        const where = `${m} ${p}`;
        expect(ids.has(op.operationId), where).toBe(false);
        ids.add(op.operationId);
        expect(op.tags.length, where).toBe(1);
        expect(tags.has(op.tags[0]!), where).toBe(true);
        const errors = Object.entries(op.responses).filter(([s]) => Number(s) >= 400);
        expect(errors.length, where).toBeGreaterThan(0);
        for (const [s, r] of errors) expect(r.content?.['application/problem+json']?.schema, `${where} ${s}`).toEqual({ $ref: '#/components/schemas/Problem' });
        // Path parameters are declared, required.
        for (const name of [...p.matchAll(/\{(\w+)\}/g)].map((x) => x[1])) {
          expect(op.parameters?.find((x) => x.name === name && x.in === 'path')?.required, `${where} ${name}`).toBe(true);
        }
      }
    }
    expect(doc.servers.length).toBeGreaterThan(0);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(Object.keys(doc.components.schemas.Problem as object)).toContain('properties');
  });

  it('public routes say so; authenticated ones answer 401 and 403', () => {
    const op = (p: string, m: string) => doc.paths[p]![m]!;
    for (const [p, m] of [['/v1/auth/token', 'post'], ['/v1/auth/login', 'post'], ['/healthz', 'get'], ['/openapi.json', 'get'], ['/docs', 'get'], ['/console/session', 'post']] as const) {
      expect(op(p, m).security, p).toEqual([]);
    }
    const pay = op('/v1/payments', 'post');
    expect(pay.security).toEqual([{ bearer: [] }]);
    // Users' routes also take the console's session cookie; GET /console/session only it.
    expect(op('/v1/settlements', 'get').security).toEqual([{ bearer: [] }, { session: [] }]);
    expect(op('/console/session', 'get').security).toEqual([{ session: [] }]);
    expect(Object.keys(pay.responses)).toEqual(expect.arrayContaining(['200', '201', '400', '401', '403', '404', '409', '413', '415', '422', '429', '503']));
  });

  it('query parameters of the listing routes, with their schemas', () => {
    const names = (p: string) => (doc.paths[p]!.get!.parameters ?? []).filter((x) => x.in === 'query').map((x) => x.name);
    expect(names('/v1/debt-positions')).toEqual(['entityId', 'cursor', 'limit']);
    expect(names('/v1/settlements')).toEqual(['from', 'to']);
    expect(names('/v1/rebilling/{month}/lines')).toEqual(['entityId', 'format', 'dialect', 'cursor', 'limit']);
    // Every CSV takes ?dialect=it (Italian Excel); the invoice is no CSV.
    for (const p of ['/v1/settlements/{date}/entities/{entityId}', '/v1/settlements/{date}/counters/{counterId}', '/v1/settlements/{date}/entities.csv',
      '/v1/settlements/{date}/counters.csv', '/v1/settlements/{date}/payments.csv', '/v1/rebilling/{month}']) {
      expect(names(p), p).toContain('dialect');
    }
    expect(names('/v1/rebilling/{month}/invoice.xml')).not.toContain('dialect');
    expect(names('/v1/admin/terminals')).toEqual(['counterId']);
    expect(names('/v1/stream')).toEqual(expect.arrayContaining(['after', 'scope', 'type']));
    expect(doc.paths['/v1/stream']!.get!.responses['101']).toBeDefined();
  });

  it('is clean under Redocly lint (recommended rules; redocly.yaml), offline', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-openapi-'));
    try {
      const file = path.join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(doc));
      const root = path.resolve(import.meta.dirname, '../..');
      // No telemetry, no update check, no remote config: nothing leaves the machine.
      const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', CI: 'true' };
      const run = await promisify(execFile)(path.join(root, 'node_modules/.bin/redocly'), ['lint', file, '--config', path.join(root, 'redocly.yaml'), '--format=json'], {
        cwd: root, env, maxBuffer: 16 * 1024 * 1024,
      }).catch((err: { stdout: string; stderr: string; code: number }) => ({ ...err, failed: true }));
      const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[] };
      // Allowed, and why: the stream answers 101 Switching Protocols, never a 2XX.
      const allowed = (p: (typeof report.problems)[number]) => p.ruleId === 'operation-2xx-response' && p.location[0]!.pointer.startsWith('#/paths/~1v1~1stream/get');
      const rest = report.problems.filter((p) => !allowed(p)).map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
      expect(rest).toEqual([]);
      expect(report.totals.errors).toBe(0);
      expect('failed' in run, run.stderr).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the reference page /docs', () => {
  it('is HTML that loads only scripts and styles of this origin, under its own CSP', async () => {
    const res = await c.api().get('/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const urls = [...res.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(urls).toEqual(expect.arrayContaining(['/docs/swagger-ui-bundle.js', '/docs/start.js', '/docs/swagger-ui.css']));
    expect(urls.filter((u) => !u.startsWith('/'))).toEqual([]);
    expect(res.text).not.toMatch(/https?:\/\//);
    expect(res.text).not.toMatch(/<script>(?!<\/script>)|<script>[^<]/); // no inline script
    const csp = res.headers['content-security-policy']!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-eval|https?:|\*/);
  });

  it('serves the bundle, its start script and style sheet from node_modules; nothing else', async () => {
    const bundle = await c.api().get('/docs/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/^text\/javascript/);
    expect(Number(bundle.headers['content-length'])).toBeGreaterThan(500_000);
    const start = await c.api().get('/docs/start.js');
    expect(start.headers['content-type']).toMatch(/^text\/javascript/);
    expect(start.text).toContain("url: '/openapi.json'");
    expect(start.text).toContain('validatorUrl: null');
    const css = await c.api().get('/docs/swagger-ui.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    for (const f of ['package.json', '..%2Fpackage.json', 'index.html']) expect((await c.api().get(`/docs/${f}`)).status, f).toBe(404);
  });

  it('the API keeps its strict CSP; a plain GET of the stream says it is a WebSocket', async () => {
    const csp = (await c.api().get('/healthz')).headers['content-security-policy']!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toContain("default-src 'none'");
    const token = c.h.userToken('finance');
    const res = await c.api().get('/v1/stream').set(bearer(token));
    expect(res.status).toBe(400);
    expect(res.body.detail).toMatch(/WebSocket/);
  });
});
