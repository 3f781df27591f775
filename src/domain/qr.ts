// pagoPA QR code payload (domain.md §4.2):
//   PAGOPA|002|<18-digit notice>|<11-digit CF of the entity>|<amount in cents>
// The amount is informative only: the amount due is the one the switch looks up.
import { isValidPartitaIva } from './fiscal-code.js';
import { checkNoticeNumber } from './notice.js';

export const PAGOPA_QR_PREFIX = 'PAGOPA';
export const PAGOPA_QR_VERSION = '002';

export type PagoPaQr =
  | { ok: true; notice: string; entityFiscalCode: string; amountCents: number }
  | { ok: false; reason: string };

export function parsePagoPaQr(payload: string): PagoPaQr {
  // Scanners often append a line end; nothing else is tolerated.
  const qr = payload.trim();
  if (qr.length < 43 || qr.length > 54) {
    return { ok: false, reason: `QR payload must be 43 to 54 characters, got ${qr.length}` };
  }
  const fields = qr.split('|');
  if (fields.length !== 5) return { ok: false, reason: `QR payload must have 5 fields separated by "|", got ${fields.length}` };
  const [prefix, version, notice, entityFiscalCode, amount] = fields as [string, string, string, string, string];
  if (prefix !== PAGOPA_QR_PREFIX) return { ok: false, reason: `QR payload must start with ${PAGOPA_QR_PREFIX}` };
  if (version !== PAGOPA_QR_VERSION) return { ok: false, reason: `QR version must be ${PAGOPA_QR_VERSION}, got "${version}"` };
  if (!/^\d{18}$/.test(notice)) return { ok: false, reason: 'QR notice number must be 18 digits' };
  const check = checkNoticeNumber(notice);
  if (!check.ok) return { ok: false, reason: `QR notice number is invalid: ${check.reason}` };
  if (!/^\d{11}$/.test(entityFiscalCode)) return { ok: false, reason: 'QR entity fiscal code must be 11 digits' };
  if (!isValidPartitaIva(entityFiscalCode)) return { ok: false, reason: 'QR entity fiscal code has a wrong check digit' };
  if (!/^\d{1,12}$/.test(amount)) return { ok: false, reason: 'QR amount must be 1 to 12 digits (cents)' };
  return { ok: true, notice, entityFiscalCode, amountCents: Number(amount) };
}

export function formatPagoPaQr(notice: string, entityFiscalCode: string, amountCents: number): string {
  if (!Number.isSafeInteger(amountCents) || amountCents < 0 || amountCents > 999_999_999_999) {
    throw new RangeError(`QR amount must be 0 to 12 digits of cents, got ${amountCents}`);
  }
  return [PAGOPA_QR_PREFIX, PAGOPA_QR_VERSION, notice.replace(/\s+/g, ''), entityFiscalCode, String(amountCents)].join('|');
}
