// The ISO channel on the days that break naive code: a Sunday that is a holiday, the
// last seconds of the year and the first of the next. The switch's clock is injected
// and moved by the test; nothing here depends on the day the suite runs.
import './quiet.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { romeInstant } from '../../src/domain/calendar.js';
import { getTag } from '../../terminals/iso8583/index.js';
import { setup, why, type Ctx } from './support.js';

let now = romeInstant('2026-11-01', '12:00'); // Ognissanti, a Sunday
let ctx: Ctx;

beforeAll(async () => {
  ctx = await setup({ positions: 600, clock: () => now });
});

afterAll(async () => {
  await ctx?.close();
});

describe('0500 on a Sunday holiday and across New Year', () => {
  it("a Sunday's payments settle on Monday; its 0500 reconciles that business day: 00 with the terminal's totals", async () => {
    const t = await ctx.signedOn();
    const [n1, n2] = [await ctx.notices.take(), await ctx.notices.take()];
    const { sent: s1, response: p1 } = await t.pay({ service: n1.service, identifier: n1.notice }, n1.amount);
    const { response: p2 } = await t.pay({ service: n2.service, identifier: n2.notice }, n2.amount);
    expect([p1.code, p2.code], why(p1)).toEqual(['00', '00']);
    expect(p1.fields.get(15)).toBe('1102'); // Monday 2 November
    expect((await t.reverse(s1, n1.amount, '0400')).code).toBe('00');

    const sunday = { count: 2, amountCents: n1.amount + n2.amount, reversalCount: 1, reversalAmountCents: n1.amount };
    const r = await t.reconcile('2026-11-01', sunday);
    expect(r.code, why(r)).toBe('00');
    expect(getTag(r.tlv, 'ST')).toEqual(sunday);

    // Monday: the business day holds Sunday's payments and Monday's.
    now = romeInstant('2026-11-02', '09:00');
    const n3 = await ctx.notices.take();
    expect((await t.pay({ service: n3.service, identifier: n3.notice }, n3.amount)).response.code).toBe('00');
    const monday = { ...sunday, count: 3, amountCents: sunday.amountCents + n3.amount };
    expect((await t.reconcile('2026-11-02', monday)).code).toBe('00');
    expect((await t.reconcile('2026-11-02', sunday)).code).toBe('95');
  });

  it('a payment at 23:59:50 on 31 December is reconciled by a 0500 sent just after midnight naming 1231', async () => {
    now = romeInstant('2026-12-31', '23:59:50');
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { response } = await t.pay({ service: n.service, identifier: n.notice }, n.amount);
    expect(response.code, why(response)).toBe('00');
    expect(response.fields.get(15)).toBe('1231');
    now = romeInstant('2027-01-01', '00:00:10');
    const r = await t.reconcile('2026-12-31', { count: 1, amountCents: n.amount, reversalCount: 0, reversalAmountCents: 0 });
    expect(r.code, why(r)).toBe('00');
    // 1 January is a holiday and 2-3 January a weekend: a payment now settles on Monday 4.
    const n2 = await ctx.notices.take();
    const { response: jan } = await t.pay({ service: n2.service, identifier: n2.notice }, n2.amount);
    expect(jan.fields.get(15)).toBe('0104');
  });
});
