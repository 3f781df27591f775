// Dates and business days in Europe/Rome. A date is a 'YYYY-MM-DD' string of the
// Rome calendar; an instant is UTC milliseconds. Calendar arithmetic on dates is
// done on UTC midnights, where every day has 24 hours.

const DAY_MS = 86_400_000;
const TIME_ZONE = 'Europe/Rome';

// ---------------------------------------------------------------------------
// Dates as strings

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** UTC midnight of a date; throws on anything that is not a real calendar date. */
function dateToUtcMs(date: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (m) {
    const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    if (utcMsToDate(ms) === date) return ms;
  }
  throw new RangeError(`not a date (YYYY-MM-DD): "${date}"`);
}

function utcMsToDate(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

export function isIsoDate(s: string): boolean {
  try {
    dateToUtcMs(s);
    return true;
  } catch {
    return false;
  }
}

export function addDays(date: string, n: number): string {
  return utcMsToDate(dateToUtcMs(date) + n * DAY_MS);
}

/** Calendar days from `from` to `to` (negative if `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  return Math.round((dateToUtcMs(to) - dateToUtcMs(from)) / DAY_MS);
}

/** 0 Sunday .. 6 Saturday. */
export function weekday(date: string): number {
  return new Date(dateToUtcMs(date)).getUTCDay();
}

// ---------------------------------------------------------------------------
// Instants and Rome wall-clock time

let romeFormatter: Intl.DateTimeFormat | undefined;

function formatter(): Intl.DateTimeFormat {
  romeFormatter ??= new Intl.DateTimeFormat('en-GB', {
    timeZone: TIME_ZONE,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  return romeFormatter;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function formatterWallClock(instantMs: number): WallClock {
  const wall: Record<string, number> = {};
  for (const part of formatter().formatToParts(new Date(instantMs))) {
    if (part.type !== 'literal') wall[part.type] = Number(part.value);
  }
  return {
    year: wall.year!,
    month: wall.month!,
    day: wall.day!,
    hour: wall.hour!,
    minute: wall.minute!,
    second: wall.second!,
  };
}

// Rome's offset from UTC only changes on a whole UTC hour (01:00 UTC, both ways), so it
// is asked of Intl once per hour and cached: formatting every instant is the slowest
// thing a payment did.
const offsetByHour = new Map<number, number>();
const HOUR_MS = 3_600_000;

function romeOffsetMs(instantMs: number): number {
  const hour = Math.floor(instantMs / HOUR_MS);
  let offset = offsetByHour.get(hour);
  if (offset === undefined) {
    const start = hour * HOUR_MS;
    const w = formatterWallClock(start);
    offset = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - start;
    if (offsetByHour.size > 50_000) offsetByHour.clear();
    offsetByHour.set(hour, offset);
  }
  return offset;
}

function romeWallClock(instantMs: number): WallClock {
  const d = new Date(instantMs + romeOffsetMs(instantMs));
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

/** Rome wall-clock time of an instant, written as if it were UTC (ms kept). */
function romeWallMs(instantMs: number): number {
  const w = romeWallClock(instantMs);
  const ms = ((instantMs % 1000) + 1000) % 1000;
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) + ms;
}

export interface RomeParts {
  date: string; // YYYY-MM-DD
  time: string; // HH:MM:SS
  hhmmss: string; // HHMMSS (ISO 8583 field 12)
  mmdd: string; // MMDD (ISO 8583 field 13)
}

export function romeParts(instantMs: number): RomeParts {
  const w = romeWallClock(instantMs);
  return {
    date: `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`,
    time: `${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`,
    hhmmss: `${pad(w.hour)}${pad(w.minute)}${pad(w.second)}`,
    mmdd: `${pad(w.month)}${pad(w.day)}`,
  };
}

export function romeDate(instantMs: number): string {
  return romeParts(instantMs).date;
}

/** 'HH:MM' or 'HH:MM:SS' → milliseconds since midnight. */
function timeToMs(time: string): number {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(time);
  const [h, min, s] = m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [NaN, NaN, NaN];
  if (!(h <= 23 && min <= 59 && s <= 59)) throw new RangeError(`not a time (HH:MM or HH:MM:SS): "${time}"`);
  return ((h * 60 + min) * 60 + s) * 1000;
}

/**
 * The instant of a Rome wall-clock time. When clocks jump forward the skipped
 * times do not exist: we take the instant the gap ends (03:00 CEST), which is the
 * first instant whose wall clock is at or after the requested time. When clocks
 * go back the repeated hour is ambiguous: we take its first occurrence (CEST).
 */
export function romeInstant(date: string, time = '00:00:00'): number {
  const wall = dateToUtcMs(date) + timeToMs(time);
  // The offsets in force a day either side bracket any transition near this time.
  const offsets = [wall - DAY_MS, wall + DAY_MS].map((t) => romeWallMs(t) - t);
  const candidates = [...new Set(offsets)].map((offset) => wall - offset).sort((a, b) => a - b);
  for (const instant of candidates) {
    if (romeWallMs(instant) === wall) return instant; // earliest match = first occurrence
  }
  // In a gap: find the first instant whose wall clock passes the requested time.
  let lo = candidates[0]!;
  let hi = candidates[candidates.length - 1]!;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (romeWallMs(mid) > wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

// ---------------------------------------------------------------------------
// Holidays and working days

/** Easter Sunday of the Gregorian calendar (anonymous Gregorian algorithm). */
export function easterSunday(year: number): string {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
}

/** Fixed national holidays (MM-DD); 26 Dec is also Prato's patron saint. */
export const FIXED_HOLIDAYS: readonly string[] = [
  '01-01', // Capodanno
  '01-06', // Epifania
  '04-25', // Liberazione
  '05-01', // Festa del lavoro
  '06-02', // Festa della Repubblica
  '08-15', // Ferragosto
  '11-01', // Ognissanti
  '12-08', // Immacolata
  '12-25', // Natale
  '12-26', // Santo Stefano
];

const holidaysByYear = new Map<number, ReadonlySet<string>>();

function holidaySet(year: number): ReadonlySet<string> {
  let set = holidaysByYear.get(year);
  if (!set) {
    const easterMonday = addDays(easterSunday(year), 1);
    set = new Set([...FIXED_HOLIDAYS.map((mmdd) => `${pad(year, 4)}-${mmdd}`), easterMonday]);
    holidaysByYear.set(year, set);
  }
  return set;
}

/** The holidays of a year, sorted (domain.md §5), Easter Monday included. */
export function italianHolidays(year: number): string[] {
  return [...holidaySet(year)].sort();
}

export function isHoliday(date: string): boolean {
  dateToUtcMs(date); // validate
  return holidaySet(Number(date.slice(0, 4))).has(date);
}

/** Monday to Friday and not a holiday. */
export function isWorkingDay(date: string): boolean {
  const day = weekday(date);
  return day !== 0 && day !== 6 && !isHoliday(date);
}

/** The date itself if it is a working day, else the next one. */
export function nextWorkingDay(date: string): string {
  let d = date;
  while (!isWorkingDay(d)) d = addDays(d, 1);
  return d;
}

/** A tax deadline ending on a Saturday, Sunday or holiday moves to the next working day (IMU). */
export const shiftToWorkingDay = nextWorkingDay;

/**
 * The last day of a civil-law term (art. 2963 c.c.): a term that ends on a Sunday or a
 * public holiday moves to the next day that is neither. A Saturday is an ordinary day
 * here, unlike tax deadlines (shiftToWorkingDay).
 */
export function civilTermEnd(date: string): string {
  let d = date;
  while (weekday(d) === 0 || isHoliday(d)) d = addDays(d, 1);
  return d;
}

// ---------------------------------------------------------------------------
// Settlement windows

/**
 * The calendar day whose window contains the instant: the Rome date, or the
 * next day once the Rome wall clock has reached the cutoff. With the default
 * cutoff '00:00' it is simply the Rome date. The cutoff is placed with
 * romeInstant, so on DST days the windows still tile time with no gap or overlap
 * (a cutoff in the skipped hour falls when the gap ends; in the repeated hour,
 * at its first occurrence).
 */
export function windowDate(instantMs: number, cutoff = '00:00'): string {
  const day = romeDate(instantMs);
  if (timeToMs(cutoff) === 0) return day;
  return instantMs >= romeInstant(day, cutoff) ? addDays(day, 1) : day;
}

/**
 * The business day whose settlement window contains the instant: its window
 * date, moved to the next working day (weekend and holiday payments settle on
 * the next working day).
 */
export function settlementDate(instantMs: number, cutoff = '00:00'): string {
  return nextWorkingDay(windowDate(instantMs, cutoff));
}
