// Money is integer cents, never floating euros. Wherever a rate applies the
// arithmetic is decimal and rounds half-even to the cent (domain.md §2).
import { Decimal } from 'decimal.js';

/** An amount in euro cents: a safe, non-negative integer. */
export type Cents = number;

/**
 * Decimal with enough precision that a product of cents (up to 2^53) and a rate
 * is exact before the single rounding to the cent; a private clone so that no
 * one else's global Decimal settings can change our results.
 */
export const Dec = Decimal.clone({ precision: 64, rounding: Decimal.ROUND_HALF_EVEN });

export function isCents(n: unknown): n is Cents {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function assertInteger(cents: number, what: string): void {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`${what} must be a whole number of cents, got ${cents}`);
}

/** Rounds a decimal amount of cents to a whole cent, half to even. */
export function roundCents(value: Decimal.Value): number {
  return new Dec(value).toDecimalPlaces(0, Decimal.ROUND_HALF_EVEN).toNumber();
}

/** Italian format without symbol: 123456 → "1.234,56", -5 → "-0,05". */
export function formatEuro(cents: number): string {
  assertInteger(cents, 'amount');
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const euros = Math.floor(abs / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  return `${sign}${euros},${String(abs % 100).padStart(2, '0')}`;
}

/** Plain format for CSV and machine-readable use: 123456 → "1234.56". */
export function formatEuroPlain(cents: number): string {
  assertInteger(cents, 'amount');
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** cents × rate, rounded half-even to the cent. The rate is a decimal string ("0.7"), never a float. */
export function applyRate(cents: number, rate: string | Decimal): number {
  assertInteger(cents, 'amount');
  return roundCents(new Dec(cents).times(new Dec(rate)));
}

/**
 * One part per rate (each rounded half-even) plus a last part that takes the
 * remainder, so the parts always sum exactly to the total. If the rates add up
 * to more than 1 the remainder is negative: the caller's schedule is wrong.
 */
export function splitByRates(totalCents: number, rates: string[]): number[] {
  assertInteger(totalCents, 'total');
  const parts = rates.map((rate) => applyRate(totalCents, rate));
  const allocated = parts.reduce((sum, part) => sum + part, 0);
  return [...parts, totalCents - allocated];
}
