// Issue #3 acceptance over a real TCP socket (terminal-protocol.md §1): sign-on and
// session keys, inquiry, payment, retransmission, reversals and advices, the 58/63
// refusals, reconciliation, echo, sign-off, and pipelined requests matched by 41 + 11.
// Every outcome is checked on the wire (fields, MAC under the key §1.7 names) and,
// where something could have been booked, in the store itself (SQLite file or PostgreSQL database).
import './quiet.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TerminalKeys } from '../../src/auth/terminal-keys.js';
import { decode, verifyMac } from '../../terminals/iso8583/index.js';
import { deriveSignonKey, deriveWrapKey, unwrapSessionKey } from '../../terminals/keys.js';
import { IsoServer } from '../../terminals/server.js';
import { getField, getTag, monthDayOf, toWire } from '../../terminals/iso8583/index.js';
import { IsoTerminal, reconciliationFields, transmissionTime } from '../../terminals/simulator/client.js';
import type { Payments } from '../../src/payments/service.js';
import { api } from '../helpers/harness.js';
import { testToday } from '../helpers/clock.js';
import { addDays } from '../../src/domain/calendar.js';
import {
  flipMac,
  jsonText,
  ledgerEntryCount,
  optionPaid,
  parse,
  RawConn,
  paymentByRrn,
  paymentCount,
  paymentsOfOption,
  reversalFields,
  setup,
  txnFields,
  why,
  type Ctx,
  type Notice,
} from './support.js';

let ctx: Ctx;

beforeAll(async () => {
  ctx = await setup();
});

afterAll(async () => {
  await ctx?.close();
});

const id = (n: Notice) => ({ service: n.service, identifier: n.notice });
const ZERO_TOTALS = { count: 0, amountCents: 0, reversalCount: 0, reversalAmountCents: 0 };
const networkFields = (t: IsoTerminal, code: '001' | '002' | '301') => ({ 7: transmissionTime(t.now()), 11: t.nextStan(), 41: t.f41, 70: code });

/** Fields of the request a response must echo (§1.5: 3, 4, 7, 11, 41, 42, 49, 70 where present). */
function expectEchoed(request: Buffer, response: Map<number, string>): void {
  const req = decode(request);
  for (const n of [3, 4, 7, 11, 41, 42, 49, 70]) {
    if (req.fields.has(n)) expect(response.get(n), `field ${n} echoed`).toBe(req.fields.get(n));
  }
}

describe('sign-on (0800/001)', () => {
  it('answers 0810 00 MACed with K_signon, with an SK that unwraps to a 32-byte key which then MACs both ways', async () => {
    const t = await ctx.terminal();
    const { tmk, terminalId } = t.creds;
    const conn = await ctx.raw();
    const req = t.pack('0800', networkFields(t, '001'));
    conn.send(req.packed);
    const r = parse((await conn.next())!);
    expect(r.mti).toBe('0810');
    expect(r.code, why(r)).toBe('00');
    expectEchoed(req.packed, r.fields);
    expect(verifyMac(r.packed, r, deriveSignonKey(tmk))).toBe(true);
    const sk = r.tlv.get('SK')!;
    expect(sk).toMatch(/^[0-9A-F]{120}$/);
    const key = unwrapSessionKey(deriveWrapKey(tmk), terminalId, sk);
    expect(key.length).toBe(32);
    // The wrapped key is bound to the terminal id (additional data) and to K_wrap.
    expect(() => unwrapSessionKey(deriveWrapKey(tmk), 'T9999', sk)).toThrow();
    expect(() => unwrapSessionKey(deriveSignonKey(tmk), terminalId, sk)).toThrow();

    // The session key is now in force for everything else, both ways.
    const echo = t.pack('0800', networkFields(t, '301'), key);
    conn.send(echo.packed);
    const e = parse((await conn.next())!);
    expect(e.code, why(e)).toBe('00');
    expect(verifyMac(e.packed, e, key)).toBe(true);
    expect(verifyMac(e.packed, e, deriveSignonKey(tmk))).toBe(false);
  });

  it('a repeated sign-on replaces the session key: the old one then gets 63', async () => {
    const t = await ctx.signedOn();
    const first = t.sessionKey!;
    const again = await t.signOn();
    expect(again.code, why(again)).toBe('00');
    expect(again.macOk).toBe(true);
    const second = t.sessionKey!;
    expect(second.equals(first)).toBe(false);
    const stale = t.pack('0800', networkFields(t, '301'), first);
    const r = await t.sendRaw(stale.packed, stale.stan);
    expect(r.code, why(r)).toBe('63');
    expect(r.tlv.get('ER')).toBe('BAD_MAC');
    expect((await t.echo()).code).toBe('00');
  });
});

describe('inquiry (0100 → 0110)', () => {
  it('answers the amount due in 4, the fee in 28 and EN/DS/DD/AD in 48, books nothing', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const fields = txnFields(t, '300000', 0, n);
    const { sent, response: r } = await t.request('0100', fields);
    expect(r.mti).toBe('0110');
    expect(r.code, why(r)).toBe('00');
    expect(r.macOk).toBe(true);
    expect(getField(r, 4)).toBe(n.amount);
    // The same terminal asks the JSON API: the fee must be the one the ISO side quotes.
    const verify = await api(ctx.h)
      .post('/v1/verify')
      .set('Authorization', `Bearer ${ctx.h.terminalToken(t.creds.terminalId)}`)
      .send(id(n));
    expect(verify.status, verify.text).toBe(200);
    expect(getField(r, 28)).toBe(verify.body.fee);
    expect(verify.body.fee).toBeGreaterThan(0);
    expect(r.tlv.get('EN')).toBe(n.entityName);
    expect(r.tlv.get('DS')).toBe(n.description.slice(0, 140));
    expect(getTag(r.tlv, 'DD')).toBe(n.dueDate);
    expect(getTag(r.tlv, 'AD')).toBe(n.amount);
    expect(r.tlv.has('ER')).toBe(false);
    for (const n of [3, 7, 11, 41, 42, 49]) expect(r.fields.get(n), `field ${n}`).toBe(fields[n]);
    expect(sent.stan).toBe(fields[11]);
    expect(await paymentCount(ctx.db, n.optionId)).toBe(0);
  });
});

describe('inquiry of a late bollo auto', () => {
  it('the 0110 carries the breakdown in 48 (TX tax, SN sanction, IN interest, DL days late), summing to AD', async () => {
    const t = await ctx.signedOn();
    const row = (await ctx.db.get<{ lookupKey: string; amount: number }>(
      `SELECT o.lookup_key AS "lookupKey", o.amount_cents AS amount FROM payment_options o JOIN debt_positions p ON p.id = o.position_id
       WHERE p.service_code = 'BOLLO' AND p.status = 'VALID' AND o.paid_payment_id IS NULL
         AND ${jsonText('o.rule_params', 'dueDate')} < ? ORDER BY o.id LIMIT 1`,
      addDays(testToday(), -20),
    ))!;
    const [plate, vehicleType] = row.lookupKey.split('/') as [string, string];
    const r = await t.inquiry({ service: 'BOLLO', identifier: plate, vehicleType });
    expect(r.code, why(r)).toBe('00');
    const [ad, tx, sn, inte, dl] = (['AD', 'TX', 'SN', 'IN', 'DL'] as const).map((tag) => getTag(r.tlv, tag));
    expect(tx).toBe(row.amount);
    expect(dl).toBeGreaterThan(20);
    expect(sn).toBeGreaterThan(0);
    expect(inte).toBeGreaterThan(0);
    expect(tx! + sn! + inte!).toBe(ad);
    expect(getField(r, 4)).toBe(ad);
  });
});

describe('payment (0200 → 0210)', () => {
  it('books and answers 15, 28, 37, 38 and 48 RN, MACed with the session key', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const inquiry = await t.inquiry(id(n));
    expect(inquiry.code, why(inquiry)).toBe('00');
    const fee = getField(inquiry, 28)!;
    const conn = await ctx.raw();
    const req = t.pack('0200', { ...txnFields(t, '500000', n.amount, n), 28: toWire(28, fee) });
    conn.send(req.packed);
    const r = parse((await conn.next())!);
    expect(r.mti).toBe('0210');
    expect(r.code, why(r)).toBe('00');
    expect(verifyMac(r.packed, r, t.sessionKey!)).toBe(true);
    expect(verifyMac(r.packed, r, deriveSignonKey(t.creds.tmk))).toBe(false);
    expectEchoed(req.packed, r.fields);

    const row = await paymentByRrn(ctx.db, r.fields.get(37)!);
    expect(row).toBeDefined();
    expect(row!.option_id).toBe(n.optionId);
    expect(row!.channel).toBe('iso8583');
    expect(row!.terminal_id).toBe(t.creds.terminalId);
    expect(row!.stan).toBe(req.stan);
    expect(row!.amount_cents).toBe(n.amount);
    expect(row!.fee_cents).toBe(fee);
    expect(r.fields.get(37)).toMatch(/^.{12}$/);
    expect(r.fields.get(38)).toBe(row!.approval_code);
    expect(r.fields.get(38)).toMatch(/^[0-9A-Z]{6}$/);
    expect(getField(r, 15)).toEqual(monthDayOf(row!.settlement_date));
    expect(getField(r, 28)).toBe(fee);
    expect(r.tlv.get('RN')).toBe(row!.receipt_number);
    expect(await optionPaid(ctx.db, n.optionId)).toBe(true);
  });

  it('a retransmitted 0200 (same bytes) gets the same 37/38 and books nothing', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { sent, response: first } = await t.pay(id(n), n.amount);
    expect(first.code, why(first)).toBe('00');
    const before = await paymentCount(ctx.db);
    const again = await t.sendRaw(sent.packed, sent.stan);
    expect(again.code, why(again)).toBe('00');
    expect(again.macOk).toBe(true);
    for (const f of [15, 28, 37, 38, 48]) expect(again.fields.get(f), `field ${f}`).toBe(first.fields.get(f));
    expect(await paymentCount(ctx.db)).toBe(before);
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(1);
  });

  it('different content under the same STAN and field 7 gets 94 and books nothing', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const other = await ctx.notices.take();
    const { sent, response: first } = await t.pay(id(n), n.amount);
    expect(first.code, why(first)).toBe('00');
    const fields = Object.fromEntries(decode(sent.packed).fields) as Record<number, string>;
    delete fields[64];
    const changed = t.pack('0200', { ...fields, 4: toWire(4, other.amount), 48: txnFields(t, '500000', other.amount, other)[48]! });
    expect(changed.stan).toBe(sent.stan);
    expect(changed.f7).toBe(sent.f7);
    const r = await t.sendRaw(changed.packed, changed.stan);
    expect(r.mti).toBe('0210');
    expect(r.code, why(r)).toBe('94');
    expect(r.tlv.get('ER')).toBe('DUPLICATE');
    expect(r.macOk).toBe(true);
    expect(r.fields.has(37)).toBe(false);
    expect(await paymentCount(ctx.db, other.optionId)).toBe(0);
    expect(await optionPaid(ctx.db, other.optionId)).toBe(false);
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(1);
  });
});

describe('reversal (0400 / 0420 / 0421)', () => {
  it('0400 → 0410 00, and the notice is payable again', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { sent, response: paid } = await t.pay(id(n), n.amount);
    expect(paid.code, why(paid)).toBe('00');
    const rev = await t.reverse(sent, n.amount, '0400');
    expect(rev.mti).toBe('0410');
    expect(rev.code, why(rev)).toBe('00');
    expect(rev.macOk).toBe(true);
    expect((await paymentByRrn(ctx.db, paid.fields.get(37)!))!.reversed_at).not.toBeNull();
    expect(await optionPaid(ctx.db, n.optionId)).toBe(false);

    const inquiry = await t.inquiry(id(n));
    expect(inquiry.code, why(inquiry)).toBe('00');
    const { response: again } = await t.pay(id(n), n.amount);
    expect(again.code, why(again)).toBe('00');
    expect(again.fields.get(37)).not.toBe(paid.fields.get(37));
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(2);
    expect(await optionPaid(ctx.db, n.optionId)).toBe(true);
  });

  it('a second 0400 of the same payment → 00 and changes nothing', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { sent, response: paid } = await t.pay(id(n), n.amount);
    expect(paid.code, why(paid)).toBe('00');
    expect((await t.reverse(sent, n.amount, '0400')).code).toBe('00');
    // The notice is paid again (by another payment) before the second reversal comes.
    const { response: repaid } = await t.pay(id(n), n.amount);
    expect(repaid.code, why(repaid)).toBe('00');
    const original = (await paymentByRrn(ctx.db, paid.fields.get(37)!))!;
    const entries = await ledgerEntryCount(ctx.db, original.id);
    const total = await paymentCount(ctx.db);

    const second = await t.reverse(sent, n.amount, '0400');
    expect(second.mti).toBe('0410');
    expect(second.code, why(second)).toBe('00');
    expect(second.macOk).toBe(true);
    expect(await paymentByRrn(ctx.db, paid.fields.get(37)!)).toEqual(original);
    expect(await ledgerEntryCount(ctx.db, original.id)).toBe(entries);
    expect(await paymentCount(ctx.db)).toBe(total);
    expect((await paymentByRrn(ctx.db, repaid.fields.get(37)!))!.reversed_at).toBeNull();
    expect(await optionPaid(ctx.db, n.optionId)).toBe(true);
  });

  it('a 0400 for an unknown original → 25 ORIGINAL_NOT_FOUND', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const never = t.pack('0200', txnFields(t, '500000', n.amount, n)); // never sent
    const total = await paymentCount(ctx.db);
    const r = await t.reverse(never, n.amount, '0400');
    expect(r.mti).toBe('0410');
    expect(r.code, why(r)).toBe('25');
    expect(r.tlv.get('ER')).toBe('ORIGINAL_NOT_FOUND');
    expect(r.macOk).toBe(true);
    expect(await paymentCount(ctx.db)).toBe(total);
  });

  it('a 0420 for an unknown original → 00; that 0200 arriving later → 12 ALREADY_REVERSED; 0421 repeat → 00', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const late = t.pack('0200', txnFields(t, '500000', n.amount, n)); // held back, as if lost in the network
    const advice = await t.reverse(late, n.amount, '0420');
    expect(advice.mti).toBe('0430');
    expect(advice.code, why(advice)).toBe('00');
    expect(advice.macOk).toBe(true);
    const repeat = await t.reverse(late, n.amount, '0421');
    expect(repeat.mti).toBe('0430');
    expect(repeat.code, why(repeat)).toBe('00');

    const r = await t.sendRaw(late.packed, late.stan);
    expect(r.mti).toBe('0210');
    expect(r.code, why(r)).toBe('12');
    expect(r.tlv.get('ER')).toBe('ALREADY_REVERSED');
    expect(r.macOk).toBe(true);
    expect(r.fields.has(37)).toBe(false);
    expect(await paymentCount(ctx.db, n.optionId)).toBe(0);
    expect(await optionPaid(ctx.db, n.optionId)).toBe(false);
    // The notice itself is still payable (under another STAN).
    const { response: other } = await t.pay(id(n), n.amount);
    expect(other.code, why(other)).toBe('00');
  });

  it('after a 0420 for an unknown original, that 0200 → 12 ALREADY_REVERSED whatever else is true of it', async () => {
    const t = await ctx.signedOn();
    const other = await ctx.signedOn();
    // (a) The notice was paid at another terminal in the meantime: 12, not 80.
    const paidSince = await ctx.notices.take();
    const lateA = t.pack('0200', txnFields(t, '500000', paidSince.amount, paidSince));
    expect((await t.reverse(lateA, paidSince.amount, '0420')).code).toBe('00');
    const { response: elsewhere } = await other.pay(id(paidSince), paidSince.amount);
    expect(elsewhere.code, why(elsewhere)).toBe('00');
    const a = await t.sendRaw(lateA.packed, lateA.stan);
    expect([a.code, a.tlv.get('ER')], why(a)).toEqual(['12', 'ALREADY_REVERSED']);
    // (b) The amount is not the amount due: 12, not 13.
    const wrongAmount = await ctx.notices.take();
    const lateB = t.pack('0200', txnFields(t, '500000', wrongAmount.amount + 1, wrongAmount));
    expect((await t.reverse(lateB, wrongAmount.amount + 1, '0420')).code).toBe('00');
    const b = await t.sendRaw(lateB.packed, lateB.stan);
    expect([b.code, b.tlv.get('ER')], why(b)).toEqual(['12', 'ALREADY_REVERSED']);
    expect(b.macOk).toBe(true);
    expect(await paymentCount(ctx.db, wrongAmount.optionId)).toBe(0);
    expect((await paymentsOfOption(ctx.db, paidSince.optionId)).map((p) => p.terminal_id)).toEqual([other.creds.terminalId]);
  });

  it('a 0420 of a booked payment reverses it; the 0421 repeat → 00 and changes nothing', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { sent, response: paid } = await t.pay(id(n), n.amount);
    expect(paid.code, why(paid)).toBe('00');
    const advice = await t.reverse(sent, n.amount, '0420');
    expect(advice.mti).toBe('0430');
    expect(advice.code, why(advice)).toBe('00');
    const reversed = (await paymentByRrn(ctx.db, paid.fields.get(37)!))!;
    expect(reversed.reversed_at).not.toBeNull();
    const entries = await ledgerEntryCount(ctx.db, reversed.id);
    const repeat = await t.reverse(sent, n.amount, '0421');
    expect(repeat.mti).toBe('0430');
    expect(repeat.code, why(repeat)).toBe('00');
    expect(repeat.macOk).toBe(true);
    expect(await paymentByRrn(ctx.db, paid.fields.get(37)!)).toEqual(reversed);
    expect(await ledgerEntryCount(ctx.db, reversed.id)).toBe(entries);
  });

  it('from another terminal (same field 90) → 25; with a different amount → 13; neither reverses', async () => {
    const a = await ctx.signedOn();
    const b = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { sent, response: paid } = await a.pay(id(n), n.amount);
    expect(paid.code, why(paid)).toBe('00');

    const foreign = await b.reverse(sent, n.amount, '0400');
    expect(foreign.code, why(foreign)).toBe('25');
    expect(foreign.tlv.get('ER')).toBe('ORIGINAL_NOT_FOUND');
    expect(foreign.macOk).toBe(true);
    expect(foreign.fields.get(41)).toBe(b.f41);

    const wrongAmount = await a.reverse(sent, n.amount + 1, '0400');
    expect(wrongAmount.code, why(wrongAmount)).toBe('13');
    expect(wrongAmount.tlv.get('ER')).toBe('AMOUNT_MISMATCH');
    expect(wrongAmount.macOk).toBe(true);

    expect((await paymentByRrn(ctx.db, paid.fields.get(37)!))!.reversed_at).toBeNull();
    expect(await optionPaid(ctx.db, n.optionId)).toBe(true);
    // The right terminal with the right amount can reverse it.
    expect((await a.reverse(sent, n.amount, '0400')).code).toBe('00');
    expect((await paymentByRrn(ctx.db, paid.fields.get(37)!))!.reversed_at).not.toBeNull();
  });
});

describe('58: not signed on, blocked, suspended', () => {
  it('before sign-on, 0100/0200/0400/0500 get 58 NOT_SIGNED_ON MACed with K_signon, and nothing is booked', async () => {
    const t = await ctx.terminal();
    const n = await ctx.notices.take();
    const conn = await ctx.raw();
    const kSignon = deriveSignonKey(t.creds.tmk);
    const pay = t.pack('0200', txnFields(t, '500000', n.amount, n));
    const requests = [
      t.pack('0100', txnFields(t, '300000', 0, n)),
      pay,
      t.pack('0400', reversalFields(t, pay, n.amount)),
      t.pack('0500', { 7: transmissionTime(t.now()), 11: t.nextStan(), 41: t.f41, 42: t.f42, ...reconciliationFields(testToday(), ZERO_TOTALS) }),
      // MACed with some other key: still 58, not 63 (there is no session to check against).
      t.pack('0200', txnFields(t, '500000', n.amount, n), Buffer.alloc(32, 7)),
    ];
    const total = await paymentCount(ctx.db);
    for (const req of requests) {
      conn.send(req.packed);
      const r = parse((await conn.next())!);
      expect(r.mti).toBe(`${req.mti.slice(0, 2)}${Number(req.mti[2]) + 1}0`);
      expect(r.code, `${req.mti}: ${why(r)}`).toBe('58');
      expect(r.tlv.get('ER')).toBe('NOT_SIGNED_ON');
      expect(r.fields.get(11)).toBe(req.stan);
      expect(verifyMac(r.packed, r, kSignon), `${req.mti} MAC under K_signon`).toBe(true);
    }
    expect(await paymentCount(ctx.db)).toBe(total);
    expect(await optionPaid(ctx.db, n.optionId)).toBe(false);
  });

  it('a blocked terminal gets 58 TERMINAL_BLOCKED at sign-on (no SK), and its old session books nothing', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const terminalId = t.creds.terminalId;
    expect(await ctx.h.rt.store.setTerminalStatus(terminalId, 'blocked', { actor: 'test', action: 'block', target: terminalId })).toBe(true);
    const conn = await ctx.raw();
    const signOn = t.pack('0800', networkFields(t, '001'));
    conn.send(signOn.packed);
    const r = parse((await conn.next())!);
    expect(r.mti).toBe('0810');
    expect(r.code, why(r)).toBe('58');
    expect(r.tlv.get('ER')).toBe('TERMINAL_BLOCKED');
    expect(r.tlv.has('SK')).toBe(false);
    expect(verifyMac(r.packed, r, deriveSignonKey(t.creds.tmk))).toBe(true);

    const { response: pay } = await t.pay(id(n), n.amount);
    expect(pay.code, why(pay)).toBe('58');
    expect(pay.tlv.get('ER')).toBe('TERMINAL_BLOCKED');
    expect(await paymentCount(ctx.db, n.optionId)).toBe(0);
  });

  it('a terminal of a suspended counter gets 58 at sign-on', async () => {
    const t = await ctx.terminal();
    const counterId = t.creds.counterId;
    expect(await ctx.h.rt.store.setCounterStatus(counterId, 'suspended', { actor: 'test', action: 'suspend', target: counterId })).toBe(true);
    const r = await t.signOn();
    expect(r.mti).toBe('0810');
    expect(r.code, why(r)).toBe('58');
    expect(r.tlv.has('SK')).toBe(false);
    expect(r.macOk).toBe(true);
    expect(t.sessionKey).toBeNull();
  });
});

describe('63: bad MAC', () => {
  it('a 0200 with one MAC character flipped gets 63 BAD_MAC under the session key and is not processed', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const conn = await ctx.raw();
    const good = t.pack('0200', txnFields(t, '500000', n.amount, n));
    const total = await paymentCount(ctx.db);
    conn.send(flipMac(good.packed));
    const r = parse((await conn.next())!);
    expect(r.mti).toBe('0210');
    expect(r.code, why(r)).toBe('63');
    expect(r.tlv.get('ER')).toBe('BAD_MAC');
    expect(r.fields.get(11)).toBe(good.stan);
    expect(verifyMac(r.packed, r, t.sessionKey!)).toBe(true);
    expect(await paymentCount(ctx.db)).toBe(total);
    expect(await paymentCount(ctx.db, n.optionId)).toBe(0);
    expect(await optionPaid(ctx.db, n.optionId)).toBe(false);

    // MACed with K_signon instead of the session key: 63 as well.
    const wrongKey = t.pack('0200', txnFields(t, '500000', n.amount, n), deriveSignonKey(t.creds.tmk));
    conn.send(wrongKey.packed);
    const w = parse((await conn.next())!);
    expect(w.code, why(w)).toBe('63');
    expect(await paymentCount(ctx.db, n.optionId)).toBe(0);

    // The intact message (same STAN and field 7) is then booked: the bad one left no trace.
    conn.send(good.packed);
    const ok = parse((await conn.next())!);
    expect(ok.code, why(ok)).toBe('00');
    expect(await paymentCount(ctx.db, n.optionId)).toBe(1);
  });

  it('a sign-on with a bad MAC gets 63 under K_signon and does not replace the session', async () => {
    const t = await ctx.signedOn();
    const key = t.sessionKey!;
    const conn = await ctx.raw();
    const signOn = t.pack('0800', networkFields(t, '001'));
    conn.send(flipMac(signOn.packed));
    const r = parse((await conn.next())!);
    expect(r.mti).toBe('0810');
    expect(r.code, why(r)).toBe('63');
    expect(r.tlv.has('SK')).toBe(false);
    expect(verifyMac(r.packed, r, deriveSignonKey(t.creds.tmk))).toBe(true);
    const echo = t.pack('0800', networkFields(t, '301'), key);
    conn.send(echo.packed);
    const e = parse((await conn.next())!);
    expect(e.code, why(e)).toBe('00');
    expect(verifyMac(e.packed, e, key)).toBe(true);
  });
});

describe('reconciliation (0500 → 0510)', () => {
  it('in balance → 00, out of balance → 95 OUT_OF_BALANCE, both with ST = the switch totals', async () => {
    const t = await ctx.signedOn();
    const [n1, n2] = [await ctx.notices.take(), await ctx.notices.take()];
    const { sent: s1, response: p1 } = await t.pay(id(n1), n1.amount);
    const { response: p2 } = await t.pay(id(n2), n2.amount);
    expect([p1.code, p2.code]).toEqual(['00', '00']);
    expect((await t.reverse(s1, n1.amount, '0400')).code).toBe('00');

    const totals = { count: 2, amountCents: n1.amount + n2.amount, reversalCount: 1, reversalAmountCents: n1.amount };
    const day = testToday();
    const ok = await t.reconcile(day, totals);
    expect(ok.mti).toBe('0510');
    expect(ok.code, why(ok)).toBe('00');
    expect(ok.macOk).toBe(true);
    expect(getTag(ok.tlv, 'ST')).toEqual(totals);

    for (const off of [
      { ...totals, count: 3 },
      { ...totals, amountCents: totals.amountCents - 1 },
      { ...totals, reversalCount: 0 },
      { ...totals, reversalAmountCents: 0 },
    ]) {
      const r = await t.reconcile(day, off);
      expect(r.code, why(r)).toBe('95');
      expect(r.tlv.get('ER')).toBe('OUT_OF_BALANCE');
      expect(getTag(r.tlv, 'ST')).toEqual(totals);
      expect(r.macOk).toBe(true);
    }
  });

  it('a terminal with no payments today is in balance with zeros', async () => {
    const t = await ctx.signedOn();
    const r = await t.reconcile(testToday(), ZERO_TOTALS);
    expect(r.code, why(r)).toBe('00');
    expect(r.tlv.get('ST')).toBe('0'.repeat(52));
  });
});

describe('typed fields out of range: 30 FORMAT, nothing booked or reversed', () => {
  const zeros = '0'.repeat(22);

  it('a 0200 whose field 7 is no MMDDhhmmss (month 13, 30 February, hour 24) is refused, not booked under it', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    for (const f7 of ['1317093512', '0230093512', '0317243512']) {
      const r = await t.request('0200', { ...txnFields(t, '500000', n.amount, n), 7: f7 });
      expect(r.response.code, `${f7}: ${why(r.response)}`).toBe('30');
      expect(r.response.tlv.get('ER')).toBe('FORMAT');
    }
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(0);
  });

  it('a 0400 whose field 90 names no field 7, or is not followed by 22 zeros, is refused and reverses nothing', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { sent, response: paid } = await t.pay(id(n), n.amount);
    expect(paid.code, why(paid)).toBe('00');
    for (const f90 of [`0200${sent.stan}1317093512${zeros}`, `0200${sent.stan}${sent.f7}${zeros.slice(1)}1`]) {
      const r = await t.request('0400', { ...reversalFields(t, sent, n.amount), 90: f90 });
      expect(r.response.code, `${f90}: ${why(r.response)}`).toBe('30');
    }
    expect((await paymentByRrn(ctx.db, paid.fields.get(37)!))!.reversed_at).toBeNull();
    expect((await t.reverse(sent, n.amount, '0400')).code).toBe('00');
  });

  it('a 0500 whose field 13 is no MMDD, or whose amount is beyond 2^53 - 1 cents, is refused', async () => {
    const t = await ctx.signedOn();
    const base = { 7: transmissionTime(t.now()), 41: t.f41, 42: t.f42, ...reconciliationFields(testToday(), ZERO_TOTALS) };
    const bads: Record<number, string>[] = [{ 13: '1301' }, { 13: '0431' }, { 13: '0000' }, { 86: '9999999999999999' }];
    for (const bad of bads) {
      const r = await t.request('0500', { ...base, 11: t.nextStan(), ...bad });
      expect(r.response.code, `${JSON.stringify(bad)}: ${why(r.response)}`).toBe('30');
      expect(r.response.tlv.has('ST')).toBe(false);
    }
  });
});

describe('echo and sign-off', () => {
  it('echo 0800/301 → 0810 00 with 70 echoed, MACed with the session key', async () => {
    const t = await ctx.signedOn();
    const r = await t.echo();
    expect(r.mti).toBe('0810');
    expect(r.code, why(r)).toBe('00');
    expect(r.fields.get(70)).toBe('301');
    expect(r.tlv.has('SK')).toBe(false);
    expect(r.macOk).toBe(true);
  });

  it('after sign-off (0800/002) a 0200 gets 58 (with K_signon or the ended session key) and books nothing', async () => {
    const t = await ctx.signedOn();
    const ended = t.sessionKey!;
    const n = await ctx.notices.take();
    const off = await t.signOff();
    expect(off.mti).toBe('0810');
    expect(off.code, why(off)).toBe('00');
    expect(off.fields.get(70)).toBe('002');
    expect(off.macOk).toBe(true);

    const { response: r } = await t.pay(id(n), n.amount);
    expect(r.code, why(r)).toBe('58');
    expect(r.tlv.get('ER')).toBe('NOT_SIGNED_ON');
    expect(r.macOk).toBe(true); // the client, without a session, checks under K_signon
    const stale = t.pack('0200', txnFields(t, '500000', n.amount, n), ended);
    const s = await t.sendRaw(stale.packed, stale.stan);
    expect(s.code, why(s)).toBe('58');
    expect(await paymentCount(ctx.db, n.optionId)).toBe(0);
  });
});

describe('pipelining', () => {
  it('requests sent without waiting, two terminals on one connection with the same STANs, are answered and matched by 41 + 11', async () => {
    const a = await ctx.signedOn();
    const b = await ctx.signedOn();
    const conn = await ctx.raw();
    type Expect = (r: ReturnType<typeof parse>) => void | Promise<void>;
    const requests: { t: IsoTerminal; packed: Buffer; stan: string; mti: string; check: Expect }[] = [];
    const add = (t: IsoTerminal, mti: string, fields: Record<number, string>, check: Expect) => {
      const p = t.pack(mti, fields);
      requests.push({ t, packed: p.packed, stan: p.stan, mti, check });
    };
    for (const t of [a, b]) {
      // Both terminals use the same STANs (000501…): only field 41 tells their answers apart.
      const stans = [501, 502, 503, 504, 505, 506].map((s) => String(s).padStart(6, '0'));
      for (let i = 0; i < 4; i++) {
        const n = await ctx.notices.take();
        add(t, '0100', { ...txnFields(t, '300000', 0, n), 11: stans[i]! }, (r) => {
          expect(r.code, why(r)).toBe('00');
          expect(getField(r, 4)).toBe(n.amount);
          expect(getTag(r.tlv, 'AD')).toBe(n.amount);
        });
      }
      const n = await ctx.notices.take();
      add(t, '0200', { ...txnFields(t, '500000', n.amount, n), 11: stans[4]! }, async (r) => {
        expect(r.code, why(r)).toBe('00');
        const row = await paymentByRrn(ctx.db, r.fields.get(37)!);
        expect(row?.option_id).toBe(n.optionId);
        expect(row?.terminal_id).toBe(t.creds.terminalId);
      });
      add(t, '0800', { ...networkFields(t, '301'), 11: stans[5]! }, (r) => {
        expect(r.code, why(r)).toBe('00');
        expect(r.fields.get(70)).toBe('301');
      });
    }
    conn.send(...requests.map((r) => r.packed));
    const answers = (await conn.take(requests.length)).map(parse);
    const seen = new Set<string>();
    for (const r of answers) {
      const key = `${r.fields.get(41)}|${r.fields.get(11)}`;
      expect(seen.has(key), `one answer per request: ${key}`).toBe(false);
      seen.add(key);
      const req = requests.find((q) => q.t.f41 === r.fields.get(41) && q.stan === r.fields.get(11));
      expect(req, key).toBeDefined();
      expect(r.mti).toBe(`${req!.mti.slice(0, 2)}10`);
      expect(verifyMac(r.packed, r, req!.t.sessionKey!), `MAC of ${key} under its terminal's key`).toBe(true);
      await req!.check(r);
    }
    expect(seen.size).toBe(requests.length);
  });

  it('the client matches concurrent requests on one connection', async () => {
    const t = await ctx.signedOn();
    const notices = [await ctx.notices.take(), await ctx.notices.take(), await ctx.notices.take(), await ctx.notices.take()];
    const answers = await Promise.all(notices.map((n) => t.inquiry(id(n))));
    answers.forEach((r, i) => {
      expect(r.code, why(r)).toBe('00');
      expect(getField(r, 4)).toBe(notices[i]!.amount);
      expect(r.macOk).toBe(true);
    });
  });
});

describe('session key lifetime', () => {
  it('a session past its lifetime is gone: 58 again until a new sign-on', async () => {
    // A second listener on the same switch whose session keys live 0 ms.
    const iso = new IsoServer(ctx.h.payments, new TerminalKeys(ctx.h.rt.store, ctx.h.rt.kek), { host: '127.0.0.1', port: 0, sessionKeyTtlMs: 0 });
    const port = await iso.listen();
    const t = new IsoTerminal(ctx.creds(ctx.takeTerminalId()), { host: '127.0.0.1', port, timeoutMs: 20_000 });
    try {
      await t.connect();
      const on = await t.signOn();
      expect(on.code, why(on)).toBe('00');
      const n = await ctx.notices.take();
      const r = await t.inquiry(id(n));
      expect(r.code, why(r)).toBe('58');
      expect(r.tlv.get('ER')).toBe('NOT_SIGNED_ON');
    } finally {
      t.close();
      await iso.close();
    }
  });
});

describe('graceful close', () => {
  it('close() lets a request in flight be answered, then closes the connection and refuses new ones', async () => {
    // A second listener whose inquiries wait at a gate, so that one is surely in flight.
    let entered!: () => void;
    const inFlight = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const real = ctx.h.payments;
    const gated = new Proxy(real, {
      get(target, prop) {
        if (prop === 'verify') {
          return async (...args: Parameters<Payments['verify']>) => {
            entered();
            await gate;
            return target.verify(...args);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const iso = new IsoServer(gated, new TerminalKeys(ctx.h.rt.store, ctx.h.rt.kek), { host: '127.0.0.1', port: 0 });
    const port = await iso.listen();
    const t = new IsoTerminal(ctx.creds(ctx.takeTerminalId()), { host: '127.0.0.1', port, timeoutMs: 20_000 });
    await t.connect();
    expect((await t.signOn()).code).toBe('00');
    const n = await ctx.notices.take();
    const conn = await RawConn.open(port);
    const req = t.pack('0100', txnFields(t, '300000', 0, n));
    conn.send(req.packed);
    await inFlight;
    // A grace period far beyond the test timeout: only a close that waits for the
    // answer and then ends the connection by itself lets this test finish.
    const closing = iso.close(600_000);
    release();
    const r = parse((await conn.next())!);
    expect(r.code, why(r)).toBe('00');
    expect(r.fields.get(11)).toBe(req.stan);
    expect(getField(r, 4)).toBe(n.amount);
    expect(await conn.next()).toBeNull();
    t.close();
    await closing;
    await expect(RawConn.open(port)).rejects.toThrow();
  });
});

describe('after everything above', () => {
  it('the store invariants hold', async () => {
    const report = await ctx.h.rt.store.checkInvariants();
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checked.payments).toBeGreaterThan(0);
  });
});
