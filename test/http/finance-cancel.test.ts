// The finance office cancels a payment (POST /v1/payments/{id}/cancel, issue 14): while
// its window is open (past the cutoff too, until the settlement run closes it) a reversal
// booked like a terminal's, audited with who and why; once the window has closed the
// administrative refund (an adjustment in the current window). Already cancelled: 409
// ALREADY_REVERSED; two at once book once; entities and terminals are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, nextWorkingDay, romeInstant } from '../../src/domain/calendar.js';
import { TEST_DAY, testClock } from '../helpers/clock.js';
import { bearer, counterOf, expectProblem, idemKey, setup, TerminalPool, type Ctx, type OptionRow } from './support.js';

let c: Ctx;
let pool: TerminalPool;
/** The switch's clock: the test clock, moved by `offset` when a test goes to another hour. */
let offset = 0;
const moveTo = (date: string, time: string) => {
  offset = romeInstant(date, time) - testClock();
};
const NEXT_DAY = nextWorkingDay(addDays(TEST_DAY, 1));

/** Paid on TEST_DAY, cancelled once its window has been closed (the last describe). */
let late: Paid[];

beforeAll(async () => {
  c = await setup(400, () => testClock() + offset);
  pool = new TerminalPool(c.h, 'tabaccaio');
  late = [await payTari(), await payTari()];
});
afterAll(async () => {
  await c?.close();
});

const finance = () => bearer(c.h.userToken('finance'));
const cancel = (paymentId: string, body: unknown = { reason: 'citizen paid the wrong notice' }, auth = finance()) =>
  c.api().post(`/v1/payments/${paymentId}/cancel`).set(auth).send(body as object);

interface Paid {
  o: OptionRow;
  terminalId: string;
  paymentId: string;
}

async function payTari(): Promise<Paid> {
  const terminalId = pool.take();
  const o = await c.notices.tari();
  const res = await c
    .api()
    .post('/v1/payments')
    .set(bearer(c.h.terminalToken(terminalId)))
    .set('Idempotency-Key', idemKey())
    .send({ service: 'TARI', identifier: o.notice, amount: o.amount });
  expect(res.status, res.text).toBe(201);
  return { o, terminalId, paymentId: (res.body as { paymentId: string }).paymentId };
}

const row = (paymentId: string) =>
  c.db.get<{ id: number; reversal_kind: string | null; reversal_settlement_date: string | null; settlement_date: string }>(
    'SELECT id, reversal_kind, reversal_settlement_date, settlement_date FROM payments WHERE public_id = ?',
    paymentId,
  );

const auditRows = async (paymentId: string) =>
  (await c.db.all<{ actor: string; action: string; detail: string }>('SELECT actor, action, detail FROM audit_log WHERE target = ? ORDER BY id', paymentId)).map(
    (r) => ({ actor: r.actor, action: r.action, detail: JSON.parse(r.detail) as Record<string, unknown> }),
  );

/** The payment.reversed events of a payment, payload parsed (text on SQLite, JSON on PostgreSQL). */
async function reversedEvents(paymentId: string): Promise<Record<string, unknown>[]> {
  const rows = await c.db.all<{ payload: string | Record<string, unknown> }>("SELECT payload FROM events WHERE type = 'payment.reversed' ORDER BY seq");
  return rows
    .map((r) => (typeof r.payload === 'string' ? (JSON.parse(r.payload) as Record<string, unknown>) : r.payload))
    .filter((p) => p.paymentId === paymentId);
}

async function reversalEntries(paymentId: string): Promise<number> {
  const p = (await row(paymentId))!;
  return c.db.scalar('SELECT count(*) FROM ledger_entries WHERE payment_id = ? AND is_reversal = 1', p.id);
}

async function expectBalanced(): Promise<void> {
  const report = await c.h.rt.store.checkInvariants();
  expect(report.violations, JSON.stringify(report.violations)).toEqual([]);
  expect(report.ok).toBe(true);
}

describe('refused before anything is booked', () => {
  let paid: Paid;
  beforeAll(async () => {
    paid = await payTari();
  });

  it('entities and terminals: 403; no token: 401', async () => {
    expectProblem(await cancel(paid.paymentId, undefined, bearer(c.h.userToken('ente-pisa'))), 403, 'FORBIDDEN');
    expectProblem(await cancel(paid.paymentId, undefined, bearer(c.h.terminalToken(paid.terminalId))), 403, 'FORBIDDEN');
    expect((await c.api().post(`/v1/payments/${paid.paymentId}/cancel`).send({ reason: 'no token' })).status).toBe(401);
  });

  it('a reason is required, 3 to 200 characters: else 400', async () => {
    for (const body of [{}, { reason: '' }, { reason: ' ab ' }, { reason: 'x'.repeat(201) }, { reason: 42 }, { reason: 'fine', extra: 1 }]) {
      const res = await cancel(paid.paymentId, body);
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('an unknown payment: 404', async () => {
    expectProblem(await cancel('00000000-0000-7000-8000-000000000000'), 404, 'NOT_FOUND');
    expectProblem(await cancel('not-a-payment'), 404, 'NOT_FOUND');
  });

  it('nothing was booked or audited by those', async () => {
    expect((await row(paid.paymentId))!.reversal_kind).toBeNull();
    expect(await auditRows(paid.paymentId)).toEqual([]);
  });
});

describe('in the open window: a reversal', () => {
  let paid: Paid;
  let twice: Paid;
  let afterCutoff: Paid;

  beforeAll(async () => {
    paid = await payTari();
    twice = await payTari();
    afterCutoff = await payTari();
  });

  it('books the reversal in the payment\'s own window: REVERSED, the notice payable again, audited with actor and reason, payment.reversed', async () => {
    const res = await cancel(paid.paymentId, { reason: '  wrong notice, citizen refunded at the desk  ' });
    expect(res.status, res.text).toBe(200);
    const body = res.body as Record<string, unknown> & { cancellation: Record<string, unknown> };
    expect(body.paymentId).toBe(paid.paymentId);
    expect(body.status).toBe('REVERSED');
    expect(body.reversedAt).not.toBeNull();
    expect(body.cancellation).toEqual({
      kind: 'reversal', window: TEST_DAY, originalWindow: TEST_DAY, actor: 'finance:finance', reason: 'wrong notice, citizen refunded at the desk',
    });

    const p = (await row(paid.paymentId))!;
    expect(p).toMatchObject({ reversal_kind: 'reversal', reversal_settlement_date: TEST_DAY, settlement_date: TEST_DAY });
    expect(await c.db.scalar('SELECT count(*) FROM payment_options WHERE id = ? AND paid_payment_id IS NULL', paid.o.optionId)).toBe(1);
    expect(await c.db.scalar('SELECT count(*) FROM debt_positions WHERE id = ? AND status = ?', paid.o.positionId, 'VALID')).toBe(1);
    expect(await reversalEntries(paid.paymentId)).toBeGreaterThan(0);
    await expectBalanced();

    expect(await auditRows(paid.paymentId)).toEqual([
      { actor: 'finance:finance', action: 'payment.reversal', detail: { reason: 'wrong notice, citizen refunded at the desk', window: TEST_DAY } },
    ]);
    const events = await reversedEvents(paid.paymentId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ paymentId: paid.paymentId, reversal: { actor: 'finance:finance', reason: 'wrong notice, citizen refunded at the desk' } });
  });

  it('a second cancel: 409 ALREADY_REVERSED, nothing booked again; the terminal\'s own reversal changes nothing either', async () => {
    const entries = await reversalEntries(paid.paymentId);
    expectProblem(await cancel(paid.paymentId), 409, 'ALREADY_REVERSED');
    const byTerminal = await c
      .api()
      .post(`/v1/payments/${paid.paymentId}/reversal`)
      .set(bearer(c.h.terminalToken(paid.terminalId)))
      .set('Idempotency-Key', idemKey('rev'));
    expect(byTerminal.status, byTerminal.text).toBe(200);
    expect(await reversalEntries(paid.paymentId)).toBe(entries);
    expect(await auditRows(paid.paymentId)).toHaveLength(1);
    expect(await reversedEvents(paid.paymentId)).toHaveLength(1);
  });

  it('a payment the terminal reversed: 409 ALREADY_REVERSED', async () => {
    const mine = await payTari();
    const rev = await c.api().post(`/v1/payments/${mine.paymentId}/reversal`).set(bearer(c.h.terminalToken(mine.terminalId))).set('Idempotency-Key', idemKey('rev'));
    expect(rev.status, rev.text).toBe(200);
    expectProblem(await cancel(mine.paymentId), 409, 'ALREADY_REVERSED');
    expect(await auditRows(mine.paymentId)).toEqual([]);
  });

  it("no terminal's rule applies: a payment of a suspended counter is cancelled", async () => {
    const mine = await payTari();
    const counterId = counterOf(c.h, mine.terminalId);
    const admin = bearer(c.h.userToken('admin'));
    expect((await c.api().post(`/v1/admin/counters/${counterId}/suspend`).set(admin)).status).toBe(200);
    try {
      const res = await cancel(mine.paymentId);
      expect(res.status, res.text).toBe(200);
      expect((res.body as { cancellation: unknown }).cancellation).toMatchObject({ kind: 'reversal' });
    } finally {
      expect((await c.api().post(`/v1/admin/counters/${counterId}/reactivate`).set(admin)).status).toBe(200);
    }
  });

  it('two cancels at once: one reversal, the other 409', async () => {
    const answers = await Promise.all([cancel(twice.paymentId), cancel(twice.paymentId, { reason: 'the same, sent twice' }, bearer(c.h.userToken('admin')))]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expectProblem(answers.find((a) => a.status === 409)!, 409, 'ALREADY_REVERSED');
    expect(await auditRows(twice.paymentId)).toHaveLength(1);
    expect(await reversedEvents(twice.paymentId)).toHaveLength(1);
    const p = (await row(twice.paymentId))!;
    expect(await c.db.scalar('SELECT count(*) FROM ledger_entries WHERE payment_id = ? AND is_reversal = 1', p.id)).toBe(
      await c.db.scalar('SELECT count(*) FROM ledger_entries WHERE payment_id = ? AND is_reversal = 0', p.id),
    );
    await expectBalanced();
  });

  it("past the cutoff, until the run closes the window: still a reversal in the payment's window (a terminal's is refused by then)", async () => {
    moveTo(NEXT_DAY, '00:05:00');
    const terminal = await c
      .api()
      .post(`/v1/payments/${afterCutoff.paymentId}/reversal`)
      .set(bearer(c.h.terminalToken(afterCutoff.terminalId)))
      .set('Idempotency-Key', idemKey('rev'));
    expectProblem(terminal, 409, 'REVERSAL_WINDOW_CLOSED');
    const res = await cancel(afterCutoff.paymentId);
    expect(res.status, res.text).toBe(200);
    expect((res.body as { cancellation: unknown }).cancellation).toMatchObject({ kind: 'reversal', window: TEST_DAY, originalWindow: TEST_DAY });
    expect(await row(afterCutoff.paymentId)).toMatchObject({ reversal_kind: 'reversal', reversal_settlement_date: TEST_DAY });
    await expectBalanced();
  });
});

describe('in a closed window: an adjustment', () => {
  let paid: Paid;
  let twice: Paid;

  beforeAll(async () => {
    [paid, twice] = late as [Paid, Paid];
    moveTo(NEXT_DAY, '00:10:00');
    const run = await c.api().post(`/v1/settlements/${TEST_DAY}/run`).set(finance());
    expect([200, 201], run.text).toContain(run.status);
  });

  it("books the administrative refund in the current window, audited as the adjustment is; the closed window's figures stand", async () => {
    const before = (await c.api().get(`/v1/settlements/${TEST_DAY}`).set(finance())).body as { window: { figuresHash: string } };
    const res = await cancel(paid.paymentId, { reason: 'refund after the close' });
    expect(res.status, res.text).toBe(200);
    const body = res.body as Record<string, unknown>;
    expect(body.status).toBe('REVERSED');
    expect(body.cancellation).toEqual({ kind: 'adjustment', window: NEXT_DAY, originalWindow: TEST_DAY, actor: 'finance:finance', reason: 'refund after the close' });
    expect(await row(paid.paymentId)).toMatchObject({ reversal_kind: 'adjustment', reversal_settlement_date: NEXT_DAY, settlement_date: TEST_DAY });
    expect(await auditRows(paid.paymentId)).toEqual([
      { actor: 'finance:finance', action: 'payment.adjustment', detail: { reason: 'refund after the close', window: NEXT_DAY } },
    ]);
    const events = await reversedEvents(paid.paymentId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ adjustment: { actor: 'finance:finance', reason: 'refund after the close' } });
    await expectBalanced();
    const after = (await c.api().get(`/v1/settlements/${TEST_DAY}`).set(finance())).body as { window: { figuresHash: string } };
    expect(after.window.figuresHash).toBe(before.window.figuresHash);
  });

  it('a second cancel, or the adjustment route after it: 409 ALREADY_REVERSED', async () => {
    expectProblem(await cancel(paid.paymentId), 409, 'ALREADY_REVERSED');
    expectProblem(await c.api().post(`/v1/payments/${paid.paymentId}/adjustment`).set(finance()).send({ reason: 'again' }), 409, 'ALREADY_REVERSED');
    expect(await auditRows(paid.paymentId)).toHaveLength(1);
  });

  it('two cancels at once: one adjustment, the other 409', async () => {
    const answers = await Promise.all([cancel(twice.paymentId), cancel(twice.paymentId)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(await auditRows(twice.paymentId)).toHaveLength(1);
    expect(await reversedEvents(twice.paymentId)).toHaveLength(1);
    expect(await row(twice.paymentId)).toMatchObject({ reversal_kind: 'adjustment', reversal_settlement_date: NEXT_DAY });
    await expectBalanced();
  });
});
