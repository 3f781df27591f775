// Settlement reports: PDF for the finance office (the CSV files are csv-reports.ts).
import { addDays, isWorkingDay, romeInstant, romeParts } from '../src/domain/calendar.js';
import { formatEuro } from '../src/domain/money.js';
import { PDF_FONT, PDF_FONT_BOLD, pdfDocument } from '../src/pdf.js';
import type { WindowRow } from '../src/store/settlement-types.js';
import type { CounterStatement, EntityStatement, SettlementFigures } from './figures.js';
import { sepaSummary, type SettlementAccount } from './sepa.js';

// ---------------------------------------------------------------------------
// The window's period

/** The first instant of calendar day `day`'s window: midnight, or the cutoff of the day before. */
function dayWindowStart(day: string, cutoff: string): number {
  return cutoff === '00:00' ? romeInstant(day) : romeInstant(addDays(day, -1), cutoff);
}

/**
 * The instants a business day's window covers, [from, to): from the end of the previous
 * business day's window (weekends and holidays belong to the next business day) to the
 * cutoff after the day. On daylight-saving days the span is an hour shorter or longer.
 */
export function windowPeriod(date: string, cutoff: string): { from: number; to: number } {
  let previous = addDays(date, -1);
  while (!isWorkingDay(previous)) previous = addDays(previous, -1);
  return { from: dayWindowStart(addDays(previous, 1), cutoff), to: dayWindowStart(addDays(date, 1), cutoff) };
}

/** 'DD/MM/YYYY HH:MM:SS' in Rome. */
export function romeText(instant: number): string {
  const p = romeParts(instant);
  return `${p.date.slice(8, 10)}/${p.date.slice(5, 7)}/${p.date.slice(0, 4)} ${p.time}`;
}

// ---------------------------------------------------------------------------
// PDF (A4 landscape, PDF/A-2b with embedded fonts: src/pdf.ts)

const FONT = PDF_FONT;
const BOLD = PDF_FONT_BOLD;
const MARGIN = 36;
const ROW = 13;
const STATUS_IT: Record<string, string> = { closed: 'chiusa', draft: 'bozza', approved: 'approvata', exported: 'esportata' };

interface Column {
  title: string;
  width: number;
  align?: 'left' | 'right';
}

interface Context {
  title: string;
  date: string;
  period: { from: number; to: number };
  status: string;
  generatedAt: number;
}

function newDoc(c: Context): PDFKit.PDFDocument {
  return pdfDocument({ title: `${c.title} ${c.date}`, createdAt: c.generatedAt }, { size: 'A4', layout: 'landscape', margin: MARGIN, bufferPages: true });
}

function render(doc: PDFKit.PDFDocument, c: Context, draw: (doc: PDFKit.PDFDocument) => void): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    doc.on('data', (b: Buffer) => chunks.push(b));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    try {
      header(doc, c);
      draw(doc);
      // Page numbers and the running footer, once the page count is known.
      const range = doc.bufferedPageRange();
      for (let i = range.start; i < range.start + range.count; i++) {
        doc.switchToPage(i);
        const y = doc.page.height - MARGIN + 8;
        doc.font(FONT).fontSize(7).fillColor('#555');
        const bottom = doc.page.margins.bottom;
        doc.page.margins.bottom = 0; // writing inside the bottom margin must not add a page
        doc.text(`T-Serve - ${c.title} - finestra ${c.date} - generato ${romeText(c.generatedAt)}`, MARGIN, y, { lineBreak: false });
        doc.text(`Pagina ${i + 1 - range.start} di ${range.count}`, doc.page.width - MARGIN - 100, y, { width: 100, align: 'right', lineBreak: false });
        doc.page.margins.bottom = bottom;
        doc.fillColor('black');
      }
      doc.end();
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

function header(doc: PDFKit.PDFDocument, c: Context): void {
  doc.font(BOLD).fontSize(16).text(c.title, MARGIN, MARGIN);
  doc.font(FONT).fontSize(9);
  doc.text(`Giorno di regolamento: ${c.date}    Stato: ${STATUS_IT[c.status] ?? c.status}`);
  doc.text(`Periodo (Europe/Rome): dal ${romeText(c.period.from)} al ${romeText(c.period.to)} (escluso)`);
  doc.text(`Generato il ${romeText(c.generatedAt)} (Europe/Rome)    Importi in euro`);
  doc.moveDown(0.8);
}

function bottomLimit(doc: PDFKit.PDFDocument): number {
  return doc.page.height - MARGIN - 14;
}

function ensureSpace(doc: PDFKit.PDFDocument, height: number): boolean {
  if (doc.y + height > bottomLimit(doc)) {
    doc.addPage();
    doc.y = MARGIN;
    return true;
  }
  return false;
}

/** A section title, on the page of what follows it (`following` points high, when it is short enough to keep together). */
function section(doc: PDFKit.PDFDocument, title: string, following = ROW * 3): void {
  ensureSpace(doc, 20 + Math.min(following, bottomLimit(doc) - MARGIN - 20));
  doc.font(BOLD).fontSize(11).text(title, MARGIN, doc.y);
  doc.moveDown(0.3);
}

function rowAt(doc: PDFKit.PDFDocument, columns: Column[], cells: string[], bold: boolean, height = ROW): void {
  const y = doc.y;
  let x = MARGIN;
  doc.font(bold ? BOLD : FONT).fontSize(7.5);
  columns.forEach((col, i) => {
    const text = cells[i] ?? '';
    const options = { width: col.width - 4, align: col.align ?? 'left' } as const;
    // A header may take two lines; a data cell is cut to its column.
    if (height > ROW) doc.text(text, x + 2, y + 3, { ...options, height: height - 3 });
    else doc.text(text, x + 2, y + 3, { ...options, lineBreak: false, height: ROW - 3, ellipsis: true });
    x += col.width;
  });
  doc.y = y + height;
}

/** A table that breaks across pages, repeating its header row on each; a short one is kept on one page. */
function table(doc: PDFKit.PDFDocument, columns: Column[], rows: string[][], totals?: string[]): void {
  const width = columns.reduce((a, c) => a + c.width, 0);
  doc.font(BOLD).fontSize(7.5);
  const headHeight = Math.max(ROW, ...columns.map((c) => Math.ceil(doc.heightOfString(c.title, { width: c.width - 4 })) + 5));
  const head = () => {
    doc.rect(MARGIN, doc.y, width, headHeight).fill('#e6e6e6').fillColor('black');
    rowAt(doc, columns, columns.map((c) => c.title), true, headHeight);
  };
  const whole = headHeight + ROW * (rows.length + (totals ? 1 : 0));
  ensureSpace(doc, whole < bottomLimit(doc) - MARGIN ? whole : headHeight + ROW * 2);
  head();
  rows.forEach((r, i) => {
    if (ensureSpace(doc, ROW)) head();
    if (i % 2 === 1) doc.rect(MARGIN, doc.y, width, ROW).fill('#f7f7f7').fillColor('black');
    rowAt(doc, columns, r, false);
  });
  if (totals) {
    if (ensureSpace(doc, ROW)) head();
    doc.moveTo(MARGIN, doc.y).lineTo(MARGIN + width, doc.y).stroke();
    rowAt(doc, columns, totals, true);
  }
  doc.moveDown(1);
  doc.x = MARGIN;
}

const eur = (cents: number) => formatEuro(cents);
const n = (x: number) => String(x);

const ENTITY_TABLE: Column[] = [
  { title: 'Ente', width: 134 },
  { title: 'Pagamenti', width: 50, align: 'right' },
  { title: 'Lordo', width: 72, align: 'right' },
  { title: 'Storni', width: 62, align: 'right' },
  { title: 'Rettifiche', width: 62, align: 'right' },
  { title: 'Comm. circuito trattenute', width: 82, align: 'right' },
  { title: 'Comm. circuito da fatturare', width: 82, align: 'right' },
  { title: 'Royalty ricevute', width: 66, align: 'right' },
  { title: 'Comm. circuito ricevute', width: 78, align: 'right' },
  { title: 'Netto da versare', width: 80, align: 'right' },
];

function entityRows(entities: EntityStatement[]): { rows: string[][]; totals: string[] } {
  const sum = (k: keyof EntityStatement) => entities.reduce((a, e) => a + (e[k] as number), 0);
  return {
    rows: entities.map((e) => [
      `${e.entityId} ${e.name}`, n(e.count), eur(e.gross), eur(e.reversals), eur(e.adjustments), eur(e.circuitFeesNetted),
      eur(e.circuitFeesRebilled), eur(e.royaltiesReceived), eur(e.circuitFeesReceived), eur(e.netPayout),
    ]),
    totals: [
      'Totale', n(sum('count')), eur(sum('gross')), eur(sum('reversals')), eur(sum('adjustments')), eur(sum('circuitFeesNetted')),
      eur(sum('circuitFeesRebilled')), eur(sum('royaltiesReceived')), eur(sum('circuitFeesReceived')), eur(sum('netPayout')),
    ],
  };
}

const COUNTER_TABLE: Column[] = [
  { title: 'Sportello', width: 42 },
  { title: 'Nome', width: 200 },
  { title: 'Tipo', width: 62 },
  { title: 'IBAN', width: 130 },
  { title: 'Pagamenti', width: 46, align: 'right' },
  { title: 'Annullati', width: 44, align: 'right' },
  { title: 'Incassato', width: 80, align: 'right' },
  { title: 'Commissioni', width: 68, align: 'right' },
  { title: 'Dovuto (addebito)', width: 82, align: 'right' },
];

function counterRows(counters: CounterStatement[]): { rows: string[][]; totals: string[] } {
  const sum = (k: 'count' | 'cancelledCount' | 'collected' | 'commission' | 'owed') => counters.reduce((a, c) => a + c[k], 0);
  return {
    rows: counters.map((c) => [c.counterId, c.name, c.kind, c.iban, n(c.count), n(c.cancelledCount), eur(c.collected), eur(c.commission), eur(c.owed)]),
    totals: ['Totale', `${counters.length} sportelli`, '', '', n(sum('count')), n(sum('cancelledCount')), eur(sum('collected')), eur(sum('commission')), eur(sum('owed'))],
  };
}

function keyValues(doc: PDFKit.PDFDocument, title: string, pairs: [string, string][]): void {
  section(doc, title, ROW * (pairs.length + 2));
  table(doc, [{ title: 'Voce', width: 300 }, { title: 'Importo', width: 120, align: 'right' }], pairs.map(([k, v]) => [k, v]));
}

/** Labels of the report's money-movement lines: each SEPA file's total is its CtrlSum; what the owner keeps has its own line. */
export const MOVEMENT_LABELS = {
  pain001: 'Bonifici, totale del file pain.001 (CtrlSum)',
  retained: 'Trattenuto sul conto del titolare del circuito (non nel file SEPA)',
  pain008: 'Addebiti diretti, totale del file pain.008 (CtrlSum)',
} as const;

/**
 * The window's report for the finance office: totals, every entity, every counter, the
 * money movements. `account` is the settlement account the SEPA files are written for:
 * a file's line gives that file's total, and the transfers to the account itself (the
 * owner's own payout) are on their own line, not in any file.
 */
export function reportPdf(
  figures: SettlementFigures,
  window: Pick<WindowRow, 'status' | 'approvedAt' | 'approvedBy'>,
  account: SettlementAccount,
  cutoff: string,
  generatedAt: number,
): Promise<Buffer> {
  const sepa = sepaSummary(figures, account);
  const c: Context = { title: 'Regolamento T-Serve', date: figures.date, period: windowPeriod(figures.date, cutoff), status: window.status, generatedAt };
  const doc = newDoc(c);
  return render(doc, c, (d) => {
    if (window.approvedAt) {
      d.font(FONT).fontSize(9).text(`Approvato il ${romeText(window.approvedAt)} da ${window.approvedBy ?? ''}`, MARGIN, d.y);
      d.moveDown(0.5);
    }
    const t = figures.totals;
    keyValues(d, 'Totali', [
      ['Pagamenti', n(t.payments)],
      ['Lordo tributi', eur(t.gross)],
      ['Commissioni cittadino', eur(t.fees)],
      ['Storni', eur(t.reversals)],
      ['Rettifiche amministrative', eur(t.adjustments)],
      ['Incassato dagli sportelli', eur(t.collected)],
      ['Commissioni sportelli', eur(t.commissions)],
      ['Compensi gestore rete', eur(figures.operator.fees)],
      ['Royalty Comune', eur(figures.owner.royalties)],
      ['Commissioni di circuito trattenute', eur(figures.owner.circuitFeesNetted)],
      ['Commissioni di circuito da fatturare', eur(figures.owner.circuitFeesRebilled)],
      ['Netto agli enti', eur(t.netPayouts)],
      [`${MOVEMENT_LABELS.pain001}, ${sepa.pain001.transactions} operazioni`, eur(sepa.pain001.ctrlSum)],
      [MOVEMENT_LABELS.retained, eur(sepa.retained.total)],
      [`${MOVEMENT_LABELS.pain008}, ${sepa.pain008.transactions} operazioni`, eur(sepa.pain008.ctrlSum)],
      ['Crediti verso enti', eur(figures.receivables.reduce((a, r) => a + r.amount, 0))],
    ]);
    section(d, 'Riepilogo per ente', ROW * (figures.entities.length + 4));
    const e = entityRows(figures.entities);
    table(d, ENTITY_TABLE, e.rows, e.totals);
    section(d, 'Riepilogo per sportello');
    const k = counterRows(figures.counters);
    table(d, COUNTER_TABLE, k.rows, k.totals);
  });
}

const SERVICE_TABLE: Column[] = [
  { title: 'Servizio', width: 250 },
  { title: 'Pagamenti', width: 60, align: 'right' },
  { title: 'Lordo', width: 90, align: 'right' },
  { title: 'Storni (n.)', width: 60, align: 'right' },
  { title: 'Storni', width: 90, align: 'right' },
  { title: 'Rettifiche (n.)', width: 70, align: 'right' },
  { title: 'Rettifiche', width: 90, align: 'right' },
];

/** One entity's statement: its services, circuit fees and net payout. */
export function entityStatementPdf(figures: SettlementFigures, e: EntityStatement, status: string, cutoff: string, generatedAt: number): Promise<Buffer> {
  const c: Context = { title: `Rendiconto ${e.name}`, date: figures.date, period: windowPeriod(figures.date, cutoff), status, generatedAt };
  const doc = newDoc(c);
  return render(doc, c, (d) => {
    d.font(FONT).fontSize(9).text(`Ente ${e.entityId}, codice fiscale ${e.fiscalCode}, IBAN ${e.iban}`, MARGIN, d.y);
    d.moveDown(0.5);
    section(d, 'Servizi', ROW * (e.services.length + 4));
    const sum = (k: 'count' | 'gross' | 'reversalCount' | 'reversals' | 'adjustmentCount' | 'adjustments') => e.services.reduce((a, s) => a + s[k], 0);
    table(
      d,
      SERVICE_TABLE,
      e.services.map((s) => [`${s.serviceCode} ${s.serviceName}`, n(s.count), eur(s.gross), n(s.reversalCount), eur(s.reversals), n(s.adjustmentCount), eur(s.adjustments)]),
      ['Totale', n(sum('count')), eur(sum('gross')), n(sum('reversalCount')), eur(sum('reversals')), n(sum('adjustmentCount')), eur(sum('adjustments'))],
    );
    keyValues(d, 'Saldo', [
      ['Lordo', eur(e.gross)],
      ['Storni', eur(-e.reversals)],
      ['Rettifiche amministrative', eur(-e.adjustments)],
      ['Commissioni di circuito trattenute', eur(-e.circuitFeesNetted)],
      ['Royalty ricevute', eur(e.royaltiesReceived)],
      ['Commissioni di circuito ricevute', eur(e.circuitFeesReceived)],
      ['Netto da versare', eur(e.netPayout)],
      ['Commissioni di circuito da fatturare (mensile)', eur(e.circuitFeesRebilled)],
    ]);
  });
}

/** One counter's statement: what it collected, earned and owes. */
export function counterStatementPdf(figures: SettlementFigures, k: CounterStatement, status: string, cutoff: string, generatedAt: number): Promise<Buffer> {
  const c: Context = { title: `Estratto sportello ${k.counterId}`, date: figures.date, period: windowPeriod(figures.date, cutoff), status, generatedAt };
  const doc = newDoc(c);
  return render(doc, c, (d) => {
    d.font(FONT).fontSize(9).text(`${k.name} (${k.kind}), IBAN ${k.iban}, mandato SEPA ${k.mandateRef}`, MARGIN, d.y);
    d.moveDown(0.5);
    keyValues(d, 'Saldo', [
      ['Pagamenti', n(k.count)],
      ['Annullati (storni e rettifiche)', n(k.cancelledCount)],
      ['Incassato (tributi + commissioni cittadino, al netto degli annullati)', eur(k.collected)],
      ['Commissioni maturate', eur(k.commission)],
      [k.owed >= 0 ? 'Dovuto al circuito (addebito SEPA)' : 'Dovuto allo sportello (bonifico SEPA)', eur(Math.abs(k.owed))],
    ]);
  });
}
