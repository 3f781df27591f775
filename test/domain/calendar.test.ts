import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addDays,
  daysBetween,
  easterSunday,
  isHoliday,
  isIsoDate,
  isWorkingDay,
  italianHolidays,
  nextWorkingDay,
  romeDate,
  romeInstant,
  romeParts,
  settlementDate,
  shiftToWorkingDay,
  weekday,
  windowDate,
} from '../../src/domain/calendar.js';

const utc = (iso: string): number => Date.parse(iso);
const HOUR = 3_600_000;

describe('date arithmetic', () => {
  it('adds days across months, years and leap days', () => {
    expect(addDays('2025-03-05', 5)).toBe('2025-03-10');
    expect(addDays('2025-03-05', 60)).toBe('2025-05-04');
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2025-02-28', 1)).toBe('2025-03-01');
    expect(addDays('2025-12-31', 1)).toBe('2026-01-01');
    expect(addDays('2025-01-01', -1)).toBe('2024-12-31');
  });

  it('counts calendar days, to − from, unaffected by DST', () => {
    expect(daysBetween('2025-03-05', '2025-05-04')).toBe(60);
    expect(daysBetween('2025-03-29', '2025-03-31')).toBe(2);
    expect(daysBetween('2025-10-27', '2025-10-25')).toBe(-2);
  });

  it('daysBetween inverts addDays (property)', () => {
    const date = fc.integer({ min: 0, max: 36_500 }).map((n) => addDays('2000-01-01', n));
    fc.assert(
      fc.property(date, fc.integer({ min: -5000, max: 5000 }), (d, n) => {
        expect(daysBetween(d, addDays(d, n))).toBe(n);
      }),
    );
  });

  it('knows weekdays (0 Sunday)', () => {
    expect(weekday('2025-03-30')).toBe(0);
    expect(weekday('2025-03-10')).toBe(1);
    expect(weekday('2025-03-15')).toBe(6);
  });

  it('refuses what is not a date', () => {
    expect(isIsoDate('2025-02-29')).toBe(false);
    expect(isIsoDate('2025-2-3')).toBe(false);
    expect(isIsoDate('2024-02-29')).toBe(true);
    expect(() => addDays('2025-13-01', 1)).toThrow(RangeError);
    expect(() => weekday('')).toThrow(RangeError);
  });
});

describe('Rome wall clock', () => {
  it('gives the date and time in Rome, CET and CEST', () => {
    expect(romeParts(utc('2025-01-01T12:03:04Z'))).toEqual({ date: '2025-01-01', time: '13:03:04', hhmmss: '130304', mmdd: '0101' });
    expect(romeParts(utc('2025-07-15T22:30:00Z'))).toEqual({ date: '2025-07-16', time: '00:30:00', hhmmss: '003000', mmdd: '0716' });
    expect(romeDate(utc('2025-12-31T22:59:59.999Z'))).toBe('2025-12-31');
    expect(romeDate(utc('2025-12-31T23:00:00.000Z'))).toBe('2026-01-01');
  });

  it('finds the instant of an ordinary wall-clock time', () => {
    expect(romeInstant('2025-01-15')).toBe(utc('2025-01-14T23:00:00Z'));
    expect(romeInstant('2025-07-15', '12:00')).toBe(utc('2025-07-15T10:00:00Z'));
    expect(romeInstant('2025-07-15', '23:59:59')).toBe(utc('2025-07-15T21:59:59Z'));
  });

  it('spring forward (last Sunday of March): 02:00–02:59 do not exist and map to the end of the gap', () => {
    // 2025-03-30: at 02:00 CET clocks jump to 03:00 CEST (01:00 UTC).
    expect(romeInstant('2025-03-30', '00:00')).toBe(utc('2025-03-29T23:00:00Z'));
    expect(romeInstant('2025-03-30', '01:59:59')).toBe(utc('2025-03-30T00:59:59Z'));
    expect(romeInstant('2025-03-30', '02:00')).toBe(utc('2025-03-30T01:00:00Z'));
    expect(romeInstant('2025-03-30', '02:30')).toBe(utc('2025-03-30T01:00:00Z'));
    expect(romeInstant('2025-03-30', '03:00')).toBe(utc('2025-03-30T01:00:00Z'));
    expect(romeInstant('2025-03-30', '12:00')).toBe(utc('2025-03-30T10:00:00Z'));
    // The day lasts 23 hours.
    expect(romeInstant('2025-03-31') - romeInstant('2025-03-30')).toBe(23 * HOUR);
    expect(romeParts(utc('2025-03-30T00:59:59Z')).time).toBe('01:59:59');
    expect(romeParts(utc('2025-03-30T01:00:00Z')).time).toBe('03:00:00');
  });

  it('fall back (last Sunday of October): the repeated hour takes its first occurrence', () => {
    // 2025-10-26: at 03:00 CEST clocks go back to 02:00 CET (01:00 UTC).
    expect(romeInstant('2025-10-26', '00:00')).toBe(utc('2025-10-25T22:00:00Z'));
    expect(romeInstant('2025-10-26', '02:00')).toBe(utc('2025-10-26T00:00:00Z'));
    expect(romeInstant('2025-10-26', '02:30')).toBe(utc('2025-10-26T00:30:00Z'));
    expect(romeInstant('2025-10-26', '03:00')).toBe(utc('2025-10-26T02:00:00Z'));
    expect(romeInstant('2025-10-26', '12:00')).toBe(utc('2025-10-26T11:00:00Z'));
    // The day lasts 25 hours; both 02:30 map back to the same wall clock.
    expect(romeInstant('2025-10-27') - romeInstant('2025-10-26')).toBe(25 * HOUR);
    expect(romeParts(utc('2025-10-26T00:30:00Z')).time).toBe('02:30:00');
    expect(romeParts(utc('2025-10-26T01:30:00Z')).time).toBe('02:30:00');
  });

  it('romeParts(romeInstant(d, t)) is (d, t) for every existing time (property)', () => {
    const date = fc.integer({ min: 0, max: 365 * 30 }).map((n) => addDays('2010-01-01', n));
    const time = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }))
      .map(([h, m, s]) => [h, m, s].map((n) => String(n).padStart(2, '0')).join(':'));
    fc.assert(
      fc.property(date, time, (d, t) => {
        const parts = romeParts(romeInstant(d, t));
        // Only times inside the spring gap differ: they land on 03:00 of the same day.
        if (parts.time !== t) expect([parts.date, parts.time, t.slice(0, 2)]).toEqual([d, '03:00:00', '02']);
        else expect(parts.date).toBe(d);
      }),
    );
  });

  it('refuses malformed times', () => {
    expect(() => romeInstant('2025-01-01', '24:00')).toThrow(RangeError);
    expect(() => romeInstant('2025-01-01', '9:00')).toThrow(RangeError);
  });
});

describe('holidays (domain.md §5)', () => {
  it.each([
    [2019, '2019-04-21'],
    [2024, '2024-03-31'],
    [2025, '2025-04-20'],
    [2026, '2026-04-05'],
    [2027, '2027-03-28'],
    [2038, '2038-04-25'],
  ])('Easter %d is %s', (year, date) => {
    expect(easterSunday(year)).toBe(date);
  });

  it('lists the holidays of 2025 with Easter Monday and 26 Dec', () => {
    expect(italianHolidays(2025)).toEqual([
      '2025-01-01', '2025-01-06', '2025-04-21', '2025-04-25', '2025-05-01', '2025-06-02',
      '2025-08-15', '2025-11-01', '2025-12-08', '2025-12-25', '2025-12-26',
    ]);
  });

  it('working days are Monday to Friday and not holidays', () => {
    expect(isHoliday('2025-04-21')).toBe(true); // Easter Monday
    expect(isHoliday('2025-04-20')).toBe(false); // Easter Sunday: a Sunday, not in the list
    expect(isWorkingDay('2025-04-21')).toBe(false);
    expect(isWorkingDay('2025-04-22')).toBe(true);
    expect(isWorkingDay('2025-03-08')).toBe(false); // Saturday
    expect(isWorkingDay('2025-03-09')).toBe(false); // Sunday
    expect(isWorkingDay('2025-12-26')).toBe(false); // Santo Stefano, Prato's patron
  });

  it('moves to the next working day', () => {
    expect(nextWorkingDay('2025-03-10')).toBe('2025-03-10'); // a working day stays
    expect(nextWorkingDay('2025-05-04')).toBe('2025-05-05'); // Sunday
    expect(nextWorkingDay('2025-04-19')).toBe('2025-04-22'); // Saturday, Sunday, Easter Monday
    expect(nextWorkingDay('2025-12-24')).toBe('2025-12-24');
    expect(nextWorkingDay('2025-12-25')).toBe('2025-12-29'); // 25, 26, weekend
    expect(nextWorkingDay('2025-05-31')).toBe('2025-06-03'); // Saturday, Sunday, 2 June
    expect(shiftToWorkingDay('2026-12-16')).toBe('2026-12-16'); // IMU balance, a Wednesday
    expect(shiftToWorkingDay('2029-06-16')).toBe('2029-06-18'); // IMU first half on a Saturday
  });
});

describe('settlementDate', () => {
  it('with the default midnight cutoff, a working day is its own window', () => {
    // Tuesday 2025-03-04 in Rome (CET, UTC+1).
    expect(settlementDate(utc('2025-03-03T23:00:00.000Z'))).toBe('2025-03-04'); // 00:00:00.000
    expect(settlementDate(utc('2025-03-04T22:59:59.999Z'))).toBe('2025-03-04'); // 23:59:59.999
    expect(settlementDate(utc('2025-03-04T23:00:00.000Z'))).toBe('2025-03-05'); // next day's 00:00
    expect(settlementDate(utc('2025-03-03T22:59:59.999Z'))).toBe('2025-03-03'); // Monday 23:59:59.999
  });

  it('weekend and holiday payments settle on the next working day', () => {
    expect(settlementDate(utc('2025-03-08T10:00:00Z'))).toBe('2025-03-10'); // Saturday
    expect(settlementDate(utc('2025-03-09T10:00:00Z'))).toBe('2025-03-10'); // Sunday
    expect(settlementDate(utc('2025-04-21T10:00:00Z'))).toBe('2025-04-22'); // Easter Monday
    expect(settlementDate(utc('2025-04-25T10:00:00Z'))).toBe('2025-04-28'); // Friday 25 April
  });

  it('with a cutoff, what is booked at or after it belongs to the next day', () => {
    // Thursday 2025-03-06, cutoff 22:00 Rome = 21:00 UTC.
    expect(settlementDate(utc('2025-03-06T20:59:59.999Z'), '22:00')).toBe('2025-03-06');
    expect(settlementDate(utc('2025-03-06T21:00:00.000Z'), '22:00')).toBe('2025-03-07');
    // Friday after the cutoff belongs to Saturday, which settles on Monday.
    expect(settlementDate(utc('2025-03-07T21:30:00Z'), '22:00')).toBe('2025-03-10');
    // Summer time: cutoff 22:00 Rome = 20:00 UTC.
    expect(settlementDate(utc('2025-07-15T19:59:59.999Z'), '22:00')).toBe('2025-07-15');
    expect(settlementDate(utc('2025-07-15T20:00:00.000Z'), '22:00')).toBe('2025-07-16');
  });

  it('on DST change days the windows follow the wall clock', () => {
    // Spring: Monday 2025-03-31 starts at 22:00 UTC on Sunday (CEST).
    expect(settlementDate(utc('2025-03-30T21:59:59.999Z'))).toBe('2025-03-31'); // Sunday 23:59:59.999 → Monday
    expect(settlementDate(utc('2025-03-30T22:00:00.000Z'))).toBe('2025-03-31');
    expect(settlementDate(utc('2025-03-31T21:59:59.999Z'))).toBe('2025-03-31');
    expect(settlementDate(utc('2025-03-31T22:00:00.000Z'))).toBe('2025-04-01');
    // Friday before autumn: Saturday 2025-10-25 starts at 22:00 UTC (still CEST).
    expect(settlementDate(utc('2025-10-24T21:59:59.999Z'))).toBe('2025-10-24');
    expect(settlementDate(utc('2025-10-24T22:00:00.000Z'))).toBe('2025-10-27');
    // Monday after autumn: starts at 23:00 UTC on Sunday (CET).
    expect(settlementDate(utc('2025-10-27T22:59:59.999Z'))).toBe('2025-10-27');
    expect(settlementDate(utc('2025-10-27T23:00:00.000Z'))).toBe('2025-10-28');
  });

  it('a cutoff inside the skipped or repeated hour cuts once (windowDate, before moving to a working day)', () => {
    // Spring Sunday 2025-03-30, cutoff 02:30 does not exist: the window turns when the gap ends, 01:00 UTC.
    expect(windowDate(utc('2025-03-30T00:59:59.999Z'), '02:30')).toBe('2025-03-30'); // 01:59:59.999 CET
    expect(windowDate(utc('2025-03-30T01:00:00.000Z'), '02:30')).toBe('2025-03-31'); // 03:00 CEST
    // Autumn Sunday 2025-10-26, cutoff 02:30 happens twice: the first one (00:30 UTC) turns the window,
    // and the repeated 02:00–02:30 CET that follows stays in the next day's window.
    expect(windowDate(utc('2025-10-26T00:29:59.999Z'), '02:30')).toBe('2025-10-26');
    expect(windowDate(utc('2025-10-26T00:30:00.000Z'), '02:30')).toBe('2025-10-27');
    expect(windowDate(utc('2025-10-26T01:10:00.000Z'), '02:30')).toBe('2025-10-27'); // 02:10 CET
    // Default midnight: the window is the Rome date, 23 and 25 hours long on these days.
    expect(windowDate(utc('2025-03-29T23:00:00.000Z'))).toBe('2025-03-30');
    expect(windowDate(utc('2025-03-30T21:59:59.999Z'))).toBe('2025-03-30');
    expect(windowDate(utc('2025-10-25T22:00:00.000Z'))).toBe('2025-10-26');
    expect(windowDate(utc('2025-10-26T22:59:59.999Z'))).toBe('2025-10-26');
    expect(windowDate(utc('2025-10-26T23:00:00.000Z'))).toBe('2025-10-27');
  });

  it('windows tile time: windowDate never goes back and never skips a day (property)', () => {
    const start = utc('2024-01-01T00:00:00Z');
    const anyTime = fc.integer({ min: 0, max: 4 * 365 * 24 * 60 }).map((min) => start + min * 60_000);
    // Half the runs start within three hours of a DST change (01:00 UTC on the last Sunday of March and October).
    const changes = ['2024-03-31', '2024-10-27', '2025-03-30', '2025-10-26', '2026-03-29', '2026-10-25'].map((d) => utc(`${d}T01:00:00Z`));
    const nearChange = fc.tuple(fc.constantFrom(...changes), fc.integer({ min: -180, max: 60 })).map(([c, min]) => c + min * 60_000);
    const instant = fc.oneof(anyTime, nearChange);
    const cutoff = fc.constantFrom('00:00', '02:00', '02:30', '03:00', '18:00', '22:00', '23:59');
    fc.assert(
      fc.property(instant, cutoff, (t, c) => {
        // Minute by minute over two hours, the window date steps by 0 or 1 day.
        let previous = windowDate(t, c);
        for (let m = 1; m <= 120; m++) {
          const next = windowDate(t + m * 60_000, c);
          expect(daysBetween(previous, next)).toBeGreaterThanOrEqual(0);
          expect(daysBetween(previous, next)).toBeLessThanOrEqual(1);
          previous = next;
        }
      }),
      { numRuns: 50 },
    );
  });

  it('never goes back in time, whatever the cutoff (property)', () => {
    const start = utc('2024-01-01T00:00:00Z');
    const instant = fc.integer({ min: 0, max: 4 * 365 * 24 * 60 }).map((min) => start + min * 60_000);
    const cutoff = fc.constantFrom('00:00', '02:00', '02:30', '03:00', '18:00', '22:00', '23:59');
    fc.assert(
      fc.property(instant, fc.integer({ min: 0, max: 3 * 24 * 60 }), cutoff, (t, gapMin, c) => {
        const a = settlementDate(t, c);
        const b = settlementDate(t + gapMin * 60_000, c);
        expect(a <= b).toBe(true);
        expect(isWorkingDay(a)).toBe(true);
      }),
    );
  });

  it('the cutoff splits the Rome day exactly at romeInstant(day, cutoff) (property)', () => {
    const day = fc.integer({ min: 0, max: 3 * 365 }).map((n) => addDays('2024-01-01', n));
    const cutoff = fc.constantFrom('01:00', '02:30', '12:00', '18:00', '22:00', '23:30');
    fc.assert(
      fc.property(day, cutoff, (d, c) => {
        const edge = romeInstant(d, c);
        expect(settlementDate(edge - 1, c)).toBe(nextWorkingDay(d));
        expect(settlementDate(edge, c)).toBe(nextWorkingDay(addDays(d, 1)));
      }),
    );
  });
});
