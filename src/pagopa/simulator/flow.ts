// A reporting flow (FlussoRiversamento 1.0.4, namespace of the 2011 "Pagamenti" schemas)
// as the node simulator reads it: the fields its checks need, amounts in cents. Elements
// are found by local name in schema order, so any prefix the sender chose is fine.
// The types and the writer are the PSP's (../flow.ts): the node reads and checks what the
// PSP writes with its own parser, here.
import { FLOW_NAMESPACE, writeFlowXml, type FlowDocument, type FlowLine } from '../flow.js';
import { amountToCents } from '../soap.js';
import { elementsOf, parseXml, type DomNode } from '../../xml.js';

export { FLOW_NAMESPACE };
export type FlowPayment = FlowLine;
export type ReportingFlow = FlowDocument;

const children = elementsOf;

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
    const doc = parseXml(xml).node as unknown as DomNode;
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
    const senderInstitute = child(root, 'istitutoMittente');
    const receiverInstitute = child(root, 'istitutoRicevente');
    const sender = child(senderInstitute, 'identificativoUnivocoMittente');
    const receiver = child(receiverInstitute, 'identificativoUnivocoRicevente');
    const senderName = optionalText(senderInstitute, 'denominazioneMittente');
    const receiverName = optionalText(receiverInstitute, 'denominazioneRicevente');
    return {
      ok: true,
      flow: {
        flowId: text(root, 'identificativoFlusso'),
        flowDateTime: text(root, 'dataOraFlusso'),
        settlementReference: text(root, 'identificativoUnivocoRegolamento'),
        settlementDate: date(root, 'dataRegolamento'),
        senderId: text(sender, 'codiceIdentificativoUnivoco'),
        ...(senderName !== undefined ? { senderName } : {}),
        receiverId: text(receiver, 'codiceIdentificativoUnivoco'),
        ...(receiverName !== undefined ? { receiverName } : {}),
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

/** The PSP's writer (../flow.ts), for tests that send flows, right or wrong. */
export const buildFlowXml: (flow: ReportingFlow) => string = writeFlowXml;
