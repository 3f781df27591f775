// pagoPA's node, interface nodeForPsp (../shared/spec/pagopa-psp.md), in domain terms:
// the three operations of "modello 3" as the switch (a PSP) and the node simulator see
// them. Amounts are integer cents here; the codec (soap.ts) writes them as "30.00".
// Field names follow the schema where the meaning is the same; units are in the names.

/** The PSP's identity on the node: in every request body, and the APIM subscription key in a header. */
export interface PspIdentity {
  idPSP: string;
  idBrokerPSP: string;
  idChannel: string;
  /** 8..15 characters; never logged. */
  password: string;
  /** Ocp-Apim-Subscription-Key; never logged. */
  subscriptionKey: string;
}

/** The identity fields as they travel in a body (the subscription key travels in a header). */
export type PspCredentials = Omit<PspIdentity, 'subscriptionKey'>;

/** verifyPaymentNotice: what the notice's QR code says. */
export interface VerifyRequest {
  /** The creditor's (EC) fiscal code, 11 digits. */
  fiscalCode: string;
  /** 18 digits. */
  noticeNumber: string;
}

export interface VerifyAnswer {
  amountCents: number;
  /** YYYY-MM-DD. */
  dueDate?: string;
  description: string;
  fiscalCodePA: string;
  companyName: string;
  officeName?: string;
}

/** activatePaymentNotice (V1): locks the notice for the token's lifetime. */
export interface ActivateRequest {
  /** `<PSP fiscal code>_<10 alphanumerics>` (idempotencyKey() in client.ts). */
  idempotencyKey: string;
  fiscalCode: string;
  noticeNumber: string;
  amountCents: number;
  /** Token lifetime asked for, at most 1800000 (the node's default and maximum). */
  expirationMs?: number;
  dueDate?: string;
  paymentNote?: string;
}

/** One of the 1..5 credit transfers the creditor asks for: settlement pays these IBANs. */
export interface Transfer {
  /** 1..5. */
  index: number;
  amountCents: number;
  fiscalCodePA: string;
  iban: string;
  remittanceInformation: string;
}

export interface ActivateAnswer {
  totalAmountCents: number;
  description: string;
  fiscalCodePA: string;
  companyName: string;
  officeName?: string;
  /** 1..35 characters: printed on the attestation, field 48 `PT`. */
  paymentToken: string;
  /** The IUV. */
  creditorReferenceId: string;
  transfers: Transfer[];
}

/** An entity that identifies the payer (ctSubject, reduced to what a counter knows). */
export interface Payer {
  type: 'F' | 'G';
  /** 2..16 characters (a fiscal code). */
  id: string;
  fullName: string;
}

export interface OutcomeDetails {
  feeCents: number;
  /** YYYY-MM-DD: the day of the payment. */
  applicationDate: string;
  /** YYYY-MM-DD: the day the PSP orders the credit transfer. */
  transferDate: string;
  payer?: Payer;
}

/** sendPaymentOutcome (V1). Paid at a counter: paymentMethod cash, paymentChannel frontOffice. */
export interface OutcomeRequest {
  idempotencyKey: string;
  paymentToken: string;
  outcome: 'OK' | 'KO';
  /** Mandatory for OK. */
  details?: OutcomeDetails;
}

/** A business error: outcome KO with a fault (HTTP 200, not a SOAP fault). */
export interface NodeFault {
  /** PPT_*. */
  code: string;
  description?: string;
  /** PAA_* when the creditor refused (PPT_ERRORE_EMESSO_DA_PAA). */
  originalFaultCode?: string;
}

export type NodeAnswer<T> = { ok: true; value: T } | { ok: false; fault: NodeFault };

export type OperationName = 'verifyPaymentNotice' | 'activatePaymentNotice' | 'sendPaymentOutcome';

/** The longest token lifetime the node grants, and its default. */
export const MAX_EXPIRATION_MS = 1_800_000;

/** Fault codes the node answers (pagopa-psp.md); the table in faults.ts maps each. */
export const NODE_FAULT_CODES = [
  'PPT_SINTASSI_EXTRAXSD',
  'PPT_SINTASSI_XSD',
  'PPT_AUTENTICAZIONE',
  'PPT_AUTORIZZAZIONE',
  'PPT_DOMINIO_SCONOSCIUTO',
  'PPT_STAZIONE_INT_PA_SCONOSCIUTA',
  'PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE',
  'PPT_STAZIONE_INT_PA_TIMEOUT',
  'PPT_ERRORE_EMESSO_DA_PAA',
  'PPT_ERRORE_IDEMPOTENZA',
  'PPT_PAGAMENTO_DUPLICATO',
  'PPT_PAGAMENTO_IN_CORSO',
  'PPT_PAGAMENTO_SCONOSCIUTO',
  'PPT_TOKEN_SCONOSCIUTO',
  'PPT_TOKEN_SCADUTO',
  'PPT_TOKEN_SCADUTO_KO',
  'PPT_ESITO_GIA_ACQUISITO',
  'PPT_SEMANTICA',
  'PPT_SYSTEM_ERROR',
] as const;

export type NodeFaultCode = (typeof NODE_FAULT_CODES)[number];
