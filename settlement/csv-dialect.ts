// CSV in two dialects from one table of columns (issue 14). A report states its columns
// once, each with a kind; the dialect renders the kind, so no report formats a value itself.
//
//   machine (default)  comma, integer cents, dates YYYY-MM-DD, instants ISO 8601 UTC,
//                      English headers, LF, no BOM: what every CSV was before.
//   it (?dialect=it)   for Italian Excel: semicolon, euros with a decimal comma and no
//                      thousands separator ("1234,56", "-0,05") so Excel reads numbers,
//                      dates dd/mm/yyyy and instants dd/mm/yyyy HH:MM:SS in Europe/Rome,
//                      Italian headers and values, UTF-8 with BOM (else Excel reads
//                      Windows-1252), CRLF. Codes made only of digits (notice numbers, IUV,
//                      RRN, receipt numbers) are written ="…", which Excel keeps as text:
//                      read as a number an 18-digit notice number loses its last digits and
//                      an RRN its leading zeros. A text that Excel would take for a formula
//                      (=, +, -, @ first) gets a leading apostrophe.
import { stringify } from 'csv-stringify/sync';
import { romeParts } from '../src/domain/calendar.js';

export const DIALECTS = ['machine', 'it'] as const;
export type Dialect = (typeof DIALECTS)[number];

/**
 * text      free text (names), as is
 * code      an identifier: notice number, IUV, RRN, receipt number, IBAN
 * count     a whole number of things
 * money     integer cents
 * date      'YYYY-MM-DD'
 * month     'YYYY-MM'
 * datetime  an instant, milliseconds since the epoch
 */
export type ColumnKind = 'text' | 'code' | 'count' | 'money' | 'date' | 'month' | 'datetime';

export interface Column<R> {
  /** The machine CSV's header. */
  key: string;
  /** The Italian CSV's header. */
  it: string;
  kind: ColumnKind;
  /** The cell's value; null, undefined and '' are an empty cell in both dialects. */
  get: (row: R) => unknown;
  /** Italian words for a text or code column's machine values (e.g. booking → pagamento, TOTAL → TOTALE). */
  labels?: Readonly<Record<string, string>>;
}

/** The BOM that tells Excel the file is UTF-8. */
export const BOM = '\uFEFF';

/** Integer cents as Italian Excel reads a number: 123456 → "1234,56", -5 → "-0,05". Exact: digits, no division. */
export function centsToItalian(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`an amount must be a whole number of cents, got ${cents}`);
  const digits = String(Math.abs(cents)).padStart(3, '0');
  return `${cents < 0 ? '-' : ''}${digits.slice(0, -2)},${digits.slice(-2)}`;
}

/** The inverse of centsToItalian: "1234,56" → 123456. */
export function italianToCents(text: string): number {
  const m = /^(-?)(\d+),(\d{2})$/.exec(text);
  if (!m) throw new RangeError(`not an amount like 1234,56: "${text}"`);
  const cents = Number(m[2]! + m[3]!);
  if (!Number.isSafeInteger(cents)) throw new RangeError(`amount out of range: "${text}"`);
  return m[1] ? -cents : cents;
}

const dmy = (date: string) => `${date.slice(8, 10)}/${date.slice(5, 7)}/${date.slice(0, 4)}`;

function integer(v: unknown, what: string): number {
  const n = typeof v === 'number' ? v : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} must be a whole number, got ${String(v)}`);
  return n;
}

/** One cell in one dialect. */
export function cell<R>(c: Column<R>, v: unknown, dialect: Dialect): string | number {
  if (v === null || v === undefined || v === '') return '';
  if (dialect === 'machine') {
    if (c.kind === 'datetime') return new Date(integer(v, c.key)).toISOString();
    if (c.kind === 'money' || c.kind === 'count') return integer(v, c.key);
    return String(v as string | number);
  }
  switch (c.kind) {
    case 'money':
      return centsToItalian(integer(v, c.key));
    case 'count':
      return integer(v, c.key);
    case 'date':
      return dmy(String(v as string));
    case 'month':
      return `${String(v as string).slice(5, 7)}/${String(v as string).slice(0, 4)}`;
    case 'datetime': {
      const p = romeParts(integer(v, c.key));
      return `${dmy(p.date)} ${p.time}`;
    }
    case 'code':
    case 'text': {
      const s = String(v as string | number);
      const label = c.labels?.[s] ?? s;
      if (c.kind === 'code' && /^\d+$/.test(label)) return `="${label}"`;
      return /^[=+\-@\t\r]/.test(label) ? `'${label}` : label;
    }
  }
}

/** A report's columns, rendered in either dialect. */
export class CsvTable<R> {
  constructor(readonly columns: readonly Column<R>[]) {}

  /** The machine headers (the names tests and clients read columns by). */
  get keys(): string[] {
    return this.columns.map((c) => c.key);
  }

  headers(dialect: Dialect): string[] {
    return this.columns.map((c) => (dialect === 'it' ? c.it : c.key));
  }

  /**
   * The rows as CSV text. `header` false for the pages after a streamed file's first
   * one: the header row, and in the Italian dialect the BOM, open the file only.
   */
  render(rows: readonly R[], dialect: Dialect, header = true): string {
    const records: (string | number)[][] = rows.map((r) => this.columns.map((c) => cell(c, c.get(r), dialect)));
    if (header) records.unshift(this.headers(dialect));
    const text = stringify(records, dialect === 'it' ? { delimiter: ';', record_delimiter: 'windows', eof: true } : { eof: true });
    return dialect === 'it' && header ? BOM + text : text;
  }
}

/** The file name of a dialect's CSV (no extension): the Italian one ends in -it. */
export function csvFilename(base: string, dialect: Dialect): string {
  return dialect === 'it' ? `${base}-it` : base;
}
