// `tserve watch`: the live stream in a terminal, for an operator. Reconnects and
// resumes from the last sequence seen when the server asks it to (slow consumer,
// shutdown, expired token) or the connection drops, and while the switch is down or
// restarting it keeps trying (back-off up to 10 s, for `retryForMs`), so that a restart
// loses and repeats nothing.
import http from 'node:http';
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { WebSocket } from 'ws';
import { maskFiscalCode } from '../domain/fiscal-code.js';
import { formatEuro } from '../domain/money.js';
import { CLOSE } from './server.js';

export interface WatchOptions {
  url: string; // http(s)://host:port
  login: () => Promise<string>; // returns a fresh bearer token; throws SwitchUnavailable (or a connection error) to be retried
  after?: number;
  filters: Record<string, string | undefined>;
  json: boolean;
  out?: (line: string) => void;
  /** For https:// URLs: whom to trust (--ca, or the configured certificate: net/local-switch.ts); default the system's CAs. Checks are never off. */
  tls?: ConnectionOptions;
  /** How long to keep trying without a connection before giving up (exit 1); default 5 minutes. */
  retryForMs?: number;
  /** Ends watch (it returns 0): the embedding program (a test) is done with it. */
  signal?: AbortSignal;
}

/** The switch answered, but cannot serve now (starting, overloaded): try again later. */
export class SwitchUnavailable extends Error {
  readonly code = 'SWITCH_UNAVAILABLE';
}

/** What a switch that is down, restarting or briefly out of reach gives: worth another try. */
const TRANSIENT = new Set(['SWITCH_UNAVAILABLE', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const isTransient = (err: unknown) => TRANSIENT.has((err as { code?: string } | null)?.code ?? '');

/** Answers of an upgrade or a login that mean "not now" rather than "no". */
export const UNAVAILABLE_STATUS = new Set([429, 502, 503, 504]);

/**
 * POSTs JSON and reads the JSON answer (a login): node's http(s) rather than fetch, so
 * that the switch's certificate can be checked against a CA of its own (--ca).
 */
export function postJson(url: string, body: unknown, tls?: ConnectionOptions): Promise<{ status: number; body: Record<string, unknown> }> {
  const data = JSON.stringify(body);
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      target,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }, ...(tls ? { ...tls, agent: false } : {}) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: Record<string, unknown>;
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            parsed = { detail: text.slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

interface WireEvent {
  seq: number;
  type: string;
  at: string;
  data: Record<string, unknown>;
}

export function formatEvent(e: WireEvent): string {
  const d = e.data;
  const time = new Date(e.at).toLocaleTimeString('it-IT', { timeZone: 'Europe/Rome' });
  const money = typeof d.total === 'number' ? `EUR ${formatEuro(d.total).padStart(10)}` : ''.padStart(14);
  const who = [d.counterId, d.terminalId].filter(Boolean).join('/');
  // A screen is as public as a log: fiscal codes are shown masked.
  const identifier = typeof d.identifier === 'string' ? d.identifier.replace(/[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]/gi, maskFiscalCode) : undefined;
  const what = [d.service, identifier, d.receiptNumber ?? d.entityId].filter(Boolean).join(' ');
  return `${String(e.seq).padStart(8)}  ${time}  ${e.type.padEnd(18)} ${money}  ${String(who).padEnd(12)} ${what}`;
}

// 1001 shutdown, 1006 dropped (a crash, a network cut), 1012 service restart (a proxy in front).
const RESUMABLE = new Set<number>([CLOSE.SLOW_CONSUMER.code, CLOSE.GOING_AWAY.code, CLOSE.TOKEN_EXPIRED.code, 1006, 1012]);
/** A connection that could not be made because the switch is not available now (an upgrade answered 503...). */
const UNAVAILABLE = -2;

export async function watch(opts: WatchOptions): Promise<number> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const retryForMs = opts.retryForMs ?? 5 * 60_000;
  let cursor = opts.after;
  // Failed attempts in a row: the back-off grows with them, and starts over once a
  // connection has been made (else, after a few token expiries, every resume waited 8 s).
  let failures = 0;
  // Since when no connection could be made (elapsed time, not a business date: the wall's monotonic clock).
  let failingSince: number | null = null;
  /** Waits before the next attempt; false when it has tried for long enough. */
  const backOff = async (): Promise<boolean> => {
    if (failures > 0) {
      failingSince ??= performance.now();
      if (performance.now() - failingSince > retryForMs) {
        console.error(`-- giving up: no connection to ${opts.url} for ${Math.round(retryForMs / 1000)} s`);
        return false;
      }
    } else failingSince = null;
    const delay = Math.min(10_000, 250 * 2 ** Math.min(failures, 6));
    if (failures > 0) console.error(`-- reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${failures + 1}), resuming after seq ${cursor ?? 'none (live)'}`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((r) => (timer = setTimeout(r, delay))), stopped]);
    clearTimeout(timer);
    return true;
  };
  const stopped = new Promise<void>((r) => opts.signal?.addEventListener('abort', () => r(), { once: true }));
  for (;;) {
    if (opts.signal?.aborted) return 0;
    let token: string;
    try {
      token = await opts.login();
    } catch (err) {
      // Down or restarting: try again. A refusal (wrong password, disabled user) ends watch.
      if (!isTransient(err)) throw err;
      console.error(`-- switch unavailable: ${err instanceof Error ? err.message : String(err)}`);
      failures += 1;
      if (!(await backOff())) return 1;
      continue;
    }
    const q = new URLSearchParams();
    if (cursor !== undefined) q.set('after', String(cursor));
    for (const [k, v] of Object.entries(opts.filters)) if (v) q.set(k, v);
    const wsUrl = `${opts.url.replace(/^http/, 'ws')}/v1/stream?${q}`;
    let opened = false;
    const code = await new Promise<number>((resolve) => {
      const ws = new WebSocket(wsUrl, ['tserve.v1'], { headers: { authorization: `Bearer ${token}` }, ...opts.tls });
      ws.on('open', () => (opened = true));
      void stopped.then(() => ws.close(1000));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          const unavailable = UNAVAILABLE_STATUS.has(res.statusCode ?? 0);
          console.error(`tserve watch: ${unavailable ? 'not available now' : 'refused'} (${res.statusCode}): ${body}`);
          resolve(unavailable ? UNAVAILABLE : -1);
        });
      });
      ws.on('message', (raw) => {
        const msg = JSON.parse(raw.toString()) as WireEvent | { control: string; seq: number };
        if ('control' in msg) {
          // Everything up to here was sent or is not ours to see: resume from here, even
          // if no event comes before the connection drops (else: resumed with no cursor,
          // i.e. from "now", losing what was booked while disconnected).
          if (msg.control === 'live') cursor = msg.seq;
          if (!opts.json) console.error(`-- live from seq ${msg.seq}`);
          return;
        }
        cursor = msg.seq;
        out(opts.json ? JSON.stringify(msg) : formatEvent(msg));
      });
      ws.on('close', (c, reason) => {
        if (c !== 1000) console.error(`-- stream closed ${c} ${reason.toString()}`);
        resolve(c);
      });
      ws.on('error', (err) => console.error(`-- ${err.message}`));
    });
    if (opts.signal?.aborted) return 0;
    if (code !== UNAVAILABLE && (code === -1 || code === CLOSE.CURSOR_GONE.code || !RESUMABLE.has(code))) return code === 1000 ? 0 : 1;
    // Back off a little before resuming, more after repeated failures to connect.
    failures = opened ? 0 : failures + 1;
    if (!(await backOff())) return 1;
  }
}
