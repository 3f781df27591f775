// Rows as SQLite gives them (typed through better-sqlite3's statement generics, so no
// casts), and their mapping to the model.
//
// A column whose CHECK constraint names its values (kind, status, mode, role, channel,
// ...) is typed here with that union directly: the schema stores no other value. The few
// unions without a CHECK (services.identifier_kind and rule, payments.counter_kind) are
// written only by this store, from the same typed values, and say so where declared.
import type {
  AmountKind,
  Counter,
  CounterKind,
  DebtPositionView,
  Entity,
  FeeRule,
  FeeSchedule,
  IdentifierKind,
  OptionView,
  Payment,
  PositionStatus,
  RuleParams,
  Service,
  Terminal,
} from '../domain/model.js';
import { checkNoticeNumber } from '../domain/notice.js';
import type { EventRow, IdempotencyRecord } from '../ledger/port.js';
import type { PaymentLine, RebilledSums, WindowRow } from './settlement-types.js';

export const PAYMENT_COLUMNS = `id, public_id, channel, terminal_id, counter_id, counter_kind, entity_id, service_code,
  identifier, option_id, payer_cf, amount_cents, fee_cents, fee_commission, fee_operator, fee_royalty,
  circuit_fee_cents, circuit_fee_mode, stan, rrn, approval_code, receipt_number, description, booked_at,
  settlement_date, reversed_at, reversal_settlement_date, reversal_kind`;

export interface PaymentRow {
  id: number;
  public_id: string;
  channel: Payment['channel'];
  terminal_id: string;
  counter_id: string;
  counter_kind: Payment['counterKind']; // no CHECK: booking writes it from a CounterKind
  entity_id: string;
  service_code: string;
  identifier: string;
  option_id: number | null;
  payer_cf: string | null;
  amount_cents: number;
  fee_cents: number;
  fee_commission: number;
  fee_operator: number;
  fee_royalty: number;
  circuit_fee_cents: number;
  circuit_fee_mode: Payment['circuitFeeMode'];
  stan: string | null;
  rrn: string;
  approval_code: string;
  receipt_number: string;
  description: string;
  booked_at: number;
  settlement_date: string;
  reversed_at: number | null;
  reversal_settlement_date: string | null;
  reversal_kind: Payment['reversalKind'];
}

export function toPayment(r: PaymentRow): Payment {
  return {
    id: r.id,
    publicId: r.public_id,
    channel: r.channel,
    terminalId: r.terminal_id,
    counterId: r.counter_id,
    counterKind: r.counter_kind,
    entityId: r.entity_id,
    serviceCode: r.service_code,
    identifier: r.identifier,
    optionId: r.option_id,
    payerCf: r.payer_cf,
    amountCents: r.amount_cents,
    feeCents: r.fee_cents,
    feeCommission: r.fee_commission,
    feeOperator: r.fee_operator,
    feeRoyalty: r.fee_royalty,
    circuitFeeCents: r.circuit_fee_cents,
    circuitFeeMode: r.circuit_fee_mode,
    stan: r.stan,
    rrn: r.rrn,
    approvalCode: r.approval_code,
    receiptNumber: r.receipt_number,
    description: r.description,
    bookedAt: r.booked_at,
    settlementDate: r.settlement_date,
    reversedAt: r.reversed_at,
    reversalSettlementDate: r.reversal_settlement_date,
    reversalKind: r.reversal_kind,
  };
}

/** Named parameters of an INSERT INTO payments. */
export function paymentParams(p: Payment): Record<string, string | number | null> {
  return {
    id: p.id,
    publicId: p.publicId,
    channel: p.channel,
    terminalId: p.terminalId,
    counterId: p.counterId,
    counterKind: p.counterKind,
    entityId: p.entityId,
    serviceCode: p.serviceCode,
    identifier: p.identifier,
    optionId: p.optionId,
    payerCf: p.payerCf,
    amountCents: p.amountCents,
    feeCents: p.feeCents,
    feeCommission: p.feeCommission,
    feeOperator: p.feeOperator,
    feeRoyalty: p.feeRoyalty,
    circuitFeeCents: p.circuitFeeCents,
    circuitFeeMode: p.circuitFeeMode,
    stan: p.stan,
    rrn: p.rrn,
    approvalCode: p.approvalCode,
    receiptNumber: p.receiptNumber,
    description: p.description,
    bookedAt: p.bookedAt,
    settlementDate: p.settlementDate,
  };
}

export const OPTION_VIEW_SQL = `SELECT o.id AS option_id, o.position_id, p.entity_id, p.service_code, o.notice_number,
  o.lookup_key, o.kind, o.instalment_no, o.amount_cents, o.due_date, o.description, o.rule_params,
  o.paid_payment_id, p.status AS position_status, p.valid_until, p.debtor_cf
  FROM payment_options o JOIN debt_positions p ON p.id = o.position_id`;

export interface OptionRow {
  option_id: number;
  position_id: number;
  entity_id: string;
  service_code: string;
  notice_number: string;
  lookup_key: string | null;
  kind: OptionView['kind'];
  instalment_no: number | null;
  amount_cents: number;
  due_date: string;
  description: string;
  rule_params: string | null;
  paid_payment_id: number | null;
  position_status: PositionStatus;
  valid_until: string | null;
  debtor_cf: string;
}

export function toOptionView(r: OptionRow): OptionView {
  return {
    optionId: r.option_id,
    positionId: r.position_id,
    entityId: r.entity_id,
    serviceCode: r.service_code,
    noticeNumber: r.notice_number,
    lookupKey: r.lookup_key,
    kind: r.kind,
    instalmentNo: r.instalment_no,
    amountCents: r.amount_cents,
    dueDate: r.due_date,
    description: r.description,
    ruleParams: r.rule_params === null ? null : parseRuleParams(r.rule_params),
    paidPaymentId: r.paid_payment_id,
    positionStatus: r.position_status,
    validUntil: r.valid_until,
    debtorCf: r.debtor_cf,
  };
}

function parseRuleParams(json: string): RuleParams {
  const v: unknown = JSON.parse(json);
  if (typeof v !== 'object' || v === null || !('rule' in v)) throw new Error(`rule_params is not a rule: ${json}`);
  return v as RuleParams; // written by this store from RuleParams
}

export interface CounterRow {
  id: string;
  kind: Counter['kind'];
  name: string;
  address: string;
  town: string;
  iban: string;
  mandate_ref: string;
  credit_limit_cents: number;
  settled_cents: number;
  status: Counter['status'];
}

export function toCounter(r: CounterRow): Counter {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    address: r.address,
    town: r.town,
    iban: r.iban,
    mandateRef: r.mandate_ref,
    creditLimitCents: r.credit_limit_cents,
    status: r.status,
  };
}

export interface TerminalRow {
  id: string;
  counter_id: string;
  status: Terminal['status'];
  tmk_enc: string;
  secret_hash: string;
  created_at: number;
}

export function toTerminal(r: TerminalRow): Terminal {
  return { id: r.id, counterId: r.counter_id, status: r.status, tmkSealed: r.tmk_enc, secretHash: r.secret_hash, createdAt: r.created_at };
}

export interface EventDbRow {
  seq: number;
  type: string;
  at: number;
  terminal_id: string | null;
  counter_id: string | null;
  entity_id: string | null;
  service_code: string | null;
  payload: string;
}

export function toEvent(r: EventDbRow): EventRow {
  return {
    seq: r.seq,
    type: r.type,
    at: r.at,
    terminalId: r.terminal_id,
    counterId: r.counter_id,
    entityId: r.entity_id,
    serviceCode: r.service_code,
    payload: JSON.parse(r.payload) as Record<string, unknown>, // written by this store from a Record
  };
}

export interface IdempotencyRow {
  terminal_id: string;
  key: string;
  request_hash: string;
  status: number;
  response: string;
  payment_id: number | null;
}

export interface WindowDbRow {
  date: string;
  status: WindowRow['status'];
  closed_at: number;
  computed_at: number | null;
  figures: string | null;
  figures_hash: string | null;
  approved_at: number | null;
  approved_by: string | null;
  exported_at: number | null;
}

export function toWindow(r: WindowDbRow): WindowRow {
  return {
    date: r.date,
    status: r.status,
    closedAt: r.closed_at,
    computedAt: r.computed_at,
    figures: r.figures,
    figuresHash: r.figures_hash,
    approvedAt: r.approved_at,
    approvedBy: r.approved_by,
    exportedAt: r.exported_at,
  };
}

export interface WindowTotalRow {
  settlement_date: string;
  kind: 'booking' | 'reversal' | 'adjustment';
  entity_id: string;
  service_code: string;
  counter_id: string;
  n: number;
  amount_cents: number;
  fee_cents: number;
  commission: number;
  operator: number;
  royalty: number;
  netted: number;
  rebilled: number;
}

// ---------------------------------------------------------------- catalogue

export interface EntityRow {
  id: string;
  name: string;
  fiscal_code: string;
  iban: string;
  is_circuit_owner: number;
  segregation_code: string | null;
  vat_number: string | null;
  office_code: string | null;
  pagopa: number;
}

export interface CircuitFeeRow {
  entity_id: string;
  effective_from: string;
  fee_cents: number;
  mode: 'netted' | 'rebilled';
}

export type CircuitFee = NonNullable<Entity['circuitFee']>;

export function toCircuitFee(f: CircuitFeeRow): CircuitFee {
  return { effectiveFrom: f.effective_from, feeCents: f.fee_cents, mode: f.mode };
}

/** An entity with the circuit fee in force (its latest version), if it owes one. */
export function toEntity(e: EntityRow, fee: CircuitFeeRow | undefined): Entity {
  return {
    id: e.id,
    name: e.name,
    fiscalCode: e.fiscal_code,
    iban: e.iban,
    isCircuitOwner: e.is_circuit_owner === 1,
    segregationCode: e.segregation_code,
    vatNumber: e.vat_number,
    officeCode: e.office_code,
    pagopa: e.pagopa === 1,
    circuitFee: fee ? toCircuitFee(fee) : null,
  };
}

export interface ServiceRow {
  code: string;
  name: string;
  entity_id: string;
  amount_kind: AmountKind;
  identifier_kind: IdentifierKind; // no CHECK: seed writes it from a ServiceFixture
  rule: Service['rule']; // no CHECK: seed writes it from a ServiceFixture
  fixed_cents: number | null;
  min_cents: number | null;
  max_cents: number | null;
  enabled: number;
}

export function toService(s: ServiceRow): Service {
  return {
    code: s.code,
    name: s.name,
    entityId: s.entity_id,
    amountKind: s.amount_kind,
    identifierKind: s.identifier_kind,
    rule: s.rule,
    fixedCents: s.fixed_cents,
    minCents: s.min_cents,
    maxCents: s.max_cents,
    enabled: s.enabled === 1,
  };
}

export interface FeeScheduleRow {
  service_code: string;
  counter_kind: CounterKind;
  effective_from: string;
  /** JSON of a FeeRule: the caller parses it (with a schema) and hands it to toFeeSchedule. */
  fee_rule: string;
  commission_rate: string;
  royalty_cents: number;
}

export function toFeeSchedule(f: FeeScheduleRow, feeRule: FeeRule): FeeSchedule {
  return {
    serviceCode: f.service_code,
    counterKind: f.counter_kind,
    effectiveFrom: f.effective_from,
    feeRule,
    commissionRate: f.commission_rate,
    royaltyCents: f.royalty_cents,
  };
}

// ---------------------------------------------------------------- terminals, positions, users

/** A terminal in a listing (never its keys). */
export type TerminalListRow = Pick<TerminalRow, 'id' | 'counter_id' | 'status' | 'created_at'>;

export function toTerminalListing(r: TerminalListRow): Omit<Terminal, 'tmkSealed' | 'secretHash'> {
  return { id: r.id, counterId: r.counter_id, status: r.status, createdAt: r.created_at };
}

export interface DebtPositionRow {
  id: number;
  entity_id: string;
  service_code: string;
  external_ref: string;
  debtor_cf: string;
  debtor_name: string | null;
  description: string;
  status: PositionStatus;
  valid_until: string | null;
  created_at: number;
}

/** A position with its options (OptionView, less what the position says itself). */
export function toPositionView(p: DebtPositionRow, options: OptionView[]): DebtPositionView {
  return {
    id: p.id,
    entityId: p.entity_id,
    serviceCode: p.service_code,
    externalRef: p.external_ref,
    debtorCf: p.debtor_cf,
    debtorName: p.debtor_name,
    description: p.description,
    status: p.status,
    validUntil: p.valid_until,
    createdAt: p.created_at,
    options: options.map((o) => ({
      optionId: o.optionId,
      noticeNumber: o.noticeNumber,
      lookupKey: o.lookupKey,
      kind: o.kind,
      instalmentNo: o.instalmentNo,
      amountCents: o.amountCents,
      dueDate: o.dueDate,
      description: o.description,
      ruleParams: o.ruleParams,
      paidPaymentId: o.paidPaymentId,
    })),
  };
}

export function toIdempotency(r: IdempotencyRow): IdempotencyRecord {
  return { terminalId: r.terminal_id, key: r.key, requestHash: r.request_hash, status: r.status, response: r.response, paymentId: r.payment_id };
}

export interface UserRow {
  username: string;
  role: 'entity' | 'finance' | 'admin';
  entity_id: string | null;
  password_hash: string;
  created_at: number;
  disabled: number;
}

export function toUser(r: UserRow) {
  return { username: r.username, role: r.role, entityId: r.entity_id, passwordHash: r.password_hash, disabled: r.disabled === 1 };
}

/** count(*) AS n and coalesce(sum(...), 0) AS s. */
export interface CountSumRow {
  n: number;
  s: number;
}

// ---------------------------------------------------------------- settlement reads

/** windowLines' columns: `kind` is 'booking' or the payment's reversal_kind, `window` the date it counts in. */
export interface PaymentLineRow {
  id: number;
  public_id: string;
  kind: PaymentLine['kind'];
  booked_at: number;
  reversed_at: number | null;
  window: string;
  entity_id: string;
  service_code: string;
  service_name: string;
  identifier: string;
  /** Of the payment option paid (NULL without one). */
  notice_number: string | null;
  counter_id: string;
  terminal_id: string;
  channel: Payment['channel'];
  rrn: string;
  receipt_number: string;
  amount_cents: number;
  fee_cents: number;
  fee_commission: number;
  fee_operator: number;
  fee_royalty: number;
  circuit_fee_cents: number;
  circuit_fee_mode: Payment['circuitFeeMode'];
}

function iuvOf(notice: string | null): string | null {
  if (notice === null) return null;
  const check = checkNoticeNumber(notice);
  return check.ok ? check.iuv : null;
}

export function toPaymentLine(r: PaymentLineRow): PaymentLine {
  return {
    id: r.id,
    paymentId: r.public_id,
    kind: r.kind,
    bookedAt: r.booked_at,
    cancelledAt: r.kind === 'booking' ? null : r.reversed_at,
    settlementDate: r.window,
    entityId: r.entity_id,
    serviceCode: r.service_code,
    serviceName: r.service_name,
    identifier: r.identifier,
    noticeNumber: r.notice_number,
    iuv: iuvOf(r.notice_number),
    counterId: r.counter_id,
    terminalId: r.terminal_id,
    channel: r.channel,
    rrn: r.rrn,
    receiptNumber: r.receipt_number,
    amount: r.amount_cents,
    fee: r.fee_cents,
    commission: r.fee_commission,
    operator: r.fee_operator,
    royalty: r.fee_royalty,
    circuitFee: r.circuit_fee_cents,
    circuitFeeMode: r.circuit_fee_mode,
  };
}

export interface RebilledRow {
  kind: RebilledSums['kind'];
  service_code: string;
  rate: number;
  n: number;
  amount: number;
}

export function toRebilledSums(r: RebilledRow): RebilledSums {
  return { kind: r.kind, serviceCode: r.service_code, rate: r.rate, count: r.n, amount: r.amount };
}
