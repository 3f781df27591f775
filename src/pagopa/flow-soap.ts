// nodoInviaFlussoRendicontazione (nodeForPsp.xsd): the PSP sends a reporting flow, base64
// in the body, and the node answers esito OK or KO with a fault. Both sides are here: the
// PSP's (PspClient.sendFlow) and the node simulator's; soap.ts covers the three payment
// operations, flow.ts builds the flow itself.
// Element order as the schema's sequences: the request's eight fields, then the
// response's fault? and esito.
import { create } from 'xmlbuilder2';
import { elementsOf, parseXml, xmlText, type DomNode } from '../xml.js';
import { NODE_FOR_PSP_NS, NODE_ID, SOAP_ENV_NS, SoapSyntaxError } from './soap.js';
import type { NodeAnswer, NodeFault, PspCredentials } from './types.js';

/** What a nodoInviaFlussoRendicontazione carries beside the credentials. */
export interface FlowSubmission {
  /** identificativoDominio: the creditor the flow is for. */
  domain: string;
  /** identificativoFlusso as sent beside the XML. */
  flowId: string;
  /** The FlussoRiversamento document, decoded from base64. */
  xml: string;
}

export const FLOW_OPERATION = 'nodoInviaFlussoRendicontazione';
const REQUEST = 'nodoInviaFlussoRendicontazioneRequest';
const RESPONSE = 'nodoInviaFlussoRendicontazioneResponse';

const elements = elementsOf;

/** Whether a body is this primitive's request (the others go to soap.ts). */
export function isFlowRequest(xml: string): boolean {
  return new RegExp(`<([A-Za-z_][\\w.-]*:)?${REQUEST}[\\s/>]`).test(xml);
}

export interface FlowRequest {
  credentials: PspCredentials;
  /** dataOraFlusso as sent. */
  flowDateTime: string;
  submission: FlowSubmission;
}

const FIELDS = [
  'identificativoPSP',
  'identificativoIntermediarioPSP',
  'identificativoCanale',
  'password',
  'identificativoDominio',
  'identificativoFlusso',
  'dataOraFlusso',
  'xmlRendicontazione',
] as const;

/** The node's side; a request that breaks the schema is a fault PPT_SINTASSI_*. */
export function parseFlowRequest(xml: string): ({ ok: true } & FlowRequest) | { ok: false; fault: NodeFault } {
  const bad = (code: 'PPT_SINTASSI_EXTRAXSD' | 'PPT_SINTASSI_XSD', description: string) => ({ ok: false as const, fault: { code, description } });
  if (/<!DOCTYPE/i.test(xml)) return bad('PPT_SINTASSI_EXTRAXSD', 'a DOCTYPE is not allowed in a SOAP message');
  let root: DomNode | undefined;
  try {
    const envelope = parseXml(xml).root().node as unknown as DomNode;
    if (envelope.localName !== 'Envelope' || envelope.namespaceURI !== SOAP_ENV_NS) return bad('PPT_SINTASSI_EXTRAXSD', 'not a SOAP 1.1 envelope');
    const body = elements(envelope).find((e) => e.localName === 'Body' && e.namespaceURI === SOAP_ENV_NS);
    root = body && elements(body)[0];
  } catch (err) {
    return bad('PPT_SINTASSI_EXTRAXSD', `not XML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (!root || root.localName !== REQUEST || root.namespaceURI !== NODE_FOR_PSP_NS) return bad('PPT_SINTASSI_EXTRAXSD', `the body must hold ${REQUEST} in ${NODE_FOR_PSP_NS}`);
  const children = elements(root);
  const names = children.map((c) => c.localName);
  if (names.length !== FIELDS.length || FIELDS.some((f, i) => names[i] !== f)) return bad('PPT_SINTASSI_XSD', `${REQUEST} must hold ${FIELDS.join(', ')} in this order`);
  const v = Object.fromEntries(FIELDS.map((f, i) => [f, (children[i]!.textContent ?? '').trim()])) as Record<(typeof FIELDS)[number], string>;
  for (const f of FIELDS.slice(0, 5)) if (v[f].length < 1 || v[f].length > 35) return bad('PPT_SINTASSI_XSD', `${f} must be 1..35 characters`);
  if (v.password.length < 8 || v.password.length > 15) return bad('PPT_SINTASSI_XSD', 'password must be 8..15 characters');
  if (Number.isNaN(Date.parse(v.dataOraFlusso))) return bad('PPT_SINTASSI_XSD', 'dataOraFlusso is not a dateTime');
  const b64 = v.xmlRendicontazione.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return bad('PPT_SINTASSI_XSD', 'xmlRendicontazione is not base64');
  return {
    ok: true,
    credentials: { idPSP: v.identificativoPSP, idBrokerPSP: v.identificativoIntermediarioPSP, idChannel: v.identificativoCanale, password: v.password },
    flowDateTime: v.dataOraFlusso,
    submission: { domain: v.identificativoDominio, flowId: v.identificativoFlusso, xml: Buffer.from(b64, 'base64').toString('utf8') },
  };
}

/** The PSP's side: the envelope to POST with SOAPAction nodoInviaFlussoRendicontazione. */
export function buildFlowRequest(credentials: PspCredentials, r: { domain: string; flowId: string; flowDateTime: string; xml: string }): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' }).ele(SOAP_ENV_NS, 'soapenv:Envelope').ele(SOAP_ENV_NS, 'soapenv:Body').ele(NODE_FOR_PSP_NS, `nfp:${REQUEST}`);
  const values = [credentials.idPSP, credentials.idBrokerPSP, credentials.idChannel, credentials.password, r.domain, r.flowId, r.flowDateTime, Buffer.from(r.xml, 'utf8').toString('base64')];
  FIELDS.forEach((f, i) => doc.ele(f).txt(xmlText(values[i]!)));
  return doc.end({ prettyPrint: false });
}

/** The node's answer: esito OK, or KO after the fault (faultCode, faultString, id, description). */
export function buildFlowResponse(answer: NodeAnswer<unknown>): string {
  const root = create({ version: '1.0', encoding: 'UTF-8' }).ele(SOAP_ENV_NS, 'soapenv:Envelope').ele(SOAP_ENV_NS, 'soapenv:Body').ele(NODE_FOR_PSP_NS, `nfp:${RESPONSE}`);
  if (!answer.ok) {
    const f = root.ele('fault');
    f.ele('faultCode').txt(answer.fault.code);
    f.ele('faultString').txt(xmlText(answer.fault.description ?? answer.fault.code));
    f.ele('id').txt(NODE_ID);
    if (answer.fault.description) f.ele('description').txt(xmlText(answer.fault.description));
  }
  root.ele('esito').txt(answer.ok ? 'OK' : 'KO');
  return root.end({ prettyPrint: false });
}

/** The PSP's side: esito OK, or the fault; an answer that is not one throws a SoapSyntaxError. */
export function parseFlowResponse(xml: string): NodeAnswer<null> {
  if (/<!DOCTYPE/i.test(xml)) throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', 'a DOCTYPE is not allowed in a SOAP message');
  let envelope: DomNode;
  try {
    envelope = parseXml(xml).root().node as unknown as DomNode;
  } catch (err) {
    throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', `not XML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  const body = elements(envelope).find((e) => e.localName === 'Body');
  const root = body && elements(body)[0];
  if (!root || root.localName !== RESPONSE) throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', `expected ${RESPONSE}`);
  const text = (n: DomNode, name: string) => (elements(n).find((e) => e.localName === name)?.textContent ?? '').trim();
  if (text(root, 'esito') === 'OK') return { ok: true, value: null };
  const fault = elements(root).find((e) => e.localName === 'fault');
  if (!fault) return { ok: false, fault: { code: 'PPT_SYSTEM_ERROR', description: 'esito KO without a fault' } };
  const description = text(fault, 'description') || text(fault, 'faultString');
  return { ok: false, fault: { code: text(fault, 'faultCode'), ...(description ? { description } : {}) } };
}

/** A SOAP 1.1 Fault: for what is not a request of a known operation at all. */
export function soapFault(code: string, message: string): string {
  const fault = create({ version: '1.0', encoding: 'UTF-8' }).ele(SOAP_ENV_NS, 'soapenv:Envelope').ele(SOAP_ENV_NS, 'soapenv:Body').ele(SOAP_ENV_NS, 'soapenv:Fault');
  fault.ele('faultcode').txt(code);
  fault.ele('faultstring').txt(xmlText(message.slice(0, 300)));
  return fault.end({ prettyPrint: false });
}
