import { createDecipheriv, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeMac,
  deriveSignonKey,
  deriveWrapKey,
  macEquals,
  newSessionKey,
  unwrapSessionKey,
  wrapSessionKey,
} from '../../terminals/keys.js';
import { decode, macInput, message, verifyMac, withMac } from '../../terminals/iso8583/codec.js';

const TMK = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const hmacHex = (key: Buffer | string, data: Buffer | string): string => createHmac('sha256', key).update(data).digest('hex');

describe('key derivation (§1.7)', () => {
  it('K_signon and K_wrap are HMAC-SHA256 of the TMK over the labels', () => {
    expect(deriveSignonKey(TMK).toString('hex')).toBe(hmacHex(TMK, 'tserve-signon-mac'));
    expect(deriveWrapKey(TMK).toString('hex')).toBe(hmacHex(TMK, 'tserve-key-wrap'));
    // Known answers for the example TMK 00 01 … 1F (EXAMPLES.md).
    expect(deriveSignonKey(TMK).toString('hex').toUpperCase()).toBe('261B4C4366C095133A67D6DDAD8F3E57DE937D495A7C5C3DD6BA7D480610B8EA');
    expect(deriveWrapKey(TMK).toString('hex').toUpperCase()).toBe('84D569668FAE12FC5D80AA1BFE33003C412A4E78FF17CB6B7E1185F0C8B24E75');
  });

  it('refuses a TMK that is not 32 bytes', () => {
    expect(() => deriveSignonKey(Buffer.alloc(16))).toThrow(RangeError);
    expect(() => deriveWrapKey(Buffer.alloc(33))).toThrow(RangeError);
  });
});

describe('MAC', () => {
  it('known answer: first 8 bytes of HMAC-SHA256(key, M) as uppercase hex', () => {
    const key = deriveSignonKey(TMK);
    const m = Buffer.from('0800822000000080000004000000000000010315093000000001T0001   001');
    expect(computeMac(key, m)).toBe(hmacHex(key, m).slice(0, 16).toUpperCase());
    expect(computeMac(key, m)).toBe('9FEBC2BF086CAF6F');
  });

  it('withMac puts the MAC over everything before it, in 128 with a secondary bitmap and in 64 without', () => {
    const key = deriveSignonKey(TMK);
    const signon = withMac(message('0800', { 7: '0315093000', 11: '000001', 41: 'T0001', 70: '001' }), key);
    const m = signon.subarray(0, signon.length - 16);
    expect(macInput(signon).equals(m)).toBe(true);
    expect(decode(signon).fields.get(128)).toBe(hmacHex(key, m).slice(0, 16).toUpperCase());
    expect(decode(signon).fields.has(64)).toBe(false);
    const inquiry = withMac(message('0100', { 3: '300000', 11: '000003', 41: 'T0001' }), key);
    expect(decode(inquiry).fields.get(64)).toBe(hmacHex(key, inquiry.subarray(0, inquiry.length - 16)).slice(0, 16).toUpperCase());
    expect(decode(inquiry).fields.has(128)).toBe(false);
  });

  it('withMac replaces a MAC already there', () => {
    const key = Buffer.alloc(32, 1);
    const plain = withMac(message('0100', { 11: '000003' }), key);
    const stale = withMac(message('0100', { 11: '000003', 64: 'FFFFFFFFFFFFFFFF' }), key);
    expect(stale.equals(plain)).toBe(true);
  });

  it('verifyMac is false when any byte changes, under another key, or without a MAC', () => {
    const key = newSessionKey();
    const packed = withMac(message('0400', { 3: '500000', 4: '000000001000', 11: '000007', 41: 'T0002', 90: '0'.repeat(42) }), key);
    expect(verifyMac(packed, decode(packed), key)).toBe(true);
    expect(verifyMac(packed, decode(packed), newSessionKey())).toBe(false);
    for (let i = 0; i < packed.length; i++) {
      const bad = Buffer.from(packed);
      bad[i] = bad[i] === 0x30 ? 0x31 : 0x30;
      let msg;
      try {
        msg = decode(bad);
      } catch {
        continue; // not even a message
      }
      expect(verifyMac(bad, msg, key), `byte ${i}`).toBe(false);
    }
    const noMac = Buffer.from('0100' + '0020000000000000' + '000003');
    expect(verifyMac(noMac, decode(noMac), key)).toBe(false);
  });

  it('macEquals compares in constant time and refuses malformed MACs', () => {
    expect(macEquals('0123456789ABCDEF', '0123456789ABCDEF')).toBe(true);
    expect(macEquals('0123456789ABCDEF', '0123456789ABCDEE')).toBe(false);
    expect(macEquals('0123', '0123')).toBe(false);
  });
});

describe('session key wrap', () => {
  const kWrap = deriveWrapKey(TMK);

  it('round trips, and the padded and unpadded terminal id bind the same', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (k) => {
        const key = Buffer.from(k);
        const hex = wrapSessionKey(kWrap, 'T0001', key);
        expect(hex).toMatch(/^[0-9A-F]{120}$/);
        expect(unwrapSessionKey(kWrap, 'T0001   ', hex).equals(key)).toBe(true);
        expect(unwrapSessionKey(kWrap, 'T0001', hex.toLowerCase()).equals(key)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('is IV || AES-256-GCM(ciphertext) || tag with field 41 (8 characters) as additional data', () => {
    const session = Buffer.alloc(32, 0xab);
    const hex = wrapSessionKey(kWrap, 'T0001', session);
    const raw = Buffer.from(hex, 'hex');
    const d = createDecipheriv('aes-256-gcm', kWrap, raw.subarray(0, 12));
    d.setAAD(Buffer.from('T0001   '));
    d.setAuthTag(raw.subarray(44));
    expect(Buffer.concat([d.update(raw.subarray(12, 44)), d.final()]).equals(session)).toBe(true);
  });

  it('detects tampering, a wrong terminal and a wrong key', () => {
    const hex = wrapSessionKey(kWrap, 'T0001', newSessionKey());
    for (let i = 0; i < hex.length; i++) {
      const bad = hex.slice(0, i) + (hex[i] === '0' ? '1' : '0') + hex.slice(i + 1);
      expect(() => unwrapSessionKey(kWrap, 'T0001', bad)).toThrow(/authenticate/);
    }
    expect(() => unwrapSessionKey(kWrap, 'T0002', hex)).toThrow(/authenticate/);
    expect(() => unwrapSessionKey(deriveWrapKey(Buffer.alloc(32)), 'T0001', hex)).toThrow(/authenticate/);
    expect(() => unwrapSessionKey(kWrap, 'T0001', hex.slice(2))).toThrow(/120 hex/);
    expect(() => wrapSessionKey(kWrap, 'T000000001', newSessionKey())).toThrow(RangeError);
  });

  it('uses a fresh IV each time', () => {
    const key = newSessionKey();
    expect(wrapSessionKey(kWrap, 'T0001', key)).not.toBe(wrapSessionKey(kWrap, 'T0001', key));
  });
});
