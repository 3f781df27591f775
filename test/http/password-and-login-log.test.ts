// Issue 12, finding 4: no password policy (`--password a` was accepted for an admin) and
// failed logins were logged without the user name. Now new passwords have a minimum
// length, are not common ones and do not contain the user name (the CLI refuses `a`
// with the reason), and every login is logged with the name and address, never the
// password.
import { Writable } from 'node:stream';
import winston from 'winston';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordProblem } from '../../src/auth/password-policy.js';
import { logger } from '../../src/log.js';
import { runCli } from '../e2e/process.js';
import { setup, type Ctx } from './support.js';

let c: Ctx;
beforeAll(async () => {
  c = await setup(100);
});
afterAll(async () => {
  await c?.close();
});

describe('password policy', () => {
  it.each([
    ['a', /at least 12 characters/],
    ['password1234', /commonly used/],
    ['qwertyuiop123', /commonly used/],
    ['Administrator', /commonly used/],
    ['my-admin-password-9', /user name/],
    ['xxxxxxxxxxxxxxxx', /repeated/],
  ])('refuses %j for user admin', (password, why) => {
    expect(passwordProblem(password, 'admin')).toMatch(why);
  });

  it('accepts a long uncommon password, and every generated demo password', () => {
    expect(passwordProblem('correct horse battery staple', 'admin')).toBeNull();
    for (const u of c.h.credentials.users) expect(passwordProblem(u.password, u.username), u.username).toBeNull();
  });

  it('tserve user add refuses --password a for an admin, saying why, and saves nothing', async () => {
    const refused = await runCli(c.h.dir, ['user', 'add', 'boss', '--role', 'admin', '--password', 'a']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/password refused: the password must have at least 12 characters \(it has 1\)/);
    expect(await c.h.rt.store.getUser('boss')).toBeUndefined();

    const saved = await runCli(c.h.dir, ['user', 'add', 'boss', '--role', 'admin', '--password', 'tram-lantern-oboe-47']);
    expect(saved.code, saved.stderr).toBe(0);
    const ok = await c.api().post('/v1/auth/login').send({ username: 'boss', password: 'tram-lantern-oboe-47' });
    expect(ok.status, ok.text).toBe(200);
  }, 60_000);
});

describe('login log lines', () => {
  it('name the user and the address of failures and successes, never the password', async () => {
    const lines: Record<string, unknown>[] = [];
    const transport = new winston.transports.Stream({
      stream: new Writable({
        write: (chunk: Buffer | string, _enc, done) => {
          for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
          done();
        },
      }),
    });
    const saved = { silent: logger.silent, level: logger.level };
    for (const t of logger.transports) t.silent = true;
    logger.add(transport);
    logger.silent = false;
    logger.level = 'info';
    try {
      await c.api().post('/v1/auth/login').send({ username: 'finance', password: 'Sekr1t-wrong-guess' });
      const right = c.h.credentials.users.find((u) => u.username === 'finance')!.password;
      await c.api().post('/v1/auth/login').send({ username: 'finance', password: right });
      await new Promise((r) => setImmediate(r));
      const failure = lines.find((l) => l.message === 'login.failure');
      const success = lines.find((l) => l.message === 'login.success');
      expect(failure).toMatchObject({ level: 'warn', user: 'finance', address: expect.stringMatching(/127\.0\.0\.1/), failures: 1 });
      expect(success).toMatchObject({ level: 'info', user: 'finance', address: expect.stringMatching(/127\.0\.0\.1/) });
      expect(JSON.stringify(lines)).not.toContain('Sekr1t-wrong-guess');
      expect(JSON.stringify(lines)).not.toContain(right);
    } finally {
      logger.remove(transport);
      for (const t of logger.transports) t.silent = false;
      logger.silent = saved.silent;
      logger.level = saved.level;
    }
  });
});
