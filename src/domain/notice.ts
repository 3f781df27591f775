// pagoPA notice number (codice avviso), 18 digits (domain.md §4.1).
// We enforce the check digits: a mistyped notice must never reach a debt position.

export type NoticeAux = 0 | 1 | 2 | 3;

export type NoticeCheck =
  | { ok: true; notice: string; auxDigit: NoticeAux; iuv: string }
  | { ok: false; reason: string };

/** Layout by aux digit: where the IUV starts and whether the last two digits are a check. */
export const NOTICE_LAYOUTS: Readonly<Record<NoticeAux, { iuvStart: number; checked: boolean; layout: string }>> = {
  0: { iuvStart: 3, checked: true, layout: '0 + application code (2) + IUV base (13) + check (2)' },
  1: { iuvStart: 1, checked: false, layout: '1 + IUV (17)' },
  2: { iuvStart: 1, checked: true, layout: '2 + IUV base (15) + check (2)' },
  3: { iuvStart: 1, checked: true, layout: '3 + segregation code (2) + IUV base (13) + check (2)' },
};

/** Segregation codes reserved nationally (aux 3); an entity must not use them for its own notices. */
export const RESERVED_SEGREGATION_CODES: Readonly<Record<string, string>> = {
  '96': 'ACI bollo auto',
  '85': 'TARI/TEFA',
  '47': 'canone unico',
  '99': 'CIE',
};

/** The first 16 digits modulo 93, two digits. 16 digits exceed 2^53, hence BigInt. */
export function noticeCheckDigits(first16: string): string {
  if (!/^\d{16}$/.test(first16)) throw new RangeError(`check digits need exactly 16 digits, got "${first16}"`);
  return (BigInt(first16) % 93n).toString().padStart(2, '0');
}

function isAux(d: number): d is NoticeAux {
  return d === 0 || d === 1 || d === 2 || d === 3;
}

/** Validates a notice number as typed or scanned; printed notices group digits in fours, so spaces are ignored. */
export function checkNoticeNumber(input: string): NoticeCheck {
  const notice = input.replace(/\s+/g, '');
  if (notice === '') return { ok: false, reason: 'notice number is empty' };
  if (!/^\d+$/.test(notice)) return { ok: false, reason: 'notice number must contain digits only' };
  if (notice.length !== 18) return { ok: false, reason: `notice number must be 18 digits, got ${notice.length}` };
  const aux = Number(notice[0]);
  if (!isAux(aux)) return { ok: false, reason: `aux digit ${aux} is not valid (must be 0, 1, 2 or 3)` };
  const layout = NOTICE_LAYOUTS[aux];
  if (layout.checked) {
    const expected = noticeCheckDigits(notice.slice(0, 16));
    if (notice.slice(16) !== expected) return { ok: false, reason: `check digits should be ${expected}` };
  }
  return { ok: true, notice, auxDigit: aux, iuv: notice.slice(layout.iuvStart) };
}

/**
 * Builds a notice number: aux 0, 2, 3 take the 15 digits after the aux digit and
 * get check digits appended; aux 1 takes the 17-digit IUV as is.
 */
export function buildNoticeNumber(aux: 0 | 2 | 3, body15: string): string;
export function buildNoticeNumber(aux: 1, body17: string): string;
export function buildNoticeNumber(aux: NoticeAux, body: string): string;
export function buildNoticeNumber(aux: NoticeAux, body: string): string {
  const checked = NOTICE_LAYOUTS[aux].checked;
  const length = checked ? 15 : 17;
  if (!new RegExp(`^\\d{${length}}$`).test(body)) {
    throw new RangeError(`aux ${aux} notice needs a body of ${length} digits, got "${body}"`);
  }
  const first = `${aux}${body}`;
  return checked ? first + noticeCheckDigits(first) : first;
}
