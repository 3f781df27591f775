// The payments use-cases every channel calls: verify, pay, reverse, read.
// This is the only door to booking: channels decode, authenticate and call these;
// the rules (identifier, amount due, fee split, credit limit) live here and in domain/.
import { createHash, randomFillSync } from 'node:crypto';
import { bolloAmountDue } from '../domain/bollo.js';
import { romeDate, settlementDate } from '../domain/calendar.js';
import { citizenFee, scheduleInForce, splitFee } from '../domain/fees.js';
import { isValidFiscalCode, maskFiscalCode } from '../domain/fiscal-code.js';
import { parseIdentifier } from '../domain/identifiers.js';
import { multaAmountDue } from '../domain/multe.js';
import { parsePagoPaQr } from '../domain/qr.js';
import * as check from '../ledger/checks.js';
import type { BookingCommand, BookingResult, PayCommand } from '../ledger/commands.js';
import { WriterOverloadedError } from '../ledger/writer.js';
import { paymentPostings } from '../ledger/postings.js';
import { pagopaReceipt, toReceipt, type PagoPaReceipt, type PaymentReceipt } from '../ledger/views.js';

export { toReceipt, type PaymentReceipt };
import { logger } from '../log.js';
import type { CatalogueSnapshot, Channel, Counter, Entity, IdempotencyRecord, OptionView, Payment, Service, Store } from '../store/types.js';
import { PaymentError, type ErrorCode } from './errors.js';
import { PagoPaBridge, type PagoPaCreditor, type PagoPaNotice } from './pagopa.js';
import { PAGOPA_SERVICE_CODE } from '../network/pagopa-catalogue.js';
import type { PspClient } from '../pagopa/client.js';
import type { ReceiptData } from './receipt.js';
import type { PagoPaOutbox } from '../store/pagopa-types.js';

export interface TerminalContext {
  terminalId: string;
  counterId: string;
}

export interface VerifyRequest {
  service?: string;
  identifier?: string;
  vehicleType?: string;
  fiscalCode?: string;
  year?: number;
  qr?: string;
}

export interface PayRequest extends VerifyRequest {
  amount: number;
  fee?: number;
  payer?: string;
}

/** What a late bollo is made of (domain.md §5), in cents; shown on verify, 0110 and the receipt. */
export interface BolloBreakdown {
  tax: number;
  sanction: number;
  interest: number;
  daysLate: number;
}

export interface Verification {
  entity: string;
  /** Null: a pagoPA notice of a creditor outside the catalogue. */
  entityId: string | null;
  /** Null: a pagoPA notice named by its QR code (no service of the catalogue; the booking step brings one). */
  service: string | null;
  description: string;
  amountDue: number;
  minAmount?: number;
  maxAmount?: number;
  fee: number;
  dueDate: string | null;
  status: string;
  /** Bollo auto only: tax, sanction, interest and days late, summing to amountDue. */
  breakdown?: BolloBreakdown;
  /** A notice verified through pagoPA's node: the creditor it names (ISO field 48 `EF`). */
  pagopa?: PagoPaCreditor;
}


export interface PaymentView extends PaymentReceipt {
  status: 'BOOKED' | 'REVERSED';
  service: string;
  entity: string;
  identifier: string;
  description: string;
  channel: Channel;
  terminalId: string;
  counterId: string;
  reversedAt: string | null;
}

/** What is being paid once the request is resolved against the catalogue and positions. */
interface Resolved {
  service: Service;
  counter: Counter;
  identifier: string;
  option: OptionView | null;
  amountDue: number;
  dueDate: string | null;
  description: string;
  breakdown?: BolloBreakdown;
}

export interface PaymentsOptions {
  settlementCutoff: string;
  clock?: () => number;
  /** Told the outcome of every payment request ('approved' or the error code), for metrics. */
  onOutcome?: (channel: Channel, result: string) => void;
  /** pagoPA's node (config.pagopa); null or absent: the bridge is off, every notice is the circuit's. */
  pagopa?: PspClient | null;
  /** The PSP's name on pagoPA attestations (the network operator's). */
  pspName?: string;
  /** Told after a pagoPA payment commits, with its outbox row: the outcome sender sends at once. */
  onPagoPaBooked?: (row: PagoPaOutbox) => void;
}

/** The amount due on an option on a day: as published, or by the service's rule. */
function amountDueOn(o: OptionView, day: string): { amount: number; dueDate: string; breakdown?: BolloBreakdown } {
  const p = o.ruleParams;
  if (p?.rule === 'multa') {
    const m = multaAmountDue(p, day);
    return { amount: m.amountCents, dueDate: m.payBy ?? o.dueDate };
  }
  if (p?.rule === 'bollo') {
    const b = bolloAmountDue(o.amountCents, p.dueDate, day);
    return {
      amount: b.amountCents,
      dueDate: p.dueDate,
      breakdown: { tax: o.amountCents, sanction: b.sanctionCents, interest: b.interestCents, daysLate: b.daysLate },
    };
  }
  return { amount: o.amountCents, dueDate: o.dueDate };
}

/**
 * Payments waiting for the writer past which a new one is refused (96 / 503) at once.
 * Above the 501 a closed loop of every demo terminal can queue; about a quarter of a
 * second of booking at this machine's rate.
 */
const SHED_BACKLOG = 1_000;

const fail = (code: ErrorCode, detail: string): never => {
  throw new PaymentError(code, detail);
};

/**
 * A UUID version 7 (RFC 9562): 48 bits of milliseconds, then random bits. Time-ordered,
 * so new payments land on the last page of the public-id index instead of a random one.
 */
/**
 * Random bytes for ids and approval codes, taken from a pool filled 4 KiB at a time:
 * one call into the CSPRNG per ~190 payments instead of two per payment (5% of the
 * main thread's time in the closed loop). The bytes are copied out, never shared.
 */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function randomBytesPooled(n: number): Buffer {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  poolAt += n;
  return out;
}

export function uuidv7(ms: number): string {
  const b = randomBytesPooled(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function requestHash(operation: string, body: unknown): string {
  return createHash('sha256').update(operation).update('\0').update(JSON.stringify(body)).digest('base64url');
}

function approvalCode(): string {
  // 6 characters of an uppercase base-36 random number (ISO field 38, an6).
  return (randomBytesPooled(5).readUIntBE(0, 5) % 36 ** 6).toString(36).toUpperCase().padStart(6, '0');
}


/** What payments read of the catalogue: no owner is needed to serve (settlement reads it). */
type ServedCatalogue = Omit<CatalogueSnapshot, 'owner'>;

const NO_NETWORK: ServedCatalogue = { entities: new Map(), services: new Map(), feeSchedules: new Map(), circuitFees: new Map() };

async function servedCatalogue(store: Store): Promise<ServedCatalogue> {
  return (await store.isEmpty()) ? NO_NETWORK : store.loadCatalogue();
}

export class Payments {
  /** Payments in flight per option: a second terminal gets PAYMENT_IN_PROGRESS. */
  private readonly optionsInFlight = new Set<number>();
  /** pagoPA notices (creditor/notice) being activated and booked here: a second terminal gets PAYMENT_IN_PROGRESS. */
  private readonly noticesInFlight = new Set<string>();
  /** Requests in flight per terminal + idempotency key: a retry joins the first. */
  private readonly keysInFlight = new Map<string, Promise<{ status: number; body: unknown }>>();
  private readonly clock: () => number;
  private readonly bridge: PagoPaBridge | null;

  private constructor(
    private readonly store: Store,
    private catalogue: ServedCatalogue,
    private readonly opts: PaymentsOptions,
  ) {
    this.clock = opts.clock ?? Date.now;
    this.bridge = opts.pagopa ? new PagoPaBridge(opts.pagopa) : null;
  }

  /**
   * The payments of a store's network, kept current: a `network.changed` event (a change
   * through src/network, on this instance or, on PostgreSQL, any other) reloads the
   * catalogue. An empty network (production before its first configuration) serves no
   * service until one is configured.
   */
  static async create(store: Store, opts: PaymentsOptions): Promise<Payments> {
    const payments = new Payments(store, await servedCatalogue(store), opts);
    store.onCommit((events) => {
      if (!events.some((e) => e.type === 'network.changed')) return;
      payments.reloadCatalogue().catch((err: unknown) => logger.error('the catalogue could not be reloaded after a network change', { error: err instanceof Error ? err.message : String(err) }));
    });
    return payments;
  }

  async reloadCatalogue(): Promise<void> {
    this.catalogue = await servedCatalogue(this.store);
  }

  /** False until the network has entities (a production switch started on an empty database). */
  get configured(): boolean {
    return this.catalogue.entities.size > 0;
  }

  get services(): Service[] {
    return [...this.catalogue.services.values()];
  }

  service(code: string): Service | undefined {
    return this.catalogue.services.get(code);
  }

  get entities(): Entity[] {
    return [...this.catalogue.entities.values()];
  }

  entity(id: string) {
    return this.catalogue.entities.get(id);
  }

  entityName(id: string): string {
    return this.catalogue.entities.get(id)?.name ?? id;
  }

  // ------------------------------------------------------------------ verify

  async verify(t: TerminalContext, req: VerifyRequest): Promise<Verification> {
    const viaPagoPa = this.bridge?.routes(req, this.catalogue);
    if (viaPagoPa) return this.verifyThroughPagoPa(t, req, viaPagoPa);
    const now = this.clock();
    const r = await this.resolve(t, req, romeDate(now));
    const fee = this.feeFor(r.service, r.counter, r.service.amountKind === 'S' ? r.service.minCents! : r.amountDue, now);
    const entity = this.catalogue.entities.get(r.service.entityId)!;
    return {
      entity: entity.name,
      entityId: entity.id,
      service: r.service.code,
      description: r.description,
      amountDue: r.amountDue,
      ...(r.service.amountKind === 'S' ? { minAmount: r.service.minCents!, maxAmount: r.service.maxCents! } : {}),
      fee: fee.feeCents,
      dueDate: r.dueDate,
      status: r.option ? r.option.positionStatus : 'PAYABLE',
      ...(r.breakdown ? { breakdown: r.breakdown } : {}),
    };
  }

  /**
   * A notice whose positions live in pagoPA, verified by the node (nothing is held). The
   * fee is the named service's, if any; a QR code of a creditor outside the catalogue has
   * no service yet, so 0 until the booking step brings the PAGOPA service and its schedule.
   */
  private async verifyThroughPagoPa(t: TerminalContext, req: VerifyRequest, n: PagoPaNotice): Promise<Verification> {
    const bridge = this.bridge!;
    const counter = await this.allowedCounter(t);
    bridge.checkRequest(req, n);
    const v = await bridge.verify(n);
    // A QR code names no service: the fee is the PAGOPA service's (creditors through pagoPA), as its payment's will be.
    const service = n.service ?? this.catalogue.services.get(PAGOPA_SERVICE_CODE);
    const fee = service ? this.feeFor(service, counter, v.amountCents, this.clock()).feeCents : 0;
    return {
      entity: v.creditor.companyName,
      entityId: n.entity?.id ?? null,
      service: service?.code ?? null,
      description: v.description,
      amountDue: v.amountCents,
      fee,
      dueDate: v.dueDate,
      status: 'PAYABLE',
      pagopa: v.creditor,
    };
  }

  // ------------------------------------------------------------------ pay

  /**
   * Books a payment and answers after its commit. With an idempotency key, a retry
   * with the same request gets the first answer again and books nothing; the same key
   * with another request is refused.
   */
  async pay(
    t: TerminalContext,
    req: PayRequest,
    idem: { key: string; requestHash: string } | null,
    channel: Channel,
    stan: string | null = null,
  ): Promise<{ status: number; body: PaymentReceipt; payment: Payment }> {
    // Overload is told at once, before any work: past this backlog a payment would wait
    // longer than a terminal should (the writer refuses past its own, larger bound too).
    if (this.store.writerBacklog() >= SHED_BACKLOG) fail('UNAVAILABLE', 'the switch is overloaded: try again shortly');
    const flightKey = idem ? `${t.terminalId}\0${idem.key}` : null;
    if (flightKey) {
      const { record: prior, advised: reversedByAdvice } = await this.store.priorRequest(t.terminalId, idem!.key);
      if (prior) return this.replay(prior, idem!);
      // An advice (0420) reversed this transaction before it arrived: declined whatever
      // else is true of it (notice paid since, another amount), so this answer comes
      // before every other check. The booking transaction checks it again.
      const advised = check.notReversedByAdvice(reversedByAdvice);
      if (advised) fail(advised.code, advised.detail);
      const inFlight = this.keysInFlight.get(flightKey);
      if (inFlight) {
        // The same request is being booked right now: wait for it and answer the same.
        await inFlight.catch(() => undefined);
        return this.pay(t, req, idem, channel, stan);
      }
    }
    const booked = this.book(t, req, idem, channel, stan);
    // A refusal of a keyed request may come from reads made after another request under
    // the same key committed while this one's first read did not see it yet (a read
    // issued before that commit, answered after it; or another instance): then that
    // request's answer is this one's too. Read the key once more before refusing.
    const work = flightKey ? booked.catch((err: unknown) => this.answeredMeanwhile(t, idem!, err)) : booked;
    if (this.opts.onOutcome) {
      const observe = this.opts.onOutcome;
      work.then(
        () => observe(channel, 'approved'),
        (err: unknown) => observe(channel, err instanceof PaymentError ? err.code : 'SYSTEM'),
      );
    }
    if (flightKey) {
      this.keysInFlight.set(flightKey, work);
      work.finally(() => this.keysInFlight.delete(flightKey)).catch(() => undefined);
    }
    return work;
  }

  /** The replay of a request under this key committed since the first read; else `err` again. */
  private async answeredMeanwhile(t: TerminalContext, idem: { key: string; requestHash: string }, err: unknown): Promise<{ status: number; body: PaymentReceipt; payment: Payment }> {
    if (!(err instanceof PaymentError) || err.code === 'UNAVAILABLE' || err.code === 'SYSTEM') throw err;
    const { record } = await this.store.priorRequest(t.terminalId, idem.key).catch(() => ({ record: undefined }));
    if (!record || record.paymentId === null) throw err;
    return this.replay(record, idem);
  }

  /** The first answer under a key again, or the conflict when the request differs. */
  private async replay(record: IdempotencyRecord, idem: { key: string; requestHash: string }): Promise<{ status: number; body: PaymentReceipt; payment: Payment }> {
    const conflict = check.idempotencyConflict(record, idem);
    if (conflict) fail(conflict.code, conflict.detail);
    const payment = (await this.store.getPaymentById(record.paymentId!))!;
    return { status: record.status, body: JSON.parse(record.response) as PaymentReceipt, payment };
  }

  private async book(
    t: TerminalContext,
    req: PayRequest,
    idem: { key: string; requestHash: string } | null,
    channel: Channel,
    stan: string | null,
  ): Promise<{ status: number; body: PaymentReceipt; payment: Payment }> {
    const viaPagoPa = this.bridge?.routes(req, this.catalogue);
    if (viaPagoPa) return this.payThroughPagoPa(t, req, viaPagoPa, idem, channel, stan);
    const now = this.clock();
    const today = romeDate(now);
    const r = await this.resolve(t, req, today);
    const { service, counter } = r;
    this.checkAmount(r, req.amount);
    const fee = this.feeToPay(service, counter, req, now);
    const payerCf = this.payerOf(req);
    const entity = this.catalogue.entities.get(service.entityId)!;
    const circuit = entity.isCircuitOwner ? null : (scheduleInForce(this.catalogue.circuitFees.get(entity.id) ?? [], today) ?? null);
    const split = fee.split;
    const postings = paymentPostings({
      counterId: counter.id,
      entityId: entity.id,
      amountCents: req.amount,
      feeCents: fee.feeCents,
      ...split,
      circuitFeeCents: circuit?.feeCents ?? 0,
      circuitFeeMode: circuit?.mode ?? null,
    });

    const optionId = r.option?.optionId ?? null;
    if (optionId !== null) {
      if (this.optionsInFlight.has(optionId)) fail('PAYMENT_IN_PROGRESS', 'this notice is being paid at another terminal right now');
      this.optionsInFlight.add(optionId);
    }
    try {
      const result = await this.write({
        ...this.payCommand({ t, channel, counter, entity, service, stan, at: now, amount: req.amount, fee, payerCf, idem }),
        identifier: r.identifier,
        optionId,
        circuitFeeCents: circuit?.feeCents ?? 0,
        circuitFeeMode: circuit?.mode ?? null,
        description: r.description,
        postings,
      });
      if (!result.ok) return fail(result.code, result.detail);
      if (result.payment === null) throw new Error('a payment command came back without a payment');
      if (result.replayed) {
        return { status: result.replayed.status, body: JSON.parse(result.replayed.response) as PaymentReceipt, payment: result.payment };
      }
      return { status: 201, body: toReceipt(result.payment), payment: result.payment };
    } finally {
      if (optionId !== null) this.optionsInFlight.delete(optionId);
    }
  }

  /**
   * A notice of a creditor on pagoPA (docs/pagopa.md "The payment"): activated at the node
   * under the terminal's key (a retransmission reuses the activation), booked with the
   * activation and its outcome outbox row in one transaction, answered after the commit;
   * the outcome sender then tells the node. Nothing is booked without an activation, and
   * an activation whose booking is refused is released at once (outcome KO).
   */
  private async payThroughPagoPa(
    t: TerminalContext,
    req: PayRequest,
    n: PagoPaNotice,
    idem: { key: string; requestHash: string } | null,
    channel: Channel,
    stan: string | null,
  ): Promise<{ status: number; body: PaymentReceipt; payment: Payment }> {
    const bridge = this.bridge!;
    const counter = await this.allowedCounter(t);
    bridge.checkRequest(req, n);
    // A QR code names no service: the catalogue's PAGOPA service (creditors through pagoPA) takes it.
    const service = n.service ?? this.catalogue.services.get(PAGOPA_SERVICE_CODE);
    if (!service) return fail('SERVICE_UNKNOWN', `notices of creditors outside the catalogue need service ${PAGOPA_SERVICE_CODE}, which this network has not configured (docs/pagopa.md)`);
    if (!service.enabled) fail('SERVICE_DISABLED', `service ${service.code} is disabled`);
    const entity = this.catalogue.entities.get(service.entityId);
    if (!entity) return fail('SERVICE_UNKNOWN', `service ${service.code} names no entity`);
    const now = this.clock();
    const fee = this.feeToPay(service, counter, req, now);
    const payerCf = this.payerOf(req);
    // One terminal at a time per notice on this instance (the node refuses a second key anyway: 81).
    const notice = `${n.fiscalCode}/${n.noticeNumber}`;
    if (this.noticesInFlight.has(notice)) fail('PAYMENT_IN_PROGRESS', 'this notice is being paid at another terminal right now');
    this.noticesInFlight.add(notice);
    try {
      const activation = await bridge.activate(n, { terminalId: t.terminalId, terminalKey: idem?.key ?? uuidv7(now), amountCents: req.amount }, now);
      const at = this.clock();
      const postings = paymentPostings({ counterId: counter.id, entityId: entity.id, amountCents: req.amount, feeCents: fee.feeCents, ...fee.split, circuitFeeCents: 0, circuitFeeMode: null });
      let result: BookingResult;
      try {
        result = await this.write({
          ...this.payCommand({ t, channel, counter, entity, service, stan, at, amount: req.amount, fee, payerCf, idem }),
          identifier: n.noticeNumber,
          optionId: null,
          // No circuit fee on a pagoPA payment: its money goes to the activation's IBANs, through no entity's payout.
          circuitFeeCents: 0,
          circuitFeeMode: null,
          description: activation.description,
          postings,
          pagopa: activation.booking,
        });
      } catch (err) {
        bridge.release(activation.booking, 'the booking failed');
        throw err;
      }
      if (!result.ok) {
        // Replayed or booked by a retry meanwhile, the token is that payment's: never KO it.
        if (result.code !== 'IDEMPOTENCY_CONFLICT') bridge.release(activation.booking, `the booking was refused: ${result.code}`);
        return fail(result.code, result.detail);
      }
      if (result.payment === null) throw new Error('a payment command came back without a payment');
      if (result.replayed) return { status: result.replayed.status, body: JSON.parse(result.replayed.response) as PaymentReceipt, payment: result.payment };
      const b = activation.booking;
      this.opts.onPagoPaBooked?.({
        paymentId: result.payment.id, idempotencyKey: b.idempotencyKey, paymentToken: b.paymentToken, tokenExpiresAt: b.tokenExpiresAt,
        amountCents: result.payment.amountCents, feeCents: result.payment.feeCents, payerCf: result.payment.payerCf, bookedAt: result.payment.bookedAt, attempts: 0,
      });
      return { status: 201, body: toReceipt(result.payment, b), payment: result.payment };
    } finally {
      this.noticesInFlight.delete(notice);
    }
  }

  /** What every payment command says of who pays what where, when, and under which key. */
  private payCommand(o: {
    t: TerminalContext;
    channel: Channel;
    counter: Counter;
    entity: Entity;
    service: Service;
    stan: string | null;
    at: number;
    amount: number;
    fee: { feeCents: number; split: PayCommand['split'] };
    payerCf: string | null;
    idem: { key: string; requestHash: string } | null;
  }): Omit<PayCommand, 'identifier' | 'optionId' | 'circuitFeeCents' | 'circuitFeeMode' | 'description' | 'postings'> {
    return {
      kind: 'pay',
      channel: o.channel,
      terminalId: o.t.terminalId,
      counterId: o.counter.id,
      counterKind: o.counter.kind,
      entityId: o.entity.id,
      serviceCode: o.service.code,
      payerCf: o.payerCf,
      amountCents: o.amount,
      feeCents: o.fee.feeCents,
      split: o.fee.split,
      stan: o.stan,
      approvalCode: approvalCode(),
      publicId: uuidv7(o.at),
      bookedAt: o.at,
      settlementDate: settlementDate(o.at, this.opts.settlementCutoff),
      idempotency: o.idem,
    };
  }

  /** The payer's fiscal code as given; one failing its check is kept and warned of (domain.md §4.3). */
  private payerOf(req: PayRequest): string | null {
    if (!req.payer) return null;
    const payerCf = req.payer.trim().toUpperCase();
    if (!isValidFiscalCode(payerCf)) logger.warn('payer fiscal code fails its check', { payer: maskFiscalCode(payerCf) });
    return payerCf;
  }

  // ------------------------------------------------------------------ reverse

  /** Reverses a payment of this terminal within its settlement window; repeating it changes nothing. */
  async reverse(t: TerminalContext, payment: Payment, idem?: { key: string; requestHash: string }): Promise<Payment> {
    if (payment.terminalId !== t.terminalId) fail('FORBIDDEN', 'a payment can be reversed only by the terminal that made it');
    const now = this.clock();
    const result = await this.write({
      kind: 'reverse',
      original: { paymentId: payment.id },
      ...(idem ? { idempotency: idem } : {}),
      terminalId: t.terminalId,
      at: now,
      settlementDate: settlementDate(now, this.opts.settlementCutoff),
    });
    if (!result.ok) return fail(result.code, result.detail);
    return result.payment!;
  }

  /**
   * Reverses the payment this terminal made under an idempotency key (ISO 8583 field 90
   * names it by MTI, STAN and transmission time). For an advice (0420/0421) whose
   * original never arrived, the reversal is remembered and null is answered.
   */
  async reverseByKey(t: TerminalContext, original: { key: string; amountCents: number; advice: boolean }): Promise<Payment | null> {
    // A reversal sent right behind its own payment waits for that payment's answer.
    await this.keysInFlight.get(`${t.terminalId}\0${original.key}`)?.catch(() => undefined);
    const now = this.clock();
    const result = await this.write({
      kind: 'reverse',
      original,
      terminalId: t.terminalId,
      at: now,
      settlementDate: settlementDate(now, this.opts.settlementCutoff),
    });
    if (!result.ok) return fail(result.code, result.detail);
    return result.payment;
  }

  /** Books through the store's writer; a full writer queue is an immediate UNAVAILABLE (96 / 503). */
  private async write(cmd: BookingCommand): Promise<BookingResult> {
    try {
      return await this.store.write(cmd);
    } catch (err) {
      if (err instanceof WriterOverloadedError) throw new PaymentError('UNAVAILABLE', err.message);
      throw err;
    }
  }

  /** The switch's clock (tests fake it): what settlement and adjustments call now. */
  now(): number {
    return this.clock();
  }

  /**
   * An administrative refund (domain.md §3): reverses a payment whose settlement window
   * has closed, booked in the current window as an adjustment and audited with who and
   * why. A payment still in its window is refused (CONFLICT: its terminal reverses it);
   * one already reversed is answered as it is.
   */
  adjust(payment: Payment, actor: string, reason: string): Promise<Payment> {
    return this.reverseByStaff(payment, { adjustment: { actor, reason } });
  }

  /**
   * A cancellation by the finance office (POST /v1/payments/{id}/cancel): a reversal while
   * the payment's settlement window is not closed, an administrative refund (adjustment)
   * in the current window once it is; which one is decided inside the booking transaction.
   * Audited there with who and why. One already reversed or adjusted is refused
   * (ALREADY_REVERSED): a retry books nothing.
   */
  cancel(payment: Payment, actor: string, reason: string): Promise<Payment> {
    return this.reverseByStaff(payment, { cancel: { actor, reason } });
  }

  /** A reversal of the office's (adjustment or cancellation), booked in the current window's terms. */
  private async reverseByStaff(payment: Payment, by: { adjustment: { actor: string; reason: string } } | { cancel: { actor: string; reason: string } }): Promise<Payment> {
    const now = this.clock();
    const result = await this.write({
      kind: 'reverse',
      original: { paymentId: payment.id },
      // Not the terminal's doing: the command names the original's terminal, in whose name the office acts.
      terminalId: payment.terminalId,
      at: now,
      settlementDate: settlementDate(now, this.opts.settlementCutoff),
      ...by,
    });
    if (!result.ok) return fail(result.code, result.detail);
    return result.payment!;
  }

  /** The switch's totals for a terminal's business day (end-of-day reconciliation). */
  async terminalTotals(t: TerminalContext, date: string) {
    return this.store.terminalTotals(t.terminalId, date);
  }

  /** Refuses a blocked terminal or one of a suspended counter (ISO sign-on answers 58 for both). */
  async checkTerminalAllowed(t: TerminalContext): Promise<void> {
    const [terminal, counter] = await Promise.all([this.store.getTerminal(t.terminalId), this.store.getCounter(t.counterId)]);
    if (!terminal || terminal.status !== 'active') fail('TERMINAL_BLOCKED', 'the terminal is blocked');
    if (!counter || counter.status !== 'active') fail('TERMINAL_BLOCKED', 'the terminal belongs to a suspended counter');
  }

  /**
   * Sign-on freshness (terminal-protocol.md §1.5): takes (field 7, field 11) as the
   * terminal's last accepted sign-on if it is later than the one kept; false for a replay.
   */
  acceptSignOn(t: TerminalContext, transmittedAtMs: number, stan: number): Promise<boolean> {
    return this.store.acceptSignOn(t.terminalId, transmittedAtMs, stan);
  }

  /** Records a terminal's sign-on or sign-off in the event log. */
  async terminalSession(t: TerminalContext, type: 'terminal.signed_on' | 'terminal.signed_off', channel: Channel): Promise<void> {
    const at = this.clock();
    await this.store.recordEvent({
      type,
      at,
      terminalId: t.terminalId,
      counterId: t.counterId,
      entityId: null,
      serviceCode: null,
      payload: { terminalId: t.terminalId, counterId: t.counterId, channel, at: new Date(at).toISOString() },
    });
  }

  // ------------------------------------------------------------------ reads

  /** The view, with a pagoPA payment's attestation fields and where its outcome stands. */
  async detail(p: Payment): Promise<Omit<PaymentView, 'pagopa'> & { pagopa?: PagoPaReceipt & { outcome: string; outcomeAt: string | null; outcomeFault: string | null } }> {
    const { pagopa: _none, ...v } = this.view(p);
    const g = await this.store.getPagoPa(p.id);
    if (!g) return v;
    return { ...v, pagopa: { ...pagopaReceipt(g), outcome: g.outcome, outcomeAt: g.outcomeAt === null ? null : new Date(g.outcomeAt).toISOString(), outcomeFault: g.outcomeFault } };
  }

  view(p: Payment): PaymentView {
    return {
      ...toReceipt(p),
      status: p.reversedAt === null ? 'BOOKED' : 'REVERSED',
      service: p.serviceCode,
      entity: this.entityName(p.entityId),
      identifier: p.identifier,
      description: p.description,
      channel: p.channel,
      terminalId: p.terminalId,
      counterId: p.counterId,
      reversedAt: p.reversedAt === null ? null : new Date(p.reversedAt).toISOString(),
    };
  }

  async receiptData(p: Payment): Promise<ReceiptData> {
    const entity = this.catalogue.entities.get(p.entityId)!;
    const service = this.catalogue.services.get(p.serviceCode)!;
    const counter = (await this.store.getCounter(p.counterId))!;
    const breakdown = await this.breakdownOf(p);
    const pagopa = await this.store.getPagoPa(p.id);
    return {
      receiptNumber: p.receiptNumber,
      rrn: p.rrn,
      approvalCode: p.approvalCode,
      // A pagoPA notice: the creditor the node named, not the catalogue entity it was booked under.
      entityName: pagopa?.creditorName ?? entity.name,
      entityFiscalCode: pagopa?.creditorFiscalCode ?? entity.fiscalCode,
      serviceName: service.name,
      serviceCode: service.code,
      identifier: p.identifier,
      description: p.description,
      amountCents: p.amountCents,
      feeCents: p.feeCents,
      counterId: counter.id,
      counterName: counter.name,
      counterAddress: `${counter.address}, ${counter.town}`,
      terminalId: p.terminalId,
      bookedAt: p.bookedAt,
      settlementDate: p.settlementDate,
      reversed: p.reversedAt !== null,
      ...(breakdown ? { breakdown } : {}),
      ...(pagopa
        ? { pagopa: { noticeNumber: pagopa.noticeNumber, iuv: pagopa.iuv, paymentToken: pagopa.paymentToken, pspName: this.opts.pspName ?? 'T-Serve', pspFiscalCode: this.opts.pagopa?.config.pspFiscalCode ?? '' } }
        : {}),
    };
  }

  /**
   * A booked bollo's breakdown, derived again from its option on the day it was booked
   * (the rule is pure and the amount was checked against it then); none if it no longer
   * adds up to what was paid, rather than print figures that disagree with the total.
   */
  private async breakdownOf(p: Payment): Promise<BolloBreakdown | undefined> {
    if (p.optionId === null) return undefined;
    const option = await this.store.getOption(p.optionId);
    if (!option) return undefined;
    const due = amountDueOn(option, romeDate(p.bookedAt));
    return due.breakdown && due.amount === p.amountCents ? due.breakdown : undefined;
  }

  // ------------------------------------------------------------------ rules

  /** The terminal's counter, if the terminal and its counter may transact. */
  private async allowedCounter(t: TerminalContext): Promise<Counter> {
    const [terminal, counter] = await Promise.all([this.store.getTerminal(t.terminalId), this.store.getCounter(t.counterId)]);
    if (!terminal || terminal.counterId !== t.counterId) return fail('FORBIDDEN', 'unknown terminal');
    // Early answers with the ledger's own checks; booking runs them again, authoritatively.
    const notAllowed = check.terminalActive(terminal.status) ?? check.counterActive(counter);
    if (notAllowed || !counter) return fail(notAllowed!.code, notAllowed!.detail);
    return counter;
  }

  private async resolve(t: TerminalContext, req: VerifyRequest, today: string): Promise<Resolved> {
    const counter = await this.allowedCounter(t);

    let serviceCode = req.service?.trim().toUpperCase();
    let identifierText = req.identifier?.trim();
    if (req.qr !== undefined) {
      const qr = parsePagoPaQr(req.qr);
      if (!qr.ok) return fail('INVALID_NOTICE_NUMBER', `QR code: ${qr.reason}`);
      const option = await this.store.findOptionByNotice(qr.notice);
      if (!option) return fail('NOTICE_UNKNOWN', `notice ${qr.notice} is not known to the circuit`);
      const creditor = this.catalogue.entities.get(option.entityId);
      if (creditor && creditor.fiscalCode !== qr.entityFiscalCode) {
        fail('FORMAT', `the QR code names creditor ${qr.entityFiscalCode}, but notice ${qr.notice} is owed to ${creditor.name} (${creditor.fiscalCode})`);
      }
      if (serviceCode && serviceCode !== option.serviceCode) {
        fail('FORMAT', `the QR code's notice belongs to service ${option.serviceCode}, not ${serviceCode}`);
      }
      if (identifierText && identifierText.replace(/\s/g, '') !== qr.notice) fail('FORMAT', 'identifier and QR code name different notices');
      serviceCode = option.serviceCode;
      identifierText = qr.notice;
    }
    if (!serviceCode) return fail('FORMAT', 'service is required (or a QR code)');
    if (!identifierText) return fail('FORMAT', 'identifier is required (or a QR code)');
    const service = this.catalogue.services.get(serviceCode);
    if (!service) {
      if (!this.configured) return fail('SERVICE_UNKNOWN', `unknown service ${serviceCode}: no network is configured on this switch yet`);
      return fail('SERVICE_UNKNOWN', `unknown service ${serviceCode}; GET /v1/services lists them`);
    }
    if (!service.enabled) fail('SERVICE_DISABLED', `service ${service.code} is disabled`);

    const id = parseIdentifier(service.identifierKind, {
      identifier: identifierText,
      vehicleType: req.vehicleType,
      fiscalCode: req.fiscalCode,
      year: req.year,
    });
    if (!id.ok) return fail(id.code, id.reason);

    const base = { service, counter, identifier: id.normalized };
    switch (service.amountKind) {
      case 'F':
        return { ...base, option: null, amountDue: service.fixedCents!, dueDate: null, description: service.name };
      case 'S':
        return { ...base, option: null, amountDue: 0, dueDate: null, description: `${service.name} - ${id.normalized}` };
      case 'C':
        return fail('UNSUPPORTED', `service ${service.code} computes its amount by a rule this switch does not have`);
      case 'L':
        break;
    }
    const option = await this.findOption(service, id.notice, id.lookupKey);
    const refusal = check.optionPayable(option, today);
    if (refusal) fail(refusal.code, refusal.detail);
    const due = amountDueOn(option, today);
    return { ...base, option, amountDue: due.amount, dueDate: due.dueDate, description: option.description, ...(due.breakdown ? { breakdown: due.breakdown } : {}) };
  }

  private async findOption(service: Service, notice: string | null, lookupKey: string | null): Promise<OptionView> {
    if (notice) {
      const o = await this.store.findOptionByNotice(notice);
      if (!o) return fail('NOTICE_UNKNOWN', `notice ${notice} is not known to the circuit`);
      if (o.serviceCode !== service.code) return fail('NOTICE_UNKNOWN', `notice ${notice} is not a ${service.code} notice (it is ${o.serviceCode})`);
      return o;
    }
    const options = lookupKey ? await this.store.findOptionsByLookup(service.code, lookupKey) : [];
    if (options.length === 0) return fail('NOTICE_UNKNOWN', `nothing is due for ${service.code} ${lookupKey ?? ''}`.trim());
    // Several positions under one key (e.g. bollo of successive years): the oldest unpaid first.
    return options.find((o) => o.paidPaymentId === null && (o.positionStatus === 'VALID' || o.positionStatus === 'PARTIALLY_PAID')) ?? options[0]!;
  }

  private checkAmount(r: Resolved, amount: number): void {
    if (r.service.amountKind === 'S') {
      const { minCents, maxCents } = r.service;
      if (amount < minCents! || amount > maxCents!) {
        fail('AMOUNT_OUT_OF_RANGE', `the amount must be between ${minCents} and ${maxCents} cents`);
      }
    } else if (amount !== r.amountDue) {
      fail('AMOUNT_MISMATCH', `the amount due is ${r.amountDue} cents, not ${amount}`);
    }
  }

  /** The fee of a payment by the schedule; a terminal that states another is refused (it would print a wrong total). */
  private feeToPay(service: Service, counter: Counter, req: PayRequest, now: number) {
    const fee = this.feeFor(service, counter, req.amount, now);
    if (req.fee !== undefined && req.fee !== fee.feeCents) fail('FEE_MISMATCH', `the fee for this payment is ${fee.feeCents} cents, not ${req.fee}`);
    return fee;
  }

  private feeFor(service: Service, counter: Counter, amount: number, now: number) {
    const versions = this.catalogue.feeSchedules.get(`${service.code}/${counter.kind}`) ?? [];
    const schedule = scheduleInForce(versions, romeDate(now));
    if (!schedule) return fail('SERVICE_NOT_ALLOWED', `service ${service.code} is not offered at ${counter.kind} counters`);
    const feeCents = citizenFee(schedule.feeRule, amount);
    return { feeCents, split: splitFee(feeCents, schedule.commissionRate, schedule.royaltyCents) };
  }

}
