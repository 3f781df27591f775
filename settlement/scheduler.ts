// The nightly run inside the server: a little after each cutoff (Europe/Rome), close
// and settle every business-day window that is over and not yet settled, oldest first;
// then, with pagoPA's bridge on, build the reporting flows of approved windows that
// lack them and send every flow the node has not accepted yet (settlement/pagopa.ts).
import { Cron } from 'croner';
import { systemClock, type Clock } from '../src/clock.js';
import { logger } from '../src/log.js';
import type { PspClient } from '../src/pagopa/client.js';
import type { Store } from '../src/store/types.js';
import { reportPagoPaFlows } from './pagopa.js';
import type { Operator } from './figures.js';
import { settleDue } from './run.js';

/** Minutes after the cutoff: requests in flight across the cutoff are committed by then. */
export const RUN_DELAY_MINUTES = 5;

/** How a nightly run ended: every window due settled, one could not start or was refused, or another instance ran it. */
export type RunOutcome = 'ok' | 'failed' | 'skipped';

export function scheduleSettlement(
  store: Store,
  opts: {
    cutoff: string;
    operator: Operator;
    clock?: Clock;
    onRun?: (outcome: RunOutcome, seconds: number) => void;
    /** pagoPA's node (config.pagopa); null or absent: the bridge is off, no flows. */
    pagopa?: PspClient | null;
  },
): Cron {
  const clock = opts.clock ?? systemClock;
  const [h, m] = opts.cutoff.split(':').map(Number) as [number, number];
  const at = h * 60 + m + RUN_DELAY_MINUTES;
  const pattern = `0 ${at % 60} ${Math.floor(at / 60) % 24} * * *`;
  return new Cron(pattern, { timezone: 'Europe/Rome', protect: true, name: 'settlement' }, async () => {
    const started = performance.now();
    // Several instances on one PostgreSQL: the first to take the lock runs, the others skip.
    const run = await store.exclusively('settlement', () => nightly(store, opts.cutoff, opts.operator, clock, opts.pagopa ?? null)).catch((err: unknown) => {
      logger.error('settlement run could not start', { error: err instanceof Error ? err.message : String(err) });
      return { ran: true as const, value: 'failed' as const };
    });
    if (!run.ran) logger.info('settlement run: another instance is running it');
    opts.onRun?.(run.ran ? run.value : 'skipped', (performance.now() - started) / 1000);
  });
}

/** One night's work: the windows due, then the pagoPA flows (sent even when a window was refused). */
export async function nightly(store: Store, cutoff: string, operator: Operator, clock: Clock, pagopa: PspClient | null): Promise<'ok' | 'failed'> {
  const settled = await runDue(store, cutoff, operator, clock(), pagopa);
  if (!pagopa) return settled;
  try {
    await reportPagoPaFlows(store, pagopa, clock);
    return settled;
  } catch (err) {
    logger.error('pagoPA flows could not be sent', { error: err instanceof Error ? err.message : String(err) });
    return 'failed';
  }
}

async function runDue(store: Store, cutoff: string, operator: Operator, now: number, pagopa: PspClient | null): Promise<'ok' | 'failed'> {
  try {
    // Every window over and not settled, oldest first (a night or more of downtime caught
    // up); stops at the first refusal, leaving the later ones for tomorrow, in order.
    const run = await settleDue(store, {
      cutoff,
      operator,
      now,
      actor: 'system:scheduler',
      pagopa: pagopa ? { idPSP: pagopa.config.identity.idPSP } : null,
      onSettled: (r) => logger.info('settlement run', { date: r.window.date, outcome: r.outcome, payments: r.figures.totals.payments, gross: r.figures.totals.gross }),
    });
    if (run.failed) {
      const { date, error } = run.failed;
      const left = run.due.slice(run.due.indexOf(date) + 1);
      logger.error('settlement run refused', { date, error: error instanceof Error ? error.message : String(error), leftForNextRun: left });
      return 'failed';
    }
    return 'ok';
  } catch (err) {
    // Never let the nightly run take the switch down: log, and try again tomorrow.
    logger.error('settlement run could not start', { error: err instanceof Error ? err.message : String(err) });
    return 'failed';
  }
}
