// Network management before sign-on, and field 48 text that must stay printable ASCII.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoText } from '../../terminals/server.js';
import { setup, type Ctx } from './support.js';

let ctx: Ctx;
beforeAll(async () => {
  ctx = await setup();
});
afterAll(async () => {
  await ctx.close();
});

describe('network management before sign-on', () => {
  it('answers an echo with 00 under K_signon, and still 58 for a transaction', async () => {
    const t = await ctx.terminal();
    const echo = await t.echo();
    expect(echo.code).toBe('00');
    expect(echo.macOk).toBe(true);
    const inquiry = await t.inquiry({ service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S' });
    expect(inquiry.code).toBe('58');
    expect(inquiry.tlv.get('ER')).toBe('NOT_SIGNED_ON');
  });

  it('answers a sign-off without a session with 00 and records no sign-off', async () => {
    const t = await ctx.terminal();
    const before = (await ctx.db.get<{ n: number }>("SELECT count(*) AS n FROM events WHERE type = 'terminal.signed_off'"))!.n;
    const off = await t.signOff();
    expect(off.code).toBe('00');
    const after = (await ctx.db.get<{ n: number }>("SELECT count(*) AS n FROM events WHERE type = 'terminal.signed_off'"))!.n;
    expect(after).toBe(before);
  });
});

describe('field 48 text', () => {
  it('isoText keeps printable ASCII and drops accents', () => {
    expect(isoText("Carta d'identità elettronica – rinnovo")).toBe("Carta d'identita elettronica - rinnovo");
    expect(isoText('Città €5')).toBe('Citta ?5');
    expect(isoText('plain')).toBe('plain');
  });

  it('answers an inquiry on a self-assessed service, whose description has a non-ASCII name, with 00', async () => {
    const t = await ctx.signedOn();
    const r = await t.inquiry({ service: 'REFEZIONE', identifier: 'U1234567' });
    expect(r.code, r.tlv.get('ER')).toBe('00');
    expect(r.tlv.get('DS')).toMatch(/^[\x20-\x7e]+$/);
    const cie = await t.inquiry({ service: 'CIE', identifier: 'RSSMRA85T10A562S' });
    expect(cie.code).toBe('00');
    expect(cie.tlv.get('DS')).toBe("Carta d'identita elettronica");
  });
});
