// What a terminal sends to name what is paid, validated by identifier kind.
// A fiscal code that IS the identifier must be valid; payer codes given
// alongside a payment are the caller's business (warn, don't block).
//
// Composite identifiers are written with '/': 'FINENO/PLATE', 'PLATE/T',
// 'PLATE/CF', 'CF/YEAR', 'PIVA/YYYYMM'. When the separate field (vehicleType,
// fiscalCode, year) is absent, the composite form is accepted in `identifier`,
// so a `normalized` value always parses again to itself.
import type { IdentifierKind } from './model.js';
import { isValidFiscalCode, isValidPartitaIva } from './fiscal-code.js';
import { checkNoticeNumber } from './notice.js';
import { isValidPlate, isVehicleType, normalizePlate } from './plate.js';

export type IdentifierErrorCode = 'INVALID_NOTICE_NUMBER' | 'INVALID_PLATE' | 'INVALID_FISCAL_CODE' | 'FORMAT';

export interface IdentifierInput {
  identifier: string;
  vehicleType?: string;
  fiscalCode?: string;
  year?: number | string;
}

export type ParsedIdentifier =
  | { ok: true; notice: string | null; lookupKey: string | null; normalized: string }
  | { ok: false; code: IdentifierErrorCode; reason: string };

type Parsed = ParsedIdentifier;
type Failure = Extract<ParsedIdentifier, { ok: false }>;

function fail(code: IdentifierErrorCode, reason: string): Failure {
  return { ok: false, code, reason };
}

function found(normalized: string, lookupKey: string | null = null, notice: string | null = null): Parsed {
  return { ok: true, notice, lookupKey, normalized };
}

/** Splits 'A/B' into exactly two non-empty parts. */
function splitPair(s: string): [string, string] | null {
  const parts = s.split('/');
  return parts.length === 2 && parts[0] !== '' && parts[1] !== '' ? [parts[0]!, parts[1]!] : null;
}

/** A separate field when given, else the second half of a composite identifier. */
function withSecondPart(input: IdentifierInput, field: string | number | undefined): [string, string | undefined] {
  if (field !== undefined && String(field).trim() !== '') return [input.identifier.trim(), String(field).trim()];
  const pair = splitPair(input.identifier.trim());
  return pair ? [pair[0].trim(), pair[1].trim()] : [input.identifier.trim(), undefined];
}

// --- parts ---------------------------------------------------------------

function parseNotice(s: string): Parsed {
  const check = checkNoticeNumber(s);
  return check.ok ? found(check.notice, null, check.notice) : fail('INVALID_NOTICE_NUMBER', check.reason);
}

function parsePlate(s: string): { plate: string } | Failure {
  const plate = normalizePlate(s);
  if (plate === '') return fail('FORMAT', 'plate is missing');
  if (!isValidPlate(plate)) return fail('INVALID_PLATE', `"${plate}" is not a plate: 7 or 8 letters and digits, with at least one of each`);
  return { plate };
}

function parseFiscalCode(s: string | undefined, what = 'fiscal code'): { cf: string } | Failure {
  const cf = (s ?? '').replace(/\s+/g, '').toUpperCase();
  if (cf === '') return fail('FORMAT', `${what} is missing`);
  if (!isValidFiscalCode(cf)) {
    return fail('INVALID_FISCAL_CODE', `${what} "${cf}" is not valid: 16-character codice fiscale or 11-digit code with a correct check character`);
  }
  return { cf };
}

const CODE_SHAPES = {
  reference: { pattern: /^[A-Z0-9-]{4,20}$/, rule: '4 to 20 letters, digits or "-"' },
  fineNumber: { pattern: /^[A-Z0-9]{4,20}$/, rule: '4 to 20 letters or digits' },
};

function parseCode(s: string, what: string, shape: keyof typeof CODE_SHAPES): { code: string } | Failure {
  const code = s.trim().toUpperCase();
  if (code === '') return fail('FORMAT', `${what} is missing`);
  const { pattern, rule } = CODE_SHAPES[shape];
  return pattern.test(code) ? { code } : fail('FORMAT', `${what} "${code}" must be ${rule}`);
}

function isFailure<T extends object>(x: T | Failure): x is Failure {
  return 'ok' in x && x.ok === false;
}

// --- kinds ---------------------------------------------------------------

function referenceCode(what: string, isLookupKey: boolean) {
  return (input: IdentifierInput): Parsed => {
    const code = parseCode(input.identifier, what, 'reference');
    if (isFailure(code)) return code;
    return found(code.code, isLookupKey ? code.code : null);
  };
}

/** Each identifier kind and how its input is read. */
export const IDENTIFIER_PARSERS: Readonly<Record<IdentifierKind, (input: IdentifierInput) => ParsedIdentifier>> = {
  notice: (input) => parseNotice(input.identifier),

  // Multe: the notice number, or the fine number with the plate ("FINENO/PLATE").
  fine_plate: (input) => {
    const s = input.identifier.trim();
    if (s === '') return fail('FORMAT', 'notice number or fine number/plate is missing');
    if (/^[\d\s]+$/.test(s)) return parseNotice(s); // digits only: meant as a notice number
    const pair = splitPair(s);
    if (!pair) return fail('FORMAT', `"${s}" is neither an 18-digit notice number nor FINENO/PLATE`);
    const fine = parseCode(pair[0], 'fine number', 'fineNumber');
    if (isFailure(fine)) return fine;
    const plate = parsePlate(pair[1]);
    if (isFailure(plate)) return plate;
    const key = `${fine.code}/${plate.plate}`;
    return found(key, key);
  },

  plate: (input) => {
    const plate = parsePlate(input.identifier);
    return isFailure(plate) ? plate : found(plate.plate, plate.plate);
  },

  // Bollo auto: plate and vehicle type (1 car, 2 trailer, 4 motorcycle).
  plate_vehicle: (input) => {
    const [plateText, type] = withSecondPart(input, input.vehicleType);
    const plate = parsePlate(plateText);
    if (isFailure(plate)) return plate;
    if (type === undefined) return fail('FORMAT', 'vehicle type is missing (1 car, 2 trailer, 4 motorcycle)');
    if (!isVehicleType(type)) return fail('FORMAT', `vehicle type "${type}" is not 1 (car), 2 (trailer) or 4 (motorcycle)`);
    const key = `${plate.plate}/${type}`;
    return found(key, key);
  },

  // ZTL permit: plate and the holder's fiscal code.
  plate_fiscal_code: (input) => {
    const [plateText, cfText] = withSecondPart(input, input.fiscalCode);
    const plate = parsePlate(plateText);
    if (isFailure(plate)) return plate;
    const cf = parseFiscalCode(cfText, "holder's fiscal code");
    if (isFailure(cf)) return cf;
    return found(`${plate.plate}/${cf.cf}`);
  },

  fiscal_code: (input) => {
    const cf = parseFiscalCode(input.identifier);
    return isFailure(cf) ? cf : found(cf.cf);
  },

  // IMU: taxpayer's fiscal code and tax year.
  fiscal_code_year: (input) => {
    const [cfText, yearText] = withSecondPart(input, input.year);
    const cf = parseFiscalCode(cfText);
    if (isFailure(cf)) return cf;
    if (yearText === undefined) return fail('FORMAT', 'tax year is missing');
    const year = Number(yearText);
    if (!/^\d{4}$/.test(yearText) || year < 2000 || year > 2100) {
      return fail('FORMAT', `tax year "${yearText}" must be a year from 2000 to 2100`);
    }
    return found(`${cf.cf}/${year}`);
  },

  // Imposta di soggiorno: the hotel's VAT number and the period, "PIVA/YYYYMM".
  vat_period: (input) => {
    const s = input.identifier.replace(/\s+/g, '');
    const pair = splitPair(s);
    if (!pair) return fail('FORMAT', `"${s}" must be VAT number and period as PIVA/YYYYMM`);
    const [piva, period] = pair;
    if (!isValidPartitaIva(piva)) {
      return fail('INVALID_FISCAL_CODE', `VAT number "${piva}" is not valid: 11 digits with a correct check digit`);
    }
    const m = /^(\d{4})(\d{2})$/.exec(period);
    const [year, month] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
    if (year < 2000 || year > 2100 || month < 1 || month > 12) {
      return fail('FORMAT', `period "${period}" must be YYYYMM with a year from 2000 to 2100 and a month 01 to 12`);
    }
    return found(`${piva}/${period}`);
  },

  user_code: referenceCode('user code', true),
  file_number: referenceCode('file number', false),
  fine_number: referenceCode('fine number', false),
};

export function parseIdentifier(kind: IdentifierKind, input: IdentifierInput): ParsedIdentifier {
  const parser = IDENTIFIER_PARSERS[kind] as ((input: IdentifierInput) => ParsedIdentifier) | undefined;
  if (!parser) return fail('FORMAT', `unknown identifier kind "${String(kind)}"`);
  return parser(input);
}
