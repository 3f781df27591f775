// IBANs (ISO 13616), pure: the shape, the length for each SEPA country, the mod-97
// check digits, and for Italian (and San Marino) IBANs the BBAN layout and its CIN
// letter, which generic IBAN checks (ibantools included) do not verify and Italian
// banks do (a wrong CIN is refused). settlement/iban.ts adds ibantools' per-country
// BBAN formats on top.

/** Odd-position values of digits/letters, shared by the Italian CIN and the codice fiscale. */
const CIN_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];

/** IBAN length of the SEPA countries (SWIFT IBAN registry). */
const SEPA_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AT: 20, BE: 16, BG: 22, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22,
  GI: 23, GL: 18, GR: 27, HR: 21, HU: 28, IE: 22, IS: 26, IT: 27, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MT: 31, NL: 18,
  NO: 15, PL: 28, PT: 25, RO: 24, SE: 24, SI: 19, SK: 24, SM: 27, VA: 22,
};

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

/** ISO 7064 mod 97-10 of the IBAN rearranged (country and check digits moved to the end). */
function ibanMod97(iban: string): number {
  let r = 0;
  for (const ch of iban.slice(4) + iban.slice(0, 4)) {
    const v = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    r = v > 9 ? (r * 100 + v) % 97 : (r * 10 + v) % 97;
  }
  return r;
}

/** The IBAN in electronic format: no spaces, upper case. */
export function normalizeIban(iban: string): string {
  return iban.replace(/\s+/g, '').toUpperCase();
}

/** Why an IBAN is not valid, or null when it is. Spaces are tolerated; lower case is not. */
export function ibanProblem(iban: string): string | null {
  const s = iban.replace(/\s+/g, '');
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(s)) return 'not an IBAN (country, check digits, then 11 to 30 letters or digits, upper case)';
  const length = SEPA_LENGTHS[s.slice(0, 2)];
  if (length !== undefined && s.length !== length) return `an IBAN of ${s.slice(0, 2)} has ${length} characters, not ${s.length}`;
  if (ibanMod97(s) !== 1) return 'wrong check digits';
  if (s.startsWith('IT') || s.startsWith('SM')) {
    const bban = s.slice(4);
    if (!/^[A-Z]\d{10}[0-9A-Z]{12}$/.test(bban)) return 'not an Italian BBAN (CIN letter, ABI, CAB, 12-character account)';
    if (italianCin(bban.slice(1)) !== bban[0]) return 'wrong CIN letter';
  }
  return null;
}

/** A valid IBAN: shape, length, check digits, and for Italy (and San Marino) the BBAN layout and CIN. */
export function isValidIban(iban: string): boolean {
  return ibanProblem(iban) === null;
}
