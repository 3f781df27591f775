// The nodeForPsp codec (src/pagopa/soap.ts) and the fault table (src/pagopa/faults.ts):
// round trips both ways, element order as wsdl/xsd/nodeForPsp.xsd (pagopa/pagopa-api)
// orders each sequence, the parser's refusals, amounts and idempotency keys by property.
import fc from 'fast-check';
import { create } from 'xmlbuilder2';
import { describe, expect, it } from 'vitest';
import { idempotencyKey } from '../../src/pagopa/client.js';
import { NODE_FAULTS, faultError, mapFault } from '../../src/pagopa/faults.js';
import {
  MAX_AMOUNT_CENTS,
  NODE_FOR_PSP_NS,
  SoapSyntaxError,
  amountToCents,
  buildRequest,
  buildResponse,
  centsToAmount,
  parseRequest,
  parseResponse,
} from '../../src/pagopa/soap.js';
import { NODE_FAULT_CODES, type ActivateAnswer, type ActivateRequest, type OutcomeRequest, type PspCredentials } from '../../src/pagopa/types.js';

const creds: PspCredentials = { idPSP: 'TSERVEPSP01', idBrokerPSP: '01234567890', idChannel: '01234567890_01', password: 'Pa55word!' };
const activation: ActivateRequest = {
  idempotencyKey: '01234567890_aB3dE5gH7j',
  fiscalCode: '80016430480',
  noticeNumber: '301000000000012345',
  amountCents: 3050,
  expirationMs: 600_000,
  dueDate: '2026-12-31',
  paymentNote: 'TARI 2026 rata unica',
};
const activated: ActivateAnswer = {
  totalAmountCents: 3050,
  description: 'TARI 2026',
  fiscalCodePA: '80016430480',
  companyName: 'Comune di Firenze',
  officeName: 'Ufficio tributi',
  paymentToken: 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4',
  creditorReferenceId: '01000000000012345',
  transfers: [
    { index: 1, amountCents: 2050, fiscalCodePA: '80016430480', iban: 'IT60X0542811101000000123456', remittanceInformation: '/RFB/01000000000012345/20.50/TXT/TARI' },
    { index: 2, amountCents: 1000, fiscalCodePA: '01386030488', iban: 'IT02A0301503200000003517230', remittanceInformation: 'TEFA 2026' },
  ],
};
const outcome: OutcomeRequest = {
  idempotencyKey: '01234567890_aB3dE5gH7j',
  paymentToken: activated.paymentToken,
  outcome: 'OK',
  details: { feeCents: 150, applicationDate: '2026-11-30', transferDate: '2026-12-01', payer: { type: 'F', id: 'RSSMRA80A01D612X', fullName: 'Mario Rossi' } },
};

// ---- DOM helpers (xmlbuilder2's parser)
interface Node {
  nodeType: number;
  localName: string | null;
  namespaceURI: string | null;
  childNodes: ArrayLike<Node>;
}
const elements = (n: Node) => Array.from(n.childNodes).filter((c) => c.nodeType === 1);
const names = (n: Node) => elements(n).map((c) => c.localName);
const child = (n: Node, name: string) => elements(n).find((c) => c.localName === name)!;
function bodyRoot(xml: string): Node {
  const env = create(xml).root().node as unknown as Node;
  return elements(child(env, 'Body'))[0]!;
}

describe('amounts: cents ⇄ "30.00" by digits', () => {
  it('round-trips every amount the schema allows, always with two decimals', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_AMOUNT_CENTS }), (cents) => {
        const wire = centsToAmount(cents);
        expect(wire).toMatch(/^\d+\.\d{2}$/);
        expect(amountToCents(wire)).toBe(cents);
      }),
    );
  });

  it('reads any digits-point-two-digits string as its cents', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 3 }), (euros, cents, zeros) => {
        const wire = `${'0'.repeat(zeros)}${euros}.${String(cents).padStart(2, '0')}`;
        expect(amountToCents(wire)).toBe(euros * 100 + cents);
      }),
    );
  });

  it.each(['30', '30.5', '30.500', '-1.00', '1e3', ' 1.00', '1,00', '1000000000.00', ''])('refuses %j', (wire) => {
    expect(() => amountToCents(wire)).toThrow(RangeError);
  });

  it.each([-1, 1.5, MAX_AMOUNT_CENTS + 1, Number.NaN])('refuses %d cents', (cents) => {
    expect(() => centsToAmount(cents)).toThrow(RangeError);
  });

  it('examples', () => {
    expect(centsToAmount(0)).toBe('0.00');
    expect(centsToAmount(5)).toBe('0.05');
    expect(centsToAmount(3000)).toBe('30.00');
    expect(centsToAmount(MAX_AMOUNT_CENTS)).toBe('999999999.99');
  });
});

describe('idempotencyKey', () => {
  it("matches the schema's stIdempotencyKey, and is a pure function of terminal and key", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9]{2,18}$/), fc.string(), fc.string(), (psp, terminal, key) => {
        const k = idempotencyKey(psp, terminal, key);
        expect(k).toMatch(/^[a-zA-Z0-9]{2,18}_[a-zA-Z0-9]{10}$/);
        expect(k.startsWith(`${psp}_`)).toBe(true);
        expect(idempotencyKey(psp, terminal, key)).toBe(k);
      }),
    );
  });

  it('differs between terminals and between keys (no concatenation ambiguity)', () => {
    const keys = new Set<string>();
    for (let t = 0; t < 50; t++) for (let r = 0; r < 50; r++) keys.add(idempotencyKey('01234567890', `T${t}`, `00000${r}`));
    expect(keys.size).toBe(2500);
    expect(idempotencyKey('01234567890', 'T1', '23')).not.toBe(idempotencyKey('01234567890', 'T12', '3'));
  });

  it('refuses a PSP fiscal code the pattern cannot carry', () => {
    expect(() => idempotencyKey('0123456789_', 'T1', 'k')).toThrow(RangeError);
    expect(() => idempotencyKey('0', 'T1', 'k')).toThrow(RangeError);
  });
});

describe("requests: the PSP builds, the node parses", () => {
  it('verifyPaymentNotice round-trips', () => {
    const xml = buildRequest('verifyPaymentNotice', creds, { fiscalCode: '80016430480', noticeNumber: '301000000000012345' });
    expect(parseRequest(xml)).toEqual({ operation: 'verifyPaymentNotice', credentials: creds, request: { fiscalCode: '80016430480', noticeNumber: '301000000000012345' } });
  });

  it('activatePaymentNotice round-trips, with and without its optional elements', () => {
    expect(parseRequest(buildRequest('activatePaymentNotice', creds, activation))).toEqual({ operation: 'activatePaymentNotice', credentials: creds, request: activation });
    const bare = { idempotencyKey: activation.idempotencyKey, fiscalCode: activation.fiscalCode, noticeNumber: activation.noticeNumber, amountCents: 1 };
    expect(parseRequest(buildRequest('activatePaymentNotice', creds, bare)).request).toEqual(bare);
  });

  it('sendPaymentOutcome round-trips, OK with details and KO without', () => {
    expect(parseRequest(buildRequest('sendPaymentOutcome', creds, outcome))).toEqual({ operation: 'sendPaymentOutcome', credentials: creds, request: outcome });
    const ko: OutcomeRequest = { idempotencyKey: outcome.idempotencyKey, paymentToken: outcome.paymentToken, outcome: 'KO' };
    expect(parseRequest(buildRequest('sendPaymentOutcome', creds, ko)).request).toEqual(ko);
  });

  it('escapes text: a note with markup travels as text', () => {
    const note = 'a <b>&amp; "c"</b>';
    expect((parseRequest(buildRequest('activatePaymentNotice', creds, { ...activation, paymentNote: note })).request as ActivateRequest).paymentNote).toBe(note);
  });

  it('any printable note round-trips (entities, quotes, markup, accents)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[!-~àèéìòù€]([ -~àèéìòù€]{0,80}[!-~àèéìòù€])?$/), (paymentNote) => {
        expect((parseRequest(buildRequest('activatePaymentNotice', creds, { ...activation, paymentNote })).request as ActivateRequest).paymentNote).toBe(paymentNote);
      }),
      { numRuns: 200 },
    );
  });

  it('amounts of any size round-trip through a whole activation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_AMOUNT_CENTS }), (amountCents) => {
        expect((parseRequest(buildRequest('activatePaymentNotice', creds, { ...activation, amountCents })).request as ActivateRequest).amountCents).toBe(amountCents);
      }),
      { numRuns: 50 },
    );
  });

  it('the builder refuses what the schema refuses (a bug in the switch, never sent)', () => {
    expect(() => buildRequest('verifyPaymentNotice', creds, { fiscalCode: '123', noticeNumber: '301000000000012345' })).toThrow(/fiscalCode/);
    expect(() => buildRequest('verifyPaymentNotice', { ...creds, password: 'short' }, { fiscalCode: '80016430480', noticeNumber: '301000000000012345' })).toThrow(/password/);
    expect(() => buildRequest('activatePaymentNotice', creds, { ...activation, idempotencyKey: 'no-underscore' })).toThrow(/idempotencyKey/);
    expect(() => buildRequest('activatePaymentNotice', creds, { ...activation, expirationMs: 1_800_001 })).toThrow(RangeError);
    expect(() => buildRequest('sendPaymentOutcome', creds, { ...outcome, details: undefined })).toThrow(/needs details/);
  });
});

describe("answers: the node builds, the PSP parses", () => {
  it('verifyPaymentNotice OK round-trips', () => {
    const value = { amountCents: 3050, dueDate: '2026-12-31', description: 'TARI 2026', fiscalCodePA: '80016430480', companyName: 'Comune di Firenze', officeName: 'Tributi' };
    expect(parseResponse('verifyPaymentNotice', buildResponse('verifyPaymentNotice', { ok: true, value }))).toEqual({ ok: true, value });
  });

  it('activatePaymentNotice OK round-trips with its transfers', () => {
    expect(parseResponse('activatePaymentNotice', buildResponse('activatePaymentNotice', { ok: true, value: activated }))).toEqual({ ok: true, value: activated });
  });

  it('sendPaymentOutcome OK, and every KO with its fault', () => {
    expect(parseResponse('sendPaymentOutcome', buildResponse('sendPaymentOutcome', { ok: true, value: {} }))).toEqual({ ok: true, value: {} });
    for (const code of NODE_FAULT_CODES) {
      const fault = { code, description: `because ${code}` };
      expect(parseResponse('sendPaymentOutcome', buildResponse('sendPaymentOutcome', { ok: false, fault }))).toEqual({ ok: false, fault });
    }
    const relayed = { code: 'PPT_ERRORE_EMESSO_DA_PAA', description: 'expired', originalFaultCode: 'PAA_PAGAMENTO_SCADUTO' };
    expect(parseResponse('activatePaymentNotice', buildResponse('activatePaymentNotice', { ok: false, fault: relayed }))).toEqual({ ok: false, fault: relayed });
  });

  it("refuses an activation whose transfers do not add up to its total (settlement pays them)", () => {
    const bad = { ...activated, transfers: [{ ...activated.transfers[0]!, amountCents: 3000 }, activated.transfers[1]!] };
    expect(() => buildResponse('activatePaymentNotice', { ok: true, value: bad })).toThrow(/sum/);
    const xml = buildResponse('activatePaymentNotice', { ok: true, value: activated }).replace('<totalAmount>30.50</totalAmount>', '<totalAmount>30.00</totalAmount>');
    expect(() => parseResponse('activatePaymentNotice', xml)).toThrow(SoapSyntaxError);
  });

  it("refuses another operation's answer, and reads a SOAP Fault as PPT_SYSTEM_ERROR", () => {
    expect(() => parseResponse('activatePaymentNotice', buildResponse('sendPaymentOutcome', { ok: true, value: {} }))).toThrow(/expected activatePaymentNoticeRes/);
    const soapFault = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>boom</faultstring></s:Fault></s:Body></s:Envelope>`;
    expect(parseResponse('verifyPaymentNotice', soapFault)).toEqual({ ok: false, fault: { code: 'PPT_SYSTEM_ERROR', description: 'SOAP fault s:Server: boom' } });
  });

  it('an OK without what the PSP needs is not an answer', () => {
    const xml = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><n:activatePaymentNoticeRes xmlns:n="${NODE_FOR_PSP_NS}"><outcome>OK</outcome></n:activatePaymentNoticeRes></s:Body></s:Envelope>`;
    expect(() => parseResponse('activatePaymentNotice', xml)).toThrow(SoapSyntaxError);
  });
});

// The sequences as wsdl/xsd/nodeForPsp.xsd and sac-common-types-1.0.xsd declare them,
// transcribed by hand from the schema (not from the codec's tables).
const XSD = {
  verifyPaymentNoticeReq: ['idPSP', 'idBrokerPSP', 'idChannel', 'password', 'qrCode'],
  activatePaymentNoticeReq: ['idPSP', 'idBrokerPSP', 'idChannel', 'password', 'idempotencyKey', 'qrCode', 'expirationTime', 'amount', 'dueDate', 'paymentNote'],
  sendPaymentOutcomeReq: ['idPSP', 'idBrokerPSP', 'idChannel', 'password', 'idempotencyKey', 'paymentToken', 'outcome', 'details'],
  ctQrCode: ['fiscalCode', 'noticeNumber'],
  ctOutcomeDetails: ['paymentMethod', 'paymentChannel', 'fee', 'payer', 'applicationDate', 'transferDate'],
  ctSubject: ['uniqueIdentifier', 'fullName'],
  ctEntityUniqueIdentifier: ['entityUniqueIdentifierType', 'entityUniqueIdentifierValue'],
  verifyPaymentNoticeRes: ['outcome', 'paymentList', 'paymentDescription', 'fiscalCodePA', 'companyName', 'officeName'],
  ctPaymentOptionDescription: ['amount', 'options', 'dueDate'],
  activatePaymentNoticeRes: ['outcome', 'totalAmount', 'paymentDescription', 'fiscalCodePA', 'companyName', 'officeName', 'paymentToken', 'transferList', 'creditorReferenceId'],
  ctTransferPSP: ['idTransfer', 'transferAmount', 'fiscalCodePA', 'IBAN', 'remittanceInformation'],
  koResponse: ['outcome', 'fault'],
  ctFaultBean: ['faultCode', 'faultString', 'id', 'description', 'originalFaultCode'],
};

describe("element order and namespaces are the schema's", () => {
  it('requests', () => {
    const verify = bodyRoot(buildRequest('verifyPaymentNotice', creds, { fiscalCode: '80016430480', noticeNumber: '301000000000012345' }));
    expect([verify.localName, verify.namespaceURI]).toEqual(['verifyPaymentNoticeReq', NODE_FOR_PSP_NS]);
    expect(names(verify)).toEqual(XSD.verifyPaymentNoticeReq);
    expect(names(child(verify, 'qrCode'))).toEqual(XSD.ctQrCode);

    const activate = bodyRoot(buildRequest('activatePaymentNotice', creds, activation));
    expect([activate.localName, activate.namespaceURI]).toEqual(['activatePaymentNoticeReq', NODE_FOR_PSP_NS]);
    expect(names(activate)).toEqual(XSD.activatePaymentNoticeReq);
    // Children are unqualified.
    expect(elements(activate).every((c) => c.namespaceURI === null)).toBe(true);

    const send = bodyRoot(buildRequest('sendPaymentOutcome', creds, outcome));
    expect(names(send)).toEqual(XSD.sendPaymentOutcomeReq);
    const details = child(send, 'details');
    expect(names(details)).toEqual(XSD.ctOutcomeDetails);
    expect(names(child(details, 'payer'))).toEqual(XSD.ctSubject);
    expect(names(child(child(details, 'payer'), 'uniqueIdentifier'))).toEqual(XSD.ctEntityUniqueIdentifier);
  });

  it('answers', () => {
    const verify = bodyRoot(
      buildResponse('verifyPaymentNotice', { ok: true, value: { amountCents: 1, dueDate: '2026-12-31', description: 'd', fiscalCodePA: '80016430480', companyName: 'c', officeName: 'o' } }),
    );
    expect(names(verify)).toEqual(XSD.verifyPaymentNoticeRes);
    expect(names(child(child(verify, 'paymentList'), 'paymentOptionDescription'))).toEqual(XSD.ctPaymentOptionDescription);

    const activate = bodyRoot(buildResponse('activatePaymentNotice', { ok: true, value: activated }));
    expect(names(activate)).toEqual(XSD.activatePaymentNoticeRes);
    const transfers = elements(child(activate, 'transferList'));
    expect(transfers.map((t) => t.localName)).toEqual(['transfer', 'transfer']);
    for (const t of transfers) expect(names(t)).toEqual(XSD.ctTransferPSP);

    const ko = bodyRoot(buildResponse('sendPaymentOutcome', { ok: false, fault: { code: 'PPT_SYSTEM_ERROR', description: 'x', originalFaultCode: 'PAA_SYSTEM_ERROR' } }));
    expect(names(ko)).toEqual(XSD.koResponse);
    expect(names(child(ko, 'fault'))).toEqual(XSD.ctFaultBean);
  });
});

describe("the node's parser refuses what the schema refuses", () => {
  const good = buildRequest('activatePaymentNotice', creds, activation);
  const refused = (xml: string) => {
    try {
      parseRequest(xml);
    } catch (e) {
      if (e instanceof SoapSyntaxError) return e.code;
      throw e;
    }
    return 'accepted';
  };

  it.each([
    ['elements out of order', good.replace('<idPSP>TSERVEPSP01</idPSP><idBrokerPSP>01234567890</idBrokerPSP>', '<idBrokerPSP>01234567890</idBrokerPSP><idPSP>TSERVEPSP01</idPSP>')],
    ['a mandatory element missing', good.replace('<password>Pa55word!</password>', '')],
    ['an element the schema lacks', good.replace('<amount>', '<touchPoint>TS</touchPoint><amount>')],
    ['an amount with one decimal', good.replace('<amount>30.50</amount>', '<amount>30.5</amount>')],
    ['a qualified child', good.replace('<idPSP>TSERVEPSP01</idPSP>', '<nfp:idPSP>TSERVEPSP01</nfp:idPSP>')],
    ['a password too short', good.replace('Pa55word!', 'short')],
    ['an idempotency key off its pattern', good.replace(activation.idempotencyKey, 'key-without-underscore')],
    ['a notice number of 17 digits', good.replace(activation.noticeNumber, activation.noticeNumber.slice(1))],
    ['an element twice', good.replace('<amount>30.50</amount>', '<amount>30.50</amount><amount>30.50</amount>')],
  ])('%s: PPT_SINTASSI_XSD', (_what, xml) => {
    expect(xml).not.toBe(good);
    expect(refused(xml)).toBe('PPT_SINTASSI_XSD');
  });

  it.each([
    ['not XML at all', 'hello'],
    ['a DOCTYPE', `<!DOCTYPE x [<!ENTITY e "e">]>${good.replace('<?xml version="1.0" encoding="UTF-8"?>', '')}`],
    ['not a SOAP envelope', `<Envelope>${good}</Envelope>`],
    ['an unknown operation', good.replaceAll('activatePaymentNoticeReq', 'activatePaymentNoticeV3Req')],
    ['the body in another namespace', good.replace(NODE_FOR_PSP_NS, 'urn:other')],
  ])('%s: PPT_SINTASSI_EXTRAXSD', (_what, xml) => {
    expect(refused(xml)).toBe('PPT_SINTASSI_EXTRAXSD');
  });

  it('accepts any prefix and whitespace between elements', () => {
    const pretty = good.replaceAll('soapenv:', 'S:').replace('xmlns:soapenv', 'xmlns:S').replaceAll('><', '>\n  <');
    expect(refused(pretty)).toBe('accepted');
  });
});

describe('the fault table', () => {
  it('maps every fault the node answers', () => {
    for (const code of NODE_FAULT_CODES) expect(NODE_FAULTS[code]).toBeDefined();
  });

  it.each([
    ['PPT_PAGAMENTO_DUPLICATO', undefined, 'NOTICE_ALREADY_PAID', '80', 409],
    ['PPT_PAGAMENTO_IN_CORSO', undefined, 'PAYMENT_IN_PROGRESS', '81', 409],
    ['PPT_DOMINIO_SCONOSCIUTO', undefined, 'NOTICE_UNKNOWN', '25', 404],
    ['PPT_STAZIONE_INT_PA_SCONOSCIUTA', undefined, 'NOTICE_UNKNOWN', '25', 404],
    ['PPT_STAZIONE_INT_PA_TIMEOUT', undefined, 'CREDITOR_UNAVAILABLE', '91', 503],
    ['PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE', undefined, 'CREDITOR_UNAVAILABLE', '91', 503],
    ['PPT_ERRORE_EMESSO_DA_PAA', 'PAA_PAGAMENTO_SCONOSCIUTO', 'NOTICE_UNKNOWN', '25', 404],
    ['PPT_ERRORE_EMESSO_DA_PAA', 'PAA_PAGAMENTO_SCADUTO', 'NOTICE_EXPIRED', '54', 409],
    ['PPT_ERRORE_EMESSO_DA_PAA', 'PAA_PAGAMENTO_ANNULLATO', 'NOTICE_CANCELLED', '82', 409],
    ['PPT_ERRORE_EMESSO_DA_PAA', 'PAA_PAGAMENTO_DUPLICATO', 'NOTICE_ALREADY_PAID', '80', 409],
    ['PPT_ERRORE_EMESSO_DA_PAA', 'PAA_SYSTEM_ERROR', 'SYSTEM', '96', 500],
    ['PPT_ERRORE_IDEMPOTENZA', undefined, 'IDEMPOTENCY_CONFLICT', '94', 409],
    ['PPT_AUTENTICAZIONE', undefined, 'UNAVAILABLE', '96', 503],
    ['PPT_SYSTEM_ERROR', undefined, 'SYSTEM', '96', 500],
    ['PPT_SOMETHING_NEW', undefined, 'SYSTEM', '96', 500],
    ['NODE_TIMEOUT', undefined, 'CREDITOR_UNAVAILABLE', '91', 503],
    ['NODE_UNREACHABLE', undefined, 'CREDITOR_UNAVAILABLE', '91', 503],
    ['NODE_CONFIGURATION', undefined, 'UNAVAILABLE', '96', 503],
  ] as const)('%s %s → %s (%s, HTTP %d)', (code, originalFaultCode, switchCode, iso, http) => {
    const m = mapFault(originalFaultCode ? { code, originalFaultCode } : { code });
    expect([m.code, m.iso, m.http]).toEqual([switchCode, iso, http]);
    const err = faultError(originalFaultCode ? { code, originalFaultCode } : { code });
    expect(err.code).toBe(switchCode);
    expect(err.detail).toContain(originalFaultCode ? `${code}/${originalFaultCode}` : code);
  });
});
