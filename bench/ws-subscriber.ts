// A finance subscriber on /v1/stream: logs in, subscribes to payment.booked, and
// measures commit-to-client latency: receive time (performance.timeOrigin +
// performance.now(), this process) minus the event's committedAt (the server's, taken
// when the commit returned). Writes "READY" on stderr once subscribed.
//
//   node --import tsx bench/ws-subscriber.ts --url http://127.0.0.1:PORT --password <finance> [--seconds 60]
//
// Ends by itself: at --seconds, or 3 s after the last event once events have come, or
// on SIGTERM; then prints one JSON object on stdout.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { build } from 'hdr-histogram-js';
import { WebSocket } from 'ws';
import { arg } from './lib/args.js';

const url = new URL(arg('url') ?? 'http://127.0.0.1:8080');
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw new Error(`loopback only, not ${url.hostname}`);
const limit = Number(arg('seconds') ?? 60);

function login(): Promise<string> {
  const body = JSON.stringify({ username: 'finance', password: arg('password') ?? '' });
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: '/v1/auth/login', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(text) as { token: string }).token) : reject(new Error(`login: ${res.statusCode} ${text}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const token = await login();
const histogram = build({ bitBucketSize: 32, numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, autoResize: true });
let events = 0;
let withoutCommittedAt = 0;
let negative = 0;
let first = 0;
let lastAt = 0;
let closeInfo = '';
/** --samples <file>: every event's receive time, committedAt and latency (µs), for a closer look. */
const samples: string[] | null = arg('samples') ? [] : null;

const ws = new WebSocket(`ws://${url.host}/v1/stream?type=payment.booked`, { headers: { authorization: `Bearer ${token}` } });
ws.on('open', () => process.stderr.write('READY\n'));
ws.on('message', (data) => {
  const now = performance.timeOrigin + performance.now();
  const m = JSON.parse(String(data)) as { committedAt?: number; type?: string };
  if (m.type !== 'payment.booked') return;
  events++;
  if (!first) first = performance.now();
  lastAt = performance.now();
  if (m.committedAt === undefined) {
    withoutCommittedAt++;
    return;
  }
  const us = Math.round((now - m.committedAt) * 1000);
  if (samples) samples.push(`${Math.round(now)} ${m.committedAt.toFixed(3)} ${us}`);
  if (us < 0) negative++;
  histogram.recordValue(Math.max(1, us));
});
ws.on('close', (code, reason) => (closeInfo = `${code} ${String(reason)}`));
ws.on('error', (err) => (closeInfo = String(err)));

const started = performance.now();
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - started > limit * 1000 || (events > 0 && now - lastAt > 3000) || ws.readyState === WebSocket.CLOSED) {
      clearInterval(timer);
      resolve();
    }
  }, 100);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    resolve();
  });
});
ws.terminate();
if (samples) writeFileSync(arg('samples')!, samples.join('\n') + '\n');
const ms = (us: number) => Math.round(us) / 1000;
console.log(
  JSON.stringify({
    events,
    withoutCommittedAt,
    negative,
    seconds: first ? Math.round(lastAt - first) / 1000 : 0,
    close: closeInfo,
    latencyMs: {
      p50: ms(histogram.getValueAtPercentile(50)),
      p99: ms(histogram.getValueAtPercentile(99)),
      p999: ms(histogram.getValueAtPercentile(99.9)),
      max: ms(histogram.maxValue),
      mean: ms(histogram.mean),
    },
  }),
);
process.exit(0);
