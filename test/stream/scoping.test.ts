// Issue #4, scoping: over real WebSocket clients on a running switch, each principal
// sees exactly what it may — a terminal its own payments (scope=counter: its
// counter's), an entity its own, finance everything — and the filters (service,
// entity, counter, type) only narrow that. Payments are made over HTTP on the JSON
// channel by terminals of two counters, for the Comune di Prato (TARI, CERTIFICATI)
// and the Comune di Pisa (TARIPISA), plus one reversal; one terminal also signs on,
// pays and signs off on the ISO 8583 channel (a real TCP connection to the switch's
// ISO listener).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  VALID_CF,
  connect,
  dbEvents,
  idemKey,
  isoTerminal,
  login,
  maxSeq,
  pay,
  payCertificate,
  payNotice,
  payableNotices,
  post,
  startSwitch,
  strictlyIncreasing,
  subscribe,
  terminalLogin,
  twoTerminalsOfOneCounter,
  terminalsOfDistinctCounters,
  userToken,
  type Client,
  type DbEvent,
  type Switch,
  type WireEvent,
} from './support.js';

let sw: Switch;
const clients: Client[] = [];

beforeAll(async () => {
  sw = await startSwitch();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sw?.close();
});

async function sub(token: string, query: Record<string, string> = {}): Promise<Client> {
  const c = await subscribe(sw, { token, query });
  clients.push(c);
  return c;
}

const seqs = (events: { seq: number }[]) => events.map((e) => e.seq);

describe('who sees what', () => {
  // Filled by the scenario below, then checked by each test.
  let start: number;
  let booked: DbEvent[];
  let c1: string, t1: string, t2: string, c2: string, t3: string;
  const receipts = new Map<string, { terminal: string; service: string; channel: string }>();
  let reversedId: string;
  let isoRrn = '';
  const got: Record<string, Client> = {};

  beforeAll(async () => {
    [c1, t1, t2] = twoTerminalsOfOneCounter(sw);
    const other = terminalsOfDistinctCounters(sw, 50).find((t) => t.counterId !== c1)!;
    c2 = other.counterId;
    t3 = other.terminalId;

    // Tokens as clients get them: terminals by their secret, users by password.
    const [tok1, tok2, tok3, finance, pisa, prato] = await Promise.all([
      terminalLogin(sw, t1),
      terminalLogin(sw, t2),
      terminalLogin(sw, t3),
      login(sw, 'finance'),
      login(sw, 'ente-pisa'),
      login(sw, 'ente-prato'),
    ]);

    // Everyone subscribes (and is live) before anything is booked.
    got.finance = await sub(finance);
    got.admin = await sub(userToken(sw, 'admin'));
    got.pisa = await sub(pisa);
    got.prato = await sub(prato);
    got.t1 = await sub(tok1);
    got.t1counter = await sub(tok1, { scope: 'counter' });
    got.t2 = await sub(tok2);
    got.t3 = await sub(tok3);
    got.t3counter = await sub(tok3, { scope: 'counter' });
    got.fService = await sub(finance, { service: 'TARIPISA' });
    got.fEntity = await sub(finance, { entity: 'PRATO' });
    got.fCounter = await sub(finance, { counter: c1 });
    got.fType = await sub(finance, { type: 'payment.reversed' });
    got.fList = await sub(finance, { service: 'TARI, CERTIFICATI', type: 'payment.booked' });
    got.fNone = await sub(finance, { service: 'NOSUCH' });
    got.pisaAsksPrato = await sub(pisa, { entity: 'PRATO' }); // a filter cannot widen
    got.pisaService = await sub(pisa, { service: 'TARIPISA,TARI' });
    got.t1CounterPisa = await sub(tok1, { scope: 'counter', service: 'TARIPISA' });
    got.t1Counter2 = await sub(tok1, { counter: c2 }); // another counter's: nothing
    start = await maxSeq(sw);

    const pisaNotices = await payableNotices(sw, 'TARIPISA', 3);
    const tariNotices = await payableNotices(sw, 'TARI', 2);
    const note = (terminal: string, service: string, channel = 'json') => (r: Record<string, unknown>) => {
      receipts.set(r.paymentId as string, { terminal, service, channel });
      return r;
    };
    // T3 also works on the ISO 8583 channel: sign-on (an event of its own), a payment.
    const iso = await isoTerminal(sw, t3);
    const signOn = await iso.signOn();
    expect(signOn.code).toBe('00');
    await Promise.all([
      payNotice(sw, tok1, 'TARIPISA', pisaNotices[0]!).then(note(t1, 'TARIPISA')),
      payNotice(sw, tok1, 'TARI', tariNotices[0]!).then(note(t1, 'TARI')),
      payNotice(sw, tok2, 'TARIPISA', pisaNotices[1]!).then(note(t2, 'TARIPISA')),
      payCertificate(sw, tok2).then(note(t2, 'CERTIFICATI')),
      payNotice(sw, tok3, 'TARI', tariNotices[1]!).then(note(t3, 'TARI')),
      payNotice(sw, tok3, 'TARIPISA', pisaNotices[2]!).then(note(t3, 'TARIPISA')),
      iso.pay({ service: 'CERTIFICATI', identifier: VALID_CF }, 100).then(({ response }) => {
        expect(response.code, response.tlv.get('ER') ?? '').toBe('00');
        isoRrn = response.fields.get(37)!;
      }),
    ]);
    expect((await iso.signOff()).code).toBe('00');
    iso.close();
    // T1 reverses its TARI payment: a payment.reversed event.
    reversedId = [...receipts].find(([, r]) => r.terminal === t1 && r.service === 'TARI')![0];
    const rev = await post(sw, tok1, `/v1/payments/${reversedId}/reversal`, {}, { 'idempotency-key': idemKey() });
    expect(rev.status, JSON.stringify(rev.body)).toBe(200);

    // Every booking has been answered, so every event has been published: after a
    // ping/pong round trip on each connection nothing more is on its way.
    await Promise.all(clients.map((c) => c.barrier()));
    booked = await dbEvents(sw, start);
    const isoEvent = booked.find((e) => e.type === 'payment.booked' && e.terminalId === t3 && e.serviceCode === 'CERTIFICATI')!;
    receipts.set(isoEvent.paymentId!, { terminal: t3, service: 'CERTIFICATI', channel: 'iso8583' });
  });

  const expectSeqs = (c: Client, expected: DbEvent[]) => {
    expect(strictlyIncreasing(c.events)).toBe(true);
    expect(seqs(c.events)).toEqual(seqs(expected));
  };

  it('books what the scenario says: 7 payments (one on ISO 8583), 1 reversal, an ISO sign-on and sign-off', () => {
    expect(booked.map((e) => e.type).sort()).toEqual(
      [...Array(7).fill('payment.booked'), 'payment.reversed', 'terminal.signed_on', 'terminal.signed_off'].sort(),
    );
    const paymentEvents = booked.filter((e) => e.type.startsWith('payment.'));
    expect(new Set(paymentEvents.map((e) => e.paymentId))).toEqual(new Set(receipts.keys()));
  });

  it('finance and admin see everything, in seq order, with the documented wire format', () => {
    expectSeqs(got.finance!, booked);
    expectSeqs(got.admin!, booked);
    for (const e of got.finance!.events) {
      // committedAt is optional (live events of a booking batch carry it; replayed ones do not).
      const { committedAt, ...rest } = e as typeof e & { committedAt?: unknown };
      expect(Object.keys(rest).sort()).toEqual(['at', 'data', 'seq', 'type']);
      if (committedAt !== undefined) {
        expect(typeof committedAt).toBe('number');
        // The wall clock's commit instant (for latency), not the switch's business clock.
        expect(Math.abs((committedAt as number) - Date.now())).toBeLessThan(600_000);
      }
      expect(new Date(e.at).toISOString()).toBe(e.at);
      if (e.type.startsWith('payment.')) expect(receipts.has(e.data.paymentId as string)).toBe(true);
    }
    const isoPayment = got.finance!.events.find((e) => e.data.channel === 'iso8583' && e.type === 'payment.booked')!;
    expect(isoPayment.data).toMatchObject({ rrn: isoRrn, terminalId: t3, service: 'CERTIFICATI', total: 200 });
    const sessions = got.finance!.events.filter((e) => e.type.startsWith('terminal.'));
    expect(sessions.map((e) => [e.type, e.data.terminalId, e.data.channel])).toEqual([
      ['terminal.signed_on', t3, 'iso8583'],
      ['terminal.signed_off', t3, 'iso8583'],
    ]);
    const channels = got.finance!.events.filter((e) => e.type === 'payment.booked').map((e) => e.data.channel);
    expect(channels.filter((c) => c === 'iso8583')).toHaveLength(1);
    expect(channels.filter((c) => c === 'json')).toHaveLength(6);
    const reversal = got.finance!.events.find((e) => e.type === 'payment.reversed')!;
    expect(reversal.data.paymentId).toBe(reversedId);
    expect(typeof reversal.data.reversedAt).toBe('string');
  });

  it('an entity sees only its own payments (no terminal sessions): Pisa only TARIPISA, Prato only TARI and CERTIFICATI', () => {
    expectSeqs(got.pisa!, booked.filter((e) => e.entityId === 'PISA'));
    expect(got.pisa!.events.map((e) => e.data.service)).toEqual(['TARIPISA', 'TARIPISA', 'TARIPISA']);
    expect(got.pisa!.events.every((e) => e.data.entityId === 'PISA')).toBe(true);

    expectSeqs(got.prato!, booked.filter((e) => e.entityId === 'PRATO'));
    expect(new Set(got.prato!.events.map((e) => e.data.service))).toEqual(new Set(['TARI', 'CERTIFICATI']));
    // Prato's 2 TARI + 2 certificates (one of them ISO 8583) + the TARI reversal.
    expect(got.prato!.events).toHaveLength(5);
  });

  it('a terminal sees only its own payments; with scope=counter its counter’s', () => {
    expectSeqs(got.t1!, booked.filter((e) => e.terminalId === t1));
    expect(got.t1!.events.map((e) => e.type)).toEqual(['payment.booked', 'payment.booked', 'payment.reversed']);
    expectSeqs(got.t2!, booked.filter((e) => e.terminalId === t2));
    expect(got.t2!.events).toHaveLength(2);
    expectSeqs(got.t3!, booked.filter((e) => e.terminalId === t3));
    // Its two JSON payments, and on ISO 8583 its sign-on, payment and sign-off.
    expect(got.t3!.events.map((e) => e.type).sort()).toEqual(
      ['payment.booked', 'payment.booked', 'payment.booked', 'terminal.signed_off', 'terminal.signed_on'],
    );

    expectSeqs(got.t1counter!, booked.filter((e) => e.counterId === c1));
    expect(new Set(got.t1counter!.events.map((e) => e.data.terminalId))).toEqual(new Set([t1, t2]));
    expect(got.t1counter!.events).toHaveLength(5);
    expectSeqs(got.t3counter!, booked.filter((e) => e.counterId === c2));
    expect(got.t3counter!.events).toHaveLength(5);
  });

  it('filters narrow: service, entity, counter, type, lists, and combinations', () => {
    expectSeqs(got.fService!, booked.filter((e) => e.serviceCode === 'TARIPISA'));
    expect(got.fService!.events).toHaveLength(3);
    expectSeqs(got.fEntity!, booked.filter((e) => e.entityId === 'PRATO'));
    expectSeqs(got.fCounter!, booked.filter((e) => e.counterId === c1));
    expectSeqs(got.fType!, booked.filter((e) => e.type === 'payment.reversed'));
    expect(got.fType!.events).toHaveLength(1);
    expectSeqs(
      got.fList!,
      booked.filter((e) => (e.serviceCode === 'TARI' || e.serviceCode === 'CERTIFICATI') && e.type === 'payment.booked'),
    );
    expect(got.fList!.events).toHaveLength(4);
    expect(got.fNone!.events).toEqual([]);
    expectSeqs(got.t1CounterPisa!, booked.filter((e) => e.counterId === c1 && e.serviceCode === 'TARIPISA'));
    expect(got.t1CounterPisa!.events).toHaveLength(2);
  });

  it('a filter never widens what a principal may see', () => {
    expect(got.pisaAsksPrato!.events).toEqual([]);
    expectSeqs(got.pisaService!, booked.filter((e) => e.entityId === 'PISA'));
    expect(got.t1Counter2!.events).toEqual([]);
  });

  it('every connection is still open and live', () => {
    for (const c of clients) expect(c.ws.readyState).toBe(c.ws.OPEN);
    expect(sw.server.stream.subscriberCount).toBe(clients.length);
  });
});

describe('ways to connect', () => {
  it('a browser can send the token as the subprotocol bearer.<token> (next to tserve.v1)', async () => {
    const c = connect(sw, { token: null, protocols: ['tserve.v1', `bearer.${userToken(sw, 'finance')}`] });
    clients.push(c);
    await c.opened;
    expect(c.ws.protocol).toBe('tserve.v1');
    const liveSeq = await c.live;
    expect(liveSeq).toBe(await maxSeq(sw));
    const t = terminalsOfDistinctCounters(sw, 1, 60)[0]!;
    const r = await payCertificate(sw, await terminalLogin(sw, t.terminalId));
    await c.until((ev: WireEvent[]) => ev.some((e) => e.data.paymentId === r.paymentId), 'the new payment');
    expect(c.events.at(-1)!.data.paymentId).toBe(r.paymentId);
  });

  it('with ?after= a client replays from there, then goes live without a gap or a duplicate', async () => {
    const all = await dbEvents(sw, 0);
    expect(all.length).toBeGreaterThanOrEqual(9);
    const from = all[2]!.seq;
    const c = connect(sw, { token: userToken(sw, 'finance'), query: { after: String(from) } });
    clients.push(c);
    await c.opened;
    const live = await c.live;
    expect(live).toBe(all.at(-1)!.seq);
    const t = terminalsOfDistinctCounters(sw, 1, 61)[0]!;
    const r = await pay(sw, await terminalLogin(sw, t.terminalId), { service: 'CERTIFICATI', identifier: VALID_CF, amount: 100 });
    await c.until((ev) => ev.some((e) => e.data.paymentId === r.paymentId), 'the new payment');
    await c.barrier();
    expect(seqs(c.events)).toEqual(seqs(await dbEvents(sw, from)));
  });
});
