// Connection caps for a listener (the ISO 8583 port, the HTTP(S) port): at most so many
// connections in all and per source address, so that no one, logged in or not, can use
// up the process's file descriptors (issue 12, finding 1).
//
// Each connection is either *evictable* or *held*. ISO 8583: evictable until it signs
// on, held after. HTTP: evictable while idle (no request in flight), held while it
// serves one or carries the WebSocket stream. Evictable connections have their own caps
// (in all and per address), lower than the totals, and when the evictable pool or the
// total is full, the oldest evictable connection is closed to admit the newcomer: junk
// that never signs on (or never asks) cannot keep a real terminal from connecting, and
// can never push out one that has signed on. A connection over a per-address cap is
// destroyed at once, unread and unanswered. Refusals are counted and logged, at most one
// line per cap per interval.
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type net from 'node:net';
import { logger } from '../log.js';

export type ListenerName = 'iso' | 'http';
/** Which cap refused a connection. */
export type Cap = 'total' | 'per_address' | 'unsigned_per_address';
export const CAPS: readonly Cap[] = ['total', 'per_address', 'unsigned_per_address'];

export interface CapLimits {
  /** Open connections in all. */
  maxTotal: number;
  /** Open connections per source address (IPv6: per /64). */
  maxPerAddress: number;
  /** Evictable connections in all (default: maxTotal). */
  maxEvictable?: number;
  /** Evictable connections per source address (default: maxPerAddress). */
  maxEvictablePerAddress?: number;
  /** A connection still evictable this long after it was accepted is closed (ISO: the sign-on timeout). */
  probationMs?: number;
  /**
   * Addresses no per-address cap applies to (the totals still do): by default the
   * loopback ones, where a local reverse proxy, the simulator or a benchmark sit.
   */
  exemptAddresses?: readonly string[];
}

export interface CapStats {
  listener: ListenerName;
  open: number;
  evictable: number;
  refused: Record<Cap, number>;
  /** Evictable connections closed to make room for a newer one. */
  evicted: number;
  /** Connections closed at the end of their probation (ISO: sign-on timeouts). */
  timedOut: number;
}

interface Entry {
  socket: net.Socket;
  key: string;
  address: string;
  /** Requests in flight (HTTP); Infinity once trusted for good (ISO sign-on, WebSocket). */
  holds: number;
  timer: NodeJS.Timeout | null;
}

/** A connection's handle, found by its socket (the raw one or the TLS socket over it). */
export interface ConnectionHandle {
  /** Held for good: never evicted, no probation (ISO: signed on). */
  trust(): void;
  /** Held while a request is in flight (HTTP); `release` makes it evictable again. */
  hold(): void;
  release(): void;
}

const NO_HANDLE: ConnectionHandle = { trust() {}, hold() {}, release() {} };

/** The default interval of the refusal log line. */
const LOG_INTERVAL_MS = 10_000;

/**
 * The address a cap counts by: IPv4 as is (an IPv4-mapped IPv6 address as its IPv4),
 * IPv6 by its /64, since one host commonly holds a whole /64.
 */
export function addressKey(address: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

/** The process's soft limit on open files (Linux /proc/self/limits), or null where unknown. */
export function fileDescriptorLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return null;
    return m[1] === 'unlimited' ? null : Number(m[1]);
  } catch {
    return null;
  }
}

export class ConnectionCaps {
  private readonly entries = new Map<string, Entry>();
  private readonly bySocket = new WeakMap<net.Socket, Entry>();
  private readonly perAddress = new Map<string, { all: number; evictable: number }>();
  /** Evictable connections, oldest first (a Set keeps insertion order). */
  private readonly evictableOrder = new Set<Entry>();
  private readonly limits: Required<Omit<CapLimits, 'probationMs' | 'exemptAddresses'>> & { probationMs: number | null };
  private readonly exempt: Set<string>;
  private readonly counts = { refused: { total: 0, per_address: 0, unsigned_per_address: 0 } as Record<Cap, number>, evicted: 0, timedOut: 0 };
  /** Per cap that refused in the current interval: refusals not logged yet, the last address, the interval's timer. */
  private readonly unlogged = new Map<Cap, { count: number; lastAddress: string; timer: NodeJS.Timeout | null }>();

  constructor(
    readonly listener: ListenerName,
    limits: CapLimits,
    private readonly logIntervalMs = LOG_INTERVAL_MS,
  ) {
    this.limits = {
      maxTotal: limits.maxTotal,
      maxPerAddress: limits.maxPerAddress,
      maxEvictable: Math.min(limits.maxEvictable ?? limits.maxTotal, limits.maxTotal),
      maxEvictablePerAddress: Math.min(limits.maxEvictablePerAddress ?? limits.maxPerAddress, limits.maxPerAddress),
      probationMs: limits.probationMs ?? null,
    };
    this.exempt = new Set((limits.exemptAddresses ?? []).map(addressKey));
    for (const [k, v] of Object.entries(this.limits)) if (v !== null && !(v >= 1)) throw new Error(`connection caps (${listener}): ${k} must be at least 1, not ${v}`);
  }

  get open(): number {
    return this.entries.size;
  }

  stats(): CapStats {
    return {
      listener: this.listener,
      open: this.entries.size,
      evictable: this.evictableOrder.size,
      refused: { ...this.counts.refused },
      evicted: this.counts.evicted,
      timedOut: this.counts.timedOut,
    };
  }

  /**
   * A new connection: true if admitted (tracked until it closes), false if a cap
   * refused it (destroyed already). Call it on the listener's 'connection' event, for
   * TLS on the raw TCP socket, before any handshake.
   */
  admit(socket: net.Socket): boolean {
    const key = tupleKey(socket);
    if (key === null) {
      socket.destroy();
      return false;
    }
    const address = addressKey(socket.remoteAddress!);
    const here = this.perAddress.get(address) ?? { all: 0, evictable: 0 };
    if (!this.exempt.has(address)) {
      if (here.all >= this.limits.maxPerAddress) return this.refuse(socket, 'per_address', address);
      if (here.evictable >= this.limits.maxEvictablePerAddress) return this.refuse(socket, 'unsigned_per_address', address);
    }
    while (this.evictableOrder.size >= this.limits.maxEvictable || this.entries.size >= this.limits.maxTotal) {
      const oldest = this.evictableOrder.values().next().value as Entry | undefined;
      if (!oldest) return this.refuse(socket, 'total', address);
      this.counts.evicted++;
      this.forget(oldest);
      oldest.socket.destroy();
    }
    const entry: Entry = { socket, key, address, holds: 0, timer: null };
    this.entries.set(key, entry);
    this.bySocket.set(socket, entry);
    this.perAddress.set(address, here);
    here.all++;
    this.makeEvictable(entry);
    if (this.limits.probationMs !== null) {
      entry.timer = setTimeout(() => {
        entry.timer = null;
        if (!this.evictableOrder.has(entry)) return;
        this.counts.timedOut++;
        socket.destroy();
      }, this.limits.probationMs);
      entry.timer.unref();
    }
    socket.once('close', () => this.forget(entry));
    return true;
  }

  /** The handle of an admitted connection, by its raw socket or the TLS socket over it. */
  handle(socket: net.Socket): ConnectionHandle {
    // The raw socket is known; a TLS socket over it is found by the connection's 4-tuple.
    const entry = this.bySocket.get(socket) ?? this.entries.get(tupleKey(socket) ?? '');
    if (!entry) return NO_HANDLE;
    return {
      trust: () => {
        if (entry.holds === Infinity || !this.bySocket.has(entry.socket)) return;
        this.makeHeld(entry);
        entry.holds = Infinity;
        if (entry.timer) clearTimeout(entry.timer);
        entry.timer = null;
      },
      hold: () => {
        if (entry.holds === Infinity) return;
        // Any request ends the probation; between requests Node's keep-alive timeout rules.
        if (entry.timer) clearTimeout(entry.timer);
        entry.timer = null;
        if (entry.holds++ === 0) this.makeHeld(entry);
      },
      release: () => {
        if (entry.holds === Infinity || entry.holds === 0) return;
        if (--entry.holds === 0 && this.bySocket.has(entry.socket)) this.makeEvictable(entry);
      },
    };
  }

  /** Stops the log timers (a last line for refusals not yet logged). */
  close(): void {
    for (const [cap, u] of this.unlogged) {
      if (u.timer) clearTimeout(u.timer);
      if (u.count > 0) this.logRefusals(cap, u.count, u.lastAddress);
    }
    this.unlogged.clear();
  }

  private makeEvictable(entry: Entry): void {
    this.evictableOrder.add(entry);
    this.perAddress.get(entry.address)!.evictable++;
  }

  private makeHeld(entry: Entry): void {
    if (this.evictableOrder.delete(entry)) this.perAddress.get(entry.address)!.evictable--;
  }

  private forget(entry: Entry): void {
    if (!this.bySocket.has(entry.socket)) return;
    this.bySocket.delete(entry.socket);
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    if (entry.timer) clearTimeout(entry.timer);
    this.makeHeld(entry);
    const here = this.perAddress.get(entry.address)!;
    if (--here.all === 0) this.perAddress.delete(entry.address);
  }

  private refuse(socket: net.Socket, cap: Cap, address: string): false {
    socket.destroy();
    this.counts.refused[cap]++;
    let u = this.unlogged.get(cap);
    if (!u) {
      // The first refusal of a quiet interval is logged at once; the rest at its end.
      u = { count: 0, lastAddress: address, timer: null };
      this.unlogged.set(cap, u);
      this.logRefusals(cap, 1, address);
      const flush = () => {
        if (u!.count === 0) {
          this.unlogged.delete(cap);
          return;
        }
        this.logRefusals(cap, u!.count, u!.lastAddress);
        u!.count = 0;
        u!.timer = setTimeout(flush, this.logIntervalMs).unref();
      };
      u.timer = setTimeout(flush, this.logIntervalMs).unref();
      return false;
    }
    u.count++;
    u.lastAddress = address;
    return false;
  }

  private logRefusals(cap: Cap, count: number, lastAddress: string): void {
    const limit = cap === 'total' ? this.limits.maxTotal : cap === 'per_address' ? this.limits.maxPerAddress : this.limits.maxEvictablePerAddress;
    logger.warn(`${this.listener}: connections refused, cap ${cap} (${limit}) reached`, {
      listener: this.listener,
      cap,
      limit,
      refused: count,
      intervalSeconds: this.logIntervalMs / 1000,
      lastAddress,
      open: this.entries.size,
    });
  }
}

/**
 * Caps on an HTTP(S) server: checked on the raw TCP socket before any TLS handshake or
 * byte is read; a connection is held while a request is in flight and for good once
 * upgraded (the WebSocket stream), evictable while idle. `firstRequestMs`: a connection
 * that has not sent a request this long after it was accepted is closed (Node's
 * headersTimeout only counts from the first byte).
 */
export function capHttpServer(server: http.Server, limits: { maxTotal: number; maxPerAddress: number; exemptAddresses?: readonly string[] }, firstRequestMs: number): ConnectionCaps {
  const caps = new ConnectionCaps('http', { ...limits, probationMs: firstRequestMs });
  server.prependListener('connection', (socket: net.Socket) => void caps.admit(socket));
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const conn = caps.handle(req.socket);
    conn.hold();
    res.once('close', () => conn.release());
  });
  server.prependListener('upgrade', (req: http.IncomingMessage) => caps.handle(req.socket).trust());
  server.once('close', () => caps.close());
  return caps;
}

/** The connection's 4-tuple (unique among a listener's open connections), or null once gone. */
function tupleKey(socket: net.Socket): string | null {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (!remoteAddress || remotePort === undefined) return null;
  return `${remoteAddress}|${remotePort}|${localAddress ?? ''}|${localPort ?? ''}`;
}
