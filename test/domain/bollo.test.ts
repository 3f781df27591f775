import { describe, expect, it } from 'vitest';
import { addDays } from '../../src/domain/calendar.js';
import { bolloAmountDue, legalInterestRate } from '../../src/domain/bollo.js';

// A due date that is a working day, so that days late count from it directly.
const DUE = '2025-03-31'; // Monday

describe('bolloAmountDue', () => {
  it('worked example: €200.00 paid 10 days late in 2025 = €201.78', () => {
    // Sanction 0.0833% × 10 days = 166.6 → 167; interest 20000 × 2% × 10/365 = 10.96 → 11.
    expect(bolloAmountDue(20000, DUE, '2025-04-10')).toEqual({ amountCents: 20178, daysLate: 10, sanctionCents: 167, interestCents: 11 });
  });

  it('is the base alone when paid on or before the due date', () => {
    const onTime = { amountCents: 20000, daysLate: 0, sanctionCents: 0, interestCents: 0 };
    expect(bolloAmountDue(20000, DUE, DUE)).toEqual(onTime);
    expect(bolloAmountDue(20000, DUE, '2025-01-15')).toEqual(onTime);
  });

  it('a due date on a weekend or holiday moves to the next working day', () => {
    // Saturday 2025-05-31 → Tuesday 2025-06-03 (Sunday, then 2 June).
    expect(bolloAmountDue(20000, '2025-05-31', '2025-06-03').daysLate).toBe(0);
    expect(bolloAmountDue(20000, '2025-05-31', '2025-06-04').daysLate).toBe(1);
  });

  it.each([
    [1, 17], // 0.0833% → 16.66
    [14, 233], // 0.0833% × 14 = 1.1662% → 233.24
    [15, 250], // 1.25%
    [30, 250],
    [31, 278], // 1.3889% → 277.78
    [90, 278],
    [91, 625], // 3.125%
    [365, 625],
    [366, 714], // 3.5714% → 714.28
    [1000, 714],
  ])('sanction band: %d days late → %d cents on €200.00', (days, sanction) => {
    const due = bolloAmountDue(20000, DUE, addDays(DUE, days));
    expect(due.daysLate).toBe(days);
    expect(due.sanctionCents).toBe(sanction);
    expect(due.amountCents).toBe(20000 + due.sanctionCents + due.interestCents);
  });

  it('rounds the sanction half-even', () => {
    expect(bolloAmountDue(20040, DUE, addDays(DUE, 20)).sanctionCents).toBe(250); // 250.5 → 250
    expect(bolloAmountDue(20120, DUE, addDays(DUE, 20)).sanctionCents).toBe(252); // 251.5 → 252
  });

  it('charges each day at its own year’s legal interest rate', () => {
    // Monday 2025-12-22 + 14 days: 9 days of 2025 at 2.0%, 5 days of 2026 at 1.6%.
    // 20000 × (0.02 × 9 + 0.016 × 5) / 365 = 14.25 → 14.
    expect(bolloAmountDue(20000, '2025-12-22', '2026-01-05')).toEqual({ amountCents: 20247, daysLate: 14, sanctionCents: 233, interestCents: 14 });
    // A whole year of 2026 at 1.6%: 20000 × 0.016 = 320.
    expect(bolloAmountDue(20000, '2025-12-31', '2026-12-31').interestCents).toBe(320);
    // Friday 2023-12-29 to the end of 2024: 2 days at 5.0%, then all 366 days of 2024 at 2.5%,
    // each a 365th of the year: 20000 × (0.05 × 2 + 0.025 × 366) / 365 = 506.85 → 507.
    expect(bolloAmountDue(20000, '2023-12-29', '2024-12-31').interestCents).toBe(507);
  });

  it('knows the legal interest rates by year', () => {
    expect([2023, 2024, 2025, 2026, 2030].map(legalInterestRate)).toEqual(['0.05', '0.025', '0.02', '0.016', '0.016']);
  });
});
