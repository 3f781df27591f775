// The citizen's fee and its split (domain.md §2). A payment keeps the schedule
// version and the split it was booked with; nothing here is recomputed later.
import type { FeeRule } from './model.js';
import { applyRate } from './money.js';

export interface FeeSplit {
  commission: number; // the counter's
  operator: number; // the network operator's
  royalty: number; // the Comune's, per payment
}

/** The fee the citizen pays on top of the amount, by rule type. */
const FEE_RULES: { [T in FeeRule['type']]: (rule: Extract<FeeRule, { type: T }>, amountCents: number) => number } = {
  fixed: (rule) => rule.cents,
  percent: (rule, amount) => Math.min(rule.maxCents, Math.max(rule.minCents, applyRate(amount, rule.rate))),
  tiers: (rule, amount) => {
    // Tiers are in ascending order; null is the open-ended last tier.
    const tier = rule.tiers.find((t) => t.upToCents === null || amount <= t.upToCents);
    if (!tier) throw new RangeError(`no fee tier covers ${amount} cents; the last tier should be open-ended`);
    return tier.cents;
  },
};

export function citizenFee(rule: FeeRule, amountCents: number): number {
  const fee = FEE_RULES[rule.type] as (rule: FeeRule, amountCents: number) => number;
  return fee(rule, amountCents);
}

/**
 * Splits the fee: the royalty first (never more than the fee), then the
 * counter's commission as a share of the rest, and the operator takes the
 * remainder. Invariant: commission + operator + royalty === fee, all ≥ 0 for a
 * rate in [0, 1].
 */
export function splitFee(feeCents: number, commissionRate: string, royaltyCents: number): FeeSplit {
  const royalty = Math.min(royaltyCents, feeCents);
  const commission = applyRate(feeCents - royalty, commissionRate);
  return { commission, operator: feeCents - royalty - commission, royalty };
}

/** The version in force on a date: the latest effectiveFrom not after it (later entries win ties). */
export function scheduleInForce<T extends { effectiveFrom: string }>(versions: T[], date: string): T | undefined {
  let inForce: T | undefined;
  for (const v of versions) {
    if (v.effectiveFrom <= date && (!inForce || v.effectiveFrom >= inForce.effectiveFrom)) inForce = v;
  }
  return inForce;
}
