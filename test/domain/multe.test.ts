import { describe, expect, it } from 'vitest';
import { addDays } from '../../src/domain/calendar.js';
import { multaAmountDue, type MultaParams } from '../../src/domain/multe.js';

// domain.md §5: min €42.00, max €173.00, costs €10.00, notified 2025-03-05 (a Wednesday).
const EXAMPLE: MultaParams = { minCents: 4200, maxCents: 17300, costsCents: 1000, notifiedOn: '2025-03-05', discountExcluded: false };

describe('multaAmountDue, the worked example at every boundary', () => {
  it.each([
    ['2025-03-05', 3940, 'discounted', '2025-03-10'], // the day of notification
    ['2025-03-06', 3940, 'discounted', '2025-03-10'], // day 1
    ['2025-03-10', 3940, 'discounted', '2025-03-10'], // day 5, a Monday: last discounted day
    ['2025-03-11', 5200, 'minimum', '2025-05-05'], // day 6
    ['2025-05-02', 5200, 'minimum', '2025-05-05'], // day 58, Friday
    ['2025-05-04', 5200, 'minimum', '2025-05-05'], // day 60 is a Sunday...
    ['2025-05-05', 5200, 'minimum', '2025-05-05'], // ...so the term ends on Monday
    ['2025-05-06', 9650, 'half_maximum', null], // half of 173.00 + 10.00
    ['2026-01-15', 9650, 'half_maximum', null],
  ])('paid on %s: %d (%s, pay by %s)', (paidOn, amountCents, band, payBy) => {
    expect(multaAmountDue(EXAMPLE, paidOn)).toEqual({ amountCents, band, payBy });
  });

  it('costs are added in full and never discounted', () => {
    const noCosts = { ...EXAMPLE, costsCents: 0 };
    expect(multaAmountDue(noCosts, '2025-03-06').amountCents).toBe(2940);
    expect(multaAmountDue(EXAMPLE, '2025-03-06').amountCents - multaAmountDue(noCosts, '2025-03-06').amountCents).toBe(1000);
  });
});

describe('multaAmountDue, other rules', () => {
  it('without the discount, the minimum applies from the first day', () => {
    const excluded = { ...EXAMPLE, discountExcluded: true };
    expect(multaAmountDue(excluded, '2025-03-06')).toEqual({ amountCents: 5200, band: 'minimum', payBy: '2025-05-05' });
    expect(multaAmountDue(excluded, '2025-05-06')).toEqual({ amountCents: 9650, band: 'half_maximum', payBy: null });
  });

  it('a discount term ending on a holiday moves to the next day that is neither Sunday nor holiday', () => {
    // Notified 2025-04-16: the 5th day is Easter Monday 2025-04-21.
    const p = { ...EXAMPLE, notifiedOn: '2025-04-16' };
    expect(multaAmountDue(p, '2025-04-22')).toEqual({ amountCents: 3940, band: 'discounted', payBy: '2025-04-22' });
    expect(multaAmountDue(p, '2025-04-23').band).toBe('minimum');
  });

  it('a term ending on a Saturday does not move (art. 2963 c.c.: a Saturday is an ordinary day)', () => {
    // Notified 2025-03-03 (Monday): the 5th day is Saturday 2025-03-08. Before the fix the
    // term ran to Monday 2025-03-10 and the €52.00 due on the Sunday was refused.
    const p = { ...EXAMPLE, notifiedOn: '2025-03-03' };
    expect(addDays('2025-03-03', 5)).toBe('2025-03-08');
    expect(multaAmountDue(p, '2025-03-08')).toEqual({ amountCents: 3940, band: 'discounted', payBy: '2025-03-08' });
    expect(multaAmountDue(p, '2025-03-09')).toEqual({ amountCents: 5200, band: 'minimum', payBy: '2025-05-02' });
    expect(multaAmountDue(p, '2025-03-10').band).toBe('minimum');
  });
});

// Each row: notified on, the term (5 or 60 days), the calendar day the term counts to,
// and the last day it actually runs to. Checked the day before, on, and after that day.
describe('multaAmountDue, every kind of term end (Saturday ordinary; Sunday and holidays move)', () => {
  it.each([
    // 5-day term (discount)
    ['2025-03-03', 5, '2025-03-08', '2025-03-08', 'a Saturday: stays'],
    ['2026-02-24', 5, '2026-03-01', '2026-03-02', 'a Sunday: to Monday'],
    ['2025-04-16', 5, '2025-04-21', '2025-04-22', 'Easter Monday: to Tuesday'],
    ['2025-12-20', 5, '2025-12-25', '2025-12-27', 'Christmas, then St Stephen, then a Saturday: to the Saturday'],
    ['2025-10-27', 5, '2025-11-01', '2025-11-03', 'a holiday on a Saturday, then Sunday: to Monday'],
    ['2025-12-02', 5, '2025-12-07', '2025-12-09', 'a Sunday, then 8 December: to Tuesday'],
    ['2026-04-20', 5, '2026-04-25', '2026-04-27', '25 April on a Saturday: to Monday'],
    // 60-day term (minimum)
    ['2025-12-02', 60, '2026-01-31', '2026-01-31', 'a Saturday: stays'],
    ['2025-03-05', 60, '2025-05-04', '2025-05-05', 'a Sunday: to Monday (the worked example)'],
    ['2025-10-27', 60, '2025-12-26', '2025-12-27', 'St Stephen on a Friday, then a Saturday: to the Saturday'],
    ['2026-02-24', 60, '2026-04-25', '2026-04-27', '25 April on a Saturday, then Sunday: to Monday'],
    ['2025-10-09', 60, '2025-12-08', '2025-12-09', '8 December on a Monday: to Tuesday'],
  ] as const)('notified %s, %d-day term counting to %s runs to %s (%s)', (notifiedOn, days, counted, lastDay, why) => {
    expect(why).not.toBe('');
    expect(addDays(notifiedOn, days)).toBe(counted);
    const p = { ...EXAMPLE, notifiedOn };
    const [band, next] = days === 5 ? (['discounted', 'minimum'] as const) : (['minimum', 'half_maximum'] as const);
    const amount = { discounted: 3940, minimum: 5200, half_maximum: 9650 };
    expect(multaAmountDue(p, addDays(lastDay, -1))).toMatchObject({ band, amountCents: amount[band], payBy: lastDay });
    expect(multaAmountDue(p, lastDay)).toMatchObject({ band, amountCents: amount[band], payBy: lastDay });
    expect(multaAmountDue(p, addDays(lastDay, 1))).toMatchObject({ band: next, amountCents: amount[next] });
  });
});

describe('multaAmountDue, rounding', () => {
  it('rounds the discount and half the maximum half-even to the cent', () => {
    const p = { ...EXAMPLE, costsCents: 0 };
    expect(multaAmountDue({ ...p, minCents: 4215 }, '2025-03-06').amountCents).toBe(2950); // 2950.5 → 2950
    expect(multaAmountDue({ ...p, minCents: 4225 }, '2025-03-06').amountCents).toBe(2958); // 2957.5 → 2958
    expect(multaAmountDue({ ...p, maxCents: 17301 }, '2025-06-01').amountCents).toBe(8650); // 8650.5 → 8650
    expect(multaAmountDue({ ...p, maxCents: 17303 }, '2025-06-01').amountCents).toBe(8652); // 8651.5 → 8652
  });
});
