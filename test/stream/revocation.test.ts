// Issue 12 (finding 6): a blocked terminal, a suspended counter's terminals and a
// disabled user lose their open streams at once (close 4403, docs/stream.md) and cannot
// open new ones with tokens that are still valid; a disabled user cannot log in and its
// tokens are refused by the API. On PostgreSQL the streams close on every instance.
// Real listening switches, real WebSocket clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';
import { testClock } from '../helpers/clock.js';
import { storeEnv, TEST_STORE } from '../helpers/store.js';
import {
  connect,
  login,
  refusal,
  subscribe,
  startSwitch,
  terminalToken,
  terminalsOfDistinctCounters,
  twoTerminalsOfOneCounter,
  userToken,
  type Switch,
} from './support.js';

let sw: Switch;
let admin: string;
beforeAll(async () => {
  sw = await startSwitch();
  admin = await login(sw, 'admin');
});
afterAll(async () => {
  await sw?.close();
});

async function adminPost(path: string, base = sw.url): Promise<number> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
  await res.arrayBuffer();
  return res.status;
}

const REVOKED = 4403;

describe('revoked credentials close streams (4403) and refuse new ones', () => {
  it('a blocked terminal: its open stream closes with 4403; a reconnect with its valid token is refused; unblocked, it streams again', async () => {
    const [terminalId, bystander] = terminalsOfDistinctCounters(sw, 2, 3).map((t) => t.terminalId);
    const token = terminalToken(sw, terminalId!);
    const open = await subscribe(sw, { token });
    const other = await subscribe(sw, { token: terminalToken(sw, bystander!) });
    expect(await adminPost(`/v1/admin/terminals/${terminalId}/block`)).toBe(200);
    const closed = await open.closed;
    expect(closed.code).toBe(REVOKED);
    expect(open.events.map((e) => e.type)).toContain('terminal.blocked'); // told why, then closed
    const r = await refusal(sw, { token });
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('TERMINAL_BLOCKED');
    // Another counter's terminal keeps its stream.
    await other.barrier();
    expect(other.ws.readyState).toBe(other.ws.OPEN);
    await other.close();
    expect(await adminPost(`/v1/admin/terminals/${terminalId}/unblock`)).toBe(200);
    const again = await subscribe(sw, { token });
    await again.close();
  });

  it("a suspended counter: all its terminals' streams close with 4403 and reconnects are refused", async () => {
    const [counterId, t1, t2] = twoTerminalsOfOneCounter(sw);
    const a = await subscribe(sw, { token: terminalToken(sw, t1) });
    const b = await subscribe(sw, { token: terminalToken(sw, t2), query: { scope: 'counter' } });
    expect(await adminPost(`/v1/admin/counters/${counterId}/suspend`)).toBe(200);
    expect((await a.closed).code).toBe(REVOKED);
    expect((await b.closed).code).toBe(REVOKED);
    const r = await refusal(sw, { token: terminalToken(sw, t1) });
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('COUNTER_SUSPENDED');
    expect(await adminPost(`/v1/admin/counters/${counterId}/reactivate`)).toBe(200);
    await (await subscribe(sw, { token: terminalToken(sw, t2) })).close();
  });

  it('a disabled user: its stream closes with 4403, reconnect and API refused with its valid token, login refused; enabled again, all works', async () => {
    const finance = sw.credentials.users.find((u) => u.role === 'finance')!.username;
    const token = await login(sw, finance);
    const open = await subscribe(sw, { token });
    expect(await adminPost(`/v1/admin/users/${finance}/disable`)).toBe(200);
    expect((await open.closed).code).toBe(REVOKED);
    const r = await refusal(sw, { token: userToken(sw, finance) });
    expect(r.status).toBe(401);
    expect(String(r.body.detail)).toMatch(/revoked/);
    const api = await fetch(`${sw.url}/v1/settlements`, { headers: { authorization: `Bearer ${token}` } });
    expect(api.status).toBe(401);
    await expect(login(sw, finance)).rejects.toThrow(/403/);
    expect(await adminPost('/v1/admin/users/nobody-here/disable')).toBe(404);
    expect(await adminPost(`/v1/admin/users/${finance}/enable`)).toBe(200);
    await (await subscribe(sw, { token })).close();
    expect((await fetch(`${sw.url}/v1/settlements`, { headers: { authorization: `Bearer ${token}` } })).status).not.toBe(401);
  });

  it("a terminal's rotated API secret: its stream closes with 4403, the old token is refused, a token of the new secret streams", async () => {
    const terminalId = terminalsOfDistinctCounters(sw, 1, 11)[0]!.terminalId;
    const token = terminalToken(sw, terminalId);
    const open = await subscribe(sw, { token });
    const res = await fetch(`${sw.url}/v1/admin/terminals/${terminalId}/api-secret`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    const { apiSecret } = (await res.json()) as { apiSecret: string };
    expect((await open.closed).code).toBe(REVOKED);
    const r = await refusal(sw, { token });
    expect(r.status).toBe(401);
    expect(String(r.body.detail)).toMatch(/API secret/);
    const fresh = await fetch(`${sw.url}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ terminalId, secret: apiSecret }),
    });
    expect(fresh.status).toBe(200);
    const { token: newToken } = (await fresh.json()) as { token: string };
    await (await subscribe(sw, { token: newToken })).close();
  });
});

(TEST_STORE === 'postgres' ? describe : describe.skip)('several instances on PostgreSQL', () => {
  it('a terminal blocked through one instance loses its stream on the other', async () => {
    const second = await startServer(
      loadConfig({
        TSERVE_DATA_DIR: sw.dir,
        TSERVE_HTTP_PORT: '0',
        TSERVE_HTTP_HOST: '127.0.0.1',
        TSERVE_ISO_HOST: '127.0.0.1',
        TSERVE_ISO_PORT: '0',
        TSERVE_SETTLEMENT_SCHEDULE: 'false',
        TSERVE_AUTO_SEED: 'false',
        ...(await storeEnv(sw.dir)),
      }),
      { clock: testClock },
    );
    try {
      const terminalId = terminalsOfDistinctCounters(sw, 1, 7)[0]!.terminalId;
      const token = terminalToken(sw, terminalId!);
      const onSecond = connect({ ...sw, wsUrl: second.url.replace(/^http/, 'ws') + '/v1/stream' }, { token });
      await onSecond.opened;
      await onSecond.live;
      expect(await adminPost(`/v1/admin/terminals/${terminalId}/block`)).toBe(200);
      expect((await onSecond.closed).code).toBe(REVOKED);
      expect(await adminPost(`/v1/admin/terminals/${terminalId}/unblock`)).toBe(200);
    } finally {
      await second.close();
    }
  });
});
