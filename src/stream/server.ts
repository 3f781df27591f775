// Live confirmations over WebSocket at /v1/stream, on the event log the writer fills
// in the same transaction as each booking.
//
// Invariant: a subscriber receives every event it may see with seq > its cursor,
// in seq order, exactly once — across the hand-over from replay to live. It is
// registered before the replay starts; live events that arrive meanwhile wait in
// `pending`, and anything at or below the last seq sent is dropped.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { parse as parseCookies } from 'cookie';
import { WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import { NO_API_SECRET, secretVersion } from '../auth/secrets.js';
import { SESSION_COOKIE, type SessionService } from '../auth/session.js';
import type { TokenService } from '../auth/tokens.js';
import { logger } from '../log.js';
import { ERROR_CODES, type ErrorCode } from '../payments/errors.js';
import type { EventRow, Store } from '../store/types.js';

/** Close codes a client acts on (documented in docs/stream.md). */
export const CLOSE = {
  GOING_AWAY: { code: 1001, reason: 'server shutting down; resume from your last seq' },
  TOKEN_EXPIRED: { code: 4401, reason: 'token expired; get a new token and resume from your last seq' },
  /** The console's session ended by logout (seen at a heartbeat): the same code as its expiry. */
  SESSION_ENDED: { code: 4401, reason: 'the session was ended by logout; log in again' },
  CURSOR_GONE: { code: 4410, reason: 'cursor older than the retained events; resynchronise from the API' },
  SLOW_CONSUMER: { code: 4413, reason: 'slow consumer: buffer full; resume from your last seq' },
  REVOKED: { code: 4403, reason: 'credentials revoked: terminal blocked, counter suspended or user disabled' },
} as const;

export const EVENT_TYPES = [
  'payment.booked',
  'payment.reversed',
  // A pagoPA payment the node took no receipt for (docs/pagopa.md): its counter and the office are told.
  'pagopa.refund_due',
  'terminal.signed_on',
  'terminal.signed_off',
  'terminal.blocked',
  'terminal.unblocked',
  'counter.suspended',
  'counter.reactivated',
  'notices.imported',
  'settlement.closed',
  'settlement.approved',
  'user.disabled',
  'user.enabled',
  'terminal.key_rotated',
  'network.changed',
] as const;

// An empty list (`service=`) is refused: it would match nothing, silently.
const list = z
  .string()
  .max(1000)
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
  .refine((xs) => xs.length > 0, 'give at least one value');

const Query = z.strictObject({
  after: z
    .string()
    .regex(/^\d{1,15}$/, 'after must be a sequence number')
    .transform(Number)
    .optional(),
  scope: z.enum(['terminal', 'counter']).default('terminal'),
  service: list.optional(),
  entity: list.optional(),
  counter: list.optional(),
  type: list.pipe(z.array(z.enum(EVENT_TYPES))).optional(),
});
type Query = z.infer<typeof Query>;
/** The stream's query parameters (documented in /openapi.json). */
export { Query as StreamQuery };

export interface StreamOptions {
  /** Bytes waiting to go out to one client before it is cut off as slow. */
  maxBufferedBytes: number;
  heartbeatMs: number;
  maxConnectionsPerPrincipal: number;
  replayPageSize: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  maxBufferedBytes: 4 * 1024 * 1024,
  heartbeatMs: 30_000,
  maxConnectionsPerPrincipal: 20,
  replayPageSize: 1000,
};

interface Subscriber {
  ws: WebSocket;
  principal: Principal;
  key: string;
  query: Query;
  /** Highest seq already considered (sent or not visible). */
  cursor: number;
  live: boolean;
  pending: EventRow[];
  alive: boolean;
  expiryTimer: NodeJS.Timeout;
  /** The console session it was opened with (cookie), if any: a logout ends the stream at the next beat. */
  sessionId?: string;
}

/** May this principal see this event? Terminals their own (or their counter's), entities theirs, finance and admin all. */
export function maySee(p: Principal, scope: Query['scope'], e: EventRow): boolean {
  if (e.type.startsWith('user.')) return p.role === 'admin'; // who is disabled is the admins' business
  switch (p.role) {
    case 'finance':
    case 'admin':
      return true;
    case 'entity':
      return e.entityId === p.entityId;
    case 'terminal':
      if (e.terminalId === null) return e.counterId === p.counterId; // counter-wide news
      return scope === 'counter' ? e.counterId === p.counterId : e.terminalId === p.terminalId;
  }
}

function matches(q: Query, e: EventRow): boolean {
  return (
    (!q.type || (q.type as string[]).includes(e.type)) &&
    (!q.service || (e.serviceCode !== null && q.service.includes(e.serviceCode))) &&
    (!q.entity || (e.entityId !== null && q.entity.includes(e.entityId))) &&
    (!q.counter || (e.counterId !== null && q.counter.includes(e.counterId)))
  );
}

/** The events that revoke (or restore) a principal's right to stream. */
const REVOKING: Record<string, { kind: 'terminal' | 'counter' | 'user'; revokes: boolean }> = {
  'terminal.blocked': { kind: 'terminal', revokes: true },
  'terminal.unblocked': { kind: 'terminal', revokes: false },
  'counter.suspended': { kind: 'counter', revokes: true },
  'counter.reactivated': { kind: 'counter', revokes: false },
  'user.disabled': { kind: 'user', revokes: true },
  'user.enabled': { kind: 'user', revokes: false },
};

/** Live events kept for a subscriber still replaying; past this it is cut off as slow (4413). */
const MAX_PENDING_EVENTS = 100_000;

/** One JSON text per event, shared by every subscriber. */
const wire = new WeakMap<EventRow, string>();
function serialise(e: EventRow): string {
  let s = wire.get(e);
  if (s === undefined) {
    s = JSON.stringify({
      seq: e.seq,
      type: e.type,
      at: new Date(e.at).toISOString(),
      // Optional for clients: when the commit returned (high-resolution epoch ms), for latency measurement.
      ...(e.committedAt === undefined ? {} : { committedAt: e.committedAt }),
      data: e.payload,
    });
    wire.set(e, s);
  }
  return s;
}

function refuse(socket: Duplex, code: ErrorCode, detail: string): void {
  const e = ERROR_CODES[code];
  const body = JSON.stringify({ type: `urn:tserve:error:${code}`, title: e.title, status: e.http, code, detail });
  socket.end(
    `HTTP/1.1 ${e.http} ${e.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The bearer token: `Authorization: Bearer …`, or the subprotocol `bearer.<token>` for browsers. */
function tokenOf(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer (\S+)$/i.exec(auth) : null;
  if (m) return m[1]!;
  const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
  const p = protocols.find((x) => x.startsWith('bearer.'));
  return p ? p.slice('bearer.'.length) : null;
}

/**
 * Is the upgrade sent by a page of the switch's own origin? No CORS check applies to a
 * WebSocket, and SameSite stops other sites' pages, not another origin of the same site
 * (another port or subdomain of the host): the console's session opens the stream only
 * from the switch's own origin.
 */
function sameOrigin(req: IncomingMessage): { ok: boolean; own: string } {
  const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
  const own = `${scheme}://${req.headers.host ?? ''}`.toLowerCase();
  return { ok: req.headers.host !== undefined && req.headers.origin?.toLowerCase() === own, own };
}

export class StreamServer {
  private readonly wss: WebSocketServer;
  private readonly subscribers = new Set<Subscriber>();
  private readonly perPrincipal = new Map<string, number>();
  private readonly heartbeat: NodeJS.Timeout;
  readonly opts: StreamOptions;
  /**
   * Revoked since this server started, from the events (on every instance): read with
   * the store at each upgrade, so an upgrade racing the revocation's commit is refused.
   */
  private readonly revoked = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly tokens: TokenService,
    opts: Partial<StreamOptions> = {},
    /** The console's sessions: when given, its cookie opens the stream too (same origin only). */
    private readonly sessions?: SessionService,
  ) {
    this.opts = { ...DEFAULT_STREAM_OPTIONS, ...opts };
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: 4096, // clients send nothing but pongs and close frames
      handleProtocols: (protocols) => (protocols.has('tserve.v1') ? 'tserve.v1' : false),
    });
    store.onCommit((events) => this.publish(events));
    this.heartbeat = setInterval(() => this.beat(), this.opts.heartbeatMs);
    this.heartbeat.unref();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Subscriptions the switch closed, by reason (slow_consumer: the drops), for /metrics. */
  readonly closed: Record<string, number> = {};

  attach(server: Server): void {
    server.on('upgrade', (req, socket, head) => {
      void this.upgrade(req, socket, head).catch((err: unknown) => {
        logger.error('stream upgrade failed', { error: String(err) });
        socket.destroy();
      });
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/v1/stream') return refuse(socket, 'NOT_FOUND', `no WebSocket endpoint at ${url.pathname}`);
    const v = this.credentials(req);
    if (!v.ok) return refuse(socket, v.code, v.detail);
    // A repeated parameter would silently count only once (the last): refused instead.
    const names = [...url.searchParams.keys()];
    const repeated = names.find((n, i) => names.indexOf(n) !== i);
    if (repeated !== undefined) return refuse(socket, 'FORMAT', `${repeated}: given more than once; use one comma-separated list`);
    const parsed = Query.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success) {
      return refuse(socket, 'FORMAT', parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
    }
    const p = v.principal;
    const key = p.role === 'terminal' ? `terminal:${p.terminalId}` : `${p.role}:${p.username}`;
    const bounds = await this.store.eventBounds();
    // The credentials as they are now, not only as the token says (the last await before serving).
    const refusal = await this.revocation(p, v.sessionId);
    if (refusal) return refuse(socket, refusal.code, refusal.detail);
    const after = parsed.data.after;
    if (after !== undefined && after > bounds.maxSeq) {
      return refuse(socket, 'FORMAT', `after=${after} is beyond the last event (${bounds.maxSeq})`);
    }
    // Checked after the last await: from here to the count in serve() nothing yields
    // (handleUpgrade calls back synchronously), so concurrent upgrades cannot all pass.
    if ((this.perPrincipal.get(key) ?? 0) >= this.opts.maxConnectionsPerPrincipal) {
      return refuse(socket, 'RATE_LIMITED', `at most ${this.opts.maxConnectionsPerPrincipal} streams per principal`);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      void this.serve(ws, p, key, parsed.data, v.expiresAt, bounds, v.sessionId).catch((err: unknown) => {
        logger.error('stream failed', { error: String(err) });
        ws.terminate();
      });
    });
  }

  /** Who opens the stream: a Bearer token, else (from the switch's own origin) the console's session cookie. */
  private credentials(
    req: IncomingMessage,
  ): { ok: true; principal: Principal; expiresAt: number; sessionId?: string } | { ok: false; code: ErrorCode; detail: string } {
    const token = tokenOf(req);
    const cookie = this.sessions && !token ? parseCookies(req.headers.cookie ?? '')[SESSION_COOKIE] : undefined;
    if (this.sessions && cookie !== undefined) {
      const origin = sameOrigin(req);
      if (!origin.ok) return { ok: false, code: 'CSRF', detail: `the console's session opens the stream only from the switch's own origin (Origin: ${origin.own}); elsewhere send a Bearer token` };
      const s = this.sessions.check(cookie);
      if (!s.ok) return { ok: false, code: 'UNAUTHORIZED', detail: s.error === 'expired' ? 'the session expired: log in again' : 'the session is not valid: log in again' };
      // The session's end as of now, on the wall clock the timer runs on (the stream does not slide it).
      return { ok: true, principal: s.session.principal, expiresAt: Date.now() + (s.expiresAt - this.sessions.now()), sessionId: s.session.id };
    }
    if (!token) return { ok: false, code: 'UNAUTHORIZED', detail: 'send Authorization: Bearer <token> or the subprotocol bearer.<token>' };
    const v = this.tokens.verify(token);
    if (!v.ok) return { ok: false, code: 'UNAUTHORIZED', detail: v.error === 'expired' ? 'the token has expired' : 'the token is not valid' };
    return v;
  }

  /** Why this principal (with this console session) may no longer stream (blocked terminal, suspended counter, disabled user, logout), or null. */
  private async revocation(p: Principal, sessionId?: string): Promise<{ code: ErrorCode; detail: string; ended?: true } | null> {
    if (p.role === 'terminal') {
      const terminal = await this.store.getTerminal(p.terminalId);
      if (!terminal || terminal.status !== 'active' || this.revoked.has(`terminal:${p.terminalId}`)) return { code: 'TERMINAL_BLOCKED', detail: 'the terminal is blocked' };
      // As on the JSON API: a token issued under an API secret since rotated no longer holds.
      if (terminal.secretHash === NO_API_SECRET || secretVersion(terminal.secretHash) !== p.secretVersion) {
        return { code: 'UNAUTHORIZED', detail: "the token was issued under an API secret that is no longer the terminal's: get a new token" };
      }
      const counter = await this.store.getCounter(p.counterId);
      if (!counter || counter.status !== 'active' || this.revoked.has(`counter:${p.counterId}`)) return { code: 'COUNTER_SUSPENDED', detail: 'the counter is suspended' };
      return null;
    }
    // Both read at once: the logout check adds no round trip.
    const [user, ended] = await Promise.all([this.store.getUser(p.username), sessionId === undefined ? false : this.store.sessionEnded(sessionId)]);
    if (!user || user.disabled || this.revoked.has(`user:${p.username}`)) return { code: 'UNAUTHORIZED', detail: 'credentials revoked: the user is disabled' };
    if (ended) return { code: 'UNAUTHORIZED', detail: 'the session was ended by logout: log in again', ended: true };
    return null;
  }

  /** Closes at once (4403) the streams of what these events revoke; remembers it for upgrades in flight. */
  private revoke(events: EventRow[]): void {
    for (const e of events) {
      const username = typeof e.payload.username === 'string' ? e.payload.username : null;
      const what = REVOKING[e.type];
      if (what) {
        const key = what.kind === 'terminal' ? `terminal:${e.terminalId}` : what.kind === 'counter' ? `counter:${e.counterId}` : `user:${username}`;
        if (what.revokes) this.revoked.add(key);
        else this.revoked.delete(key);
      }
      // A rotated API secret ends the streams opened with tokens of the old one; a new
      // token (under the new secret) may open one again.
      const rotated = e.type === 'terminal.key_rotated' && e.payload.key === 'apiSecret';
      if (rotated) for (const sub of [...this.subscribers]) if (sub.principal.role === 'terminal' && sub.principal.terminalId === e.terminalId) this.close(sub, CLOSE.REVOKED);
      if (!what?.revokes) continue;
      for (const sub of [...this.subscribers]) {
        const p = sub.principal;
        const hit =
          what.kind === 'terminal' ? p.role === 'terminal' && p.terminalId === e.terminalId
          : what.kind === 'counter' ? p.role === 'terminal' && p.counterId === e.counterId
          : p.role !== 'terminal' && p.username === username;
        if (hit) this.close(sub, CLOSE.REVOKED);
      }
    }
  }

  private async serve(
    ws: WebSocket,
    principal: Principal,
    key: string,
    query: Query,
    expiresAt: number,
    bounds: { minSeq: number; maxSeq: number },
    sessionId?: string,
  ): Promise<void> {
    const sub: Subscriber = {
      ...(sessionId === undefined ? {} : { sessionId }),
      ws,
      principal,
      key,
      query,
      cursor: query.after ?? bounds.maxSeq,
      live: false,
      pending: [],
      alive: true,
      // A token's end is on the wall clock, as jsonwebtoken issues and checks it (src/clock.ts).
      expiryTimer: setTimeout(() => this.close(sub, CLOSE.TOKEN_EXPIRED), Math.max(0, expiresAt - Date.now())),
    };
    // Registered before the replay, so no event committed from now on can be missed.
    this.subscribers.add(sub);
    this.perPrincipal.set(key, (this.perPrincipal.get(key) ?? 0) + 1);
    ws.on('pong', () => (sub.alive = true));
    ws.on('close', () => this.drop(sub));
    ws.on('error', () => this.drop(sub));

    if (query.after !== undefined && bounds.minSeq > 0 && query.after + 1 < bounds.minSeq) {
      return this.close(sub, CLOSE.CURSOR_GONE);
    }
    for (;;) {
      const page = await this.store.eventsAfter(sub.cursor, this.opts.replayPageSize);
      if (page.length === 0 || ws.readyState !== WebSocket.OPEN) break;
      for (const e of page) this.deliver(sub, e);
      await this.drained(sub);
    }
    if (ws.readyState !== WebSocket.OPEN) return;
    for (const e of sub.pending) {
      if (sub.ws.bufferedAmount > this.opts.maxBufferedBytes) return this.close(sub, CLOSE.SLOW_CONSUMER);
      this.deliver(sub, e);
    }
    sub.pending = [];
    sub.live = true;
    ws.send(JSON.stringify({ control: 'live', seq: sub.cursor }));
  }

  /** Waits while the client's socket has much unsent data, so a replay cannot flood memory. */
  private async drained(sub: Subscriber): Promise<void> {
    const deadline = performance.now() + 30_000;
    while (sub.ws.readyState === WebSocket.OPEN && sub.ws.bufferedAmount > this.opts.maxBufferedBytes / 2) {
      if (performance.now() > deadline) return this.close(sub, CLOSE.SLOW_CONSUMER);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private deliver(sub: Subscriber, e: EventRow): void {
    if (e.seq <= sub.cursor) return; // already sent or skipped: no duplicates
    sub.cursor = e.seq;
    if (!maySee(sub.principal, sub.query.scope, e) || !matches(sub.query, e)) return;
    if (sub.ws.readyState !== WebSocket.OPEN) return;
    sub.ws.send(serialise(e));
  }

  private publish(events: EventRow[]): void {
    try {
      this.deliverAll(events);
    } finally {
      // After delivery: a blocked terminal's stream gets its terminal.blocked event, then closes.
      this.revoke(events);
    }
  }

  private deliverAll(events: EventRow[]): void {
    for (const sub of this.subscribers) {
      if (sub.live) {
        // A batch's events leave in one write (cork), not one syscall per event. ws has
        // no public handle on its socket; _socket is the net.Socket it writes frames to.
        // Slow is what is still unsent from before this batch (a batch corked counts whole).
        if (sub.ws.bufferedAmount > this.opts.maxBufferedBytes) {
          this.close(sub, CLOSE.SLOW_CONSUMER);
          continue;
        }
        const socket = (sub.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
        socket?.cork();
        try {
          for (const e of events) this.deliver(sub, e);
        } finally {
          socket?.uncork();
        }
        continue;
      }
      // Replaying: keep only what this subscriber will be sent, and not without bound.
      for (const e of events) if (maySee(sub.principal, sub.query.scope, e) && matches(sub.query, e)) sub.pending.push(e);
      if (sub.pending.length > MAX_PENDING_EVENTS) this.close(sub, CLOSE.SLOW_CONSUMER);
    }
  }

  private beat(): void {
    // Credentials read again at each beat: what no event told this server (a user disabled
    // by `tserve user disable` in another process on the SQLite file, a console session
    // ended by logout on any instance) closes within a beat.
    for (const sub of this.subscribers) {
      void this.revocation(sub.principal, sub.sessionId).then(
        (r) => r && this.close(sub, r.ended ? CLOSE.SESSION_ENDED : CLOSE.REVOKED),
        () => undefined, // the store unreachable: the next beat asks again
      );
    }
    for (const sub of this.subscribers) {
      if (!sub.alive) {
        sub.ws.terminate();
        this.drop(sub);
        continue;
      }
      sub.alive = false;
      sub.ws.ping();
    }
  }

  private close(sub: Subscriber, how: { code: number; reason: string }): void {
    if (this.subscribers.has(sub)) {
      const reason = (Object.entries(CLOSE).find(([, c]) => c === how) ?? Object.entries(CLOSE).find(([, c]) => c.code === how.code))?.[0].toLowerCase() ?? String(how.code);
      this.closed[reason] = (this.closed[reason] ?? 0) + 1;
    }
    this.drop(sub);
    if (sub.ws.readyState === WebSocket.OPEN) sub.ws.close(how.code, how.reason);
  }

  private drop(sub: Subscriber): void {
    if (!this.subscribers.delete(sub)) return;
    clearTimeout(sub.expiryTimer);
    const n = (this.perPrincipal.get(sub.key) ?? 1) - 1;
    if (n > 0) this.perPrincipal.set(sub.key, n);
    else this.perPrincipal.delete(sub.key);
  }

  async closeAll(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const sub of [...this.subscribers]) this.close(sub, CLOSE.GOING_AWAY);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
