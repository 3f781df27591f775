import { createCipheriv, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decode, message, responseMti, isRequestMti, missingFields, verifyMac } from '../../terminals/iso8583/codec.js';
import { EXAMPLES_FILE, examples, renderExamples } from '../../terminals/iso8583/examples.js';
import { parseTlv } from '../../terminals/iso8583/tlv.js';
import { trimAns } from '../../terminals/iso8583/spec.js';
import { unwrapSessionKey, deriveWrapKey } from '../../terminals/keys.js';

const TMK = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const mac = (key: Buffer, m: string): string => createHmac('sha256', key).update(m, 'latin1').digest('hex').slice(0, 16).toUpperCase();
const kSignon = createHmac('sha256', TMK).update('tserve-signon-mac').digest();
const kWrap = createHmac('sha256', TMK).update('tserve-key-wrap').digest();
const SESSION = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x20 + i));
const IV = Buffer.from(Array.from({ length: 12 }, (_, i) => 0x40 + i));

describe('worked examples', () => {
  const [signon, signonResponse, payment] = examples();

  it('sign-on 0800/001: fields 7, 11, 41, 70 and 128 under K_signon', () => {
    const m = '0800' + '8220000000800000' + '0400000000000001' + '0315093000' + '000001' + 'T0001   ' + '001';
    expect(signon!.packed.toString('latin1')).toBe(m + mac(kSignon, m));
    expect(signon!.packed.toString('latin1')).toBe('0800822000000080000004000000000000010315093000000001T0001   0019FEBC2BF086CAF6F');
  });

  it('sign-on 0810: SK is the session key wrapped under K_wrap with field 41 as additional data', () => {
    const c = createCipheriv('aes-256-gcm', kWrap, IV);
    c.setAAD(Buffer.from('T0001   '));
    const sk = Buffer.concat([IV, c.update(SESSION), c.final(), c.getAuthTag()]).toString('hex').toUpperCase();
    const m = '0810' + '8220000002810000' + '0400000000000001' + '0315093000' + '000001' + '00' + 'T0001   ' + '125SK120' + sk + '001';
    expect(signonResponse!.packed.toString('latin1')).toBe(m + mac(kSignon, m));
    const received = decode(signonResponse!.packed);
    expect(verifyMac(signonResponse!.packed, received, kSignon)).toBe(true);
    expect(unwrapSessionKey(deriveWrapKey(TMK), received.fields.get(41)!, parseTlv(received.fields.get(48)!).get('SK')!).equals(SESSION)).toBe(true);
  });

  it('0200 payment: field 48 SV004TARIID018301202400000000164, MAC in 64 under the session key', () => {
    const m =
      '0200' + '3238001000C18001' + '500000' + '000000012345' + '0315093512' + '000002' + '103512' + '0315' + 'D00000150' +
      'T0001   ' + 'SPORTELLO0001  ' + '032SV004TARIID018301202400000000164' + '978';
    expect(payment!.packed.toString('latin1')).toBe(m + mac(SESSION, m));
    expect(payment!.packed.toString('latin1')).toBe(
      '02003238001000C18001500000000000012345031509351200000210351203' +
        '15D00000150T0001   SPORTELLO0001  032SV004TARIID018301202400000000164978CAD886A9CBF78A17',
    );
    expect(payment!.packed.toString('hex').toUpperCase()).toBe(
      '3032303033323338303031303030433138303031353030303030303030303030303132333435303331353039333531323030' +
        '3030303231303335313230333135443030303030313530543030303120202053504F5254454C4C4F30303031202030333253' +
        '5630303454415249494430313833303132303234303030303030303031363439373843414438383641394342463738413137',
    );
    const d = decode(payment!.packed);
    expect(trimAns(d.fields.get(41)!)).toBe('T0001');
    expect(trimAns(d.fields.get(42)!)).toBe('SPORTELLO0001');
    expect(Object.fromEntries(parseTlv(d.fields.get(48)!))).toEqual({ SV: 'TARI', ID: '301202400000000164' });
    expect(missingFields(d)).toEqual([]);
  });

  it('EXAMPLES.md is the output of the examples script', () => {
    expect(readFileSync(EXAMPLES_FILE, 'utf8')).toBe(renderExamples());
  });
});

describe('MTIs and mandatory fields', () => {
  it.each([
    ['0100', '0110'],
    ['0200', '0210'],
    ['0400', '0410'],
    ['0420', '0430'],
    ['0421', '0430'],
    ['0500', '0510'],
    ['0800', '0810'],
    ['0201', '0210'],
  ])('responseMti(%s) is %s', (req, res) => {
    expect(responseMti(req)).toBe(res);
    expect(isRequestMti(req)).toBe(true);
  });

  it.each(['0210', '0810', '0430', '08', 'abcd', '0806'])('responseMti(%s) throws', (mti) => {
    expect(() => responseMti(mti)).toThrow(expect.objectContaining({ field: 'mti' }));
    expect(isRequestMti(mti)).toBe(false);
  });

  it('missingFields lists the mandatory request fields of §1.5 that are absent', () => {
    expect(missingFields(message('0800', { 7: '0315093000', 11: '000001', 70: '001' }))).toEqual([41, 128]);
    expect(missingFields(message('0810', {}))).toEqual([]);
  });
});
