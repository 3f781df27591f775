// The PSP's reporting flow (flusso di rendicontazione, ../shared/spec/pagopa-psp.md
// "Reporting"): one FlussoRiversamento 1.0.4 per settlement credit transfer (SCT) to a
// creditor, listing the transfers the SCT pays. Pure: domain data in, the document and
// its totals out; the client sends it (PspClient.sendFlow), the settlement decides when.
// Element names, order and types follow xsd-common/FlussoRiversamento_1_0_4.xsd
// (repository pagopa/pagopa-api); amounts are written from cents by digits (soap.ts).
import { create } from 'xmlbuilder2';
import { xmlText } from '../xml.js';
import { MAX_AMOUNT_CENTS, centsToAmount } from './soap.js';

export const FLOW_NAMESPACE = 'http://www.digitpa.gov.it/schemas/2011/Pagamenti/';

/** codiceEsitoSingoloPagamento: 0 paid, 3 revoked, 4 paid in stand-in, 9 paid without receipt. */
export type FlowOutcomeCode = '0' | '3' | '4' | '9';

/** One datiSingoliPagamenti, as the document says it. */
export interface FlowLine {
  /** identificativoUnivocoVersamento. */
  iuv: string;
  /** identificativoUnivocoRiscossione: the paymentToken. */
  iur: string;
  /** indiceDatiSingoloPagamento, 1..5 (the transfer's index); absent means 1. */
  index?: number;
  amountCents: number;
  outcomeCode: FlowOutcomeCode;
  /** dataEsitoSingoloPagamento, YYYY-MM-DD. */
  outcomeDate: string;
}

/** The whole document in domain terms, totals as stated (they may be wrong: tests write such flows). */
export interface FlowDocument {
  flowId: string;
  /** dataOraFlusso, an xsd:dateTime. */
  flowDateTime: string;
  /** identificativoUnivocoRegolamento: the credit transfer's reference. */
  settlementReference: string;
  /** dataRegolamento, YYYY-MM-DD. */
  settlementDate: string;
  /** The idPSP (istitutoMittente, type B). */
  senderId: string;
  /** denominazioneMittente, 3..70 characters. */
  senderName?: string;
  /** The creditor's fiscal code (istitutoRicevente, type G). */
  receiverId: string;
  /** denominazioneRicevente, 1..140 characters. */
  receiverName?: string;
  totalPayments: number;
  totalCents: number;
  payments: FlowLine[];
}

/** What the settlement knows about one transfer it pays. */
export interface FlowTransfer {
  /** The activation's creditorReferenceId. */
  iuv: string;
  /** The paymentToken (the IUR). */
  paymentToken: string;
  /** The transfer's index in the activation's list, 1..5. */
  transferIndex: number;
  amountCents: number;
  /** 0 paid, 3 revoked, 9 paid without receipt. */
  outcome: 0 | 3 | 9;
  /** YYYY-MM-DD. */
  outcomeDate: string;
}

export interface FlowInput {
  /** The SCT's settlement date, YYYY-MM-DD: dataRegolamento and the flow id's first part. */
  settlementDate: string;
  idPSP: string;
  pspName?: string;
  creditor: { fiscalCode: string; name: string };
  /** identificativoUnivocoRegolamento: the SCT's reference (1..35 characters). */
  sctReference: string;
  /** The flow id's unique part; default the SCT's reference. */
  unique?: string;
  /** When the flow is made (epoch ms, from the caller's clock): dataOraFlusso. */
  createdAt: number;
  transfers: FlowTransfer[];
}

export interface BuiltFlow {
  flowId: string;
  /** The creditor (identificativoDominio when sent). */
  creditorFiscalCode: string;
  flowDateTime: string;
  xml: string;
  totalCents: number;
  count: number;
}

const FLOW_ID = /^[a-zA-Z0-9\-_]{1,35}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function isDate(value: string): boolean {
  if (!DATE.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

function text35(name: string, value: string): void {
  if (value.length < 1 || value.length > 35) throw new RangeError(`${name} must be 1..35 characters`);
}

/**
 * identificativoFlusso `<YYYY-MM-DD><idPSP>-<unique>`, at most 35 characters of
 * [a-zA-Z0-9-_]: the same string goes in the SCT's remittance information, which is how
 * the creditor's treasury matches the credit to the flow.
 */
export function flowId(settlementDate: string, idPSP: string, unique: string): string {
  if (!isDate(settlementDate)) throw new RangeError(`settlement date "${settlementDate}" is not a date YYYY-MM-DD`);
  if (unique.length === 0) throw new RangeError("the flow id's unique part is empty");
  const id = `${settlementDate}${idPSP}-${unique}`;
  if (!FLOW_ID.test(id)) throw new RangeError(`flow id "${id}" must be 1..35 characters of a-z A-Z 0-9 - _ (${id.length})`);
  return id;
}

/** The SCT's remittance information for a flow: the flow id, exactly (spec "Reporting"). */
export function sctRemittanceInformation(id: string): string {
  if (!FLOW_ID.test(id)) throw new RangeError(`flow id "${id}" must be 1..35 characters of a-z A-Z 0-9 - _`);
  return id;
}

/** dataOraFlusso: UTC, to the second. */
function dateTime(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError('createdAt must be epoch milliseconds');
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/**
 * The flow of one SCT to one creditor: checked against the schema's types (and no
 * transfer listed twice), totals computed. Transfers are written in the order given.
 */
export function buildFlow(input: FlowInput): BuiltFlow {
  const id = flowId(input.settlementDate, input.idPSP, input.unique ?? input.sctReference);
  text35('idPSP', input.idPSP);
  text35('sctReference', input.sctReference);
  text35("the creditor's fiscal code", input.creditor.fiscalCode);
  if (input.creditor.name.length < 1 || input.creditor.name.length > 140) throw new RangeError("the creditor's name must be 1..140 characters");
  if (input.pspName !== undefined && (input.pspName.length < 3 || input.pspName.length > 70)) throw new RangeError("the PSP's name must be 3..70 characters");
  if (input.transfers.length === 0) throw new RangeError('a flow lists at least one transfer');
  const seen = new Set<string>();
  let total = 0;
  const payments = input.transfers.map((t): FlowLine => {
    text35('iuv', t.iuv);
    text35('paymentToken', t.paymentToken);
    if (!Number.isInteger(t.transferIndex) || t.transferIndex < 1 || t.transferIndex > 5) throw new RangeError(`transfer index ${t.transferIndex} must be 1..5`);
    if (!Number.isSafeInteger(t.amountCents) || t.amountCents < 1) throw new RangeError(`amount ${t.amountCents} must be at least 1 cent`);
    if (t.outcome !== 0 && t.outcome !== 3 && t.outcome !== 9) throw new RangeError(`outcome ${String(t.outcome)} must be 0, 3 or 9`);
    if (!isDate(t.outcomeDate)) throw new RangeError(`outcome date "${t.outcomeDate}" is not a date YYYY-MM-DD`);
    const key = `${t.iuv} ${t.paymentToken} ${t.transferIndex}`;
    if (seen.has(key)) throw new RangeError(`IUV ${t.iuv} token ${t.paymentToken} transfer ${t.transferIndex} listed twice`);
    seen.add(key);
    total += t.amountCents;
    return { iuv: t.iuv, iur: t.paymentToken, index: t.transferIndex, amountCents: t.amountCents, outcomeCode: String(t.outcome) as FlowOutcomeCode, outcomeDate: t.outcomeDate };
  });
  // stImportoTotalePagamenti: at most 999999999.99 (centsToAmount checks it too).
  if (total > MAX_AMOUNT_CENTS) throw new RangeError(`total ${total} cents above 999999999.99: split the flow`);
  const flowDateTime = dateTime(input.createdAt);
  const xml = writeFlowXml({
    flowId: id,
    flowDateTime,
    settlementReference: input.sctReference,
    settlementDate: input.settlementDate,
    senderId: input.idPSP,
    ...(input.pspName !== undefined ? { senderName: input.pspName } : {}),
    receiverId: input.creditor.fiscalCode,
    receiverName: input.creditor.name,
    totalPayments: payments.length,
    totalCents: total,
    payments,
  });
  return { flowId: id, creditorFiscalCode: input.creditor.fiscalCode, flowDateTime, xml, totalCents: total, count: payments.length };
}

/**
 * Writes a document in the schema's element order as given, totals included: no
 * semantic checks (buildFlow makes them), so the simulator's tests can write wrong flows.
 */
export function writeFlowXml(flow: FlowDocument): string {
  const ns = FLOW_NAMESPACE;
  const root = create({ version: '1.0', encoding: 'UTF-8' }).ele(ns, 'pay_i:FlussoRiversamento');
  const ele = (parent: typeof root, name: string, value?: string) => {
    const e = parent.ele(ns, `pay_i:${name}`);
    if (value !== undefined) e.txt(xmlText(value));
    return e;
  };
  ele(root, 'versioneOggetto', '1.0');
  ele(root, 'identificativoFlusso', flow.flowId);
  ele(root, 'dataOraFlusso', flow.flowDateTime);
  ele(root, 'identificativoUnivocoRegolamento', flow.settlementReference);
  ele(root, 'dataRegolamento', flow.settlementDate);
  const sender = ele(root, 'istitutoMittente');
  const senderId = ele(sender, 'identificativoUnivocoMittente');
  ele(senderId, 'tipoIdentificativoUnivoco', 'B');
  ele(senderId, 'codiceIdentificativoUnivoco', flow.senderId);
  if (flow.senderName !== undefined) ele(sender, 'denominazioneMittente', flow.senderName);
  // codiceBicBancaDiRiversamento (optional) is not written: the SCT's own data carry the bank.
  const receiver = ele(root, 'istitutoRicevente');
  const receiverId = ele(receiver, 'identificativoUnivocoRicevente');
  ele(receiverId, 'tipoIdentificativoUnivoco', 'G');
  ele(receiverId, 'codiceIdentificativoUnivoco', flow.receiverId);
  if (flow.receiverName !== undefined) ele(receiver, 'denominazioneRicevente', flow.receiverName);
  ele(root, 'numeroTotalePagamenti', String(flow.totalPayments));
  ele(root, 'importoTotalePagamenti', centsToAmount(flow.totalCents));
  for (const p of flow.payments) {
    const d = ele(root, 'datiSingoliPagamenti');
    ele(d, 'identificativoUnivocoVersamento', p.iuv);
    ele(d, 'identificativoUnivocoRiscossione', p.iur);
    if (p.index !== undefined) ele(d, 'indiceDatiSingoloPagamento', String(p.index));
    ele(d, 'singoloImportoPagato', centsToAmount(p.amountCents));
    ele(d, 'codiceEsitoSingoloPagamento', p.outcomeCode);
    ele(d, 'dataEsitoSingoloPagamento', p.outcomeDate);
  }
  return root.end({ prettyPrint: true });
}
