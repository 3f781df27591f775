// Issue #4, refusals and the ends of a stream, over real connections:
//  - bad, missing and expired tokens, malformed query parameters, an `after` beyond
//    the last event, another path: a clear HTTP refusal on upgrade (4xx,
//    application/problem+json), and the server keeps serving;
//  - a cursor older than the retained events: close 4410;
//  - per-principal connection limit: 429 on upgrade;
//  - a token that expires while streaming: close 4401, and a resume with a new token;
//  - a connection that stops answering pings is dropped.
// The switch is started, books 6 payments, is stopped; the first 3 events are
// backdated beyond the retention in its store (SQLite file or PostgreSQL database), and
// at restart the server prunes them.
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb } from '../helpers/store.js';
import {
  connect,
  dbEvents,
  maxSeq,
  payCertificate,
  refusal,
  sign,
  startSwitch,
  subscribe,
  terminalToken,
  terminalsOfDistinctCounters,
  userToken,
  type Client,
  type Refusal,
  type Switch,
} from './support.js';

const LIMIT = 3;
let sw: Switch;
let payer: string;
const clients: Client[] = [];

beforeAll(async () => {
  sw = await startSwitch({ TSERVE_STREAM_MAX_PER_PRINCIPAL: String(LIMIT), TSERVE_EVENT_RETENTION_DAYS: '30' });
  payer = terminalToken(sw, terminalsOfDistinctCounters(sw, 1)[0]!.terminalId);
  for (let i = 0; i < 6; i++) await payCertificate(sw, payer);
  await sw.stop();
  const db = await openTestDb(sw.dir);
  await db.run('UPDATE events SET at = at - ? WHERE seq <= 3', 60 * 86_400_000);
  await db.close();
  await sw.restart({ TSERVE_STREAM_HEARTBEAT_SECONDS: '1' });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sw?.close();
});

function track(c: Client): Client {
  clients.push(c);
  return c;
}

function expectProblem(r: Refusal, status: number, code: string, detail?: RegExp): void {
  const ctx = JSON.stringify(r);
  expect(r.status, ctx).toBe(status);
  expect(r.contentType, ctx).toMatch(/^application\/problem\+json/);
  expect(r.body.code, ctx).toBe(code);
  expect(r.body.status, ctx).toBe(status);
  expect(r.body.type, ctx).toBe(`urn:tserve:error:${code}`);
  expect(typeof r.body.title, ctx).toBe('string');
  expect(typeof r.body.detail, ctx).toBe('string');
  if (detail) expect(r.body.detail, ctx).toMatch(detail);
}

describe('refused on upgrade', () => {
  it('without a token: 401', async () => {
    expectProblem(await refusal(sw, { token: null }), 401, 'UNAUTHORIZED', /Bearer/);
    // A subprotocol list without bearer.<token> is no token either.
    expectProblem(await refusal(sw, { token: null, protocols: ['tserve.v1'] }), 401, 'UNAUTHORIZED');
    // Nor is another scheme.
    expectProblem(await refusal(sw, { token: null, headers: { authorization: `Basic ${Buffer.from('finance:x').toString('base64')}` } }), 401, 'UNAUTHORIZED');
  });

  it('with a bad token: 401', async () => {
    const other = Buffer.alloc(32, 7);
    const bad = [
      'not-a-jwt',
      `${userToken(sw, 'finance')}x`, // signature broken
      jwt.sign({ role: 'finance' }, other, { algorithm: 'HS256', issuer: 'tserve', subject: 'finance', expiresIn: 900 }), // another key
      sign(sw, { role: 'finance' }, 'finance', { issuer: 'someone-else' }),
      sign(sw, { role: 'root' }, 'finance'), // no such role
      sign(sw, { role: 'entity' }, 'ente-pisa'), // an entity without its entity
      // alg none
      `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
        JSON.stringify({ role: 'finance', sub: 'finance', iss: 'tserve', exp: Math.floor(Date.now() / 1000) + 900 }),
      ).toString('base64url')}.`,
    ];
    for (const token of bad) expectProblem(await refusal(sw, { token }), 401, 'UNAUTHORIZED', /not valid/);
    // The same, as a browser sends it.
    expectProblem(await refusal(sw, { token: null, protocols: ['tserve.v1', 'bearer.not-a-jwt'] }), 401, 'UNAUTHORIZED', /not valid/);
  });

  it('with an expired token: 401 that says so', async () => {
    const expired = userToken(sw, 'finance', { expiresIn: -10 });
    expectProblem(await refusal(sw, { token: expired }), 401, 'UNAUTHORIZED', /expired/);
  });

  it('with malformed or unknown query parameters: 400', async () => {
    const token = userToken(sw, 'finance');
    const cases: [string, RegExp][] = [
      ['after=abc', /after/],
      ['after=-1', /after/],
      ['after=1.5', /after/],
      ['after=', /after/],
      ['after=1234567890123456', /after/],
      ['type=unknown', /type/],
      ['type=payment.booked,nope', /type/],
      ['scope=everything', /scope/],
      ['foo=1', /foo|unrecognized|Unrecognized/i],
      ['service=TARI&bogus=', /bogus|unrecognized|Unrecognized/i],
      // An empty list would match nothing, silently.
      ['service=', /service: give at least one value/],
      ['entity=,', /entity: give at least one value/],
      ['type=', /type/],
      // A repeated parameter would silently count once.
      ['service=TARI&service=TARIPISA', /service: given more than once/],
      ['after=1&after=2', /after: given more than once/],
    ];
    for (const [query, detail] of cases) expectProblem(await refusal(sw, { token, query }), 400, 'FORMAT', detail);
  });

  it('with `after` beyond the last event: 400', async () => {
    const token = userToken(sw, 'finance');
    const last = await maxSeq(sw);
    expectProblem(await refusal(sw, { token, query: { after: String(last + 1) } }), 400, 'FORMAT', /beyond the last event/);
    expectProblem(await refusal(sw, { token, query: { after: '999999999' } }), 400, 'FORMAT', /beyond the last event/);
  });

  it('on another path: 404', async () => {
    const token = userToken(sw, 'finance');
    const c = track(connect({ ...sw, wsUrl: sw.wsUrl.replace('/v1/stream', '/v1/streams') }, { token }));
    await expect(c.opened).rejects.toThrow(/404/);
    expectProblem(await c.refused, 404, 'NOT_FOUND');
  });

  it('and the server keeps serving: a new subscriber gets a new payment, HTTP still answers', async () => {
    const before = sw.server.stream.subscriberCount;
    const c = track(await subscribe(sw, { token: userToken(sw, 'finance') }));
    expect(sw.server.stream.subscriberCount).toBe(before + 1);
    const r = await payCertificate(sw, payer);
    await c.until((ev) => ev.some((e) => e.data.paymentId === r.paymentId), 'the payment');
    const health = await fetch(`${sw.url}/healthz`);
    expect(health.status).toBe(200);
    await c.close();
  });
});

describe('a cursor older than the retained events', () => {
  it('the server pruned the backdated events at start', async () => {
    const seqs = (await dbEvents(sw)).map((e) => e.seq);
    expect(seqs.slice(0, 3)).toEqual([4, 5, 6]);
  });

  it('is closed with 4410 (after=0, 1, 2: events 1–3 are gone)', async () => {
    for (const after of ['0', '1', '2']) {
      const c = track(connect(sw, { token: userToken(sw, 'finance'), query: { after } }));
      await c.opened;
      const closed = await c.closed;
      expect(closed.code).toBe(4410);
      expect(closed.reason).toMatch(/cursor/);
      expect(c.events).toEqual([]);
    }
  });

  it('just inside the retention (after=3) replays from the oldest kept event', async () => {
    const c = track(connect(sw, { token: userToken(sw, 'finance'), query: { after: '3' } }));
    await c.opened;
    const live = await c.live;
    expect(c.events.map((e) => e.seq)).toEqual((await dbEvents(sw, 3)).map((e) => e.seq));
    expect(c.events[0]!.seq).toBe(4);
    expect(live).toBe(await maxSeq(sw));
    await c.close();
  });
});

describe('per-principal connection limit', () => {
  it(`allows ${LIMIT} streams per principal; one more is refused with 429; a freed slot can be reused`, async () => {
    const prato = () => userToken(sw, 'ente-prato');
    const open: Client[] = [];
    for (let i = 0; i < LIMIT; i++) open.push(track(await subscribe(sw, { token: prato() })));
    // Another token of the same user counts against the same principal.
    expectProblem(await refusal(sw, { token: prato() }), 429, 'RATE_LIMITED', new RegExp(`at most ${LIMIT}`));
    // Other principals are not affected.
    const pisa = track(await subscribe(sw, { token: userToken(sw, 'ente-pisa') }));
    await pisa.close();
    // Closing one frees its slot.
    await open[0]!.close();
    open[0] = track(await subscribe(sw, { token: prato() }));
    expectProblem(await refusal(sw, { token: prato() }), 429, 'RATE_LIMITED');
    await Promise.all(open.map((c) => c.close()));
  });

  it('holds when many connections of one principal arrive at once', async () => {
    const tries = Array.from({ length: LIMIT + 4 }, () => track(connect(sw, { token: userToken(sw, 'ente-livorno') })));
    const outcomes = await Promise.all(tries.map((c) => c.opened.then(() => 'open', () => 'refused')));
    expect(outcomes.filter((o) => o === 'open')).toHaveLength(LIMIT);
    for (const [i, c] of tries.entries()) if (outcomes[i] === 'refused') expect((await c.refused).status).toBe(429);
    await Promise.all(tries.map((c) => c.close()));
  });

  it('counts a terminal by terminal, whichever token it uses', async () => {
    const t = terminalsOfDistinctCounters(sw, 1, 5)[0]!.terminalId;
    const open: Client[] = [];
    for (let i = 0; i < LIMIT; i++) open.push(track(await subscribe(sw, { token: terminalToken(sw, t), query: { scope: i % 2 ? 'counter' : 'terminal' } })));
    expectProblem(await refusal(sw, { token: terminalToken(sw, t) }), 429, 'RATE_LIMITED');
    await Promise.all(open.map((c) => c.close()));
  });
});

describe('the end of a stream', () => {
  it('a token that expires while streaming closes it with 4401; a new token resumes from the last seq', async () => {
    // jsonwebtoken's exp is in whole seconds: this token expires in 2–3 s.
    const short = userToken(sw, 'finance', { expiresIn: 3 });
    const c = track(await subscribe(sw, { token: short }));
    const closed = await c.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/token expired/);
    // Booked while it was away.
    const r = await payCertificate(sw, payer);
    const cursor = c.lastSeq() ?? (await c.live);
    const again = track(connect(sw, { token: userToken(sw, 'finance'), query: { after: String(cursor) } }));
    await again.opened;
    await again.live;
    expect(again.events.map((e) => e.data.paymentId)).toContain(r.paymentId);
    expect(again.events.map((e) => e.seq)).toEqual((await dbEvents(sw, cursor)).map((e) => e.seq));
  }, 30_000);

  it('a connection that stops answering pings is dropped', async () => {
    const c = track(await subscribe(sw, { token: userToken(sw, 'ente-pistoia') }));
    const before = sw.server.stream.subscriberCount;
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    // The heartbeat (1 s here) pings; with no pong by the next beat the server terminates it.
    await expect.poll(() => sw.server.stream.subscriberCount, { timeout: 20_000, interval: 100 }).toBe(before - 1);
    (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await c.closed;
    expect(closed.code).toBe(1006); // no close frame: the connection was cut
  }, 30_000);
});
