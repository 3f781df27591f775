// The node simulator for the pagoPA bench phase (bench/pagopa.ts), in a process of its
// own so that its SOAP work and its latency timers do not share an event loop with the
// terminals' driver. Forked with IPC:
//
//   node --import tsx bench/pagopa-node.ts --positions N [--latency-ms 5] [--creditor-latency-ms 50]
//
// Loopback only, port 0; sends {type: 'ready', url} once listening, and answers
// {type: 'stats'} with the calls and outcomes it has taken, its CPU and its own
// event-loop delay since the previous 'stats'. Stops on SIGTERM or when the parent goes.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DEMO_PSP, NodeSimulator } from '../src/pagopa/simulator/server.js';
import { arg } from './lib/args.js';
import { benchCreditors } from './lib/pagopa-notices.js';

export interface NodeStats {
  calls: Record<string, number>;
  outcomes: number;
  outcomesOk: number;
  cpuSeconds: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

const positions = Number(arg('positions') ?? 20_000);
const latencyMs = Number(arg('latency-ms') ?? 5);
const creditorLatencyMs = Number(arg('creditor-latency-ms') ?? 50);

const sim = new NodeSimulator({ psp: DEMO_PSP, host: '127.0.0.1', latencyMs, seed: 15, creditors: benchCreditors(positions, creditorLatencyMs) });
const url = await sim.start();
const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();
const ms = (ns: number) => Math.round(Math.max(0, ns / 1e6 - 10) * 100) / 100;

process.on('message', (m: { type?: string }) => {
  if (m?.type !== 'stats') return;
  const cpu = process.cpuUsage();
  const stats: NodeStats = {
    calls: { ...sim.state.calls },
    outcomes: sim.state.outcomes.length,
    outcomesOk: sim.state.outcomes.filter((o) => o.answer.ok).length,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    eventLoopDelayMs: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) },
  };
  eld.reset();
  process.send!({ type: 'stats', stats });
});
const stop = () => void sim.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('disconnect', stop);
process.send!({ type: 'ready', url });
