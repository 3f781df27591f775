// The CSV dialect layer (settlement/csv-dialect.ts): cents to "1234,56" exactly, for any
// whole number of cents (and back), and each column kind as the Italian office's Excel
// reads it, the machine CSV unchanged.
import { parse as parseCsv } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BOM, centsToItalian, CsvTable, italianToCents } from '../../settlement/csv-dialect.js';

describe('cents as Italian Excel reads them', () => {
  it('known values', () => {
    expect(centsToItalian(0)).toBe('0,00');
    expect(centsToItalian(5)).toBe('0,05');
    expect(centsToItalian(-5)).toBe('-0,05');
    expect(centsToItalian(100)).toBe('1,00');
    expect(centsToItalian(123_456)).toBe('1234,56');
    expect(centsToItalian(-123_456)).toBe('-1234,56');
    expect(centsToItalian(-0)).toBe('0,00');
    expect(centsToItalian(Number.MAX_SAFE_INTEGER)).toBe('90071992547409,91');
    expect(() => centsToItalian(1.5)).toThrow(RangeError);
    expect(() => centsToItalian(2 ** 53)).toThrow(RangeError);
  });

  it('any whole number of cents: digits, a comma, two decimals, no thousands separator; and back', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (cents) => {
        const text = centsToItalian(cents);
        expect(text).toMatch(/^-?(0|[1-9]\d*),\d{2}$/);
        expect(italianToCents(text)).toBe(cents === 0 ? 0 : cents);
        // The same figure as the machine CSV's cents, written independently through BigInt.
        const big = BigInt(cents);
        const abs = big < 0n ? -big : big;
        expect(text).toBe(`${big < 0n ? '-' : ''}${abs / 100n},${String(abs % 100n).padStart(2, '0')}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses what is not such an amount', () => {
    for (const bad of ['1.234,56', '1234.56', '12,3', ',50', '1234', '']) expect(() => italianToCents(bad), bad).toThrow(RangeError);
  });
});

describe('a table in both dialects', () => {
  interface Row {
    day: string;
    month: string;
    at: number | null;
    rrn: string;
    name: string;
    count: number;
    cents: number;
    kind: string;
  }
  const table = new CsvTable<Row>([
    { key: 'day', it: 'Giorno', kind: 'date', get: (r) => r.day },
    { key: 'month', it: 'Mese', kind: 'month', get: (r) => r.month },
    { key: 'at', it: 'Data e ora', kind: 'datetime', get: (r) => r.at },
    { key: 'rrn', it: 'RRN', kind: 'code', get: (r) => r.rrn },
    { key: 'name', it: 'Nome; cognome', kind: 'text', get: (r) => r.name },
    { key: 'count', it: 'Numero', kind: 'count', get: (r) => r.count },
    { key: 'cents', it: 'Importo', kind: 'money', get: (r) => r.cents },
    { key: 'kind', it: 'Tipo', kind: 'text', get: (r) => r.kind, labels: { booking: 'pagamento' } },
  ]);
  // 1 July (CEST, UTC+2) and 1 December (CET, UTC+1).
  const rows: Row[] = [
    { day: '2026-07-01', month: '2026-07', at: Date.parse('2026-07-01T22:30:00Z'), rrn: '000000000042', name: 'Rossi; Mario', count: 3, cents: -1999, kind: 'booking' },
    { day: '2026-12-01', month: '2026-12', at: Date.parse('2026-12-01T08:00:01Z'), rrn: 'AB12', name: '=1+1', count: 0, cents: 7, kind: 'other' },
    { day: '2026-12-01', month: '2026-12', at: null, rrn: '', name: '', count: 1, cents: 0, kind: 'booking' },
  ];

  it('machine: comma, cents, ISO UTC, English headers, no BOM', () => {
    expect(table.render(rows, 'machine')).toBe(
      [
        'day,month,at,rrn,name,count,cents,kind',
        '2026-07-01,2026-07,2026-07-01T22:30:00.000Z,000000000042,Rossi; Mario,3,-1999,booking',
        '2026-12-01,2026-12,2026-12-01T08:00:01.000Z,AB12,=1+1,0,7,other',
        '2026-12-01,2026-12,,,,1,0,booking',
        '',
      ].join('\n'),
    );
    expect(table.render(rows.slice(0, 1), 'machine', false)).not.toContain('day');
  });

  it('it: BOM, semicolons, CRLF, euros, Rome times, digit codes kept as text, formulas defused, labels', () => {
    const text = table.render(rows, 'it');
    expect(text.startsWith(BOM)).toBe(true);
    expect(text.slice(1).split('\r\n')).toEqual([
      'Giorno;Mese;Data e ora;RRN;"Nome; cognome";Numero;Importo;Tipo',
      '01/07/2026;07/2026;02/07/2026 00:30:00;"=""000000000042""";"Rossi; Mario";3;-19,99;pagamento',
      "01/12/2026;12/2026;01/12/2026 09:00:01;AB12;'=1+1;0;0,07;other",
      '01/12/2026;12/2026;;;;1;0,00;pagamento',
      '',
    ]);
    const parsed = parseCsv(text, { bom: true, delimiter: ';', columns: true }) as Record<string, string>[];
    expect(parsed[0]!.RRN).toBe('="000000000042"');
    // A later page of a streamed file: no header, no BOM.
    expect(table.render(rows.slice(2), 'it', false)).toBe('01/12/2026;12/2026;;;;1;0,00;pagamento\r\n');
  });

  it('refuses a money cell that is not whole cents', () => {
    expect(() => table.render([{ ...rows[0]!, cents: 0.1 }], 'it')).toThrow(RangeError);
    expect(() => table.render([{ ...rows[0]!, cents: 0.1 }], 'machine')).toThrow(RangeError);
  });
});
