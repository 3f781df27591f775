/**
 * Receipts for a booked payment: plain text for 40-column thermal printers and a
 * small PDF (80 mm wide) with the same content.
 *
 * Both renderings come from one list of receipt items (`receiptItems`), so they
 * can never disagree. Long values are wrapped, never cut; dates and times are
 * printed in Europe/Rome local time whatever the server's time zone.
 */
import { romeParts } from '../domain/calendar.js';
import { formatEuro } from '../domain/money.js';
import { PDF_FONT, PDF_FONT_BOLD, pdfDocument } from '../pdf.js';

export interface ReceiptData {
  receiptNumber: string;
  rrn: string;
  approvalCode: string;
  entityName: string;
  entityFiscalCode: string;
  serviceName: string;
  serviceCode: string;
  identifier: string;
  description: string;
  amountCents: number;
  feeCents: number; // total = amount + fee
  counterId: string;
  counterName: string;
  counterAddress: string;
  terminalId: string;
  bookedAt: number; // epoch ms; printed in Europe/Rome local date and time
  settlementDate: string; // YYYY-MM-DD
  reversed: boolean; // print a clear "ANNULLATO / REVERSED" banner when true
  /** Bollo auto: what the amount is made of (cents), printed under it. */
  breakdown?: { tax: number; sanction: number; interest: number; daysLate: number };
  /**
   * A notice paid through pagoPA: the attestation pagoPA asks the counter to print
   * (pagopa-psp.md §6): the creditor (printed as the entity), the notice and IUV, the PSP
   * and the payment token.
   */
  pagopa?: { noticeNumber: string; iuv: string; paymentToken: string; pspName: string; pspFiscalCode: string };
}

/** Columns of a thermal receipt line. */
export const RECEIPT_WIDTH = 40;

const TITLE = 'T-SERVE PRATO';
const SUBTITLE = 'RICEVUTA DI PAGAMENTO';
const PAGOPA_SUBTITLE = 'ATTESTAZIONE DI PAGAMENTO pagoPA';
const REVERSED_BANNER = 'ANNULLATO / REVERSED';
const FOOTER = [
  "Conservare la ricevuta come prova dell'avvenuto pagamento.",
  'Grazie!',
];

// ---------------------------------------------------------------------------
// Content model shared by the text and PDF renderers

type Item =
  | { kind: 'title'; text: string }
  | { kind: 'center'; text: string }
  | { kind: 'banner'; text: string }
  | { kind: 'rule'; heavy: boolean }
  | { kind: 'field'; label: string; value: string; strong?: boolean }
  | { kind: 'para'; text: string }
  | { kind: 'gap' };

/** `EUR 1.234,56` from integer cents. */
export function formatAmount(cents: number): string {
  return `EUR ${formatEuro(cents)}`;
}

/** Europe/Rome local date (dd/mm/yyyy) and time (HH:MM:SS) of an epoch-ms instant. */
export function romeDateTime(epochMs: number): { date: string; time: string } {
  if (!Number.isFinite(epochMs)) throw new RangeError(`bookedAt must be epoch milliseconds, got ${epochMs}`);
  const { date, time } = romeParts(epochMs);
  return { date: `${date.slice(8, 10)}/${date.slice(5, 7)}/${date.slice(0, 4)}`, time };
}

/** YYYY-MM-DD → dd/mm/yyyy; anything else is printed as given. */
function isoDateToItalian(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso.trim());
  return m ? `${m[3]}/${m[2]}/${m[1]}` : iso;
}

/** One line of printable text: control characters and runs of whitespace become one space. */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.normalize('NFC').replace(/[\s\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
}

function receiptItems(r: ReceiptData): Item[] {
  if (!Number.isSafeInteger(r.amountCents) || !Number.isSafeInteger(r.feeCents)) {
    throw new RangeError('amountCents and feeCents must be whole numbers of cents');
  }
  const total = r.amountCents + r.feeCents;
  if (!Number.isSafeInteger(total)) throw new RangeError('total out of range');
  const { date, time } = romeDateTime(r.bookedAt);
  const field = (label: string, value: string, strong = false): Item => ({
    kind: 'field',
    label,
    value: clean(value) || '-',
    strong,
  });

  const items: Item[] = [
    { kind: 'title', text: TITLE },
    { kind: 'center', text: r.pagopa ? PAGOPA_SUBTITLE : SUBTITLE },
    { kind: 'gap' },
    { kind: 'center', text: clean(r.counterName) },
    { kind: 'center', text: clean(r.counterAddress) },
  ];
  if (r.reversed) items.push({ kind: 'banner', text: REVERSED_BANNER });
  items.push(
    { kind: 'rule', heavy: false },
    field('Ricevuta', r.receiptNumber),
    field('Ente', r.entityName),
    field('C.F. Ente', r.entityFiscalCode),
    field('Servizio', r.serviceName),
    field('Cod. servizio', r.serviceCode),
    field('Identificativo', r.identifier),
  );
  if (r.pagopa) {
    items.push(
      field('Codice avviso', r.pagopa.noticeNumber),
      field('IUV', r.pagopa.iuv),
      field('PSP', r.pagopa.pspName),
      field('C.F. PSP', r.pagopa.pspFiscalCode),
      field('Token pagoPA', r.pagopa.paymentToken),
    );
  }
  const description = clean(r.description);
  if (description) items.push({ kind: 'para', text: description });
  items.push({ kind: 'rule', heavy: false }, field('Importo', formatAmount(r.amountCents)));
  const b = r.breakdown;
  if (b) {
    if (b.tax + b.sanction + b.interest !== r.amountCents) throw new RangeError('the breakdown does not add up to the amount');
    items.push(
      field(' di cui tassa', formatAmount(b.tax)),
      field(' di cui sanzione', formatAmount(b.sanction)),
      field(' di cui interessi', formatAmount(b.interest)),
      field(' giorni di ritardo', String(b.daysLate)),
    );
  }
  items.push(
    field('Commissione', formatAmount(r.feeCents)),
    { kind: 'rule', heavy: true },
    field('TOTALE', formatAmount(total), true),
    { kind: 'rule', heavy: true },
    field('Data', date),
    field('Ora', time),
    field('Data valuta', isoDateToItalian(r.settlementDate)),
    field('Terminale', r.terminalId),
    field('Sportello', r.counterId),
    field('RRN', r.rrn),
    field('Aut.', r.approvalCode),
  );
  if (r.reversed) items.push({ kind: 'banner', text: REVERSED_BANNER });
  items.push({ kind: 'rule', heavy: false });
  for (const line of FOOTER) items.push({ kind: 'center', text: line });
  return items;
}

// ---------------------------------------------------------------------------
// Text (thermal printer)

/** Length in characters (code points), which is what a printer's columns count. */
function len(s: string): number {
  return [...s].length;
}

/**
 * Greedy word wrap to `width` columns; a word longer than a line is split across
 * lines. Every character of the input ends up in the output (spaces aside).
 */
export function wrap(text: string, width: number): string[] {
  if (width < 1) throw new RangeError('width must be at least 1');
  const lines: string[] = [];
  let line = '';
  for (const word of clean(text).split(' ')) {
    if (word === '') continue;
    if (line && len(line) + 1 + len(word) <= width) {
      line += ' ' + word;
      continue;
    }
    if (line) lines.push(line);
    let rest = [...word];
    while (rest.length > width) {
      lines.push(rest.slice(0, width).join(''));
      rest = rest.slice(width);
    }
    line = rest.join('');
  }
  if (line) lines.push(line);
  return lines;
}

function padStart(s: string, width: number): string {
  return ' '.repeat(Math.max(0, width - len(s))) + s;
}

function centerLine(s: string, width: number): string {
  return ' '.repeat(Math.floor((width - len(s)) / 2)) + s;
}

function fieldLines(label: string, value: string, width: number): string[] {
  if (len(label) + 1 + len(value) <= width) {
    return [label + padStart(value, width - len(label))];
  }
  // Value does not fit beside its label: wrap it into the room to the right of the
  // label (or on full lines of its own when the label is very long), right-aligned.
  const room = width - len(label) - 1;
  if (room < 10) return [label, ...wrap(value, width).map((l) => padStart(l, width))];
  const [first = '', ...rest] = wrap(value, room);
  return [label + padStart(first, width - len(label)), ...rest.map((l) => padStart(l, width))];
}

function textLines(item: Item, width: number): string[] {
  switch (item.kind) {
    case 'title':
    case 'center':
      return wrap(item.text, width).map((l) => centerLine(l, width));
    case 'banner': {
      const stars = '*'.repeat(width);
      return [stars, ...wrap(`*** ${item.text} ***`, width).map((l) => centerLine(l, width)), stars];
    }
    case 'rule':
      return [(item.heavy ? '=' : '-').repeat(width)];
    case 'field':
      return fieldLines(item.label, item.value, width);
    case 'para':
      return wrap(item.text, width);
    case 'gap':
      return [''];
  }
}

/** The receipt for a 40-column thermal printer: lines joined by '\n', each at most 40 columns. */
export function receiptText(r: ReceiptData): string {
  return receiptItems(r)
    .flatMap((item) => textLines(item, RECEIPT_WIDTH))
    .map((l) => l.trimEnd())
    .join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// PDF

const MM = 72 / 25.4;
const PAGE_WIDTH = 80 * MM; // 80 mm receipt roll
const MARGIN = 5 * MM;
const CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN;
const LABEL_WIDTH = 24 * MM;
const VALUE_X = MARGIN + LABEL_WIDTH + 2 * MM;
const VALUE_WIDTH = PAGE_WIDTH - MARGIN - VALUE_X;
const FONT = PDF_FONT;
const FONT_BOLD = PDF_FONT_BOLD;
const SIZE = 8;
const SIZE_TITLE = 12;
const SIZE_TOTAL = 10;
const LINE_GAP = 1.5;

/**
 * Lays the items out from the top of the page; draws them when `draw` is true.
 * Returns the y just below the last item, so a first pass can size the page.
 */
function layoutPdf(doc: PDFKit.PDFDocument, items: Item[], draw: boolean): number {
  let y = MARGIN;
  const text = (s: string, x: number, width: number, align: 'left' | 'center' | 'right'): number => {
    const opts = { width, align, lineGap: LINE_GAP };
    const h = doc.heightOfString(s, opts);
    if (draw) doc.text(s, x, y, opts);
    return h;
  };

  for (const item of items) {
    switch (item.kind) {
      case 'title':
        doc.font(FONT_BOLD).fontSize(SIZE_TITLE);
        y += text(item.text, MARGIN, CONTENT_WIDTH, 'center');
        break;
      case 'center':
        doc.font(FONT).fontSize(SIZE);
        y += text(item.text, MARGIN, CONTENT_WIDTH, 'center');
        break;
      case 'gap':
        y += SIZE / 2;
        break;
      case 'para':
        doc.font(FONT).fontSize(SIZE);
        y += text(item.text, MARGIN, CONTENT_WIDTH, 'left');
        break;
      case 'rule': {
        y += 3;
        if (draw) {
          doc.save().lineWidth(item.heavy ? 1 : 0.5);
          if (!item.heavy) doc.dash(2, { space: 2 });
          doc.moveTo(MARGIN, y).lineTo(PAGE_WIDTH - MARGIN, y).stroke();
          doc.undash().restore();
        }
        y += 4;
        break;
      }
      case 'banner': {
        y += 3;
        doc.font(FONT_BOLD).fontSize(SIZE_TOTAL);
        const h = doc.heightOfString(item.text, { width: CONTENT_WIDTH - 8, align: 'center', lineGap: LINE_GAP }) + 6;
        if (draw) {
          doc.save().rect(MARGIN, y, CONTENT_WIDTH, h).fill('#000000');
          doc.fillColor('#ffffff').text(item.text, MARGIN + 4, y + 3.5, {
            width: CONTENT_WIDTH - 8,
            align: 'center',
            lineGap: LINE_GAP,
          });
          doc.restore().fillColor('#000000');
        }
        y += h + 3;
        break;
      }
      case 'field': {
        const size = item.strong ? SIZE_TOTAL : SIZE;
        doc.font(item.strong ? FONT_BOLD : FONT).fontSize(size);
        const hl = text(item.label, MARGIN, LABEL_WIDTH, 'left');
        const hv = ((): number => {
          const opts = { width: VALUE_WIDTH, align: 'right' as const, lineGap: LINE_GAP };
          const h = doc.heightOfString(item.value, opts);
          if (draw) doc.text(item.value, VALUE_X, y, opts);
          return h;
        })();
        y += Math.max(hl, hv);
        break;
      }
    }
  }
  return y + MARGIN;
}

function newDocument(r: ReceiptData, height: number): PDFKit.PDFDocument {
  return pdfDocument({ title: `Ricevuta ${clean(r.receiptNumber)}`, createdAt: r.bookedAt }, { size: [PAGE_WIDTH, height], margin: 0 });
}

/** The receipt as a one-page PDF, 80 mm wide and as tall as its content; deterministic for given data. */
export function receiptPdf(r: ReceiptData): Promise<Buffer> {
  const items = receiptItems(r);
  // First pass on a scratch document measures the height, the second one draws.
  const scratch = newDocument(r, 10_000);
  const height = Math.ceil(layoutPdf(scratch, items, false));
  scratch.end();

  const doc = newDocument(r, height);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    try {
      layoutPdf(doc, items, true);
      doc.end();
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
