// Issue 14, PDF/A: the report, the statements and the receipt, as the HTTP API hands them
// out, are PDF/A-2b with only embedded fonts. No validator runs here (veraPDF is not
// packaged for Debian, and nothing is downloaded): the bytes are checked for what PDF/A
// asks of them and PDFKit could get wrong: the XMP identification, the output intent
// with its ICC profile, every font embedded (no standard 14 font), the language.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PDF_FONT, pdfDocument } from '../../src/pdf.js';
import { pdfObjects, pdfPages, pdfRef, pdfTexts, type PdfObject } from '../helpers/pdf.js';
import { startSwitch, type Switch } from './support.js';

const DAY = '2026-11-20';
let s: Switch;
let paymentId: string;
let entityId: string;
let counterId: string;
const api = () => request(s.h.app);
const bearer = (user: string) => ({ Authorization: `Bearer ${s.h.userToken(user)}` });

async function pdf(path: string, user = 'finance'): Promise<Buffer> {
  const res = await api()
    .get(path)
    .set(bearer(user))
    .set('Accept', 'application/pdf')
    .buffer(true)
    .parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
  expect(res.status, path).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/pdf/);
  return res.body as Buffer;
}

beforeAll(async () => {
  s = await startSwitch({ positions: 100, at: [DAY, '09:00:00'] });
  const t = s.h.credentials.terminals[0]!;
  const paid = await s.h.payments.pay({ terminalId: t.terminalId, counterId: t.counterId }, { service: 'CIE', identifier: 'RSSMRA85T10A562S', amount: 2221 }, null, 'json');
  paymentId = paid.body.paymentId;
  entityId = paid.payment.entityId;
  counterId = t.counterId;
  s.setRome('2026-11-23', '00:10:00');
  expect((await api().post(`/v1/settlements/${DAY}/run`).set(bearer('finance'))).status).toBe(201);
}, 120_000);
afterAll(async () => {
  await s?.close();
});

const STANDARD_14 = /\/BaseFont \/(Helvetica|Times|Courier|Symbol|ZapfDingbats)/;

/** What PDF/A-2b asks of a PDFKit document's bytes; returns its text, decoded through the fonts. */
function expectPdfA(bytes: Buffer): string[] {
  const raw = bytes.toString('latin1');
  expect(raw.startsWith('%PDF-1.7\n%\xFF\xFF\xFF\xFF')).toBe(true); // the version PDF/A-2 builds on, and a binary comment
  expect(raw).not.toContain('/Encrypt');
  const objects = pdfObjects(bytes);
  const catalog = [...objects.values()].find((o) => /\/Type \/Catalog\b/.test(o.dict))!;
  expect(catalog.dict).toContain('/Lang (it-IT)');

  // The XMP packet (never compressed) identifies PDF/A-2b and repeats the Info title.
  const xmp = pdfRef(objects, catalog.dict, 'Metadata')!;
  expect(xmp.dict).toMatch(/\/Type \/Metadata\b/);
  expect(xmp.dict).not.toContain('/Filter');
  const packet = xmp.stream!.toString('utf8');
  expect(packet).toContain('<pdfaid:part>2</pdfaid:part>');
  expect(packet).toContain('<pdfaid:conformance>B</pdfaid:conformance>');
  const info = /\/Info (\d+) 0 R/.exec(raw.slice(raw.lastIndexOf('trailer')))!;
  const title = /\/Title (\d+) 0 R/.exec(objects.get(Number(info[1]))!.dict)!;
  const titleValue = objects.get(Number(title[1]))!.dict.trim();
  // PDFKit writes an ASCII string as a literal, anything else as UTF-16BE hex with a BOM.
  const titleText = titleValue.startsWith('(') ? titleValue.slice(1, -1) : Buffer.from(titleValue.slice(5, -1), 'hex').swap16().toString('utf16le');
  expect(packet).toContain(`<rdf:li xml:lang="x-default">${titleText}</rdf:li>`);

  // An output intent with an embedded ICC profile (sRGB, three components).
  const intents = /\/OutputIntents \[(\d+) 0 R\]/.exec(catalog.dict)!;
  const intent = objects.get(Number(intents[1]))!;
  expect(intent.dict).toMatch(/\/S \/GTS_PDFA1\b/);
  const profile = pdfRef(objects, intent.dict, 'DestOutputProfile')!;
  expect(profile.dict).toMatch(/\/N 3\b/);
  expect(profile.stream!.subarray(36, 40).toString('latin1')).toBe('acsp'); // an ICC profile's signature
  expect(profile.stream!.subarray(16, 20).toString('latin1')).toBe('RGB ');

  // Every font embedded: each Type0 font's descendant has a descriptor with its TrueType
  // program; no other kind of font, none of the standard 14.
  expect(raw).not.toMatch(STANDARD_14);
  const fonts = [...objects.values()].filter((o) => /\/Type \/Font\b/.test(o.dict) && /\/Subtype \/Type0\b/.test(o.dict));
  expect(fonts.length).toBeGreaterThan(0);
  const embedded = (font: PdfObject) => {
    const descendant = objects.get(Number(/\/DescendantFonts \[(\d+) 0 R\]/.exec(font.dict)![1]))!;
    expect(descendant.dict).toMatch(/\/Subtype \/CIDFontType2\b/);
    const descriptor = pdfRef(objects, descendant.dict, 'FontDescriptor')!;
    expect(descriptor.dict).toMatch(/\/Type \/FontDescriptor\b/);
    expect(descriptor.dict).toMatch(/\/FontName \/[A-Z]{6}\+DejaVuSansCondensed/); // a subset, tagged
    const program = pdfRef(objects, descriptor.dict, 'FontFile2')!;
    expect(['00010000', '74727565']).toContain(program.stream!.subarray(0, 4).toString('hex')); // a TrueType program (1.0 or 'true')
    expect(pdfRef(objects, font.dict, 'ToUnicode')?.stream?.length).toBeGreaterThan(0);
  };
  fonts.forEach(embedded);
  const kinds = [...objects.values()].filter((o) => /\/Type \/Font\b/.test(o.dict)).map((o) => /\/Subtype \/(\w+)/.exec(o.dict)![1]);
  expect(new Set(kinds)).toEqual(new Set(['Type0', 'CIDFontType2']));
  // Every page names only those fonts.
  const fontNumbers = new Set(fonts.map((f) => f.num));
  for (const page of pdfPages(objects)) {
    const resources = pdfRef(objects, page.dict, 'Resources')!.dict;
    for (const f of (/\/Font <<([^>]*)>>/.exec(resources)?.[1] ?? '').matchAll(/ (\d+) 0 R/g)) expect(fontNumbers.has(Number(f[1]))).toBe(true);
  }

  // Every character shown has a glyph (no .notdef, code 0) and maps back to Unicode.
  const texts = pdfTexts(bytes);
  expect(texts.length).toBeGreaterThan(0);
  for (const t of texts) expect(t.includes('\u0000') || t.includes('\uFFFD'), t).toBe(false);
  return texts;
}

describe('PDF/A through the HTTP API', () => {
  it("the finance office's report", async () => {
    const texts = expectPdfA(await pdf(`/v1/settlements/${DAY}/report.pdf`));
    expect(texts).toContain('Regolamento T-Serve');
    expect(texts).toContain('Riepilogo per sportello');
  });

  it("an entity's statement, as the entity reads it, and a counter's", async () => {
    const user = s.h.credentials.users.find((u) => u.role === 'entity' && u.entityId === entityId)!.username;
    const texts = expectPdfA(await pdf(`/v1/settlements/${DAY}/entities/${entityId}?format=pdf`, user));
    expect(texts.some((t) => t.startsWith('Rendiconto '))).toBe(true);
    expect(texts).toContain("CIE Carta d'identità elettronica"); // an accented letter, from the embedded font
    expect(texts).toContain('Netto da versare');
    const counter = expectPdfA(await pdf(`/v1/settlements/${DAY}/counters/${counterId}`));
    expect(counter).toContain(`Estratto sportello ${counterId}`);
  });

  it('a receipt', async () => {
    const texts = expectPdfA(await pdf(`/v1/payments/${paymentId}/receipt`));
    expect(texts.join('\n')).toContain('RICEVUTA DI PAGAMENTO');
    expect(texts.join('\n')).toContain('EUR 22,21');
  });
});

describe('the document factory', () => {
  const render = (doc: PDFKit.PDFDocument, draw: () => void) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      doc.on('data', (c: Buffer) => chunks.push(c));
      doc.on('end', () => resolve(Buffer.concat(chunks)));
      draw();
      doc.end();
    });

  it('draws the euro sign and Italian letters from the embedded font', async () => {
    const doc = pdfDocument({ title: 'Prova', createdAt: Date.UTC(2026, 10, 20) });
    const line = 'Società, perché, più: 1.234,56 € à è é ì ò ù À È É';
    const texts = expectPdfA(await render(doc, () => doc.font(PDF_FONT).text(line)));
    expect(texts.join('')).toBe(line);
  });

  it('escapes the title for the XMP packet, not for the Info dictionary', async () => {
    const doc = pdfDocument({ title: 'Rendiconto Acqua & Gas <Nord>', createdAt: Date.UTC(2026, 10, 20) });
    const bytes = await render(doc, () => doc.text('x'));
    const raw = bytes.toString('latin1');
    expect(raw).toContain('(Rendiconto Acqua & Gas <Nord>)');
    expect(raw).toContain('<rdf:li xml:lang="x-default">Rendiconto Acqua &amp; Gas &lt;Nord&gt;</rdf:li>');
    expect(raw).not.toMatch(STANDARD_14);
  });

  it('the same input gives the same bytes', async () => {
    const make = () => {
      const doc = pdfDocument({ title: 'Prova', createdAt: Date.UTC(2026, 10, 20) });
      return render(doc, () => doc.text('Totale 1.234,56 €'));
    };
    expect((await make()).equals(await make())).toBe(true);
  });
});
