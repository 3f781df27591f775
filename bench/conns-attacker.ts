// The attacker of the bench's `conns` phase (issue 12, finding 1): opens silent TCP
// connections to a port, spread over loopback addresses 127.0.0.<first>..., holds them,
// and opens a new one for each the server closes (at a bounded rate), until --seconds
// have passed; then closes all and prints what happened as JSON on stdout.
//
//   node --import tsx bench/conns-attacker.ts --port P --count N [--first-address 10]
//     [--addresses 40] [--concurrency 256] [--reopen-rate 200] [--seconds 20]
import net from 'node:net';
import { arg } from './lib/args.js';

const port = Number(arg('port'));
const count = Number(arg('count') ?? 1000);
const firstAddress = Number(arg('first-address') ?? 10);
const addresses = Number(arg('addresses') ?? 40);
const concurrency = Number(arg('concurrency') ?? 256);
/** New connections per second to replace those the server closed. */
const reopenRate = Number(arg('reopen-rate') ?? 200);
const seconds = Number(arg('seconds') ?? 20);
if (!port || firstAddress + addresses > 255) throw new Error('--port P, and --first-address + --addresses within 127.0.0.1-254');

const stats = {
  attempts: 0,
  connected: 0,
  connectErrors: 0,
  /** Closed by the server within 100 ms of connecting: refused by a cap. */
  closedAtOnce: 0,
  /** Closed by the server later: pushed out for a newer one, or the sign-on timeout. */
  closedLater: 0,
  peakOpen: 0,
  openAtEnd: 0,
  firstPassMs: 0,
};
const open = new Set<net.Socket>();
let stopping = false;
let nextAddress = 0;
let replacements = 0;

function connectOne(): Promise<void> {
  stats.attempts++;
  const localAddress = `127.0.0.${firstAddress + (nextAddress++ % addresses)}`;
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    let connectedAt = 0;
    s.on('error', () => undefined);
    s.once('connect', () => {
      connectedAt = performance.now();
      stats.connected++;
      open.add(s);
      stats.peakOpen = Math.max(stats.peakOpen, open.size);
      resolve();
    });
    s.once('close', () => {
      if (!connectedAt) {
        stats.connectErrors++;
        resolve();
        return;
      }
      open.delete(s);
      if (stopping) return;
      if (performance.now() - connectedAt < 100) stats.closedAtOnce++;
      else stats.closedLater++;
      replacements++;
    });
  });
}

const started = performance.now();
const deadline = started + seconds * 1000;
// First pass: `count` connections, `concurrency` connecting at a time.
let issued = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (issued < count && performance.now() < deadline) {
      issued++;
      await connectOne();
    }
  }),
);
stats.firstPassMs = Math.round(performance.now() - started);
// Then: replace what the server closes, at most reopenRate per second.
while (performance.now() < deadline) {
  const tick = performance.now();
  const n = Math.min(replacements, Math.ceil(reopenRate / 10));
  replacements -= n;
  await Promise.all(Array.from({ length: n }, () => connectOne()));
  const wait = 100 - (performance.now() - tick);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
stopping = true;
stats.openAtEnd = open.size;
for (const s of open) s.destroy();
process.stdout.write(JSON.stringify(stats) + '\n');
