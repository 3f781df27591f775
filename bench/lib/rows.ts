// What one payment books, built from the real catalogue and the real fee rules, for the
// benchmarks that write rows straight into SQLite (the ceiling, the settlement data).
// Pure functions of a seeded random source: no I/O here.
import { seededRandom } from '../../terminals/simulator/common.js';
import { CATALOGUE } from '../../fixtures/catalogue.js';
import type { CounterKind, FeeScheduleFixture, ServiceFixture } from '../../src/domain/model.js';
import { citizenFee, scheduleInForce, splitFee } from '../../src/domain/fees.js';
import { paymentPostings, type Posting } from '../../src/ledger/postings.js';
import type { Payment } from '../../src/store/types.js';
import { randomCodiceFiscale, randomUserCode } from '../../terminals/simulator/common.js';

export interface TerminalRow {
  id: string;
  counterId: string;
  counterKind: CounterKind;
}

/** The simulator's seeded generator (mulberry32): the same numbers on every run. */
export const rng = seededRandom;

/** A time-ordered UUID (v7) from a counter instead of random bytes: deterministic and cheap. */
export function uuidv7Det(ms: number, n: number): string {
  const h = ms.toString(16).padStart(12, '0') + '7' + (n % 0x1000).toString(16).padStart(3, '0') + '8' + n.toString(16).padStart(15, '0').slice(-15);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface BuiltPayment {
  /** Column values of `payments`, by the store's named parameters. */
  row: Omit<Payment, 'reversedAt' | 'reversalSettlementDate' | 'reversalKind'>;
  postings: Posting[];
  /** The JSON answer kept with the idempotency record (as the store keeps it). */
  answer: string;
  /** The event payload JSON (as the store keeps it). */
  event: string;
}

const entities = new Map(CATALOGUE.entities.map((e) => [e.id, e]));
const schedules = new Map<string, FeeScheduleFixture[]>();
for (const f of CATALOGUE.feeSchedules) {
  const k = `${f.serviceCode}/${f.counterKind}`;
  schedules.set(k, [...(schedules.get(k) ?? []), f]);
}

/** Services a payment can be generated for: looked-up, fixed and self-assessed (C has no rule here). */
export const PAYABLE_SERVICES: ServiceFixture[] = CATALOGUE.services.filter((s) => s.amountKind !== 'C');

export function serviceByCode(code: string): ServiceFixture {
  const s = CATALOGUE.services.find((x) => x.code === code);
  if (!s) throw new Error(`no service ${code} in the catalogue`);
  return s;
}

function amountFor(s: ServiceFixture, random: () => number): number {
  switch (s.amountKind) {
    case 'F':
      return s.fixedCents!;
    case 'S':
      return Math.round(s.minCents! * Math.pow(s.maxCents! / s.minCents!, random()));
    default:
      // Looked-up amounts: 5 to 800 euros, log-uniform.
      return Math.round(500 * Math.pow(160, random()));
  }
}

function identifierFor(s: ServiceFixture, random: () => number, id: number): string {
  switch (s.identifierKind) {
    case 'fiscal_code':
      return randomCodiceFiscale(random);
    case 'user_code':
      return randomUserCode(random);
    default:
      return `3${String(id).padStart(17, '0')}`;
  }
}

/**
 * One payment booked at a terminal on `date` (the settlement window), with the fee and
 * split of the schedule in force, the circuit fee of the entity, and the postings the
 * ledger books. `id` is the payment's rowid (also its RRN).
 */
export function buildPayment(
  id: number,
  t: TerminalRow,
  service: ServiceFixture,
  bookedAt: number,
  date: string,
  random: () => number,
  amount = amountFor(service, random),
): BuiltPayment {
  const schedule = scheduleInForce(schedules.get(`${service.code}/${t.counterKind}`) ?? [], date);
  if (!schedule) throw new Error(`no fee schedule for ${service.code} at a ${t.counterKind}`);
  const fee = citizenFee(schedule.feeRule, amount);
  const split = splitFee(fee, schedule.commissionRate, schedule.royaltyCents);
  const entity = entities.get(service.entityId)!;
  const circuit = entity.isCircuitOwner ? null : entity.circuitFee;
  const postings = paymentPostings({
    counterId: t.counterId,
    entityId: entity.id,
    amountCents: amount,
    feeCents: fee,
    ...split,
    circuitFeeCents: circuit?.feeCents ?? 0,
    circuitFeeMode: circuit?.mode ?? null,
  });
  const publicId = uuidv7Det(bookedAt, id);
  const rrn = String(id).padStart(12, '0');
  const receiptNumber = `${date.replaceAll('-', '')}-${String(id).padStart(10, '0')}`;
  const approvalCode = (id % 36 ** 6).toString(36).toUpperCase().padStart(6, '0');
  const identifier = identifierFor(service, random, id);
  const description = service.amountKind === 'S' ? `${service.name} - ${identifier}` : service.name;
  const row = {
    id,
    publicId,
    channel: 'iso8583' as const,
    terminalId: t.id,
    counterId: t.counterId,
    counterKind: t.counterKind,
    entityId: entity.id,
    serviceCode: service.code,
    identifier,
    optionId: null,
    payerCf: null,
    amountCents: amount,
    feeCents: fee,
    feeCommission: split.commission,
    feeOperator: split.operator,
    feeRoyalty: split.royalty,
    circuitFeeCents: circuit?.feeCents ?? 0,
    circuitFeeMode: circuit?.mode ?? null,
    stan: String(id % 1_000_000).padStart(6, '0'),
    rrn,
    approvalCode,
    receiptNumber,
    description,
    bookedAt,
    settlementDate: date,
  };
  const bookedIso = new Date(bookedAt).toISOString();
  const answer = JSON.stringify({
    paymentId: publicId,
    receiptNumber,
    rrn,
    approvalCode,
    amount,
    fee,
    total: amount + fee,
    bookedAt: bookedIso,
    settlementDate: date,
  });
  const event = JSON.stringify({
    paymentId: publicId,
    receiptNumber,
    rrn,
    approvalCode,
    channel: 'iso8583',
    service: service.code,
    entityId: entity.id,
    entity: entity.name,
    identifier,
    description,
    amount,
    fee,
    total: amount + fee,
    split: { commission: split.commission, operator: split.operator, royalty: split.royalty, circuitFee: circuit?.feeCents ?? 0 },
    counterId: t.counterId,
    terminalId: t.id,
    bookedAt: bookedIso,
    settlementDate: date,
    reversedAt: null,
  });
  return { row, postings, answer, event };
}

/** The payments columns in the store's order, and the matching named parameters. */
export const PAYMENT_INSERT = `INSERT INTO payments (id, public_id, channel, terminal_id, counter_id, counter_kind, entity_id, service_code,
  identifier, option_id, payer_cf, amount_cents, fee_cents, fee_commission, fee_operator, fee_royalty,
  circuit_fee_cents, circuit_fee_mode, stan, rrn, approval_code, receipt_number, description, booked_at,
  settlement_date, reversed_at, reversal_settlement_date, reversal_kind)
  VALUES (@id, @publicId, @channel, @terminalId, @counterId, @counterKind, @entityId, @serviceCode, @identifier, @optionId,
  @payerCf, @amountCents, @feeCents, @feeCommission, @feeOperator, @feeRoyalty, @circuitFeeCents, @circuitFeeMode, @stan,
  @rrn, @approvalCode, @receiptNumber, @description, @bookedAt, @settlementDate, NULL, NULL, NULL)`;
