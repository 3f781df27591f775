// `tserve migrate`, `tserve backup <file>`, `tserve restore <file>` (docs/operations.md).
import { copyFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { checkKek } from './auth/kek-rotation.js';
import { KEK_FILE_NAME, readKekFile } from './auth/keys.js';
import { openStore } from './bootstrap.js';
import type { Config } from './config.js';
import { databaseName, requireExisting } from './store/existing.js';
import { lockDataDir, storeHolder } from './store/in-use.js';
import { migrationStatus, migrate } from './store/postgres/migrate.js';
import { openPool } from './store/postgres/pool.js';
import { backupSqlite, standalone } from './store/sqlite/backup.js';
import { planSqliteMigration, migrateSqlite, sqliteSchemaVersion } from './store/sqlite/schema-version.js';

const ON_POSTGRES = (what: string, tool: string) =>
  `${what} of PostgreSQL is PostgreSQL's own: ${tool} (see docs/operations.md); tserve ${what.split(' ')[0]} works on the embedded SQLite file`;

/** The KEK the switch would use, without generating one (demo mode would, into the data directory). */
function configuredKek(config: Config): Buffer {
  if (config.kekHex) return Buffer.from(config.kekHex, 'hex');
  if (config.kekFile) return readKekFile('TSERVE_KEK_FILE', config.kekFile, config);
  const file = path.join(config.dataDir, KEK_FILE_NAME);
  if (config.mode === 'demo' && existsSync(file)) return readKekFile(KEK_FILE_NAME, file, config);
  throw new Error(
    "no KEK: the backup's terminal keys are sealed under the KEK of the switch it was taken from, and it is not in the backup. " +
      `Set TSERVE_KEK_FILE (or TSERVE_KEK) to it, or in demo mode copy that switch's ${KEK_FILE_NAME} (and jwt.key) into ${config.dataDir}`,
  );
}

function progressBar(label: string): { update(done: number, total: number): void; stop(): void } {
  const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total} pages`, hideCursor: true }, Presets.shades_classic);
  let started = false;
  return {
    update(done, total) {
      if (!started) bar.start(total, done);
      else bar.setTotal(total);
      started = true;
      bar.update(done);
    },
    stop: () => bar.stop(),
  };
}

async function migrateCommand(config: Config, dryRun: boolean): Promise<void> {
  await requireExisting(config);
  if (config.database) {
    const pool = openPool(config.database.url, 1);
    try {
      const s = await migrationStatus(pool);
      console.log(`${databaseName(config.database.url)}: schema version ${s.current} → ${s.target}`);
      for (const m of s.pending) console.log(`  ${dryRun ? 'pending' : 'applying'} ${m.name}`);
      if (s.pending.length === 0) console.log('up to date');
      else if (!dryRun) console.log(`applied ${(await migrate(pool)).length} migration(s)`);
    } finally {
      await pool.end();
    }
    return;
  }
  if (!dryRun) {
    // A running switch would go on with the schema it read at its start.
    const holder = await storeHolder(config);
    if (holder) throw new Error(`${holder}: stop it first (it runs the migrations itself at its start)`);
  }
  const plan = dryRun ? planSqliteMigration(config.dbFile) : null;
  const run = plan ?? migrateSqlite(config.dbFile);
  console.log(`${config.dbFile}: schema version ${run.from ?? 'none'} → ${run.to}`);
  for (const s of run.applied) console.log(`  ${dryRun ? 'pending' : 'applied'} ${s.version}: ${s.name}`);
  if (plan && plan.added.length > 0) console.log(`  tables and columns to add: ${plan.added.join(', ')}`);
  if (run.applied.length === 0 && (!plan || plan.added.length === 0)) console.log('up to date');
}

async function backupCommand(config: Config, dest: string): Promise<void> {
  if (config.database) throw new Error(ON_POSTGRES('backup', 'pg_dump -Fc (or pg_basebackup with WAL archiving for point-in-time recovery)'));
  await requireExisting(config);
  const bar = progressBar('backup');
  const { pages } = await backupSqlite(config.dbFile, path.resolve(dest), (done, total) => bar.update(done, total)).finally(() => bar.stop());
  console.log(
    `backup of ${config.dbFile} written to ${path.resolve(dest)} (${pages} pages, mode 0600): every payment committed before it began. ` +
      'It holds no key: keep the KEK it needs (its terminal keys are sealed under it) apart from it',
  );
}

async function restoreCommand(config: Config, source: string): Promise<void> {
  if (config.database) throw new Error(ON_POSTGRES('restore', 'pg_restore into an empty database, then tserve migrate and tserve check'));
  if (!existsSync(source)) throw new Error(`no backup file ${source}`);
  const holder = await storeHolder(config);
  if (holder) throw new Error(`${holder}: stop the switch before restoring`);
  const kek = configuredKek(config);
  const lock = lockDataDir(config.dataDir); // no switch starts while the file is replaced
  const tmp = `${config.dbFile}.restoring`;
  try {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
    copyFileSync(source, tmp);
    const version = sqliteSchemaVersion(tmp);
    // Upgraded like any open (refused when newer than this release), then checked whole.
    const store = await openStore({ dataDir: config.dataDir, dbFile: tmp, database: null }, undefined, { create: true });
    let summary: string;
    try {
      const report = await store.checkInvariants();
      if (!report.ok) {
        throw new Error(`the backup's ledger is broken, not restored:\n  ${report.violations.slice(0, 20).join('\n  ')}${report.violations.length > 20 ? `\n  ... ${report.violations.length} violations` : ''}`);
      }
      const keys = await checkKek(store, kek).catch((err: unknown) => {
        throw new Error(`not restored: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      });
      summary = `${report.checked.payments ?? 0} payments, ledger invariants intact; the configured KEK opens ${keys.total - keys.failed.length} of ${keys.total} terminal keys`;
    } finally {
      await store.close();
    }
    standalone(tmp);
    let kept = '';
    if (existsSync(config.dbFile)) {
      standalone(config.dbFile); // its WAL folded in, so the kept file is whole
      kept = `${config.dbFile}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      renameSync(config.dbFile, kept);
    }
    for (const f of [`${config.dbFile}-wal`, `${config.dbFile}-shm`]) rmSync(f, { force: true });
    renameSync(tmp, config.dbFile);
    console.log(`restored ${path.resolve(source)} (schema version ${version ?? 'none'}) into ${config.dbFile}: ${summary}`);
    if (kept) console.log(`the database it replaced is kept as ${kept}`);
    console.log('start the switch with this same KEK: the terminal keys in the backup are sealed under it');
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
    lock.release();
  }
}

export function addOpsCommands(program: Command, loadConfig: () => Config): void {
  program
    .command('migrate')
    .description("bring the database's schema to this release's version (the switch also does at start), and nothing else")
    .option('--dry-run', 'list the pending migrations without running them')
    .action((o: { dryRun?: boolean }) => migrateCommand(loadConfig(), Boolean(o.dryRun)));

  program
    .command('backup <file>')
    .description('a consistent online backup of the SQLite database (mode 0600) while the switch runs; PostgreSQL: pg_dump')
    .action((file: string) => backupCommand(loadConfig(), file));

  program
    .command('restore <file>')
    .description("replace the SQLite database with a backup, switch stopped: its ledger and the KEK's hold on its terminal keys checked first; the old file kept")
    .action((file: string) => restoreCommand(loadConfig(), file));
}
