// The simulator's pure parts: the mix, the generated identifiers, the notices it pays.
import { describe, expect, it } from 'vitest';
import { FIRST_TARI_NOTICE } from '../../fixtures/generator.js';
import { isValidCodiceFiscale } from '../../src/domain/fiscal-code.js';
import { parsePagoPaQr } from '../../src/domain/qr.js';
import { randomCodiceFiscale, seededRandom, serviceOfNotice } from '../../terminals/simulator/common.js';
import { DEFAULT_MIX, isLoopback, parseMix, payableNotices } from '../../terminals/simulator/load.js';
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
