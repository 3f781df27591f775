// /metrics (issue 13): what operators expect is there, labelled by route pattern, MTI
// and response code; a caller from another host scrapes with the bearer token of
// TSERVE_METRICS_TOKEN (constant-time compared), and is refused without it. A started
// switch over real HTTP and a real ISO 8583 terminal over TCP; the host's non-loopback
// address plays the other host.
import '../stream/quiet.js';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerMatches, metricsHandler } from '../../src/http/metrics.js';
import { Metrics } from '../../src/metrics.js';
import { VALID_CF, isoTerminal, payCertificate, startSwitch, terminalLogin, terminalsOfDistinctCounters, type Switch } from '../stream/support.js';

const TOKEN = 'metrics-token-0123456789abcdef0123456789abcdef';

/** This host's first non-loopback IPv4 address, or undefined where it has none. */
const otherAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

/** Samples of an exposition: `name{labels}` (labels sorted) → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '').match(/\w+="(?:[^"\\]|\\.)*"/g) ?? [];
    out.set(`${m[1]}{${labels.sort().join(',')}}`, Number(m[3]));
  }
  return out;
}

let sw: Switch;

beforeAll(async () => {
  sw = await startSwitch({ TSERVE_HTTP_HOST: '0.0.0.0', TSERVE_METRICS_TOKEN: TOKEN, TSERVE_SEED_POSITIONS: '200' });
});

afterAll(async () => {
  await sw?.close();
});

const scrape = async (base = sw.url, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}/metrics`, { headers });
  return { status: res.status, text: await res.text() };
};

describe('/metrics', () => {
  it('counts ISO 8583 exchanges by MTI and code, HTTP requests by route pattern, login failures; the disk and settlement gauges', async () => {
    const [iso, json] = terminalsOfDistinctCounters(sw, 2);
    const t = await isoTerminal(sw, iso!.terminalId);
    expect((await t.signOn()).code).toBe('00');
    expect((await t.pay({ service: 'CERTIFICATI', identifier: VALID_CF }, 100)).response.code).toBe('00');
    t.destroy();
    const token = await terminalLogin(sw, json!.terminalId);
    const receipt = await payCertificate(sw, token);
    const id = String(receipt.paymentId ?? receipt.id);
    expect((await fetch(`${sw.url}/v1/payments/${id}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const wrong = await fetch(`${sw.url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'nobody-here', password: 'not-the-password' }) });
    expect(wrong.status).toBe(401);

    const { status, text } = await scrape();
    expect(status).toBe(200);
    const s = samples(text);
    expect(s.get('tserve_iso_request_duration_seconds_count{code="00",mti="0800"}')).toBe(1);
    expect(s.get('tserve_iso_request_duration_seconds_count{code="00",mti="0200"}')).toBe(1);
    expect(s.get('tserve_http_request_duration_seconds_count{method="POST",route="/v1/payments",status="201"}')).toBe(1);
    expect(s.get('tserve_http_request_duration_seconds_count{method="GET",route="/v1/payments/:id",status="200"}')).toBe(1);
    expect(s.get('tserve_login_failures_total{kind="user",reason="bad_credentials"}')).toBe(1);
    expect(s.get('tserve_login_failures_total{kind="terminal",reason="bad_credentials"}')).toBe(0);
    expect(s.get('tserve_payments_total{channel="iso8583",result="approved"}')).toBe(1);
    expect(s.get('tserve_settlement_runs_total{outcome="failed"}')).toBe(0);
    expect(s.get('tserve_data_dir_free_bytes{}')).toBeGreaterThan(0);
    expect(s.get('tserve_data_dir_size_bytes{}')).toBeGreaterThanOrEqual(s.get('tserve_data_dir_free_bytes{}')!);
    expect(s.has('tserve_settlement_windows_due{}')).toBe(true);
    // Route patterns, never URLs: no payment id in any label.
    expect(text).not.toContain(id);
  });

  it('from another host: with the bearer token 200, without it or with another 401', async ({ skip }) => {
    if (!otherAddress) return skip('this host has no non-loopback IPv4 address');
    const base = `http://${otherAddress}:${sw.server.port}`;
    expect((await scrape(base)).status).toBe(401);
    expect((await scrape(base, { authorization: `Bearer ${TOKEN}x` })).status).toBe(401);
    expect((await scrape(base, { authorization: `Basic ${TOKEN}` })).status).toBe(401);
    const ok = await scrape(base, { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('tserve_payments_total');
    // /readyz keeps telling the other host the verdict only.
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'ready', alarmCount: 0 });
  });

  it('from another host without a token configured: 403, as before', async ({ skip }) => {
    if (!otherAddress) return skip('this host has no non-loopback IPv4 address');
    const app = express();
    app.get('/metrics', metricsHandler(new Metrics({ queueDepth: () => 0, isoConnections: () => 0, streamSubscribers: () => 0 }), false, null));
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      expect((await fetch(`http://${otherAddress}:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(403);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    } finally {
      server.close();
    }
  });
});

describe('bearerMatches', () => {
  it('takes exactly the token, as a Bearer credential', () => {
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN)).toBe(false);
    expect(bearerMatches(`Bearer ${TOKEN} extra`, TOKEN)).toBe(false);
    expect(bearerMatches(TOKEN, TOKEN)).toBe(false);
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
  });
});
