// Italian formats for the console, pure functions (unit-tested in test/console/format.test.ts):
// money from integer cents as "1.234,56 €", days as dd/mm/yyyy, times in Europe/Rome.

const TZ = 'Europe/Rome';

// it-IT groups only from five digits ("1234,56 €"): an office reads "1.234,56 €", so
// grouping is forced. Spaces are plain (ICU versions differ: U+00A0 or U+202F); the
// style sheet keeps an amount on one line.
const EURO = new Intl.NumberFormat('it-IT', { style: 'currency', currency: 'EUR', useGrouping: 'always' });
const COUNT = new Intl.NumberFormat('it-IT', { useGrouping: 'always', maximumFractionDigits: 0 });
const STAMP = new Intl.DateTimeFormat('it-IT', {
  timeZone: TZ, day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const MONTH = new Intl.DateTimeFormat('it-IT', { timeZone: 'UTC', month: 'long', year: 'numeric' });

const plainSpaces = (s) => s.replace(/[\u00a0\u202f]/g, ' ');

/** Integer cents as euros, "1.234,56 €"; a fraction of a cent is rounded (amounts are whole cents). */
export function euro(cents) {
  if (cents === null || cents === undefined || !Number.isFinite(Number(cents))) return '—';
  const c = Math.round(Number(cents));
  // Integer cents divided by 100: the double nearest the decimal, whose shortest form ICU prints.
  return plainSpaces(EURO.format(c / 100));
}

/** A count, "12.345". */
export function count(n) {
  if (n === null || n === undefined || !Number.isFinite(Number(n))) return '—';
  return plainSpaces(COUNT.format(Number(n)));
}

function parts(instant) {
  const d = instant instanceof Date ? instant : new Date(instant);
  if (Number.isNaN(d.getTime())) return null;
  const p = {};
  for (const { type, value } of STAMP.formatToParts(d)) p[type] = value;
  return p;
}

/** An instant (ISO string, epoch ms or Date) as its Rome day, "29/03/2026". */
export function romeDate(instant) {
  const p = parts(instant);
  return p ? `${p.day}/${p.month}/${p.year}` : '—';
}

/** An instant as its Rome time, "03:00:00". */
export function romeTime(instant) {
  const p = parts(instant);
  return p ? `${p.hour}:${p.minute}:${p.second}` : '—';
}

/** An instant as "29/03/2026 03:00:00", Rome time. */
export function romeDateTime(instant) {
  const p = parts(instant);
  return p ? `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}:${p.second}` : '—';
}

/** A calendar day YYYY-MM-DD (a settlement date: no time zone to apply) as "27/11/2026". */
export function day(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso ?? ''));
  return m ? `${m[3]}/${m[2]}/${m[1]}` : '—';
}

/** A month YYYY-MM as "novembre 2026". */
export function month(ym) {
  const m = /^(\d{4})-(\d{2})$/.exec(String(ym ?? ''));
  return m ? MONTH.format(new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1))) : '—';
}

/** The calendar day of an instant in Rome, YYYY-MM-DD (for date fields and queries). */
export function romeIsoDate(instant) {
  const p = parts(instant);
  return p ? `${p.year}-${p.month}-${p.day}` : '';
}

/** The month before the one of a day YYYY-MM-DD, YYYY-MM (the last month an invoice may be asked for). */
export function previousMonth(isoDay) {
  const [y, m] = String(isoDay).split('-').map(Number);
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}
