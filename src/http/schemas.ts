// Request and response schemas of the JSON API. They validate every input and are
// the source of /openapi.json.
import { z } from 'zod';
import { API_SECRET_PATTERN } from '../auth/secrets.js';

import { cents, isoDate, positiveCents, text } from '../payments/inputs.js';

const TMK_SHAPE = /^[0-9a-fA-F]{64}$/;
export const TokenRequest = z.strictObject({
  terminalId: text().min(1).max(8),
  // A TMK's shape (64 hex) passes here only to be answered 401 with a hint: it never opens the JSON API.
  secret: z
    .string()
    .refine((v) => API_SECRET_PATTERN.test(v) || TMK_SHAPE.test(v), "the terminal's API secret: 43 base64url characters")
    .describe("the terminal's JSON API secret (43 base64url characters), issued at provisioning beside its TMK and apart from it; a TMK is refused (401)"),
});
export const LoginRequest = z.strictObject({
  username: text().min(1).max(64),
  password: z.string().min(1).max(256),
});
export const TokenAnswer = z.object({ token: z.string(), expiresIn: z.number().int() });
/** The console's session (POST/GET /console/session); the cookie itself is HttpOnly, out of the script's reach. */
export const ConsoleSessionOut = z.object({
  username: z.string(),
  role: z.enum(['entity', 'finance', 'admin']),
  entityId: z.string().nullable().describe("an entity user's entity; null for finance and admin"),
  entityName: z.string().nullable().describe("that entity's name, as the catalogue has it"),
  csrfToken: z.string().describe('send it back as X-CSRF-Token on every POST, PUT, PATCH and DELETE made with the session cookie'),
  idleSeconds: z.number().int().describe('the session ends after this long without a request (each request slides it)'),
  expiresAt: z.string().describe('when the session ends if no other request comes (ISO 8601; the absolute cap included)'),
});

const identification = {
  service: text().min(1).max(12).optional(),
  identifier: text().min(1).max(64).optional(),
  vehicleType: z.enum(['1', '2', '4']).optional(),
  fiscalCode: text().min(11).max(16).optional(),
  year: z.number().int().min(2000).max(2100).optional(),
  qr: text().min(1).max(64).optional(),
};

export const VerifyRequest = z.strictObject(identification);
export const VerifyAnswer = z.object({
  entity: z.string().describe("the creditor's name (a pagoPA notice: the name the node gives)"),
  entityId: z.string().nullable().describe('the catalogue entity; null: a pagoPA notice of a creditor outside the catalogue'),
  service: z.string().nullable().describe('the catalogue service; null: a pagoPA notice named by its QR code'),
  description: z.string(),
  amountDue: cents.describe('cents; 0 for self-assessed services, see minAmount/maxAmount'),
  minAmount: cents.optional(),
  maxAmount: cents.optional(),
  fee: cents,
  dueDate: isoDate.nullable(),
  status: z.string(),
  breakdown: z
    .object({ tax: cents, sanction: cents, interest: cents, daysLate: z.number().int().min(0) })
    .optional()
    .describe('bollo auto only: what amountDue is made of (cents) and the days late'),
  pagopa: z
    .object({ creditorFiscalCode: z.string(), companyName: z.string(), officeName: z.string().optional() })
    .optional()
    .describe("a notice verified through pagoPA's node: the creditor it names (fee 0 until pagoPA payments are booked)"),
});

export const PayRequest = z.strictObject({
  ...identification,
  amount: positiveCents.describe('cents of the tributo, excluding the fee'),
  fee: cents.optional().describe('the fee the terminal showed; refused if it differs'),
  payer: text().min(11).max(16).optional(),
});
const PagoPaAttestation = z.object({
  paymentToken: z.string().describe("pagoPA's payment token (ISO field 48 PT): the attestation prints it"),
  creditorFiscalCode: z.string().describe('the creditor (ISO field 48 EF)'),
  creditorName: z.string(),
  iuv: z.string(),
  noticeNumber: z.string(),
});
export const PaymentReceipt = z.object({
  paymentId: z.string(),
  receiptNumber: z.string(),
  rrn: z.string(),
  approvalCode: z.string(),
  amount: cents,
  fee: cents,
  total: cents,
  bookedAt: z.string(),
  settlementDate: isoDate,
  pagopa: PagoPaAttestation.optional().describe('a notice paid through pagoPA (docs/pagopa.md)'),
});
export const PaymentView = PaymentReceipt.extend({
  pagopa: PagoPaAttestation.extend({
    outcome: z.enum(['pending', 'sent', 'refund_due']).describe('the outcome sent to pagoPA: pending, sent (the node took it), refund_due (the node took no receipt: refund or code 9)'),
    outcomeAt: z.string().nullable(),
    outcomeFault: z.string().nullable().describe("the node's fault code that made it refund_due"),
  })
    .optional()
    .describe('a notice paid through pagoPA (docs/pagopa.md)'),
  status: z.enum(['BOOKED', 'REVERSED']),
  service: z.string(),
  entity: z.string(),
  identifier: z.string(),
  description: z.string(),
  channel: z.enum(['json', 'iso8583']),
  terminalId: z.string(),
  counterId: z.string(),
  reversedAt: z.string().nullable(),
  split: z
    .object({
      commission: cents.describe("the counter's commission"),
      operator: cents.describe("the network operator's share"),
      royalty: cents.describe("the circuit owner's royalty"),
      circuitFee: cents.describe('the circuit fee the entity owes the owner for this payment'),
      circuitFeeMode: z.enum(['netted', 'rebilled']).nullable().describe('netted from the payout, or rebilled monthly; null for the owner'),
    })
    .optional()
    .describe('the fee split as booked (cents): to entity, finance and admin readers, not to terminals'),
});

export const IdempotencyKey = z.string().min(8).max(64).regex(/^[\x20-\x7e]+$/, 'printable ASCII');

// The problem+json of every error: Problem in openapi.ts.

// ----- entity API

export { BulkPositionsInput, DebtPositionInput, PaymentOptionInput, type DebtPositionInputT } from '../payments/inputs.js';

export const DebtPositionOut = z.object({
  id: z.number().int(),
  entityId: z.string(),
  service: z.string(),
  externalRef: z.string(),
  debtorFiscalCode: z.string(),
  debtorName: z.string().nullable(),
  description: z.string(),
  status: z.string(),
  validUntil: isoDate.nullable(),
  options: z.array(
    z.object({
      noticeNumber: z.string(),
      lookupKey: z.string().nullable(),
      kind: z.string(),
      instalmentNo: z.number().nullable(),
      amount: cents,
      dueDate: isoDate,
      description: z.string(),
      paid: z.boolean(),
    }),
  ),
});

/** A bulk upload that went through; refused rows are a problem (422 ROWS_INVALID or 409 CONFLICT) with `errors`. */
export const BulkReport = z.object({
  created: z.number().int(),
  ids: z.array(z.number().int()),
});
export const BulkQuery = z.strictObject({
  entityId: text().min(1).max(16).optional().describe('text/csv from an admin: the entity the rows are for (CSV rows name none)'),
});

// ----- admin API

export const ProvisionTerminal = z.strictObject({
  counterId: text().min(1).max(15),
  terminalId: z.string().regex(/^[A-Z0-9]{1,8}$/, 'up to 8 uppercase letters and digits').optional(),
});
export const ProvisionedTerminal = z.object({
  terminalId: z.string(),
  counterId: z.string(),
  tmk: z.string().describe('the terminal master key in hex (ISO 8583); shown once, never again'),
  apiSecret: z.string().describe('the JSON API secret for POST /v1/auth/token (base64url); shown once, never again'),
});
export const RotatedTmk = z.object({
  terminalId: z.string(),
  tmk: z.string().describe('the new terminal master key in hex; shown once, never again. The old one stops working at once'),
});
export const RotatedApiSecret = z.object({
  terminalId: z.string(),
  apiSecret: z.string().describe('the new JSON API secret; shown once, never again. The old one and its tokens stop working at once'),
});
export const CreditLimitInput = z.strictObject({ creditLimit: cents });
export const CounterOut = z.object({
  id: z.string(),
  kind: z.string(),
  name: z.string(),
  address: z.string(),
  town: z.string(),
  iban: z.string(),
  creditLimit: cents,
  exposure: cents.optional(),
  status: z.string(),
});


export const ListQuery = z.strictObject({
  entityId: text().min(1).max(16).optional(),
  cursor: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

// ----- finance API (settlement, adjustments, rebilling)

export const AdjustmentInput = z.strictObject({
  reason: text().trim().min(3).max(500).describe('why the payment is refunded; kept in the audit log'),
});
export const CancelInput = z.strictObject({
  reason: text().trim().min(3).max(200).describe('why the finance office cancels the payment; kept in the audit log'),
});
export const SettlementDate = isoDate;
export const Month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'a month YYYY-MM');
/** ?dialect=it: the CSV for Italian Excel (semicolons, euros with a decimal comma, Rome times, BOM); CSV only. */
export const CsvDialect = z.enum(['it']).describe('it: CSV for Italian Excel (";", euros 1234,56, dd/mm/yyyy Europe/Rome, UTF-8 BOM); absent: the machine CSV');
export const DialectQuery = z.strictObject({ dialect: CsvDialect.optional() });
export const FormatQuery = z.strictObject({ format: z.enum(['json', 'csv', 'pdf']).optional(), dialect: CsvDialect.optional() });
export const SettlementListQuery = z.strictObject({ from: isoDate.optional(), to: isoDate.optional() });
export const PaymentsCsvQuery = z.strictObject({
  entityId: text().min(1).max(16).optional(),
  counterId: text().min(1).max(15).optional(),
  dialect: CsvDialect.optional(),
});
export const RebillingQuery = z.strictObject({
  entityId: text().min(1).max(16).optional(),
  format: z.enum(['json', 'csv']).optional(),
  dialect: CsvDialect.optional(),
});
export const RebillingLinesQuery = RebillingQuery.extend({
  cursor: z.string().regex(/^[bc]:\d{1,15}$/, 'a cursor from a previous page').optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
});
export const SettlementWindowOut = z.object({
  date: isoDate,
  status: z.enum(['closed', 'draft', 'approved', 'exported']),
  period: z.object({ from: z.string(), to: z.string() }),
  closedAt: z.string(),
  computedAt: z.string().nullable(),
  approvedAt: z.string().nullable(),
  approvedBy: z.string().nullable(),
  exportedAt: z.string().nullable(),
  figuresHash: z.string().nullable(),
});

// ----- answers without an input twin (documentation only: the routes build them)

export const ServiceOut = z.object({
  code: z.string(),
  name: z.string(),
  entityId: z.string(),
  entity: z.string(),
  amountKind: z.string(),
  identifierKind: z.string().describe('what the identifier is (docs/api.md, identifiers by service)'),
  fixedAmount: cents.nullable(),
  minAmount: cents.nullable(),
  maxAmount: cents.nullable(),
  enabled: z.boolean(),
});
export const ServiceList = z.array(ServiceOut);
export const DebtPositionPage = z.object({ items: z.array(DebtPositionOut), nextCursor: z.number().int().nullable().describe('the cursor of the next page; null at the end') });
export const TerminalOut = z.object({ id: z.string(), counterId: z.string(), status: z.string() });
export const TerminalSummaryOut = TerminalOut.extend({ createdAt: z.unknown() }).loose().describe('a terminal without its keys');
export const TerminalListQuery = z.object({ counterId: text().min(1).max(15).optional().describe("only this counter's terminals") });
export const CounterDetailOut = CounterOut.extend({ terminals: z.array(TerminalSummaryOut) });
export const UserStatusOut = z.object({ username: z.string(), role: z.string(), disabled: z.boolean() });
export const AdjustedPayment = PaymentView.extend({
  adjustment: z.object({ window: isoDate.nullable(), originalWindow: isoDate, actor: z.string(), reason: z.string() }),
});
export const CancelledPayment = PaymentView.extend({
  cancellation: z.object({
    kind: z.enum(['reversal', 'adjustment']).describe("reversal: in the payment's own window, still open; adjustment: its window had closed"),
    window: isoDate.describe('the window the cancellation is booked in'),
    originalWindow: isoDate,
    actor: z.string(),
    reason: z.string(),
  }),
});

const totals = z.record(z.string(), z.number().int()).describe('cents (payments: a count)');
const Figures = z
  .looseObject({
    date: isoDate,
    cutoff: z.string(),
    entities: z.array(z.looseObject({ entityId: z.string(), name: z.string(), netPayout: cents.or(z.number().int()) })),
    counters: z.array(z.looseObject({ counterId: z.string(), collected: z.number().int() })),
    totals,
    creditTransfers: z.array(z.looseObject({ amount: z.number().int() })),
    directDebits: z.array(z.looseObject({ amount: z.number().int() })),
    receivables: z.array(z.looseObject({ amount: z.number().int() })),
  })
  .describe('the whole figures of a window, in cents (docs/settlement.md)');
const EntityStatementOut = z.looseObject({ entityId: z.string(), count: z.number().int(), gross: z.number().int(), netPayout: z.number().int() }).describe('cents');
export const SettlementListItem = SettlementWindowOut.extend({
  totals: totals.nullable().optional().describe('finance and admin'),
  statement: z.object({ entityId: z.string(), count: z.number().int(), gross: z.number().int(), reversals: z.number().int(), adjustments: z.number().int(), netPayout: z.number().int() }).nullable().optional().describe('an entity: its own'),
});
export const SettlementOut = z.object({
  window: SettlementWindowOut,
  figures: Figures.optional().describe('finance and admin'),
  sepa: z.looseObject({}).optional().describe('finance and admin: what the SEPA files carry'),
  statement: EntityStatementOut.optional().describe("an entity: its own statement"),
  pagopa: z.looseObject({}).optional().describe("finance and admin, a window with pagoPA payments: per creditor, its credit transfers and their reporting flows' state (docs/pagopa.md)"),
});
const PagoPaFlowOut = z.object({
  flowId: z.string().describe("identificativoFlusso: the credit transfer's remittance information"),
  creditorFiscalCode: z.string(),
  creditorName: z.string(),
  iban: z.string(),
  totalCents: z.number().int(),
  count: z.number().int().describe('transfers listed'),
  state: z.enum(['pending', 'accepted', 'refused']).describe('pending: not accepted yet, sent again by the nightly job; refused: the node said why (lastFault)'),
  attempts: z.number().int(),
  lastFault: z.string().nullable(),
  createdAt: z.string(),
  sentAt: z.string().nullable(),
});
export const PagoPaFlowsOut = z.object({
  date: isoDate,
  status: z.string().describe("the window's status"),
  deadline: z.string().nullable().describe('end of D+2: the flows must be accepted before it'),
  scts: z.number().int().describe("the window's credit transfers to pagoPA creditors (one flow each, built at approval)"),
  flows: z.array(PagoPaFlowOut),
});
export const SettlementRunOut = z.object({ outcome: z.string().describe('created, or what the window was already'), window: SettlementWindowOut, figures: Figures });
export const SettlementApproveOut = z.object({ changed: z.boolean(), window: SettlementWindowOut });
export const StatementOut = z.looseObject({}).describe('the statement as JSON, in cents (docs/settlement.md)');
export const RebillingOut = z.looseObject({ final: z.boolean() }).describe("an entity's monthly circuit-fee statement, in cents");
export const RebillingLinesOut = z.object({
  items: z.array(
    z.looseObject({
      bookedAt: z.string(),
      cancelledAt: z.string().nullable(),
      serviceName: z.string(),
      identifier: z.string(),
      noticeNumber: z.string().nullable().describe('the notice number (codice avviso) of the debt position paid'),
      iuv: z.string().nullable(),
      receiptNumber: z.string(),
    }),
  ),
  nextCursor: z.string().nullable(),
});
export const Health = z.object({ status: z.literal('ok'), version: z.string() });
export const Ready = z.object({ status: z.literal('ready'), alarms: z.array(z.unknown()).optional().describe('to a caller on the host'), alarmCount: z.number().int().optional() });

// ----- console reads (issue 14): payment search, the day's figures, counters' day

export const PaymentSearchQuery = z.strictObject({
  notice: z.string().regex(/^[\d ]{15,22}$/, 'a notice number (18 digits) or an IUV (15 or 17 digits)').optional()
    .describe("payments of that notice: its payment option's, or whose identifier is the notice number"),
  receipt: z.string().regex(/^\d{8}-\d{10}$/, 'a receipt number YYYYMMDD-NNNNNNNNNN').optional(),
  rrn: z.string().regex(/^\d{1,12}$/, 'an RRN of up to 12 digits').optional(),
  identifier: text().min(1).max(64).optional().describe('the identifier as paid (notice number, plate, FINENO/PLATE...)'),
  counterId: text().min(1).max(15).optional(),
  entityId: text().min(1).max(16).optional().describe("finance and admin; an entity user naming another entity is refused (403)"),
  service: text().min(1).max(12).optional(),
  from: isoDate.optional().describe('settlement date, inclusive'),
  to: isoDate.optional().describe('settlement date, inclusive'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^\d{1,15}$/, 'a cursor from a previous page').optional(),
});
export const PaymentSearchPage = z.object({
  items: z.array(PaymentView),
  nextCursor: z.string().nullable().describe('the cursor of the next page; null at the end'),
});
export const DayQuery = z.strictObject({
  date: isoDate.optional().describe('the settlement window; by default the one a payment booked now falls in'),
});
const DayFigures = { count: z.number().int(), amount: cents, fee: cents };
const DayGroup = z.object({ key: z.string(), name: z.string(), ...DayFigures });
export const DayReport = z.object({
  date: isoDate,
  totals: z.object(DayFigures).describe("the window's bookings not reversed (cents)"),
  reversed: z.object({ count: z.number().int(), amount: cents }).describe("the window's bookings reversed since"),
  byService: z.array(DayGroup),
  byEntity: z.array(DayGroup),
  byChannel: z.array(DayGroup),
  byCounterKind: z.array(DayGroup),
  byHour: z.array(z.object({ hour: z.number().int().min(0).max(23).describe('Europe/Rome hour of booking'), count: z.number().int(), amount: cents })).length(24),
  latest: z.array(PaymentView).describe("the window's 20 newest payments (reversed ones too)"),
});
export const PagoPaRefunds = z.array(
  z.object({
    paymentId: z.string(),
    receiptNumber: z.string(),
    bookedAt: z.string(),
    counterId: z.string(),
    terminalId: z.string(),
    amount: z.number().int().describe('cents'),
    fee: z.number().int().describe('cents'),
    creditorFiscalCode: z.string(),
    creditorName: z.string(),
    noticeNumber: z.string(),
    iuv: z.string(),
    paymentToken: z.string(),
    markedAt: z.string().nullable().describe('when the node answered that it has no receipt for it'),
    reason: z.string().nullable().describe('the node\'s fault code: PPT_PAGAMENTO_DUPLICATO (paid elsewhere meanwhile), PPT_TOKEN_SCADUTO...'),
    refunded: z.boolean().describe('the office cancelled the payment: the citizen got the money back'),
    settlementDate: z.string(),
  }),
);

export const CountersDay = z.array(
  z.object({
    id: z.string(),
    name: z.string(),
    kind: z.string(),
    kindName: z.string().describe('the kind as the console shows it (Tabaccheria, Agenzia, Supermercato)'),
    status: z.string(),
    creditLimit: cents,
    exposure: z.number().int().describe('credit used: cash collected and not yet settled (cents)'),
    count: z.number().int(),
    amount: cents,
    fee: cents,
    commission: cents,
  }),
);
