// Prometheus metrics (prom-client): what the switch is doing, for whoever runs it.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor(sources: { queueDepth: () => number; isoConnections: () => number; streamSubscribers: () => number }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'tserve_' });
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
    new Gauge({
      name: 'tserve_stream_subscribers',
      help: 'Open WebSocket stream subscriptions',
      registers: [this.registry],
      collect() {
        this.set(sources.streamSubscribers());
      },
    });
  }
}
