// The ISO 8583 message log (issue 13, docs/observability.md): a real terminal over TCP
// against a listening switch, the message log captured through a winston Stream
// transport: one JSON line per exchange with MTI, terminal, STAN, field 39 and latency;
// approvals at debug, declines at info; never a full notice number, fiscal code, QR
// text, session key or MAC.
import './quiet.js';
import { Writable } from 'node:stream';
import winston from 'winston';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isoLog, maskIdentifier } from '../../terminals/message-log.js';
import { IsoTerminal } from '../../terminals/simulator/client.js';
import { setup, type Ctx, type Notice } from './support.js';

const CF = 'RSSMRA85T10A562S';

/** The message log's lines, as they would reach stdout. */
class Capture {
  readonly lines: string[] = [];
  private pending = '';
  readonly transport = new winston.transports.Stream({
    stream: new Writable({
      write: (chunk: Buffer | string, _enc, done) => {
        this.pending += chunk.toString();
        const parts = this.pending.split('\n');
        this.pending = parts.pop() ?? '';
        this.lines.push(...parts);
        done();
      },
    }),
  });
  records(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** Lets the transports write what was logged before the last answer went out. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

let ctx: Ctx;
let out: Capture;
const saved = { level: isoLog.level, silent: isoLog.silent };

beforeAll(async () => {
  ctx = await setup({ positions: 400 });
});

afterAll(async () => {
  await ctx?.close();
});

function capture(level: string): Capture {
  const c = new Capture();
  for (const t of isoLog.transports) t.silent = true; // the console stays quiet
  isoLog.add(c.transport);
  isoLog.level = level;
  isoLog.silent = false;
  return c;
}

afterEach(() => {
  isoLog.remove(out.transport);
  for (const t of isoLog.transports) t.silent = false;
  isoLog.level = saved.level;
  isoLog.silent = saved.silent;
});

const id = (n: Notice) => ({ service: n.service, identifier: n.notice, fiscalCode: CF });

describe('the ISO 8583 message log', () => {
  it('at debug: one line per request and its response, with the fields, masked', async () => {
    out = capture('debug');
    const t = await ctx.terminal();
    const signOn = await t.signOn();
    const n = await ctx.notices.take();
    const inquiry = await t.inquiry(id(n));
    const { sent, response: paid } = await t.pay(id(n), n.amount);
    const { response: again } = await t.pay(id(n), n.amount);
    expect([signOn.code, inquiry.code, paid.code]).toEqual(['00', '00', '00']);
    expect(again.code).not.toBe('00');
    await settle();

    const recs = out.records();
    expect(recs.map((r) => [r.mti, r.responseMti, r.responseCode])).toEqual([
      ['0800', '0810', '00'],
      ['0100', '0110', '00'],
      ['0200', '0210', '00'],
      ['0200', '0210', again.code],
    ]);
    for (const r of recs) {
      expect(r).toMatchObject({ message: 'iso8583', terminalId: t.creds.terminalId });
      expect(r.stan).toMatch(/^\d{6}$/);
      expect(typeof r.latencyMs).toBe('number');
      expect(typeof r.timestamp).toBe('string');
    }
    const [on, inq, pay, decline] = recs;
    expect(on).toMatchObject({ level: 'debug', networkCode: '001', stan: signOn.fields.get(11) });
    expect(inq).toMatchObject({ level: 'debug', service: n.service, identifier: maskIdentifier(n.notice), fiscalCode: 'RSS************S' });
    expect(pay).toMatchObject({
      level: 'debug',
      stan: sent.stan,
      counterId: t.creds.counterId,
      processingCode: '500000',
      amountCents: n.amount,
      rrn: paid.fields.get(37),
      receiptNumber: paid.tlv.get('RN'),
    });
    // A decline is at info and names its symbolic code.
    expect(decline).toMatchObject({ level: 'info', error: again.tlv.get('ER') });

    const all = out.lines.join('\n');
    expect(maskIdentifier(n.notice)).toBe('*'.repeat(14) + n.notice.slice(-4));
    for (const leak of [n.notice, n.notice.slice(0, 14), CF, CF.slice(3, 15), signOn.tlv.get('SK')!, t.sessionKey!.toString('hex')]) {
      expect(all).not.toContain(leak);
    }
    // No MAC, wrapped key or field 48 as such: only the table's keys.
    for (const r of recs) {
      for (const key of Object.keys(r)) expect(['level', 'message', 'timestamp', 'mti', 'responseMti', 'terminalId', 'counterId', 'stan', 'processingCode', 'amountCents', 'networkCode', 'original', 'service', 'identifier', 'fiscalCode', 'qr', 'responseCode', 'error', 'rrn', 'receiptNumber', 'latencyMs', 'outcome']).toContain(key);
    }
  });

  it('at info: declines only; a frame from an unknown terminal is a hang-up line', async () => {
    out = capture('info');
    const t = await ctx.signedOn();
    const n = await ctx.notices.take();
    expect((await t.pay(id(n), n.amount)).response.code).toBe('00');
    const { response: again } = await t.pay(id(n), n.amount);
    const echo = await t.echo();
    expect(echo.code).toBe('00');
    // A terminal the switch does not know: no key to answer with, so it hangs up.
    const stranger = new IsoTerminal({ ...ctx.creds(ctx.takeTerminalId()), terminalId: 'ZZ999999' }, { host: '127.0.0.1', port: ctx.port, timeoutMs: 2_000 });
    await stranger.connect();
    await expect(stranger.echo()).rejects.toThrow();
    stranger.destroy();
    await settle();

    const recs = out.records();
    expect(recs[0]).toMatchObject({ level: 'info', mti: '0200', responseCode: again.code, terminalId: t.creds.terminalId });
    expect(recs[1]).toMatchObject({ level: 'info', mti: '0800', terminalId: 'ZZ999999', responseCode: null });
    expect(recs).toHaveLength(2);
    expect(out.lines.join('\n')).not.toContain(n.notice);
  });
});

describe('maskIdentifier', () => {
  it('keeps the tail of a notice number or plate, masks a fiscal code as the log does', () => {
    expect(maskIdentifier('301000000000012345')).toBe('**************2345');
    expect(maskIdentifier('AB123CD')).toBe('*****CD');
    expect(maskIdentifier(CF)).toBe('RSS************S');
    expect(maskIdentifier('1234')).toBe('****');
  });
});
