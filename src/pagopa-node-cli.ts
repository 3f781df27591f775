// `tserve pagopa-node`: pagoPA's node simulator alone (docs/pagopa.md), for the demo and
// the bench. It knows the PSP the switch is configured as (TSERVE_PAGOPA_*), or the demo
// PSP; prints its creditors and a few payable notices, then one line per call.
import { Command, InvalidArgumentError } from 'commander';
import type { Config } from './config.js';
import { centsToAmount } from './pagopa/soap.js';
import { DEMO_PSP, NodeSimulator } from './pagopa/simulator/server.js';

const whole = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return Number(v);
};

const rate = (v: string) => {
  const n = Number(v);
  if (!/^\d*\.?\d+$/.test(v) || n > 1) throw new InvalidArgumentError('--fail-rate must be a number from 0 to 1');
  return n;
};

interface Options {
  host: string;
  port: number;
  latencyMs: number;
  jitterMs: number;
  failRate: number;
  seed: number;
  creditorLatencyMs?: number;
  creditorTimeoutMs: number;
  quiet?: boolean;
}

export function addPagopaNodeCommand(program: Command, config: () => Config): void {
  program
    .command('pagopa-node')
    .description("run a simulator of pagoPA's node (nodeForPsp, SOAP) for the switch's PSP: creditors outside Prato, faults, reporting flows")
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', whole('port'), 8081)
    .option('--latency-ms <ms>', "the node's latency on every call", whole('latency-ms'), 50)
    .option('--jitter-ms <ms>', 'plus a random 0..jitter', whole('jitter-ms'), 0)
    .option('--fail-rate <rate>', 'share of calls answered PPT_SYSTEM_ERROR, 0..1', rate, 0)
    .option('--seed <n>', 'seed of latency jitter, failures and tokens', whole('seed'), 1)
    .option('--creditor-latency-ms <ms>', "every creditor station's latency (the test entities keep theirs)", whole('creditor-latency-ms'))
    .option('--creditor-timeout-ms <ms>', 'how long the node waits for a creditor station', whole('creditor-timeout-ms'), 5000)
    .option('--quiet', 'no line per call')
    .action(async (opts: Options) => {
      // The PSP the switch is configured as, so `npm start` with TSERVE_PAGOPA_* talks to it.
      const psp = config().pagopa?.identity ?? DEMO_PSP;
      const sim = new NodeSimulator({
        psp,
        host: opts.host,
        port: opts.port,
        latencyMs: opts.latencyMs,
        jitterMs: opts.jitterMs,
        failRate: opts.failRate,
        seed: opts.seed,
        creditorTimeoutMs: opts.creditorTimeoutMs,
        onCall: opts.quiet ? undefined : (c) => console.log(`${c.operation}${c.noticeNumber ? ` ${c.noticeNumber}` : ''}: ${c.result}`),
      });
      if (opts.creditorLatencyMs !== undefined) {
        for (const c of sim.creditors) if (c.station === 'up' && c.latencyMs < opts.creditorTimeoutMs) c.latencyMs = opts.creditorLatencyMs;
      }
      const url = await sim.start();
      const stop = () => void sim.stop().then(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      // Never the password or the subscription key.
      console.log(`pagopa-node: listening on ${url}`);
      console.log(`PSP ${psp.idPSP}, broker ${psp.idBrokerPSP}, channel ${psp.idChannel}${psp === DEMO_PSP ? ' (the demo PSP: docs/pagopa.md)' : ' (TSERVE_PAGOPA_*)'}`);
      console.log('creditors:');
      for (const c of sim.creditors) {
        const station = c.station === 'down' ? 'station down' : c.latencyMs >= opts.creditorTimeoutMs ? 'station times out' : `station up, ${c.latencyMs} ms`;
        const n = c.positions.length;
        console.log(`  ${c.fiscalCode}  ${c.companyName} (segregation code ${c.segregationCode}, ${n} position${n === 1 ? '' : 's'}, ${station})`);
      }
      console.log('payable notices, up to 3 a creditor (creditor, notice number, amount, description):');
      const shown = new Map<string, number>();
      for (const { creditor, position } of sim.state.payableNotices()) {
        const count = shown.get(creditor.fiscalCode) ?? 0;
        if (count >= 3) continue;
        shown.set(creditor.fiscalCode, count + 1);
        console.log(`  ${creditor.fiscalCode}  ${position.noticeNumber}  ${centsToAmount(position.amountCents).padStart(9)}  ${position.description}`);
      }
      console.log(opts.quiet ? 'ready' : 'ready; one line per call follows');
    });
}
