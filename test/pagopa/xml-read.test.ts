// Reading XML text exactly: free text (names, descriptions, remittance text) holding
// "&", "#", ";", "<", ">" or quotes comes back as written, through build → parse on both
// sides of the nodeForPsp codec and through the reporting flow. xmlbuilder2's reader
// decodes "&amp;#38;" twice (to "&" instead of "&#38;"); src/xml.ts parseXml reads
// instead, one pass, refusing what is not XML.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { writeFlowXml, type FlowDocument } from '../../src/pagopa/flow.js';
import { buildFlowRequest, buildFlowResponse, parseFlowRequest, parseFlowResponse } from '../../src/pagopa/flow-soap.js';
import { buildRequest, buildResponse, parseRequest, parseResponse, SoapSyntaxError } from '../../src/pagopa/soap.js';
import { parseFlow } from '../../src/pagopa/simulator/flow.js';
import type { ActivateAnswer, ActivateRequest, OutcomeRequest, PspCredentials, VerifyAnswer } from '../../src/pagopa/types.js';
import { decodeXmlText } from '../../src/xml.js';

const TRICKY = ['Q&#38;A', 'x&#x3C;y', 'AT&amp;T', 'a<b>&c', `"quoted" 'apos'`];

/**
 * Printable text, heavy on what references are made of. Ends trimmed: the readers trim
 * (their pattern-typed neighbours need it), so a leading or trailing blank is not kept.
 */
const printable = (maxLength: number) =>
  fc
    .string({
      unit: fc.oneof(
        fc.constantFrom('&', '#', ';', '<', '>', 'x', '3', '8', 'amp', 'lt', '#38', '#x26', '"', "'", ' ', ']]>'),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
      ),
      minLength: 1,
      maxLength: 40,
    })
    .filter((s) => s === s.trim() && s.length > 0 && [...s].length <= maxLength && !/[\p{Cc}\uFFFE\uFFFF]/u.test(s));

const creds: PspCredentials = { idPSP: 'TSERVEPSP01', idBrokerPSP: '01234567890', idChannel: '01234567890_01', password: 'Pa55word!' };

const verified = (companyName: string, description: string): VerifyAnswer => ({ amountCents: 3050, description, fiscalCodePA: '80016430480', companyName });

const activated = (remittanceInformation: string, companyName = 'Comune di Firenze'): ActivateAnswer => ({
  totalAmountCents: 3050,
  description: 'TARI 2026',
  fiscalCodePA: '80016430480',
  companyName,
  paymentToken: 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4',
  creditorReferenceId: '01000000000012345',
  transfers: [{ index: 1, amountCents: 3050, fiscalCodePA: '80016430480', iban: 'IT60X0542811101000000123456', remittanceInformation }],
});

const activation = (paymentNote: string): ActivateRequest => ({
  idempotencyKey: '01234567890_aB3dE5gH7j',
  fiscalCode: '80016430480',
  noticeNumber: '301000000000012345',
  amountCents: 3050,
  paymentNote,
});

const outcome = (fullName: string): OutcomeRequest => ({
  idempotencyKey: '01234567890_aB3dE5gH7j',
  paymentToken: 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4',
  outcome: 'OK',
  details: { feeCents: 150, applicationDate: '2026-11-30', transferDate: '2026-12-01', payer: { type: 'F', id: 'RSSMRA80A01D612X', fullName } },
});

const flow = (receiverName: string, senderName = 'Tserve PSP'): FlowDocument => ({
  flowId: '2026-12-01TSERVEPSP-SCT0001',
  flowDateTime: '2026-11-30T09:00:00Z',
  settlementReference: 'SCT0001',
  settlementDate: '2026-12-01',
  senderId: 'TSERVEPSP',
  senderName,
  receiverId: '80016430480',
  receiverName,
  totalPayments: 1,
  totalCents: 4200,
  payments: [{ iuv: '01000000000000001', iur: 'tok1', index: 1, amountCents: 4200, outcomeCode: '0', outcomeDate: '2026-11-30' }],
});

// ---- the round trips, one per field and direction

/** The node answers, the PSP reads. */
function verifyRoundTrip(companyName: string, description: string) {
  expect(parseResponse('verifyPaymentNotice', buildResponse('verifyPaymentNotice', { ok: true, value: verified(companyName, description) }))).toEqual({
    ok: true,
    value: verified(companyName, description),
  });
}
function activateRoundTrip(remittance: string, companyName?: string) {
  const value = activated(remittance, companyName);
  expect(parseResponse('activatePaymentNotice', buildResponse('activatePaymentNotice', { ok: true, value }))).toEqual({ ok: true, value });
}
/** The PSP asks, the node reads. */
function requestRoundTrip(text: string) {
  expect(parseRequest(buildRequest('activatePaymentNotice', creds, activation(text)))).toEqual({ operation: 'activatePaymentNotice', credentials: creds, request: activation(text) });
  if ([...text].length <= 70) expect(parseRequest(buildRequest('sendPaymentOutcome', creds, outcome(text)))).toEqual({ operation: 'sendPaymentOutcome', credentials: creds, request: outcome(text) });
}
/** The PSP writes the flow, the node reads it (and its SOAP envelope both ways). */
function flowRoundTrip(receiverName: string) {
  const doc = flow(receiverName);
  const xml = writeFlowXml(doc);
  expect(parseFlow(xml)).toEqual({ ok: true, flow: doc });
  const sent = parseFlowRequest(buildFlowRequest(creds, { domain: '80016430480', flowId: doc.flowId, flowDateTime: doc.flowDateTime, xml }));
  expect(sent).toMatchObject({ ok: true, submission: { xml } });
  expect(parseFlowResponse(buildFlowResponse({ ok: false, fault: { code: 'PPT_SEMANTICA', description: receiverName } }))).toEqual({
    ok: false,
    fault: { code: 'PPT_SEMANTICA', description: receiverName },
  });
}

describe('text read exactly as written', () => {
  it.each(TRICKY)('%s: verify companyName and paymentDescription, node → PSP', (s) => verifyRoundTrip(s, s));
  it.each(TRICKY)('%s: activate transfer remittance text (and companyName), node → PSP', (s) => activateRoundTrip(s, s));
  it.each(TRICKY)('%s: activate paymentNote and outcome payer name, PSP → node', (s) => requestRoundTrip(s));
  it.each(TRICKY)('%s: flow denominazioneRicevente, PSP → node', (s) => flowRoundTrip(s));

  it('any printable text, every field and direction (property)', () => {
    fc.assert(
      fc.property(printable(140), printable(210), (a, b) => {
        verifyRoundTrip(a, b);
        activateRoundTrip(a, a);
        requestRoundTrip(b);
        flowRoundTrip(a);
      }),
      { numRuns: 300 },
    );
  });

  it('reads references written by other writers: the five entities, decimal and hex, CDATA as it is', () => {
    const wrap = (body: string) =>
      buildResponse('verifyPaymentNotice', { ok: true, value: verified('PLACEHOLDER', 'TARI') }).replace('PLACEHOLDER', body);
    const read = (body: string) => {
      const r = parseResponse('verifyPaymentNotice', wrap(body));
      if (!r.ok) throw new Error('KO');
      return r.value.companyName;
    };
    expect(read('&lt;&gt;&amp;&quot;&apos;')).toBe(`<>&"'`);
    expect(read('Q&#38;A &#x3c;')).toBe('Q&A <');
    expect(read('&#128512; &#x1F600;')).toBe('😀 😀');
    expect(read('Q&amp;#38;A')).toBe('Q&#38;A');
    expect(read('<![CDATA[Q&#38;A &amp;]]>')).toBe('Q&#38;A &amp;');
  });
});

describe('still strict', () => {
  const answer = buildResponse('verifyPaymentNotice', { ok: true, value: verified('PLACEHOLDER', 'TARI') });
  it.each([
    ['an unknown entity', '&copy;'],
    ['a bare &', 'a & b'],
    ['a reference without ;', '&#38 x'],
    ['a reference to no character', '&#0;'],
    ['a reference beyond Unicode', '&#x110000;'],
    ['a surrogate', '&#xD800;'],
    ['an upper-case X', '&#X3C;'],
  ])('refuses %s', (_why, body) => {
    expect(() => parseResponse('verifyPaymentNotice', answer.replace('PLACEHOLDER', body))).toThrow(SoapSyntaxError);
    expect(() => parseRequest(buildRequest('activatePaymentNotice', creds, activation('PLACEHOLDER')).replace('PLACEHOLDER', body))).toThrow(SoapSyntaxError);
    expect(parseFlow(writeFlowXml(flow('PLACEHOLDER')).replace('PLACEHOLDER', body))).toMatchObject({ ok: false, reason: expect.stringMatching(/^not XML/) });
  });

  it('refuses a DOCTYPE, with or without entities', () => {
    const dtd = '<!DOCTYPE x [<!ENTITY e "Q&#38;A">]>';
    expect(() => parseResponse('verifyPaymentNotice', answer.replace('?>', `?>${dtd}`).replace('PLACEHOLDER', '&e;'))).toThrow(/DOCTYPE/);
    expect(() => parseRequest(buildRequest('activatePaymentNotice', creds, activation('x')).replace('?>', '?><!DOCTYPE x>'))).toThrow(/DOCTYPE/);
    expect(parseFlow(writeFlowXml(flow('x')).replace('?>', `?>${dtd}`))).toMatchObject({ ok: false, reason: expect.stringMatching(/DOCTYPE/) });
  });

  it('decodeXmlText: one pass, the five entities and numeric references only', () => {
    expect(decodeXmlText('&amp;#38; &amp;amp; &#38;amp; &#x26;#x3C;')).toBe('&#38; &amp; &amp; &#x3C;');
    expect(() => decodeXmlText('&nbsp;')).toThrow(/entity/);
    expect(() => decodeXmlText('&')).toThrow();
  });
});
