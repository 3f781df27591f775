// terminals/iso8583/EXAMPLES.md builds its responses by hand (it must be deterministic,
// so it cannot run the switch). This checks them against the switch's real answers over
// TCP: for each exchange of the examples, the real response has the same MTI, the same
// fields, the same field 48 tags in the same order, and its MAC under the same key.
import './quiet.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchanges, type Exchange } from '../../terminals/iso8583/examples.js';
import { getField } from '../../terminals/iso8583/spec.js';
import { parseTlv } from '../../terminals/iso8583/tlv.js';
import { transmissionTime, type Response, type Sent } from '../../terminals/simulator/client.js';
import { testToday } from '../helpers/clock.js';
import { setup, txnFields, why, type Ctx, type Notice } from './support.js';

let ctx: Ctx;

beforeAll(async () => {
  ctx = await setup();
});

afterAll(async () => {
  await ctx?.close();
});

const all = exchanges();
const example = (title: string): Exchange => {
  const x = all.find((e) => e.title.startsWith(title));
  if (!x) throw new Error(`no example ${title}`);
  return x;
};

/** The real response has the example's shape: MTI, field numbers, field 48 tags, 39. */
function sameShape(real: Response, x: Exchange): void {
  const ex = x.response.msg!;
  expect(real.mti, x.title).toBe(x.response.mti);
  expect(real.code, `${x.title}: ${real.mti} 39=${real.code} ER=${real.tlv.get('ER') ?? ''}`).toBe(ex.fields.get(39));
  expect([...real.fields.keys()], x.title).toEqual([...ex.fields.keys()]);
  const tags = ex.fields.has(48) ? [...parseTlv(ex.fields.get(48)!).keys()] : [];
  expect([...real.tlv.keys()], x.title).toEqual(tags);
  expect(real.macOk, `${x.title}: MAC under the ${x.response.key.name}`).toBe(true);
}

describe('the examples match what the switch sends', () => {
  it('sign-on, echo, inquiry, payment, reversal, reversal advice, a format error', async () => {
    const t = await ctx.terminal();
    const signOn = await t.signOn();
    sameShape(signOn, example('Sign-on'));
    expect(t.sessionKey).not.toBeNull();

    sameShape(await t.echo(), example('Echo'));

    // A notice with a due date, so that 0110 carries DD as the example does.
    let n: Notice = await ctx.notices.take();
    while (!n.dueDate) n = await ctx.notices.take();
    const inquiry = await t.inquiry({ service: n.service, identifier: n.notice });
    sameShape(inquiry, example('Payment inquiry'));

    const fee = getField(inquiry, 28)!;
    const { sent, response: paid } = await t.pay({ service: n.service, identifier: n.notice }, n.amount, fee);
    expect(getField(paid, 28)).toBe(fee);
    sameShape(paid, example('Bill payment'));

    sameShape(await t.reverse(sent, n.amount, '0400'), example('Reversal:'));

    // A 0200 that never reached the switch, then its advice.
    const lost: Sent = { mti: '0200', stan: t.nextStan(), f7: transmissionTime(t.now()), packed: Buffer.alloc(0) };
    sameShape(await t.reverse(lost, 8000, '0420'), example('Reversal advice'));

    // A 0200 with its bitmap in lowercase.
    const bad = t.pack('0200', txnFields(t, '500000', n.amount, n));
    const wire = bad.packed.toString('latin1');
    const broken = Buffer.from(wire.slice(0, 4) + wire.slice(4, 20).toLowerCase() + wire.slice(20), 'latin1');
    sameShape(await t.sendRaw(broken, bad.stan), example('A format error'));
  });

  it('reconciliation', async () => {
    // A terminal with nothing booked today is in balance with zeros, whatever the day.
    const t = await ctx.signedOn();
    const r = await t.reconcile(testToday(), { count: 0, amountCents: 0, reversalCount: 0, reversalAmountCents: 0 });
    expect(r.code, why(r)).toBe('00');
    sameShape(r, example('Reconciliation'));
  });
});
