// Starts the switch: HTTP(S) with the WebSocket stream, the ISO 8583 listener, the
// nightly settlement, all on one clock.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { SessionService } from './auth/session.js';
import { TokenService } from './auth/tokens.js';
import { openRuntime, seedDemo } from './bootstrap.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import { logger } from './log.js';
import { ensurePagoPaCatalogue } from './network/pagopa-catalogue.js';
import { NetworkService } from './network/service.js';
import { PagoPaOutcomes } from './payments/pagopa-outcomes.js';
import { CATALOGUE, ROYALTY_CENTS } from '../fixtures/catalogue.js';
import { DEMO_PSP, DEMO_PSP_FISCAL_CODE, NodeSimulator } from './pagopa/simulator/server.js';
import { MAX_EXPIRATION_MS } from './pagopa/types.js';
import type { PspClientConfig } from './pagopa/client.js';
import { PspClient } from './pagopa/client.js';
import { Payments } from './payments/service.js';
import { StreamServer } from './stream/server.js';
import { IsoServer } from '../terminals/server.js';
import { scheduleSettlement } from '../settlement/scheduler.js';
import { windowsDue } from '../settlement/run.js';
import { Metrics } from './metrics.js';
import { TerminalKeys } from './auth/terminal-keys.js';
import { projectFile } from './paths.js';
import { plaintextListenerWarnings } from './plaintext-listeners.js';
import { demoLeftovers, demoWarning } from './auth/keys.js';
import { checkKekAtStart } from './auth/kek-rotation.js';
import { lockDataDir } from './store/in-use.js';
import { capHttpServer, fileDescriptorLimit, type CapStats } from './net/connection-caps.js';

export interface RunningServer {
  url: string;
  /** The ISO 8583 listener's port. */
  isoPort: number;
  stream: StreamServer;
  port: number;
  /** The listeners' connection caps: open, refused, evicted, timed out (src/net/connection-caps.ts). */
  connectionStats(): { iso: CapStats | null; http: CapStats };
  /** pagoPA's outcome sender; null when the bridge is off. */
  pagopaOutcomes: PagoPaOutcomes | null;
  close(): Promise<void>;
}

export function version(): string {
  return (JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { version: string }).version;
}

const EMPTY_IN_PRODUCTION =
  'empty database: production mode seeds nothing (the demo network would bring its keys and passwords in clear); ' +
  'every payment is refused (SERVICE_UNKNOWN) until the network (entities, services, fees, counters, terminals, users) is configured: tserve import';

export interface ServerOptions {
  /** The switch's clock (tests inject one); the wall clock by default. */
  clock?: Clock;
}

/** The demo PSP's client settings against a node simulator started here, and a few notices to pay. */
async function startDemoNode(clock: () => number): Promise<{ sim: NodeSimulator; config: PspClientConfig }> {
  // A creditor's station answers in 50 ms, the node itself in 10: a real node's order of magnitude.
  const sim = new NodeSimulator({ psp: DEMO_PSP, clock, latencyMs: 10, seed: 1 });
  for (const c of sim.creditors) if (c.station === 'up' && c.latencyMs < 1000) c.latencyMs = 50;
  const nodeUrl = await sim.start();
  // One notice per creditor reached only through the node (Regione Toscana is also in the demo catalogue, unflagged).
  const inCatalogue = new Set(CATALOGUE.entities.map((e) => e.fiscalCode));
  const shown = new Set<string>();
  const examples = sim.state
    .payableNotices()
    .filter(({ creditor }) => creditor.station === 'up' && creditor.latencyMs < 1000 && !inCatalogue.has(creditor.fiscalCode) && !shown.has(creditor.fiscalCode) && shown.add(creditor.fiscalCode))
    .map(({ creditor, position }) => `PAGOPA|002|${position.noticeNumber}|${creditor.fiscalCode}|${position.amountCents}`);
  logger.info('demo: pagoPA node simulator started (TSERVE_PAGOPA_DEMO_NODE=false to run without); notices of creditors outside the catalogue to pay with --qr', { nodeUrl, examples });
  return { sim, config: { nodeUrl, identity: DEMO_PSP, pspFiscalCode: DEMO_PSP_FISCAL_CODE, timeoutMs: 8000, tokenExpirationMs: MAX_EXPIRATION_MS } };
}

export async function startServer(config: Config, opts: ServerOptions = {}): Promise<RunningServer> {
  // One switch per data directory on SQLite, held until it closes or dies (store/in-use.ts);
  // instances on PostgreSQL scale out, with no lock.
  const lock = config.database ? null : lockDataDir(config.dataDir);
  try {
    const running = await startUnlocked(config, opts);
    return { ...running, close: () => running.close().finally(() => lock?.release()) };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

async function startUnlocked(config: Config, opts: ServerOptions): Promise<RunningServer> {
  const clock = opts.clock ?? systemClock;
  // Keys apart (docs/keys.md): production refuses a data directory with demo keys or credentials.
  const leftovers = config.mode === 'production' ? demoLeftovers(config.dataDir) : [];
  if (leftovers.length > 0) throw new Error(`production mode refuses to start:\n  ${leftovers.join('\n  ')}`);
  if (config.mode === 'demo') logger.warn(demoWarning(config), { dataDir: config.dataDir });
  const rt = await openRuntime(config, clock, { checkBalances: true, create: true });
  await checkKekAtStart(rt.store, rt.kek).catch(async (err: unknown) => {
    await rt.store.close();
    throw err;
  });
  if (await rt.store.isEmpty()) {
    if (config.autoSeed) {
      logger.info('empty database: seeding the demo network', { dataDir: config.dataDir });
      const { file } = await seedDemo(rt, config, (step) => logger.info(`seed: ${step}`));
      console.log(`tserve: demo network seeded; terminal and user credentials written to ${file}`);
    } else if (config.mode === 'production') {
      // Served as soon as a network is configured (src/network): Payments reloads on network.changed.
      logger.warn(EMPTY_IN_PRODUCTION, { dataDir: config.dataDir });
    }
  }
  const stale = await rt.store.deleteStaleDrafts();
  if (stale > 0) logger.warn('a large upload was interrupted by a stop: its draft positions were taken back', { positions: stale });
  // Metrics read the parts below lazily, so they can be created first.
  let iso: IsoServer | null = null;
  let stream: StreamServer | null = null;
  const metrics = new Metrics({
    queueDepth: () => rt.store.writerStats.queueDepth,
    isoConnections: () => iso?.connections ?? 0,
    connectionCaps: () => [iso?.connectionStats() ?? null, httpCaps.stats()],
    streamSubscribers: () => stream?.subscriberCount ?? 0,
    streamClosed: () => stream?.closed ?? {},
    readiness: () => rt.store.readiness(),
    dataDir: config.dataDir,
    settlementDue: async () => (await windowsDue(rt.store, config.settlementCutoff, clock())).length,
  });
  rt.store.observeBatches((size, ms) => {
    metrics.batchSize.observe(size);
    metrics.commitSeconds.observe(ms / 1000);
  });
  // The demo's own pagoPA node (docs/pagopa.md "The demo"): a simulator in this process, on loopback.
  const demoNode = config.pagopaDemoNode ? await startDemoNode(clock) : null;
  const pagopaConfig = config.pagopa ?? demoNode?.config ?? null;
  // One client of pagoPA's node for the payments, the finance office's approvals and the nightly job.
  const pagopa = pagopaConfig ? new PspClient(pagopaConfig, { clock }) : null;
  if (pagopa) {
    // Creditors outside the catalogue are booked under entity and service PAGOPA (docs/pagopa.md).
    await ensurePagoPaCatalogue(new NetworkService(rt.store, rt.kek, clock), { mode: config.mode, iban: config.operator.iban, royaltyCents: ROYALTY_CENTS, clock });
  }
  // The outcome outbox's sender: takes over every pending outcome at start (a crash's included).
  const outcomes = pagopa ? new PagoPaOutcomes(rt.store, pagopa, { clock }) : null;
  const payments = await Payments.create(rt.store, {
    settlementCutoff: config.settlementCutoff,
    clock,
    onOutcome: (channel, result) => metrics.payments.inc({ channel, result }),
    pagopa,
    pspName: config.operator.name,
    onPagoPaBooked: (row) => outcomes?.booked(row),
  });
  outcomes?.start();
  const tokens = new TokenService(rt.jwtKey, config.tokenTtlSeconds);
  const app = createApp({ config, store: rt.store, payments, tokens, kek: rt.kek, version: version(), metrics, clock, pagopa });
  const tls = config.http.tls;
  const server = tls
    ? https.createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, app)
    : http.createServer(app);
  server.keepAliveTimeout = 65_000;
  // Before the stream attaches, so that its upgrades are seen held (src/net/connection-caps.ts).
  const httpCaps = capHttpServer(server, config.http.connections, config.http.firstRequestTimeoutMs);
  warnIfOverFdLimit(config);
  // The console's session cookie opens the stream too (keys derived from the JWT key, as the app's).
  stream = new StreamServer(rt.store, tokens, config.stream, new SessionService(tokens, config.consoleSession, clock));
  stream.attach(server);

  // Events are kept for the configured retention, then pruned (checked hourly).
  const retentionMs = config.stream.retentionDays * 86_400_000;
  // Failed-login counts are forgotten a day after their last failure (the longest lock is
  // an hour), so names made up by a password spray leave no lasting rows.
  const prune = () => {
    void rt.store.pruneEvents(clock() - retentionMs).catch((err: unknown) => logger.error('event pruning failed', { error: String(err) }));
    void rt.store.pruneLoginFailures(clock() - 86_400_000).catch((err: unknown) => logger.error('login-failure pruning failed', { error: String(err) }));
  };
  prune();
  const pruneTimer = setInterval(prune, 3_600_000);
  pruneTimer.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${tls ? 'https' : 'http'}://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${port}`;
  iso = new IsoServer(payments, new TerminalKeys(rt.store, rt.kek), {
    ...config.iso,
    clock,
    observe: (e) => metrics.isoRequestSeconds.observe({ mti: e.mti, code: e.code }, e.seconds),
  });
  const isoPort = await iso.listen();
  const nightly = config.settlementSchedule
    ? scheduleSettlement(rt.store, { cutoff: config.settlementCutoff, operator: config.operator, clock, pagopa, onRun: (outcome, seconds) => metrics.settlementRun(outcome, seconds, clock()) })
    : null;
  logger.info('tserve listening', { url, isoPort, dataDir: config.dataDir });
  for (const w of plaintextListenerWarnings(config)) logger.warn(w.message, { listener: w.listener, host: w.host });
  const running = { iso, stream };
  return {
    url,
    port,
    isoPort,
    stream,
    connectionStats: () => ({ iso: running.iso.connectionStats(), http: httpCaps.stats() }),
    pagopaOutcomes: outcomes,
    async close() {
      // Stop accepting and reading; let requests in flight finish (their commits
      // included) and their answers go out; then close the store.
      clearInterval(pruneTimer);
      nightly?.stop();
      const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.all([running.iso.close(), running.stream.closeAll(), httpClosed]);
      await outcomes?.stop();
      await demoNode?.sim.stop();
      await rt.store.close();
    },
  };
}

/** The caps are meant to stay well below the file-descriptor limit: say so at start when they do not. */
function warnIfOverFdLimit(config: Config): void {
  const limit = fileDescriptorLimit();
  const caps = config.iso.connections.maxTotal + config.http.connections.maxTotal;
  if (limit !== null && caps > limit * 0.8) {
    logger.warn('connection caps leave little of the file-descriptor limit to the rest of the switch', { isoMax: config.iso.connections.maxTotal, httpMax: config.http.connections.maxTotal, fileDescriptorLimit: limit });
  }
}
