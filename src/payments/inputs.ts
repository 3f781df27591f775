// Inputs the payments use-cases accept, as zod schemas: the HTTP edge validates with
// them and documents them in /openapi.json; the rules here never see anything else.
import { z, type ZodError } from 'zod';
import { isIsoDate } from '../domain/calendar.js';
import { CONTROL_CHARACTER_MESSAGE, NO_CONTROL_CHARACTERS } from '../domain/text.js';

/** A text field: a string without control characters (domain/text.ts); every text input is one. */
export const text = () => z.string().regex(NO_CONTROL_CHARACTERS, CONTROL_CHARACTER_MESSAGE);

export const cents = z.number().int().min(0).max(99_999_999_999);
export const positiveCents = z.number().int().min(1).max(99_999_999_999);
// A real calendar date: '2026-02-30' would be stored and then break every rule that does date arithmetic on it.
export const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD').refine(isIsoDate, 'not a calendar date');

const ruleParams = z.discriminatedUnion('rule', [
  z.strictObject({
    rule: z.literal('multa'),
    minCents: positiveCents,
    maxCents: positiveCents,
    costsCents: cents,
    notifiedOn: isoDate,
    discountExcluded: z.boolean().default(false),
  }),
  z.strictObject({ rule: z.literal('bollo'), dueDate: isoDate }),
]);

export const PaymentOptionInput = z.strictObject({
  noticeNumber: text().min(18).max(22).describe('18 digits; spaces allowed as printed'),
  lookupKey: text().min(1).max(40).optional(),
  kind: z.enum(['single', 'instalment']).default('single'),
  instalmentNo: z.number().int().min(1).max(99).optional(),
  amount: positiveCents,
  dueDate: isoDate,
  description: text().min(1).max(140),
  ruleParams: ruleParams.optional(),
});

export const DebtPositionInput = z.strictObject({
  entityId: text().min(1).max(16).optional().describe('required for admin; an entity user creates for its own entity'),
  service: text().min(1).max(12),
  externalRef: text().min(1).max(64),
  debtorFiscalCode: text().min(11).max(16),
  debtorName: text().max(140).optional(),
  description: text().min(1).max(140),
  validUntil: isoDate.optional(),
  options: z.array(PaymentOptionInput).min(1).max(24),
});

export const BulkPositionsInput = z.array(DebtPositionInput).min(1).max(50_000);

export type DebtPositionInputT = z.infer<typeof DebtPositionInput>;

/** A zod error in a line a person can read: the first five issues, each with its path. */
export function zodDetail(err: Pick<ZodError, 'issues'>): string {
  return err.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}
