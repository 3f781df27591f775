// The connection caps module on its own: addresses as the caps count them, and the
// rate-limited log line when a cap refuses (one at once, the rest counted in the next).
import net from 'node:net';
import { Writable } from 'node:stream';
import winston from 'winston';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionCaps, addressKey } from '../../src/net/connection-caps.js';
import { logger } from '../../src/log.js';
import { closedEvent, connectFrom, until } from '../helpers/flood.js';

describe('addressKey', () => {
  it('counts IPv4 as is, IPv4-mapped IPv6 as its IPv4, and IPv6 by its /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

describe('refusals', () => {
  const lines: Record<string, unknown>[] = [];
  const transport = new winston.transports.Stream({
    stream: new Writable({
      write: (chunk: Buffer | string, _enc, done) => {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    }),
  });
  const wasSilent = logger.silent;
  const wasLevel = logger.level;
  let server: net.Server;
  let caps: ConnectionCaps;
  let port: number;
  const held: net.Socket[] = [];

  beforeAll(async () => {
    logger.add(transport);
    logger.silent = false;
    logger.level = 'warn';
    // An interval no test waits out: the second line comes from close().
    caps = new ConnectionCaps('iso', { maxTotal: 100, maxPerAddress: 1 }, 3_600_000);
    server = net.createServer((s) => {
      if (!s.destroyed) held.push(s);
    });
    server.prependListener('connection', (s: net.Socket) => void caps.admit(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    logger.remove(transport);
    logger.silent = wasSilent;
    logger.level = wasLevel;
    for (const s of held) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('destroys connections over a cap at once, logs the first at once and the rest as a count', async () => {
    const first = await connectFrom(port, '127.0.0.2');
    await until(() => caps.open === 1, 'the first admitted');
    for (let i = 0; i < 20; i++) await closedEvent(await connectFrom(port, '127.0.0.2'));
    expect(first.destroyed).toBe(false);
    expect(caps.stats().refused.per_address).toBe(20);
    const refusals = () => lines.filter((l) => l.cap === 'per_address');
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]).toMatchObject({ level: 'warn', listener: 'iso', cap: 'per_address', limit: 1, refused: 1, lastAddress: '127.0.0.2' });
    caps.close();
    expect(refusals()).toHaveLength(2);
    expect(refusals()[1]).toMatchObject({ refused: 19 });
    first.destroy();
  });
});
