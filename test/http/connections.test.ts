// Issue 12, finding 1, at the HTTP(S) listener (the WebSocket stream rides on it), with
// its caps set low enough to bite: per address (clients bound to 127.0.0.2, ...; 127.0.0.1
// is exempt by default), in all
// (the oldest idle connection makes room; a stream or a request in flight is never
// pushed out), and a connection that never sends a request is closed.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedEvent, connectFrom, flood, loopbackAddresses, until, type Flood } from '../helpers/flood.js';
import { connect, startSwitch, userToken, type Switch } from '../stream/support.js';

const TOTAL = 20;
const PER_ADDRESS = 5;

let sw: Switch;
const floods: Flood[] = [];

beforeAll(async () => {
  sw = await startSwitch({ TSERVE_HTTP_MAX_CONNECTIONS: String(TOTAL), TSERVE_HTTP_MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS) });
});

afterAll(async () => {
  for (const f of floods) f.destroy();
  await sw.close();
});

const port = () => Number(new URL(sw.url).port);
const stats = () => sw.server.connectionStats().http;

/** GET on a new connection from `localAddress`, closed after the answer. */
function get(urlPath: string, localAddress: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: port(), path: urlPath, localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
  });
}

const healthz = async (localAddress: string) => (await get('/healthz', localAddress)).status;

describe('HTTP connection caps', () => {
  it('refuses connections past the cap of one address, and serves another address', async () => {
    const before = stats();
    const mine = await flood(port(), PER_ADDRESS, ['127.0.0.3']);
    floods.push(mine);
    // The sixth from 127.0.0.3 is destroyed at once, unread and unanswered...
    await closedEvent(await connectFrom(port(), '127.0.0.3'));
    expect(mine.closed()).toBe(0);
    // ...while 127.0.0.2 is served.
    expect(await healthz('127.0.0.2')).toBe(200);
    expect(stats().refused.per_address).toBe(before.refused.per_address + 1);
    // And /metrics says so.
    const metrics = (await get('/metrics', '127.0.0.1')).body;
    expect(metrics).toContain(`tserve_connections_refused_total{listener="http",cap="per_address"} ${before.refused.per_address + 1}`);
    expect(metrics).toMatch(/^tserve_connections_open\{listener="iso"\} \d+$/m);
    expect(metrics).toMatch(/^tserve_connections_timed_out_total\{listener="iso"\} \d+$/m);
    mine.destroy();
    await until(() => stats().open === 0, 'the connections closed');
  });

  it('caps no loopback 127.0.0.1 per address by default (a local proxy, the simulator), only in all', async () => {
    const before = stats();
    const local = await flood(port(), PER_ADDRESS + 3, ['127.0.0.1']);
    floods.push(local);
    await until(() => stats().open === PER_ADDRESS + 3, 'all eight taken in');
    expect(local.closed()).toBe(0);
    expect(stats().refused).toEqual(before.refused);
    local.destroy();
    await until(() => stats().open === 0, 'the connections closed');
  });

  it('keeps a WebSocket stream and serves new requests while idle connections from many addresses fill the port', async () => {
    const stream = connect(sw, { token: userToken(sw, 'finance') });
    await stream.opened;
    // 8 addresses x 5 = 40 silent connections, twice the total: the oldest idle ones make room.
    const junk = await flood(port(), 8 * PER_ADDRESS, loopbackAddresses(8, 10), 10);
    floods.push(junk);
    expect(await healthz('127.0.0.30')).toBe(200);
    expect(await healthz('127.0.0.31')).toBe(200);
    expect(junk.closed()).toBeGreaterThanOrEqual(8 * PER_ADDRESS - TOTAL);
    expect(stats().open).toBeLessThanOrEqual(TOTAL);
    // The stream was never pushed out: it still answers a ping.
    await stream.barrier();
    await stream.close();
    junk.destroy();
  });
});

describe('HTTP first request', () => {
  it('closes a connection that sends no request in time', async () => {
    const short = await startSwitch({ TSERVE_HTTP_FIRST_REQUEST_TIMEOUT_SECONDS: '0.3' });
    try {
      const silent = await connectFrom(Number(new URL(short.url).port), '127.0.0.1');
      await closedEvent(silent);
      // A connection that asks in time is served, and kept alive between requests.
      const res = await fetch(`${short.url}/healthz`);
      expect(res.status).toBe(200);
    } finally {
      await short.close();
    }
  });
});
