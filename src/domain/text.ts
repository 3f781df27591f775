// Text that people type or upload (names, descriptions, references, identifiers):
// never a control character. A NUL, an ESC or a bare CR stored in a payer or a
// debtor's name reaches receipts, CSV and PDF reports, SEPA and FatturaPA files,
// terminals' screens and log lines, where it truncates, forges lines or drives an
// operator's terminal. One rule, used by every edge (JSON API, bulk upload, CLI).

/** C0 controls (U+0000–U+001F, tab and newlines included), DEL (U+007F) and C1 controls (U+0080–U+009F). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** A whole string free of control characters (for a schema's pattern). */
// eslint-disable-next-line no-control-regex -- as above
export const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f-\u009f]*$/;

export const CONTROL_CHARACTER_MESSAGE = 'control characters (U+0000–U+001F, U+007F–U+009F) are not allowed';

export function hasControlCharacter(s: string): boolean {
  return CONTROL_CHARACTER.test(s);
}

/** The first control character's position, or -1. */
export function controlCharacterAt(s: string): number {
  return s.search(CONTROL_CHARACTER);
}
