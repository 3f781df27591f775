// The pagoPA bridge on the payment path (docs/pagopa.md "Routing and verify"): which
// notices belong to pagoPA's node rather than to the circuit's own positions, and their
// verify through the node, answered in the switch's terms. A use-case beside service.ts:
// it calls the PSP client (src/pagopa) and keeps no state; the node's faults become the
// switch's refusals through the one fault table (src/pagopa/faults.ts).
import { checkNoticeNumber } from '../domain/notice.js';
import { parsePagoPaQr } from '../domain/qr.js';
import { logger } from '../log.js';
import { NodeTransportError, type PspClient } from '../pagopa/client.js';
import { faultError } from '../pagopa/faults.js';
import type { NodeFault } from '../pagopa/types.js';
import type { PagoPaBooking } from '../ledger/commands.js';
import { isValidFiscalCode } from '../domain/fiscal-code.js';
import { PAGOPA_SERVICE_CODE } from '../network/pagopa-catalogue.js';
import { OUTCOME_LEASE_MS } from './pagopa-outcomes.js';
import type { Entity, Service } from '../store/types.js';
import { PaymentError } from './errors.js';

/** A notice the node answers for: the creditor's fiscal code and the notice number, as verifyPaymentNotice takes them. */
export interface PagoPaNotice {
  fiscalCode: string;
  noticeNumber: string;
  /** The catalogue's entity of that fiscal code; null: a creditor outside the catalogue. */
  entity: Entity | null;
  /** The catalogue's service the terminal named (a notice service of an entity in pagoPA); null for a QR code. */
  service: Service | null;
}

/** Who the node says the notice is owed to (JSON `pagopa`, field 48 `EF`). */
export interface PagoPaCreditor {
  creditorFiscalCode: string;
  companyName: string;
  officeName?: string;
}

export interface PagoPaVerification {
  amountCents: number;
  dueDate: string | null;
  description: string;
  creditor: PagoPaCreditor;
}

/** What the catalogue must offer the router: entities and services. */
interface Catalogue {
  entities: ReadonlyMap<string, Entity>;
  services: ReadonlyMap<string, Service>;
}

/** The fields of a verify or pay request that name a notice. */
interface Identification {
  qr?: string;
  service?: string;
  identifier?: string;
  fiscalCode?: string;
}

/** The entity's positions live in pagoPA (the network's `pagopa` flag). */
export function inPagoPa(entity: Entity): boolean {
  return entity.pagopa === true;
}

/** What an activation gave: the token the payment is booked on, and what the node says is owed to whom. */
export interface PagoPaActivation {
  booking: PagoPaBooking;
  amountCents: number;
  description: string;
}

export class PagoPaBridge {
  constructor(private readonly client: PspClient) {}

  /**
   * The notice this request names, when the node answers for it: a QR code whose creditor
   * is an entity in pagoPA or is not in the catalogue at all; or a notice typed under a
   * notice service of an entity in pagoPA. Null: the circuit's own path, as without the
   * bridge (an unreadable QR code included, which that path refuses as it always did).
   */
  routes(req: Identification, catalogue: Catalogue): PagoPaNotice | null {
    if (req.qr !== undefined) {
      const qr = parsePagoPaQr(req.qr);
      if (!qr.ok) return null;
      const entity = entityByFiscalCode(catalogue, qr.entityFiscalCode);
      if (entity && !inPagoPa(entity)) return null;
      return { fiscalCode: qr.entityFiscalCode, noticeNumber: qr.notice, entity: entity ?? null, service: null };
    }
    const code = req.service?.trim().toUpperCase();
    const service = code ? catalogue.services.get(code) : undefined;
    if (!service || !service.enabled || service.identifierKind !== 'notice' || req.identifier === undefined) return null;
    const entity = catalogue.entities.get(service.entityId);
    if (!entity || !inPagoPa(entity)) return null;
    const notice = checkNoticeNumber(req.identifier);
    if (!notice.ok) return null;
    if (service.code === PAGOPA_SERVICE_CODE) {
      // Creditors outside the catalogue: the terminal names the creditor by its fiscal code.
      const cf = req.fiscalCode?.trim();
      if (!cf || !/^\d{11}$/.test(cf) || !isValidFiscalCode(cf)) {
        throw new PaymentError('FORMAT', `service ${PAGOPA_SERVICE_CODE} needs the creditor's fiscal code (11 digits) in fiscalCode (field 48 CF), or send the notice's QR code`);
      }
      const known = entityByFiscalCode(catalogue, cf);
      return { fiscalCode: cf, noticeNumber: notice.notice, entity: known ?? null, service };
    }
    return { fiscalCode: entity.fiscalCode, noticeNumber: notice.notice, entity, service };
  }

  /** The terminal's other fields must agree with the QR code (as on the circuit's path). */
  checkRequest(req: Identification, n: PagoPaNotice): void {
    if (req.qr === undefined) return;
    if (req.identifier !== undefined && req.identifier.replace(/\s/g, '') !== n.noticeNumber) {
      throw new PaymentError('FORMAT', 'identifier and QR code name different notices');
    }
    if (req.service !== undefined && req.service.trim() !== '' && req.service.trim().toUpperCase() !== PAGOPA_SERVICE_CODE) {
      throw new PaymentError('FORMAT', `the QR code names a pagoPA notice of creditor ${n.fiscalCode}, which is not a ${req.service.trim().toUpperCase()} notice: send the QR code alone`);
    }
  }

  /** verifyPaymentNotice: what is due, or the node's refusal as the switch's (80, 81, 25, 54, 82, 91, 96). */
  async verify(n: PagoPaNotice): Promise<PagoPaVerification> {
    let answer;
    try {
      answer = await this.client.verify({ fiscalCode: n.fiscalCode, noticeNumber: n.noticeNumber });
    } catch (err) {
      if (err instanceof NodeTransportError) throw this.refused(n, { code: err.code }, err.message);
      throw err;
    }
    if (!answer.ok) throw this.refused(n, answer.fault, answer.fault.description);
    const v = answer.value;
    return {
      amountCents: v.amountCents,
      dueDate: v.dueDate ?? null,
      description: v.description,
      creditor: { creditorFiscalCode: v.fiscalCodePA, companyName: v.companyName, ...(v.officeName ? { officeName: v.officeName } : {}) },
    };
  }

  /**
   * activatePaymentNotice under the key the terminal's own retransmission or idempotency
   * key gives (a retried 0200 gets the same token back); the node locks the notice for the
   * token's lifetime. Refusals as for verify; an activation for another amount than the
   * terminal's is released at once (outcome KO) and refused AMOUNT_MISMATCH.
   */
  async activate(n: PagoPaNotice, req: { terminalId: string; terminalKey: string; amountCents: number }, now: number): Promise<PagoPaActivation> {
    const idempotencyKey = this.client.keyFor(req.terminalId, req.terminalKey);
    let answer;
    try {
      answer = await this.client.activate({ idempotencyKey, fiscalCode: n.fiscalCode, noticeNumber: n.noticeNumber, amountCents: req.amountCents });
    } catch (err) {
      if (err instanceof NodeTransportError) throw this.refused(n, { code: err.code }, err.message, 'activate');
      throw err;
    }
    if (!answer.ok) {
      // The creditor refusing the amount (PAA_SEMANTICA on an activation) is the terminal's wrong amount.
      if (answer.fault.originalFaultCode === 'PAA_SEMANTICA') throw new PaymentError('AMOUNT_MISMATCH', `pagoPA: the creditor refuses ${req.amountCents} cents for notice ${n.noticeNumber}: verify it for the amount due`);
      throw this.refused(n, answer.fault, answer.fault.description, 'activate');
    }
    const a = answer.value;
    const booking: PagoPaBooking = {
      creditorFiscalCode: a.fiscalCodePA,
      creditorName: a.companyName,
      noticeNumber: n.noticeNumber,
      iuv: a.creditorReferenceId,
      paymentToken: a.paymentToken,
      idempotencyKey,
      activatedAt: now,
      tokenExpiresAt: now + this.client.config.tokenExpirationMs,
      // The outcome goes from this instance at once after the commit (src/payments/pagopa-outcomes.ts).
      claimedUntil: now + OUTCOME_LEASE_MS,
      transfers: a.transfers.map((t) => ({ index: t.index, amountCents: t.amountCents, fiscalCode: t.fiscalCodePA, iban: t.iban, remittance: t.remittanceInformation })),
    };
    if (a.totalAmountCents !== req.amountCents) {
      this.release(booking, 'the activation is for another amount');
      throw new PaymentError('AMOUNT_MISMATCH', `the amount due is ${a.totalAmountCents} cents, not ${req.amountCents}`);
    }
    return { booking, amountCents: a.totalAmountCents, description: a.description };
  }

  /**
   * sendPaymentOutcome KO for an activation nothing was booked on (a refusal of the
   * booking after the activation): the node reopens the notice now rather than at the
   * token's expiry. Not awaited by the terminal's answer; retried until the token expires.
   */
  release(b: Pick<PagoPaBooking, 'idempotencyKey' | 'paymentToken' | 'tokenExpiresAt' | 'creditorFiscalCode' | 'noticeNumber'>, why: string): void {
    const fields = { creditor: b.creditorFiscalCode, notice: b.noticeNumber, why };
    this.client
      .sendOutcome({ idempotencyKey: b.idempotencyKey, paymentToken: b.paymentToken, outcome: 'KO' }, { deadline: b.tokenExpiresAt })
      .then(
        (a) => (a.ok ? logger.info('pagoPA outcome KO sent: nothing was booked', fields) : logger.warn('pagoPA outcome KO refused', { ...fields, node: a.fault.code })),
        (err: unknown) => logger.warn('pagoPA outcome KO not sent: the token expires by itself', { ...fields, error: err instanceof Error ? err.message : String(err) }),
      );
  }

  private refused(n: PagoPaNotice, fault: NodeFault | { code: NodeTransportError['code'] }, why: string | undefined, operation = 'verify'): PaymentError {
    const err = faultError(fault);
    // The creditor's fiscal code is an entity's (public); the notice identifies no person.
    const fields = { creditor: n.fiscalCode, notice: n.noticeNumber, code: err.code, node: fault.code, ...(why ? { why: why.slice(0, 200) } : {}) };
    if (err.code === 'CREDITOR_UNAVAILABLE' || err.code === 'UNAVAILABLE' || err.code === 'SYSTEM') logger.warn(`pagoPA ${operation} failed`, fields);
    else logger.info(`pagoPA ${operation} refused`, fields);
    return err;
  }
}

function entityByFiscalCode(catalogue: Catalogue, fiscalCode: string): Entity | undefined {
  // A handful of entities: a scan costs less than keeping an index in step with reloads.
  for (const e of catalogue.entities.values()) if (e.fiscalCode === fiscalCode) return e;
  return undefined;
}
