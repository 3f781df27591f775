import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as domain from '../../src/domain/index.js';

const DOMAIN_DIR = fileURLToPath(new URL('../../src/domain/', import.meta.url));

describe('src/domain', () => {
  it('re-exports every module from index.ts', () => {
    for (const name of [
      'applyRate', 'splitByRates', 'formatEuro', 'checkNoticeNumber', 'buildNoticeNumber', 'parsePagoPaQr',
      'isValidCodiceFiscale', 'isValidPartitaIva', 'isValidPlate', 'settlementDate', 'romeInstant',
      'multaAmountDue', 'bolloAmountDue', 'citizenFee', 'splitFee', 'scheduleInForce', 'parseIdentifier',
    ]) {
      expect(typeof (domain as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('is pure: imports only other domain files and decimal.js (fixtures import the domain, not the reverse)', () => {
    let checked = 0;
    for (const file of readdirSync(DOMAIN_DIR).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(DOMAIN_DIR + file, 'utf8');
      for (const [line, from] of source.matchAll(/^(?:import|export)\b.*?from '([^']+)';$/gm)) {
        const allowed = /^\.\/[\w-]+\.js$/.test(from!) || from === 'decimal.js';
        expect(allowed, `${file}: ${line}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });
});
