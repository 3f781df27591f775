// The one table from what pagoPA's node answers (its PPT_* faults, the creditor's PAA_*
// codes it relays, and the transport's own failures) to the switch's error codes
// (src/payments/errors.ts), which give ISO field 39 and the HTTP status. No caller maps
// a fault by itself.
import { ERROR_CODES, PaymentError, type ErrorCode } from '../payments/errors.js';
import type { NodeFault, NodeFaultCode } from './types.js';

/**
 * Failures of the transport, named like faults so that they go through the same table:
 * the node unreachable or silent past the timeout, the node refusing the subscription
 * key or the URL (HTTP 4xx: the switch's configuration is wrong), an answer that is not the
 * schema's (a broken node or proxy).
 */
export type TransportFaultCode = 'NODE_UNREACHABLE' | 'NODE_TIMEOUT' | 'NODE_CONFIGURATION' | 'NODE_BAD_ANSWER';

export interface FaultMapping {
  code: ErrorCode;
  /** What the switch makes of it, for logs and docs. */
  meaning: string;
}

/** Node faults and transport failures → switch codes. Anything not listed: SYSTEM (96). */
export const NODE_FAULTS: Record<NodeFaultCode | TransportFaultCode, FaultMapping> = {
  PPT_PAGAMENTO_DUPLICATO: { code: 'NOTICE_ALREADY_PAID', meaning: 'the notice is already paid (after an outcome OK: someone else paid in between, refund)' },
  PPT_PAGAMENTO_IN_CORSO: { code: 'PAYMENT_IN_PROGRESS', meaning: 'a token is active on the notice: another PSP or counter is paying it' },
  PPT_DOMINIO_SCONOSCIUTO: { code: 'NOTICE_UNKNOWN', meaning: 'the creditor fiscal code is not on pagoPA' },
  PPT_STAZIONE_INT_PA_SCONOSCIUTA: { code: 'NOTICE_UNKNOWN', meaning: "the creditor has no station for the notice's segregation code" },
  PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE: { code: 'CREDITOR_UNAVAILABLE', meaning: "the creditor's system is unreachable" },
  PPT_STAZIONE_INT_PA_TIMEOUT: { code: 'CREDITOR_UNAVAILABLE', meaning: "the creditor's system did not answer in time" },
  PPT_ERRORE_EMESSO_DA_PAA: { code: 'SYSTEM', meaning: "the creditor's system failed or refused for a reason of its own (its PAA_* codes: PAA_FAULTS)" },
  PPT_ERRORE_IDEMPOTENZA: { code: 'IDEMPOTENCY_CONFLICT', meaning: 'the idempotency key was used with other parameters' },
  PPT_AUTENTICAZIONE: { code: 'UNAVAILABLE', meaning: "the node refuses the PSP's password: configuration error" },
  PPT_AUTORIZZAZIONE: { code: 'UNAVAILABLE', meaning: 'the node refuses the PSP, broker or channel (or the token lifetime asked): configuration error' },
  PPT_SINTASSI_EXTRAXSD: { code: 'SYSTEM', meaning: 'the node could not read the request: a bug in the switch' },
  PPT_SINTASSI_XSD: { code: 'SYSTEM', meaning: 'the request breaks the schema: a bug in the switch' },
  PPT_SEMANTICA: { code: 'SYSTEM', meaning: 'the node refuses the request as inconsistent' },
  PPT_SYSTEM_ERROR: { code: 'SYSTEM', meaning: "the node's own failure" },
  PPT_PAGAMENTO_SCONOSCIUTO: { code: 'SYSTEM', meaning: 'outcome: no activated payment for the token' },
  PPT_TOKEN_SCONOSCIUTO: { code: 'SYSTEM', meaning: 'outcome: the node does not know the token' },
  PPT_TOKEN_SCADUTO: { code: 'SYSTEM', meaning: 'outcome OK: the token expired before the outcome' },
  PPT_TOKEN_SCADUTO_KO: { code: 'SYSTEM', meaning: 'outcome KO: the token had expired (the position is open again anyway)' },
  PPT_ESITO_GIA_ACQUISITO: { code: 'SYSTEM', meaning: 'outcome: the node already has an outcome for the token (an earlier try was answered)' },
  NODE_UNREACHABLE: { code: 'CREDITOR_UNAVAILABLE', meaning: 'the node cannot be reached (connection refused or reset, DNS, TLS, HTTP 5xx)' },
  NODE_TIMEOUT: { code: 'CREDITOR_UNAVAILABLE', meaning: 'the node did not answer within TSERVE_PAGOPA_TIMEOUT_MS' },
  NODE_CONFIGURATION: { code: 'UNAVAILABLE', meaning: 'the node refuses the subscription key or the URL (HTTP 401, 403, 404...): configuration error, not retried' },
  NODE_BAD_ANSWER: { code: 'SYSTEM', meaning: "the node's answer is not the schema's" },
};

/** The creditor's own codes, relayed in originalFaultCode of PPT_ERRORE_EMESSO_DA_PAA. */
export const PAA_FAULTS: Record<string, FaultMapping> = {
  PAA_PAGAMENTO_SCONOSCIUTO: { code: 'NOTICE_UNKNOWN', meaning: 'the creditor has no such notice' },
  PAA_PAGAMENTO_SCADUTO: { code: 'NOTICE_EXPIRED', meaning: 'the notice has expired' },
  PAA_PAGAMENTO_ANNULLATO: { code: 'NOTICE_CANCELLED', meaning: 'the creditor cancelled the notice' },
  PAA_PAGAMENTO_DUPLICATO: { code: 'NOTICE_ALREADY_PAID', meaning: 'the creditor says the notice is paid' },
  PAA_PAGAMENTO_IN_CORSO: { code: 'PAYMENT_IN_PROGRESS', meaning: 'the creditor says a payment is in progress' },
  PAA_ID_DOMINIO_ERRATO: { code: 'NOTICE_UNKNOWN', meaning: 'the creditor is not the one the fiscal code names' },
};

export interface MappedFault {
  code: ErrorCode;
  /** ISO 8583 field 39. */
  iso: string;
  http: number;
  /** The node's code, and the creditor's when it relays one: for `detail` and logs. */
  nodeCode: string;
  originalFaultCode?: string;
  meaning: string;
}

/** The switch's answer to a node fault or transport failure. */
export function mapFault(fault: NodeFault | { code: TransportFaultCode }): MappedFault {
  const original = 'originalFaultCode' in fault ? fault.originalFaultCode : undefined;
  const byCreditor = fault.code === 'PPT_ERRORE_EMESSO_DA_PAA' && original ? PAA_FAULTS[original] : undefined;
  const mapping = byCreditor ?? (NODE_FAULTS as Record<string, FaultMapping | undefined>)[fault.code] ?? { code: 'SYSTEM', meaning: 'a fault the switch does not know' };
  const { iso, http } = ERROR_CODES[mapping.code];
  const out: MappedFault = { code: mapping.code, iso, http, nodeCode: fault.code, meaning: mapping.meaning };
  if (original) out.originalFaultCode = original;
  return out;
}

/** A refusal every channel answers: the mapped code, with the node's codes in the detail (field 48 ER / problem+json). */
export function faultError(fault: NodeFault | { code: TransportFaultCode }): PaymentError {
  const m = mapFault(fault);
  const node = m.originalFaultCode ? `${m.nodeCode}/${m.originalFaultCode}` : m.nodeCode;
  return new PaymentError(m.code, `pagoPA ${node}: ${m.meaning}`);
}
