// Schemas of the network's configuration (admin API, src/http/network-api.ts; the
// `tserve entity|service|fee|counter|terminals` commands parse their options with them
// too). They check shapes and types only: every rule of the network (check digits,
// IBANs, references, effective dates) is src/network/validate.ts's, so that the API, the
// CLI and `tserve import` refuse the same things with the same words.
import { z } from 'zod';
import { COUNTER_KINDS, type IdentifierKind } from '../domain/model.js';
import type { NetworkKind, NetworkProblem } from '../network/change.js';
import { cents, isoDate, text } from '../payments/inputs.js';

const IDENTIFIER_KINDS = [
  'notice',
  'fine_plate',
  'plate',
  'plate_vehicle',
  'plate_fiscal_code',
  'fiscal_code',
  'fiscal_code_year',
  'vat_period',
  'user_code',
  'file_number',
  'fine_number',
] as const satisfies readonly IdentifierKind[];

const decimal = z.string().regex(/^\d+(\.\d+)?$/, 'a decimal number, e.g. 0.25').describe('decimal string');
const counterKind = z.enum(COUNTER_KINDS as [string, ...string[]]).describe('tabaccaio, agenzia or supermercato');
const mode = z.enum(['netted', 'rebilled']).describe('netted: kept from the entity’s payout; rebilled: invoiced monthly (FatturaPA)');

// ----- entities

export const EntityBody = z.strictObject({
  name: text().min(1).max(140),
  fiscalCode: text().max(16).describe('codice fiscale of the entity: 11 digits, check digit valid'),
  vatNumber: text().max(16).nullable().default(null).describe('partita IVA, 11 digits; null when none'),
  iban: text().max(40).describe('payout account, Italian IBAN'),
  officeCode: text().max(16).nullable().default(null).describe('FatturaPA Codice Univoco Ufficio (IPA), 6 characters; null: no e-invoice'),
  isCircuitOwner: z.boolean().default(false),
  segregationCode: text().max(4).nullable().default(null).describe('2 digits, for aux-3 notice numbers'),
  pagopa: z.boolean().default(false).describe('its debt positions live in pagoPA: its notices are verified and paid through the node'),
});
export const CircuitFeeBody = z.strictObject({
  effectiveFrom: isoDate.describe('a date after today (Rome): money never changes retroactively'),
  feeCents: cents.describe('owed to the circuit owner per payment, cents'),
  mode,
});
export const CircuitFeeOut = z.object({ entityId: z.string(), effectiveFrom: isoDate, feeCents: cents, mode });
export const EntityOut = z.object({
  id: z.string(),
  name: z.string(),
  fiscalCode: z.string(),
  vatNumber: z.string().nullable(),
  iban: z.string(),
  officeCode: z.string().nullable(),
  isCircuitOwner: z.boolean(),
  segregationCode: z.string().nullable(),
  pagopa: z.boolean(),
  circuitFees: z.array(CircuitFeeOut).describe('versions, oldest first'),
});

// ----- services and fee schedules

export const ServiceBody = z.strictObject({
  name: text().min(1).max(140),
  entityId: text().min(1).max(16),
  amountKind: z.enum(['L', 'F', 'C', 'S']).describe('L: looked up, F: fixed, C: computed, S: self-assessed'),
  identifierKind: z.enum(IDENTIFIER_KINDS),
  rule: z.enum(['multa', 'bollo']).nullable().default(null).describe('amount rule applied to looked-up positions'),
  fixedCents: cents.nullable().default(null).describe('amount kind F'),
  minCents: cents.nullable().default(null).describe('amount kind S'),
  maxCents: cents.nullable().default(null).describe('amount kind S'),
  enabled: z.boolean().optional().describe('default: true for a new service, unchanged for an existing one'),
});
export const ServiceOut = z.object({
  code: z.string(),
  name: z.string(),
  entityId: z.string(),
  amountKind: z.string(),
  identifierKind: z.string(),
  rule: z.string().nullable(),
  fixedCents: cents.nullable(),
  minCents: cents.nullable(),
  maxCents: cents.nullable(),
  enabled: z.boolean(),
});

export const FeeRuleBody = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('fixed'), cents }),
  z.strictObject({ type: z.literal('percent'), rate: decimal, minCents: cents, maxCents: cents }),
  z.strictObject({
    type: z.literal('tiers'),
    tiers: z.array(z.strictObject({ upToCents: cents.nullable(), cents })).min(1).max(50).describe('ascending; the last has upToCents null'),
  }),
]);
export const FeeScheduleBody = z.strictObject({
  serviceCode: text().min(1).max(12),
  counterKind,
  effectiveFrom: isoDate.describe('a date after today (Rome): money never changes retroactively'),
  feeRule: FeeRuleBody,
  commissionRate: decimal.describe("the counter's share of (fee - royalty)"),
  royaltyCents: cents,
});
export const FeeScheduleOut = z.object({
  serviceCode: z.string(),
  counterKind: z.string(),
  effectiveFrom: isoDate,
  feeRule: z.unknown(),
  commissionRate: z.string(),
  royaltyCents: cents,
});
export const FeeScheduleQuery = z.strictObject({
  service: text().min(1).max(12).optional(),
  counterKind: counterKind.optional(),
});

// ----- counters, terminals, users

const counterFields = {
  kind: counterKind,
  name: text().min(1).max(140),
  address: text().min(1).max(200),
  town: text().min(1).max(100),
  iban: text().max(40).describe('the account the SDD collects from'),
  mandateRef: text().min(1).max(35).describe('SEPA direct-debit mandate reference'),
  creditLimitCents: cents,
  status: z.enum(['active', 'suspended']).optional().describe('default: active for a new counter, unchanged for an existing one'),
};
export const CounterCreate = z.strictObject({
  id: z.string().regex(/^[A-Z0-9]{1,15}$/, 'up to 15 uppercase letters and digits').optional().describe('default: the next C number'),
  ...counterFields,
});
export const CounterUpdate = z.strictObject(counterFields);
export const NetworkCounterOut = z.object({
  id: z.string(),
  kind: z.string(),
  name: z.string(),
  address: z.string(),
  town: z.string(),
  iban: z.string(),
  mandateRef: z.string(),
  creditLimitCents: cents,
  status: z.enum(['active', 'suspended']),
});

export const UserBody = z.strictObject({
  role: z.enum(['entity', 'finance', 'admin']),
  entityId: text().min(1).max(16).nullable().default(null).describe('the entity an entity user acts for; null for the other roles'),
});
export const UserOut = z.object({ username: z.string(), role: z.string(), entityId: z.string().nullable(), disabled: z.boolean().optional() });
export const CreatedUser = UserOut.extend({ password: z.string().optional().describe('a new user (201): its generated password, shown this once, never again') });

export const Username = text().min(1).max(64).describe('lowercase letters, digits, ".", "_" or "-"');
export const EntityId = text().min(1).max(16).describe('2 to 16 uppercase letters, digits or _, e.g. PRATO');
export const ServiceCode = text().min(1).max(12).describe('1 to 12 uppercase letters, digits or _, e.g. TARI');

/** A zod failure as network problems: one per issue, its path as the field. */
export function zodProblems(kind: NetworkKind, issues: readonly z.core.$ZodIssue[]): NetworkProblem[] {
  return issues.map((i) => ({ kind, index: 0, ...(i.path.length ? { field: i.path.map(String).join('.') } : {}), message: i.message }));
}
