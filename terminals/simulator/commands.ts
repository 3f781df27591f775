// `tserve terminal ...`: the simulator's commands, added to the CLI by src/cli.ts.
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { defaultCredentialsFile } from './common.js';
import type { TlsClientOptions } from './client.js';

const wholeNumber = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return Number(v);
};

interface Common {
  host: string;
  port?: number;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  credentials?: string;
  timeout?: number;
}

function common(cmd: Command): Command {
  return cmd
    .option('--host <host>', 'the switch', '127.0.0.1')
    .option('--port <port>', 'ISO 8583 port (default: TSERVE_ISO_PORT, 8583)', wholeNumber('port'))
    .option('--tls', "TLS on the ISO 8583 connection, the switch's certificate checked against the system's CAs")
    .option('--ca <file>', "TLS, the switch's certificate checked against this CA (PEM) instead")
    .option('--cert <file>', "TLS with this client certificate (PEM; its subject CN the terminal id), where the switch requires one")
    .option('--key <file>', "the client certificate's private key (PEM)")
    .option('--credentials <file>', 'demo credentials (default: <TSERVE_DATA_DIR or ./data>/demo-credentials.json)');
}

function identification(cmd: Command): Command {
  return cmd
    .requiredOption('--terminal <id>', 'terminal id, e.g. T0001')
    .option('--service <code>', 'service code, e.g. TARI')
    .option('--id <identifier>', 'notice number, plate, fiscal code, user code... as the service defines')
    .option('--vehicle-type <type>', 'for plates: 1 car, 2 trailer, 4 motorcycle')
    .option('--fiscal-code <cf>', 'debtor or holder fiscal code where the service needs one')
    .option('--year <yyyy>', 'tax year (self-assessed taxes)', wholeNumber('year'))
    .option('--qr <payload>', 'the pagoPA QR payload PAGOPA|002|<notice>|<CF ente>|<cents>');
}

interface IdOptions extends Common {
  terminal: string;
  service?: string;
  id?: string;
  vehicleType?: string;
  fiscalCode?: string;
  year?: number;
  qr?: string;
}

/** TLS from --tls, --ca, --cert and --key (any of them turns TLS on); certificate checks are never turned off. */
function tlsOptions(o: Common): TlsClientOptions | false {
  if (Boolean(o.cert) !== Boolean(o.key)) throw new InvalidArgumentError('--cert and --key go together');
  if (!o.tls && !o.ca && !o.cert) return false;
  const read = (option: string, file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new InvalidArgumentError(`${option} ${file}: ${(err as Error).message}`);
    }
  };
  return { ca: read('--ca', o.ca), cert: read('--cert', o.cert), key: read('--key', o.key) };
}

/** Adds `terminal pay|inquiry|reverse|load`; `config` is read when a command runs. */
/** What the simulator takes of the switch's configuration: where its ISO port is, and the demo seed. */
export interface SimulatorConfig {
  iso: { port: number };
  seed: number;
  seedPositions: number;
}

export function addTerminalCommands(program: Command, config: () => SimulatorConfig): void {
  const terminal = program.command('terminal').description('terminal simulator: single payments at a counter, or load from many terminals');

  const target = (o: Common) => {
    const c = config();
    return {
      host: o.host,
      port: o.port ?? c.iso.port,
      tls: tlsOptions(o),
      credentialsFile: o.credentials ?? defaultCredentialsFile(),
      seed: c.seed,
    };
  };
  const ids = (o: IdOptions) => ({
    terminalId: o.terminal,
    service: o.service,
    identifier: o.id,
    vehicleType: o.vehicleType,
    fiscalCode: o.fiscalCode,
    year: o.year,
    qr: o.qr,
  });

  common(identification(terminal.command('pay')))
    .description('sign on, ask what is due (0100), pay it (0200) and print the receipt; exit 0 approved, 1 declined, 2 no answer')
    .option('--amount <cents>', 'amount in cents (self-assessed services; default: the amount due from the inquiry)', wholeNumber('amount'))
    .action(async (o: IdOptions & { amount?: number }) => {
      const { terminalPay } = await import('./single.js');
      process.exitCode = await terminalPay({ ...target(o), ...ids(o), amount: o.amount });
    });

  common(identification(terminal.command('inquiry')))
    .description('sign on and ask what is due (0100 only); exit 0 approved, 1 declined, 2 no answer')
    .action(async (o: IdOptions) => {
      const { terminalInquiry } = await import('./single.js');
      process.exitCode = await terminalInquiry({ ...target(o), ...ids(o) });
    });

  common(terminal.command('reverse'))
    .description('reverse (0400, or 0420 with --advice) a 0200 named by its STAN and field 7')
    .requiredOption('--terminal <id>', 'the terminal that made the payment')
    .requiredOption('--stan <stan>', "the 0200's field 11, 6 digits")
    .requiredOption('--f7 <MMDDhhmmss>', "the 0200's field 7")
    .requiredOption('--amount <cents>', 'the amount of the payment, in cents', wholeNumber('amount'))
    .option('--advice', 'send a 0420 reversal advice instead of a 0400')
    .action(async (o: Common & { terminal: string; stan: string; f7: string; amount: number; advice?: boolean }) => {
      const { terminalReverse } = await import('./single.js');
      process.exitCode = await terminalReverse({ ...target(o), terminalId: o.terminal, stan: o.stan, f7: o.f7, amount: o.amount, advice: Boolean(o.advice) });
    });

  common(terminal.command('load'))
    .description('drive many terminals against a switch on this machine; exit 1 on any 96, retransmission mismatch, timeout or lost connection')
    .option('--terminals <n>', 'the first N terminals of the credentials file (default: all), or N from --first on', wholeNumber('terminals'))
    .option(
      '--first <i>',
      'skip the first I terminals of the credentials file (I = 0 is the first); notices are then dealt out over all its terminals, so simulators on disjoint ranges never pay the same notice',
      wholeNumber('first'),
    )
    .option('--start-at <epochMs>', 'after connecting and signing on, wait until this time (ms since the epoch) to start: several simulators at once', wholeNumber('start-at'))
    .option('--rate <r>', 'requests per second in all (0: closed loop, each terminal as fast as answers come)', wholeNumber('rate'), 0)
    .option('--duration <s>', 'seconds', wholeNumber('duration'), 60)
    .option('--mix <mix>', 'weights of the operations', 'inquiry=20,payment=60,retransmit=10,reversal=10')
    .option('--connections-per-terminal <n>', 'connections per terminal', wholeNumber('connections-per-terminal'), 1)
    .option('--seed <n>', "the switch's generator seed (default: TSERVE_SEED)", wholeNumber('seed'))
    .option('--positions <n>', "the switch's seeded positions (default: TSERVE_SEED_POSITIONS)", wholeNumber('positions'))
    .option('--drain <s>', 'after the duration, seconds to wait for answers in flight (also the request timeout)', wholeNumber('drain'), 10)
    .addOption(new Option('--progress <mode>', 'live progress line on stderr').choices(['auto', 'tty', 'lines', 'off']).default('auto'))
    .option('--json <file>', 'also write the summary as JSON to this file')
    .option('--max-in-flight <n>', 'open loop: unanswered requests per connection before it waits (1: one at a time, as a terminal)', wholeNumber('max-in-flight'), 1)
    .option('--samples <file>', 'also write every answer as a line sentAtEpochMs,latencyMs,code to this file')
    .action(
      async (
        o: Common & {
          terminals?: number;
          first?: number;
          startAt?: number;
          rate: number;
          duration: number;
          mix: string;
          connectionsPerTerminal: number;
          seed?: number;
          positions?: number;
          drain: number;
          progress: 'auto' | 'tty' | 'lines' | 'off';
          json?: string;
          maxInFlight: number;
          samples?: string;
        },
      ) => {
        const { formatSummary, loadExitCode, parseMix, runLoad, writeSummaryJson } = await import('./load.js');
        const c = config();
        // Ctrl-C (SIGINT) ends the run early: no new request, the ones in flight are
        // drained, and the summary is printed as at the end. A second one quits at once.
        const stop = new AbortController();
        const onSigint = () => {
          if (stop.signal.aborted) process.exit(130);
          process.stderr.write('\nstopping: no new requests; waiting for the answers in flight (Ctrl-C again to quit)\n');
          stop.abort();
        };
        process.on('SIGINT', onSigint);
        const summary = await runLoad({
          ...target(o),
          terminals: o.terminals,
          first: o.first,
          startAt: o.startAt,
          rate: o.rate,
          durationSeconds: o.duration,
          mix: parseMix(o.mix),
          connectionsPerTerminal: o.connectionsPerTerminal,
          seed: o.seed ?? c.seed,
          positions: o.positions ?? c.seedPositions,
          drainSeconds: o.drain,
          progress: o.progress,
          maxInFlight: o.maxInFlight,
          samplesFile: o.samples,
          stop: stop.signal,
        });
        process.off('SIGINT', onSigint);
        console.log(formatSummary(summary));
        if (o.json) writeSummaryJson(o.json, summary);
        process.exitCode = loadExitCode(summary);
      },
    );
}
