/**
 * Every PDF the switch makes (settlement report and statements, receipts) comes from
 * here, as PDF/A-2b for keeping: XMP metadata with the PDF/A identification, an sRGB
 * output intent, the language (it-IT), and only embedded TrueType fonts.
 *
 * PDF/A forbids the standard 14 fonts (Helvetica & co., never embedded), so the text is
 * set in DejaVu Sans Condensed, shipped by the npm package dejavu-fonts-ttf (resolved
 * from node_modules, so it works in a checkout and in the Docker image alike). The
 * condensed cut keeps Helvetica's widths within a few per cent, so the tables and the
 * receipt's wrapping lay out as before; it has the € sign and every Italian letter.
 * PDFKit embeds the subset of glyphs a document uses, with a ToUnicode map so that the
 * text can be searched and copied.
 */
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';

/** Font names to give `doc.font(...)`: registered on every document the factory makes. */
export const PDF_FONT = 'DejaVuSansCondensed';
export const PDF_FONT_BOLD = 'DejaVuSansCondensed-Bold';

const require = createRequire(import.meta.url);
// The font files, inside the package (no path outside node_modules).
const REGULAR_FILE = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSansCondensed.ttf');
const BOLD_FILE = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSansCondensed-Bold.ttf');

/** A font PDFKit has parsed (its fontkit object): PDFKit takes one as a font source. */
type ParsedFont = PDFKit.Mixins.PDFFontSource;
let parsed: { regular: ParsedFont; bold: ParsedFont } | undefined;

/**
 * The two fonts parsed once per process and shared by every document (each still embeds
 * its own subset): parsing DejaVu's layout tables again for each document took 150-200 ms
 * of the event loop per statement or receipt. PDFKit parses with its own fontkit; a
 * scratch document hands the parsed objects over.
 */
function fonts(): { regular: ParsedFont; bold: ParsedFont } {
  if (!parsed) {
    const scratch = new PDFDocument({ font: REGULAR_FILE, autoFirstPage: false });
    const open = (file: string) => (scratch.font(file) as unknown as { _font: { font: ParsedFont } })._font.font;
    parsed = { regular: open(REGULAR_FILE), bold: open(BOLD_FILE) };
  }
  return parsed;
}

export interface PdfMeta {
  title: string;
  /** The document's date (CreationDate and xmp:CreateDate): given, so a document is reproducible. */
  createdAt: number;
  subject?: string;
}

export type PdfOptions = Omit<PDFKit.PDFDocumentOptions, 'info' | 'font' | 'subset' | 'pdfVersion' | 'lang' | 'tagged'>;

/** XML text content: PDFKit copies the info strings into the XMP packet unescaped. */
const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A new PDF/A-2b document; `options` are PDFKit's layout options (size, margins, buffering, compression). */
export function pdfDocument(meta: PdfMeta, options: PdfOptions = {}): PDFKit.PDFDocument {
  const { regular, bold } = fonts();
  const doc = new PDFDocument({
    ...options,
    // PDF/A-2 is built on PDF 1.7; PDFKit writes no XMP packet for its default 1.3.
    pdfVersion: '1.7',
    subset: 'PDF/A-2b',
    lang: 'it-IT',
    displayTitle: true,
    // The initial font: without it PDFKit starts on Helvetica, a standard font.
    font: regular as string,
    info: {
      Title: meta.title,
      Author: 'tserve',
      ...(meta.subject ? { Subject: meta.subject } : {}),
      Creator: 'tserve',
      Producer: 'tserve (PDFKit)',
      CreationDate: new Date(meta.createdAt),
    },
  });
  doc.registerFont(PDF_FONT, regular).registerFont(PDF_FONT_BOLD, bold);
  // The Info dictionary is written first from doc.info; the XMP packet is built from it
  // afterwards, so give that step the same strings escaped for XML ('&' in an entity's name).
  const internal = doc as unknown as { info: Record<string, unknown>; endMetadata(): void };
  const endMetadata = internal.endMetadata.bind(doc);
  internal.endMetadata = () => {
    const raw = internal.info;
    internal.info = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === 'string' ? xmlText(v) : v]));
    try {
      endMetadata();
    } finally {
      internal.info = raw;
    }
  };
  return doc;
}
