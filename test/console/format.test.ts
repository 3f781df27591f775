// The console's Italian formats (src/console/public/format.js, the module the browser
// loads): money from integer cents, days, and Rome times across the DST changes.
import { describe, expect, it } from 'vitest';
import { count, day, euro, month, previousMonth, romeDate, romeDateTime, romeIsoDate, romeTime } from '../../src/console/public/format.js';

describe('euro: integer cents as "1.234,56 €"', () => {
  it('groups thousands with a dot from four digits on, a decimal comma, a plain space before €', () => {
    expect(euro(123456)).toBe('1.234,56 €');
    expect(euro(100000)).toBe('1.000,00 €');
    expect(euro(99999)).toBe('999,99 €');
    expect(euro(123456789012)).toBe('1.234.567.890,12 €');
    expect(euro(0)).toBe('0,00 €');
    expect(euro(5)).toBe('0,05 €');
    expect(euro(-123456)).toBe('-1.234,56 €');
  });

  it('prints every cent exactly: no binary rounding of cents/100', () => {
    // 1.15, 10.05, 26.75... have no exact double; the division still prints the cents given.
    for (const cents of [115, 1005, 1015, 2675, 100005, 450_359_962_737_049]) {
      const s = String(cents).padStart(3, '0');
      const euros = s.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, '.');
      expect(euro(cents), String(cents)).toBe(`${euros},${s.slice(-2)} €`);
    }
    for (let cents = 0; cents < 20_000; cents += 7) expect(euro(cents).endsWith(`,${String(cents % 100).padStart(2, '0')} €`)).toBe(true);
  });

  it('rounds a stray fraction of a cent half away from zero, and shows a dash for nothing', () => {
    expect(euro(1234.5)).toBe('12,35 €');
    expect(euro(1234.4)).toBe('12,34 €');
    expect(euro(null)).toBe('—');
    expect(euro(undefined)).toBe('—');
  });

  it('counts with the same grouping', () => {
    expect(count(1234)).toBe('1.234');
    expect(count(12)).toBe('12');
  });
});

describe('days and times: dd/mm/yyyy, Europe/Rome', () => {
  it('a settlement date is a calendar day, not an instant', () => {
    expect(day('2026-11-27')).toBe('27/11/2026');
    expect(day('nonsense')).toBe('—');
    expect(month('2026-11')).toBe('novembre 2026');
    expect(month('2027-01')).toBe('gennaio 2027');
    expect(previousMonth('2026-01-15')).toBe('2025-12');
    expect(previousMonth('2026-11-29')).toBe('2026-10');
  });

  it('spring forward (29/03/2026): 01:59:59 CET is followed by 03:00:00 CEST', () => {
    expect(romeDateTime('2026-03-29T00:59:59Z')).toBe('29/03/2026 01:59:59');
    expect(romeDateTime('2026-03-29T01:00:00Z')).toBe('29/03/2026 03:00:00');
    expect(romeTime(Date.parse('2026-03-29T01:00:00Z'))).toBe('03:00:00');
  });

  it('fall back (25/10/2026): 02:30 comes twice, an hour apart', () => {
    expect(romeTime('2026-10-25T00:30:00Z')).toBe('02:30:00'); // CEST, UTC+2
    expect(romeTime('2026-10-25T01:30:00Z')).toBe('02:30:00'); // CET, UTC+1
    expect(romeTime('2026-10-25T02:30:00Z')).toBe('03:30:00');
  });

  it("the day is Rome's: a UTC evening is already tomorrow (summer +2, winter +1)", () => {
    expect(romeDate('2026-06-30T22:30:00Z')).toBe('01/07/2026');
    expect(romeIsoDate('2026-06-30T22:30:00Z')).toBe('2026-07-01');
    expect(romeDate('2026-12-31T22:59:59Z')).toBe('31/12/2026');
    expect(romeDate('2026-12-31T23:00:00Z')).toBe('01/01/2027');
    expect(romeDate('not a date')).toBe('—');
  });
});
