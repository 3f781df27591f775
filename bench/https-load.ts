// JSON-over-HTTPS load: N workers, each a terminal with its own token, paying a
// fixed-tariff service (CERTIFICATI, identifier a valid codice fiscale, amount 100)
// with a unique Idempotency-Key per request, over a keep-alive agent. Closed loop: a
// worker sends its next payment when the previous answer came.
//
//   node --import tsx bench/https-load.ts --url https://127.0.0.1:PORT --ca cert.pem \
//     --credentials <dataDir>/demo-credentials.json [--workers 64] [--seconds 20] [--warmup 2]
//
// Loopback only; bounded (no request starts after the duration; each has a timeout).
// Prints one JSON object on stdout.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { build } from 'hdr-histogram-js';
import { randomCodiceFiscale } from '../terminals/simulator/common.js';
import { arg } from './lib/args.js';
import { rng } from './lib/rows.js';

const url = new URL(arg('url') ?? 'https://127.0.0.1:8080');
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw new Error(`loopback only, not ${url.hostname}`);
const workers = Number(arg('workers') ?? 64);
const seconds = Number(arg('seconds') ?? 20);
const warmup = Number(arg('warmup') ?? 2);
const timeoutMs = 10_000;
const creds = (JSON.parse(readFileSync(arg('credentials')!, 'utf8')) as { terminals: { terminalId: string; apiSecret: string }[] }).terminals;
if (creds.length < workers) throw new Error(`${workers} workers but only ${creds.length} terminals`);

const tls = url.protocol === 'https:';
const ca = arg('ca') ? readFileSync(arg('ca')!) : undefined;
const agent = tls
  ? new https.Agent({ keepAlive: true, maxSockets: workers, ca, servername: 'localhost' })
  : new http.Agent({ keepAlive: true, maxSockets: workers });

function request(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

// Tokens, a few at a time (each costs the server a scrypt verification).
const tokens: string[] = [];
for (let i = 0; i < workers; i += 8) {
  const batch = creds.slice(i, Math.min(workers, i + 8));
  const got = await Promise.all(
    batch.map(async (c) => {
      const r = await request('POST', '/v1/auth/token', { terminalId: c.terminalId, secret: c.apiSecret }, {});
      if (r.status !== 200) throw new Error(`token for ${c.terminalId}: ${r.status} ${r.body}`);
      return (JSON.parse(r.body) as { token: string }).token;
    }),
  );
  tokens.push(...got);
}

const random = rng(5000);
const fiscalCodes = Array.from({ length: 4096 }, () => randomCodiceFiscale(random));
const runId = Date.now().toString(36);
const histogram = build({ bitBucketSize: 32, numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, autoResize: true });
const byStatus = new Map<string, number>();
let ok = 0;
let errors = 0;
const examples: string[] = [];
let recording = false;
let firstAt = 0;
let lastAt = 0;

async function worker(w: number, until: number): Promise<void> {
  const headers = { authorization: `Bearer ${tokens[w]!}` };
  for (let i = 0; performance.now() < until; i++) {
    const started = performance.now();
    try {
      const r = await request(
        'POST',
        '/v1/payments',
        { service: 'CERTIFICATI', identifier: fiscalCodes[(w * 131 + i) % fiscalCodes.length], amount: 100 },
        { ...headers, 'idempotency-key': `bench-${runId}-${w}-${i}` },
      );
      const now = performance.now();
      if (!recording) continue;
      histogram.recordValue(Math.max(1, Math.round((now - started) * 1000)));
      byStatus.set(String(r.status), (byStatus.get(String(r.status)) ?? 0) + 1);
      if (r.status === 201) ok++;
      else if (examples.length < 5) examples.push(`${r.status} ${r.body.slice(0, 200)}`);
      lastAt = now;
    } catch (err) {
      if (!recording) continue;
      errors++;
      if (examples.length < 5) examples.push(String(err));
    }
  }
}

// Warm-up (connections, TLS handshakes, JIT), not recorded; then the measurement.
const w0 = performance.now() + warmup * 1000;
await Promise.all(Array.from({ length: workers }, (_, w) => worker(w, w0)));
recording = true;
process.stderr.write('MEASURING\n');
firstAt = performance.now();
await Promise.all(Array.from({ length: workers }, (_, w) => worker(w, firstAt + seconds * 1000)));
agent.destroy();
const elapsed = ((lastAt || performance.now()) - firstAt) / 1000;
const ms = (us: number) => Math.round(us) / 1000;
console.log(
  JSON.stringify({
    workers,
    tls,
    seconds: Math.round(elapsed * 1000) / 1000,
    payments: ok,
    paymentsPerSecond: Math.round(ok / elapsed),
    byStatus: Object.fromEntries(byStatus),
    errors,
    examples,
    latencyMs: {
      p50: ms(histogram.getValueAtPercentile(50)),
      p99: ms(histogram.getValueAtPercentile(99)),
      p999: ms(histogram.getValueAtPercentile(99.9)),
      max: ms(histogram.maxValue),
      mean: ms(histogram.mean),
    },
  }),
);
