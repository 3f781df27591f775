// `tserve watch`: the live stream in a terminal, for an operator. Reconnects and
// resumes from the last sequence seen when the server asks it to (slow consumer,
// shutdown, expired token) or the connection drops.
import http from 'node:http';
import https from 'node:https';
import { WebSocket } from 'ws';
import { maskFiscalCode } from '../domain/fiscal-code.js';
import { formatEuro } from '../domain/money.js';
import { CLOSE } from './server.js';

export interface WatchOptions {
  url: string; // http(s)://host:port
  login: () => Promise<string>; // returns a fresh bearer token
  after?: number;
  filters: Record<string, string | undefined>;
  json: boolean;
  out?: (line: string) => void;
  /** The CA (PEM) that signed the switch's certificate, for https:// URLs; default: the system's CAs. Checks are never off. */
  ca?: Buffer;
}

/**
 * POSTs JSON and reads the JSON answer (a login): node's http(s) rather than fetch, so
 * that the switch's certificate can be checked against a CA of its own (--ca).
 */
export function postJson(url: string, body: unknown, ca?: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  const data = JSON.stringify(body);
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      target,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }, ...(ca ? { ca } : {}) },
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

const RESUMABLE = new Set<number>([CLOSE.SLOW_CONSUMER.code, CLOSE.GOING_AWAY.code, CLOSE.TOKEN_EXPIRED.code, 1006]);

export async function watch(opts: WatchOptions): Promise<number> {
  const out = opts.out ?? ((l: string) => console.log(l));
  let cursor = opts.after;
  // Failed attempts in a row: the back-off grows with them, and starts over once a
  // connection has been made (else, after a few token expiries, every resume waited 8 s).
  let failures = 0;
  for (;;) {
    const token = await opts.login();
    const q = new URLSearchParams();
    if (cursor !== undefined) q.set('after', String(cursor));
    for (const [k, v] of Object.entries(opts.filters)) if (v) q.set(k, v);
    const wsUrl = `${opts.url.replace(/^http/, 'ws')}/v1/stream?${q}`;
    let opened = false;
    const code = await new Promise<number>((resolve) => {
      const ws = new WebSocket(wsUrl, ['tserve.v1'], { headers: { authorization: `Bearer ${token}` }, ...(opts.ca ? { ca: opts.ca } : {}) });
      ws.on('open', () => (opened = true));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          console.error(`tserve watch: refused (${res.statusCode}): ${body}`);
          resolve(-1);
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
    if (code === -1 || code === CLOSE.CURSOR_GONE.code || !RESUMABLE.has(code)) return code === 1000 ? 0 : 1;
    // Back off a little before resuming, more after repeated failures to connect.
    failures = opened ? 0 : failures + 1;
    await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** Math.min(failures, 5))));
  }
}
