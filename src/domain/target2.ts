// The TARGET2 calendar: the days on which the euro's payment system (T2, and with it
// SEPA credit transfers and direct debits between banks) settles. It is closed on
// Saturdays, Sundays, 1 January, Good Friday, Easter Monday, 1 May, 25 and 26 December
// (ECB, "TARGET2 closing days"), and on no other day: Italian holidays such as 6 January,
// 25 April, 2 June, 15 August, 1 November and 8 December are TARGET2 business days.
//
// SEPA dates (the requested execution date of a pain.001, the requested collection date
// of a pain.008) are TARGET2 business days; settlement windows, which follow the Italian
// calendar, are not (src/domain/calendar.ts).
import { addDays, easterSunday, weekday } from './calendar.js';

/** Fixed closing days (MM-DD). */
export const TARGET2_FIXED_CLOSING_DAYS: readonly string[] = ['01-01', '05-01', '12-25', '12-26'];

const closingByYear = new Map<number, ReadonlySet<string>>();

function closingSet(year: number): ReadonlySet<string> {
  let set = closingByYear.get(year);
  if (!set) {
    const easter = easterSunday(year);
    const y = String(year).padStart(4, '0');
    set = new Set([...TARGET2_FIXED_CLOSING_DAYS.map((mmdd) => `${y}-${mmdd}`), addDays(easter, -2), addDays(easter, 1)]);
    closingByYear.set(year, set);
  }
  return set;
}

/** The weekday closing days of a year, sorted: 1 Jan, Good Friday, Easter Monday, 1 May, 25 and 26 Dec. */
export function target2Holidays(year: number): string[] {
  return [...closingSet(year)].sort();
}

/** A TARGET2 holiday (whatever the weekday). Throws on a string that is not a date. */
export function isTarget2Holiday(date: string): boolean {
  weekday(date); // validates
  return closingSet(Number(date.slice(0, 4))).has(date);
}

/** Monday to Friday and not a TARGET2 holiday. */
export function isTarget2BusinessDay(date: string): boolean {
  const day = weekday(date);
  return day !== 0 && day !== 6 && !isTarget2Holiday(date);
}

/** The date itself when it is a TARGET2 business day, else the next one. */
export function target2BusinessDayOnOrAfter(date: string): string {
  let d = date;
  // At most 4 closed days in a row (Good Friday to Easter Monday, or 24–27 Dec around a weekend).
  for (let i = 0; !isTarget2BusinessDay(d); i++) {
    if (i > 7) throw new Error(`no TARGET2 business day within a week of ${date}`);
    d = addDays(d, 1);
  }
  return d;
}

/** The first TARGET2 business day strictly after the date. */
export function nextTarget2BusinessDay(date: string): string {
  return target2BusinessDayOnOrAfter(addDays(date, 1));
}
