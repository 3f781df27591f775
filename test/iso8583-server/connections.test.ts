// Issue 12, finding 1, at the ISO 8583 listener with its caps set low enough to bite:
// the sign-on timeout, the caps per address (clients bound to 127.0.0.2, 127.0.0.3...),
// the pool of connections not signed on yet (its oldest closed for a newer one), and
// signed-on terminals that no flood of junk can push out or keep from signing on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import { closedEvent, connectFrom, flood, loopbackAddresses, until, type Flood } from '../helpers/flood.js';
import { makeTestPki } from '../helpers/tls.js';
import { setup, type Ctx } from './support.js';

// No address exempt: 127.0.0.1 (loopback, exempt by default) is capped like the others here.
const CAPS = { maxTotal: 40, maxPerAddress: 30, maxUnsigned: 20, maxUnsignedPerAddress: 5, exemptAddresses: [] };

let ctx: Ctx;
const floods: Flood[] = [];

beforeAll(async () => {
  ctx = await setup({ iso: { connections: CAPS, signOnTimeoutMs: 60_000 } });
});

afterAll(async () => {
  for (const f of floods) f.destroy();
  await ctx.close();
});

const stats = () => ctx.iso.connectionStats()!;

describe('caps per address', () => {
  it('refuses connections past the cap of not-signed-on connections of one address, and takes those of another', async () => {
    const before = stats();
    const mine = await flood(ctx.port, CAPS.maxUnsignedPerAddress, ['127.0.0.1']);
    floods.push(mine);
    await until(() => stats().open >= before.open + CAPS.maxUnsignedPerAddress, 'five connections from 127.0.0.1 open');
    // One more from 127.0.0.1: destroyed at once, unread and unanswered.
    const extra = await connectFrom(ctx.port, '127.0.0.1');
    await closedEvent(extra);
    expect(stats().refused.unsigned_per_address).toBe(before.refused.unsigned_per_address + 1);
    expect(mine.closed()).toBe(0);
    // Another address is not held back by 127.0.0.1's connections.
    const other = await connectFrom(ctx.port, '127.0.0.2');
    floods.push({ sockets: [other], closed: () => 0, destroy: () => other.destroy() });
    await until(() => stats().open === before.open + CAPS.maxUnsignedPerAddress + 1, 'the connection from 127.0.0.2 admitted');
    expect(other.destroyed).toBe(false);
    mine.destroy();
    other.destroy();
    await until(() => stats().open === before.open, 'all closed');
  });
});

describe('junk against signed-on terminals', () => {
  it('keeps signed-on terminals served, and lets a new one sign on and pay, while junk from many addresses fills the port', async () => {
    // 25 signed on: more than the total (40) leaves beside the 20 not-signed-on connections allowed.
    const signedOn: Awaited<ReturnType<Ctx['signedOn']>>[] = [];
    for (let i = 0; i < 25; i++) signedOn.push(await ctx.signedOn());
    const before = stats();
    // 15 addresses x 5 = 75 silent connections: each past the 40th pushes out the oldest junk.
    const junk = await flood(ctx.port, 75, loopbackAddresses(15, 10), 25);
    floods.push(junk);
    await until(() => stats().evicted - before.evicted >= 75 - (CAPS.maxTotal - 25), 'the oldest junk closed for the newer');
    expect(stats().open).toBe(CAPS.maxTotal);
    expect(stats().evictable).toBe(CAPS.maxTotal - 25);
    for (const t of signedOn) expect((await t.echo()).code).toBe('00');
    // A new terminal gets in (the oldest junk connection makes room), signs on and pays.
    const t = await ctx.signedOn();
    const notice = await ctx.notices.take();
    const { response } = await t.pay({ service: notice.service, identifier: notice.notice }, notice.amount);
    expect(response.code, response.tlv.get('ER')).toBe('00');
    expect(stats().open).toBeLessThanOrEqual(CAPS.maxTotal);
    for (const x of [...signedOn, t]) expect((await x.echo()).code).toBe('00');
    junk.destroy();
    // Signed on or not, one address holds at most 30: the 27th to 30th from 127.0.0.1 get in, the 31st not.
    for (let i = 0; i < 4; i++) await ctx.signedOn();
    const refused = stats().refused.per_address;
    await closedEvent(await connectFrom(ctx.port, '127.0.0.1'));
    expect(stats().refused.per_address).toBe(refused + 1);
  });
});

describe('sign-on timeout', () => {
  it('closes a connection that does not sign on in time, one that sends a byte too, and keeps one that signed on or uses its session key', async () => {
    const short = await setup({ iso: { signOnTimeoutMs: 300 } });
    try {
      // Opened first, so its timer would run out first were it not cleared by the sign-on.
      const t = await short.signedOn();
      // A second connection of the same terminal that never signs on but uses the session
      // key (a terminal that reconnects per message): held from its first such request.
      const again = new IsoTerminal(t.creds, { host: '127.0.0.1', port: short.port, timeoutMs: 20_000, clock: short.h.rt.clock, firstStan: 500 });
      await again.connect();
      again.sessionKey = t.sessionKey;
      expect((await again.inquiry({ service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S' })).code).toBe('00');
      const silent = await connectFrom(short.port, '127.0.0.1');
      const oneByte = await connectFrom(short.port, '127.0.0.1', Buffer.from([0]));
      await closedEvent(silent);
      await closedEvent(oneByte);
      expect(short.iso.connectionStats()!.timedOut).toBe(2);
      expect((await t.echo()).code).toBe('00');
      expect((await again.inquiry({ service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S' })).code).toBe('00');
      again.destroy();
      const notice = await short.notices.take();
      const { response } = await t.pay({ service: notice.service, identifier: notice.notice }, notice.amount);
      expect(response.code, response.tlv.get('ER')).toBe('00');
    } finally {
      await short.close();
    }
  });
});

describe('over TLS', () => {
  it('checks the caps before the handshake, and lets a terminal that signed on over TLS stay past the sign-on timeout', async () => {
    const pki = makeTestPki();
    const caps = { maxTotal: 40, maxPerAddress: 30, maxUnsigned: 20, maxUnsignedPerAddress: 2, exemptAddresses: [] };
    const tls = await setup({ iso: { tls: { cert: pki.server.cert, key: pki.server.key }, connections: caps, signOnTimeoutMs: 500 } });
    try {
      const t = new IsoTerminal(tls.creds(tls.takeTerminalId()), { host: '127.0.0.1', port: tls.port, tls: { ca: pki.caPem }, timeoutMs: 20_000, clock: tls.h.rt.clock });
      await t.connect();
      const on = await t.signOn();
      expect(on.code, on.tlv.get('ER')).toBe('00');
      // Two silent TCP connections (no handshake) fill 127.0.0.1's not-signed-on share; a third is destroyed unread.
      const silent = [await connectFrom(tls.port, '127.0.0.1'), await connectFrom(tls.port, '127.0.0.1')];
      await until(() => tls.iso.connectionStats()!.open === 3, 'two silent connections taken in');
      await closedEvent(await connectFrom(tls.port, '127.0.0.1'));
      expect(tls.iso.connectionStats()!.refused.unsigned_per_address).toBe(1);
      // The silent ones time out; the terminal, connected before them, is still served.
      await Promise.all(silent.map(closedEvent));
      expect(tls.iso.connectionStats()!.timedOut).toBe(2);
      expect((await t.echo()).code).toBe('00');
      t.destroy();
    } finally {
      await tls.close();
      pki.close();
    }
  });
});
