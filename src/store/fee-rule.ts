// fee_schedules.fee_rule, checked when read (a few rows, at startup and on reload), by
// both stores. Apart from rows.ts: the SQLite writer thread loads rows.ts and has no use
// for zod.
import { z } from 'zod';
import type { FeeRule } from '../domain/model.js';

const FEE_RULE = z.discriminatedUnion('type', [
  z.object({ type: z.literal('fixed'), cents: z.number() }),
  z.object({ type: z.literal('percent'), rate: z.string(), minCents: z.number(), maxCents: z.number() }),
  z.object({ type: z.literal('tiers'), tiers: z.array(z.object({ upToCents: z.number().nullable(), cents: z.number() })) }),
]) satisfies z.ZodType<FeeRule>;

export function parseFeeRule(json: string): FeeRule {
  return FEE_RULE.parse(JSON.parse(json));
}
