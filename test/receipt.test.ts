import { describe, expect, it } from 'vitest';
import { formatAmount, receiptPdf, receiptText, romeDateTime, wrap, type ReceiptData } from '../src/payments/receipt.js';
import { pdfTexts } from './helpers/pdf.js';

const base: ReceiptData = {
  receiptNumber: 'R-2026-000123',
  rrn: '633012345678',
  approvalCode: 'A1B2C3',
  entityName: 'Comune di Prato',
  entityFiscalCode: '84006890481',
  serviceName: 'TARI',
  serviceCode: 'TARI01',
  identifier: '301000000000012345',
  description: 'Saldo TARI 2026',
  amountCents: 123456,
  feeCents: 150,
  counterId: 'C00042',
  counterName: 'Tabaccheria Da Mario',
  counterAddress: 'Via del Corso 12, Prato',
  terminalId: 'T0000042',
  bookedAt: Date.UTC(2026, 6, 15, 22, 30, 5), // 16/07/2026 00:30:05 in Rome (CEST)
  settlementDate: '2026-07-17',
  reversed: false,
};

const longOne: ReceiptData = {
  ...base,
  entityName: 'Comune di Prato - Servizio Tributi e Riscossione delle Entrate Comunali e Patrimoniali',
  serviceName: 'Canone unico patrimoniale di concessione, autorizzazione o esposizione pubblicitaria',
  identifier: 'IDENTIFICATIVO-UNICO-DI-VERSAMENTO-MOLTO-LUNGO-0123456789ABCDEF',
  description:
    'Pagamento del saldo della tassa sui rifiuti per utenza domestica sita in via Roma 1, comprensivo di conguaglio ' +
    'per gli anni precedenti e addizionale provinciale TEFA, come da avviso notificato.',
  counterName: 'Tabaccheria Ricevitoria Edicola Da Mario di Rossi Mario & Figli S.n.c.',
  counterAddress: 'Via del Corso Vittorio Emanuele II numero 1234 interno 5, 59100 Prato (PO), Italia',
  receiptNumber: 'R-2026-0000000000000000000000000000000000000000123',
};

const lines = (text: string): string[] => text.replace(/\n$/, '').split('\n');
const squash = (s: string): string => s.replace(/\s+/g, '');

/** The text of the receipt's PDF, one string per TJ operator (decoded through the fonts' ToUnicode maps). */
const pdfTextRuns = pdfTexts;

describe('formatAmount and dates', () => {
  it('formats euros the Italian way', () => {
    expect(formatAmount(0)).toBe('EUR 0,00');
    expect(formatAmount(5)).toBe('EUR 0,05');
    expect(formatAmount(150)).toBe('EUR 1,50');
    expect(formatAmount(123456)).toBe('EUR 1.234,56');
    expect(formatAmount(123456789012)).toBe('EUR 1.234.567.890,12');
  });

  it('prints Europe/Rome local date and time, summer and winter', () => {
    expect(romeDateTime(Date.UTC(2026, 6, 15, 22, 30, 5))).toEqual({ date: '16/07/2026', time: '00:30:05' });
    expect(romeDateTime(Date.UTC(2026, 0, 31, 23, 0, 0))).toEqual({ date: '01/02/2026', time: '00:00:00' });
    expect(romeDateTime(Date.UTC(2026, 11, 31, 9, 5, 7))).toEqual({ date: '31/12/2026', time: '10:05:07' });
  });

  it('wraps without losing characters', () => {
    expect(wrap('aaa bbb ccc', 7)).toEqual(['aaa bbb', 'ccc']);
    expect(wrap('x'.repeat(25), 10)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
    expect(wrap('  a \n\t b  ', 10)).toEqual(['a b']);
  });
});

describe('receiptText', () => {
  it('contains every required field', () => {
    const text = receiptText(base);
    expect(text).toContain('T-SERVE PRATO');
    expect(text).toContain('RICEVUTA DI PAGAMENTO');
    expect(text).toContain('Tabaccheria Da Mario');
    expect(text).toContain('Via del Corso 12, Prato');
    expect(text).toMatch(/^Ricevuta +R-2026-000123$/m);
    expect(text).toMatch(/^Ente +Comune di Prato$/m);
    expect(text).toContain('84006890481');
    expect(text).toMatch(/^Servizio +TARI$/m);
    expect(text).toContain('TARI01');
    expect(text).toMatch(/^Identificativo +301000000000012345$/m);
    expect(text).toContain('Saldo TARI 2026');
    expect(text).toMatch(/^Importo +EUR 1\.234,56$/m);
    expect(text).toMatch(/^Commissione +EUR 1,50$/m);
    expect(text).toMatch(/^TOTALE +EUR 1\.236,06$/m);
    expect(text).toMatch(/^Data +16\/07\/2026$/m);
    expect(text).toMatch(/^Ora +00:30:05$/m);
    expect(text).toMatch(/^Data valuta +17\/07\/2026$/m);
    expect(text).toMatch(/^Terminale +T0000042$/m);
    expect(text).toMatch(/^Sportello +C00042$/m);
    expect(text).toMatch(/^RRN +633012345678$/m);
    expect(text).toMatch(/^Aut\. +A1B2C3$/m);
    expect(text).toContain('-'.repeat(40));
    expect(text).not.toMatch(/ANNULLATO/);
  });

  it('right-aligns values to column 40 and centres the header', () => {
    const ls = lines(receiptText(base));
    for (const l of ls.filter((l) => /^(Ricevuta|Importo|TOTALE|RRN) /.test(l))) expect(l).toHaveLength(40);
    const title = ls.find((l) => l.includes('T-SERVE PRATO')) ?? '';
    const left = title.length - title.trimStart().length;
    expect(Math.abs(left - (40 - left - 'T-SERVE PRATO'.length))).toBeLessThanOrEqual(1);
  });

  it('computes the total as amount + fee', () => {
    const cases: Array<[number, number, string]> = [
      [0, 0, 'EUR 0,00'],
      [1, 99, 'EUR 1,00'],
      [99999, 1, 'EUR 1.000,00'],
      [10, 250, 'EUR 2,60'],
      [1_000_000_00, 2_50, 'EUR 1.000.002,50'],
    ];
    for (const [amountCents, feeCents, total] of cases) {
      const text = receiptText({ ...base, amountCents, feeCents });
      expect(text).toMatch(new RegExp(`^TOTALE +${total.replace(/\./g, '\\.')}$`, 'm'));
    }
  });

  it('keeps every line within 40 columns and wraps long values without losing them', () => {
    for (const r of [base, longOne, { ...longOne, reversed: true }]) {
      const text = receiptText(r);
      for (const l of lines(text)) expect([...l].length).toBeLessThanOrEqual(40);
      const flat = squash(text);
      for (const v of [r.entityName, r.serviceName, r.identifier, r.description, r.counterName, r.counterAddress, r.receiptNumber]) {
        expect(flat).toContain(squash(v));
      }
    }
  });

  it('keeps within 40 columns with accented text and odd whitespace', () => {
    const text = receiptText({
      ...longOne,
      counterName: 'Società Cooperativa Caffè e Tabacchi "Perché no?" à la carte '.repeat(2),
      description: 'Riga uno\nriga due\r\n\tcon tabulazioni   e spazi multipli '.repeat(3),
    });
    for (const l of lines(text)) expect([...l].length).toBeLessThanOrEqual(40);
    expect(text).toContain('Società');
    expect(text).not.toMatch(/\t|\r/);
  });

  it('prints a clear reversed banner', () => {
    const text = receiptText({ ...base, reversed: true });
    expect(text).toContain('ANNULLATO / REVERSED');
    expect(text.match(/ANNULLATO \/ REVERSED/g)?.length).toBeGreaterThanOrEqual(1);
    expect(text).toContain('*'.repeat(40));
  });

  it('rejects amounts that are not whole cents', () => {
    expect(() => receiptText({ ...base, amountCents: 12.5 })).toThrow(RangeError);
    expect(() => receiptText({ ...base, feeCents: Number.NaN })).toThrow(RangeError);
    expect(() => receiptText({ ...base, bookedAt: Number.NaN })).toThrow(RangeError);
  });
});

describe('receiptPdf', () => {
  it('is a PDF of reasonable size with the receipt number in it', async () => {
    const pdf = await receiptPdf(base);
    expect(Buffer.isBuffer(pdf)).toBe(true);
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.length).toBeGreaterThan(1000);
    expect(pdf.length).toBeLessThan(50_000);
    const raw = pdf.toString('latin1');
    expect(raw).toContain('(Ricevuta R-2026-000123)'); // document title
    expect(raw).toContain('(tserve)'); // creator
    expect(raw).toContain('D:20260715223005Z'); // creation date = bookedAt
    expect(raw).toMatch(/\/BaseFont \/[A-Z]{6}\+DejaVuSansCondensed-Bold\b/); // embedded (a subset), never a standard font
    expect(raw).not.toContain('/Helvetica');
    expect(raw).toContain('/Count 1');
  });

  it('carries the same content as the text receipt', async () => {
    const runs = pdfTextRuns(await receiptPdf(base));
    const all = runs.join('\n');
    for (const s of [
      'T-SERVE PRATO',
      'RICEVUTA DI PAGAMENTO',
      'R-2026-000123',
      'Comune di Prato',
      '301000000000012345',
      'EUR 1.234,56',
      'EUR 1,50',
      'TOTALE',
      'EUR 1.236,06',
      '16/07/2026',
      '00:30:05',
      '633012345678',
      'A1B2C3',
      'T0000042',
    ]) {
      expect(all).toContain(s);
    }
    expect(all).not.toContain('ANNULLATO');
  });

  it('shows the reversed banner and wraps long content onto one taller page', async () => {
    const short = await receiptPdf(base);
    const pdf = await receiptPdf({ ...longOne, reversed: true });
    const raw = pdf.toString('latin1');
    expect(raw).toContain('/Count 1');
    expect(pdfTextRuns(pdf).join('\n')).toContain('ANNULLATO / REVERSED');
    const height = (b: Buffer): number => Number(/\/MediaBox \[0 0 [\d.]+ ([\d.]+)\]/.exec(b.toString('latin1'))?.[1]);
    expect(height(pdf)).toBeGreaterThan(height(short));
    expect(squash(pdfTextRuns(pdf).join(''))).toContain(squash(longOne.description).slice(0, 30));
  });

  it('is deterministic', async () => {
    const a = await receiptPdf(base);
    const b = await receiptPdf(base);
    expect(a.equals(b)).toBe(true);
  });
});
