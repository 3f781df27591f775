// The SOAP codec of nodeForPsp (SOAP 1.1, document/literal), both directions: the PSP's
// requests and the node's answers, each built and parsed, so the client and the node
// simulator share one reading of the official schema (pagopa/pagopa-api,
// wsdl/xsd/nodeForPsp.xsd and xsd-common/sac-common-types-1.0.xsd).
//
// Spec as data: each complex type is a table of elements in the schema's sequence order,
// with its cardinality and simple type. The builder writes elements in the table's order
// and asserts every value against its type (a message the switch builds wrong is a bug);
// the parser reads in the same order and refuses what the schema refuses, naming the
// element (the simulator answers PPT_SINTASSI_XSD). Root elements are in the nodeForPsp
// namespace, their children unqualified.
import { create } from 'xmlbuilder2';
import { ELEMENT_NODE, parseXml, xmlText, type DomNode } from '../xml.js';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import {
  MAX_EXPIRATION_MS,
  type ActivateAnswer,
  type ActivateRequest,
  type NodeAnswer,
  type NodeFault,
  type OperationName,
  type OutcomeRequest,
  type Payer,
  type PspCredentials,
  type VerifyAnswer,
  type VerifyRequest,
} from './types.js';

export const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const NODE_FOR_PSP_NS = 'http://pagopa-api.pagopa.gov.it/node/nodeForPsp.xsd';

/** What each operation carries each way. */
export interface Operations {
  verifyPaymentNotice: { request: VerifyRequest; answer: VerifyAnswer };
  activatePaymentNotice: { request: ActivateRequest; answer: ActivateAnswer };
  sendPaymentOutcome: { request: OutcomeRequest; answer: Record<string, never> };
}

/** The body's root element of each operation's request and response (the schema's wrapper elements). */
export const ROOT_ELEMENTS: Record<OperationName, { request: string; response: string }> = {
  verifyPaymentNotice: { request: 'verifyPaymentNoticeReq', response: 'verifyPaymentNoticeRes' },
  activatePaymentNotice: { request: 'activatePaymentNoticeReq', response: 'activatePaymentNoticeRes' },
  sendPaymentOutcome: { request: 'sendPaymentOutcomeReq', response: 'sendPaymentOutcomeRes' },
};

/** A message that is not XML, not a SOAP envelope, or not what the schema says. */
export class SoapSyntaxError extends Error {
  constructor(
    /** PPT_SINTASSI_EXTRAXSD: not a SOAP envelope of a known operation; PPT_SINTASSI_XSD: the body breaks the schema. */
    readonly code: 'PPT_SINTASSI_EXTRAXSD' | 'PPT_SINTASSI_XSD',
    message: string,
  ) {
    super(message);
    this.name = 'SoapSyntaxError';
  }
}

// ---------------------------------------------------------------- amounts

/** The schema's stAmount: digits, a point, exactly two decimals; at most 999999999.99. */
export const MAX_AMOUNT_CENTS = 99_999_999_999;
const AMOUNT = /^\d+\.\d{2}$/;

/** 3000 → "30.00", by digits (no floats). */
export function centsToAmount(cents: number): string {
  if (!Number.isSafeInteger(cents) || cents < 0 || cents > MAX_AMOUNT_CENTS) throw new RangeError(`amount out of the schema's range: ${cents} cents`);
  const digits = String(cents).padStart(3, '0');
  return `${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

/** "30.00" → 3000, by digits; anything else than \d+\.\d{2} up to 999999999.99 throws. */
export function amountToCents(amount: string): number {
  if (!AMOUNT.test(amount)) throw new RangeError(`not an amount with two decimals: ${JSON.stringify(amount.slice(0, 40))}`);
  const cents = Number(amount.replace('.', '').replace(/^0+(?=\d)/, ''));
  if (!Number.isSafeInteger(cents) || cents > MAX_AMOUNT_CENTS) throw new RangeError(`amount above 999999999.99: ${amount.slice(0, 40)}`);
  return cents;
}

// ---------------------------------------------------------------- schema tables

/** A simple type: a pattern and length bounds on the text. */
interface SimpleType {
  pattern?: RegExp;
  minLength?: number;
  maxLength?: number;
}

/** One element of a sequence: its name, cardinality (default 1..1), and either a simple type or a sequence. */
interface Element {
  name: string;
  min?: 0 | 1;
  max?: number;
  type?: SimpleType;
  seq?: Element[];
}

const text = (minLength: number, maxLength: number): SimpleType => ({ minLength, maxLength });
const pattern = (p: RegExp): SimpleType => ({ pattern: p });
const oneOf = (...values: string[]): SimpleType => ({ pattern: new RegExp(`^(${values.join('|')})$`) });

const T = {
  idPSP: text(1, 35),
  password: text(8, 15),
  fiscalCodePA: pattern(/^[0-9]{11}$/),
  noticeNumber: pattern(/^[0-9]{18}$/),
  amount: pattern(AMOUNT),
  idempotencyKey: pattern(/^[a-zA-Z0-9]{2,18}_[a-zA-Z0-9]{10}$/),
  // xsd:integer with maxInclusive 1800000; a PSP sends a positive count of milliseconds.
  expirationTime: pattern(/^[0-9]{1,7}$/),
  isoDate: pattern(/^\d{4}-\d{2}-\d{2}$/),
  text35: text(1, 35),
  text70: text(1, 70),
  text140: text(1, 140),
  text210: text(1, 210),
  paymentToken: text(1, 35),
  outcome: oneOf('OK', 'KO'),
  options: oneOf('EQ', 'LS', 'GT', 'ANY'),
  idTransfer: oneOf('1', '2', '3', '4', '5'),
  iban: pattern(/^[a-zA-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}$/),
  paymentMethod: oneOf('cash', 'creditCard', 'bancomat', 'other'),
  paymentChannel: oneOf('frontOffice', 'atm', 'onLine', 'app', 'other'),
  subjectType: oneOf('F', 'G'),
  subjectId: text(2, 16),
  boolean: oneOf('true', 'false', '1', '0'),
  any: {},
} satisfies Record<string, SimpleType>;

/** The identity every request starts with. */
const CREDENTIALS: Element[] = [
  { name: 'idPSP', type: T.idPSP },
  { name: 'idBrokerPSP', type: T.idPSP },
  { name: 'idChannel', type: T.idPSP },
  { name: 'password', type: T.password },
];

/** ctQrCode. */
const QR_CODE: Element[] = [
  { name: 'fiscalCode', type: T.fiscalCodePA },
  { name: 'noticeNumber', type: T.noticeNumber },
];

/** ctFaultBean. */
const FAULT: Element[] = [
  { name: 'faultCode', type: T.any },
  { name: 'faultString', type: T.any },
  { name: 'id', type: T.any },
  { name: 'description', min: 0, type: T.any },
  { name: 'serial', min: 0, type: pattern(/^-?\d+$/) },
  { name: 'originalFaultCode', min: 0, type: T.any },
  { name: 'originalFaultString', min: 0, type: T.any },
  { name: 'originalDescription', min: 0, type: T.any },
];

/** ctResponse: every answer begins with these. */
const RESPONSE: Element[] = [
  { name: 'outcome', type: T.outcome },
  { name: 'fault', min: 0, seq: FAULT },
];

/** ctMetadata (read and ignored: the switch keeps no creditor metadata). */
const METADATA: Element = {
  name: 'metadata',
  min: 0,
  seq: [
    {
      name: 'mapEntry',
      max: 15,
      seq: [
        { name: 'key', type: T.text140 },
        { name: 'value', type: T.text140 },
      ],
    },
  ],
};

/** ctSubject. */
const SUBJECT: Element[] = [
  {
    name: 'uniqueIdentifier',
    seq: [
      { name: 'entityUniqueIdentifierType', type: T.subjectType },
      { name: 'entityUniqueIdentifierValue', type: T.subjectId },
    ],
  },
  { name: 'fullName', type: T.text70 },
  { name: 'streetName', min: 0, type: T.text70 },
  { name: 'civicNumber', min: 0, type: text(1, 16) },
  { name: 'postalCode', min: 0, type: text(1, 16) },
  { name: 'city', min: 0, type: T.text35 },
  { name: 'stateProvinceRegion', min: 0, type: T.text35 },
  { name: 'country', min: 0, type: pattern(/^[A-Z]{2}$/) },
  { name: 'e-mail', min: 0, type: text(1, 256) },
];

/** The sequence of each wrapper element (requests, then responses), as nodeForPsp.xsd orders it. */
export const SCHEMA = {
  verifyPaymentNoticeReq: [...CREDENTIALS, { name: 'qrCode', seq: QR_CODE }],
  activatePaymentNoticeReq: [
    ...CREDENTIALS,
    { name: 'idempotencyKey', min: 0, type: T.idempotencyKey },
    { name: 'qrCode', seq: QR_CODE },
    { name: 'expirationTime', min: 0, type: T.expirationTime },
    { name: 'amount', type: T.amount },
    { name: 'dueDate', min: 0, type: T.isoDate },
    { name: 'paymentNote', min: 0, type: T.text210 },
  ],
  sendPaymentOutcomeReq: [
    ...CREDENTIALS,
    { name: 'idempotencyKey', min: 0, type: T.idempotencyKey },
    { name: 'paymentToken', type: T.paymentToken },
    { name: 'outcome', type: T.outcome },
    {
      name: 'details',
      min: 0,
      seq: [
        { name: 'paymentMethod', type: T.paymentMethod },
        { name: 'paymentChannel', min: 0, type: T.paymentChannel },
        { name: 'fee', type: T.amount },
        { name: 'payer', min: 0, seq: SUBJECT },
        { name: 'applicationDate', type: T.isoDate },
        { name: 'transferDate', type: T.isoDate },
      ],
    },
  ],
  verifyPaymentNoticeRes: [
    ...RESPONSE,
    {
      name: 'paymentList',
      min: 0,
      seq: [
        {
          name: 'paymentOptionDescription',
          max: 5,
          seq: [
            { name: 'amount', type: T.amount },
            { name: 'options', type: T.options },
            { name: 'dueDate', min: 0, type: T.isoDate },
            { name: 'paymentNote', min: 0, type: T.text210 },
          ],
        },
      ],
    },
    { name: 'paymentDescription', min: 0, type: T.text210 },
    { name: 'fiscalCodePA', min: 0, type: T.fiscalCodePA },
    { name: 'companyName', min: 0, type: T.text140 },
    { name: 'officeName', min: 0, type: T.text140 },
    { name: 'standin', min: 0, type: T.boolean },
  ],
  activatePaymentNoticeRes: [
    ...RESPONSE,
    { name: 'totalAmount', min: 0, type: T.amount },
    { name: 'paymentDescription', min: 0, type: T.text140 },
    { name: 'fiscalCodePA', min: 0, type: T.fiscalCodePA },
    { name: 'companyName', min: 0, type: T.text140 },
    { name: 'officeName', min: 0, type: T.text140 },
    { name: 'paymentToken', min: 0, type: T.paymentToken },
    {
      name: 'transferList',
      min: 0,
      seq: [
        {
          name: 'transfer',
          max: 5,
          seq: [
            { name: 'idTransfer', type: T.idTransfer },
            { name: 'transferAmount', type: T.amount },
            { name: 'fiscalCodePA', type: T.fiscalCodePA },
            { name: 'IBAN', type: T.iban },
            { name: 'remittanceInformation', type: T.text140 },
            METADATA,
          ],
        },
      ],
    },
    { name: 'creditorReferenceId', min: 0, type: T.text35 },
    { name: 'standin', min: 0, type: T.boolean },
  ],
  sendPaymentOutcomeRes: [...RESPONSE],
} satisfies Record<string, Element[]>;

// ---------------------------------------------------------------- generic tree ⇄ XML

/** A parsed or to-be-built element content: text, or named children (arrays where max > 1). */
type Tree = { [name: string]: string | Tree | Tree[] | undefined };

function checkSimple(el: Element, value: string, path: string): string | null {
  const t = el.type ?? {};
  if (t.pattern && !t.pattern.test(value)) return `${path}: ${JSON.stringify(value.slice(0, 40))} does not match its type`;
  const length = [...value].length;
  if (t.minLength !== undefined && length < t.minLength) return `${path}: shorter than ${t.minLength}`;
  if (t.maxLength !== undefined && length > t.maxLength) return `${path}: longer than ${t.maxLength}`;
  return null;
}

function writeSeq(parent: XMLBuilder, seq: Element[], value: Tree, path: string): void {
  const known = new Set(seq.map((el) => el.name));
  for (const key of Object.keys(value)) {
    if (value[key] !== undefined && !known.has(key)) throw new Error(`soap: ${path}/${key} is not in the schema`);
  }
  for (const el of seq) {
    const v = value[el.name];
    const items = v === undefined ? [] : Array.isArray(v) ? v : [v];
    const max = el.max ?? 1;
    if (items.length < (el.min ?? 1) || items.length > max) throw new Error(`soap: ${path}/${el.name} occurs ${items.length} times, the schema says ${el.min ?? 1}..${max}`);
    for (const item of items) {
      const child = parent.ele(el.name);
      if (el.seq) {
        if (typeof item === 'string') throw new Error(`soap: ${path}/${el.name} is a sequence, got text`);
        writeSeq(child, el.seq, item, `${path}/${el.name}`);
      } else {
        if (typeof item !== 'string') throw new Error(`soap: ${path}/${el.name} is text`);
        const problem = checkSimple(el, item, `${path}/${el.name}`);
        if (problem) throw new Error(`soap: ${problem}`);
        child.txt(xmlText(item));
      }
    }
  }
}

const TEXT_NODE = 3;
const CDATA_NODE = 4;

function elementChildren(node: DomNode, path: string): DomNode[] {
  const out: DomNode[] = [];
  for (const child of Array.from(node.childNodes)) {
    if (child.nodeType === ELEMENT_NODE) out.push(child);
    else if ((child.nodeType === TEXT_NODE || child.nodeType === CDATA_NODE) && (child.textContent ?? '').trim() !== '') {
      throw new SoapSyntaxError('PPT_SINTASSI_XSD', `${path}: text where the schema has elements`);
    }
  }
  return out;
}

function readSeq(node: DomNode, seq: Element[], path: string): Tree {
  const children = elementChildren(node, path);
  const out: Tree = {};
  let i = 0;
  for (const el of seq) {
    const items: (string | Tree)[] = [];
    const max = el.max ?? 1;
    while (i < children.length && children[i]!.localName === el.name && items.length < max) {
      const child = children[i]!;
      const childPath = `${path}/${el.name}`;
      if (child.namespaceURI) throw new SoapSyntaxError('PPT_SINTASSI_XSD', `${childPath}: must be unqualified (no namespace)`);
      if (el.seq) {
        items.push(readSeq(child, el.seq, childPath));
      } else {
        if (Array.from(child.childNodes).some((n) => n.nodeType === ELEMENT_NODE)) throw new SoapSyntaxError('PPT_SINTASSI_XSD', `${childPath}: elements where the schema has text`);
        const value = (child.textContent ?? '').trim();
        const problem = checkSimple(el, value, childPath);
        if (problem) throw new SoapSyntaxError('PPT_SINTASSI_XSD', problem);
        items.push(value);
      }
      i++;
    }
    if (items.length < (el.min ?? 1)) throw new SoapSyntaxError('PPT_SINTASSI_XSD', `${path}/${el.name}: missing`);
    if (items.length > 0) out[el.name] = max > 1 ? (items as Tree[]) : items[0];
  }
  if (i < children.length) throw new SoapSyntaxError('PPT_SINTASSI_XSD', `${path}/${children[i]!.localName ?? '?'}: unexpected element here`);
  return out;
}

/** Wraps a body's root element in a SOAP 1.1 envelope. */
function envelope(root: string, seq: Element[], value: Tree): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' })
    .ele(SOAP_ENV_NS, 'soapenv:Envelope')
    .att('http://www.w3.org/2000/xmlns/', 'xmlns:nfp', NODE_FOR_PSP_NS);
  doc.ele(SOAP_ENV_NS, 'soapenv:Header');
  const body = doc.ele(SOAP_ENV_NS, 'soapenv:Body').ele(NODE_FOR_PSP_NS, `nfp:${root}`);
  writeSeq(body, seq, value, root);
  return doc.end({ prettyPrint: false });
}

/** The body's root element, and a SOAP Fault if the body holds one instead. */
function openEnvelope(xml: string): { root: DomNode; soapFault: null } | { root: null; soapFault: { code: string; message: string } } {
  // No DTDs: nothing in a SOAP message needs one, and entities are an attack surface.
  if (/<!DOCTYPE/i.test(xml)) throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', 'a DOCTYPE is not allowed in a SOAP message');
  let envelopeNode: DomNode;
  try {
    envelopeNode = parseXml(xml).root().node as unknown as DomNode;
  } catch (e) {
    throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', `not XML: ${(e as Error).message.slice(0, 120)}`);
  }
  if (envelopeNode.localName !== 'Envelope' || envelopeNode.namespaceURI !== SOAP_ENV_NS) {
    throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', 'not a SOAP 1.1 envelope');
  }
  const parts = elementChildren(envelopeNode, 'Envelope').filter((n) => n.namespaceURI === SOAP_ENV_NS);
  const body = parts.find((n) => n.localName === 'Body');
  if (!body) throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', 'the envelope has no Body');
  const [root, ...more] = elementChildren(body, 'Body');
  if (!root || more.length > 0) throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', 'the Body must hold exactly one element');
  if (root.localName === 'Fault' && root.namespaceURI === SOAP_ENV_NS) {
    const field = (name: string) => (Array.from(root.childNodes).find((n) => n.localName === name)?.textContent ?? '').trim();
    return { root: null, soapFault: { code: field('faultcode'), message: field('faultstring') } };
  }
  if (root.namespaceURI !== NODE_FOR_PSP_NS) throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', `the body's element is not in ${NODE_FOR_PSP_NS}`);
  return { root, soapFault: null };
}

// ---------------------------------------------------------------- the PSP's requests

/** Builds the request's envelope (the body the client POSTs with SOAPAction = operation). */
export function buildRequest<Op extends OperationName>(operation: Op, credentials: PspCredentials, request: Operations[Op]['request']): string {
  const root = ROOT_ELEMENTS[operation].request;
  const ids: Tree = { idPSP: credentials.idPSP, idBrokerPSP: credentials.idBrokerPSP, idChannel: credentials.idChannel, password: credentials.password };
  let body: Tree;
  if (operation === 'verifyPaymentNotice') {
    const r = request as VerifyRequest;
    body = { ...ids, qrCode: { fiscalCode: r.fiscalCode, noticeNumber: r.noticeNumber } };
  } else if (operation === 'activatePaymentNotice') {
    const r = request as ActivateRequest;
    if (r.expirationMs !== undefined && (!Number.isSafeInteger(r.expirationMs) || r.expirationMs < 1 || r.expirationMs > MAX_EXPIRATION_MS)) {
      throw new RangeError(`expirationMs must be 1..${MAX_EXPIRATION_MS}, got ${r.expirationMs}`);
    }
    body = {
      ...ids,
      idempotencyKey: r.idempotencyKey,
      qrCode: { fiscalCode: r.fiscalCode, noticeNumber: r.noticeNumber },
      expirationTime: r.expirationMs === undefined ? undefined : String(r.expirationMs),
      amount: centsToAmount(r.amountCents),
      dueDate: r.dueDate,
      paymentNote: r.paymentNote,
    };
  } else {
    const r = request as OutcomeRequest;
    if (r.outcome === 'OK' && !r.details) throw new Error('soap: sendPaymentOutcome OK needs details');
    body = {
      ...ids,
      idempotencyKey: r.idempotencyKey,
      paymentToken: r.paymentToken,
      outcome: r.outcome,
      details: r.details && {
        // A counter takes cash at its front office (pagopa-psp.md, step 4).
        paymentMethod: 'cash',
        paymentChannel: 'frontOffice',
        fee: centsToAmount(r.details.feeCents),
        payer: r.details.payer && payerTree(r.details.payer),
        applicationDate: r.details.applicationDate,
        transferDate: r.details.transferDate,
      },
    };
  }
  return envelope(root, SCHEMA[root as keyof typeof SCHEMA], body);
}

function payerTree(p: Payer): Tree {
  return { uniqueIdentifier: { entityUniqueIdentifierType: p.type, entityUniqueIdentifierValue: p.id }, fullName: p.fullName };
}

export type ParsedRequest = {
  [Op in OperationName]: { operation: Op; credentials: PspCredentials; request: Operations[Op]['request'] };
}[OperationName];

/** The node's side: which operation, who asks, and what. Throws SoapSyntaxError (the node answers PPT_SINTASSI_*). */
export function parseRequest(xml: string): ParsedRequest {
  const { root } = openEnvelope(xml);
  if (!root) throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', 'a request cannot be a SOAP Fault');
  const operation = (Object.keys(ROOT_ELEMENTS) as OperationName[]).find((op) => ROOT_ELEMENTS[op].request === root.localName);
  if (!operation) throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', `unknown operation: ${String(root.localName).slice(0, 60)}`);
  const name = ROOT_ELEMENTS[operation].request as keyof typeof SCHEMA;
  const t = readSeq(root, SCHEMA[name], name);
  const s = (v: Tree[string]) => v as string;
  const opt = (v: Tree[string]) => v as string | undefined;
  const credentials: PspCredentials = { idPSP: s(t.idPSP), idBrokerPSP: s(t.idBrokerPSP), idChannel: s(t.idChannel), password: s(t.password) };
  if (operation === 'verifyPaymentNotice') {
    const qr = t.qrCode as Tree;
    return { operation, credentials, request: { fiscalCode: s(qr.fiscalCode), noticeNumber: s(qr.noticeNumber) } };
  }
  if (operation === 'activatePaymentNotice') {
    const qr = t.qrCode as Tree;
    const expiration = opt(t.expirationTime);
    const request: ActivateRequest = {
      // Optional in the schema, required by this codec's readers: the PSP's retries depend on it.
      idempotencyKey: opt(t.idempotencyKey) ?? '',
      fiscalCode: s(qr.fiscalCode),
      noticeNumber: s(qr.noticeNumber),
      amountCents: amountToCents(s(t.amount)),
    };
    if (expiration !== undefined) request.expirationMs = Number(expiration);
    if (t.dueDate !== undefined) request.dueDate = s(t.dueDate);
    if (t.paymentNote !== undefined) request.paymentNote = s(t.paymentNote);
    return { operation, credentials, request };
  }
  const request: OutcomeRequest = { idempotencyKey: opt(t.idempotencyKey) ?? '', paymentToken: s(t.paymentToken), outcome: s(t.outcome) as 'OK' | 'KO' };
  const d = t.details as Tree | undefined;
  if (d) {
    request.details = { feeCents: amountToCents(s(d.fee)), applicationDate: s(d.applicationDate), transferDate: s(d.transferDate) };
    const p = d.payer as Tree | undefined;
    if (p) {
      const u = p.uniqueIdentifier as Tree;
      request.details.payer = { type: s(u.entityUniqueIdentifierType) as 'F' | 'G', id: s(u.entityUniqueIdentifierValue), fullName: s(p.fullName) };
    }
  }
  return { operation, credentials, request };
}

// ---------------------------------------------------------------- the node's answers

/** The fault's `id` when the node itself answers. */
export const NODE_ID = 'NodoDeiPagamentiSPC';

/** The node's side: the answer's envelope (outcome OK with the value, or KO with the fault). */
export function buildResponse<Op extends OperationName>(operation: Op, answer: NodeAnswer<Operations[Op]['answer']>): string {
  const root = ROOT_ELEMENTS[operation].response as keyof typeof SCHEMA;
  if (!answer.ok) {
    const f = answer.fault;
    const fault: Tree = {
      faultCode: f.code,
      faultString: f.description ?? f.code,
      id: NODE_ID,
      description: f.description,
      originalFaultCode: f.originalFaultCode,
    };
    return envelope(root, SCHEMA[root], { outcome: 'KO', fault });
  }
  let body: Tree = { outcome: 'OK' };
  if (operation === 'verifyPaymentNotice') {
    const v = answer.value as VerifyAnswer;
    body = {
      ...body,
      paymentList: { paymentOptionDescription: [{ amount: centsToAmount(v.amountCents), options: 'EQ', dueDate: v.dueDate }] },
      paymentDescription: v.description,
      fiscalCodePA: v.fiscalCodePA,
      companyName: v.companyName,
      officeName: v.officeName,
    };
  } else if (operation === 'activatePaymentNotice') {
    const v = answer.value as ActivateAnswer;
    const sum = v.transfers.reduce((a, t) => a + t.amountCents, 0);
    if (sum !== v.totalAmountCents) throw new Error(`soap: the transfers sum to ${sum} cents, the total is ${v.totalAmountCents}`);
    body = {
      ...body,
      totalAmount: centsToAmount(v.totalAmountCents),
      paymentDescription: v.description,
      fiscalCodePA: v.fiscalCodePA,
      companyName: v.companyName,
      officeName: v.officeName,
      paymentToken: v.paymentToken,
      transferList: {
        transfer: v.transfers.map((t) => ({
          idTransfer: String(t.index),
          transferAmount: centsToAmount(t.amountCents),
          fiscalCodePA: t.fiscalCodePA,
          IBAN: t.iban,
          remittanceInformation: t.remittanceInformation,
        })),
      },
      creditorReferenceId: v.creditorReferenceId,
    };
  }
  return envelope(root, SCHEMA[root], body);
}

/**
 * The PSP's side: the node's answer to `operation`. A KO is returned as a fault, never
 * thrown; an answer that breaks the schema, answers another operation, or says OK
 * without what the PSP needs throws SoapSyntaxError. A SOAP Fault in place of the body
 * becomes the fault PPT_SYSTEM_ERROR with the SOAP fault's code and string.
 */
export function parseResponse<Op extends OperationName>(operation: Op, xml: string): NodeAnswer<Operations[Op]['answer']> {
  const opened = openEnvelope(xml);
  if (!opened.root) {
    return { ok: false, fault: { code: 'PPT_SYSTEM_ERROR', description: `SOAP fault ${opened.soapFault.code}: ${opened.soapFault.message}`.slice(0, 300) } };
  }
  const name = ROOT_ELEMENTS[operation].response as keyof typeof SCHEMA;
  if (opened.root.localName !== name) throw new SoapSyntaxError('PPT_SINTASSI_EXTRAXSD', `expected ${name}, got ${String(opened.root.localName).slice(0, 60)}`);
  const t = readSeq(opened.root, SCHEMA[name], name);
  const s = (v: Tree[string]) => v as string;
  const need = (v: Tree[string], what: string): string => {
    if (v === undefined) throw new SoapSyntaxError('PPT_SINTASSI_XSD', `${name}: outcome OK without ${what}`);
    return v as string;
  };
  if (t.outcome === 'KO') {
    const f = t.fault as Tree | undefined;
    if (!f) return { ok: false, fault: { code: 'PPT_SYSTEM_ERROR', description: 'outcome KO without a fault' } };
    const fault: NodeFault = { code: s(f.faultCode) };
    const description = (f.description as string | undefined) ?? (f.faultString as string | undefined);
    if (description) fault.description = description;
    if (f.originalFaultCode !== undefined) fault.originalFaultCode = s(f.originalFaultCode);
    return { ok: false, fault };
  }
  if (operation === 'verifyPaymentNotice') {
    const list = t.paymentList as Tree | undefined;
    const options = (list?.paymentOptionDescription as Tree[] | undefined) ?? [];
    // A counter pays the whole notice: the first option (the node lists one for a notice of one instalment).
    const option = options[0];
    if (!option) throw new SoapSyntaxError('PPT_SINTASSI_XSD', `${name}: outcome OK without a payment option`);
    const value: VerifyAnswer = {
      amountCents: amountToCents(s(option.amount)),
      description: need(t.paymentDescription, 'paymentDescription'),
      fiscalCodePA: need(t.fiscalCodePA, 'fiscalCodePA'),
      companyName: need(t.companyName, 'companyName'),
    };
    if (option.dueDate !== undefined) value.dueDate = s(option.dueDate);
    if (t.officeName !== undefined) value.officeName = s(t.officeName);
    return { ok: true, value: value as Operations[Op]['answer'] };
  }
  if (operation === 'activatePaymentNotice') {
    const list = t.transferList as Tree | undefined;
    const transfers = ((list?.transfer as Tree[] | undefined) ?? []).map((x) => ({
      index: Number(s(x.idTransfer)),
      amountCents: amountToCents(s(x.transferAmount)),
      fiscalCodePA: s(x.fiscalCodePA),
      iban: s(x.IBAN),
      remittanceInformation: s(x.remittanceInformation),
    }));
    if (transfers.length === 0) throw new SoapSyntaxError('PPT_SINTASSI_XSD', `${name}: outcome OK without a transfer list`);
    const value: ActivateAnswer = {
      totalAmountCents: amountToCents(need(t.totalAmount, 'totalAmount')),
      description: need(t.paymentDescription, 'paymentDescription'),
      fiscalCodePA: need(t.fiscalCodePA, 'fiscalCodePA'),
      companyName: need(t.companyName, 'companyName'),
      paymentToken: need(t.paymentToken, 'paymentToken'),
      creditorReferenceId: need(t.creditorReferenceId, 'creditorReferenceId'),
      transfers,
    };
    if (t.officeName !== undefined) value.officeName = s(t.officeName);
    // Settlement pays these transfers: they must add up to what the counter collects.
    const sum = transfers.reduce((a, x) => a + x.amountCents, 0);
    if (sum !== value.totalAmountCents) throw new SoapSyntaxError('PPT_SINTASSI_XSD', `${name}: the transfers sum to ${sum} cents, totalAmount is ${value.totalAmountCents}`);
    return { ok: true, value: value as Operations[Op]['answer'] };
  }
  return { ok: true, value: {} as Operations[Op]['answer'] };
}
