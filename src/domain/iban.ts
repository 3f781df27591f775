// IBANs (ISO 13616): the mod-97 check digits and country format (ibantools), plus,
// for Italian IBANs, the CIN letter of the BBAN, which ibantools does not check and
// Italian banks do (a wrong CIN is refused).
import { electronicFormatIBAN, extractIBAN, isValidIBAN } from 'ibantools';

/** Odd-position values of digits/letters, shared by the Italian CIN and the codice fiscale. */
const CIN_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];

/**
 * The CIN letter of an Italian BBAN over ABI (5) + CAB (5) + account (12), i.e. the
 * BBAN without its leading CIN.
 */
export function italianCin(abiCabAccount: string): string {
  const s = abiCabAccount.toUpperCase();
  if (!/^\d{10}[0-9A-Z]{12}$/.test(s)) throw new RangeError(`CIN needs ABI + CAB + 12-character account, got "${abiCabAccount}"`);
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const v = c <= '9' ? c.charCodeAt(0) - 48 : c.charCodeAt(0) - 65;
    sum += i % 2 === 0 ? CIN_ODD[v]! : v; // i is 0-based: even i is an odd position
  }
  return String.fromCharCode(65 + (sum % 26));
}

/** The IBAN in electronic format: no spaces, upper case. */
export function normalizeIban(iban: string): string {
  return electronicFormatIBAN(iban) ?? iban.replace(/\s+/g, '').toUpperCase();
}

/** Why an IBAN is not valid, or null when it is. Spaces are tolerated, lower case is not normalised away. */
export function ibanProblem(iban: string): string | null {
  const s = iban.replace(/\s+/g, '');
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(s)) return 'not an IBAN (country, check digits, then 11 to 30 letters or digits, upper case)';
  if (!isValidIBAN(s)) return 'wrong check digits or length for its country';
  if (s.startsWith('IT') || s.startsWith('SM')) {
    const bban = extractIBAN(s).bban ?? '';
    if (bban.length !== 23 || italianCin(bban.slice(1)) !== bban[0]) return 'wrong CIN letter';
  }
  return null;
}

/** A valid IBAN: check digits and country format, and for Italy (and San Marino) the CIN. */
export function isValidIban(iban: string): boolean {
  return ibanProblem(iban) === null;
}
