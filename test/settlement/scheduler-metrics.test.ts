// The nightly run tells its outcome and duration (issue 13: settlement runs in /metrics).
// The scheduled job triggered by hand on a switch whose store has business days over and
// unsettled: it settles them, reports 'ok', and the metrics say so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleSettlement, type RunOutcome } from '../../settlement/scheduler.js';
import { windowsDue } from '../../settlement/run.js';
import { Metrics } from '../../src/metrics.js';
import { bookDay, startSwitch, type Switch } from './support.js';

let sw: Switch;

beforeAll(async () => {
  sw = await startSwitch({ positions: 50, at: ['2026-11-20', '10:00:00'] });
});

afterAll(async () => {
  await sw?.close();
});

describe('nightly settlement run metrics', () => {
  it('reports the outcome and duration of a run to the metrics', async () => {
    const store = sw.h.rt.store;
    const cutoff = '00:00';
    // A day with payments two days back: it and the day after are due (none before the first movement).
    sw.setRome('2026-11-18', '10:00:00');
    await bookDay(sw, { date: '2026-11-18', free: 3, reverseOneIn: 1000 });
    sw.setRome('2026-11-20', '10:00:00');
    const due = await windowsDue(store, cutoff, sw.clock.now, 3);
    expect(due.length).toBeGreaterThan(0);
    const metrics = new Metrics({ queueDepth: () => 0, isoConnections: () => 0, streamSubscribers: () => 0, settlementDue: async () => (await windowsDue(store, cutoff, sw.clock.now)).length });
    const runs: [RunOutcome, number][] = [];
    const job = scheduleSettlement(store, {
      cutoff,
      operator: { name: 'Operatore Test', iban: 'IT60X0542811101000000123456' },
      clock: () => sw.clock.now,
      onRun: (outcome, seconds) => {
        runs.push([outcome, seconds]);
        metrics.settlementRun(outcome, seconds, sw.clock.now);
      },
    });
    try {
      await job.trigger();
    } finally {
      job.stop();
    }
    expect(runs).toHaveLength(1);
    expect(runs[0]![0]).toBe('ok');
    expect(runs[0]![1]).toBeGreaterThanOrEqual(0);
    const text = await metrics.registry.metrics();
    expect(text).toContain('tserve_settlement_runs_total{outcome="ok"} 1');
    expect(text).toContain('tserve_settlement_runs_total{outcome="failed"} 0');
    expect(text).toContain('tserve_settlement_run_duration_seconds_count{outcome="ok"} 1');
    expect(text).toContain(`tserve_settlement_last_run_timestamp_seconds{outcome="ok"} ${sw.clock.now / 1000}`);
    expect(text).toContain('tserve_settlement_windows_due 0');
  });
});
