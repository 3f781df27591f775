// Prometheus metrics (prom-client): what the switch is doing, for whoever runs it.
import { statfsSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CAPS, type CapStats } from './net/connection-caps.js';

/** Sampling interval of the event-loop delay monitor, ms. */
const EVENT_LOOP_RESOLUTION_MS = 10;

/** Request latencies, both channels: 1 ms to 10 s (a booking is a few ms; 96 answers come at once). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A settlement run takes seconds to minutes (files of a whole network). */
const SETTLEMENT_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800];

/** How long the unsettled-windows count is kept between scrapes (it costs up to 31 reads). */
const SETTLEMENT_DUE_CACHE_MS = 60_000;

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
  readonly isoRequestSeconds = new Histogram({
    name: 'tserve_iso_request_duration_seconds',
    help: 'ISO 8583 exchanges, from the frame read to the response encoded, by request MTI and response code (field 39; none: hung up unanswered)',
    labelNames: ['mti', 'code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly httpRequestSeconds = new Histogram({
    name: 'tserve_http_request_duration_seconds',
    help: 'HTTP requests, until the answer is sent, by method, route pattern (unmatched: no route) and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly loginFailures = new Counter({
    name: 'tserve_login_failures_total',
    help: 'Refused logins (user) and token requests (terminal): bad_credentials, or locked (refused while the account is locked)',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  readonly settlementRuns = new Counter({
    name: 'tserve_settlement_runs_total',
    help: 'Nightly settlement runs by outcome: ok (every window due settled), failed (one could not start or was refused), skipped (another instance ran it)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly settlementRunSeconds = new Histogram({
    name: 'tserve_settlement_run_duration_seconds',
    help: 'Duration of the nightly settlement runs, by outcome',
    labelNames: ['outcome'] as const,
    buckets: SETTLEMENT_BUCKETS,
    registers: [this.registry],
  });
  readonly settlementLastRun = new Gauge({
    name: 'tserve_settlement_last_run_timestamp_seconds',
    help: 'When the last nightly settlement run of this instance ended, by outcome (Unix time)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** One nightly settlement run ended (settlement/scheduler.ts). */
  settlementRun(outcome: 'ok' | 'failed' | 'skipped', seconds: number, endedAtMs: number): void {
    this.settlementRuns.inc({ outcome });
    this.settlementRunSeconds.observe({ outcome }, seconds);
    this.settlementLastRun.set({ outcome }, endedAtMs / 1000);
  }

  constructor(sources: {
    queueDepth: () => number;
    isoConnections: () => number;
    streamSubscribers: () => number;
    /** The listeners' connection caps (src/net/connection-caps.ts); null for one not listening yet. */
    connectionCaps?: () => (CapStats | null)[];
    /** The store's write path (store/health.ts). */
    readiness?: () => { ready: boolean; alarms: string[] };
    /** Stream subscriptions the switch closed, by reason (src/stream/server.ts CLOSE). */
    streamClosed?: () => Readonly<Record<string, number>>;
    /** The data directory, whose file system's free space is watched. */
    dataDir?: string;
    /** Business-day windows over and not settled yet (settlement/run.ts windowsDue). */
    settlementDue?: () => Promise<number>;
  }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'tserve_' });
    // Counters start at 0 for every outcome, so that the first failure is an increase
    // Prometheus sees (a series born at 1 is not); a handful of series, all bounded.
    for (const outcome of ['ok', 'failed', 'skipped']) this.settlementRuns.inc({ outcome }, 0);
    for (const kind of ['user', 'terminal']) for (const reason of ['bad_credentials', 'locked']) this.loginFailures.inc({ kind, reason }, 0);
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
    const streamClosed = sources.streamClosed;
    new Counter({
      name: 'tserve_stream_closed_total',
      help: 'Stream subscriptions closed by the switch, by reason: slow_consumer (the drops), revoked, token_expired, cursor_gone, going_away',
      labelNames: ['reason'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(streamClosed?.() ?? {})) this.inc({ reason }, n);
      },
    });
    if (sources.dataDir !== undefined) this.diskMetrics(sources.dataDir);
    if (sources.settlementDue) this.settlementDueMetric(sources.settlementDue);
  }

  /** Free and total bytes of the data directory's file system: "disk almost full" without node_exporter. */
  private diskMetrics(dataDir: string): void {
    const statfs = () => {
      try {
        return statfsSync(dataDir);
      } catch {
        return null; // the directory gone is an alarm of its own (store/health.ts); no figure rather than a wrong one
      }
    };
    new Gauge({
      name: 'tserve_data_dir_free_bytes',
      help: 'Bytes available to the switch on the file system of its data directory',
      registers: [this.registry],
      collect() {
        const s = statfs();
        if (s) this.set(s.bavail * s.bsize);
      },
    });
    new Gauge({
      name: 'tserve_data_dir_size_bytes',
      help: 'Size of the file system of the data directory, bytes',
      registers: [this.registry],
      collect() {
        const s = statfs();
        if (s) this.set(s.blocks * s.bsize);
      },
    });
  }

  private settlementDueMetric(due: () => Promise<number>): void {
    let cached: { at: number; value: number } | null = null;
    new Gauge({
      name: 'tserve_settlement_windows_due',
      help: 'Business-day windows that are over and not settled yet (0 after each nightly run; above 0 for hours: settlement late)',
      registers: [this.registry],
      async collect() {
        const now = performance.now();
        if (!cached || now - cached.at > SETTLEMENT_DUE_CACHE_MS) {
          const value = await due().catch(() => null);
          if (value !== null) cached = { at: now, value };
        }
        if (cached) this.set(cached.value);
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
