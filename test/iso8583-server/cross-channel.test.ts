// ISO 8583 and JSON reach the same payments (terminal-protocol.md, preamble and §2): a
// payment made over ISO 8583 is read back over the JSON API, a notice paid on one
// channel cannot be paid again on the other (both directions), and a reversal on one
// channel is seen by the other.
import './quiet.js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getField, monthDayOf } from '../../terminals/iso8583/index.js';
import { transmissionTime, type IsoTerminal } from '../../terminals/simulator/client.js';
import { api } from '../helpers/harness.js';
import { optionPaid, paymentByRrn, paymentsOfOption, setup, why, type Ctx, type Notice } from './support.js';

let ctx: Ctx;

beforeAll(async () => {
  ctx = await setup();
});

afterAll(async () => {
  await ctx?.close();
});

const id = (n: Notice) => ({ service: n.service, identifier: n.notice });
const bearer = (t: IsoTerminal) => ({ Authorization: `Bearer ${ctx.h.terminalToken(t.creds.terminalId)}` });

function expectProblem(res: { status: number; text: string; headers: Record<string, string> }, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect((JSON.parse(res.text) as { code: string }).code, res.text).toBe(code);
}

describe('ISO 8583 → JSON', () => {
  it('a payment made over ISO 8583 is readable over the JSON API with its amount, fee, RRN and channel', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { sent, response: r } = await t.pay(id(n), n.amount);
    expect(r.code, why(r)).toBe('00');
    const rrn = r.fields.get(37)!;
    const row = (await paymentByRrn(ctx.db, rrn))!;
    expect(row).toBeDefined();

    const res = await api(ctx.h).get(`/v1/payments/${row.public_id}`).set(bearer(t));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      paymentId: row.public_id,
      amount: n.amount,
      fee: getField(r, 28),
      total: n.amount + getField(r, 28)!,
      rrn,
      approvalCode: r.fields.get(38),
      receiptNumber: r.tlv.get('RN'),
      channel: 'iso8583',
      status: 'BOOKED',
      terminalId: t.creds.terminalId,
      counterId: t.creds.counterId,
      service: n.service,
      reversedAt: null,
    });
    expect(getField(r, 15)).toEqual(monthDayOf((res.body as { settlementDate: string }).settlementDate));
    expect(sent.stan).toBe(row.stan);
  });

  it('a notice paid over ISO 8583 gets 409 NOTICE_ALREADY_PAID over JSON, and is booked once', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const { response: r } = await t.pay(id(n), n.amount);
    expect(r.code, why(r)).toBe('00');
    // The same terminal, and another one, try over JSON.
    const other = ctx.takeTerminalId();
    for (const token of [ctx.h.terminalToken(t.creds.terminalId), ctx.h.terminalToken(other)]) {
      const res = await api(ctx.h)
        .post('/v1/payments')
        .set({ Authorization: `Bearer ${token}`, 'Idempotency-Key': randomUUID() })
        .send({ ...id(n), amount: n.amount });
      expectProblem(res, 409, 'NOTICE_ALREADY_PAID');
    }
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(1);
  });
});

describe('JSON → ISO 8583', () => {
  it('a notice paid over JSON gets 80 NOTICE_ALREADY_PAID over ISO 8583, and is booked once', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const res = await api(ctx.h)
      .post('/v1/payments')
      .set({ ...bearer(t), 'Idempotency-Key': randomUUID() })
      .send({ ...id(n), amount: n.amount });
    expect(res.status, res.text).toBe(201);
    const { response: r } = await t.pay(id(n), n.amount);
    expect(r.mti).toBe('0210');
    expect(r.code, why(r)).toBe('80');
    expect(r.tlv.get('ER')).toBe('NOTICE_ALREADY_PAID');
    expect(r.macOk).toBe(true);
    expect(r.fields.has(37)).toBe(false);
    const rows = await paymentsOfOption(ctx.db, n.optionId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.channel).toBe('json');
  });
});

describe('reversals across channels', () => {
  it('an ISO 0400 shows as REVERSED over JSON; a JSON reversal of an ISO payment makes a later 0400 a no-op 00', async () => {
    const t = await ctx.signedOn();
    const [n1, n2] = [await ctx.notices.take(), await ctx.notices.take()];

    const { sent: s1, response: p1 } = await t.pay(id(n1), n1.amount);
    expect(p1.code, why(p1)).toBe('00');
    expect((await t.reverse(s1, n1.amount, '0400')).code).toBe('00');
    const row1 = (await paymentByRrn(ctx.db, p1.fields.get(37)!))!;
    const view = await api(ctx.h).get(`/v1/payments/${row1.public_id}`).set(bearer(t));
    expect(view.status, view.text).toBe(200);
    expect(view.body.status).toBe('REVERSED');
    expect(view.body.reversedAt).not.toBeNull();

    const { sent: s2, response: p2 } = await t.pay(id(n2), n2.amount);
    expect(p2.code, why(p2)).toBe('00');
    const row2 = (await paymentByRrn(ctx.db, p2.fields.get(37)!))!;
    const rev = await api(ctx.h)
      .post(`/v1/payments/${row2.public_id}/reversal`)
      .set({ ...bearer(t), 'Idempotency-Key': randomUUID() });
    expect(rev.status, rev.text).toBe(200);
    expect(rev.body.status).toBe('REVERSED');
    const reversed = (await paymentByRrn(ctx.db, p2.fields.get(37)!))!;
    const r = await t.reverse(s2, n2.amount, '0400');
    expect(r.code, why(r)).toBe('00');
    expect(await paymentByRrn(ctx.db, p2.fields.get(37)!)).toEqual(reversed);
    expect(await optionPaid(ctx.db, n2.optionId)).toBe(false);
  });
});

describe('the two channels never share a transaction key', () => {
  it('a JSON Idempotency-Key shaped like the ISO key of a 0200 is accepted but lives apart: no 0400 can name a JSON payment', async () => {
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    const f7 = transmissionTime(t.now());
    const stan = '000777';
    // Any 8–64 character key is the terminal's to choose (§2); JSON keys are kept in their own namespace.
    const paid = await api(ctx.h)
      .post('/v1/payments')
      .set({ ...bearer(t), 'Idempotency-Key': `iso:${f7}:${stan}` })
      .send({ ...id(n), amount: n.amount });
    expect(paid.status, paid.text).toBe(201);
    expect(await paymentsOfOption(ctx.db, n.optionId)).toHaveLength(1);
    const r = await t.reverse({ mti: '0200', stan, f7, packed: Buffer.alloc(0) }, n.amount, '0400');
    expect(r.code, why(r)).toBe('25');
    expect(await optionPaid(ctx.db, n.optionId)).toBe(true);
  });
});

describe('after everything above', () => {
  it('the store invariants hold', async () => {
    const report = await ctx.h.rt.store.checkInvariants();
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
