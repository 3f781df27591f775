// The one table of error codes (terminal-protocol.md §1.6 and §2): each symbolic code
// maps to ISO 8583 field 39, an HTTP status and a title. Channels look codes up here;
// no channel decides a status by itself.

export const ERROR_CODES = {
  //                       iso   http  title
  DECLINED: { iso: '05', http: 403, title: 'Do not honour' },
  UNSUPPORTED: { iso: '12', http: 400, title: 'Unsupported operation' },
  SERVICE_UNKNOWN: { iso: '12', http: 404, title: 'Unknown service' },
  SERVICE_DISABLED: { iso: '12', http: 403, title: 'Service disabled' },
  REVERSAL_WINDOW_CLOSED: { iso: '12', http: 409, title: 'Settlement window of the payment is closed' },
  ALREADY_REVERSED: { iso: '12', http: 409, title: 'Payment already reversed' },
  // pagoPA (docs/pagopa.md "Reversals"): the node has no undo for a counter payment.
  REVERSAL_NOT_ALLOWED: { iso: '12', http: 409, title: 'Payment cannot be reversed' },
  AMOUNT_MISMATCH: { iso: '13', http: 422, title: 'Amount does not match the amount due' },
  AMOUNT_OUT_OF_RANGE: { iso: '13', http: 422, title: 'Amount out of range' },
  FEE_MISMATCH: { iso: '13', http: 422, title: 'Fee does not match the fee schedule' },
  INVALID_NOTICE_NUMBER: { iso: '14', http: 422, title: 'Invalid notice number' },
  INVALID_PLATE: { iso: '14', http: 422, title: 'Invalid plate' },
  INVALID_FISCAL_CODE: { iso: '14', http: 422, title: 'Invalid fiscal code' },
  NOTICE_UNKNOWN: { iso: '25', http: 404, title: 'Notice not found' },
  ORIGINAL_NOT_FOUND: { iso: '25', http: 404, title: 'Original payment not found' },
  NOT_FOUND: { iso: '25', http: 404, title: 'Not found' },
  FORMAT: { iso: '30', http: 400, title: 'Format error' },
  UNSUPPORTED_MEDIA_TYPE: { iso: '30', http: 415, title: 'Unsupported media type' },
  PAYLOAD_TOO_LARGE: { iso: '30', http: 413, title: 'Payload too large' },
  NOT_ACCEPTABLE: { iso: '30', http: 406, title: 'Not acceptable' },
  // A bulk upload (HTTP only): its refused rows are listed in the problem's `errors`.
  ROWS_INVALID: { iso: '30', http: 422, title: 'Rows refused: nothing was created' },
  NETWORK_INVALID: { iso: '30', http: 422, title: 'Invalid network configuration' }, // every problem listed; nothing was written
  CREDIT_LIMIT_EXCEEDED: { iso: '51', http: 403, title: 'Counter over its credit limit' },
  NOTICE_EXPIRED: { iso: '54', http: 409, title: 'Notice expired' },
  COUNTER_SUSPENDED: { iso: '57', http: 403, title: 'Counter suspended' },
  SERVICE_NOT_ALLOWED: { iso: '57', http: 403, title: 'Service not allowed at this counter' },
  FORBIDDEN: { iso: '57', http: 403, title: 'Not permitted' },
  TERMINAL_BLOCKED: { iso: '58', http: 403, title: 'Terminal blocked' },
  NOT_SIGNED_ON: { iso: '58', http: 403, title: 'Terminal not signed on' },
  UNAUTHORIZED: { iso: '63', http: 401, title: 'Missing, invalid or expired credentials' },
  BAD_MAC: { iso: '63', http: 401, title: 'Bad MAC' },
  CERTIFICATE_MISMATCH: { iso: '63', http: 403, title: "The connection's client certificate names another terminal" },
  // The web console (HTTP only): a session cookie without its X-CSRF-Token, or the stream opened from a foreign Origin.
  CSRF: { iso: '63', http: 403, title: 'Cross-site request refused' },
  STALE_SIGNON: { iso: '63', http: 401, title: 'Sign-on not fresh: field 7 off the clock, or not later than the last sign-on' },
  NOTICE_ALREADY_PAID: { iso: '80', http: 409, title: 'Notice already paid' },
  PAYMENT_IN_PROGRESS: { iso: '81', http: 409, title: 'Payment of this notice in progress elsewhere' },
  NOTICE_CANCELLED: { iso: '82', http: 409, title: 'Notice cancelled' },
  // pagoPA (docs/pagopa.md): the node or the creditor's system unreachable or timed out; nothing was booked.
  CREDITOR_UNAVAILABLE: { iso: '91', http: 503, title: "Creditor's system unavailable" },
  DUPLICATE: { iso: '94', http: 409, title: 'Duplicate transmission' },
  IDEMPOTENCY_CONFLICT: { iso: '94', http: 409, title: 'Idempotency key reused with a different request' },
  CONFLICT: { iso: '94', http: 409, title: 'Conflict' },
  OUT_OF_BALANCE: { iso: '95', http: 409, title: 'Reconciliation out of balance' },
  RATE_LIMITED: { iso: '96', http: 429, title: 'Too many requests' },
  UNAVAILABLE: { iso: '96', http: 503, title: 'Service unavailable' },
  SYSTEM: { iso: '96', http: 500, title: 'System malfunction' },

  // Settlement and finance: never sent to a terminal (HTTP and CLI only). Their ISO
  // column follows the generic code of the same kind, as the HTTP-only codes above do:
  // 30 like FORMAT, 25 like NOT_FOUND, 94 like CONFLICT, 95 like OUT_OF_BALANCE.
  NOT_A_BUSINESS_DAY: { iso: '30', http: 400, title: 'Not a business day' },
  NOTHING_TO_EXPORT: { iso: '25', http: 404, title: 'Nothing to export' },
  NOTHING_TO_INVOICE: { iso: '25', http: 404, title: 'Nothing to invoice' },
  WINDOW_OPEN: { iso: '94', http: 409, title: 'Settlement window still open' },
  DRAFT_MISSING: { iso: '94', http: 409, title: 'Settlement has no draft yet' },
  WINDOW_NOT_APPROVED: { iso: '94', http: 409, title: 'Settlement not approved' },
  MONTH_NOT_OVER: { iso: '94', http: 409, title: 'Month not over' },
  INVALID_IBAN: { iso: '94', http: 409, title: 'Invalid IBAN' },
  INVALID_CREDITOR_ID: { iso: '94', http: 409, title: 'Invalid SEPA creditor identifier' },
  MANDATE_MISSING: { iso: '94', http: 409, title: 'No SEPA mandate' },
  OFFICE_CODE_MISSING: { iso: '94', http: 409, title: 'No FatturaPA office code' },
  OFFICE_CODE_INVALID: { iso: '94', http: 409, title: 'Invalid FatturaPA office code' },
  SEAT_MISSING: { iso: '94', http: 409, title: 'No registered seat for the invoice' },
  SETTLEMENT_UNBALANCED: { iso: '95', http: 409, title: 'Settlement figures do not balance with the ledger' },
} as const satisfies Record<string, { iso: string; http: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * A refusal with a symbolic code: what every use-case throws or returns on failure.
 * Subclasses (settlement's refusals) keep their own fields; the code alone decides the
 * answer on every channel. `detail` is the message a person reads (the CLI prints it).
 */
export class PaymentError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'PaymentError';
  }
}

export function isPaymentError(e: unknown): e is PaymentError {
  return e instanceof PaymentError;
}
