// The nightly run inside the server: a little after each cutoff (Europe/Rome), close
// and settle every business-day window that is over and not yet settled.
import { Cron } from 'croner';
import { systemClock, type Clock } from '../src/clock.js';
import { logger } from '../src/log.js';
import type { Store } from '../src/store/types.js';
import type { Operator } from './figures.js';
import { settle, windowsDue } from './run.js';

/** Minutes after the cutoff: requests in flight across the cutoff are committed by then. */
export const RUN_DELAY_MINUTES = 5;

/** How a nightly run ended: every window due settled, one could not start or was refused, or another instance ran it. */
export type RunOutcome = 'ok' | 'failed' | 'skipped';

export function scheduleSettlement(
  store: Store,
  opts: { cutoff: string; operator: Operator; clock?: Clock; onRun?: (outcome: RunOutcome, seconds: number) => void },
): Cron {
  const clock = opts.clock ?? systemClock;
  const [h, m] = opts.cutoff.split(':').map(Number) as [number, number];
  const at = h * 60 + m + RUN_DELAY_MINUTES;
  const pattern = `0 ${at % 60} ${Math.floor(at / 60) % 24} * * *`;
  return new Cron(pattern, { timezone: 'Europe/Rome', protect: true, name: 'settlement' }, async () => {
    const started = performance.now();
    // Several instances on one PostgreSQL: the first to take the lock runs, the others skip.
    const run = await store.exclusively('settlement', () => runDue(store, opts.cutoff, opts.operator, clock())).catch((err: unknown) => {
      logger.error('settlement run could not start', { error: err instanceof Error ? err.message : String(err) });
      return { ran: true as const, value: 'failed' as const };
    });
    if (!run.ran) logger.info('settlement run: another instance is running it');
    opts.onRun?.(run.ran ? run.value : 'skipped', (performance.now() - started) / 1000);
  });
}

async function runDue(store: Store, cutoff: string, operator: Operator, now: number): Promise<'ok' | 'failed'> {
  let due: string[];
  try {
    due = await windowsDue(store, cutoff, now);
  } catch (err) {
    // Never let the nightly run take the switch down: log, and try again tomorrow.
    logger.error('settlement run could not start', { error: err instanceof Error ? err.message : String(err) });
    return 'failed';
  }
  let outcome: 'ok' | 'failed' = 'ok';
  for (const date of due) {
    try {
      const r = await settle(store, date, { cutoff, operator, now, actor: 'system:scheduler' });
      logger.info('settlement run', { date, outcome: r.outcome, payments: r.figures.totals.payments, gross: r.figures.totals.gross });
    } catch (err) {
      logger.error('settlement run refused', { date, error: err instanceof Error ? err.message : String(err) });
      outcome = 'failed';
    }
  }
  return outcome;
}
