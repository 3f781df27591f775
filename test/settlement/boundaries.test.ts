// Window boundaries in Europe/Rome: the last millisecond of a day and the first of the
// next fall in different windows; weekends settle on Monday; the daylight-saving days
// (2026-03-29 spring forward, 2026-10-25 fall back) tile time with no gap and no overlap,
// so Monday's window is 71 or 73 hours long; a non-midnight cutoff, even one in the
// skipped hour.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { romeInstant } from '../../src/domain/calendar.js';
import { windowPeriod } from '../../settlement/reports.js';
import { WindowOpenError, settle } from '../../settlement/run.js';
import { startSwitch, type Switch } from './support.js';

const HOUR = 3_600_000;

async function payAt(s: Switch, instant: number): Promise<string> {
  s.clock.now = instant;
  const t = s.h.credentials.terminals[0]!;
  const r = await s.h.payments.pay({ terminalId: t.terminalId, counterId: t.counterId }, { service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 }, null, 'json');
  return r.payment.settlementDate;
}

async function settledCount(s: Switch, date: string, now: number): Promise<number> {
  const r = await settle(s.h.rt.store, date, { cutoff: s.h.config.settlementCutoff, operator: s.h.config.operator, now });
  return r.figures.totals.payments;
}

describe('midnight cutoff', () => {
  let s: Switch;
  beforeAll(async () => {
    s = await startSwitch({ positions: 50 });
  });
  afterAll(async () => s?.close());

  it('23:59:59.999 and 00:00:00.000 Rome fall in different windows, and each is settled in its own', async () => {
    expect(await payAt(s, romeInstant('2026-11-18', '23:59:59') + 999)).toBe('2026-11-18');
    expect(await payAt(s, romeInstant('2026-11-19', '00:00:00'))).toBe('2026-11-19');
    const later = romeInstant('2026-11-23', '12:00:00');
    expect(await settledCount(s, '2026-11-18', later)).toBe(1);
    expect(await settledCount(s, '2026-11-19', later)).toBe(1);
  });

  it('spring forward (2026-03-29): consecutive milliseconds across the jump, a 71-hour Monday window', async () => {
    const cases: [number, string][] = [
      [romeInstant('2026-03-27', '23:59:59') + 999, '2026-03-27'],
      [romeInstant('2026-03-28', '00:00:00'), '2026-03-30'],
      [romeInstant('2026-03-29', '01:59:59') + 999, '2026-03-30'],
      [romeInstant('2026-03-29', '03:00:00'), '2026-03-30'],
      [romeInstant('2026-03-30', '23:59:59') + 999, '2026-03-30'],
      [romeInstant('2026-03-31', '00:00:00'), '2026-03-31'],
    ];
    // 01:59:59.999 CET and 03:00:00.000 CEST are one millisecond apart.
    expect(cases[3]![0] - cases[2]![0]).toBe(1);
    for (const [at, expected] of cases) expect(await payAt(s, at)).toBe(expected);
    const p = windowPeriod('2026-03-30', '00:00');
    expect(p.to - p.from).toBe(71 * HOUR);
    expect(p.from).toBe(cases[1]![0]);
    expect(p.to).toBe(cases[5]![0]);
    const later = romeInstant('2026-04-02', '12:00:00');
    expect(await settledCount(s, '2026-03-27', later)).toBe(1);
    expect(await settledCount(s, '2026-03-30', later)).toBe(4);
    expect(await settledCount(s, '2026-03-31', later)).toBe(1);
  });

  it('fall back (2026-10-25): both 02:30 are in Monday\'s window, which lasts 73 hours', async () => {
    const first = romeInstant('2026-10-25', '02:30:00');
    const cases: [number, string][] = [
      [romeInstant('2026-10-23', '23:59:59') + 999, '2026-10-23'],
      [romeInstant('2026-10-24', '00:00:00'), '2026-10-26'],
      [first, '2026-10-26'],
      [first + HOUR, '2026-10-26'], // the repeated 02:30, now CET
      [romeInstant('2026-10-26', '23:59:59') + 999, '2026-10-26'],
      [romeInstant('2026-10-27', '00:00:00'), '2026-10-27'],
    ];
    for (const [at, expected] of cases) expect(await payAt(s, at)).toBe(expected);
    const p = windowPeriod('2026-10-26', '00:00');
    expect(p.to - p.from).toBe(73 * HOUR);
    const later = romeInstant('2026-10-30', '12:00:00');
    expect(await settledCount(s, '2026-10-23', later)).toBe(1);
    expect(await settledCount(s, '2026-10-26', later)).toBe(4);
    expect(await settledCount(s, '2026-10-27', later)).toBe(1);
  });
});

describe('a configurable cutoff', () => {
  let s: Switch;
  beforeAll(async () => {
    s = await startSwitch({ positions: 50, env: { TSERVE_SETTLEMENT_CUTOFF: '02:30' } });
  });
  afterAll(async () => s?.close());

  it("a business day's window closes at the cutoff on that day: not a millisecond before", async () => {
    // Window of day X: [X-1 at the cutoff, X at the cutoff); later payments count for the next day.
    expect(await payAt(s, romeInstant('2026-11-19', '02:29:59') + 999)).toBe('2026-11-19');
    expect(await payAt(s, romeInstant('2026-11-19', '02:30:00'))).toBe('2026-11-20');
    await expect(settledCount(s, '2026-11-19', romeInstant('2026-11-19', '02:29:59') + 999)).rejects.toBeInstanceOf(WindowOpenError);
    expect(await settledCount(s, '2026-11-19', romeInstant('2026-11-19', '02:30:00'))).toBe(1);
    const p = windowPeriod('2026-11-19', '02:30');
    expect([p.from, p.to]).toEqual([romeInstant('2026-11-18', '02:30:00'), romeInstant('2026-11-19', '02:30:00')]);
  });

  it('a cutoff in the hour that spring skips closes when the hour ends', async () => {
    const cases: [number, string][] = [
      [romeInstant('2026-03-27', '02:29:59') + 999, '2026-03-27'],
      [romeInstant('2026-03-27', '02:30:00'), '2026-03-30'],
      [romeInstant('2026-03-29', '01:59:59') + 999, '2026-03-30'],
      [romeInstant('2026-03-29', '03:00:00'), '2026-03-30'],
      [romeInstant('2026-03-30', '02:29:59') + 999, '2026-03-30'],
      [romeInstant('2026-03-30', '02:30:00'), '2026-03-31'],
    ];
    for (const [at, expected] of cases) expect(await payAt(s, at)).toBe(expected);
    const p = windowPeriod('2026-03-30', '02:30');
    expect(p.from).toBe(cases[1]![0]);
    expect(p.to).toBe(cases[5]![0]);
    expect(p.to - p.from).toBe(71 * HOUR);
    const later = romeInstant('2026-04-02', '12:00:00');
    expect(await settledCount(s, '2026-03-30', later)).toBe(4);
  });
});
