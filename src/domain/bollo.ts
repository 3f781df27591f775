// Bollo auto paid late (domain.md §5): a sanction by band of days late (rates
// from 2024-09-01) plus legal interest per day at each day's yearly rate.
import { addDays, daysBetween, nextWorkingDay } from './calendar.js';
import { Dec, roundCents } from './money.js';

/**
 * Sanction by days late: the first band whose upToDays covers the delay. Up to 14
 * days the rate is per day late; beyond, one rate for the whole band.
 */
export const BOLLO_SANCTION_BANDS: readonly { upToDays: number | null; rate: string; perDay: boolean }[] = [
  { upToDays: 14, rate: '0.000833', perDay: true }, // 0.0833% a day
  { upToDays: 30, rate: '0.0125', perDay: false }, // 1.25%
  { upToDays: 90, rate: '0.013889', perDay: false }, // 1.3889%
  { upToDays: 365, rate: '0.03125', perDay: false }, // 3.125%
  { upToDays: null, rate: '0.035714', perDay: false }, // 3.5714%
];

/** Legal interest a year (tasso di interesse legale), in force from 1 January of `fromYear` until the next row. */
export const LEGAL_INTEREST_RATES: readonly { fromYear: number; rate: string }[] = [
  { fromYear: 2023, rate: '0.05' },
  { fromYear: 2024, rate: '0.025' },
  { fromYear: 2025, rate: '0.02' },
  { fromYear: 2026, rate: '0.016' },
];

/** Interest accrues per day over a 365-day year, leap years included. */
const DAYS_IN_INTEREST_YEAR = 365;

/** The legal interest rate of a year; years before the table take its first rate. */
export function legalInterestRate(year: number): string {
  let rate = LEGAL_INTEREST_RATES[0]!.rate;
  for (const row of LEGAL_INTEREST_RATES) if (row.fromYear <= year) rate = row.rate;
  return rate;
}

export interface BolloDue {
  amountCents: number;
  daysLate: number;
  sanctionCents: number;
  interestCents: number;
}

export function bolloAmountDue(baseCents: number, dueDate: string, paidOn: string): BolloDue {
  // A due date on a weekend or holiday moves to the next working day, as every tax term does.
  const lastDay = nextWorkingDay(dueDate);
  const daysLate = Math.max(0, daysBetween(lastDay, paidOn));
  if (daysLate === 0) return { amountCents: baseCents, daysLate: 0, sanctionCents: 0, interestCents: 0 };

  const band = BOLLO_SANCTION_BANDS.find((b) => b.upToDays === null || daysLate <= b.upToDays)!;
  const sanctionRate = new Dec(band.rate).times(band.perDay ? daysLate : 1);
  const sanctionCents = roundCents(new Dec(baseCents).times(sanctionRate));

  // Each late day (the day after the last day up to the day of payment) at its own year's rate.
  const daysByYear = new Map<number, number>();
  for (let day = addDays(lastDay, 1); day <= paidOn; day = addDays(day, 1)) {
    const year = Number(day.slice(0, 4));
    daysByYear.set(year, (daysByYear.get(year) ?? 0) + 1);
  }
  let rateDays = new Dec(0); // Σ yearly rate × days at that rate
  for (const [year, days] of daysByYear) rateDays = rateDays.plus(new Dec(legalInterestRate(year)).times(days));
  const interestCents = roundCents(new Dec(baseCents).times(rateDays).div(DAYS_IN_INTEREST_YEAR));

  return { amountCents: baseCents + sanctionCents + interestCents, daysLate, sanctionCents, interestCents };
}
