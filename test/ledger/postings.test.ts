// Property tests of the double-entry postings of a payment and of its reversal.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  accountKey,
  assertBalanced,
  paymentPostings,
  reversalPostings,
  type PaymentSplit,
  type Posting,
} from '../../src/ledger/postings.js';

/** A payment split whose commission + operator + royalty equals its fee. */
const splitArb: fc.Arbitrary<PaymentSplit> = fc
  .record({
    counterId: fc.constantFrom('C0001', 'C0002', 'C0359'),
    entityId: fc.constantFrom('PRATO', 'PISA', 'RTOSCANA', 'ASLTC'),
    amountCents: fc.integer({ min: 1, max: 1_000_000_000 }),
    feeCents: fc.integer({ min: 0, max: 10_000 }),
    // Two cut points in [0, 1] split the fee into three non-negative parts.
    cuts: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
    circuitFeeCents: fc.integer({ min: 0, max: 30 }),
    circuitFeeMode: fc.constantFrom('netted' as const, 'rebilled' as const),
  })
  .map(({ cuts, ...s }) => {
    const [a, b] = cuts[0] <= cuts[1] ? cuts : [cuts[1], cuts[0]];
    const royalty = Math.floor(s.feeCents * a);
    const commission = Math.floor(s.feeCents * b) - royalty;
    const operator = s.feeCents - royalty - commission;
    return { ...s, royalty, commission, operator };
  });

function sum(postings: Posting[]): number {
  return postings.reduce((acc, p) => acc + p.amountCents, 0);
}

function byAccount(postings: Posting[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of postings) m.set(accountKey(p.account), (m.get(accountKey(p.account)) ?? 0) + p.amountCents);
  return m;
}

describe('paymentPostings', () => {
  it('the generator keeps the split equal to the fee', () => {
    fc.assert(
      fc.property(splitArb, (s) => {
        expect(s.commission + s.operator + s.royalty).toBe(s.feeCents);
        expect(Math.min(s.commission, s.operator, s.royalty)).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('sums to zero, has no zero postings, and charges the counter amount + fee', () => {
    fc.assert(
      fc.property(splitArb, (s) => {
        const postings = paymentPostings(s);
        expect(sum(postings)).toBe(0);
        for (const p of postings) {
          expect(p.amountCents).not.toBe(0);
          expect(Number.isSafeInteger(p.amountCents)).toBe(true);
        }
        const cash = postings.filter((p) => p.account.kind === 'counter_cash');
        expect(cash).toHaveLength(1);
        expect(cash[0]!.account.ownerId).toBe(s.counterId);
        expect(cash[0]!.amountCents).toBe(s.amountCents + s.feeCents);
        // The only debits are the counter's cash and, with a circuit fee, the entity's side of it.
        const debits = postings.filter((p) => p.amountCents > 0).map((p) => p.account.kind);
        expect(debits.filter((k) => k === 'counter_cash')).toHaveLength(1);
        expect(debits.length).toBe(s.circuitFeeCents > 0 ? 2 : 1);
      }),
    );
  });

  it('gives every party its share, per account', () => {
    fc.assert(
      fc.property(splitArb, (s) => {
        const net = byAccount(paymentPostings(s));
        const get = (kind: string, owner: string) => net.get(`${kind}/${owner}`) ?? 0;
        expect(get('counter_commission', s.counterId)).toBe(0 - s.commission);
        expect(get('operator_fees', '')).toBe(0 - s.operator);
        expect(get('owner_royalty', '')).toBe(0 - s.royalty);
        expect(get('owner_circuit_fees', '')).toBe(0 - s.circuitFeeCents);
        if (s.circuitFeeMode === 'rebilled') {
          expect(get('entity_payable', s.entityId)).toBe(0 - s.amountCents);
          expect(get('entity_circuit_fees', s.entityId)).toBe(s.circuitFeeCents);
        } else {
          // Netted: the circuit fee comes off the entity's payout.
          expect(get('entity_payable', s.entityId)).toBe(-s.amountCents + s.circuitFeeCents);
          expect(net.has(`entity_circuit_fees/${s.entityId}`)).toBe(false);
        }
      }),
    );
  });

  it('refuses to build an unbalanced set of postings', () => {
    expect(() => assertBalanced([{ account: { kind: 'counter_cash', ownerId: 'C1' }, amountCents: 1 }])).toThrow(/unbalanced/);
    // A split that does not add up to the fee is caught by the balance assertion.
    expect(() =>
      paymentPostings({
        counterId: 'C1',
        entityId: 'PRATO',
        amountCents: 100,
        feeCents: 150,
        commission: 98,
        operator: 42,
        royalty: 9,
        circuitFeeCents: 0,
        circuitFeeMode: null,
      }),
    ).toThrow(/unbalanced postings: sum 1/);
  });
});

describe('reversalPostings', () => {
  it('negates each posting, and original + reversal cancel out per account', () => {
    fc.assert(
      fc.property(splitArb, (s) => {
        const original = paymentPostings(s);
        const reversal = reversalPostings(original);
        expect(reversal).toHaveLength(original.length);
        reversal.forEach((r, i) => {
          expect(r.account).toEqual(original[i]!.account);
          expect(r.amountCents).toBe(-original[i]!.amountCents);
          expect(r.amountCents).not.toBe(0);
        });
        expect(sum(reversal)).toBe(0);
        for (const [key, total] of byAccount([...original, ...reversal])) {
          expect([key, total]).toEqual([key, 0]);
        }
        // The original postings are left untouched.
        expect(original).toEqual(paymentPostings(s));
      }),
    );
  });
});
