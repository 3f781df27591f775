// Multe (Codice della Strada art. 202, domain.md §5): what a fine costs depends on
// the day it is paid. Terms count from the day after notification; a term whose
// last day is a Sunday or a public holiday ends on the next day that is neither
// (art. 2963 c.c.): a Saturday is an ordinary day for these terms.
import { addDays, civilTermEnd } from './calendar.js';
import { applyRate } from './money.js';

export type MultaBand = 'discounted' | 'minimum' | 'half_maximum';

export interface MultaParams {
  minCents: number;
  maxCents: number;
  costsCents: number; // notification costs: always added in full, never discounted
  notifiedOn: string;
  discountExcluded: boolean; // some violations exclude the discount; the notice says so
}

export interface MultaDue {
  amountCents: number;
  band: MultaBand;
  payBy: string | null; // last day of the current band; null once only half the maximum applies
}

/** The bands in order: paid by the last day of `days` after notification, the sanction is `sanction`. */
export const MULTA_TERMS: readonly { band: MultaBand; days: number; sanction: (p: MultaParams) => number }[] = [
  { band: 'discounted', days: 5, sanction: (p) => applyRate(p.minCents, '0.7') }, // minimum −30%
  { band: 'minimum', days: 60, sanction: (p) => p.minCents },
];

/** After every term: half the maximum. */
const LATE_SANCTION = (p: MultaParams): number => applyRate(p.maxCents, '0.5');

export function multaAmountDue(p: MultaParams, paidOn: string): MultaDue {
  for (const term of MULTA_TERMS) {
    if (term.band === 'discounted' && p.discountExcluded) continue;
    const lastDay = civilTermEnd(addDays(p.notifiedOn, term.days));
    if (paidOn <= lastDay) return { amountCents: term.sanction(p) + p.costsCents, band: term.band, payBy: lastDay };
  }
  return { amountCents: LATE_SANCTION(p) + p.costsCents, band: 'half_maximum', payBy: null };
}
