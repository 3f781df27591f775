import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  codiceFiscaleCheckChar,
  isValidCodiceFiscale,
  isValidFiscalCode,
  isValidPartitaIva,
  maskFiscalCode,
  partitaIvaCheckDigit,
} from '../../src/domain/fiscal-code.js';

describe('codice fiscale (domain.md §4.3)', () => {
  it.each(['RSSMRA85T10A562S', 'MRTMTT91D08F205J', 'BNCLCU75M52G999F', 'RSSMRA85T10A56NH'])('%s is valid', (cf) => {
    expect(isValidCodiceFiscale(cf)).toBe(true);
    expect(codiceFiscaleCheckChar(cf.slice(0, 15))).toBe(cf[15]);
  });

  it('RSSMRA50A01A110X is invalid (its check character is W)', () => {
    expect(isValidCodiceFiscale('RSSMRA50A01A110X')).toBe(false);
    expect(codiceFiscaleCheckChar('RSSMRA50A01A110')).toBe('W');
  });

  it('accepts lower case', () => {
    expect(isValidCodiceFiscale('rssmra85t10a562s')).toBe(true);
  });

  it.each([
    ['RSSMRA85T10A562', 'too short'],
    ['RSSMRA85T10A562SS', 'too long'],
    ['RSSMRA85Z10A562S', 'no month Z'],
    ['RSSMRA8AT10A562S', 'A is not an omocodia letter'],
    ['123MRA85T10A562S', 'digits in the surname'],
    ['', 'empty'],
  ])('%s is invalid (%s)', (cf) => {
    expect(isValidCodiceFiscale(cf)).toBe(false);
  });

  it('a computed check character validates; any other is rejected (property)', () => {
    const letter = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ');
    const digitish = fc.constantFrom(...'0123456789LMNPQRSTUV');
    const month = fc.constantFrom(...'ABCDEHLMPRST');
    const first15 = fc
      .tuple(fc.array(letter, { minLength: 6, maxLength: 6 }), fc.array(digitish, { minLength: 2, maxLength: 2 }), month,
        fc.array(digitish, { minLength: 2, maxLength: 2 }), letter, fc.array(digitish, { minLength: 3, maxLength: 3 }))
      .map(([name, yy, m, dd, place, code]) => name.join('') + yy.join('') + m + dd.join('') + place + code.join(''));
    fc.assert(
      fc.property(first15, letter, (head, other) => {
        const check = codiceFiscaleCheckChar(head);
        expect(isValidCodiceFiscale(head + check)).toBe(true);
        if (other !== check) expect(isValidCodiceFiscale(head + other)).toBe(false);
      }),
    );
  });
});

describe('partita IVA / fiscal code of entities (domain.md §4.4)', () => {
  it('Comune di Prato 84006890481 is valid', () => {
    expect(isValidPartitaIva('84006890481')).toBe(true);
    expect(partitaIvaCheckDigit('8400689048')).toBe('1');
  });

  it.each(['84006890482', '8400689048', '840068904811', '8400689048A', ''])('%s is invalid', (s) => {
    expect(isValidPartitaIva(s)).toBe(false);
  });

  it('detects any single changed digit (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{10}$/), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 9 }), (head, pos, delta) => {
        const piva = head + partitaIvaCheckDigit(head);
        expect(isValidPartitaIva(piva)).toBe(true);
        const changed = piva.slice(0, pos) + ((Number(piva[pos]) + delta) % 10) + piva.slice(pos + 1);
        expect(isValidPartitaIva(changed)).toBe(false);
      }),
    );
  });
});

describe('isValidFiscalCode', () => {
  it('accepts either form', () => {
    expect(isValidFiscalCode('RSSMRA85T10A562S')).toBe(true);
    expect(isValidFiscalCode('84006890481')).toBe(true);
    expect(isValidFiscalCode('RSSMRA50A01A110X')).toBe(false);
    expect(isValidFiscalCode('84006890482')).toBe(false);
  });
});

describe('maskFiscalCode', () => {
  it('keeps the first 3 and the last character, same length', () => {
    expect(maskFiscalCode('RSSMRA85T10A562S')).toBe('RSS************S');
    expect(maskFiscalCode('84006890481')).toBe('840*******1');
  });

  it('masks short strings entirely', () => {
    expect(maskFiscalCode('ABCD')).toBe('****');
    expect(maskFiscalCode('')).toBe('');
  });
});
