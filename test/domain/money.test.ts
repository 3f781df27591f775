import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyRate, formatEuro, formatEuroPlain, isCents, splitByRates } from '../../src/domain/money.js';

describe('isCents', () => {
  it.each([
    [0, true],
    [1, true],
    [Number.MAX_SAFE_INTEGER, true],
    [-1, false],
    [1.5, false],
    [Number.MAX_SAFE_INTEGER + 1, false],
    [NaN, false],
    ['100', false],
    [null, false],
  ])('%s → %s', (n, expected) => {
    expect(isCents(n)).toBe(expected);
  });
});

describe('formatEuro (Italian)', () => {
  it.each([
    [0, '0,00'],
    [5, '0,05'],
    [99, '0,99'],
    [100, '1,00'],
    [123456, '1.234,56'],
    [100_000_000, '1.000.000,00'],
    [-5, '-0,05'],
    [-123456, '-1.234,56'],
  ])('%d → %s', (cents, text) => {
    expect(formatEuro(cents)).toBe(text);
  });

  it('refuses fractions of a cent', () => {
    expect(() => formatEuro(1.5)).toThrow(RangeError);
  });
});

describe('formatEuroPlain', () => {
  it.each([
    [0, '0.00'],
    [5, '0.05'],
    [123456, '1234.56'],
    [100_000_000, '1000000.00'],
    [-5, '-0.05'],
    [-123456, '-1234.56'],
  ])('%d → %s', (cents, text) => {
    expect(formatEuroPlain(cents)).toBe(text);
  });

  it('round-trips through parsing for any amount', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e12, max: 1e12 }), (cents) => {
        expect(Math.round(Number(formatEuroPlain(cents)) * 100)).toBe(cents);
      }),
    );
  });
});

describe('applyRate rounds half-even to the cent', () => {
  it.each([
    [4200, '0.7', 2940],
    [1, '0.5', 0], // 0.5 → 0
    [3, '0.5', 2], // 1.5 → 2
    [5, '0.5', 2], // 2.5 → 2
    [7, '0.5', 4], // 3.5 → 4
    [17301, '0.5', 8650], // 8650.5 → 8650
    [17303, '0.5', 8652], // 8651.5 → 8652
    [20000, '0.00833', 167], // 166.6
    [1000, '0', 0],
    [1000, '1', 1000],
  ])('%d × %s = %d', (cents, rate, expected) => {
    expect(applyRate(cents, rate)).toBe(expected);
  });

  it('accepts a Decimal rate', () => {
    expect(applyRate(10_000, new Decimal('0.015'))).toBe(150);
  });

  it('is exact where floats are not', () => {
    // In floating point 45 × 0.7 is 31.499999999999996 and 50 × 0.07 is 3.5000000000000004.
    expect(applyRate(45, '0.7')).toBe(32); // 31.5 → 32
    expect(applyRate(50, '0.07')).toBe(4); // 3.5 → 4
    expect(applyRate(90, '0.35')).toBe(32); // 31.5 → 32
    expect(applyRate(50, '0.55')).toBe(28); // 27.5 → 28
  });
});

describe('splitByRates', () => {
  it('gives one part per rate and the remainder last', () => {
    expect(splitByRates(100, ['0.333', '0.333'])).toEqual([33, 33, 34]);
    expect(splitByRates(1000, [])).toEqual([1000]);
    expect(splitByRates(5, ['0.5'])).toEqual([2, 3]); // 2.5 → 2, remainder 3
  });

  it('parts always sum exactly to the total (property)', () => {
    const rate = fc.integer({ min: 0, max: 10_000 }).map((n) => (n / 10_000).toFixed(4));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e11 }), fc.array(rate, { maxLength: 6 }), (total, rates) => {
        const parts = splitByRates(total, rates);
        expect(parts).toHaveLength(rates.length + 1);
        expect(parts.reduce((a, b) => a + b, 0)).toBe(total);
        parts.forEach((p) => expect(Number.isSafeInteger(p)).toBe(true));
      }),
    );
  });
});
