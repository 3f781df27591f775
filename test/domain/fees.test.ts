import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeeRule } from '../../src/domain/model.js';
import { citizenFee, scheduleInForce, splitFee } from '../../src/domain/fees.js';

describe('citizenFee', () => {
  it('fixed', () => {
    expect(citizenFee({ type: 'fixed', cents: 150 }, 12345)).toBe(150);
    expect(citizenFee({ type: 'fixed', cents: 0 }, 12345)).toBe(0); // the entity absorbs it
  });

  it('percent, clamped to min and max, half-even', () => {
    const rule: FeeRule = { type: 'percent', rate: '0.015', minCents: 100, maxCents: 220 };
    expect(citizenFee(rule, 1000)).toBe(100); // 15 → min
    expect(citizenFee(rule, 10_000)).toBe(150);
    expect(citizenFee(rule, 10_100)).toBe(152); // 151.5 → 152
    expect(citizenFee(rule, 10_300)).toBe(154); // 154.5 → 154
    expect(citizenFee(rule, 1_000_000)).toBe(220); // 15000 → max
  });

  it('tiers: the first tier whose upToCents covers the amount; null is open-ended', () => {
    const rule: FeeRule = {
      type: 'tiers',
      tiers: [
        { upToCents: 5000, cents: 100 },
        { upToCents: 50_000, cents: 150 },
        { upToCents: null, cents: 220 },
      ],
    };
    expect(citizenFee(rule, 1)).toBe(100);
    expect(citizenFee(rule, 5000)).toBe(100);
    expect(citizenFee(rule, 5001)).toBe(150);
    expect(citizenFee(rule, 50_000)).toBe(150);
    expect(citizenFee(rule, 50_001)).toBe(220);
  });

  it('refuses an amount no tier covers', () => {
    expect(() => citizenFee({ type: 'tiers', tiers: [{ upToCents: 100, cents: 1 }] }, 101)).toThrow(RangeError);
  });

  it('a percent fee always lies within min and max (property)', () => {
    const rate = fc.integer({ min: 0, max: 100_000 }).map((n) => (n / 1_000_000).toFixed(6));
    fc.assert(
      fc.property(rate, fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 1e10 }), (r, a, b, amount) => {
        const [minCents, maxCents] = a <= b ? [a, b] : [b, a];
        const fee = citizenFee({ type: 'percent', rate: r, minCents, maxCents }, amount);
        expect(Number.isSafeInteger(fee)).toBe(true);
        expect(fee).toBeGreaterThanOrEqual(minCents);
        expect(fee).toBeLessThanOrEqual(maxCents);
      }),
    );
  });
});

describe('splitFee', () => {
  it('royalty first, commission on the rest, operator the remainder', () => {
    expect(splitFee(150, '0.6', 10)).toEqual({ commission: 84, operator: 56, royalty: 10 });
    expect(splitFee(115, '0.5', 10)).toEqual({ commission: 52, operator: 53, royalty: 10 }); // 52.5 → 52
    expect(splitFee(125, '0.5', 10)).toEqual({ commission: 58, operator: 57, royalty: 10 }); // 57.5 → 58
  });

  it('the royalty never exceeds the fee', () => {
    expect(splitFee(0, '0.6', 10)).toEqual({ commission: 0, operator: 0, royalty: 0 });
    expect(splitFee(7, '0.6', 10)).toEqual({ commission: 0, operator: 0, royalty: 7 });
  });

  it('parts are non-negative and sum to the fee for any fee and rate in [0, 1] (property)', () => {
    const rate = fc.integer({ min: 0, max: 10_000 }).map((n) => (n / 10_000).toString());
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), rate, fc.integer({ min: 0, max: 100 }), (fee, r, royaltyCents) => {
        const split = splitFee(fee, r, royaltyCents);
        expect(split.commission + split.operator + split.royalty).toBe(fee);
        for (const part of Object.values(split)) {
          expect(Number.isSafeInteger(part)).toBe(true);
          expect(part).toBeGreaterThanOrEqual(0);
        }
      }),
    );
  });
});

describe('scheduleInForce', () => {
  const versions = [
    { effectiveFrom: '2025-01-01', v: 'b' },
    { effectiveFrom: '2024-01-01', v: 'a' },
    { effectiveFrom: '2025-07-01', v: 'c' },
  ];

  it('takes the latest version not after the date', () => {
    expect(scheduleInForce(versions, '2024-06-30')?.v).toBe('a');
    expect(scheduleInForce(versions, '2025-01-01')?.v).toBe('b');
    expect(scheduleInForce(versions, '2025-06-30')?.v).toBe('b');
    expect(scheduleInForce(versions, '2030-01-01')?.v).toBe('c');
  });

  it('has nothing in force before the first version', () => {
    expect(scheduleInForce(versions, '2023-12-31')).toBeUndefined();
    expect(scheduleInForce([], '2025-01-01')).toBeUndefined();
  });
});
