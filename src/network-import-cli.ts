// `tserve import <dir or files...>` and `tserve export <dir>`: the whole network as CSV
// files, one per kind (docs/network.md; the format is src/network/csv.ts). An import is
// one NetworkChange through the one door (NetworkService.apply, actor 'cli'): all or
// nothing; --dry-run checks it the same way and writes nothing. Every problem, of the
// files' format or of the network's validation, is printed as file:line.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { openRuntime } from './bootstrap.js';
import type { Config } from './config.js';
import { NETWORK_KEYS, type NetworkChange, type NetworkKind, type NetworkState, type NewCredentials } from './network/change.js';
import { NETWORK_FILES, NETWORK_KINDS, followsFromRefusedRow, formatProblem, locate, readNetwork, sortProblems, writeNetwork } from './network/csv.js';
import { NetworkService } from './network/service.js';
import { storeHolder } from './store/in-use.js';

const ACTOR = 'cli';
/** Files with more rows than this get a progress bar while they are checked and written. */
const PROGRESS_FROM_ROWS = 2000;

/** The files named by the arguments: each a directory (its files of known names) or a file named as one kind's. */
export function networkFiles(args: string[]): { kind: NetworkKind; file: string }[] {
  const byName = new Map(NETWORK_KINDS.map((k) => [NETWORK_FILES[k], k]));
  const out: { kind: NetworkKind; file: string }[] = [];
  const add = (file: string) => {
    const kind = byName.get(path.basename(file).toLowerCase());
    if (!kind) throw new Error(`${file}: not a network file; the files are named ${[...byName.keys()].join(', ')}`);
    const twice = out.find((f) => f.kind === kind);
    if (twice) throw new Error(`${file} and ${twice.file} are both ${NETWORK_FILES[kind]}`);
    out.push({ kind, file });
  };
  for (const arg of args) {
    if (!existsSync(arg)) throw new Error(`${arg}: no such file or directory`);
    if (!statSync(arg).isDirectory()) add(arg);
    else {
      const names = readdirSync(arg).filter((n) => byName.has(n.toLowerCase()));
      if (names.length === 0) throw new Error(`${arg}: holds none of ${[...byName.keys()].join(', ')}`);
      for (const n of names) add(path.join(arg, n));
    }
  }
  return out.sort((a, b) => NETWORK_KINDS.indexOf(a.kind) - NETWORK_KINDS.indexOf(b.kind));
}

type Counts = Record<NetworkKind, { created: number; updated: number; unchanged: number }>;


/** What a change would do to the network, counted per kind (the dry run's report; apply counts the same). */
export function wouldDo(change: NetworkChange, state: NetworkState): Counts {
  const canonical = (x: object) => JSON.stringify(Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))));
  const out = {} as Counts;
  for (const kind of NETWORK_KINDS) {
    const key = NETWORK_KEYS[kind] as (x: object) => string;
    const stored = new Map((state[kind] as object[]).map((x) => [key(x), canonical(x)]));
    const c = { created: 0, updated: 0, unchanged: 0 };
    for (const item of (change[kind] ?? []) as object[]) {
      const before = stored.get(key(item));
      if (before === undefined) c.created++;
      else if (before === canonical(item)) c.unchanged++;
      else c.updated++;
    }
    out[kind] = c;
  }
  return out;
}

function countsLine(counts: Counts, change: NetworkChange): string[] {
  return NETWORK_KINDS.filter((k) => change[k] !== undefined).map((k) => {
    const c = counts[k];
    return `  ${NETWORK_FILES[k].padEnd(18)} ${c.created} new, ${c.updated} changed, ${c.unchanged} unchanged`;
  });
}

/**
 * Reserves the credentials file before anything is applied (created empty, mode 0600,
 * never over an existing file), so that secrets made by the change always have a place.
 */
function reserveCredentials(file: string): number {
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    return openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') throw new Error(`${file} exists: credentials are never written over; give another --credentials file`, { cause: err });
    throw err;
  }
}

interface ImportOptions {
  dryRun?: boolean;
  credentials?: string;
}

async function importNetwork(config: Config, args: string[], o: ImportOptions): Promise<number> {
  const files = networkFiles(args);
  const read = readNetwork(files.map((f) => ({ ...f, bytes: readFileSync(f.file) })));
  const rows = read.files.reduce((n, f) => n + f.rows, 0);
  const bar = rows >= PROGRESS_FROM_ROWS && process.stderr.isTTY ? new SingleBar({ format: 'import [{bar}] {value}/{total} {step}', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : null;
  bar?.start(3, 1, { step: `${rows} rows read` });

  // On SQLite a running switch would keep its catalogue: the change goes through its admin API instead.
  if (!o.dryRun && !config.database) {
    const holder = await storeHolder(config);
    if (holder) throw new Error(`${holder}: stop it first, or change the network through its admin API (docs/network.md)`);
  }
  // Import is one of the commands that may create the database (an empty production one).
  const rt = await openRuntime(config, undefined, { create: true });
  let reserved: { file: string; fd: number } | null = null;
  try {
    const network = new NetworkService(rt.store, rt.kek, rt.clock);
    bar?.update(1, { step: 'checking' });
    // A reference to a row refused for its format is not reported again (that row is).
    const invalid = (await network.check(read.change)).filter((p) => !followsFromRefusedRow(read, p));
    const problems = sortProblems([...read.problems, ...invalid.map((p) => locate(read, p))]);
    if (problems.length > 0) {
      bar?.stop();
      for (const p of problems) console.log(formatProblem(p));
      console.log(`${problems.length} problem${problems.length > 1 ? 's' : ''}; nothing ${o.dryRun ? 'would be' : 'was'} changed`);
      return 1;
    }
    const counts = wouldDo(read.change, await network.state());
    if (o.dryRun) {
      bar?.stop();
      console.log(`dry run: the files are valid; the import would change the network as follows (nothing written):`);
      for (const l of countsLine(counts, read.change)) console.log(l);
      return 0;
    }
    if (counts.terminals.created + counts.users.created > 0) {
      const file = path.resolve(o.credentials ?? path.join(config.dataDir, `network-credentials-${new Date(rt.clock()).toISOString().replace(/[:.]/g, '-')}.json`));
      reserved = { file, fd: reserveCredentials(file) };
    }
    bar?.update(2, { step: 'applying' });
    const r = await network.apply(read.change, ACTOR);
    bar?.update(3, { step: 'done' });
    bar?.stop();
    if (!r.ok) {
      // Checked a moment ago: something changed in between (another admin). Nothing was written.
      for (const p of sortProblems(r.problems.map((p) => locate(read, p)))) console.log(formatProblem(p));
      console.log(`${r.problems.length} problems; nothing was changed`);
      return 1;
    }
    console.log('imported:');
    for (const l of countsLine(r.applied, read.change)) console.log(l);
    if (reserved) {
      writeCredentials(reserved.fd, r.credentials);
      console.log(
        `credentials of ${r.credentials.terminals.length} new terminals (TMK, API secret) and ${r.credentials.users.length} new users (password) in ${reserved.file} (mode 0600): ` +
          'hand them over, then delete the file',
      );
      reserved = null;
    }
    return 0;
  } finally {
    bar?.stop();
    if (reserved) {
      closeSync(reserved.fd);
      rmSync(reserved.file, { force: true });
    }
    await rt.store.close();
  }
}

function writeCredentials(fd: number, credentials: NewCredentials): void {
  try {
    writeSync(fd, JSON.stringify(credentials, null, 2) + '\n');
  } finally {
    closeSync(fd);
  }
}

async function exportNetwork(config: Config, dir: string, o: { delimiter: ',' | ';'; bom?: boolean; force?: boolean }): Promise<void> {
  // Export never creates a database (openRuntime refuses a missing one).
  const rt = await openRuntime(config);
  try {
    const files = writeNetwork(await new NetworkService(rt.store, rt.kek, rt.clock).state(), { delimiter: o.delimiter, bom: o.bom });
    mkdirSync(dir, { recursive: true });
    const there = [...files.keys()].filter((f) => existsSync(path.join(dir, f)));
    if (there.length > 0 && !o.force) throw new Error(`${dir} already holds ${there.join(', ')}; add --force to write over them`);
    for (const [name, content] of files) writeFileSync(path.join(dir, name), content);
    console.log(`exported ${[...files.entries()].map(([n, c]) => `${n} (${c.split('\n').length - 2} rows)`).join(', ')} to ${path.resolve(dir)}`);
  } finally {
    await rt.store.close();
  }
}

export function addNetworkImportCommands(program: Command, config: () => Config): void {
  program
    .command('import <paths...>')
    .description(`the whole network from CSV files (${NETWORK_KINDS.map((k) => NETWORK_FILES[k]).join(', ')}; a directory or files): all or nothing; docs/network.md`)
    .option('--dry-run', 'check everything and print every problem by file:line, or what would change; writes nothing')
    .option('--credentials <file>', 'where the secrets of new terminals and users go (mode 0600, never overwritten; default <data dir>/network-credentials-<time>.json)')
    .action(async (paths: string[], o: ImportOptions) => {
      process.exitCode = await importNetwork(config(), paths, o);
    });
  program
    .command('export <dir>')
    .description('write the whole network as the CSV files import reads (no secrets); docs/network.md')
    .addOption(new Option('--delimiter <char>', 'field separator; ; for Excel in an Italian locale').choices([',', ';']).default(','))
    .option('--bom', 'start each file with a UTF-8 BOM, which Excel needs to show accented letters')
    .option('--force', 'write over files already in <dir>')
    .action(async (dir: string, o: { delimiter: ',' | ';'; bom?: boolean; force?: boolean }) => {
      await exportNetwork(config(), dir, o);
    });
}
