// `tserve credentials ...`: a terminal's two credentials from the command line, each
// shown once (docs/terminal-credentials.md): provision a terminal (TMK and API secret),
// rotate its TMK, rotate its JSON API secret. Audited with the actor 'cli'.
import type { Command } from 'commander';
import { openRuntime } from './bootstrap.js';
import type { Config } from './config.js';
import { NetworkAdmin } from './payments/admin.js';
import { isPaymentError } from './payments/errors.js';
import { storeHolder } from './store/in-use.js';

const ACTOR = 'cli';

async function withAdmin<T>(config: Config, fn: (admin: NetworkAdmin) => Promise<T>): Promise<T> {
  const rt = await openRuntime(config);
  try {
    return await fn(new NetworkAdmin(rt.store, rt.kek));
  } catch (err) {
    throw isPaymentError(err) ? new Error(err.detail, { cause: err }) : err;
  } finally {
    await rt.store.close();
  }
}

/**
 * The embedded store has no cross-process signal: a switch running on the file would keep
 * the old TMK (and its cached terminal row) in memory. So on SQLite a rotation is refused
 * while a switch holds the file; rotate through the admin API there, which ends the
 * session at once. On PostgreSQL every instance hears of the rotation.
 */
async function refuseWhileEmbeddedRuns(config: Config): Promise<void> {
  if (config.database) return;
  const holder = await storeHolder(config);
  if (holder) {
    throw new Error(
      `${holder}: rotate through the running switch's admin API instead ` +
        '(POST /v1/admin/terminals/<id>/tmk or /api-secret), or stop it first',
    );
  }
}

export function addCredentialCommands(program: Command, loadConfig: () => Config): void {
  const cmd = program
    .command('credentials')
    .description("a terminal's credentials: its TMK (ISO 8583) and its API secret (JSON API), each shown once");

  cmd
    .command('provision')
    .description('a new terminal of a counter: prints its TMK and its API secret, this once')
    .requiredOption('--counter <id>', 'the counter the terminal belongs to')
    .option('--terminal <id>', 'the terminal id (default: the next T number)')
    .action(async (o: { counter: string; terminal?: string }) => {
      const t = await withAdmin(loadConfig(), (a) => a.provisionTerminal({ counterId: o.counter, terminalId: o.terminal }, ACTOR));
      console.log(`terminal ${t.terminalId} of counter ${t.counterId}\ntmk: ${t.tmkHex}\napiSecret: ${t.apiSecret}\n(shown this once; keep them apart)`);
    });

  cmd
    .command('rotate-tmk <terminalId>')
    .description("a new TMK for a terminal, printed this once; the old one stops working and the terminal's ISO session ends")
    .action(async (terminalId: string) => {
      const config = loadConfig();
      await refuseWhileEmbeddedRuns(config);
      const t = await withAdmin(config, (a) => a.rotateTmk(terminalId, ACTOR));
      console.log(`terminal ${t.terminalId}\ntmk: ${t.tmkHex}\n(shown this once; the terminal signs on again with it)`);
    });

  cmd
    .command('rotate-secret <terminalId>')
    .description('a new JSON API secret for a terminal, printed this once; the old one and the tokens issued under it stop working')
    .action(async (terminalId: string) => {
      const config = loadConfig();
      await refuseWhileEmbeddedRuns(config);
      const t = await withAdmin(config, (a) => a.rotateApiSecret(terminalId, ACTOR));
      console.log(`terminal ${t.terminalId}\napiSecret: ${t.apiSecret}\n(shown this once)`);
    });
}
