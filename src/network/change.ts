// The one door through which the network's configuration changes: a NetworkChange is
// validated as a whole (src/network/validate.ts) against what the store holds, then
// applied in one transaction by Store.applyNetworkChange (all or nothing), which writes
// its audit entries and a `network.changed` event; every instance reloads its catalogue
// on that event. The admin API, the `tserve entity|service|fee|counter...` commands and
// `tserve import` all build a NetworkChange and go through here.
//
// Money never changes retroactively: fee schedule and circuit fee versions are only
// ever added, each from a date after today's (Rome) business date; a version already in
// force, or in the past, is never changed or removed.
import type { CounterKind, EntityFixture, FeeScheduleFixture, ServiceFixture } from '../domain/model.js';

/** An entity as configured: the model's entity plus its invoicing identity. */
export interface EntityInput {
  id: string; //              short code, uppercase, e.g. 'PRATO'
  name: string;
  fiscalCode: string; //      11 digits, check digit valid
  /** Partita IVA, 11 digits; null when the entity has none (it is often equal to the fiscal code). */
  vatNumber: string | null;
  iban: string; //            payout account, valid Italian IBAN
  /** FatturaPA CodiceDestinatario (Codice Univoco Ufficio, IPA): 6 uppercase letters/digits; null: no e-invoice. */
  officeCode: string | null;
  isCircuitOwner: boolean;
  segregationCode: string | null; // 2 digits
  /** Its debt positions live in pagoPA: its notices go to the node (docs/pagopa.md). */
  pagopa: boolean;
}

/** A circuit fee version: what an entity owes the owner per payment, from a date. */
export interface CircuitFeeInput {
  entityId: string;
  effectiveFrom: string; // YYYY-MM-DD
  feeCents: number;
  mode: 'netted' | 'rebilled';
}

export type ServiceInput = ServiceFixture & { enabled: boolean };
export type FeeScheduleInput = FeeScheduleFixture;

export interface CounterInput {
  id: string;
  kind: CounterKind;
  name: string;
  address: string;
  town: string;
  iban: string;
  mandateRef: string; //      SEPA direct-debit mandate reference
  creditLimitCents: number;
  status: 'active' | 'suspended';
}

/** A new terminal; its TMK and API secret are made (and sealed/hashed) by the caller. */
export interface TerminalInput {
  id: string;
  counterId: string;
  status: 'active' | 'blocked';
}

export interface UserInput {
  username: string;
  role: 'entity' | 'finance' | 'admin';
  entityId: string | null;
}

/**
 * A set of changes, each list optional. Entities, services and counters are upserted
 * by id (created, or replaced field by field); versions (circuit fees, fee schedules)
 * are added, and re-adding an identical version is a no-op; terminals and users are
 * created when new, and their status/role updated when they exist (secrets untouched).
 */
export interface NetworkChange {
  entities?: EntityInput[];
  circuitFees?: CircuitFeeInput[];
  services?: ServiceInput[];
  feeSchedules?: FeeScheduleInput[];
  counters?: CounterInput[];
  terminals?: TerminalInput[];
  users?: UserInput[];
  /**
   * Kinds whose items this change creates and must not find (a create, not an upsert:
   * POST /v1/admin/counters, `tserve counter add`). Checked again inside the store's
   * transaction, so that two instances creating the same id at once cannot turn one
   * create into an update of the other's.
   */
  mustBeNew?: NetworkKind[];
}

export type NetworkKind = Exclude<keyof NetworkChange, 'mustBeNew'>;

/** The key of an item of each kind: entities, services, counters... by id; versions by what they are versions of and their date. */
export const NETWORK_KEYS: { [K in NetworkKind]: (x: NonNullable<NetworkChange[K]>[number]) => string } = {
  entities: (e) => e.id,
  circuitFees: (f) => `${f.entityId}/${f.effectiveFrom}`,
  services: (s) => s.code,
  feeSchedules: (f) => `${f.serviceCode}/${f.counterKind}/${f.effectiveFrom}`,
  counters: (c) => c.id,
  terminals: (t) => t.id,
  users: (u) => u.username,
};

/** One problem of a change: which list, which item of it (0-based), which field, and why. */
export interface NetworkProblem {
  kind: NetworkKind;
  index: number;
  field?: string;
  message: string;
}

/** Secrets made for new terminals and users, sealed/hashed for the store. */
export interface NewSecrets {
  terminals: Map<string, { tmkSealed: string; secretHash: string }>;
  users: Map<string, { passwordHash: string }>;
}

/** What an applied change did, counted per kind. */
export type NetworkApplied = Record<NetworkKind, { created: number; updated: number; unchanged: number }>;

/** The whole network as the store holds it (what `tserve export` writes). */
export interface NetworkState {
  entities: EntityInput[];
  circuitFees: CircuitFeeInput[];
  services: ServiceInput[];
  feeSchedules: FeeScheduleInput[];
  counters: CounterInput[];
  terminals: TerminalInput[];
  users: UserInput[];
}

export type { EntityFixture };

/** Secrets of what a change created, shown this once (terminal keys, API secrets, passwords). */
export interface NewCredentials {
  terminals: { terminalId: string; counterId: string; tmk: string; apiSecret: string }[];
  users: { username: string; password: string }[];
}

/**
 * The network configuration service (src/network/service.ts implements it): reads the
 * whole network, checks a change without writing anything (the dry run), applies one.
 * `today` for the effective-date rules comes from the injected clock (Rome date).
 */
export interface NetworkConfiguration {
  state(): Promise<NetworkState>;
  /** Every problem of the change, against the stored network; empty: it would apply. */
  check(change: NetworkChange): Promise<NetworkProblem[]>;
  /** Checks then applies in one transaction, audited under `actor`; nothing is written when there is a problem. */
  apply(change: NetworkChange, actor: string): Promise<{ ok: true; applied: NetworkApplied; credentials: NewCredentials } | { ok: false; problems: NetworkProblem[] }>;
}
