// Silent connections, as an attacker opens them: from several loopback addresses
// (127.0.0.2, 127.0.0.3, ...: Linux routes all of 127/8 to lo), a bounded number at a
// time, each never sending a byte (or one byte, if asked).
import net from 'node:net';

export interface Flood {
  sockets: net.Socket[];
  /** Connections the server closed (or reset) so far. */
  closed(): number;
  destroy(): void;
}

/** The loopback addresses 127.0.0.<first> ... 127.0.0.<first + n - 1>. */
export function loopbackAddresses(n: number, first = 2): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.0.${first + i}`);
}

/** A connection from `localAddress`: resolves once connected, or once refused or closed (the socket is returned either way). */
export function connectFrom(port: number, localAddress: string, firstBytes?: Buffer): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', () => undefined);
    s.once('connect', () => {
      if (firstBytes) s.write(firstBytes);
      resolve(s);
    });
    s.once('close', () => resolve(s));
  });
}

/** Opens `count` silent connections spread evenly over `addresses`, `concurrency` connecting at a time. */
export async function flood(port: number, count: number, addresses: string[], concurrency = 200): Promise<Flood> {
  const sockets: net.Socket[] = [];
  let closed = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const s = await connectFrom(port, addresses[i % addresses.length]!);
      if (s.destroyed) closed++;
      else s.once('close', () => closed++);
      sockets.push(s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    sockets,
    closed: () => closed,
    destroy: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/** Resolves when the socket closes (at once if it has). */
export function closedEvent(s: net.Socket): Promise<void> {
  return s.destroyed && s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
}

/**
 * Polls `pred` (every 10 ms, up to 10 s): for what only the server's count tells, such
 * as when it has taken in, or let go of, connections a client opened or closed.
 */
export async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!pred()) throw new Error(`still not so after 10 s: ${what}`);
}
