// The container's health check (Dockerfile HEALTHCHECK: node dist/src/healthcheck.js):
// GET /healthz of the switch on this host, found from the configuration the switch runs
// with (port, TLS on or off), within a timeout. Exit 0 healthy, 1 not, with one line
// saying why (docker inspect shows it).
import http from 'node:http';
import https from 'node:https';
import { loadConfig } from './config.js';
import { localTrust, localUrl } from './net/local-switch.js';

/** Below the HEALTHCHECK's --timeout=3s, so that a hung switch is reported here, with a reason. */
const TIMEOUT_MS = 2500;

function check(): Promise<{ ok: boolean; detail: string }> {
  const config = loadConfig();
  const url = new URL('/healthz', localUrl(config.http));
  const trust = localTrust(config.http);
  return new Promise((resolve) => {
    const req = (trust ? https : http).get(url, { signal: AbortSignal.timeout(TIMEOUT_MS), agent: false, ...trust }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, detail: `${url.href}: ${res.statusCode}` }));
    });
    req.on('error', (err) => resolve({ ok: false, detail: `${url.href}: ${err.name === 'AbortError' ? `no answer within ${TIMEOUT_MS} ms` : err.message}` }));
  });
}

check().then(
  (r) => {
    console.log(r.detail);
    process.exit(r.ok ? 0 : 1);
  },
  (err: unknown) => {
    console.log(`health check: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
