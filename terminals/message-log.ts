// The ISO 8583 message log (docs/observability.md): one JSON line per exchange (a
// request and its response, or the hang-up that answered it), on a logger of its own so
// that an operator can switch it apart from the rest of the log:
//   TSERVE_ISO_LOG_LEVEL (default: TSERVE_LOG_LEVEL's value): debug = every exchange,
//   info = declines and hang-ups only, warn = malfunctions (96) only, silent = none.
// What a line holds is a table (LOGGED): each field the log names and the rule that
// masks it. Anything not in the table (the MAC, the wrapped session key, descriptions,
// the QR text, totals) is never written.
import type { Logger } from 'winston';
import { maskFiscalCode } from '../src/domain/fiscal-code.js';
import { createLogger, resolveLevel } from '../src/log.js';
import { REQUESTS, TAGS, parseTlv, trimAns, type IsoMessage } from './iso8583/index.js';

/** The message log: its own level, tserve's format (requestId, redaction, JSON line). */
export const isoLog: Logger = createLogger(resolveLevel(process.env.TSERVE_ISO_LOG_LEVEL ?? process.env.TSERVE_LOG_LEVEL));

/**
 * An identifier (notice number, IUV, plate, or a fiscal code where a service is keyed
 * by one): only its tail, enough to tell two apart in an incident, never to pay one.
 * 18-digit notice numbers keep their last 4 digits; short ones (plates) their last 2.
 */
export function maskIdentifier(id: string): string {
  if (/^[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$/i.test(id)) return maskFiscalCode(id);
  const keep = id.length >= 10 ? 4 : id.length >= 5 ? 2 : 0;
  return '*'.repeat(id.length - keep) + id.slice(id.length - keep);
}

type Rule = 'as is' | 'masked' | 'length only';

/** Where each logged key comes from, and how it is written (docs/observability.md has the same table). */
export const LOGGED: Readonly<Record<string, { from: string; rule: Rule }>> = {
  mti: { from: 'request MTI', rule: 'as is' },
  responseMti: { from: 'response MTI', rule: 'as is' },
  terminalId: { from: 'field 41', rule: 'as is' },
  counterId: { from: 'field 42', rule: 'as is' },
  stan: { from: 'field 11', rule: 'as is' },
  processingCode: { from: 'field 3', rule: 'as is' },
  amountCents: { from: 'field 4', rule: 'as is' },
  networkCode: { from: 'field 70', rule: 'as is' },
  original: { from: 'field 90 (MTI, STAN, time of the original)', rule: 'as is' },
  service: { from: 'field 48 SV', rule: 'as is' },
  identifier: { from: 'field 48 ID (notice number, IUV, plate)', rule: 'masked' },
  fiscalCode: { from: 'field 48 CF', rule: 'masked' },
  qr: { from: 'field 48 QR (holds a notice number and a fiscal code)', rule: 'length only' },
  responseCode: { from: 'field 39 of the response', rule: 'as is' },
  error: { from: 'field 48 ER of the response (symbolic code)', rule: 'as is' },
  rrn: { from: 'field 37 of the response', rule: 'as is' },
  receiptNumber: { from: 'field 48 RN of the response', rule: 'as is' },
  latencyMs: { from: 'from the frame read to the response encoded', rule: 'as is' },
};

/** What one exchange was: the request as far as it could be read, and the answer (null: hung up). */
export interface Exchange {
  req: IsoMessage | null;
  response: { mti: string; code: string; error: string | null; rrn?: string; receiptNumber?: string } | null;
  latencyMs: number;
}

/** A line's level by field 39: approvals are routine, declines and hang-ups are what an operator reads, 96 is a malfunction. */
export function levelOf(code: string | null): 'debug' | 'info' | 'warn' {
  if (code === '00') return 'debug';
  if (code === '96') return 'warn';
  return 'info';
}

/** The MTI as a metric label: the protocol's request MTIs, anything else 'other' (bounded cardinality). */
export const mtiLabel = (mti: string | undefined): string => (mti !== undefined && REQUESTS[mti] ? mti : 'other');

function fields(e: Exchange): Record<string, unknown> {
  const f = e.req?.fields ?? new Map<number, string>();
  const tlv = (() => {
    try {
      return parseTlv(f.get(48) ?? '');
    } catch {
      return new Map<string, string>();
    }
  })();
  const out: Record<string, unknown> = {
    mti: e.req?.mti,
    responseMti: e.response?.mti,
    terminalId: f.has(41) ? trimAns(f.get(41)!) : undefined,
    counterId: f.has(42) ? trimAns(f.get(42)!) : undefined,
    stan: f.get(11),
    processingCode: f.get(3),
    amountCents: f.has(4) ? Number(f.get(4)) : undefined,
    networkCode: f.get(70),
    original: f.get(90),
    service: tlv.get(TAGS.service),
    identifier: tlv.has(TAGS.identifier) ? maskIdentifier(tlv.get(TAGS.identifier)!) : undefined,
    fiscalCode: tlv.has(TAGS.fiscalCode) ? maskFiscalCode(tlv.get(TAGS.fiscalCode)!) : undefined,
    qr: tlv.has(TAGS.qr) ? `[${tlv.get(TAGS.qr)!.length} chars]` : undefined,
    responseCode: e.response?.code ?? null,
    error: e.response?.error ?? undefined,
    rrn: e.response?.rrn,
    receiptNumber: e.response?.receiptNumber,
    latencyMs: Math.round(e.latencyMs * 100) / 100,
  };
  if (e.response === null) out.outcome = 'hung up unanswered (unknown terminal, unreadable frame, or a response sent to the switch)';
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** Writes the exchange's line, if its level is on (the fields are only gathered then). */
export function logExchange(e: Exchange, log: Logger = isoLog): void {
  const level = levelOf(e.response?.code ?? null);
  if (log.silent || !log.isLevelEnabled(level)) return;
  log.log(level, 'iso8583', fields(e));
}
