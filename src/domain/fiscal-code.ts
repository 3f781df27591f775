// Codice fiscale of people (16 characters, §4.3) and the 11-digit fiscal code of
// entities / partita IVA (§4.4).

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Value of A..Z in odd positions (1st, 3rd, ...); digit d takes the value of the d-th letter. */
const ODD_VALUES = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];

/** Index of a character: digits 0..9 and letters A..Z both map to 0..25 (digit d ≡ d-th letter). */
function charIndex(c: string): number {
  return c >= '0' && c <= '9' ? c.charCodeAt(0) - 48 : LETTERS.indexOf(c);
}

/**
 * Shape of a codice fiscale: surname (3), name (3), year (2), month letter,
 * day (2, +40 for women), place (letter + 3), check. Digit positions may hold
 * the omocodia letters LMNPQRSTUV that replace digits when two people collide.
 */
const CODICE_FISCALE_SHAPE = /^[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$/;

export function codiceFiscaleCheckChar(first15: string): string {
  const s = first15.toUpperCase();
  if (!/^[A-Z0-9]{15}$/.test(s)) throw new RangeError(`check character needs 15 letters/digits, got "${first15}"`);
  let sum = 0;
  for (let i = 0; i < 15; i++) {
    const index = charIndex(s[i]!);
    // i is 0-based, so even i is an odd position in the 1-based wording of the rule.
    sum += i % 2 === 0 ? ODD_VALUES[index]! : index;
  }
  return LETTERS[sum % 26]!;
}

export function isValidCodiceFiscale(s: string): boolean {
  const cf = s.toUpperCase();
  return CODICE_FISCALE_SHAPE.test(cf) && codiceFiscaleCheckChar(cf.slice(0, 15)) === cf[15];
}

export function partitaIvaCheckDigit(first10: string): string {
  if (!/^\d{10}$/.test(first10)) throw new RangeError(`check digit needs 10 digits, got "${first10}"`);
  let sum = 0;
  for (let i = 0; i < 10; i++) {
    const d = Number(first10[i]);
    if (i % 2 === 0) {
      sum += d; // d1, d3, ... as they are
    } else {
      const doubled = 2 * d; // d2, d4, ... doubled, digits summed
      sum += doubled > 9 ? doubled - 9 : doubled;
    }
  }
  return String((10 - (sum % 10)) % 10);
}

export function isValidPartitaIva(s: string): boolean {
  return /^\d{11}$/.test(s) && partitaIvaCheckDigit(s.slice(0, 10)) === s[10];
}

/** A person's codice fiscale or an entity's 11-digit fiscal code. */
export function isValidFiscalCode(s: string): boolean {
  return isValidCodiceFiscale(s) || isValidPartitaIva(s);
}

/** For logs: keeps the first 3 and the last character ("RSS************S"); short strings are masked entirely. */
export function maskFiscalCode(s: string): string {
  if (s.length <= 4) return '*'.repeat(s.length);
  return s.slice(0, 3) + '*'.repeat(s.length - 4) + s.slice(-1);
}
