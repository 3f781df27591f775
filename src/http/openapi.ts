// The OpenAPI document, generated from the zod schemas the routes validate with.
import { z } from 'zod';
import { Problem } from './schemas.js';

export interface RouteDoc {
  method: 'get' | 'post' | 'put';
  path: string; // express style, ':id'
  summary: string;
  roles: string[]; // [] = public
  body?: z.ZodType;
  bodyType?: string;
  response?: z.ZodType;
  status?: number;
  responseType?: string;
  headers?: string[];
  /** Query parameters, each optional unless its schema says otherwise. */
  query?: z.ZodObject;
}

const routes: RouteDoc[] = [];

export function documented(doc: RouteDoc): RouteDoc {
  routes.push(doc);
  return doc;
}

function schema(s: z.ZodType): unknown {
  return z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
}

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const headers = (r.headers ?? []).map((h) => ({ name: h, in: 'header', required: true, schema: { type: 'string', minLength: 8, maxLength: 64 } }));
    const query = Object.entries(r.query?.shape ?? {}).map(([name, s]) => ({
      name,
      in: 'query',
      required: !(s as z.ZodType).safeParse(undefined).success,
      schema: schema(s as z.ZodType),
    }));
    const ok: Record<string, unknown> = { description: 'success' };
    if (r.response) ok.content = { [r.responseType ?? 'application/json']: { schema: schema(r.response) } };
    else if (r.responseType) ok.content = { [r.responseType]: {} };
    paths[path] ??= {};
    paths[path][r.method] = {
      summary: r.summary,
      ...(r.roles.length ? { security: [{ bearer: [] }], 'x-roles': r.roles } : {}),
      parameters: [...params, ...query, ...headers],
      ...(r.body ? { requestBody: { required: true, content: { [r.bodyType ?? 'application/json']: { schema: schema(r.body) } } } } : {}),
      responses: {
        [String(r.status ?? 200)]: ok,
        default: { description: 'error', content: { 'application/problem+json': { schema: schema(Problem) } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'tserve', version, description: 'Payment switch for counter networks: terminal, entity and admin APIs. Amounts are integer cents.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths,
  };
}
