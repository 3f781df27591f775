// The ISO 8583 channel (terminal-protocol.md §1): TCP or TLS, 2-byte framing, MAC on
// every message both ways, sign-on state per terminal, and one handler per request
// MTI that maps onto the same payments use-cases as the JSON API. Thin: decode,
// check MAC and sign-on, call a use-case, encode.
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { addDays, nextWorkingDay, romeDate } from '../src/domain/calendar.js';
import { systemClock, type Clock } from '../src/clock.js';
import { logger } from '../src/log.js';
import { ERROR_CODES, PaymentError, isPaymentError, type ErrorCode } from '../src/payments/errors.js';
import { StoreUnavailableError } from '../src/store/types.js';
import { requestHash, type Payments, type TerminalContext } from '../src/payments/service.js';
import type { TerminalKeys } from '../src/auth/terminal-keys.js';
import {
  FrameDecoder,
  FramingError,
  IsoError,
  NETWORK_MANAGEMENT,
  REQUESTS,
  TAGS,
  dateNotAfter,
  decode,
  formatTlv,
  frame,
  getField,
  instantOf,
  missingFields,
  monthDayOf,
  parseTlv,
  partialHeader,
  isRequestMti,
  responseMti,
  tagToWire,
  toWire,
  trimAns,
  verifyMac,
  wireFields,
  withMac,
  type IsoMessage,
} from './iso8583/index.js';
import { deriveSignonKey, deriveWrapKey, newSessionKey, wrapSessionKey } from './keys.js';
import { certifiedTerminal, isoTlsServerOptions, type IsoTlsFiles } from './tls.js';
import { ConnectionCaps, type CapStats, type ConnectionHandle } from '../src/net/connection-caps.js';
import { logExchange, mtiLabel } from './message-log.js';

export interface IsoServerOptions {
  host: string;
  port: number;
  /** clientCa: mutual TLS, each connection speaking only for the terminal its certificate names (terminals/tls.ts). */
  tls: IsoTlsFiles | null;
  idleTimeoutMs: number;
  /** Requests of one connection being processed at once; past it the socket is paused. */
  maxPendingPerConnection: number;
  sessionKeyTtlMs: number;
  /** The switch's clock: session-key lifetimes and the business day of a 0500. */
  clock: Clock;
  /**
   * Connection caps (src/net/connection-caps.ts): in all and per address, and for
   * connections not signed on yet ("unsigned"), which are closed to make room for newer
   * ones and never push out a signed-on one.
   */
  connections: { maxTotal: number; maxPerAddress: number; maxUnsigned: number; maxUnsignedPerAddress: number; exemptAddresses: readonly string[] };
  /** A connection that has not signed on this long after it was accepted is closed. */
  signOnTimeoutMs: number;
  /** Told every exchange (request MTI, field 39 or 'none' for a hang-up, seconds), for metrics. */
  observe?: (e: { mti: string; code: string; seconds: number }) => void;
}

export const DEFAULT_ISO_OPTIONS: IsoServerOptions = {
  host: '0.0.0.0',
  port: 8583,
  tls: null,
  idleTimeoutMs: 5 * 60_000,
  maxPendingPerConnection: 64,
  sessionKeyTtlMs: 24 * 3_600_000,
  clock: systemClock,
  connections: { maxTotal: 4096, maxPerAddress: 512, maxUnsigned: 1024, maxUnsignedPerAddress: 32, exemptAddresses: ['127.0.0.1', '::1'] },
  signOnTimeoutMs: 10_000,
};

/** How far a sign-on's field 7 may be from the switch's clock (§1.5). */
const SIGNON_SKEW_MS = 5 * 60_000;

/** Fields a response echoes from its request (§1.5). */
const ECHOED = [3, 4, 7, 11, 41, 42, 49, 70] as const;

interface Session {
  key: Buffer;
  expiresAt: number;
}

/** What a handler answers: field 39's symbolic code, and fields to add. */
interface Answer {
  code: ErrorCode | null; // null = approved (00)
  fields?: Record<number, string>;
  tags?: [string, string][];
}

/** A frame's reply: the request as far as it was read, and the answer with its MAC key (answer null: hang up). */
type Reply = { req: IsoMessage; answer: Answer; key: Buffer } | { req: IsoMessage | null; answer: null; key?: undefined };

type Handler = (req: IsoMessage, t: TerminalContext & { tmk: Buffer }) => Promise<Answer>;

/**
 * Field 48 carries printable ASCII only: names and descriptions lose their accents
 * ('Carta d'identità' → 'Carta d'identita'), and anything else becomes '?'.
 */
export function isoText(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[^\x20-\x7e]/g, '?');
}

/** The day a 0500's field 13 names: the latest such date not after tomorrow (IsoError, answered 30, if there is none). */
function reconciliationDay(req: IsoMessage, today: string): string {
  const md = getField(req, 13)!;
  const date = dateNotAfter(md, addDays(today, 1));
  if (date === undefined) throw new IsoError(13, 0, `date, local transaction: ${req.fields.get(13)} names no day in the year up to tomorrow`);
  return date;
}

export class IsoServer {
  private server: net.Server | null = null;
  private readonly sessions = new Map<string, Session>();
  private readonly sockets = new Set<net.Socket>();
  private readonly connections_ = new Map<net.Socket, { pending: number }>();
  private closing = false;
  private caps: ConnectionCaps | null = null;
  readonly opts: IsoServerOptions;
  private readonly handlers: Record<string, Handler>;

  constructor(
    private readonly payments: Payments,
    private readonly keys: TerminalKeys,
    opts: Partial<IsoServerOptions> = {},
  ) {
    this.opts = { ...DEFAULT_ISO_OPTIONS, ...opts };
    // A rotated TMK ends the terminal's session: it signs on again under the new one.
    keys.onForget((terminalId) => this.endSession(terminalId));
    this.handlers = {
      '0800': (req, t) => this.networkManagement(req, t),
      '0100': (req, t) => this.inquiry(req, t),
      '0200': (req, t) => this.payment(req, t),
      '0400': (req, t) => this.reversal(req, t, false),
      '0420': (req, t) => this.reversal(req, t, true),
      '0421': (req, t) => this.reversal(req, t, true),
      '0500': (req, t) => this.reconciliation(req, t),
    };
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** Open connections, refusals, evictions and sign-on timeouts, for /metrics. */
  connectionStats(): CapStats | null {
    return this.caps?.stats() ?? null;
  }

  async listen(): Promise<number> {
    const c = this.opts.connections;
    const caps = new ConnectionCaps('iso', { maxTotal: c.maxTotal, maxPerAddress: c.maxPerAddress, maxEvictable: c.maxUnsigned, maxEvictablePerAddress: c.maxUnsignedPerAddress, probationMs: this.opts.signOnTimeoutMs, exemptAddresses: c.exemptAddresses });
    this.caps = caps;
    const onConnection = (socket: net.Socket) => this.serve(socket, caps.handle(socket));
    const t = this.opts.tls;
    this.server = t
      ? tls.createServer(isoTlsServerOptions(t), onConnection)
      : net.createServer(onConnection);
    // Caps first, on the raw TCP socket (before any TLS handshake): a refused one is
    // destroyed unread (and serve() passes it by).
    this.server.prependListener('connection', (socket: net.Socket) => void caps.admit(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * Graceful stop: accept no connection and read no request any more, let the requests
   * in flight finish (their commits included) and their answers go out, then close.
   */
  async close(graceMs = 10_000): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const [socket, state] of this.connections_) {
      socket.pause();
      if (state.pending === 0) socket.end();
    }
    const force = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(force);
    this.caps?.close();
  }

  // ------------------------------------------------------------------ connection

  private serve(socket: net.Socket, conn: ConnectionHandle): void {
    if (socket.destroyed) return; // refused by a cap
    this.sockets.add(socket);
    const state = { pending: 0 };
    this.connections_.set(socket, state);
    socket.setNoDelay(true);
    socket.setTimeout(this.opts.idleTimeoutMs, () => socket.destroy());
    const decoder = new FrameDecoder();
    // Hanging up (a frame nobody can be answered for, or the server closing) stops
    // reading at once, but the requests received before it are still answered: their
    // work (a booked payment) is done, and losing the answer would leave the terminal
    // to guess. The connection closes once the last of them has gone out.
    let hangingUp = false;
    const stopping = () => hangingUp || this.closing;
    const closeWhenIdle = () => {
      if (stopping() && state.pending === 0 && !socket.destroyed) socket.end(() => socket.destroy());
    };
    const hangUp = () => {
      hangingUp = true;
      closeWhenIdle();
    };
    const done = () => {
      state.pending--;
      if (stopping()) closeWhenIdle();
      else if (state.pending < this.opts.maxPendingPerConnection && socket.isPaused()) socket.resume();
    };
    const answer = (work: Promise<Buffer | null>) => {
      state.pending++;
      if (state.pending >= this.opts.maxPendingPerConnection) socket.pause();
      work
        .then((response) => {
          if (response === null) hangUp();
          else if (socket.writable) socket.write(frame(response));
        })
        .catch((err: unknown) => {
          logger.error('iso8583: unexpected failure', { error: err instanceof Error ? err.stack : String(err) });
          hangUp();
        })
        .finally(done);
    };
    // Mutual TLS: the one terminal this connection may speak for (undefined: any).
    const certified = this.opts.tls?.clientCa ? certifiedTerminal(socket) : undefined;
    socket.on('data', (chunk: Buffer) => {
      if (stopping()) return;
      for (const item of decoder.push(chunk)) {
        if (stopping()) break;
        answer(item instanceof FramingError ? this.refuseFrame(item.head) : this.handleFrame(item, conn, certified));
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.connections_.delete(socket);
    });
  }

  /** A frame with a bad declared length: answer 30 if its head names MTI, STAN and terminal, else hang up (null). */
  private refuseFrame(head: Buffer): Promise<Buffer | null> {
    return this.finish(performance.now(), this.formatErrorResponse(head, 'the frame length is 0 or over 4096 bytes'));
  }

  /**
   * Answers one frame: the packed response, or null to close the connection.
   * `certified`: the terminal id of the connection's client certificate (mutual TLS).
   */
  handleFrame(packed: Buffer, conn?: ConnectionHandle, certified?: string): Promise<Buffer | null> {
    return this.finish(performance.now(), this.reply(packed, conn, certified));
  }

  /**
   * Packs the reply, and tells the exchange to the message log and to the observer
   * (metrics): one line and one observation per request answered or hung up on.
   */
  private async finish(started: number, pending: Promise<Reply>): Promise<Buffer | null> {
    const r = await pending;
    let response: Buffer | null = null;
    let answer = r.answer;
    if (r.req && answer && r.key) {
      try {
        response = this.pack(r.req, answer, r.key);
      } catch (err) {
        // An answer that cannot be encoded is a malfunction, told to the terminal as such.
        logger.error('iso8583: cannot encode the answer', { mti: r.req.mti, error: err instanceof Error ? err.message : String(err) });
        answer = { code: 'SYSTEM' };
        response = this.pack(r.req, answer, r.key);
      }
    }
    const latencyMs = performance.now() - started;
    const code = response && answer ? (answer.code ? ERROR_CODES[answer.code].iso : '00') : null;
    this.opts.observe?.({ mti: mtiLabel(r.req?.mti), code: code ?? 'none', seconds: latencyMs / 1000 });
    logExchange({
      req: r.req,
      response: response && answer && r.req
        ? { mti: responseMti(r.req.mti), code: code!, error: answer.code, rrn: answer.fields?.[37], receiptNumber: answer.tags?.find(([t]) => t === TAGS.receiptNumber)?.[1] }
        : null,
      latencyMs,
    });
    return response;
  }

  /** What to answer one frame with (answer null: hang up). */
  private async reply(packed: Buffer, conn?: ConnectionHandle, certified?: string): Promise<Reply> {
    let req: IsoMessage;
    try {
      req = decode(packed);
    } catch (err) {
      if (!(err instanceof IsoError)) throw err;
      return this.formatErrorResponse(packed, err.message);
    }
    const spec = REQUESTS[req.mti];
    const terminalId = trimAns(req.fields.get(41) ?? '');
    const key = terminalId ? await this.keys.get(terminalId) : undefined;
    // A certificate for one terminal never acts for another: 63, never processed.
    if (key && certified !== undefined && certified !== terminalId) {
      logger.warn('iso8583: message for another terminal on a client-certificate connection', { terminalId, certificate: certified });
      return this.respond(req, { code: 'CERTIFICATE_MISMATCH' }, this.answerKey(req, key.tmk, terminalId));
    }
    // Without a known terminal there is no key to answer with: hang up.
    if (!key || !spec) {
      // A request MTI this protocol does not define gets 12; anything else (a response
      // sent to the switch) has no answer: hang up.
      if (key && isRequestMti(req.mti)) return this.respond(req, { code: 'UNSUPPORTED' }, this.answerKey(req, key.tmk, terminalId));
      return { req, answer: null };
    }
    const t = { terminalId, counterId: key.counterId, tmk: key.tmk };
    const isSignOn = req.mti === '0800' && req.fields.get(70) === NETWORK_MANAGEMENT.signOn;
    const session = this.session(terminalId);
    const macKey = isSignOn || !session ? deriveSignonKey(key.tmk) : session;
    // No session (never signed on, signed off, expired, or the switch restarted): 58 for
    // every transaction, whatever key the terminal MACed with, so it knows to sign on
    // again. Network management (echo, sign-off) is answered under K_signon.
    if (!session && req.mti !== '0800') return this.respond(req, { code: 'NOT_SIGNED_ON' }, macKey);
    if (!verifyMac(packed, req, macKey)) {
      // Never processed; answered with the key the terminal should have used.
      return this.respond(req, { code: 'BAD_MAC' }, macKey);
    }
    // MACed with the terminal's live session key (a terminal that reconnects per message
    // proves itself so): its connection is held from now on, before the work, so that no
    // junk connection can push it out while its booking is in flight.
    if (macKey === session) conn?.trust();
    if (missingFields(req).length > 0) return this.respond(req, { code: 'FORMAT' }, macKey);
    const counter = trimAns(req.fields.get(42) ?? key.counterId);
    if (counter !== key.counterId) return this.respond(req, { code: 'FORBIDDEN' }, macKey);
    let answer: Answer;
    try {
      answer = await this.handlers[req.mti]!(req, t);
    } catch (err) {
      if (isPaymentError(err)) answer = { code: err.code };
      else if (err instanceof IsoError) answer = { code: 'FORMAT' };
      else if (err instanceof StoreUnavailableError) answer = { code: 'UNAVAILABLE' };
      else {
        logger.error('iso8583: handler failed', { mti: req.mti, error: err instanceof Error ? err.stack : String(err) });
        answer = { code: 'SYSTEM' };
      }
    }
    // A sign-on answered 00: the connection has proved its terminal's key; no sign-on
    // timeout for it any more, and no junk connection can push it out.
    if (isSignOn && answer.code === null) conn?.trust();
    // The sign-on answer is MACed with K_signon; every other with the session key of the request.
    return this.respond(req, answer, macKey);
  }

  private session(terminalId: string): Buffer | null {
    const s = this.sessions.get(terminalId);
    if (!s) return null;
    if (s.expiresAt <= this.opts.clock()) {
      this.sessions.delete(terminalId);
      return null;
    }
    return s.key;
  }

  /**
   * A sign-on's field 7 (UTC MMDDhhmmss) as an instant, its year the one nearest the
   * switch's clock (1231235959 received at 0101000100 is 100 s old); undefined when it
   * is more than SIGNON_SKEW_MS from that clock.
   */
  private signOnInstant(req: IsoMessage): number | undefined {
    const now = this.opts.clock();
    const at = instantOf(getField(req, 7)!, now);
    return at !== undefined && Math.abs(at - now) <= SIGNON_SKEW_MS ? at : undefined;
  }

  /** Ends a terminal's session (its TMK was rotated): it must sign on again. */
  endSession(terminalId: string): void {
    this.sessions.delete(terminalId);
  }

  private answerKey(req: IsoMessage, tmk: Buffer, terminalId: string): Buffer {
    const isSignOn = req.mti === '0800' && req.fields.get(70) === NETWORK_MANAGEMENT.signOn;
    return (!isSignOn && this.session(terminalId)) || deriveSignonKey(tmk);
  }

  /** A `30` for a message that failed to parse, when MTI, 11 and 41 can be read; otherwise a hang-up (with what could be read, for the log). */
  private async formatErrorResponse(packed: Buffer, why: string): Promise<Reply> {
    const h = partialHeader(packed);
    const readable: IsoMessage | null = h.mti ? { mti: h.mti, fields: new Map([...(h.stan ? [[11, h.stan] as const] : []), ...(h.terminalId ? [[41, h.terminalId] as const] : [])]) } : null;
    if (!h.mti || !h.stan || !h.terminalId || !REQUESTS[h.mti]) return { req: readable, answer: null };
    const terminalId = trimAns(h.terminalId);
    const key = await this.keys.get(terminalId);
    if (!key) return { req: readable, answer: null };
    logger.info('iso8583: format error', { terminalId, mti: h.mti, why });
    const req: IsoMessage = { mti: h.mti, fields: new Map([[11, h.stan], [41, h.terminalId]]) };
    return this.respond(req, { code: 'FORMAT' }, this.answerKey(req, key.tmk, terminalId));
  }

  private respond(req: IsoMessage, answer: Answer, key: Buffer): Reply {
    return { req, answer, key };
  }

  private pack(req: IsoMessage, answer: Answer, key: Buffer): Buffer {
    const fields = new Map<number, string>();
    for (const n of ECHOED) {
      const v = req.fields.get(n);
      if (v !== undefined) fields.set(n, v);
    }
    for (const [n, v] of Object.entries(answer.fields ?? {})) fields.set(Number(n), v);
    fields.set(39, answer.code ? ERROR_CODES[answer.code].iso : '00');
    const tags = (answer.tags ?? []).map(([t, v]) => [t, isoText(v)] as [string, string]);
    if (answer.code && !tags.some(([t]) => t === TAGS.error)) tags.push([TAGS.error, answer.code]);
    if (tags.length > 0) fields.set(48, formatTlv(tags));
    return withMac({ mti: responseMti(req.mti), fields }, key);
  }

  // ------------------------------------------------------------------ handlers

  private async networkManagement(req: IsoMessage, t: TerminalContext & { tmk: Buffer }): Promise<Answer> {
    switch (req.fields.get(70)) {
      case NETWORK_MANAGEMENT.signOn: {
        // Freshness (§1.5): a replayed or off-clock sign-on is answered 63 and changes nothing.
        const transmittedAt = this.signOnInstant(req);
        if (transmittedAt === undefined) return { code: 'STALE_SIGNON' };
        await this.payments.checkTerminalAllowed(t);
        if (!(await this.payments.acceptSignOn(t, transmittedAt, Number(req.fields.get(11))))) return { code: 'STALE_SIGNON' };
        const key = newSessionKey();
        const wrapped = wrapSessionKey(deriveWrapKey(t.tmk), t.terminalId, key);
        this.sessions.set(t.terminalId, { key, expiresAt: this.opts.clock() + this.opts.sessionKeyTtlMs });
        await this.payments.terminalSession(t, 'terminal.signed_on', 'iso8583');
        return { code: null, tags: [[TAGS.sessionKey, wrapped]] };
      }
      case NETWORK_MANAGEMENT.signOff:
        if (this.sessions.delete(t.terminalId)) await this.payments.terminalSession(t, 'terminal.signed_off', 'iso8583');
        return { code: null };
      case NETWORK_MANAGEMENT.echo:
        return { code: null };
      default:
        return { code: 'UNSUPPORTED' };
    }
  }

  private identification(req: IsoMessage) {
    const tlv = parseTlv(req.fields.get(48) ?? '');
    const year = tlv.get(TAGS.year);
    if (year !== undefined && !/^\d{4}$/.test(year)) throw new PaymentError('FORMAT', 'YR must be 4 digits');
    return {
      service: tlv.get(TAGS.service),
      identifier: tlv.get(TAGS.identifier),
      qr: tlv.get(TAGS.qr),
      vehicleType: tlv.get(TAGS.vehicleType),
      fiscalCode: tlv.get(TAGS.fiscalCode),
      year: year === undefined ? undefined : Number(year),
    };
  }

  private processingCode(req: IsoMessage, expected: string): void {
    if (req.fields.get(3) !== expected) throw new PaymentError('UNSUPPORTED', `processing code ${req.fields.get(3)} is not ${expected}`);
    if (req.fields.get(49) !== '978') throw new PaymentError('FORMAT', 'currency must be 978 (EUR)');
  }

  private async inquiry(req: IsoMessage, t: TerminalContext): Promise<Answer> {
    this.processingCode(req, '300000');
    const v = await this.payments.verify(t, this.identification(req));
    return {
      code: null,
      fields: wireFields({ 4: v.amountDue, 28: v.fee }),
      tags: [
        [TAGS.entity, v.entity.slice(0, 99)],
        [TAGS.description, v.description.slice(0, 140)],
        ...(v.dueDate ? ([[TAGS.dueDate, tagToWire(TAGS.dueDate, v.dueDate)]] as [string, string][]) : []),
        [TAGS.amountDue, tagToWire(TAGS.amountDue, v.amountDue)],
        ...(v.breakdown
          ? ([
              [TAGS.tax, tagToWire(TAGS.tax, v.breakdown.tax)],
              [TAGS.sanction, tagToWire(TAGS.sanction, v.breakdown.sanction)],
              [TAGS.interest, tagToWire(TAGS.interest, v.breakdown.interest)],
              [TAGS.daysLate, tagToWire(TAGS.daysLate, v.breakdown.daysLate)],
            ] as [string, string][])
          : []),
        ...(v.pagopa ? ([[TAGS.creditorFiscalCode, v.pagopa.creditorFiscalCode]] as [string, string][]) : []),
      ],
    };
  }

  private async payment(req: IsoMessage, t: TerminalContext): Promise<Answer> {
    this.processingCode(req, '500000');
    const fee = getField(req, 28);
    const body = {
      ...this.identification(req),
      amount: getField(req, 4)!,
      ...(fee === undefined ? {} : { fee }),
    };
    if (!(body.amount > 0)) throw new PaymentError('AMOUNT_OUT_OF_RANGE', 'the amount must be positive');
    // A retransmission is the same terminal, STAN and transmission time with the same content.
    const content = [3, 4, 12, 13, 28, 42, 48, 49].map((n) => req.fields.get(n) ?? '');
    // Field 7 as its typed value written back: the same string for every valid one, and
    // a 0200 whose field 7 is no date and time is refused (30) rather than booked under a
    // key that no field 90 could name.
    const key = `iso:${toWire(7, getField(req, 7)!)}:${req.fields.get(11)}`;
    try {
      const result = await this.payments.pay(t, body, { key, requestHash: requestHash('iso-pay', content) }, 'iso8583', req.fields.get(11)!);
      const r = result.body;
      return {
        code: null,
        fields: { ...wireFields({ 15: monthDayOf(r.settlementDate), 28: r.fee }), 37: r.rrn, 38: r.approvalCode },
        tags: [
          [TAGS.receiptNumber, r.receiptNumber],
          ...(r.pagopa
            ? ([
                [TAGS.paymentToken, r.pagopa.paymentToken],
                [TAGS.creditorFiscalCode, r.pagopa.creditorFiscalCode],
              ] as [string, string][])
            : []),
        ],
      };
    } catch (err) {
      if (isPaymentError(err) && err.code === 'IDEMPOTENCY_CONFLICT') throw new PaymentError('DUPLICATE', err.detail);
      throw err;
    }
  }

  private async reversal(req: IsoMessage, t: TerminalContext, advice: boolean): Promise<Answer> {
    this.processingCode(req, '500000');
    const original = getField(req, 90)!;
    if (original.mti !== '0200') throw new PaymentError('UNSUPPORTED', `only 0200 payments are reversed, not ${original.mti}`);
    const key = `iso:${toWire(7, original.transmission)}:${original.stan}`;
    await this.payments.reverseByKey(t, { key, amountCents: getField(req, 4)!, advice });
    return { code: null };
  }

  private async reconciliation(req: IsoMessage, t: TerminalContext): Promise<Answer> {
    // Field 13 names a day; a weekend or holiday names the business day it settles in,
    // so a counter open on Sunday reconciles against Monday's window (its Sunday so far).
    const date = nextWorkingDay(reconciliationDay(req, romeDate(this.opts.clock())));
    const mine = await this.payments.terminalTotals(t, date);
    const theirs = {
      count: getField(req, 74)!,
      reversalCount: getField(req, 75)!,
      amountCents: getField(req, 86)!,
      reversalAmountCents: getField(req, 87)!,
    };
    const st = tagToWire(TAGS.switchTotals, mine);
    const inBalance =
      mine.count === theirs.count &&
      mine.amountCents === theirs.amountCents &&
      mine.reversalCount === theirs.reversalCount &&
      mine.reversalAmountCents === theirs.reversalAmountCents;
    return { code: inBalance ? null : 'OUT_OF_BALANCE', tags: [[TAGS.switchTotals, st]] };
  }
}
