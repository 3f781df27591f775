import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decode, IsoError, message, missingFields, partialHeader, responseMti, isRequestMti, verifyMac } from '../../terminals/iso8583/codec.js';
import { EXAMPLES_FILE, REGENERATE, exchanges, hexDump, renderExamples } from '../../terminals/iso8583/examples.js';
import { frame } from '../../terminals/iso8583/framing.js';
import { parseTlv } from '../../terminals/iso8583/tlv.js';
import { trimAns } from '../../terminals/iso8583/spec.js';
import { unwrapSessionKey, deriveWrapKey } from '../../terminals/keys.js';

// Everything below is recomputed from first principles (node:crypto, string
// concatenation) rather than through the codec, as a vendor would.
const TMK = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const mac = (key: Buffer, m: Buffer | string): string =>
  createHmac('sha256', key).update(typeof m === 'string' ? Buffer.from(m, 'latin1') : m).digest('hex').slice(0, 16).toUpperCase();
const kSignon = createHmac('sha256', TMK).update('tserve-signon-mac').digest();
const kWrap = createHmac('sha256', TMK).update('tserve-key-wrap').digest();
const SESSION = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x20 + i));
const IV = Buffer.from(Array.from({ length: 12 }, (_, i) => 0x40 + i));
const ECHOED = [3, 4, 7, 11, 41, 42, 49, 70];

const all = exchanges();
const byMti = (mti: string) => all.find((x) => x.request.mti === mti && x.request.msg !== undefined)!;
const wellFormed = all.flatMap((x) => [x.request, x.response]).filter((e) => e.msg !== undefined);

describe('worked examples (EXAMPLES.md)', () => {
  it('cover every exchange the protocol defines: sign-on and echo, 0100, 0200, 0400, 0420, 0500, and a format error', () => {
    expect(all.map((x) => `${x.request.mti}→${x.response.mti}`)).toEqual([
      '0800→0810',
      '0800→0810',
      '0100→0110',
      '0200→0210',
      '0400→0410',
      '0420→0430',
      '0500→0510',
      '0200→0210',
    ]);
    expect(all.slice(0, 2).map((x) => x.request.msg!.fields.get(70))).toEqual(['001', '301']);
  });

  it.each(wellFormed.map((e) => [e.label, e] as const))('%s decodes, re-encodes to the same bytes and its MAC verifies under the key it names', (_label, e) => {
    const key = e.key.name === 'K_signon' ? kSignon : SESSION;
    const d = decode(e.packed);
    expect(d).toEqual(e.msg);
    const wire = e.packed.toString('latin1');
    // The MAC is the last 16 characters, over everything before them.
    expect(wire.slice(-16)).toBe(mac(key, wire.slice(0, -16)));
    expect(d.fields.get(128) ?? d.fields.get(64)).toBe(wire.slice(-16));
    expect(verifyMac(e.packed, d, key)).toBe(true);
    expect(trimAns(d.fields.get(41)!)).toBe('T0001');
    expect(d.fields.get(41)).toBe('T0001   ');
  });

  it('each request carries its mandatory fields (§1.5), and each response echoes 3, 4, 7, 11, 41, 42, 49, 70 (0110: 4 = amount due) and adds 39', () => {
    for (const x of all) {
      if (x.request.msg) expect(missingFields(x.request.msg), x.request.label).toEqual([]);
      expect(x.response.mti).toBe(responseMti(x.request.mti));
      const req = x.request.msg ?? x.request.meant!;
      const res = x.response.msg!;
      expect(res.fields.has(39), x.response.label).toBe(true);
      for (const n of ECHOED) {
        // A format error's answer carries only what could be read: 11 and 41.
        if (x.response.mti === '0110' && n === 4) continue; // 0110: 4 = the amount due
        if (req.fields.has(n) && (x.request.msg || n === 11 || n === 41)) expect(res.fields.get(n), `${x.response.label}: ${n}`).toBe(req.fields.get(n));
      }
    }
  });

  it('sign-on and its 0810 under K_signon, everything after under the session key', () => {
    expect(all.flatMap((x) => [x.request.key.name, x.response.key.name])).toEqual([
      'K_signon',
      'K_signon',
      ...Array<string>(2 * (all.length - 1)).fill('session key'),
    ]);
  });

  it('sign-on 0800/001, byte for byte', () => {
    const m = '0800' + '8220000000800000' + '0400000000000001' + '0317083000' + '000001' + 'T0001   ' + '001';
    expect(all[0]!.request.packed.toString('latin1')).toBe(m + mac(kSignon, m));
  });

  it('0810: SK is the session key wrapped under K_wrap with IV 40…4B and field 41 exactly as sent (8 characters) as additional data', () => {
    const c = createCipheriv('aes-256-gcm', kWrap, IV);
    c.setAAD(Buffer.from('T0001   ', 'latin1'));
    const sk = Buffer.concat([IV, c.update(SESSION), c.final(), c.getAuthTag()]).toString('hex').toUpperCase();
    expect(sk).toHaveLength(120);
    const m = '0810' + '8220000002810000' + '0400000000000001' + '0317083000' + '000001' + '00' + 'T0001   ' + '125SK120' + sk + '001';
    const response = all[0]!.response;
    expect(response.packed.toString('latin1')).toBe(m + mac(kSignon, m));
    // A vendor's unwrap, with node:crypto alone.
    const raw = Buffer.from(parseTlv(response.msg!.fields.get(48)!).get('SK')!, 'hex');
    const d = createDecipheriv('aes-256-gcm', kWrap, raw.subarray(0, 12));
    d.setAAD(Buffer.from(response.msg!.fields.get(41)!, 'latin1'));
    d.setAuthTag(raw.subarray(44));
    expect(Buffer.concat([d.update(raw.subarray(12, 44)), d.final()]).equals(SESSION)).toBe(true);
    expect(unwrapSessionKey(deriveWrapKey(TMK), response.msg!.fields.get(41)!, parseTlv(response.msg!.fields.get(48)!).get('SK')!).equals(SESSION)).toBe(true);
    // The additional data binds it: another id, or the id unpadded with other padding, fails.
    const other = createDecipheriv('aes-256-gcm', kWrap, raw.subarray(0, 12));
    other.setAAD(Buffer.from('T0001', 'latin1'));
    other.setAuthTag(raw.subarray(44));
    other.update(raw.subarray(12, 44));
    expect(() => other.final()).toThrow();
  });

  it('0200 → 0210 byte for byte; the 0210 carries 15, 28, 37, 38 and 48 RN', () => {
    const pay = byMti('0200');
    const m =
      '0200' + '3238001000C18001' + '500000' + '000000012345' + '0317093512' + '000004' + '103512' + '0317' + 'D00000150' +
      'T0001   ' + 'SPORTELLO0001  ' + '032SV004TARIID018301202400000000164' + '978';
    expect(pay.request.packed.toString('latin1')).toBe(m + mac(SESSION, m));
    const r = pay.response.msg!;
    expect([...r.fields.keys()]).toEqual([3, 4, 7, 11, 15, 28, 37, 38, 39, 41, 42, 48, 49, 64]);
    expect([...parseTlv(r.fields.get(48)!).keys()]).toEqual(['RN']);
  });

  it('0400 and 0420 name their original in field 90; their answers drop 90 and so carry the MAC in 64', () => {
    const rev = byMti('0400');
    const pay = byMti('0200').request.msg!;
    expect(rev.request.msg!.fields.get(90)).toBe('0200' + pay.fields.get(11) + pay.fields.get(7) + '0'.repeat(22));
    for (const x of [rev, byMti('0420')]) {
      expect(x.request.msg!.fields.has(128)).toBe(true);
      expect([...x.response.msg!.fields.keys()]).toEqual([3, 4, 7, 11, 39, 41, 42, 49, 64]);
    }
  });

  it('0500 totals agree with the 0510 ST (in balance)', () => {
    const x = byMti('0500');
    const q = x.request.msg!.fields;
    const st = parseTlv(x.response.msg!.fields.get(48)!).get('ST')!;
    expect(st).toBe(q.get(74)! + q.get(86)! + q.get(75)! + q.get(87)!);
    expect(x.response.msg!.fields.get(39)).toBe('00');
  });

  it('the format-error example: the request is refused for its lowercase bitmap, 11 and 41 are still read, and the 0210 says 30', () => {
    const x = all[all.length - 1]!;
    const wire = x.request.packed.toString('latin1');
    expect(wire.slice(4, 20)).toBe('3238001000c18001');
    expect(() => decode(x.request.packed)).toThrow(IsoError);
    expect(wire.slice(-16)).toBe(mac(SESSION, wire.slice(0, -16)));
    expect(partialHeader(x.request.packed)).toEqual({ mti: '0200', stan: '000009', terminalId: 'T0001   ' });
    const r = x.response.msg!;
    expect(Object.fromEntries(r.fields)).toEqual({ 11: '000009', 39: '30', 41: 'T0001   ', 48: 'ER006FORMAT', 64: r.fields.get(64) });
  });

  it('the generator is deterministic', () => {
    expect(renderExamples()).toBe(renderExamples());
    expect(exchanges().map((x) => x.response.packed.toString('hex'))).toEqual(all.map((x) => x.response.packed.toString('hex')));
  });

  it('EXAMPLES.md is the output of the generator, byte for byte', () => {
    const committed = readFileSync(EXAMPLES_FILE, 'utf8');
    expect(committed, `EXAMPLES.md is stale: regenerate it with ${REGENERATE}`).toBe(renderExamples());
  });

  it('every frame in EXAMPLES.md is in it as hex dump and ASCII', () => {
    const text = readFileSync(EXAMPLES_FILE, 'utf8');
    for (const x of all) {
      for (const e of [x.request, x.response]) {
        expect(text).toContain(hexDump(frame(e.packed)));
        expect(text).toContain('```\n' + e.packed.toString('latin1') + '\n```');
      }
    }
  });

  it('the sign-on dump in docs/terminal-protocol.md is the first example', () => {
    const doc = readFileSync(new URL('../../docs/terminal-protocol.md', import.meta.url), 'utf8');
    expect(doc).toContain(hexDump(frame(all[0]!.request.packed)));
  });

  it('the documented command regenerates it (--check agrees)', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'terminals/iso8583/examples.ts', '--check'], { cwd: root, encoding: 'utf8' });
    expect(out).toBe('');
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
