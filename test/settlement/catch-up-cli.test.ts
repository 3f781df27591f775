// `tserve settle` without --date, run as the command it is, on the wall clock (the CLI
// reads it; the catch-up itself, on chosen dates, is catch-up.test.ts): the first run
// settles every window that is over, oldest first, one line each; the second has nothing
// to do. The cutoff is put twelve hours away from now, so that no window closes between
// the two runs whatever the hour.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, storeChildEnv } from '../e2e/process.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-settle-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function tserve(args: string[], extra: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/tserve.js', ...args], { cwd: ROOT, env: await storeChildEnv(dir, extra), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('tserve settle (no date)', () => {
  it('settles every window that is over, oldest first, and then has nothing to settle', async () => {
    const romeHour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Rome', hour: '2-digit', hourCycle: 'h23' }).format(new Date()));
    const env = { TSERVE_SETTLEMENT_CUTOFF: `${String((romeHour + 12) % 24).padStart(2, '0')}:00`, TSERVE_SEED_POSITIONS: '200' };
    const seeded = await tserve(['seed'], env);
    expect(seeded.code, seeded.stdout + seeded.stderr).toBe(0);

    // A new installation owes nothing before its first movement or its first settled
    // window: with no payment, nothing is due. One window settled ten days back (the
    // first business day from there) makes every business day after it due.
    const none = await tserve(['settle'], env);
    expect(none.stdout.trim(), none.stdout + none.stderr).toBe('nothing to settle: every window that is over is settled');
    let start = '';
    for (let back = 10; back < 20 && !start; back++) {
      const date = new Date(Date.now() - back * 86_400_000).toISOString().slice(0, 10);
      const r = await tserve(['settle', '--date', date], env);
      if (r.code === 0) start = date;
      else expect(r.stderr, r.stdout + r.stderr).toMatch(/business day|working day|holiday/i);
    }
    expect(start).not.toBe('');

    const first = await tserve(['settle'], env);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const dates = [...first.stdout.matchAll(/^(\d{4}-\d{2}-\d{2}): created, status draft; 0 payments/gm)].map((m) => m[1]!);
    expect(dates.length).toBeGreaterThan(1); // the business days after `start`
    expect(dates[0]! > start).toBe(true);
    expect(dates).toEqual([...dates].sort());
    expect(new Set(dates).size).toBe(dates.length);

    const second = await tserve(['settle'], env);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe('nothing to settle: every window that is over is settled');
  }, 120_000);
});
