// `tserve settle`: one business day, or (no --date) every window that is over and not
// settled, oldest first, so that a run after downtime catches up (settlement/run.ts
// settleDue, as the nightly schedule does); a progress bar per window.
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { settle, settleDue, type SettleResult } from '../settlement/run.js';
import { openRuntime } from './bootstrap.js';
import type { Config } from './config.js';
import { formatEuro } from './domain/money.js';
import { isPaymentError } from './payments/errors.js';

const reason = (err: unknown) => (isPaymentError(err) ? err.detail : err instanceof Error ? err.message : String(err));

export function addSettleCommand(program: Command, loadConfig: () => Config): void {
  program
    .command('settle')
    .description('close and settle a business day (default: every window that is over and not settled, oldest first: catch-up after downtime); idempotent')
    .option('--date <YYYY-MM-DD>', 'the business day to settle')
    .action(async (o: { date?: string }) => {
      if (o.date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(o.date)) throw new Error('--date must be YYYY-MM-DD');
      const config = loadConfig();
      const rt = await openRuntime(config);
      const bar = new SingleBar({ format: 'settle {date} [{bar}] {value}/{total} {step}', hideCursor: true }, Presets.shades_classic);
      const settled = (r: SettleResult) => {
        bar.stop();
        const t = r.figures.totals;
        console.log(
          `${r.window.date}: ${r.outcome}, status ${r.window.status}; ${t.payments} payments, gross ${formatEuro(t.gross)}, collected ${formatEuro(t.collected)}, ` +
            `to entities ${formatEuro(t.netPayouts)}, debits ${formatEuro(t.directDebits)}, credits ${formatEuro(t.creditTransfers)}; hash ${r.window.figuresHash}`,
        );
      };
      const opts = {
        cutoff: config.settlementCutoff,
        operator: config.operator,
        now: rt.clock(),
        actor: 'cli',
        // The PSP's id makes the flow ids of pagoPA payments' credit transfers (settlement/pagopa.ts).
        pagopa: config.pagopa ? { idPSP: config.pagopa.identity.idPSP } : null,
        onProgress: (step: string, done: number) => bar.update(done, { step }),
      };
      try {
        if (o.date) {
          bar.start(4, 0, { date: o.date, step: '' });
          settled(await settle(rt.store, o.date, opts));
          return;
        }
        const run = await settleDue(rt.store, {
          ...opts,
          onWindow: (date, i, count) => bar.start(4, 0, { date: count > 1 ? `${date} (${i + 1}/${count})` : date, step: '' }),
          onSettled: settled,
        });
        if (run.due.length === 0) console.log('nothing to settle: every window that is over is settled');
        if (run.failed) {
          // A refusal (SETTLEMENT_UNBALANCED...) or the database gone: the later windows wait, in order.
          const { date, error } = run.failed;
          const left = run.due.slice(run.due.indexOf(date) + 1);
          const later = left.length === 0 ? '' : `; ${left.length === 1 ? 'the later window' : `the ${left.length} later windows`} (${left.join(', ')}) left for the next run`;
          throw new Error(`${run.settled.length} of ${run.due.length} windows settled; ${date} could not be: ${reason(error)}${later}`, { cause: error });
        }
      } catch (err) {
        // A refusal (WINDOW_OPEN, NOT_A_BUSINESS_DAY, SETTLEMENT_UNBALANCED...): its message, and exit 1.
        throw isPaymentError(err) ? new Error(err.detail, { cause: err }) : err;
      } finally {
        bar.stop();
        await rt.store.close();
      }
    });
}
