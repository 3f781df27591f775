// Hex in lowercase over a real TCP socket (terminal-protocol.md §1.1–1.2, issue 9).
// Bitmaps and `b` fields (the MAC) are 16 UPPERCASE hex characters: lowercase is a
// format error. The frame is never processed; since its MTI, field 11 and field 41 can
// still be read (the bitmap is read case-insensitively for that alone), the terminal
// gets its response MTI with 39 = 30 and 48 ER = FORMAT, MACed with the key it should
// be using, and the connection stays open for the next request.
//
// A lowercase MAC is a format error (30), not a bad MAC (63): the frame does not parse
// as §1.2 writes it, so it is never MAC-checked, whatever its MAC would be in uppercase.
import './quiet.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeMac } from '../../terminals/keys.js';
import { decode, IsoError, type IsoErrorField } from '../../terminals/iso8583/index.js';
import type { IsoTerminal, Response, Sent } from '../../terminals/simulator/client.js';
import { paymentByRrn, paymentsOfOption, reversalFields, setup, txnFields, why, type Ctx, type Notice } from './support.js';

let ctx: Ctx;

beforeAll(async () => {
  ctx = await setup();
});

afterAll(async () => {
  await ctx?.close();
});

const id = (n: Notice) => ({ service: n.service, identifier: n.notice });
const latin1 = (b: Buffer): string => b.toString('latin1');

/** Lowercases the characters [from, to) of a packed message. */
function lowercase(packed: Buffer, from: number, to: number): Buffer {
  const s = latin1(packed);
  return Buffer.from(s.slice(0, from) + s.slice(from, to).toLowerCase() + s.slice(to), 'latin1');
}

/** Puts a correct MAC over the bytes as they are (so that only the format is at fault). */
function remac(packed: Buffer, key: Buffer): Buffer {
  const body = packed.subarray(0, packed.length - 16);
  return Buffer.concat([body, Buffer.from(computeMac(key, body), 'latin1')]);
}

/** The frame is malformed where we meant it to be. */
function expectRefused(packed: Buffer, field: IsoErrorField, offset: number): void {
  let err: unknown;
  try {
    decode(packed);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(IsoError);
  expect(err).toMatchObject({ field, offset });
}

/** A `30` carrying the request's 11 and 41, MACed with the key the terminal is using. */
function expectFormatError(r: Response, t: IsoTerminal, mti: string, stan: string): void {
  expect(r.mti).toBe(mti);
  expect(r.code, `${r.mti} 39=${r.code} ER=${r.tlv.get('ER') ?? ''}`).toBe('30');
  expect(r.tlv.get('ER')).toBe('FORMAT');
  expect(r.fields.get(11)).toBe(stan);
  expect(r.fields.get(41)).toBe(t.f41);
  expect(r.macOk, 'MAC of the 30').toBe(true);
}

/** A 0200 of terminal t for notice n, MACed, whose primary bitmap has a letter to lowercase. */
function payment(t: IsoTerminal, n: Notice): Sent {
  const sent = t.pack('0200', txnFields(t, '500000', n.amount, n));
  expect(latin1(sent.packed).slice(4, 20)).toMatch(/[A-F]/);
  return sent;
}

describe('a bitmap in lowercase hex', () => {
  it('0200 with a lowercase primary bitmap (MAC correct over the bytes sent) → 0210 30 with its 11 and 41; nothing booked; the connection serves the next request', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const sent = payment(t, n);
    const bad = remac(lowercase(sent.packed, 4, 20), t.sessionKey!);
    const first = latin1(sent.packed).slice(4, 20).search(/[A-F]/);
    expectRefused(bad, 'bitmap', 4 + first);

    const r = await t.sendRaw(bad, sent.stan);
    expectFormatError(r, t, '0210', sent.stan);
    expect([...r.fields.keys()]).toEqual([11, 39, 41, 48, 64]);
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(0);

    // Same connection: the next request (here the same payment, correctly encoded) is served.
    expect(t.connected).toBe(true);
    const ok = await t.sendRaw(sent.packed, sent.stan);
    expect(ok.code, why(ok)).toBe('00');
    expect(ok.macOk).toBe(true);
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(1);
  });

  it('0400 with a lowercase secondary bitmap → 0410 30; the payment is not reversed until a well-formed 0400 comes', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { sent: original, response: paid } = await t.pay(id(n), n.amount);
    expect(paid.code, why(paid)).toBe('00');

    const rev = t.pack('0400', reversalFields(t, original, n.amount));
    const wire = latin1(rev.packed);
    // Fields 90 and 128 give secondary bitmap 0000004000000001: no letter. The fields
    // above 64 that §1.3 defines never put one there (at most 6 in a digit), so a
    // lowercase secondary bitmap also sets a bit for an undefined field: here 89 (C = 89 + 90).
    expect(wire.slice(20, 36)).toBe('0000004000000001');
    const bad = remac(Buffer.from(wire.slice(0, 26) + 'c' + wire.slice(27), 'latin1'), t.sessionKey!);
    expectRefused(bad, 'secondary bitmap', 26);

    const r = await t.sendRaw(bad, rev.stan);
    expectFormatError(r, t, '0410', rev.stan);
    expect((await paymentByRrn(ctx.db, paid.fields.get(37)!))!.reversed_at).toBeNull();

    const ok = await t.sendRaw(rev.packed, rev.stan);
    expect(ok.code, why(ok)).toBe('00');
    expect((await paymentByRrn(ctx.db, paid.fields.get(37)!))!.reversed_at).not.toBeNull();
  });
});

describe('a MAC (b field) in lowercase hex', () => {
  it('0200 whose MAC is right but in lowercase → 0210 30, not 63; nothing booked; the uppercase one is then booked', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    let sent = payment(t, n);
    // A MAC of digits only has no lowercase form; take another STAN in that (rare) case.
    while (!/[A-F]/.test(latin1(sent.packed).slice(-16))) sent = payment(t, n);
    const bad = lowercase(sent.packed, sent.packed.length - 16, sent.packed.length);
    const firstLetter = latin1(sent.packed).slice(-16).search(/[A-F]/);
    expectRefused(bad, 64, sent.packed.length - 16 + firstLetter);

    const r = await t.sendRaw(bad, sent.stan);
    expectFormatError(r, t, '0210', sent.stan);
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(0);

    const ok = await t.sendRaw(sent.packed, sent.stan);
    expect(ok.code, why(ok)).toBe('00');
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(1);
  });

  it('a sign-on (0800/001) with its MAC in lowercase, from a terminal without a session → 0810 30 under K_signon, no SK; a well-formed sign-on then succeeds', async () => {
    const t = await ctx.terminal();
    let sent = t.pack('0800', { 7: '0317083000', 11: t.nextStan(), 41: t.f41, 70: '001' });
    while (!/[A-F]/.test(latin1(sent.packed).slice(-16))) sent = t.pack('0800', { 7: '0317083000', 11: t.nextStan(), 41: t.f41, 70: '001' });
    const bad = lowercase(sent.packed, sent.packed.length - 16, sent.packed.length);
    expectRefused(bad, 128, sent.packed.length - 16 + latin1(sent.packed).slice(-16).search(/[A-F]/));

    const r = await t.sendRaw(bad, sent.stan);
    expectFormatError(r, t, '0810', sent.stan);
    expect(r.tlv.has('SK')).toBe(false);
    // With no session the client checked r's MAC (macOk above) under K_signon.
    expect(t.sessionKey).toBeNull();

    const on = await t.signOn();
    expect(on.code, why(on)).toBe('00');
    expect(t.sessionKey).not.toBeNull();
  });
});

describe('after everything above', () => {
  it('the store invariants hold', async () => {
    const report = await ctx.h.rt.store.checkInvariants();
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
