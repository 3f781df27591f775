// A reporting flow (FlussoRiversamento 1.0.4, namespace of the 2011 "Pagamenti" schemas)
// as the node simulator reads it: the fields its checks need, amounts in cents. Elements
// are found by local name in schema order, so any prefix the sender chose is fine.
import { create } from 'xmlbuilder2';
import { amountToCents, centsToAmount } from '../soap.js';

export const FLOW_NAMESPACE = 'http://www.digitpa.gov.it/schemas/2011/Pagamenti/';

export interface FlowPayment {
  /** identificativoUnivocoVersamento. */
  iuv: string;
  /** identificativoUnivocoRiscossione: the paymentToken. */
  iur: string;
  /** indiceDatiSingoloPagamento, 1..5 (the transfer's index); absent means 1. */
  index?: number;
  amountCents: number;
  /** codiceEsitoSingoloPagamento: 0 paid, 3 revoked, 4 paid in stand-in, 9 paid without receipt. */
  outcomeCode: '0' | '3' | '4' | '9';
  /** dataEsitoSingoloPagamento, YYYY-MM-DD. */
  outcomeDate: string;
}

export interface ReportingFlow {
  flowId: string;
  flowDateTime: string;
  /** identificativoUnivocoRegolamento: the credit transfer's reference. */
  settlementReference: string;
  /** dataRegolamento, YYYY-MM-DD. */
  settlementDate: string;
  senderId: string;
  /** The creditor's fiscal code (istitutoRicevente). */
  receiverId: string;
  totalPayments: number;
  totalCents: number;
  payments: FlowPayment[];
}

interface DomNode {
  nodeType: number;
  localName?: string | null;
  namespaceURI?: string | null;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
}

const ELEMENT = 1;

function children(node: DomNode): DomNode[] {
  return Array.from(node.childNodes).filter((n) => n.nodeType === ELEMENT);
}

class FlowError extends Error {}

function child(node: DomNode, name: string): DomNode {
  const found = children(node).find((n) => n.localName === name);
  if (!found) throw new FlowError(`missing element ${name}`);
  return found;
}

function optionalText(node: DomNode, name: string): string | undefined {
  const found = children(node).find((n) => n.localName === name);
  return found ? (found.textContent ?? '').trim() : undefined;
}

const text = (node: DomNode, name: string) => (child(node, name).textContent ?? '').trim();

function amount(node: DomNode, name: string, allowZero: boolean): number {
  const value = text(node, name);
  let cents: number;
  try {
    cents = amountToCents(value);
  } catch {
    throw new FlowError(`${name} "${value.slice(0, 40)}" is not an amount with two decimals`);
  }
  if (!allowZero && cents === 0) throw new FlowError(`${name} must be at least 0.01`);
  return cents;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function date(node: DomNode, name: string): string {
  const value = text(node, name);
  if (!DATE.test(value)) throw new FlowError(`${name} "${value}" is not a date YYYY-MM-DD`);
  return value;
}

/** Parses the document; a malformed one (not XML, elements missing, bad values) is refused with the first reason. */
export function parseFlow(xml: string): { ok: true; flow: ReportingFlow } | { ok: false; reason: string } {
  // No DTDs, as in soap.ts: a flow needs none, and entities are an attack surface.
  if (/<!DOCTYPE/i.test(xml)) return { ok: false, reason: 'a DOCTYPE is not allowed in a flow' };
  let root: DomNode;
  try {
    const doc = create(xml).node as unknown as DomNode;
    const top = children(doc)[0];
    if (!top) throw new FlowError('empty document');
    root = top;
  } catch (err) {
    return { ok: false, reason: `not XML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
  try {
    if (root.localName !== 'FlussoRiversamento' || root.namespaceURI !== FLOW_NAMESPACE) {
      throw new FlowError(`the root must be FlussoRiversamento in ${FLOW_NAMESPACE}`);
    }
    const totalText = text(root, 'numeroTotalePagamenti');
    if (!/^\d{1,15}$/.test(totalText) || Number(totalText) < 1) throw new FlowError(`numeroTotalePagamenti "${totalText}" must be a whole number from 1`);
    const payments = children(root)
      .filter((n) => n.localName === 'datiSingoliPagamenti')
      .map((p): FlowPayment => {
        const indexText = optionalText(p, 'indiceDatiSingoloPagamento');
        if (indexText !== undefined && !/^[1-5]$/.test(indexText)) throw new FlowError(`indiceDatiSingoloPagamento "${indexText}" must be 1..5`);
        const code = text(p, 'codiceEsitoSingoloPagamento');
        if (code !== '0' && code !== '3' && code !== '4' && code !== '9') throw new FlowError(`codiceEsitoSingoloPagamento "${code}" must be 0, 3, 4 or 9`);
        return {
          iuv: text(p, 'identificativoUnivocoVersamento'),
          iur: text(p, 'identificativoUnivocoRiscossione'),
          ...(indexText !== undefined ? { index: Number(indexText) } : {}),
          amountCents: amount(p, 'singoloImportoPagato', false),
          outcomeCode: code,
          outcomeDate: date(p, 'dataEsitoSingoloPagamento'),
        };
      });
    if (payments.length === 0) throw new FlowError('no datiSingoliPagamenti');
    const sender = child(child(root, 'istitutoMittente'), 'identificativoUnivocoMittente');
    const receiver = child(child(root, 'istitutoRicevente'), 'identificativoUnivocoRicevente');
    return {
      ok: true,
      flow: {
        flowId: text(root, 'identificativoFlusso'),
        flowDateTime: text(root, 'dataOraFlusso'),
        settlementReference: text(root, 'identificativoUnivocoRegolamento'),
        settlementDate: date(root, 'dataRegolamento'),
        senderId: text(sender, 'codiceIdentificativoUnivoco'),
        receiverId: text(receiver, 'codiceIdentificativoUnivoco'),
        totalPayments: Number(totalText),
        totalCents: amount(root, 'importoTotalePagamenti', true),
        payments,
      },
    };
  } catch (err) {
    if (err instanceof FlowError) return { ok: false, reason: err.message };
    throw err;
  }
}

/** Writes a flow in the schema's element order (the PSP's side; tests and the next step's reporting). */
export function buildFlowXml(flow: ReportingFlow): string {
  const ns = FLOW_NAMESPACE;
  const root = create({ version: '1.0', encoding: 'UTF-8' }).ele(ns, 'pay_i:FlussoRiversamento');
  const ele = (parent: typeof root, name: string, value?: string) => {
    const e = parent.ele(ns, `pay_i:${name}`);
    if (value !== undefined) e.txt(value);
    return e;
  };
  ele(root, 'versioneOggetto', '1.0');
  ele(root, 'identificativoFlusso', flow.flowId);
  ele(root, 'dataOraFlusso', flow.flowDateTime);
  ele(root, 'identificativoUnivocoRegolamento', flow.settlementReference);
  ele(root, 'dataRegolamento', flow.settlementDate);
  const sender = ele(ele(root, 'istitutoMittente'), 'identificativoUnivocoMittente');
  ele(sender, 'tipoIdentificativoUnivoco', 'B');
  ele(sender, 'codiceIdentificativoUnivoco', flow.senderId);
  const receiver = ele(ele(root, 'istitutoRicevente'), 'identificativoUnivocoRicevente');
  ele(receiver, 'tipoIdentificativoUnivoco', 'G');
  ele(receiver, 'codiceIdentificativoUnivoco', flow.receiverId);
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
