// The simulator's pure parts: the mix, the generated identifiers, the notices it pays.
import { describe, expect, it } from 'vitest';
import { FIRST_TARI_NOTICE } from '../../fixtures/generator.js';
import { isValidCodiceFiscale } from '../../src/domain/fiscal-code.js';
import { parsePagoPaQr } from '../../src/domain/qr.js';
import { randomCodiceFiscale, seededRandom, serviceOfNotice } from '../../terminals/simulator/common.js';
import { DEFAULT_MIX, isLoopback, parseMix, payableNotices } from '../../terminals/simulator/load.js';
import { romeInstant } from '../../src/domain/calendar.js';
import { localTimeFields, reconciliationFields, transmissionTime } from '../../terminals/simulator/client.js';
import { settlementDateFromMmdd } from '../../terminals/simulator/single.js';

describe('mix', () => {
  it('parses weights; unnamed operations get 0', () => {
    expect(parseMix('inquiry=20,payment=60,retransmit=10,reversal=10')).toEqual(DEFAULT_MIX);
    expect(parseMix('payment=1')).toEqual({ inquiry: 0, payment: 1, retransmit: 0, reversal: 0 });
  });

  it('refuses unknown operations and an all-zero mix', () => {
    expect(() => parseMix('refund=10')).toThrow(/refund/);
    expect(() => parseMix('payment=0')).toThrow(/0/);
    expect(() => parseMix('payment=x')).toThrow();
  });
});

describe('identifiers', () => {
  it('random codici fiscali pass the check', () => {
    const random = seededRandom(42);
    for (let i = 0; i < 2000; i++) expect(isValidCodiceFiscale(randomCodiceFiscale(random))).toBe(true);
  });

  it('names the service of a generated notice', () => {
    expect(serviceOfNotice(FIRST_TARI_NOTICE)?.code).toBe('TARI');
    expect(serviceOfNotice('123')).toBeUndefined();
  });

  it('settlement MMDD before today is next year', () => {
    const now = new Date('2026-12-31T10:00:00Z');
    expect(settlementDateFromMmdd('1231', now)).toBe('2026-12-31');
    expect(settlementDateFromMmdd('0104', now)).toBe('2027-01-04');
  });

  it('a field 15 that is no MMDD, or 29 February with no leap year ahead, is refused', () => {
    const now = new Date('2026-12-31T10:00:00Z');
    expect(() => settlementDateFromMmdd('1301', now)).toThrow(/field 15/);
    expect(() => settlementDateFromMmdd('0229', now)).toThrow(/field 15/);
    expect(settlementDateFromMmdd('0229', new Date('2027-03-01T10:00:00Z'))).toBe('2028-02-29');
  });

  it('fields 7, 12 and 13 of an instant: UTC for 7, Europe/Rome for 12 and 13', () => {
    const lastSeconds = romeInstant('2026-12-31', '23:59:50'); // 22:59:50 UTC
    expect(transmissionTime(lastSeconds)).toBe('1231225950');
    expect(localTimeFields(lastSeconds)).toEqual({ 12: '235950', 13: '1231' });
    const firstSeconds = romeInstant('2027-01-01', '00:00:10'); // still 31 December in UTC
    expect(transmissionTime(firstSeconds)).toBe('1231230010');
    expect(localTimeFields(firstSeconds)).toEqual({ 12: '000010', 13: '0101' });
  });

  it('a 0500 names its day as MMDD and its totals as n10 / n16', () => {
    expect(reconciliationFields('2026-11-01', { count: 2, amountCents: 24690, reversalCount: 1, reversalAmountCents: 12345 })).toEqual({
      13: '1101',
      74: '0000000002',
      75: '0000000001',
      86: '0000000000024690',
      87: '0000000000012345',
    });
    expect(() => reconciliationFields('2026-11-01', { count: -1, amountCents: 0, reversalCount: 0, reversalAmountCents: 0 })).toThrow(/field 74/);
  });

  it('load mode targets loopback only', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('localhost')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
  });
});

describe('payable notices', () => {
  it('are the same for the same seed, distinct, and each has an amount', () => {
    const a = payableNotices(2000, 1500);
    const b = payableNotices(2000, 1500);
    expect(a).toEqual(b);
    expect(a.length).toBeGreaterThan(100);
    const keys = a.map((j) => j.id.qr ?? `${j.id.service}/${j.id.identifier}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const j of a) {
      expect(j.amount).toBeGreaterThan(0);
      if (j.id.qr) expect(parsePagoPaQr(j.id.qr).ok).toBe(true);
    }
  });
});
