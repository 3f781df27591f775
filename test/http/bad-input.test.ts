// Hostile and malformed requests: always a 4xx problem+json, never a 500, nothing
// booked. Plus /healthz and /openapi.json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, expectProblem, idemKey, paymentCount, setup, setupWithEnv, type Ctx, type OptionRow } from './support.js';

let c: Ctx;
let auth: Record<string, string>;
let o: OptionRow;
beforeAll(async () => {
  c = await setup();
  auth = bearer(c.h.terminalToken('T0001'));
  o = await c.notices.tari();
});
afterAll(async () => {
  await c?.close();
});

const payRaw = (body: string, contentType = 'application/json', key = idemKey()) =>
  c.api().post('/v1/payments').set(auth).set('Idempotency-Key', key).set('Content-Type', contentType).send(body);
const pay = (body: Record<string, unknown>) => c.api().post('/v1/payments').set(auth).set('Idempotency-Key', idemKey()).send(body);
const verify = (body: Record<string, unknown>) => c.api().post('/v1/verify').set(auth).send(body);
const good = () => ({ service: 'TARI', identifier: o.notice, amount: o.amount });

describe('malformed bodies', () => {
  it('malformed JSON → 400 FORMAT', async () => {
    expectProblem(await payRaw('{"service": "TARI", "identifier": '), 400, 'FORMAT');
    expectProblem(await payRaw("{'service': 'TARI'}"), 400, 'FORMAT');
    expectProblem(await payRaw('{"amount": 01}'), 400, 'FORMAT');
  });

  it('JSON that is not an object → 400 FORMAT', async () => {
    expectProblem(await payRaw('"TARI"'), 400, 'FORMAT');
    expectProblem(await payRaw('[1,2,3]'), 400, 'FORMAT');
    expectProblem(await payRaw('null'), 400, 'FORMAT');
    expectProblem(await payRaw('42'), 400, 'FORMAT');
  });

  it('an empty JSON body → 400 FORMAT', async () => {
    const res = await c.api().post('/v1/payments').set(auth).set('Idempotency-Key', idemKey()).set('Content-Type', 'application/json');
    expectProblem(res, 400, 'FORMAT');
  });

  it('a body over 1 MB → 413 PAYLOAD_TOO_LARGE', async () => {
    const big = JSON.stringify({ ...good(), payer: 'x'.repeat(1_100_000) });
    expectProblem(await payRaw(big), 413, 'PAYLOAD_TOO_LARGE');
    expectProblem(await c.api().post('/v1/verify').set(auth).set('Content-Type', 'application/json').send(big), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('a body just under 1 MB is parsed (and then refused by the schema, 400)', async () => {
    const body = JSON.stringify({ ...good(), payer: 'x'.repeat(1_000_000) });
    expectProblem(await payRaw(body), 400, 'FORMAT');
  });

  it('Content-Type text/plain, form or CSV on POST /v1/payments → 415', async () => {
    expectProblem(await payRaw(JSON.stringify(good()), 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectProblem(await payRaw('service=TARI&amount=1', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectProblem(await payRaw('service,amount\nTARI,1\n', 'text/csv'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectProblem(await payRaw(JSON.stringify(good()), 'application/xml'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('an unsupported charset or content encoding → 415', async () => {
    expectProblem(await payRaw(JSON.stringify(good()), 'application/json; charset=latin1'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    const res = await c
      .api()
      .post('/v1/payments')
      .set(auth)
      .set('Idempotency-Key', idemKey())
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'compress')
      .send(JSON.stringify(good()));
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('JSON with a UTF-8 charset parameter is fine', async () => {
    const res = await payRaw(JSON.stringify({ ...good(), amount: o.amount + 1 }), 'application/json; charset=utf-8');
    expectProblem(res, 422, 'AMOUNT_MISMATCH');
  });
});

describe('schema violations → 400 FORMAT', () => {
  it('unknown fields', async () => {
    expectProblem(await pay({ ...good(), tip: 100 }), 400, 'FORMAT');
    expectProblem(await verify({ service: 'TARI', identifier: o.notice, amount: 1 }), 400, 'FORMAT');
    expectProblem(await payRaw(`{"service":"TARI","identifier":"${o.notice}","amount":${o.amount},"__proto__":{"isAdmin":true}}`), 400, 'FORMAT');
  });

  it('amounts: string, float, negative, zero, null, missing, too large', async () => {
    for (const amount of [String(o.amount), o.amount + 0.5, -o.amount, 0, null, 1e20, true]) {
      const res = await pay({ ...good(), amount });
      expectProblem(res, 400, 'FORMAT');
    }
    const { amount: _, ...noAmount } = good();
    expectProblem(await pay(noAmount), 400, 'FORMAT');
    // 1e400 parses to Infinity.
    expectProblem(await payRaw(`{"service":"TARI","identifier":"${o.notice}","amount":1${'0'.repeat(400)}}`), 400, 'FORMAT');
    // Beyond 2^53: not a safe integer of cents.
    expectProblem(await payRaw(`{"service":"TARI","identifier":"${o.notice}","amount":${'9'.repeat(20)}}`), 400, 'FORMAT');
  });

  it('fees: string, negative, float', async () => {
    for (const fee of ['160', -1, 1.5]) expectProblem(await pay({ ...good(), fee }), 400, 'FORMAT');
  });

  it('identifiers and codes too long or of the wrong type', async () => {
    expectProblem(await pay({ ...good(), identifier: '3'.repeat(65) }), 400, 'FORMAT');
    expectProblem(await verify({ service: 'TARI', identifier: '3'.repeat(65) }), 400, 'FORMAT');
    expectProblem(await verify({ service: 'TARIXXXXXXXXX', identifier: o.notice }), 400, 'FORMAT');
    expectProblem(await verify({ service: 'TARI', identifier: 3012024 }), 400, 'FORMAT');
    expectProblem(await verify({ service: '', identifier: o.notice }), 400, 'FORMAT');
    expectProblem(await verify({ qr: `PAGOPA|002|${o.notice}|84006890481|${'1'.repeat(40)}` }), 400, 'FORMAT');
    expectProblem(await pay({ ...good(), payer: 'X'.repeat(17) }), 400, 'FORMAT');
    expectProblem(await verify({ service: 'BOLLO', identifier: 'AB123CD', vehicleType: '3' }), 400, 'FORMAT');
    expectProblem(await verify({ service: 'BOLLO', identifier: 'AB123CD', vehicleType: 1 }), 400, 'FORMAT');
    expectProblem(await verify({ service: 'IMU', identifier: 'RSSMRA85T10A562S', year: '2026' }), 400, 'FORMAT');
    expectProblem(await verify({ service: 'IMU', identifier: 'RSSMRA85T10A562S', year: 1999 }), 400, 'FORMAT');
  });

  it('an Idempotency-Key with non-ASCII characters → 400', async () => {
    const res = await c.api().post('/v1/payments').set(auth).set('Idempotency-Key', 'clé-idempotence-1').send(good());
    expectProblem(res, 400, 'FORMAT');
  });

  it('nothing above booked anything; the notice is still payable', async () => {
    expect(await paymentCount(c.db)).toBe(0);
    const v = await verify({ service: 'TARI', identifier: o.notice });
    expect(v.status).toBe(200);
    expect(v.body.status).toBe('VALID');
  });
});

describe('routes', () => {
  it('an unknown route → 404 NOT_FOUND problem, authenticated or not', async () => {
    expectProblem(await c.api().get('/v1/nope'), 404, 'NOT_FOUND');
    expectProblem(await c.api().get('/v1/nope').set(auth), 404, 'NOT_FOUND');
    expectProblem(await c.api().get('/'), 404, 'NOT_FOUND');
    expectProblem(await c.api().post('/v1/payments/x/y/z').set(auth).send({}), 404, 'NOT_FOUND');
  });

  it('a known path with the wrong method → 4xx problem, not 500', async () => {
    for (const res of [
      await c.api().get('/v1/verify').set(auth),
      await c.api().put('/v1/payments').set(auth).send(good()),
      await c.api().delete(`/v1/payments/00000000-0000-4000-8000-000000000000`).set(auth),
      await c.api().patch('/v1/admin/counters/C0001').set(bearer(c.h.userToken('admin'))).send({ status: 'suspended' }),
    ]) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await c.api().get('/v1/admin/counters/C0001').set(bearer(c.h.userToken('admin')))).body.status).toBe('active');
  });

  it('path parameters with odd characters do not crash', async () => {
    for (const path of ['/v1/payments/%00', '/v1/payments/..%2F..%2Fetc%2Fpasswd', '/v1/payments/%E0%A4%A', `/v1/payments/${'a'.repeat(5000)}`]) {
      const res = await c.api().get(path).set(auth);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
    }
  });

  it('security headers and request ids', async () => {
    const res = await c.api().get('/healthz').set('X-Request-Id', 'abc-123');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-request-id']).toBe('abc-123');
    const bad = await c.api().get('/healthz').set('X-Request-Id', 'has spaces and <script>');
    expect(bad.headers['x-request-id']).not.toContain('<');
  });
});

describe('/healthz and /openapi.json', () => {
  it('/healthz → 200 {status: "ok"} without a token', async () => {
    const res = await c.api().get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
  });

  it('/openapi.json is an OpenAPI 3.1 document with the terminal API', async () => {
    const res = await c.api().get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const doc = res.body as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, { type?: string }>; required?: string[] } }> }; parameters?: { name: string; in: string; required?: boolean }[]; responses: Record<string, unknown> }>>;
      components?: { securitySchemes?: Record<string, { type: string; scheme?: string }> };
    };
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(typeof doc.info.title).toBe('string');
    expect(typeof doc.info.version).toBe('string');
    for (const p of ['/v1/payments', '/v1/verify', '/v1/auth/token']) expect(doc.paths[p]?.post, p).toBeDefined();
    expect(doc.paths['/v1/payments/{id}']?.get).toBeDefined();
    expect(doc.paths['/v1/payments/{id}/reversal']?.post).toBeDefined();
    expect(Object.keys(doc.paths).some((p) => p.includes(':'))).toBe(false);
    const payOp = doc.paths['/v1/payments']!.post!;
    const schema = payOp.requestBody!.content['application/json']!.schema;
    expect(schema.properties?.amount).toBeDefined();
    expect(schema.properties?.amount?.type).toBe('integer');
    expect(schema.required).toContain('amount');
    expect(payOp.responses['201']).toBeDefined();
    expect(payOp.parameters?.some((p) => p.name === 'Idempotency-Key' && p.in === 'header' && p.required)).toBe(true);
    const tokenSchema = doc.paths['/v1/auth/token']!.post!.requestBody!.content['application/json']!.schema;
    expect(Object.keys(tokenSchema.properties ?? {})).toEqual(expect.arrayContaining(['terminalId', 'secret']));
    expect(doc.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  // Every documented route served, every served route documented: test/http/openapi.test.ts (the router's table).
});

describe('rate limits → 429 RATE_LIMITED', () => {
  let r: Ctx;
  beforeAll(async () => {
    r = await setupWithEnv({ TSERVE_RATE_LIMIT_PER_MINUTE: '15', TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: '3' });
  });
  afterAll(async () => {
    await r?.close();
  });

  it('token requests beyond the auth limit → 429 problem+json', async () => {
    const secret = r.h.credentials.terminals[0]!.apiSecret;
    const statuses: number[] = [];
    let last: Awaited<ReturnType<ReturnType<Ctx['api']>['post']>> | undefined;
    for (let i = 0; i < 4; i++) {
      last = await r.api().post('/v1/auth/token').send({ terminalId: 'T0001', secret });
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expectProblem(last!, 429, 'RATE_LIMITED');
  });

  it('requests beyond the general limit → 429 problem+json', async () => {
    const auth = bearer(r.h.terminalToken('T0002'));
    let last: Awaited<ReturnType<ReturnType<Ctx['api']>['get']>> | undefined;
    for (let i = 0; i < 20; i++) last = await r.api().get('/v1/services').set(auth);
    expectProblem(last!, 429, 'RATE_LIMITED');
  });
});
