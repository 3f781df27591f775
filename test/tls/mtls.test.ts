// Mutual TLS on the ISO 8583 listener (TSERVE_ISO_TLS_CLIENT_CA, docs/tls.md): a
// connection without a client certificate, or with one another CA signed, never gets
// a frame read; a certificate for one terminal (subject CN) lets its connection act as
// that terminal and no other — even for someone who knows the other terminal's keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/tls.js';
import { paymentCount, setup, type Ctx } from '../iso8583-server/support.js';
import { readFileSync } from 'node:fs';

let pki: TestPki;
let c: Ctx;
let a: string;
let b: string;
let certA: CertFiles;
let certB: CertFiles;

beforeAll(async () => {
  pki = makeTestPki();
  c = await setup({ iso: { tls: { cert: pki.server.cert, key: pki.server.key, clientCa: pki.ca } } });
  a = c.takeTerminalId();
  b = c.takeTerminalId();
  certA = pki.client(a);
  certB = pki.client(b);
});
afterAll(async () => {
  await c?.close();
  pki?.close();
});

const opened: IsoTerminal[] = [];
afterAll(() => {
  for (const t of opened) t.destroy();
});

/** A terminal speaking as `terminalId` (its keys) over a TLS connection that presents `cert` (or none). */
function terminal(terminalId: string, cert: CertFiles | null): IsoTerminal {
  const t = new IsoTerminal(c.creds(terminalId), {
    host: '127.0.0.1',
    port: c.port,
    tls: { ca: pki.caPem, ...(cert ? { cert: readFileSync(cert.cert), key: readFileSync(cert.key) } : {}) },
    timeoutMs: 10_000,
    clock: c.h.rt.clock,
  });
  opened.push(t);
  return t;
}

/** Connects and signs on; the error if either fails. */
async function trySignOn(t: IsoTerminal): Promise<string> {
  try {
    await t.connect();
    const r = await t.signOn();
    return `answered ${r.code}`;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('mutual TLS on the ISO 8583 listener', () => {
  it('without a client certificate: refused, no frame answered', async () => {
    const outcome = await trySignOn(terminal(a, null));
    expect(outcome).not.toMatch(/^answered/);
  });

  it('with a certificate for the terminal from a CA the switch does not trust: refused', async () => {
    const forged = pki.client(a, 'other');
    const outcome = await trySignOn(terminal(a, forged));
    expect(outcome).not.toMatch(/^answered/);
  });

  it('with its own certificate a terminal signs on and pays', async () => {
    const t = terminal(a, certA);
    await t.connect();
    const on = await t.signOn();
    expect(on.code, on.tlv.get('ER')).toBe('00');
    const n = await c.notices.take();
    const { response } = await t.pay({ service: n.service, identifier: n.notice }, n.amount);
    expect(response.code, response.tlv.get('ER')).toBe('00');
    expect(response.macOk).toBe(true);
    expect(await paymentCount(c.db, n.optionId)).toBe(1);
  });

  it("a connection with A's certificate cannot act as B, even knowing B's keys: 63, nothing processed", async () => {
    // B signs on over its own certificate, so that its session is live.
    const legit = terminal(b, certB);
    await legit.connect();
    expect((await legit.signOn()).code).toBe('00');

    // Someone holding A's certificate and B's keys.
    const impostor = terminal(b, certA);
    await impostor.connect();
    impostor.sessionKey = legit.sessionKey;
    const n = await c.notices.take();
    const { response } = await impostor.pay({ service: n.service, identifier: n.notice }, n.amount);
    expect(response.code).toBe('63');
    expect(response.tlv.get('ER')).toBe('CERTIFICATE_MISMATCH');
    expect(await paymentCount(c.db, n.optionId)).toBe(0);

    // A sign-on for B on that connection is refused too, and B's session stays as it was.
    const before = legit.sessionKey;
    const on = await impostor.signOn();
    expect(on.code).toBe('63');
    expect(on.tlv.get('ER')).toBe('CERTIFICATE_MISMATCH');
    const { response: stillB } = await legit.pay({ service: n.service, identifier: n.notice }, n.amount);
    expect(legit.sessionKey).toBe(before);
    expect(stillB.code, stillB.tlv.get('ER')).toBe('00');
    expect(await paymentCount(c.db, n.optionId)).toBe(1);
  });
});

describe('configuration', () => {
  it('a client CA without TLS on the ISO listener is refused at start; with it, the listener requires client certificates', () => {
    expect(() => loadConfig({ TSERVE_ISO_TLS_CLIENT_CA: pki.ca })).toThrow(/TSERVE_ISO_TLS_CLIENT_CA .* needs TLS/);
    const config = loadConfig({ TSERVE_ISO_TLS_CERT: pki.server.cert, TSERVE_ISO_TLS_KEY: pki.server.key, TSERVE_ISO_TLS_CLIENT_CA: pki.ca });
    expect(config.iso.tls).toEqual({ cert: pki.server.cert, key: pki.server.key, clientCa: pki.ca });
    expect(loadConfig({ TSERVE_ISO_TLS_CERT: pki.server.cert, TSERVE_ISO_TLS_KEY: pki.server.key }).iso.tls?.clientCa).toBeNull();
  });
});
