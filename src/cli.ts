// The `tserve` command line: start, seed, user add, watch, check, copy, kek rotate, terminal (the simulator), pagopa-node (pagoPA's node simulated).
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { PASSWORD_COST, hashSecret } from './auth/secrets.js';
import { DEMO_SEED_REFUSED, openRuntime, seedDemo } from './bootstrap.js';
import { loadConfig } from './config.js';
import { startServer, version } from './server.js';
import { addWatchCommand } from './watch-cli.js';
import { addSettleCommand } from './settle-cli.js';
import { addTerminalCommands } from '../terminals/simulator/commands.js';
import { Presets, SingleBar } from 'cli-progress';
import { CONTROL_CHARACTER_MESSAGE, hasControlCharacter } from './domain/text.js';
import { copySqliteToPostgres } from './store/copy.js';
import { passwordProblem } from './auth/password-policy.js';
import { addAuditCommands } from './audit-cli.js';
import { addKekCommands } from './kek-cli.js';
import { addCredentialCommands } from './credentials-cli.js';
import { addNetworkCommands } from './network-cli.js';
import { addOpsCommands } from './ops-cli.js';
import { addNetworkImportCommands } from './network-import-cli.js';
import { addPagopaNodeCommand } from './pagopa-node-cli.js';

const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return Number(v);
};

const program = new Command()
  .name('tserve')
  .description('Real-time payment switch for counter networks (configuration: see README, TSERVE_* variables)')
  .version(version());

program
  .command('start')
  .description('run the switch (same as npm start)')
  .action(async () => {
    const server = await startServer(loadConfig(process.env, { TSERVE_PAGOPA_DEMO_NODE: 'true' }));
    // Not awaited: a signal handler has no caller to await it. A close that fails is an
    // unhandled rejection, which ends the process with the error (exit 1).
    const stop = () => void server.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // After the handlers: whoever reads this line may send SIGTERM at once.
    console.log(`tserve: listening on ${server.url}`);
  });

program
  .command('seed')
  .description('(re)create the catalogue, the demo network and demo users; ERASES every payment; demo mode only')
  .option('--seed <n>', 'generator seed', int('seed'))
  .option('--positions <n>', 'number of debt positions', int('positions'))
  .option('--force', 'erase a database that already holds payments')
  .action(async (opts: { seed?: number; positions?: number; force?: boolean }) => {
    const config = loadConfig();
    if (config.mode !== 'demo') throw new Error(DEMO_SEED_REFUSED); // before the store is opened
    const rt = await openRuntime(config, undefined, { create: true }); // seed creates the database
    try {
      const report = await rt.store.checkInvariants();
      if ((report.checked.payments ?? 0) > 0 && !opts.force) {
        throw new Error(`the database holds ${report.checked.payments} payments; add --force to erase them`);
      }
      const { file, credentials } = await seedDemo(
        rt,
        { mode: config.mode, dataDir: config.dataDir, seed: opts.seed ?? config.seed, seedPositions: opts.positions ?? config.seedPositions },
        (step) => console.log(`seed: ${step}`),
      );
      console.log(`seeded ${credentials.terminals.length} terminals; credentials in ${file}`);
    } finally {
      await rt.store.close();
    }
  });

const user = program.command('user').description('users of the entity, finance and admin APIs');
user
  .command('add <username>')
  .description('create or replace a user; prints a generated password unless --password is given')
  .addOption(new Option('--role <role>', 'role').choices(['entity', 'finance', 'admin']).makeOptionMandatory())
  .option('--entity <id>', 'entity the user acts for (role entity)')
  .option('--password <password>', 'password (default: generated and printed once)')
  .action(async (username: string, opts: { role: 'entity' | 'finance' | 'admin'; entity?: string; password?: string }) => {
    if ((opts.role === 'entity') !== Boolean(opts.entity)) throw new Error('--entity is required for role entity, and only for it');
    if (hasControlCharacter(username)) throw new Error(`user name: ${CONTROL_CHARACTER_MESSAGE}`);
    const config = loadConfig();
    const password = opts.password ?? randomBytes(12).toString('base64url');
    // The policy of new passwords (auth/password-policy.ts), checked before anything is opened.
    const problem = passwordProblem(password, username, config.passwordMinLength);
    if (problem) throw new Error(`password refused: ${problem}`);
    const rt = await openRuntime(config);
    try {
      if (opts.entity) {
        const catalogue = await rt.store.loadCatalogue();
        if (!catalogue.entities.has(opts.entity)) throw new Error(`unknown entity ${opts.entity}`);
      }
      await rt.store.addUser({ username, role: opts.role, entityId: opts.entity ?? null, passwordHash: await hashSecret(password, PASSWORD_COST) });
      await rt.store.appendAudit([{ actor: 'cli', action: 'user.save', target: `user:${username}`, detail: { role: opts.role, entityId: opts.entity ?? null } }]);
      console.log(opts.password ? `user ${username} saved` : `user ${username} saved; password: ${password}`);
    } finally {
      await rt.store.close();
    }
  });
for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
  user
    .command(`${name} <username>`)
    .description(disabled ? 'disable a user: login refused, its tokens refused, its open streams closed (4403)' : 'enable a disabled user again')
    .action(async (username: string) => {
      const rt = await openRuntime(loadConfig());
      try {
        const done = await rt.store.setUserDisabled(username, disabled, { actor: 'cli', action: `user.${name}`, target: `user:${username}` });
        if (!done) throw new Error(`no user ${username}`);
        console.log(`user ${username} ${name}d`);
      } finally {
        await rt.store.close();
      }
    });
}

addWatchCommand(program, () => loadConfig());

addSettleCommand(program, () => loadConfig());

program
  .command('check')
  .description("check the ledger's invariants; exits 1 if any is broken")
  .option('--json', 'print the report as JSON')
  .action(async (opts: { json?: boolean }) => {
    const rt = await openRuntime(loadConfig());
    try {
      const report = await rt.store.checkInvariants();
      if (opts.json) console.log(JSON.stringify(report, null, 2));
      else {
        console.log(Object.entries(report.checked).map(([k, v]) => `${k}: ${v}`).join(', '));
        for (const v of report.violations) console.log(`VIOLATION ${v}`);
        console.log(report.ok ? 'ledger invariants intact' : `${report.violations.length} violations`);
      }
      process.exitCode = report.ok ? 0 : 1;
    } finally {
      await rt.store.close();
    }
  });

program
  .command('copy')
  .description('copy an embedded deployment (the SQLite file) into an empty PostgreSQL database, then prove every row and cent arrived; exits 1 if not')
  .requiredOption('--from <file>', 'the SQLite file (data/tserve.db); stop the switch first')
  .requiredOption('--to <url>', 'postgres://user:password@host:5432/database, created empty beforehand')
  .option('--json', 'print the report as JSON')
  .action(async (opts: { from: string; to: string; json?: boolean }) => {
    if (!/^postgres(ql)?:\/\//.test(opts.to)) throw new InvalidArgumentError('--to must be a postgres:// URL');
    const bar = new SingleBar({ format: '{step} [{bar}] {value}/{total}', hideCursor: true }, Presets.shades_classic);
    let current = '';
    const report = await copySqliteToPostgres(opts.from, opts.to, (step, done, total) => {
      if (opts.json) return;
      if (step !== current) {
        if (current) bar.stop();
        current = step;
        bar.start(total, done, { step: step.padEnd(28) });
      } else bar.update(done);
    }).finally(() => bar.stop());
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(Object.entries(report.rows).map(([k, v]) => `${k}: ${v}`).join(', '));
      for (const [side, r] of [['file', report.source], ['PostgreSQL', report.target]] as const) {
        console.log(`check of the ${side}: ${r.ok ? 'ledger invariants intact' : `${r.violations.length} violations`}`);
        for (const v of r.violations) console.log(`VIOLATION (${side}) ${v}`);
      }
      for (const d of report.differences) console.log(`DIFFERENCE ${d}`);
      console.log(report.ok ? 'copied: every row and every cent is in PostgreSQL' : 'the copy is NOT faithful: do not switch over');
    }
    process.exitCode = report.ok ? 0 : 1;
  });

addTerminalCommands(program, () => loadConfig());
addAuditCommands(program, user, () => loadConfig());
addKekCommands(program, () => loadConfig());
addCredentialCommands(program, () => loadConfig());
addNetworkCommands(program, () => loadConfig());
addOpsCommands(program, () => loadConfig());
addNetworkImportCommands(program, () => loadConfig());
addPagopaNodeCommand(program, () => loadConfig());

program.parseAsync().catch((err: unknown) => {
  console.error(`tserve: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
