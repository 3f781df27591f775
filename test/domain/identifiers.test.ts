import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IdentifierKind } from '../../src/domain/model.js';
import { type IdentifierInput, parseIdentifier } from '../../src/domain/identifiers.js';

const CF = 'RSSMRA85T10A562S';
const PIVA = '84006890481';

type Ok = { notice: string | null; lookupKey: string | null; normalized: string };

const VALID: [IdentifierKind, IdentifierInput, Ok][] = [
  ['notice', { identifier: '301202400000000164' }, { notice: '301202400000000164', lookupKey: null, normalized: '301202400000000164' }],
  ['notice', { identifier: '3012 0240 0000 0001 64' }, { notice: '301202400000000164', lookupKey: null, normalized: '301202400000000164' }],
  ['fine_plate', { identifier: '001000000001234516' }, { notice: '001000000001234516', lookupKey: null, normalized: '001000000001234516' }],
  ['fine_plate', { identifier: 'v20250042/ab 123 cd' }, { notice: null, lookupKey: 'V20250042/AB123CD', normalized: 'V20250042/AB123CD' }],
  ['plate', { identifier: 'ab-123-cd' }, { notice: null, lookupKey: 'AB123CD', normalized: 'AB123CD' }],
  ['plate_vehicle', { identifier: 'AB123CD', vehicleType: '1' }, { notice: null, lookupKey: 'AB123CD/1', normalized: 'AB123CD/1' }],
  ['plate_vehicle', { identifier: 'ab12345', vehicleType: '4' }, { notice: null, lookupKey: 'AB12345/4', normalized: 'AB12345/4' }],
  ['plate_vehicle', { identifier: 'AB123CD/2' }, { notice: null, lookupKey: 'AB123CD/2', normalized: 'AB123CD/2' }],
  ['plate_fiscal_code', { identifier: 'AB123CD', fiscalCode: CF.toLowerCase() }, { notice: null, lookupKey: null, normalized: `AB123CD/${CF}` }],
  ['plate_fiscal_code', { identifier: 'AB123CD', fiscalCode: PIVA }, { notice: null, lookupKey: null, normalized: `AB123CD/${PIVA}` }],
  ['fiscal_code', { identifier: ' rssmra85t10a562s ' }, { notice: null, lookupKey: null, normalized: CF }],
  ['fiscal_code', { identifier: 'RSSMRA85T10A56NH' }, { notice: null, lookupKey: null, normalized: 'RSSMRA85T10A56NH' }],
  ['fiscal_code', { identifier: PIVA }, { notice: null, lookupKey: null, normalized: PIVA }],
  ['fiscal_code_year', { identifier: CF, year: 2025 }, { notice: null, lookupKey: null, normalized: `${CF}/2025` }],
  ['fiscal_code_year', { identifier: PIVA, year: '2024' }, { notice: null, lookupKey: null, normalized: `${PIVA}/2024` }],
  ['fiscal_code_year', { identifier: `${CF}/2000` }, { notice: null, lookupKey: null, normalized: `${CF}/2000` }],
  ['vat_period', { identifier: `${PIVA}/202507` }, { notice: null, lookupKey: null, normalized: `${PIVA}/202507` }],
  ['user_code', { identifier: 'ab-1234' }, { notice: null, lookupKey: 'AB-1234', normalized: 'AB-1234' }],
  ['file_number', { identifier: 'SUAP-2025-0001' }, { notice: null, lookupKey: null, normalized: 'SUAP-2025-0001' }],
  ['fine_number', { identifier: 'v2025-123' }, { notice: null, lookupKey: null, normalized: 'V2025-123' }],
];

const INVALID: [IdentifierKind, IdentifierInput, string, string][] = [
  ['notice', { identifier: '311111111112222222' }, 'INVALID_NOTICE_NUMBER', 'check digits should be 47'],
  ['notice', { identifier: '12345' }, 'INVALID_NOTICE_NUMBER', '18 digits'],
  ['notice', { identifier: '' }, 'INVALID_NOTICE_NUMBER', 'empty'],
  ['fine_plate', { identifier: '311111111112222222' }, 'INVALID_NOTICE_NUMBER', 'check digits should be 47'],
  ['fine_plate', { identifier: 'V2025/0042/AB123CD' }, 'FORMAT', 'neither'],
  ['fine_plate', { identifier: 'AB123CD' }, 'FORMAT', 'neither'],
  ['fine_plate', { identifier: 'V1/AB123CD' }, 'FORMAT', 'fine number'],
  ['fine_plate', { identifier: 'V-2025/AB123CD' }, 'FORMAT', 'fine number'],
  ['fine_plate', { identifier: 'V2025/AB12' }, 'INVALID_PLATE', 'not a plate'],
  ['fine_plate', { identifier: '' }, 'FORMAT', 'missing'],
  ['plate', { identifier: '1234567' }, 'INVALID_PLATE', 'not a plate'],
  ['plate', { identifier: '  ' }, 'FORMAT', 'plate is missing'],
  ['plate_vehicle', { identifier: 'AB123CD' }, 'FORMAT', 'vehicle type is missing'],
  ['plate_vehicle', { identifier: 'AB123CD', vehicleType: '3' }, 'FORMAT', 'vehicle type "3"'],
  ['plate_vehicle', { identifier: 'AB1', vehicleType: '1' }, 'INVALID_PLATE', 'not a plate'],
  ['plate_fiscal_code', { identifier: 'AB123CD' }, 'FORMAT', 'fiscal code is missing'],
  ['plate_fiscal_code', { identifier: 'AB123CD', fiscalCode: 'RSSMRA50A01A110X' }, 'INVALID_FISCAL_CODE', 'RSSMRA50A01A110X'],
  ['plate_fiscal_code', { identifier: 'ABC', fiscalCode: CF }, 'INVALID_PLATE', 'not a plate'],
  ['fiscal_code', { identifier: 'RSSMRA50A01A110X' }, 'INVALID_FISCAL_CODE', 'not valid'],
  ['fiscal_code', { identifier: '84006890482' }, 'INVALID_FISCAL_CODE', 'not valid'],
  ['fiscal_code', { identifier: '' }, 'FORMAT', 'missing'],
  ['fiscal_code_year', { identifier: CF }, 'FORMAT', 'tax year is missing'],
  ['fiscal_code_year', { identifier: CF, year: 1999 }, 'FORMAT', 'from 2000 to 2100'],
  ['fiscal_code_year', { identifier: CF, year: 2101 }, 'FORMAT', 'from 2000 to 2100'],
  ['fiscal_code_year', { identifier: CF, year: '25' }, 'FORMAT', 'from 2000 to 2100'],
  ['fiscal_code_year', { identifier: 'RSSMRA50A01A110X', year: 2025 }, 'INVALID_FISCAL_CODE', 'not valid'],
  ['vat_period', { identifier: PIVA }, 'FORMAT', 'PIVA/YYYYMM'],
  ['vat_period', { identifier: '84006890482/202507' }, 'INVALID_FISCAL_CODE', 'VAT number'],
  ['vat_period', { identifier: `${PIVA}/202513` }, 'FORMAT', 'month 01 to 12'],
  ['vat_period', { identifier: `${PIVA}/202500` }, 'FORMAT', 'month 01 to 12'],
  ['vat_period', { identifier: `${PIVA}/2025-07` }, 'FORMAT', 'YYYYMM'],
  ['user_code', { identifier: 'AB1' }, 'FORMAT', '4 to 20'],
  ['user_code', { identifier: 'A'.repeat(21) }, 'FORMAT', '4 to 20'],
  ['user_code', { identifier: 'AB 1234' }, 'FORMAT', '4 to 20'],
  ['file_number', { identifier: 'AB_1234' }, 'FORMAT', '4 to 20'],
  ['fine_number', { identifier: '' }, 'FORMAT', 'missing'],
];

describe('parseIdentifier', () => {
  it.each(VALID)('%s accepts %j', (kind, input, expected) => {
    expect(parseIdentifier(kind, input)).toEqual({ ok: true, ...expected });
  });

  it.each(INVALID)('%s rejects %j with %s', (kind, input, code, reason) => {
    const parsed = parseIdentifier(kind, input);
    expect(parsed).toMatchObject({ ok: false, code });
    if (!parsed.ok) expect(parsed.reason).toContain(reason);
  });

  it('covers every identifier kind', () => {
    const kinds = new Set(VALID.map(([kind]) => kind));
    expect(kinds.size).toBe(11);
  });

  it('a normalized identifier parses again to itself', () => {
    for (const [kind, input] of VALID) {
      const first = parseIdentifier(kind, input);
      if (!first.ok) throw new Error(`expected ${kind} to parse`);
      expect(parseIdentifier(kind, { identifier: first.normalized })).toEqual(first);
    }
  });

  it('user codes: any 4–20 of A–Z, 0–9 and "-" pass, uppercased (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9-]{4,20}$/), (code) => {
        expect(parseIdentifier('user_code', { identifier: code })).toEqual({
          ok: true,
          notice: null,
          lookupKey: code.toUpperCase(),
          normalized: code.toUpperCase(),
        });
      }),
    );
  });
});
