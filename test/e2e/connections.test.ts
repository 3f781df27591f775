// Issue 12, finding 1: 20,100 silent TCP connections to the ISO 8583 port used up every
// file descriptor; /healthz then got an empty reply and signed-on terminals were cut
// off. Here the real process runs with an open-files limit of 2,048 (ulimit -n) and the
// caps it derives from it by default, and 3,000 silent connections from 30 loopback
// addresses go to each port: a terminal still signs on and pays (00) and /healthz
// answers 200. Without the caps the flood takes the descriptors and both fail.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import { flood, loopbackAddresses, type Flood } from '../helpers/flood.js';
import { cleanUp, fiscalCodeFor, startProcess, type ServerProcess } from './process.js';

const FD_LIMIT = 2048;
const JUNK = 3000;

let dataDir: string;
let server: ServerProcess;
const floods: Flood[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'tserve-conns-'));
  server = await startProcess(dataDir, { TSERVE_LOG_LEVEL: 'error', TSERVE_SETTLEMENT_SCHEDULE: 'false' }, { fdLimit: FD_LIMIT });
});

afterAll(async () => {
  for (const f of floods) f.destroy();
  await cleanUp(server ? [server] : [], dataDir);
});

function isoPort(): number {
  const m = /ISO 8583 on port (\d+)/.exec(server.output());
  if (!m) throw new Error(`no ISO port in the output:\n${server.output()}`);
  return Number(m[1]);
}

function terminal(index: number): IsoTerminal {
  const creds = JSON.parse(readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8')) as {
    terminals: { terminalId: string; counterId: string; tmk?: string; secret?: string }[];
  };
  const c = creds.terminals[index]!;
  return new IsoTerminal({ terminalId: c.terminalId, counterId: c.counterId, tmk: Buffer.from(c.tmk ?? c.secret!, 'hex') }, { host: '127.0.0.1', port: isoPort(), timeoutMs: 20_000 });
}

async function signOn(t: IsoTerminal): Promise<void> {
  const r = await t.signOn();
  expect(r.code, `sign-on: ${r.tlv.get('ER') ?? ''}\n${server.output().slice(-3000)}`).toBe('00');
}

async function healthz(): Promise<number> {
  const res = await fetch(`${server.url}/healthz`);
  await res.arrayBuffer();
  return res.status;
}

describe('connection caps (finding 1: descriptor exhaustion)', () => {
  it('serves a terminal and /healthz while 3,000 silent connections hold the ISO port', { timeout: 120_000 }, async () => {
    const signedOnBefore = terminal(0);
    await signedOnBefore.connect();
    await signOn(signedOnBefore);

    floods.push(await flood(isoPort(), JUNK, loopbackAddresses(30)));

    // A terminal signed on before the flood is still served...
    expect((await signedOnBefore.echo()).code).toBe('00');
    // ...and a new one connects, signs on and pays.
    const t = terminal(1);
    await t.connect();
    await signOn(t);
    const fiscalCode = fiscalCodeFor('RSSMRA85T10A', 1);
    const inquiry = await t.inquiry({ service: 'CERTIFICATI', identifier: fiscalCode });
    expect(inquiry.code).toBe('00');
    const { response } = await t.pay({ service: 'CERTIFICATI', identifier: fiscalCode }, Number(inquiry.fields.get(4)));
    expect(response.code, response.tlv.get('ER')).toBe('00');
    expect(await healthz()).toBe(200);
    signedOnBefore.destroy();
    t.destroy();
  });

  it('serves /healthz while 3,000 silent connections hold the HTTP port', { timeout: 120_000 }, async () => {
    floods.push(await flood(Number(new URL(server.url).port), JUNK, loopbackAddresses(30, 40)));
    expect(await healthz()).toBe(200);
    const t = terminal(2);
    await t.connect();
    await signOn(t);
    t.destroy();
  });
});
