import { afterEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import winston from 'winston';
import {
  createLogger,
  currentRequestId,
  logger,
  redact,
  resolveLevel,
  withRequestId,
} from '../src/log.js';

/** Collects every line the logger writes (what would reach stdout), through winston's Stream transport. */
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

const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

function captured(level = 'debug'): { log: winston.Logger; out: Capture } {
  const out = new Capture();
  return { log: createLogger({ level, transports: [out.transport] }), out };
}

const CF = 'RSSMRA85T10A562S';
const JWT_TOKEN =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('redact', () => {
  it('replaces values under sensitive keys, recursively and case-insensitively', () => {
    const input = {
      Authorization: 'Bearer abc',
      accessToken: 't0k3n',
      clientSecret: 's3cr3t',
      PASSWORD: 'hunter2',
      tmk: '0123456789ABCDEF',
      sessionKey: { a: 1 },
      mac: 'DEADBEEF',
      Cookie: 'sid=1',
      requestId: 'req-1',
      amountCents: 1250,
      nested: { deeper: [{ apiKey: 'k', ok: 'yes' }, { password: ['x'] }] },
    };
    expect(redact(input)).toEqual({
      Authorization: '[redacted]',
      accessToken: '[redacted]',
      clientSecret: '[redacted]',
      PASSWORD: '[redacted]',
      tmk: '[redacted]',
      sessionKey: '[redacted]',
      mac: '[redacted]',
      Cookie: '[redacted]',
      requestId: 'req-1',
      amountCents: 1250,
      nested: { deeper: [{ apiKey: '[redacted]', ok: 'yes' }, { password: '[redacted]' }] },
    });
  });

  it('does not modify its input', () => {
    const input = { token: 'abc', inner: { cf: CF } };
    redact(input);
    expect(input).toEqual({ token: 'abc', inner: { cf: CF } });
  });

  it('masks every fiscal code inside strings, whatever the case', () => {
    expect(redact(CF)).toBe('RSS************S');
    expect(redact(`payer ${CF} and ${CF.toLowerCase()}!`)).toBe('payer RSS************S and rss************s!');
    expect(redact({ list: [`cf=${CF}`] })).toEqual({ list: ['cf=RSS************S'] });
    // omocodia letters in the numeric positions are fiscal codes too
    expect(redact('RSSMRA85T10A56NS')).toBe('RSS************S');
    expect(redact('notice 301000000000012345')).toBe('notice 301000000000012345');
  });

  it('replaces JWTs anywhere in strings', () => {
    expect(redact(`Bearer ${JWT_TOKEN} trailing`)).toBe('Bearer [redacted-jwt] trailing');
    expect(redact({ header: `jwt=${JWT_TOKEN}` })).toEqual({ header: 'jwt=[redacted-jwt]' });
  });

  it('copes with errors, dates, circular structures and primitives', () => {
    const err = new Error(`bad token ${JWT_TOKEN}`);
    const out = redact({ err }) as { err: Record<string, unknown> };
    expect(out.err.message).toBe('bad token [redacted-jwt]');
    expect(out.err.name).toBe('Error');

    expect(redact({ at: new Date(0) })).toEqual({ at: '1970-01-01T00:00:00.000Z' });

    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    expect(redact(loop)).toEqual({ a: 1, self: '[circular]' });

    expect(redact(42)).toBe(42);
    expect(redact(null)).toBe(null);
    expect(redact(undefined)).toBe(undefined);
  });
});

describe('logger', () => {
  it('writes one JSON object per line with level, message and timestamp', async () => {
    const { log, out } = captured();
    log.info('hello', { counterId: 'C001' });
    await settle();
    expect(out.lines).toHaveLength(1);
    const [rec] = out.records();
    expect(rec).toMatchObject({ level: 'info', message: 'hello', counterId: 'C001' });
    expect(typeof rec?.timestamp).toBe('string');
  });

  it('never lets secrets, tokens or fiscal codes through', async () => {
    const { log, out } = captured();
    log.info(`payment by ${CF}`, {
      authorization: `Bearer ${JWT_TOKEN}`,
      tmk: 'A1B2C3D4E5F60718',
      body: { payer: { fiscalCode: CF, password: 'hunter2' }, note: `jwt ${JWT_TOKEN}` },
      headers: [{ cookie: 'sid=SECRETCOOKIE' }],
    });
    log.warn({ message: 'sign-on', secret: 'TOPSECRET', macKey: 'FEEDFACE' });
    log.error(new Error(`verify failed for ${CF} with ${JWT_TOKEN}`));
    log.debug('raw', { token: 'plain-token-value', list: [CF] });
    await settle();

    const all = out.lines.join('\n');
    expect(out.lines).toHaveLength(4);
    for (const leak of [CF, CF.slice(3, 15), JWT_TOKEN.slice(0, 20), 'A1B2C3D4E5F60718', 'hunter2', 'SECRETCOOKIE', 'TOPSECRET', 'FEEDFACE', 'plain-token-value']) {
      expect(all).not.toContain(leak);
    }
    expect(all).toContain('RSS************S');
    expect(all).toContain('[redacted-jwt]');
    expect(all).toContain('[redacted]');
    const [first, , third] = out.records();
    expect(first?.message).toBe('payment by RSS************S');
    expect(third?.level).toBe('error');
    expect(String(third?.stack)).not.toContain(CF);
  });

  it('adds the requestId inside withRequestId, across awaits, and only there', async () => {
    const { log, out } = captured();
    log.info('before');
    const result = await withRequestId('req-42', async () => {
      expect(currentRequestId()).toBe('req-42');
      log.info('inside');
      await new Promise((r) => setTimeout(r, 5));
      log.info('after await', { key: 'x' });
      return 'done';
    });
    withRequestId('req-43', () => log.info('other'));
    log.info('outside');
    await settle();

    expect(result).toBe('done');
    expect(currentRequestId()).toBeUndefined();
    const recs = out.records();
    expect(recs.map((r) => r.requestId)).toEqual([undefined, 'req-42', 'req-42', 'req-43', undefined]);
    expect(recs[2]?.key).toBe('[redacted]');
  });

  it('returns what fn returns', () => {
    expect(withRequestId('r', () => 7)).toBe(7);
  });

  it('honours the level', async () => {
    const { log, out } = captured('warn');
    log.info('dropped');
    log.warn('kept');
    await settle();
    expect(out.records().map((r) => r.message)).toEqual(['kept']);
  });
});

describe('level from TSERVE_LOG_LEVEL', () => {
  it('resolves levels, silent and the default', () => {
    expect(resolveLevel(undefined)).toEqual({ level: 'info', silent: false });
    expect(resolveLevel('debug')).toEqual({ level: 'debug', silent: false });
    expect(resolveLevel('WARN')).toEqual({ level: 'warn', silent: false });
    expect(resolveLevel('silent')).toEqual({ level: 'info', silent: true });
    expect(resolveLevel('nonsense')).toEqual({ level: 'info', silent: false });
  });

  it('configures the shared logger from the environment', () => {
    const expected = resolveLevel(process.env.TSERVE_LOG_LEVEL);
    expect(logger.level).toBe(expected.level);
    expect(logger.silent).toBe(expected.silent);
  });
});

describe('shared logger', () => {
  const saved = { silent: logger.silent, level: logger.level };
  const extra: Capture[] = [];
  afterEach(() => {
    for (const c of extra.splice(0)) logger.remove(c.transport);
    for (const t of logger.transports) t.silent = false;
    logger.silent = saved.silent;
    logger.level = saved.level;
  });

  it('uses the redacting, request-aware format', async () => {
    const out = new Capture();
    extra.push(out);
    for (const t of logger.transports) t.silent = true; // keep the console quiet
    logger.add(out.transport);
    logger.silent = false;
    logger.level = 'info';
    withRequestId('shared-1', () => logger.info('pay', { token: 'zzz-secret', payer: CF }));
    await settle();
    expect(out.records()).toEqual([
      expect.objectContaining({ message: 'pay', token: '[redacted]', payer: 'RSS************S', requestId: 'shared-1' }),
    ]);
  });
});
