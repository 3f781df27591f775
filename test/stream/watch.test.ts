// `tserve watch`: the line format of formatEvent (fiscal codes masked: a screen is as
// public as a log), and watch() against a running switch — it prints what is booked,
// and when its token expires (4401) it logs in again and resumes from the last seq
// it has, even when no event had come yet, without losing or repeating a line; when
// the switch restarts it keeps trying while it is down, logs in again and resumes
// the same way. And the command itself, run as a process, finds the switch from the
// configuration (TSERVE_HTTP_PORT) without --url.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatEvent, postJson, watch } from '../../src/stream/watch.js';
import {
  VALID_CF,
  dbEvents,
  maxSeq,
  payCertificate,
  startSwitch,
  subscribe,
  terminalToken,
  terminalsOfDistinctCounters,
  userToken,
  type Client,
  type Switch,
  type WireEvent,
} from './support.js';

const MASKED_CF = 'RSS************S';

function paymentEvent(over: Partial<WireEvent> = {}, data: Record<string, unknown> = {}): WireEvent {
  return {
    seq: 42,
    type: 'payment.booked',
    at: '2025-01-15T10:04:05.000Z',
    ...over,
    data: {
      paymentId: '0b0e3c59-9a53-4c8e-9d68-000000000001',
      receiptNumber: '20250115-0000000042',
      service: 'CERTIFICATI',
      entityId: 'PRATO',
      identifier: VALID_CF,
      amount: 100,
      fee: 100,
      total: 200,
      counterId: 'C0001',
      terminalId: 'T0001',
      ...data,
    },
  };
}

describe('formatEvent', () => {
  it('lays out seq, local time (Europe/Rome), type, amount, counter/terminal and what was paid', () => {
    expect(formatEvent(paymentEvent())).toBe(
      `      42  11:04:05  payment.booked     EUR       2,00  C0001/T0001  CERTIFICATI ${MASKED_CF} 20250115-0000000042`,
    );
  });

  it('uses summer time in summer, thousands separators, and big sequence numbers', () => {
    const line = formatEvent(paymentEvent({ seq: 123_456_789, at: '2025-07-15T10:04:05.000Z' }, { total: 1_234_567 }));
    expect(line).toBe(
      `123456789  12:04:05  payment.booked     EUR  12.345,67  C0001/T0001  CERTIFICATI ${MASKED_CF} 20250115-0000000042`,
    );
  });

  it('masks every fiscal code in an identifier: alone, after a plate, lower case, omocodice', () => {
    const masked = (identifier: string) => formatEvent(paymentEvent({}, { identifier }));
    expect(masked(VALID_CF)).toContain(MASKED_CF);
    expect(masked(`AB123CD/${VALID_CF}`)).toContain(`AB123CD/${MASKED_CF}`);
    expect(masked(VALID_CF.toLowerCase())).toContain('rss************s');
    expect(masked('RSSMRA85T10A56NS')).toContain(MASKED_CF); // omocodia: a digit replaced by a letter
    for (const id of [VALID_CF, `AB123CD/${VALID_CF}`, VALID_CF.toLowerCase(), 'RSSMRA85T10A56NS']) {
      expect(masked(id).toUpperCase()).not.toContain(id.toUpperCase());
    }
  });

  it('leaves identifiers that are not fiscal codes alone', () => {
    expect(formatEvent(paymentEvent({}, { service: 'TARI', identifier: '301202400000000164' }))).toContain('TARI 301202400000000164 ');
    expect(formatEvent(paymentEvent({}, { service: 'SOGGIORNO', identifier: '01234567890/2025-Q1' }))).toContain('01234567890/2025-Q1');
  });

  it('prints events without money: counter-wide news has blanks where the amount is', () => {
    const line = formatEvent({ seq: 7, type: 'counter.suspended', at: '2025-01-15T10:04:05.000Z', data: { counterId: 'C0002' } });
    expect(line).toBe(`       7  11:04:05  counter.suspended                  C0002        `);
    const blocked = formatEvent({ seq: 8, type: 'terminal.blocked', at: '2025-01-15T10:04:05.000Z', data: { terminalId: 'T0009', counterId: 'C0002' } });
    expect(blocked).toContain('C0002/T0009');
  });

  it('names the entity when there is no receipt number', () => {
    expect(formatEvent(paymentEvent({}, { receiptNumber: undefined }))).toMatch(/ PRATO$/);
  });
});

describe('watch() against a running switch', () => {
  let sw: Switch;
  let reference: Client;

  beforeAll(async () => {
    sw = await startSwitch();
    reference = await subscribe(sw, { token: userToken(sw, 'finance') });
  });

  afterAll(async () => {
    await reference?.close();
    await sw?.close();
  });

  it('prints masked lines, and resumes after a token expiry (4401) without losing or repeating one', async () => {
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const payer = terminalToken(sw, terminalsOfDistinctCounters(sw, 1)[0]!.terminalId);
      const lines: string[] = [];
      const receipts: Record<string, unknown>[] = [];
      let logins = 0;
      let stop = false;
      // Every token watch gets expires within seconds: each connection ends with 4401.
      const shortToken = () => userToken(sw, 'finance', { expiresIn: 3 });
      const login = async (): Promise<string> => {
        logins += 1;
        if (logins === 2) {
          // The first connection expired before any event came. What is booked now,
          // while watch is away, must be printed when it resumes.
          receipts.push(await payCertificate(sw, payer));
        }
        if (stop) throw new Error('enough');
        return shortToken();
      };
      const done = watch({ url: sw.url, login, filters: { service: 'CERTIFICATI' }, json: false, out: (l) => lines.push(l) });
      const outcome = done.then(
        () => 'returned',
        (e: Error) => e.message,
      );

      const printed = async (n: number) => {
        await expect.poll(() => lines.length, { timeout: 60_000, interval: 50 }).toBeGreaterThanOrEqual(n);
      };
      await printed(1);
      // Booked while it is connected (or, if its token has just expired, replayed).
      receipts.push(await payCertificate(sw, payer));
      await printed(2);
      stop = true; // the next login (at the next expiry) ends watch
      expect(await outcome).toBe('enough');

      await reference.barrier();
      const expected = reference.events.filter((e) => receipts.some((r) => r.paymentId === e.data.paymentId));
      expect(expected).toHaveLength(2);
      expect(lines).toEqual(expected.map(formatEvent));
      expect(logins).toBeGreaterThanOrEqual(3);
      for (const l of lines) {
        expect(l).toContain(MASKED_CF);
        expect(l).not.toContain(VALID_CF);
        expect(l).toContain('payment.booked');
        expect(l).toContain('EUR       2,00');
      }
    } finally {
      quiet.mockRestore();
    }
  }, 60_000);
});

/** A login the way `tserve watch` makes one: POST /v1/auth/login over HTTP, to this fixed URL. */
function userLogin(url: string, sw: Switch, username: string) {
  const password = sw.credentials.users.find((u) => u.username === username)!.password;
  return async (): Promise<string> => {
    const res = await postJson(`${url}/v1/auth/login`, { username, password });
    if (res.status !== 200) throw new Error(`login refused: ${res.status}`);
    return res.body.token as string;
  };
}

describe('watch() across a restart of the switch', () => {
  let sw: Switch;

  beforeAll(async () => {
    sw = await startSwitch();
  });
  afterAll(async () => {
    await sw?.close();
  });

  it('keeps trying while the switch is down, then resumes after its last seq: every event once, in order', async () => {
    const errors: string[] = [];
    const quiet = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.join(' ')));
    const stop = new AbortController();
    try {
      const url = sw.url; // the port stays the same across the restart, as a deployment's does
      const port = new URL(url).port;
      const payer = terminalToken(sw, terminalsOfDistinctCounters(sw, 1)[0]!.terminalId);
      const start = await maxSeq(sw);
      const seqs: number[] = [];
      const done = watch({
        url,
        login: userLogin(url, sw, 'finance'),
        after: start,
        filters: { service: 'CERTIFICATI' },
        json: true,
        out: (l) => seqs.push((JSON.parse(l) as WireEvent).seq),
        signal: stop.signal,
      });
      const printed = async (n: number) => {
        await expect.poll(() => seqs.length, { timeout: 60_000, interval: 50 }).toBeGreaterThanOrEqual(n);
      };

      for (let i = 0; i < 3; i++) await payCertificate(sw, payer);
      await printed(3);
      await sw.stop();
      // Down: its login is refused a connection, and it says it will try again.
      await expect.poll(() => errors.some((e) => /switch unavailable: .*ECONNREFUSED/.test(e)), { timeout: 60_000, interval: 50 }).toBe(true);
      await sw.restart({ TSERVE_HTTP_PORT: port });
      for (let i = 0; i < 3; i++) await payCertificate(sw, terminalToken(sw, terminalsOfDistinctCounters(sw, 1)[0]!.terminalId));
      await printed(6);
      stop.abort();
      expect(await done).toBe(0);

      const expected = (await dbEvents(sw, start)).filter((e) => e.serviceCode === 'CERTIFICATI').map((e) => e.seq);
      expect(expected).toHaveLength(6);
      expect(seqs).toEqual(expected);
      expect(errors.some((e) => e.includes('reconnecting in'))).toBe(true);
    } finally {
      stop.abort();
      quiet.mockRestore();
    }
  }, 120_000);

  it('`tserve watch` without --url goes to the configured port (a wildcard host reached on loopback)', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSERVE_')));
    const env = {
      ...base,
      TSERVE_HTTP_HOST: '0.0.0.0',
      TSERVE_HTTP_PORT: new URL(sw.url).port,
      TSERVE_PASSWORD: sw.credentials.users.find((u) => u.username === 'finance')!.password,
    };
    const after = await maxSeq(sw);
    const child = spawn(process.execPath, ['bin/tserve.js', 'watch', '--user', 'finance', '--json', '--service', 'CERTIFICATI', '--after', String(after)], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    try {
      const receipt = await payCertificate(sw, terminalToken(sw, terminalsOfDistinctCounters(sw, 1)[0]!.terminalId));
      await expect.poll(() => out, { timeout: 60_000, interval: 50 }).toContain(String(receipt.paymentId));
      const line = JSON.parse(out.trim().split('\n')[0]!) as WireEvent;
      expect(line.type).toBe('payment.booked');
      expect(line.seq).toBeGreaterThan(after);
      expect(err).not.toContain('refused');
    } finally {
      child.kill('SIGTERM');
    }
  }, 60_000);
});
