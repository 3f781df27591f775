// Shared helpers for the stream tests: a real listening switch (startServer) on a
// temporary data directory, tokens signed with its key, payments over real HTTP,
// real `ws` clients that collect what they receive, and a view of the events table
// (on either store: openTestDb) to compare with.
import './quiet.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { DemoCredentials } from '../../src/bootstrap.js';
import { Payments } from '../../src/payments/service.js';
import type { Store } from '../../src/store/types.js';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import { testClock, testToday } from '../helpers/clock.js';
import { secretVersion } from '../../src/auth/secrets.js';
import { openTestDb, storeEnv, type TestDb } from '../helpers/store.js';

export const VALID_CF = 'RSSMRA85T10A562S';

export interface WireEvent {
  seq: number;
  type: string;
  at: string;
  data: Record<string, unknown>;
}

export interface Switch {
  dir: string;
  server: RunningServer;
  url: string;
  wsUrl: string;
  credentials: DemoCredentials;
  key: Buffer;
  /** Each terminal's API-secret fingerprint (`sv`), which its tokens must carry. */
  secretVersions: Map<string, string>;
  /** A connection on the switch's store (its SQLite file or PostgreSQL database), opened on first use; closed by stop(). */
  db(): Promise<TestDb>;
  stop(): Promise<void>;
  restart(env?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

function baseEnv(dir: string, env: Record<string, string>): Record<string, string> {
  return {
    TSERVE_DATA_DIR: dir,
    TSERVE_HTTP_PORT: '0',
    TSERVE_HTTP_HOST: '127.0.0.1',
    TSERVE_SEED_POSITIONS: '3000',
    TSERVE_RATE_LIMIT_PER_MINUTE: '1000000',
    TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: '1000000',
    TSERVE_STREAM_HEARTBEAT_SECONDS: '3600',
    // The ISO 8583 listener on a free loopback port; no nightly settlement run.
    TSERVE_ISO_HOST: '127.0.0.1',
    TSERVE_ISO_PORT: '0',
    TSERVE_SETTLEMENT_SCHEDULE: 'false',
    ...env,
  };
}

/** Starts a seeded switch on a fresh temporary directory. */
export async function startSwitch(env: Record<string, string> = {}): Promise<Switch> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-stream-'));
  // The same store at every (re)start: nothing for SQLite, the directory's own database on PostgreSQL.
  const store = await storeEnv(dir);
  let server: RunningServer | null = await startServer(loadConfig(baseEnv(dir, { ...store, ...env })), { clock: testClock });
  let db: Promise<TestDb> | null = null;
  const sw: Switch = {
    dir,
    server,
    url: server.url,
    wsUrl: server.url.replace(/^http/, 'ws') + '/v1/stream',
    credentials: JSON.parse(readFileSync(path.join(dir, 'demo-credentials.json'), 'utf8')) as DemoCredentials,
    key: Buffer.from(readFileSync(path.join(dir, 'jwt.key'), 'utf8').trim(), 'hex'),
    secretVersions: new Map(),
    db() {
      db ??= openTestDb(dir);
      return db;
    },
    async stop() {
      const open = db;
      db = null;
      if (open) await (await open).close();
      if (server) await server.close();
      server = null;
    },
    async restart(more: Record<string, string> = {}) {
      await sw.stop();
      server = await startServer(loadConfig(baseEnv(dir, { ...store, ...env, ...more })), { clock: testClock });
      sw.server = server;
      sw.url = server.url;
      sw.wsUrl = server.url.replace(/^http/, 'ws') + '/v1/stream';
    },
    async close() {
      await sw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const hashes = await (await sw.db()).all<{ id: string; secret_hash: string }>('SELECT id, secret_hash FROM terminals');
  for (const t of hashes) sw.secretVersions.set(t.id, secretVersion(t.secret_hash));
  return sw;
}

// ------------------------------------------------------------------ tokens

export function sign(sw: Switch, claims: Record<string, unknown>, subject: string, opts: jwt.SignOptions = {}): string {
  return jwt.sign(claims, sw.key, { algorithm: 'HS256', issuer: 'tserve', subject, expiresIn: 900, ...opts });
}

export function terminalToken(sw: Switch, terminalId: string, opts: jwt.SignOptions = {}): string {
  const t = sw.credentials.terminals.find((x) => x.terminalId === terminalId);
  if (!t) throw new Error(`no demo terminal ${terminalId}`);
  return sign(sw, { role: 'terminal', counterId: t.counterId, sv: sw.secretVersions.get(terminalId) }, terminalId, opts);
}

export function userToken(sw: Switch, username: string, opts: jwt.SignOptions = {}): string {
  const u = sw.credentials.users.find((x) => x.username === username);
  if (!u) throw new Error(`no demo user ${username}`);
  return sign(sw, u.role === 'entity' ? { role: 'entity', entityId: u.entityId } : { role: u.role }, username, opts);
}

/** A token the way a user gets one: POST /v1/auth/login. */
export async function login(sw: Switch, username: string): Promise<string> {
  const u = sw.credentials.users.find((x) => x.username === username);
  if (!u) throw new Error(`no demo user ${username}`);
  const res = await fetch(`${sw.url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: u.password }),
  });
  const body = (await res.json()) as { token: string };
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/** A token the way a terminal gets one: POST /v1/auth/token with its API secret. */
export async function terminalLogin(sw: Switch, terminalId: string): Promise<string> {
  const t = sw.credentials.terminals.find((x) => x.terminalId === terminalId);
  if (!t) throw new Error(`no demo terminal ${terminalId}`);
  const res = await fetch(`${sw.url}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ terminalId, secret: t.apiSecret }),
  });
  const body = (await res.json()) as { token: string };
  if (res.status !== 200) throw new Error(`token ${terminalId}: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/** Terminals of distinct counters (one per counter), in credential order. */
export function terminalsOfDistinctCounters(sw: Switch, n: number, skip = 0): { terminalId: string; counterId: string }[] {
  const seen = new Set<string>();
  const out: { terminalId: string; counterId: string }[] = [];
  for (const t of sw.credentials.terminals) {
    if (seen.has(t.counterId)) continue;
    seen.add(t.counterId);
    out.push({ terminalId: t.terminalId, counterId: t.counterId });
  }
  return out.slice(skip, skip + n);
}

/** Two terminals of the same counter (for scope=counter), avoiding the given counters. */
export function twoTerminalsOfOneCounter(sw: Switch, avoid: Set<string> = new Set()): [string, string, string] {
  const byCounter = new Map<string, string[]>();
  for (const t of sw.credentials.terminals) {
    if (avoid.has(t.counterId)) continue;
    const list = byCounter.get(t.counterId) ?? [];
    list.push(t.terminalId);
    byCounter.set(t.counterId, list);
  }
  for (const [counterId, ids] of byCounter) if (ids.length >= 2) return [counterId, ids[0]!, ids[1]!];
  throw new Error('no counter with two terminals');
}

// ------------------------------------------------------------------ HTTP payments

let keySeq = 0;
export function idemKey(): string {
  keySeq += 1;
  return `stream-${process.pid}-${Date.now().toString(36)}-${keySeq}`;
}

export interface PayResult {
  status: number;
  body: Record<string, unknown>;
}

export async function post(sw: Switch, token: string, p: string, body: unknown, headers: Record<string, string> = {}): Promise<PayResult> {
  const res = await fetch(sw.url + p, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A terminal on the ISO 8583 channel of the running switch, connected (not signed on). */
export async function isoTerminal(sw: Switch, terminalId: string): Promise<IsoTerminal> {
  const c = sw.credentials.terminals.find((t) => t.terminalId === terminalId);
  if (!c) throw new Error(`no demo terminal ${terminalId}`);
  const t = new IsoTerminal(
    { terminalId, counterId: c.counterId, tmk: Buffer.from(c.tmk, 'hex') },
    { host: '127.0.0.1', port: sw.server.isoPort, timeoutMs: 20_000, clock: testClock },
  );
  await t.connect();
  return t;
}

/**
 * The payments use-case on the running server's own store, for bulk booking (HTTP
 * round trips in a busy test process are too slow to book thousands). Bookings go
 * through the same group-commit writer and `onCommit` listeners as the server's, so
 * the stream sees them exactly as it sees payments made over HTTP.
 */
export async function inProcessPayments(sw: Switch): Promise<Payments> {
  const store = (sw.server.stream as unknown as { store: Store }).store;
  return Payments.create(store, { settlementCutoff: '00:00' });
}

/** How many times pay() sends a request the switch answered 503 (overloaded: a busy CI machine). */
const OVERLOAD_ATTEMPTS = 5;

/**
 * Pays over the JSON channel; throws unless booked (201). Returns the receipt. A 503
 * (UNAVAILABLE: the writer shed load) is sent again under the same key after its
 * Retry-After, as a terminal does (the key makes it safe: nothing was booked).
 */
export async function pay(sw: Switch, token: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const key = idemKey();
  for (let attempt = 1; ; attempt++) {
    const r = await post(sw, token, '/v1/payments', body, { 'idempotency-key': key });
    if (r.status === 201) return r.body;
    if (r.status !== 503 || attempt === OVERLOAD_ATTEMPTS) throw new Error(`payment refused: ${r.status} ${JSON.stringify(r.body)}`);
    await new Promise((done) => setTimeout(done, 1000 * attempt));
  }
}

/** A certificate fee (fixed €1.00, any counter kind, payable any number of times). */
export function payCertificate(sw: Switch, token: string): Promise<Record<string, unknown>> {
  return pay(sw, token, { service: 'CERTIFICATI', identifier: VALID_CF, amount: 100 });
}

/** Verifies then pays a notice of a service, with the amount the switch says is due. */
export async function payNotice(sw: Switch, token: string, service: string, notice: string): Promise<Record<string, unknown>> {
  const v = await post(sw, token, '/v1/verify', { service, identifier: notice });
  if (v.status !== 200) throw new Error(`verify ${service} ${notice}: ${v.status} ${JSON.stringify(v.body)}`);
  return pay(sw, token, { service, identifier: notice, amount: v.body.amountDue, fee: v.body.fee });
}

/** Payable single notices of a service, unused so far in this process. */
const usedNotices = new Set<string>();
export async function payableNotices(sw: Switch, service: string, n: number): Promise<string[]> {
  const today = testToday();
  const db = await sw.db();
  const rows = (
    await db.all<{ notice: string }>(
      `SELECT o.notice_number AS notice FROM payment_options o JOIN debt_positions p ON p.id = o.position_id
       WHERE p.service_code = ? AND p.status = 'VALID' AND o.paid_payment_id IS NULL AND o.kind = 'single'
         AND (p.valid_until IS NULL OR p.valid_until >= ?) ORDER BY o.id`,
      service,
      today,
    )
  ).map((r) => r.notice);
  const out = rows.filter((r) => !usedNotices.has(r)).slice(0, n);
  if (out.length < n) throw new Error(`only ${out.length} payable ${service} notices`);
  for (const r of out) usedNotices.add(r);
  return out;
}

/** Runs `fn` over `items` with at most `concurrency` at once; settles all. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (x: T, i: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: 'fulfilled', value: await fn(items[i]!, i) };
      } catch (reason) {
        out[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

// ------------------------------------------------------------------ events table

export interface DbEvent {
  seq: number;
  type: string;
  terminalId: string | null;
  counterId: string | null;
  entityId: string | null;
  serviceCode: string | null;
  paymentId: string | null;
}

export async function dbEvents(sw: Switch, afterSeq = 0): Promise<DbEvent[]> {
  const db = await sw.db();
  // Quoted aliases: PostgreSQL folds unquoted ones to lower case. The payload (JSON text
  // on both stores) is parsed here rather than with either dialect's JSON functions.
  const rows = await db.all<Omit<DbEvent, 'paymentId'> & { payload: string }>(
    `SELECT seq, type, terminal_id AS "terminalId", counter_id AS "counterId", entity_id AS "entityId",
            service_code AS "serviceCode", payload
     FROM events WHERE seq > ? ORDER BY seq`,
    afterSeq,
  );
  return rows.map(({ payload, ...e }) => ({ ...e, paymentId: (JSON.parse(payload) as { paymentId?: string }).paymentId ?? null }));
}

export async function maxSeq(sw: Switch): Promise<number> {
  return (await sw.db()).scalar('SELECT coalesce(max(seq), 0) FROM events');
}

// ------------------------------------------------------------------ stream clients

export interface Refusal {
  status: number;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

export interface Client {
  ws: WebSocket;
  events: WireEvent[];
  controls: { control: string; seq: number }[];
  /** Resolves when the connection is open; rejects with the refusal if the upgrade is answered otherwise. */
  opened: Promise<void>;
  /** Resolves with the refusal (status, problem body) if the upgrade is refused. */
  refused: Promise<Refusal>;
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once the server says the replay is over and events are live. */
  live: Promise<number>;
  lastSeq(): number | undefined;
  /**
   * Ping → pong: everything the server sent before it read the ping has arrived. Once
   * the bookings have been answered (their events were published before the answer),
   * this is a barrier: nothing more is on its way.
   */
  barrier(): Promise<void>;
  /** Waits (generously) until `pred` holds over what was received. */
  until(pred: (events: WireEvent[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  token?: string | null;
  query?: Record<string, string> | string;
  protocols?: string[];
  headers?: Record<string, string>;
}

export function connect(sw: Switch, opts: ConnectOptions = {}): Client {
  const q = typeof opts.query === 'string' ? opts.query : new URLSearchParams(opts.query ?? {}).toString();
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const ws = new WebSocket(`${sw.wsUrl}${q ? `?${q}` : ''}`, opts.protocols ?? ['tserve.v1'], { headers });
  const events: WireEvent[] = [];
  const controls: { control: string; seq: number }[] = [];
  const waiters = new Set<() => void>();
  let isClosed = false;
  let resolveRefused!: (r: Refusal) => void;
  const refused = new Promise<Refusal>((r) => (resolveRefused = r));
  let resolveLive!: (seq: number) => void;
  const live = new Promise<number>((r) => (resolveLive = r));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          body = { raw: text };
        }
        const r = { status: res.statusCode ?? 0, contentType: res.headers['content-type'], body };
        resolveRefused(r);
        reject(new Error(`upgrade refused: ${r.status} ${text}`));
      });
    });
    ws.once('error', (err) => reject(err));
  });
  opened.catch(() => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      isClosed = true;
      for (const w of waiters) w();
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.on('error', () => undefined);
  ws.on('message', (raw) => {
    const msg = JSON.parse(raw.toString()) as WireEvent | { control: string; seq: number };
    if ('control' in msg) {
      controls.push(msg);
      if (msg.control === 'live') resolveLive(msg.seq);
    } else {
      events.push(msg);
    }
    for (const w of waiters) w();
  });
  const client: Client = {
    ws,
    events,
    controls,
    opened,
    refused,
    closed,
    live,
    lastSeq: () => events.at(-1)?.seq,
    barrier() {
      return new Promise<void>((resolve, reject) => {
        const onClose = () => reject(new Error('stream closed before the pong'));
        ws.once('pong', () => {
          ws.off('close', onClose);
          resolve();
        });
        ws.once('close', onClose);
        ws.ping();
      });
    },
    until(pred, what, timeoutMs = 60_000) {
      if (pred(events)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pred(events)) {
            done();
            resolve();
          } else if (isClosed) {
            done();
            reject(new Error(`stream closed before ${what}; got ${events.length} events`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${what}; got ${events.length} events`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
      });
    },
    async close() {
      const state = (): number => ws.readyState; // read afresh after each await
      if (state() === WebSocket.CLOSED) return;
      if (state() === WebSocket.CONNECTING) await opened.catch(() => undefined);
      if (state() === WebSocket.OPEN) ws.close(1000);
      else if (state() !== WebSocket.CLOSED) ws.terminate();
      await closed;
    },
  };
  return client;
}

/** Connects and waits for the live marker (replay done). */
export async function subscribe(sw: Switch, opts: ConnectOptions = {}): Promise<Client> {
  const c = connect(sw, opts);
  await c.opened;
  await c.live;
  return c;
}

/** Upgrade that must be refused: resolves with its status and problem body. */
export async function refusal(sw: Switch, opts: ConnectOptions = {}): Promise<Refusal> {
  const c = connect(sw, opts);
  const failure = await c.opened.then(
    () => null,
    (err: unknown) => err as Error,
  );
  if (failure === null) {
    await c.close();
    throw new Error('the upgrade was accepted');
  }
  // The refusal is resolved before `opened` rejects; any other failure is no refusal.
  if (!failure.message.startsWith('upgrade refused')) throw failure;
  return c.refused;
}

/** Sequence numbers are strictly increasing (so: no duplicates, in order). */
export function strictlyIncreasing(events: { seq: number }[]): boolean {
  return events.every((e, i) => i === 0 || e.seq > events[i - 1]!.seq);
}
