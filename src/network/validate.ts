// A network change checked whole, against the network it would change: every problem,
// each with its list, item and field (a CSV import shows them all at once). Formats are
// zod schemas per kind; what an item may not change once created, and what must hold of
// the resulting network, are tables of rules below.
//
// What an item may not change once it exists (and why):
//   entity   isCircuitOwner — the owner earns the royalties and circuit fees booked in
//            its ledger accounts; moving them is not a configuration change.
//   service  entityId, amountKind, identifierKind, rule — its debt positions, payments
//            and settlement lines belong to the entity, and its positions were loaded for
//            that identifier and amount kind; a different service is a new code.
//   counter  kind — the fees its payments were booked with depend on it.
//   terminal counterId — its payments name both.
//   versions (circuit fees, fee schedules) — never changed: an identical one is a no-op.
// Money never changes retroactively: a new version starts after today's Rome business
// date, except on an empty network (the first import), whose history is empty.
import { z } from 'zod';
import { COUNTER_KINDS, type FeeRule } from '../domain/model.js';
import { isValidFiscalCode, isValidPartitaIva } from '../domain/fiscal-code.js';
import { ibanProblem } from '../domain/iban.js';
import { IDENTIFIER_PARSERS } from '../domain/identifiers.js';
import { RESERVED_SEGREGATION_CODES } from '../domain/notice.js';
import { NETWORK_KEYS, type NetworkChange, type NetworkKind, type NetworkProblem, type NetworkState } from './change.js';

// ------------------------------------------------------------------ formats

const cents = z.number().int('integer cents').nonnegative('not negative').max(Number.MAX_SAFE_INTEGER);
const positiveCents = z.number().int('integer cents').positive('more than 0').max(Number.MAX_SAFE_INTEGER);
const text = (max: number) => z.string().trim().min(1, 'required').max(max);
const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD')
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, 'not a calendar date');
const iban = z.string().refine((s) => !/\s/.test(s) && ibanProblem(s) === null, { error: (i) => `IBAN ${ibanProblem(String(i.input)) ?? 'without spaces'}` });
/** A decimal share in [0, 1], as a string (no float ever holds it). */
const rate = z.string().regex(/^(0(\.\d{1,6})?|1(\.0{1,6})?)$/, 'a decimal between 0 and 1, e.g. "0.70"');

const entityId = z.string().regex(/^[A-Z][A-Z0-9_]{1,15}$/, '2 to 16 uppercase letters, digits or _');
const serviceCode = z.string().regex(/^[A-Z][A-Z0-9_]{0,11}$/, '1 to 12 uppercase letters, digits or _');
/** ISO 8583 field 42 (counter) holds 15 characters, field 41 (terminal) 8. */
const counterId = z.string().regex(/^[A-Z0-9]{1,15}$/, '1 to 15 uppercase letters or digits (ISO field 42)');
const terminalId = z.string().regex(/^[A-Z0-9]{1,8}$/, '1 to 8 uppercase letters or digits (ISO field 41)');
const counterKind = z.enum(COUNTER_KINDS as [string, ...string[]]);

const feeRule = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('fixed'), cents }),
  z
    .strictObject({ type: z.literal('percent'), rate, minCents: cents, maxCents: cents })
    .refine((r) => r.minCents <= r.maxCents, { message: 'minCents above maxCents', path: ['maxCents'] }),
  z
    .strictObject({ type: z.literal('tiers'), tiers: z.array(z.strictObject({ upToCents: positiveCents.nullable(), cents })).min(1, 'at least one tier') })
    .refine((r) => r.tiers.at(-1)?.upToCents === null, { message: 'the last tier has upToCents null (no upper bound)', path: ['tiers'] })
    .refine((r) => r.tiers.slice(0, -1).every((t, i) => t.upToCents !== null && (i === 0 || t.upToCents > r.tiers[i - 1]!.upToCents!)), {
      message: 'tiers in increasing upToCents, only the last unbounded',
      path: ['tiers'],
    }),
]) satisfies z.ZodType<FeeRule>;

const SCHEMAS: { [K in NetworkKind]: z.ZodType } = {
  entities: z.strictObject({
    id: entityId,
    name: text(200),
    fiscalCode: z.string().refine((s) => /^\d{11}$/.test(s) && isValidFiscalCode(s), '11 digits with a valid check digit'),
    vatNumber: z.string().refine(isValidPartitaIva, 'a partita IVA: 11 digits with a valid check digit').nullable(),
    iban,
    officeCode: z.string().regex(/^[A-Z0-9]{6}$/, 'a FatturaPA office code: 6 uppercase letters or digits').nullable(),
    isCircuitOwner: z.boolean(),
    segregationCode: z
      .string()
      .regex(/^\d{2}$/, '2 digits')
      .refine((s) => !(s in RESERVED_SEGREGATION_CODES), 'a nationally reserved segregation code')
      .nullable(),
    pagopa: z.boolean(),
  }),
  circuitFees: z.strictObject({ entityId, effectiveFrom: isoDate, feeCents: cents, mode: z.enum(['netted', 'rebilled']) }),
  services: z
    .strictObject({
      code: serviceCode,
      name: text(200),
      entityId,
      amountKind: z.enum(['L', 'F', 'C', 'S']),
      identifierKind: z.enum(Object.keys(IDENTIFIER_PARSERS) as [string, ...string[]]),
      rule: z.enum(['multa', 'bollo']).nullable(),
      fixedCents: positiveCents.nullable(),
      minCents: positiveCents.nullable(),
      maxCents: positiveCents.nullable(),
      enabled: z.boolean(),
    })
    .superRefine((s, ctx) => {
      // The amount's fields follow its kind: F a tariff, S bounds, L and C none (a table of which field each kind needs).
      const needs: Record<string, readonly ('fixedCents' | 'minCents' | 'maxCents')[]> = { F: ['fixedCents'], S: ['minCents', 'maxCents'], L: [], C: [] };
      for (const f of ['fixedCents', 'minCents', 'maxCents'] as const) {
        const needed = needs[s.amountKind]!.includes(f);
        if (needed && s[f] === null) ctx.addIssue({ code: 'custom', path: [f], message: `required for amount kind ${s.amountKind}` });
        if (!needed && s[f] !== null) ctx.addIssue({ code: 'custom', path: [f], message: `must be null for amount kind ${s.amountKind}` });
      }
      if (s.minCents !== null && s.maxCents !== null && s.minCents > s.maxCents) ctx.addIssue({ code: 'custom', path: ['maxCents'], message: 'minCents above maxCents' });
      // A service no payment could be taken for is refused here, not at the counter.
      if (s.amountKind === 'C') {
        ctx.addIssue({ code: 'custom', path: ['amountKind'], message: 'C (computed) is not supported by this switch: its rules (multa, bollo) apply to looked-up positions, amount kind L' });
      }
    }),
  feeSchedules: z.strictObject({ serviceCode, counterKind, effectiveFrom: isoDate, feeRule, commissionRate: rate, royaltyCents: cents }),
  counters: z.strictObject({
    id: counterId,
    kind: counterKind,
    name: text(200),
    address: text(200),
    town: text(100),
    iban,
    mandateRef: z.string().regex(/^[A-Za-z0-9+?/:().,' -]{1,35}$/, 'a SEPA mandate reference: 1 to 35 characters of the SEPA set'),
    creditLimitCents: cents,
    status: z.enum(['active', 'suspended']),
  }),
  terminals: z.strictObject({ id: terminalId, counterId, status: z.enum(['active', 'blocked']) }),
  users: z
    .strictObject({
      username: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, '1 to 64 lowercase letters, digits, ".", "_" or "-"'),
      role: z.enum(['entity', 'finance', 'admin']),
      entityId: entityId.nullable(),
    })
    .refine((u) => (u.role === 'entity') === (u.entityId !== null), { message: 'an entity user names its entity; finance and admin users none', path: ['entityId'] }),
};

// ------------------------------------------------------------------ the resulting network


type Item<K extends NetworkKind> = NetworkState[K][number];

/** What may not change once an item exists (see the head of this file). */
const FIXED_ONCE_CREATED: { [K in NetworkKind]?: readonly (keyof Item<K>)[] } = {
  entities: ['isCircuitOwner'],
  services: ['entityId', 'amountKind', 'identifierKind', 'rule'],
  counters: ['kind'],
  terminals: ['counterId'],
};

/** Versioned kinds: only ever added, from a date after today (but on an empty network). */
const VERSIONED: readonly NetworkKind[] = ['circuitFees', 'feeSchedules'];

/** References to another kind, checked against the resulting network. */
const REFERENCES: { kind: NetworkKind; field: string; to: NetworkKind; of: (x: never) => string | null }[] = [
  { kind: 'circuitFees', field: 'entityId', to: 'entities', of: (f: Item<'circuitFees'>) => f.entityId },
  { kind: 'services', field: 'entityId', to: 'entities', of: (s: Item<'services'>) => s.entityId },
  { kind: 'feeSchedules', field: 'serviceCode', to: 'services', of: (f: Item<'feeSchedules'>) => f.serviceCode },
  { kind: 'terminals', field: 'counterId', to: 'counters', of: (t: Item<'terminals'>) => t.counterId },
  { kind: 'users', field: 'entityId', to: 'entities', of: (u: Item<'users'>) => u.entityId },
];

const KINDS = Object.keys(NETWORK_KEYS) as NetworkKind[];
const NOUN: Record<NetworkKind, string> = {
  entities: 'entity',
  circuitFees: 'circuit fee',
  services: 'service',
  feeSchedules: 'fee schedule',
  counters: 'counter',
  terminals: 'terminal',
  users: 'user',
};

function sameValue(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, x]) => [k, canon(x)]))
      : Array.isArray(v)
        ? v.map(canon)
        : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

/**
 * Every problem of `change` against `current`, the network as stored; empty: it applies.
 * `today` is the Rome business date (YYYY-MM-DD) of the injected clock.
 */
export function checkNetworkChange(current: NetworkState, change: NetworkChange, today: string): NetworkProblem[] {
  const problems: NetworkProblem[] = [];
  const add = (kind: NetworkKind, index: number, message: string, field?: string) => problems.push({ kind, index, message, ...(field ? { field } : {}) });
  const firstNetwork = current.entities.length === 0;
  // A version of a service or entity this very change creates has no history either: no
  // payment was ever booked under it, so no date of it can be retroactive.
  const newServices = new Set((change.services ?? []).map((x) => x.code).filter((c) => !current.services.some((x) => x.code === c)));
  const newEntities = new Set((change.entities ?? []).map((x) => x.id).filter((id) => !current.entities.some((x) => x.id === id)));
  const createdWith = (item: unknown): boolean => {
    const v = item as { serviceCode?: string; entityId?: string };
    return v.serviceCode !== undefined ? newServices.has(v.serviceCode) : v.entityId !== undefined && newEntities.has(v.entityId);
  };

  // Formats, item by item; only well-formed items go on to the network's rules.
  const valid: { [K in NetworkKind]?: { item: Item<K>; index: number }[] } = {};
  for (const kind of KINDS) {
    const list: unknown = change[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      add(kind, 0, 'a list of items');
      continue;
    }
    const ok: { item: never; index: number }[] = [];
    list.forEach((raw, index) => {
      const r = SCHEMAS[kind].safeParse(raw);
      if (r.success) ok.push({ item: raw as never, index });
      else for (const issue of r.error.issues) add(kind, index, issue.message, issue.path.length > 0 ? issue.path.join('.') : undefined);
    });
    (valid as Record<string, unknown>)[kind] = ok;
  }

  // The network after the change: current items replaced or joined by the change's.
  const result = {} as { [K in NetworkKind]: Map<string, Item<K>> };
  for (const kind of KINDS) {
    const key = NETWORK_KEYS[kind] as (x: unknown) => string;
    const before = new Map((current[kind] as unknown[]).map((x) => [key(x), x]));
    const after = new Map(before);
    const seen = new Map<string, number>();
    for (const { item, index } of (valid[kind] ?? []) as { item: unknown; index: number }[]) {
      const k = key(item);
      const twice = seen.get(k);
      if (twice !== undefined) add(kind, index, `${k} comes twice in the change (also item ${twice})`);
      seen.set(k, index);
      const old = before.get(k);
      if (old !== undefined && change.mustBeNew?.includes(kind)) add(kind, index, `${k} exists already: this creates, it does not change`);
      else if (old !== undefined) {
        if (VERSIONED.includes(kind)) {
          if (!sameValue(old, item)) add(kind, index, `version ${k} exists with other values: a version in the network is never changed; add one from a later date`);
        } else {
          for (const f of (FIXED_ONCE_CREATED[kind] ?? []) as string[]) {
            const was = (old as Record<string, unknown>)[f];
            if (!sameValue(was, (item as Record<string, unknown>)[f])) add(kind, index, `${f} cannot change once created (it is ${JSON.stringify(was)})`, f);
          }
        }
      } else if (VERSIONED.includes(kind) && !firstNetwork && !createdWith(item)) {
        const from = (item as { effectiveFrom: string }).effectiveFrom;
        if (!(from > today)) add(kind, index, `a new version starts after today (${today}): money never changes retroactively`, 'effectiveFrom');
      }
      after.set(k, item);
    }
    (result as Record<string, unknown>)[kind] = after;
  }

  for (const ref of REFERENCES) {
    for (const { item, index } of (valid[ref.kind] ?? []) as { item: never; index: number }[]) {
      const target = ref.of(item);
      if (target !== null && !result[ref.to].has(target)) add(ref.kind, index, `no ${NOUN[ref.to]} ${target} in the network or the change`, ref.field);
    }
  }

  // Exactly one circuit owner once there are entities, and it owes itself no circuit fee.
  const entities = valid.entities ?? [];
  const owners = [...result.entities.values()].filter((e) => e.isCircuitOwner);
  if (result.entities.size > 0 && owners.length !== 1) {
    const at = entities.find((e) => e.item.isCircuitOwner) ?? entities[0];
    add('entities', at?.index ?? 0, owners.length === 0 ? 'the network needs one circuit owner (isCircuitOwner true)' : `one circuit owner only, not ${owners.map((o) => o.id).join(', ')}`, 'isCircuitOwner');
  }
  const ownerIds = new Set(owners.map((o) => o.id));
  for (const { item, index } of valid.circuitFees ?? []) {
    if (ownerIds.has(item.entityId)) add('circuitFees', index, `${item.entityId} owns the circuit: it owes itself no circuit fee`, 'entityId');
  }
  const fiscalCodes = new Map<string, string>();
  for (const e of result.entities.values()) {
    const other = fiscalCodes.get(e.fiscalCode);
    if (other !== undefined) {
      for (const { item, index } of entities) if (item.id === e.id || item.id === other) add('entities', index, `fiscal code ${e.fiscalCode} is both ${other}'s and ${e.id}'s`, 'fiscalCode');
    }
    fiscalCodes.set(e.fiscalCode, e.id);
  }
  return problems;
}
