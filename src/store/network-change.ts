// A network change (src/network/change.ts) as both stores write it: the network read
// from its rows, the change compared with it item by item (created, updated, unchanged),
// and the statements, audit entries and `network.changed` event of what changed. Pure,
// and free of zod: the SQLite writer's thread plans inside its transaction, against the
// rows as they are at that moment.
import { isDeepStrictEqual } from 'node:util';
import type { FeeRule } from '../domain/model.js';
import type { AuditEntry, EventRow } from '../ledger/port.js';
import type { NetworkApplied, NetworkChange, NetworkKind, NetworkState, NewSecrets } from '../network/change.js';
import { toService, type CircuitFeeRow, type CounterRow, type EntityRow, type FeeScheduleRow, type ServiceRow, type TerminalListRow } from './rows.js';

export const NETWORK_KINDS: readonly NetworkKind[] = ['entities', 'circuitFees', 'services', 'feeSchedules', 'counters', 'terminals', 'users'];

/** The queries of the network's rows, in a stable order (placeholders-free: both dialects). */
export const NETWORK_READS = {
  entities: 'SELECT * FROM entities ORDER BY id',
  fees: 'SELECT * FROM circuit_fees ORDER BY entity_id, effective_from',
  services: 'SELECT * FROM services ORDER BY code',
  schedules: 'SELECT * FROM fee_schedules ORDER BY service_code, counter_kind, effective_from',
  counters: 'SELECT * FROM counters ORDER BY id',
  terminals: 'SELECT id, counter_id, status, created_at FROM terminals ORDER BY id',
  users: 'SELECT username, role, entity_id FROM users ORDER BY username',
} as const;

export interface NetworkRows {
  entities: EntityRow[];
  fees: CircuitFeeRow[];
  services: ServiceRow[];
  schedules: FeeScheduleRow[];
  counters: CounterRow[];
  terminals: TerminalListRow[];
  users: { username: string; role: 'entity' | 'finance' | 'admin'; entity_id: string | null }[];
}

/**
 * A change met an item it creates already there (made by another instance or process
 * since the change was checked): refused whole, nothing written. Its name and `code`
 * (kind and key) cross the SQLite writer's thread (writer-thread.ts keeps name, message, code).
 */
export class NetworkConflictError extends Error {
  /** `<kind>:<key>`: what met the conflict. */
  readonly code: string;
  constructor(kind: NetworkKind, key: string) {
    super(`${kind} ${key} exists already: it was created meanwhile`);
    this.name = 'NetworkConflictError';
    this.code = `${kind}:${key}`;
  }
}

/** Every list of the network's rows, read by `all` (synchronously: SQLite's writer plans inside its transaction). */
export function networkRows(all: (sql: string) => unknown[]): NetworkRows {
  return Object.fromEntries(Object.entries(NETWORK_READS).map(([list, sql]) => [list, all(sql)])) as unknown as NetworkRows;
}

/** The same, read by an asynchronous `all` (a PostgreSQL client runs them one after the other). */
export async function networkRowsAsync(all: (sql: string) => Promise<unknown[]>): Promise<NetworkRows> {
  const lists = await Promise.all(Object.values(NETWORK_READS).map(all));
  return Object.fromEntries(Object.keys(NETWORK_READS).map((list, i) => [list, lists[i]])) as unknown as NetworkRows;
}

/** The network of its rows; fee rules parsed by the caller's parser (zod on the main thread). */
export function networkStateOf(r: NetworkRows, parseRule: (json: string) => FeeRule = (s) => JSON.parse(s) as FeeRule): NetworkState {
  return {
    entities: r.entities.map((e) => ({
      id: e.id,
      name: e.name,
      fiscalCode: e.fiscal_code,
      vatNumber: e.vat_number,
      iban: e.iban,
      officeCode: e.office_code,
      isCircuitOwner: e.is_circuit_owner === 1,
      segregationCode: e.segregation_code,
      pagopa: e.pagopa === 1,
    })),
    circuitFees: r.fees.map((f) => ({ entityId: f.entity_id, effectiveFrom: f.effective_from, feeCents: f.fee_cents, mode: f.mode })),
    services: r.services.map(toService),
    feeSchedules: r.schedules.map((f) => ({
      serviceCode: f.service_code,
      counterKind: f.counter_kind,
      effectiveFrom: f.effective_from,
      feeRule: parseRule(f.fee_rule),
      commissionRate: f.commission_rate,
      royaltyCents: f.royalty_cents,
    })),
    counters: r.counters.map((c) => ({
      id: c.id,
      kind: c.kind,
      name: c.name,
      address: c.address,
      town: c.town,
      iban: c.iban,
      mandateRef: c.mandate_ref,
      creditLimitCents: c.credit_limit_cents,
      status: c.status,
    })),
    terminals: r.terminals.map((t) => ({ id: t.id, counterId: t.counter_id, status: t.status })),
    users: r.users.map((u) => ({ username: u.username, role: u.role, entityId: u.entity_id })),
  };
}

/** One SQL statement with `?` placeholders (PostgreSQL numbers them). */
export interface Statement {
  sql: string;
  params: unknown[];
}

export interface NetworkPlan {
  statements: Statement[];
  audits: AuditEntry[];
  /** The `network.changed` event; null when nothing changed (nothing is written then). */
  event: Omit<EventRow, 'seq'> | null;
  /** Counters and terminals whose cached rows are stale. */
  stale: { counters: string[]; terminals: string[] };
  applied: NetworkApplied;
}

/** How each kind's items are keyed, versioned or not, written and audited: a table, not branches. */
interface KindSpec<T> {
  key(item: T): string;
  /** Versions are only ever added; an existing one may come again identical, never changed. */
  versioned: boolean;
  /** The fields compared (and written on update); terminals and users keep their secrets. */
  fields(item: T): Record<string, unknown>;
  insert(item: T, ctx: { at: number; secrets: NewSecrets }): Statement;
  update(item: T): Statement;
  action: { create: string; update: string };
  /** What the audit entry says of a new item (never a secret). */
  detail?(item: T): Record<string, unknown>;
}

const bool = (b: boolean) => (b ? 1 : 0);

type Item<K extends NetworkKind> = NonNullable<NetworkChange[K]>[number];
type Specs = { [K in NetworkKind]: KindSpec<Item<K>> };

const SPECS: Specs = {
  entities: {
    key: (e) => e.id,
    versioned: false,
    fields: ({ id: _id, ...rest }) => rest,
    insert: (e) => ({
      sql: 'INSERT INTO entities (id, name, fiscal_code, vat_number, iban, office_code, is_circuit_owner, segregation_code, pagopa) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      params: [e.id, e.name, e.fiscalCode, e.vatNumber, e.iban, e.officeCode, bool(e.isCircuitOwner), e.segregationCode, bool(e.pagopa)],
    }),
    update: (e) => ({
      sql: 'UPDATE entities SET name = ?, fiscal_code = ?, vat_number = ?, iban = ?, office_code = ?, is_circuit_owner = ?, segregation_code = ?, pagopa = ? WHERE id = ?',
      params: [e.name, e.fiscalCode, e.vatNumber, e.iban, e.officeCode, bool(e.isCircuitOwner), e.segregationCode, bool(e.pagopa), e.id],
    }),
    action: { create: 'entity.save', update: 'entity.save' },
  },
  circuitFees: {
    key: (f) => `${f.entityId}/${f.effectiveFrom}`,
    versioned: true,
    fields: ({ feeCents, mode }) => ({ feeCents, mode }),
    insert: (f) => ({ sql: 'INSERT INTO circuit_fees (entity_id, effective_from, fee_cents, mode) VALUES (?, ?, ?, ?)', params: [f.entityId, f.effectiveFrom, f.feeCents, f.mode] }),
    update: () => {
      throw new Error('a circuit fee version is never changed');
    },
    action: { create: 'circuit_fee.add', update: 'circuit_fee.add' },
  },
  services: {
    key: (s) => s.code,
    versioned: false,
    fields: ({ code: _code, ...rest }) => rest,
    insert: (s) => ({
      sql: 'INSERT INTO services (code, name, entity_id, amount_kind, identifier_kind, rule, fixed_cents, min_cents, max_cents, enabled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      params: [s.code, s.name, s.entityId, s.amountKind, s.identifierKind, s.rule, s.fixedCents, s.minCents, s.maxCents, bool(s.enabled)],
    }),
    update: (s) => ({
      sql: 'UPDATE services SET name = ?, entity_id = ?, amount_kind = ?, identifier_kind = ?, rule = ?, fixed_cents = ?, min_cents = ?, max_cents = ?, enabled = ? WHERE code = ?',
      params: [s.name, s.entityId, s.amountKind, s.identifierKind, s.rule, s.fixedCents, s.minCents, s.maxCents, bool(s.enabled), s.code],
    }),
    action: { create: 'service.save', update: 'service.save' },
  },
  feeSchedules: {
    key: (f) => `${f.serviceCode}/${f.counterKind}/${f.effectiveFrom}`,
    versioned: true,
    fields: ({ feeRule, commissionRate, royaltyCents }) => ({ feeRule, commissionRate, royaltyCents }),
    insert: (f) => ({
      sql: 'INSERT INTO fee_schedules (service_code, counter_kind, effective_from, fee_rule, commission_rate, royalty_cents) VALUES (?, ?, ?, ?, ?, ?)',
      params: [f.serviceCode, f.counterKind, f.effectiveFrom, JSON.stringify(f.feeRule), f.commissionRate, f.royaltyCents],
    }),
    update: () => {
      throw new Error('a fee schedule version is never changed');
    },
    action: { create: 'fee_schedule.add', update: 'fee_schedule.add' },
  },
  counters: {
    key: (c) => c.id,
    versioned: false,
    fields: ({ id: _id, ...rest }) => rest,
    insert: (c) => ({
      sql: 'INSERT INTO counters (id, kind, name, address, town, iban, mandate_ref, credit_limit_cents, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      params: [c.id, c.kind, c.name, c.address, c.town, c.iban, c.mandateRef, c.creditLimitCents, c.status],
    }),
    update: (c) => ({
      sql: 'UPDATE counters SET kind = ?, name = ?, address = ?, town = ?, iban = ?, mandate_ref = ?, credit_limit_cents = ?, status = ? WHERE id = ?',
      params: [c.kind, c.name, c.address, c.town, c.iban, c.mandateRef, c.creditLimitCents, c.status, c.id],
    }),
    action: { create: 'counter.save', update: 'counter.save' },
  },
  terminals: {
    key: (t) => t.id,
    versioned: false,
    fields: ({ counterId, status }) => ({ counterId, status }),
    insert: (t, { at, secrets }) => {
      const s = secrets.terminals.get(t.id);
      if (!s) throw new Error(`no sealed key for the new terminal ${t.id}`);
      return { sql: 'INSERT INTO terminals (id, counter_id, status, tmk_enc, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)', params: [t.id, t.counterId, t.status, s.tmkSealed, s.secretHash, at] };
    },
    // A terminal stays with its counter (its payments name both): only its status changes.
    update: (t) => ({ sql: 'UPDATE terminals SET status = ? WHERE id = ? AND counter_id = ?', params: [t.status, t.id, t.counterId] }),
    action: { create: 'terminal.create', update: 'terminal.save' },
  },
  users: {
    key: (u) => u.username,
    versioned: false,
    fields: ({ role, entityId }) => ({ role, entityId }),
    insert: (u, { at, secrets }) => {
      const s = secrets.users.get(u.username);
      if (!s) throw new Error(`no password hash for the new user ${u.username}`);
      return { sql: 'INSERT INTO users (username, role, entity_id, password_hash, created_at) VALUES (?, ?, ?, ?, ?)', params: [u.username, u.role, u.entityId, s.passwordHash, at] };
    },
    update: (u) => ({ sql: 'UPDATE users SET role = ?, entity_id = ? WHERE username = ?', params: [u.role, u.entityId, u.username] }),
    action: { create: 'user.save', update: 'user.save' },
  },
};

/** The fields that differ, as { field: { from, to } } (what an update's audit entry says). */
function differences(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const k of Object.keys(after)) if (!isDeepStrictEqual(before[k], after[k])) out[k] = { from: before[k], to: after[k] };
  return out;
}

function planKind<K extends NetworkKind>(kind: K, current: NetworkState, change: NetworkChange, ctx: { at: number; secrets: NewSecrets; mustBeNew: Set<NetworkKind> }, plan: NetworkPlan): void {
  const spec = SPECS[kind] as KindSpec<Item<K>>;
  const existing = new Map((current[kind] as Item<K>[]).map((x) => [spec.key(x), x]));
  let items = (change[kind] ?? []) as Item<K>[];
  // The owner last: an entity that stops owning the circuit is written before the one that starts.
  if (kind === 'entities') items = [...items].sort((a, b) => Number((a as Item<'entities'>).isCircuitOwner) - Number((b as Item<'entities'>).isCircuitOwner));
  const counts = plan.applied[kind];
  for (const item of items) {
    const key = spec.key(item);
    const before = existing.get(key);
    const after = spec.fields(item);
    if (before === undefined) {
      plan.statements.push(spec.insert(item, ctx));
      plan.audits.push({ actor: '', action: spec.action.create, target: key, detail: { created: true, ...(spec.detail?.(item) ?? after) } });
      existing.set(key, item);
      counts.created++;
      continue;
    }
    // Created by someone else since the change was checked: for terminals and users this
    // change holds secrets (shown once to its caller) that would never be stored.
    const madeSecrets = (kind === 'terminals' && ctx.secrets.terminals.has(key)) || (kind === 'users' && ctx.secrets.users.has(key));
    if (madeSecrets || ctx.mustBeNew.has(kind)) throw new NetworkConflictError(kind, key);
    const changed = differences(spec.fields(before), after);
    if (Object.keys(changed).length === 0) {
      counts.unchanged++;
      continue;
    }
    // The validation refuses these (validate.ts); the store refuses them again, whatever the caller.
    if (spec.versioned) throw new Error(`${kind} ${key} exists with other values: a version is only ever added, never changed`);
    if (kind === 'terminals' && 'counterId' in changed) throw new Error(`terminal ${key} belongs to counter ${(before as Item<'terminals'>).counterId}: it cannot move`);
    plan.statements.push(spec.update(item));
    plan.audits.push({ actor: '', action: spec.action.update, target: key, detail: changed });
    existing.set(key, item);
    counts.updated++;
  }
}

/**
 * What a change does to the network as it is: statements in dependency order (entities
 * before their fees and services, counters before terminals), one audit entry per
 * created or changed item, and the event. Throws when the change would alter a version.
 */
export function planNetworkChange(current: NetworkState, change: NetworkChange, secrets: NewSecrets, actor: string, at: number): NetworkPlan {
  const applied = Object.fromEntries(NETWORK_KINDS.map((k) => [k, { created: 0, updated: 0, unchanged: 0 }])) as NetworkApplied;
  const plan: NetworkPlan = { statements: [], audits: [], event: null, stale: { counters: [], terminals: [] }, applied };
  const mustBeNew = new Set(change.mustBeNew ?? []);
  for (const kind of NETWORK_KINDS) planKind(kind, current, change, { at, secrets, mustBeNew }, plan);
  for (const a of plan.audits) {
    a.actor = actor;
    a.target = a.action.startsWith('user.') ? `user:${a.target}` : a.target;
  }
  plan.stale.counters = (change.counters ?? []).map((c) => c.id);
  plan.stale.terminals = (change.terminals ?? []).map((t) => t.id);
  if (plan.statements.length > 0) {
    plan.event = { type: 'network.changed', at, terminalId: null, counterId: null, entityId: null, serviceCode: null, payload: { ...applied } };
  }
  return plan;
}

/** Terminals and users as plain arrays (the SQLite writer's thread gets them by message). */
export function secretsOf(s: { terminals: [string, { tmkSealed: string; secretHash: string }][]; users: [string, { passwordHash: string }][] }): NewSecrets {
  return { terminals: new Map(s.terminals), users: new Map(s.users) };
}
