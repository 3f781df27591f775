// Prometheus metrics (prom-client): what the switch is doing, for whoever runs it.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CAPS, type CapStats } from './net/connection-caps.js';

/** Sampling interval of the event-loop delay monitor, ms. */
const EVENT_LOOP_RESOLUTION_MS = 10;

export class Metrics {
  readonly registry = new Registry();
  readonly payments = new Counter({
    name: 'tserve_payments_total',
    help: 'Payment requests by channel and result (approved, or the error code)',
    labelNames: ['channel', 'result'] as const,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'tserve_writer_batch_size',
    help: 'Commands per group-commit transaction',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
    registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: 'tserve_writer_commit_seconds',
    help: 'Time to run and commit one batch (synced to disk)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor(sources: {
    queueDepth: () => number;
    isoConnections: () => number;
    streamSubscribers: () => number;
    /** The listeners' connection caps (src/net/connection-caps.ts); null for one not listening yet. */
    connectionCaps?: () => (CapStats | null)[];
    /** The store's write path (store/health.ts). */
    readiness?: () => { ready: boolean; alarms: string[] };
  }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'tserve_' });
    const readiness = sources.readiness;
    if (readiness) {
      new Gauge({
        name: 'tserve_store_ready',
        help: 'Whether the store can book (1) or its last write failed or an alarm stopped it (0): what /readyz answers',
        registers: [this.registry],
        collect() {
          this.set(readiness().ready ? 1 : 0);
        },
      });
      new Gauge({
        name: 'tserve_store_alarms',
        help: 'Open storage alarms (database file or WAL replaced, a balance that disagrees with its entries): booking stopped where they apply',
        registers: [this.registry],
        collect() {
          this.set(readiness().alarms.length);
        },
      });
    }
    // The main thread's event-loop delay: how late a timer due every 10 ms ran
    // (perf_hooks.monitorEventLoopDelay, which records the whole interval between runs;
    // the interval itself is taken off). prom-client's tserve_nodejs_eventloop_lag_*
    // gauges report those intervals as they are, so they never read below 10 ms.
    // Since the previous scrape, like those: each scrape starts a new period.
    const loop = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
    loop.enable();
    const delaySeconds = (ns: number) => Math.max(0, ns / 1e6 - EVENT_LOOP_RESOLUTION_MS) / 1000;
    new Gauge({
      name: 'tserve_eventloop_delay_seconds',
      help: 'Event-loop delay of the main thread since the previous scrape: how late a timer due every 10 ms ran, by quantile (and max)',
      labelNames: ['quantile'] as const,
      registers: [this.registry],
      collect() {
        const n = loop.count;
        samples.set(n);
        for (const q of [0.5, 0.9, 0.99, 0.999]) this.set({ quantile: String(q) }, n ? delaySeconds(loop.percentile(q * 100)) : 0);
        this.set({ quantile: 'max' }, n ? delaySeconds(loop.max) : 0);
        loop.reset();
      },
    });
    // Registered after the gauge above, whose collect (run first) sets it.
    const samples = new Gauge({
      name: 'tserve_eventloop_delay_samples',
      help: 'Event-loop delay samples (about one per 10 ms) since the previous scrape',
      registers: [this.registry],
    });
    new Gauge({
      name: 'tserve_writer_queue_depth',
      help: 'Commands waiting for the next group commit',
      registers: [this.registry],
      collect() {
        this.set(sources.queueDepth());
      },
    });
    new Gauge({
      name: 'tserve_iso_connections',
      help: 'Open ISO 8583 connections',
      registers: [this.registry],
      collect() {
        this.set(sources.isoConnections());
      },
    });
    this.connectionMetrics(sources.connectionCaps ?? (() => []));
    new Gauge({
      name: 'tserve_stream_subscribers',
      help: 'Open WebSocket stream subscriptions',
      registers: [this.registry],
      collect() {
        this.set(sources.streamSubscribers());
      },
    });
  }

  /** Open connections by listener, and the caps' counts (kept by the caps, read at each scrape). */
  private connectionMetrics(caps: () => (CapStats | null)[]): void {
    const listeners = () => caps().filter((c): c is CapStats => c !== null);
    new Gauge({
      name: 'tserve_connections_open',
      help: 'Open connections by listener (iso, http), the stream\'s WebSockets included in http',
      labelNames: ['listener'] as const,
      registers: [this.registry],
      collect() {
        for (const c of listeners()) this.set({ listener: c.listener }, c.open);
      },
    });
    // Counters whose totals the caps keep: set at each scrape (reset, then the total).
    new Counter({
      name: 'tserve_connections_refused_total',
      help: 'Connections destroyed on arrival by a cap: total, per_address, unsigned_per_address (iso: not signed on yet)',
      labelNames: ['listener', 'cap'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of listeners()) for (const cap of CAPS) this.inc({ listener: c.listener, cap }, c.refused[cap]);
      },
    });
    new Counter({
      name: 'tserve_connections_evicted_total',
      help: 'Connections closed to admit a newer one when full: the oldest not signed on (iso) or idle (http)',
      labelNames: ['listener'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of listeners()) this.inc({ listener: c.listener }, c.evicted);
      },
    });
    new Counter({
      name: 'tserve_connections_timed_out_total',
      help: 'Connections closed for not signing on (iso: the sign-on timeouts) or not sending a request (http) in time',
      labelNames: ['listener'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of listeners()) this.inc({ listener: c.listener }, c.timedOut);
      },
    });
  }
}
