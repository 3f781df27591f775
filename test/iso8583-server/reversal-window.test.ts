// §1.5: a reversal is accepted until the settlement window of the original closes;
// after that `12` with `ER` `REVERSAL_WINDOW_CLOSED`, and the payment stays booked.
// The switch's payments clock is moved a week ahead between payment and reversal.
import './quiet.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settlementDate } from '../../src/domain/calendar.js';
import { optionPaid, paymentByRrn, setup, why, type Ctx } from './support.js';
import { testClock } from '../helpers/clock.js';

const WEEK_MS = 7 * 86_400_000;
let offset = 0;
const clock = () => testClock() + offset;
let ctx: Ctx;

beforeAll(async () => {
  ctx = await setup({ clock });
});

afterAll(async () => {
  await ctx?.close();
});

describe('reversal window', () => {
  it('0400 and 0420 after the window of the original closed → 12 REVERSAL_WINDOW_CLOSED; nothing is reversed', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { sent, response: paid } = await t.pay({ service: n.service, identifier: n.notice }, n.amount);
    expect(paid.code, why(paid)).toBe('00');
    const row = (await paymentByRrn(ctx.db, paid.fields.get(37)!))!;

    offset = WEEK_MS;
    expect(settlementDate(clock(), ctx.h.config.settlementCutoff)).not.toBe(row.settlement_date);
    // A week on the switch's clock: the session key (24 hours) has expired; sign on again.
    const stale = await t.reverse(sent, n.amount, '0400');
    expect(stale.code, why(stale)).toBe('58');
    expect((await t.signOn()).code).toBe('00');
    for (const mti of ['0400', '0420'] as const) {
      const r = await t.reverse(sent, n.amount, mti);
      expect(r.code, `${mti}: ${why(r)}`).toBe('12');
      expect(r.tlv.get('ER')).toBe('REVERSAL_WINDOW_CLOSED');
      expect(r.macOk).toBe(true);
    }
    expect((await paymentByRrn(ctx.db, paid.fields.get(37)!))!.reversed_at).toBeNull();
    expect(await optionPaid(ctx.db, n.optionId)).toBe(true);
  });

  it('the store invariants hold', async () => {
    const report = await ctx.h.rt.store.checkInvariants();
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
