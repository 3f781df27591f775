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

  it('a discount term ending on a holiday moves to the next working day', () => {
    // Notified 2025-04-16: the 5th day is Easter Monday 2025-04-21.
    const p = { ...EXAMPLE, notifiedOn: '2025-04-16' };
    expect(multaAmountDue(p, '2025-04-22')).toEqual({ amountCents: 3940, band: 'discounted', payBy: '2025-04-22' });
    expect(multaAmountDue(p, '2025-04-23').band).toBe('minimum');
  });

  it('a term ending on Saturday runs to Monday', () => {
    // Notified 2025-03-03 (Monday): the 5th day is Saturday 2025-03-08.
    const p = { ...EXAMPLE, notifiedOn: '2025-03-03' };
    expect(multaAmountDue(p, '2025-03-10')).toMatchObject({ band: 'discounted', payBy: '2025-03-10' });
    expect(addDays('2025-03-03', 5)).toBe('2025-03-08');
  });

  it('rounds the discount and half the maximum half-even to the cent', () => {
    const p = { ...EXAMPLE, costsCents: 0 };
    expect(multaAmountDue({ ...p, minCents: 4215 }, '2025-03-06').amountCents).toBe(2950); // 2950.5 → 2950
    expect(multaAmountDue({ ...p, minCents: 4225 }, '2025-03-06').amountCents).toBe(2958); // 2957.5 → 2958
    expect(multaAmountDue({ ...p, maxCents: 17301 }, '2025-06-01').amountCents).toBe(8650); // 8650.5 → 8650
    expect(multaAmountDue({ ...p, maxCents: 17303 }, '2025-06-01').amountCents).toBe(8652); // 8651.5 → 8652
  });
});
