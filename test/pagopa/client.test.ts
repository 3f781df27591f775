// The PSP client (src/pagopa/client.ts) against a tiny node stub over real HTTP: what it
// sends, what it makes of answers, faults and transport failures, and what it retries.
// Waits between attempts go through an injected sleep that records them and moves an
// injected clock, so no test waits for a back-off and none asserts a timing.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NodeTransportError, PspClient, type PspClientConfig, type PspClientDeps } from '../../src/pagopa/client.js';
import { faultError, mapFault } from '../../src/pagopa/faults.js';
import { buildResponse, parseRequest, type ParsedRequest } from '../../src/pagopa/soap.js';
import type { ActivateAnswer, NodeAnswer, PspIdentity } from '../../src/pagopa/types.js';

const identity: PspIdentity = { idPSP: 'TSERVEPSP01', idBrokerPSP: '01234567890', idChannel: '01234567890_01', password: 'Pa55word!', subscriptionKey: 'sub-key-123' };
const activated: ActivateAnswer = {
  totalAmountCents: 3050,
  description: 'TARI 2026',
  fiscalCodePA: '80016430480',
  companyName: 'Comune di Firenze',
  paymentToken: 'tok0001',
  creditorReferenceId: '01000000000012345',
  transfers: [{ index: 1, amountCents: 3050, fiscalCodePA: '80016430480', iban: 'IT60X0542811101000000123456', remittanceInformation: 'TARI 2026' }],
};

/** What the stub does with the next requests: answer, or fail in one of the ways a node or network fails. */
type Behaviour = 'answer' | 'http503' | 'http401' | 'http404' | 'hang' | 'reset' | 'garbage';

interface Seen {
  headers: IncomingMessage['headers'];
  parsed: ParsedRequest;
}

let server: Server;
let url: string;
let plan: Behaviour[] = [];
let seen: Seen[] = [];
let answer: (p: ParsedRequest) => NodeAnswer<unknown> = () => ({ ok: true, value: {} });
const hanging = new Set<ServerResponse>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const parsed = parseRequest(Buffer.concat(chunks).toString('utf8'));
      seen.push({ headers: req.headers, parsed });
      const behaviour = plan.shift() ?? 'answer';
      if (behaviour === 'hang') return void hanging.add(res);
      if (behaviour === 'reset') return void req.socket.destroy();
      if (behaviour === 'garbage') return void res.writeHead(200, { 'content-type': 'text/xml' }).end('<html>proxy error</html>');
      if (behaviour !== 'answer') return void res.writeHead(Number(behaviour.slice(4))).end();
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
      res.end(buildResponse(parsed.operation, answer(parsed) as never));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/nodo/node-for-psp/v1`;
});

afterEach(() => {
  for (const res of hanging) res.destroy();
  hanging.clear();
  plan = [];
  seen = [];
  answer = () => ({ ok: true, value: {} });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A client whose waits are recorded and move its clock instead of passing. */
function client(overrides: Partial<PspClientConfig> = {}, deps: PspClientDeps = {}) {
  let now = Date.UTC(2026, 10, 30, 9, 0, 0);
  const waits: number[] = [];
  const config: PspClientConfig = { nodeUrl: url, identity, pspFiscalCode: '01234567890', timeoutMs: 2000, tokenExpirationMs: 1_800_000, ...overrides };
  const c = new PspClient(config, {
    clock: () => now,
    sleep: async (ms) => {
      waits.push(ms);
      now += ms;
    },
    random: () => 0.5,
    ...deps,
  });
  return { c, waits, advance: (ms: number) => (now += ms) };
}

const notice = { fiscalCode: '80016430480', noticeNumber: '301000000000012345' };

describe('PspClient: the three operations', () => {
  it('verify: one POST with SOAPAction, the subscription key, the identity in the body', async () => {
    answer = () => ({ ok: true, value: { amountCents: 3050, description: 'TARI 2026', fiscalCodePA: '80016430480', companyName: 'Comune di Firenze' } });
    const { c } = client();
    await expect(c.verify(notice)).resolves.toEqual({ ok: true, value: { amountCents: 3050, description: 'TARI 2026', fiscalCodePA: '80016430480', companyName: 'Comune di Firenze' } });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers.soapaction).toBe('verifyPaymentNotice');
    expect(seen[0]!.headers['ocp-apim-subscription-key']).toBe('sub-key-123');
    expect(seen[0]!.headers['content-type']).toMatch(/^text\/xml/);
    const { subscriptionKey: _key, ...credentials } = identity;
    expect(seen[0]!.parsed).toEqual({ operation: 'verifyPaymentNotice', credentials, request: notice });
  });

  it('activate: asks the configured token lifetime, with a key derived from the terminal', async () => {
    answer = () => ({ ok: true, value: activated });
    const { c } = client({ tokenExpirationMs: 900_000 });
    const key = c.keyFor('T0001', 'RRN000000042');
    await expect(c.activate({ idempotencyKey: key, ...notice, amountCents: 3050 })).resolves.toEqual({ ok: true, value: activated });
    expect(seen[0]!.headers.soapaction).toBe('activatePaymentNotice');
    expect(seen[0]!.parsed.request).toEqual({ idempotencyKey: key, ...notice, amountCents: 3050, expirationMs: 900_000 });
    expect(key).toBe(c.keyFor('T0001', 'RRN000000042'));
    expect(key).toMatch(/^01234567890_[a-zA-Z0-9]{10}$/);
  });

  it('sendOutcome: OK with details', async () => {
    const { c } = client();
    const request = { idempotencyKey: '01234567890_aaaaaaaaaa', paymentToken: 'tok0001', outcome: 'OK' as const, details: { feeCents: 150, applicationDate: '2026-11-30', transferDate: '2026-12-01' } };
    await expect(c.sendOutcome(request)).resolves.toEqual({ ok: true, value: {} });
    expect(seen[0]!.headers.soapaction).toBe('sendPaymentOutcome');
    expect(seen[0]!.parsed.request).toEqual(request);
  });

  it('a KO is an answer: returned as a fault, never retried, mapped by the one table', async () => {
    answer = () => ({ ok: false, fault: { code: 'PPT_PAGAMENTO_DUPLICATO', description: 'already paid' } });
    const { c, waits } = client();
    const result = await c.activate({ idempotencyKey: c.keyFor('T1', 'k'), ...notice, amountCents: 3050 });
    expect(result).toEqual({ ok: false, fault: { code: 'PPT_PAGAMENTO_DUPLICATO', description: 'already paid' } });
    expect(seen).toHaveLength(1);
    expect(waits).toEqual([]);
    if (!result.ok) expect(mapFault(result.fault)).toMatchObject({ code: 'NOTICE_ALREADY_PAID', iso: '80' });
  });
});

describe('PspClient: retries with back-off', () => {
  it('a node failing twice then answering: three attempts, the same activation (same key), back-off doubling', async () => {
    answer = () => ({ ok: true, value: activated });
    plan = ['http503', 'reset'];
    const { c, waits } = client();
    const key = c.keyFor('T1', 'k');
    await expect(c.activate({ idempotencyKey: key, ...notice, amountCents: 3050 })).resolves.toEqual({ ok: true, value: activated });
    // The stub records each request before failing it: three attempts, one key.
    expect(seen.map((s) => (s.parsed.request as { idempotencyKey: string }).idempotencyKey)).toEqual([key, key, key]);
    // Jitter at 0.5 draws 3/4 of the ceiling: 250 then 500 ms ceilings.
    expect(waits).toEqual([188, 375]);
  });

  it('failing as often as there are attempts: NODE_UNREACHABLE, which answers 91', async () => {
    plan = ['http503', 'http503', 'http503', 'http503'];
    const { c, waits } = client();
    const err = await c.verify(notice).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeTransportError);
    expect((err as NodeTransportError).code).toBe('NODE_UNREACHABLE');
    expect(seen).toHaveLength(3);
    expect(waits).toHaveLength(2);
    expect(faultError(err as NodeTransportError)).toMatchObject({ code: 'CREDITOR_UNAVAILABLE' });
    expect(mapFault(err as NodeTransportError)).toMatchObject({ iso: '91', http: 503 });
  });

  it('the jitter stays in the upper half of a capped, doubling ceiling', async () => {
    plan = Array<Behaviour>(9).fill('http503');
    const low = client({}, { random: () => 0, retry: { attempts: 6, baseDelayMs: 100, maxDelayMs: 1000 } });
    await expect(low.c.verify(notice)).rejects.toThrow(NodeTransportError);
    expect(low.waits).toEqual([50, 100, 200, 400, 500]);
    plan = Array<Behaviour>(9).fill('http503');
    const high = client({}, { random: () => 0.999999, retry: { attempts: 6, baseDelayMs: 100, maxDelayMs: 1000 } });
    await expect(high.c.verify(notice)).rejects.toThrow(NodeTransportError);
    expect(high.waits).toEqual([100, 200, 400, 800, 1000]);
  });

  it('an outcome is retried past the attempts of verify and activate, until answered', async () => {
    plan = Array<Behaviour>(6).fill('http503');
    const { c, waits } = client();
    const request = { idempotencyKey: '01234567890_aaaaaaaaaa', paymentToken: 'tok0001', outcome: 'KO' as const };
    await expect(c.sendOutcome(request)).resolves.toEqual({ ok: true, value: {} });
    expect(seen).toHaveLength(7);
    expect(waits).toHaveLength(6);
  });

  it('... but not past its deadline (the token expiry): then NODE_TIMEOUT', async () => {
    plan = Array<Behaviour>(100).fill('http503');
    const { c, waits } = client();
    const request = { idempotencyKey: '01234567890_aaaaaaaaaa', paymentToken: 'tok0001', outcome: 'KO' as const };
    const deadline = Date.UTC(2026, 10, 30, 9, 0, 10); // 10 s after the client's clock
    const err = await c.sendOutcome(request, { deadline }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeTransportError);
    expect(waits.reduce((a, b) => a + b, 0)).toBeLessThan(10_000);
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.length).toBeLessThan(20);
  });
});

describe('PspClient: transport failures', () => {
  it('a node that does not answer in time: NODE_TIMEOUT after each attempt, then 91', async () => {
    plan = ['hang', 'hang'];
    const { c } = client({ timeoutMs: 150 }, { retry: { attempts: 2 } });
    const err = await c.verify(notice).catch((e: unknown) => e);
    expect((err as NodeTransportError).code).toBe('NODE_TIMEOUT');
    expect(seen).toHaveLength(2);
    expect(mapFault(err as NodeTransportError)).toMatchObject({ code: 'CREDITOR_UNAVAILABLE', iso: '91' });
  });

  it('HTTP 401 (the subscription key refused): a configuration error, not retried', async () => {
    plan = ['http401', 'http401', 'http401'];
    const { c, waits } = client();
    const err = await c.activate({ idempotencyKey: c.keyFor('T1', 'k'), ...notice, amountCents: 3050 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeTransportError);
    expect(err).toMatchObject({ code: 'NODE_CONFIGURATION', status: 401 });
    expect((err as Error).message).toMatch(/TSERVE_PAGOPA_SUBSCRIPTION_KEY/);
    expect((err as Error).message).not.toContain('sub-key-123');
    expect(seen).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(faultError(err as NodeTransportError)).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('HTTP 404 (a wrong URL): a configuration error too', async () => {
    plan = ['http404'];
    const { c } = client();
    await expect(c.verify(notice)).rejects.toMatchObject({ code: 'NODE_CONFIGURATION', status: 404 });
    expect(seen).toHaveLength(1);
  });

  it('an answer that is not SOAP: NODE_BAD_ANSWER (96), not retried', async () => {
    plan = ['garbage'];
    const { c } = client();
    await expect(c.verify(notice)).rejects.toMatchObject({ code: 'NODE_BAD_ANSWER' });
    expect(seen).toHaveLength(1);
  });

  it('nobody listening: NODE_UNREACHABLE after the attempts', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { c, waits } = client({ nodeUrl: `http://127.0.0.1:${port}/` });
    await expect(c.verify(notice)).rejects.toMatchObject({ code: 'NODE_UNREACHABLE' });
    expect(waits).toHaveLength(2);
  });
});
