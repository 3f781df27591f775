import { describe, expect, it } from 'vitest';
import { isWorkingDay } from '../../src/domain/calendar.js';
import {
  isTarget2BusinessDay,
  isTarget2Holiday,
  nextTarget2BusinessDay,
  target2BusinessDayOnOrAfter,
  target2Holidays,
} from '../../src/domain/target2.js';

describe('TARGET2 calendar', () => {
  it('closes on 1 Jan, Good Friday, Easter Monday, 1 May, 25 and 26 Dec, and nothing else', () => {
    expect(target2Holidays(2026)).toEqual(['2026-01-01', '2026-04-03', '2026-04-06', '2026-05-01', '2026-12-25', '2026-12-26']);
    // Easter 2027 is 28 March, 2025 was 20 April.
    expect(target2Holidays(2027)).toEqual(['2027-01-01', '2027-03-26', '2027-03-29', '2027-05-01', '2027-12-25', '2027-12-26']);
    expect(target2Holidays(2025)).toContain('2025-04-18');
    expect(target2Holidays(2025)).toContain('2025-04-21');
    for (const d of target2Holidays(2026)) expect(isTarget2BusinessDay(d), d).toBe(false);
  });

  it('Italian-only holidays are TARGET2 business days', () => {
    // Epifania, Liberazione (2025: a Friday), Repubblica, Ferragosto (2025: Friday), Ognissanti (2027: Monday), Immacolata.
    for (const d of ['2026-01-06', '2025-04-25', '2026-06-02', '2025-08-15', '2027-11-01', '2026-12-08']) {
      expect(isWorkingDay(d), d).toBe(false);
      expect(isTarget2Holiday(d), d).toBe(false);
      expect(isTarget2BusinessDay(d), d).toBe(true);
    }
  });

  it('weekends are closed; a plain weekday is open', () => {
    expect(isTarget2BusinessDay('2026-11-21')).toBe(false); // Saturday
    expect(isTarget2BusinessDay('2026-11-22')).toBe(false); // Sunday
    expect(isTarget2BusinessDay('2026-11-20')).toBe(true); // Friday
  });

  it('the next business day, strictly after, across each closing', () => {
    expect(nextTarget2BusinessDay('2026-11-20')).toBe('2026-11-23'); // Friday → Monday
    expect(nextTarget2BusinessDay('2026-04-02')).toBe('2026-04-07'); // Thursday before Good Friday → Tuesday after Easter Monday
    expect(nextTarget2BusinessDay('2026-04-30')).toBe('2026-05-04'); // 1 May a Friday → Monday
    expect(nextTarget2BusinessDay('2026-12-24')).toBe('2026-12-28'); // 25 Fri, 26 Sat, 27 Sun
    expect(nextTarget2BusinessDay('2026-12-31')).toBe('2027-01-04'); // 1 Jan a Friday
    expect(nextTarget2BusinessDay('2026-06-01')).toBe('2026-06-02'); // 2 June is open
    expect(nextTarget2BusinessDay('2026-12-07')).toBe('2026-12-08'); // 8 Dec is open
  });

  it('on or after: the day itself when open', () => {
    expect(target2BusinessDayOnOrAfter('2026-11-20')).toBe('2026-11-20');
    expect(target2BusinessDayOnOrAfter('2026-11-21')).toBe('2026-11-23');
    expect(target2BusinessDayOnOrAfter('2026-04-03')).toBe('2026-04-07');
    expect(target2BusinessDayOnOrAfter('2026-12-25')).toBe('2026-12-28');
    expect(target2BusinessDayOnOrAfter('2027-01-01')).toBe('2027-01-04');
    expect(() => target2BusinessDayOnOrAfter('2026-02-30')).toThrow(RangeError);
  });
});
