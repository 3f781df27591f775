// Catch-up after downtime (settlement/run.ts settleDue, what `tserve settle` without
// --date and the nightly schedule run): every window that is over and not settled, oldest
// first, weekends and holidays folded into the next business day's window; a window that
// cannot be settled stops the run and leaves the later ones for the next. On the switch's
// clock (the harness's), so on any date; `tserve settle` itself is run in catch-up-cli.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { romeInstant } from '../../src/domain/calendar.js';
import { requestHash } from '../../src/payments/service.js';
import { SettlementError } from '../../settlement/figures.js';
import { settleDue } from '../../settlement/run.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { openTestDb } from '../helpers/store.js';

let h: Harness;
let now = romeInstant('2026-12-04', '10:00:00'); // a Friday
let paid = 0;

/** Books `n` certificate payments at this Rome date and time. */
async function payAt(date: string, time: string, n: number): Promise<void> {
  now = romeInstant(date, time);
  const t = h.credentials.terminals[2]!;
  for (let i = 0; i < n; i++) {
    const req = { service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 };
    paid += 1;
    await h.payments.pay({ terminalId: t.terminalId, counterId: t.counterId }, req, { key: `catch-up-${paid}`, requestHash: requestHash('pay', req) }, 'json');
  }
}

const run = () => settleDue(h.rt.store, { cutoff: '00:00', operator: h.config.operator, now, actor: 'test' });

beforeAll(async () => {
  h = await startHarness({ positions: 500, clock: () => now });
  // The windows before the first day of the test (empty: a first run after installing).
  const first = await run();
  expect(first.failed).toBeNull();
  expect(first.settled.map((r) => r.window.date)).toEqual(first.due);
});
afterAll(async () => {
  await h?.close();
});

describe('settling every window that is due, oldest first', () => {
  it('three business days left unsettled across a weekend and a holiday: one run settles them in date order', async () => {
    await payAt('2026-12-04', '11:00:00', 2); // Friday
    await payAt('2026-12-05', '12:00:00', 1); // Saturday: Monday's window
    await payAt('2026-12-07', '09:30:00', 2); // Monday
    await payAt('2026-12-08', '10:00:00', 1); // Tuesday, Immacolata: Wednesday's window
    await payAt('2026-12-09', '23:59:59', 2); // Wednesday
    now = romeInstant('2026-12-10', '10:00:00'); // the switch was down since Friday

    const r = await run();
    expect(r.failed).toBeNull();
    expect(r.due).toEqual(['2026-12-04', '2026-12-07', '2026-12-09']);
    expect(r.settled.map((s) => [s.window.date, s.outcome, s.figures.totals.payments])).toEqual([
      ['2026-12-04', 'created', 2],
      ['2026-12-07', 'created', 3],
      ['2026-12-09', 'created', 3],
    ]);
    // Drafts, closed in that order.
    const closed = await Promise.all(r.due.map((d) => h.rt.store.getWindow(d)));
    expect(closed.map((w) => w?.status)).toEqual(['draft', 'draft', 'draft']);

    const again = await run();
    expect(again).toEqual({ due: [], settled: [], failed: null });
  });

  it('stops at the first window it cannot settle and leaves the later ones for the next run', async () => {
    await payAt('2026-12-10', '11:00:00', 1); // Thursday
    await payAt('2026-12-11', '11:00:00', 1); // Friday
    await payAt('2026-12-14', '11:00:00', 1); // Monday
    now = romeInstant('2026-12-15', '10:00:00');
    // Break Friday's ledger by a cent, behind the switch's back: its run is refused.
    const db = await openTestDb(h.dir);
    const breakFriday = (cents: number) =>
      db.run(
        'UPDATE window_movements SET amount_cents = amount_cents + ? WHERE settlement_date = ? AND account_id = (SELECT min(account_id) FROM window_movements WHERE settlement_date = ?)',
        cents,
        '2026-12-11',
        '2026-12-11',
      );
    try {
      await breakFriday(1);
      const r = await run();
      expect(r.due).toEqual(['2026-12-10', '2026-12-11', '2026-12-14']);
      expect(r.settled.map((s) => s.window.date)).toEqual(['2026-12-10']);
      expect(r.failed?.date).toBe('2026-12-11');
      expect(r.failed?.error).toBeInstanceOf(SettlementError);
      expect((await h.rt.store.getWindow('2026-12-14'))?.figures ?? null).toBeNull(); // not settled out of order

      await breakFriday(-1); // repaired
      const next = await run();
      expect(next.failed).toBeNull();
      expect(next.settled.map((s) => s.window.date)).toEqual(['2026-12-11', '2026-12-14']);
    } finally {
      await db.close();
    }
  });
});
