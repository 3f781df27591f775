// Load simulator: many terminals of the seeded network against a running switch.
//
//   tserve terminal load [--terminals N] [--first I] [--rate R] [--duration S] [--mix inquiry=20,payment=60,retransmit=10,reversal=10]
//                        [--max-in-flight N] [--samples FILE] [--json FILE] [--start-at EPOCH_MS]   (Ctrl-C: stop early, summary as usual)
//
// Each simulated terminal connection signs on, then loops over a mix of operations:
//  - inquiry:    0100 for the next notice it will pay, or for a certificate (F service);
//  - payment:    0200 for a payable notice of the seeded network (VALID positions with a
//                single option, no instalments and no amount rule, so the amount due is the
//                option's amount: generateNetwork with the switch's seed and positions
//                regenerates them, shuffled by the seed and dealt out across connections so
//                that no two pay the same notice); once its share is used up, F services
//                (CERTIFICATI, CIE with random valid codici fiscali) and an S service
//                (REFEZIONE, a user code and an amount from 500 to 50000 cents, log-uniform);
//  - retransmit: the exact bytes of its last approved 0200 again; the answer must be 00
//                with the same RRN (37), approval code (38) and receipt number, else it is
//                counted as a mismatch;
//  - reversal:   0400 of an earlier approved 0200 of its own (not the last one, which is
//                kept for retransmission); expected 00.
// A retransmission or reversal with nothing to repeat or reverse yet is a payment instead.
//
// Closed loop (rate 0): each connection sends as soon as its previous answer came.
// Open loop (rate R/s): sends are scheduled at fixed intervals across the connections
// (connection w of W at t0 + (w + jW)/R) and latency is measured from the scheduled
// time, so a slow answer that delays the following sends shows in their latency
// (no coordinated omission); slots still unsent when the duration ends are reported.
//
// With maxInFlight N > 1 (open loop only) a connection sends its next scheduled request
// without waiting for the previous answers, up to N unanswered at once: the offered rate
// is then kept however slowly the switch answers (a real open loop), which an overload
// test needs; with 1 (the default) each connection is one terminal, one request at a time.
//
// Several simulators can share one network (e.g. one per switch instance): --first I
// skips the first I terminals of the credentials file (with --terminals N: terminals
// I..I+N-1), and the payable notices are then dealt out as if every terminal of the file
// ran, each simulator paying only its own terminals' share, so that simulators on
// disjoint ranges never pay the same notice. --start-at makes them start their runs at
// the same moment: each connects and signs on, then waits for that time.
//
// Bounded: no new request after the duration (or after `stop` aborts the run early);
// requests in flight get the drain timeout (default 10 s, also each request's timeout),
// then every connection is closed.
//
// The summary also gives the latency by response code (approved against refused), and
// the simulator's own CPU time over the run (process.cpuUsage) per answer. With
// `samplesFile` every answer is also written as one line `sentAtEpochMs,latencyMs,code`
// (sentAt: the scheduled send in the open loop), for latency over a time window.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';
import { generateNetwork } from '../../fixtures/generator.js';
import { formatPagoPaQr } from '../../src/domain/qr.js';
import { TAGS } from '../iso8583/index.js';
import { IsoTerminal, type Identification, type Response, type Sent, type TerminalCredentials } from './client.js';
import {
  RESPONSE_MEANINGS,
  entityById,
  loadTerminalCredentials,
  randomCodiceFiscale,
  randomUserCode,
  seededRandom,
  serviceByCode,
  shuffle,
  type Target,
} from './common.js';

export const OPERATIONS = ['inquiry', 'payment', 'retransmit', 'reversal'] as const;
export type Operation = (typeof OPERATIONS)[number];
export type Mix = Record<Operation, number>;
export const DEFAULT_MIX: Mix = { inquiry: 20, payment: 60, retransmit: 10, reversal: 10 };

/** `inquiry=20,payment=60,retransmit=10,reversal=10`: relative weights; operations not named get 0. */
export function parseMix(text: string): Mix {
  const mix: Mix = { inquiry: 0, payment: 0, retransmit: 0, reversal: 0 };
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)\s*=\s*(\d+(?:\.\d+)?)$/.exec(part);
    if (!m || !(OPERATIONS as readonly string[]).includes(m[1]!)) {
      throw new Error(`--mix: "${part}" is not one of ${OPERATIONS.map((o) => `${o}=N`).join(', ')}`);
    }
    mix[m[1] as Operation] = Number(m[2]);
  }
  if (OPERATIONS.every((o) => mix[o] === 0)) throw new Error('--mix: every weight is 0');
  return mix;
}

export interface LoadOptions extends Target {
  credentialsFile: string;
  /** The first N terminals of the credentials file (default: all), or N from `first` on. */
  terminals?: number;
  /**
   * Skip the first I terminals of the credentials file. When set (even 0), the notices are
   * dealt out over every terminal of the file, so that simulators given disjoint ranges
   * never pay the same notice.
   */
  first?: number;
  /** Epoch ms: after signing on, wait until then to start the run (simulators started together). */
  startAt?: number;
  /** Requests per second across all connections; 0 = closed loop. */
  rate?: number;
  durationSeconds?: number;
  mix?: Mix;
  connectionsPerTerminal?: number;
  /** The switch's TSERVE_SEED and TSERVE_SEED_POSITIONS, to regenerate its notices. */
  seed?: number;
  positions?: number;
  /** After the duration, how long requests in flight may take (also each request's timeout). */
  drainSeconds?: number;
  /** 'auto': a `\r` line on a TTY, a line every 5 s otherwise. */
  progress?: 'auto' | 'tty' | 'lines' | 'off';
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Lines about setup (default: the progress stream). */
  log?: (line: string) => void;
  /** Open loop: unanswered requests a connection may have at once (default 1). */
  maxInFlight?: number;
  /** Ends the run early: no new request once aborted; requests in flight are drained as at the end. */
  stop?: AbortSignal;
  /** Write every answer as `sentAtEpochMs,latencyMs,code` to this file at the end. */
  samplesFile?: string;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadSummary {
  target: string;
  terminals: number;
  connections: number;
  mode: 'closed loop' | 'open loop';
  rate: number;
  durationSeconds: number;
  mix: Mix;
  startedAt: string;
  /** From the first request to the last answer (or the drain's end). */
  elapsedSeconds: number;
  sent: number;
  answered: number;
  throughputPerSecond: number;
  /** Field 39, with field 48 ER for declines: `{"00": 900, "80 NOTICE_ALREADY_PAID": 3}`. */
  byCode: Record<string, number>;
  byOperation: Record<Operation, { sent: number; answered: number; byCode: Record<string, number>; latencyMs: LatencySummary }>;
  /** Milliseconds from the (scheduled) send to the answer. */
  latencyMs: LatencySummary;
  /** The same by field 39 (two characters): `{"00": ..., "96": ...}`. */
  latencyByCodeMs: Record<string, LatencySummary>;
  /** Open loop: unanswered requests a connection could have at once. */
  maxInFlight: number;
  /** Whether the run was ended early (stop signal) rather than at its duration. */
  stoppedEarly: boolean;
  /** The simulator's own CPU time (user + system, all its threads) from the first send to the end of the run. */
  cpu: { userSeconds: number; systemSeconds: number; usPerAnswer: number };
  count96: number;
  retransmissions: { sent: number; matched: number; mismatches: number; examples: string[] };
  errors: {
    timeouts: number;
    connectionClosed: number;
    /** Requests still unanswered when the drain timeout ended the run. */
    abandoned: number;
    badMac: number;
    /** Any other failure of a request (reported with examples). */
    other: number;
    signOnFailures: number;
    connectFailures: number;
    reconnects: number;
    examples: string[];
  };
  /** Open loop: scheduled sends that could not go out before the duration ended. */
  missedSends: number;
  notices: { available: number; used: number };
  ok: boolean;
}

// ---------------------------------------------------------------------------
// What to pay

interface Job {
  id: Identification;
  amount: number;
}

const EXAMPLES = 10;

/** The seeded network's payable single notices, shuffled by the seed. */
export function payableNotices(seed: number | undefined, positions: number | undefined): Job[] {
  const network = generateNetwork({ seed, positions });
  const jobs: Job[] = [];
  for (const p of network.positions) {
    const o = p.options[0];
    if (p.status !== 'VALID' || p.options.length !== 1 || !o || o.kind !== 'single' || o.ruleParams !== null) continue;
    const service = serviceByCode(p.serviceCode);
    if (!service) continue;
    let id: Identification;
    if (service.identifierKind === 'notice') {
      // One in four by its pagoPA QR code, the rest typed.
      id =
        jobs.length % 4 === 3
          ? { qr: formatPagoPaQr(o.noticeNumber, entityById(p.entityId)?.fiscalCode ?? '', o.amountCents) }
          : { service: service.code, identifier: o.noticeNumber };
    } else if (o.lookupKey) {
      id = { service: service.code, identifier: o.lookupKey };
    } else {
      continue;
    }
    jobs.push({ id, amount: o.amountCents });
  }
  return shuffle(jobs, seededRandom((seed ?? 2000) ^ 0x5eed));
}

const CERTIFICATI = serviceByCode('CERTIFICATI');
const CIE = serviceByCode('CIE');
const REFEZIONE = serviceByCode('REFEZIONE');
if (!CERTIFICATI?.fixedCents || !CIE?.fixedCents || !REFEZIONE?.minCents || !REFEZIONE.maxCents) {
  throw new Error('simulator: the catalogue lacks CERTIFICATI, CIE or REFEZIONE');
}

/** A payment on an F or S service: always payable, any number of times. */
function otherJob(random: () => number): Job {
  const r = random();
  if (r < 0.4) return { id: { service: CERTIFICATI!.code, identifier: randomCodiceFiscale(random) }, amount: CERTIFICATI!.fixedCents! };
  if (r < 0.6) return { id: { service: CIE!.code, identifier: randomCodiceFiscale(random) }, amount: CIE!.fixedCents! };
  // Top-ups are mostly small: log-uniform over the service's range.
  const [lo, hi] = [REFEZIONE!.minCents!, REFEZIONE!.maxCents!];
  const amount = Math.min(hi, Math.max(lo, Math.round(lo * Math.pow(hi / lo, random()))));
  return { id: { service: REFEZIONE!.code, identifier: randomUserCode(random) }, amount };
}

// ---------------------------------------------------------------------------
// Statistics

function histogram(): Histogram {
  // Microseconds, 3 significant digits; the pure-JS build.
  return build({ bitBucketSize: 32, numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, autoResize: true });
}

function latencySummary(h: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

class Stats {
  readonly all = histogram();
  readonly perOp = Object.fromEntries(OPERATIONS.map((o) => [o, histogram()])) as Record<Operation, Histogram>;
  sent = 0;
  answered = 0;
  count96 = 0;
  firstSendAt = 0;
  lastAnswerAt = 0;
  readonly byCode = new Map<string, number>();
  readonly byOp = Object.fromEntries(OPERATIONS.map((o) => [o, { sent: 0, answered: 0, byCode: new Map<string, number>() }])) as Record<
    Operation,
    { sent: number; answered: number; byCode: Map<string, number> }
  >;
  readonly retransmissions = { sent: 0, matched: 0, mismatches: 0, examples: [] as string[] };
  readonly errors = { timeouts: 0, connectionClosed: 0, abandoned: 0, badMac: 0, other: 0, signOnFailures: 0, connectFailures: 0, reconnects: 0, examples: [] as string[] };
  readonly byCodeLatency = new Map<string, Histogram>();
  missedSends = 0;
  noticesUsed = 0;
  /** sentAt (epoch ms), latency (ms) and code of every answer, when asked for. */
  samples: { sentAt: number[]; latency: number[]; code: string[] } | null = null;

  onSend(op: Operation, at: number): void {
    if (this.sent === 0) this.firstSendAt = at;
    this.sent++;
    this.byOp[op].sent++;
  }

  onAnswer(op: Operation, r: Response, startedAt: number, now: number): void {
    const us = Math.max(1, Math.round((now - startedAt) * 1000));
    this.all.recordValue(us);
    this.perOp[op].recordValue(us);
    this.answered++;
    this.byOp[op].answered++;
    this.lastAnswerAt = Math.max(this.lastAnswerAt, now);
    const code = r.code || '??';
    const key = code === '00' ? code : `${code} ${r.tlv.get(TAGS.error) ?? '-'}`;
    this.byCode.set(key, (this.byCode.get(key) ?? 0) + 1);
    this.byOp[op].byCode.set(key, (this.byOp[op].byCode.get(key) ?? 0) + 1);
    let h = this.byCodeLatency.get(code);
    if (!h) this.byCodeLatency.set(code, (h = histogram()));
    h.recordValue(us);
    if (this.samples) {
      this.samples.sentAt.push(performance.timeOrigin + startedAt);
      this.samples.latency.push(us / 1000);
      this.samples.code.push(code);
    }
    if (code === '96') this.count96++;
    if (!r.macOk) {
      this.errors.badMac++;
      this.example(`${op}: answer ${r.mti} ${code} with a MAC that does not verify`);
    }
  }

  example(text: string): void {
    if (this.errors.examples.length < EXAMPLES) this.errors.examples.push(text);
  }
}

// ---------------------------------------------------------------------------
// One connection of one terminal

/** What the connections of one terminal share: sign-on replaces the session key for all of them. */
interface TerminalState {
  creds: TerminalCredentials;
  sessionKey: Buffer | null;
}

interface Approved {
  sent: Sent;
  amount: number;
  rrn: string;
  approvalCode: string;
  receiptNumber: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

class Connection {
  term: IsoTerminal;
  private readonly random: () => number;
  private lastApproved: Approved | null = null;
  private readonly reversible: Approved[] = [];
  private nextNotice = 0;
  /** Set when the drain timeout closes the connection under requests in flight. */
  abandoning = false;

  constructor(
    readonly terminal: TerminalState,
    private readonly target: Target,
    private readonly timeoutMs: number,
    firstStan: number,
    private readonly jobs: Job[],
    private readonly mix: Mix,
    private readonly stats: Stats,
    seed: number,
  ) {
    this.term = this.newTerminal(firstStan);
    this.random = seededRandom(seed);
  }

  private newTerminal(firstStan: number): IsoTerminal {
    return new IsoTerminal(this.terminal.creds, { host: this.target.host, port: this.target.port, tls: this.target.tls, timeoutMs: this.timeoutMs, firstStan });
  }

  async signOn(): Promise<Response> {
    const r = await this.term.signOn();
    if (r.code === '00' && this.term.sessionKey) this.terminal.sessionKey = this.term.sessionKey;
    // Earlier 0200s were MACed with the old key: their bytes can no longer be repeated.
    this.lastApproved = null;
    return r;
  }

  /** After a lost connection: a new one, with the terminal's session key (a sign-on would void the other connections' key). */
  async reconnect(): Promise<boolean> {
    const stan = Number(this.term.nextStan());
    this.term.destroy();
    this.term = this.newTerminal(stan);
    try {
      await this.term.connect();
    } catch (err) {
      this.stats.errors.connectFailures++;
      this.stats.example(`${this.terminal.creds.terminalId}: reconnect failed: ${String(err)}`);
      return false;
    }
    this.stats.errors.reconnects++;
    this.term.sessionKey = this.terminal.sessionKey;
    this.lastApproved = null;
    if (!this.term.sessionKey) return (await this.signOn()).code === '00';
    return true;
  }

  private pick(): Operation {
    const total = OPERATIONS.reduce((s, o) => s + this.mix[o], 0);
    let x = this.random() * total;
    for (const o of OPERATIONS) {
      x -= this.mix[o];
      if (x < 0) return o;
    }
    return 'payment';
  }

  private takeJob(): Job {
    const job = this.jobs[this.nextNotice];
    if (job) {
      this.nextNotice++;
      this.stats.noticesUsed++;
      return job;
    }
    return otherJob(this.random);
  }

  private inquiryTarget(): Identification {
    const next = this.jobs[this.nextNotice];
    if (next && this.random() < 0.5) return next.id;
    // An F service. Not an S service: see the note in the report about S inquiries.
    return { service: CERTIFICATI!.code, identifier: randomCodiceFiscale(this.random) };
  }

  /** One operation; `scheduledAt` is the open loop's slot (latency counts from it). */
  async step(scheduledAt: number | null): Promise<void> {
    let op = this.pick();
    const candidates = this.reversible.filter((a) => a !== this.lastApproved);
    if (op === 'retransmit' && !this.lastApproved) op = 'payment';
    if (op === 'reversal' && candidates.length === 0) op = 'payment';
    this.term.sessionKey = this.terminal.sessionKey;
    const started = scheduledAt ?? performance.now();
    this.stats.onSend(op, started);
    try {
      let r: Response;
      switch (op) {
        case 'inquiry':
          r = await this.term.inquiry(this.inquiryTarget());
          break;
        case 'payment': {
          const job = this.takeJob();
          const { sent, response } = await this.term.pay(job.id, job.amount);
          r = response;
          if (r.code === '00') {
            const a: Approved = {
              sent,
              amount: job.amount,
              rrn: r.fields.get(37) ?? '',
              approvalCode: r.fields.get(38) ?? '',
              receiptNumber: r.tlv.get(TAGS.receiptNumber) ?? '',
            };
            this.lastApproved = a;
            this.reversible.push(a);
            if (this.reversible.length > 16) this.reversible.shift();
          }
          break;
        }
        case 'retransmit': {
          const a = this.lastApproved!;
          this.stats.retransmissions.sent++;
          r = await this.term.sendRaw(a.sent.packed, a.sent.stan);
          const same =
            r.code === '00' && r.fields.get(37) === a.rrn && r.fields.get(38) === a.approvalCode && (r.tlv.get(TAGS.receiptNumber) ?? '') === a.receiptNumber;
          if (same) this.stats.retransmissions.matched++;
          else {
            this.stats.retransmissions.mismatches++;
            const ex = this.stats.retransmissions.examples;
            if (ex.length < EXAMPLES) {
              ex.push(
                `${this.terminal.creds.terminalId} STAN ${a.sent.stan}: first 00 RRN ${a.rrn} auth ${a.approvalCode} RN ${a.receiptNumber}, ` +
                  `again ${r.code} ${r.tlv.get(TAGS.error) ?? ''} RRN ${r.fields.get(37) ?? '-'} auth ${r.fields.get(38) ?? '-'} RN ${r.tlv.get(TAGS.receiptNumber) ?? '-'}`,
              );
            }
          }
          break;
        }
        case 'reversal': {
          const a = candidates[Math.floor(this.random() * candidates.length)]!;
          this.reversible.splice(this.reversible.indexOf(a), 1);
          r = await this.term.reverse(a.sent, a.amount, '0400');
          break;
        }
      }
      this.stats.onAnswer(op, r, started, performance.now());
      if (r.code === '58' && r.tlv.get(TAGS.error) === 'NOT_SIGNED_ON') {
        // The switch lost the session (a restart): sign on again, as a terminal does.
        if ((await this.signOn()).code !== '00') this.stats.errors.signOnFailures++;
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const who = `${this.terminal.creds.terminalId} ${op}`;
      if (this.abandoning) this.stats.errors.abandoned++;
      else if (msg.startsWith('no answer')) {
        this.stats.errors.timeouts++;
        this.stats.example(`${who}: ${msg} within ${this.timeoutMs} ms`);
      } else if (/connection closed|not connected/.test(msg)) {
        this.stats.errors.connectionClosed++;
        this.stats.example(`${who}: ${msg}`);
      } else {
        this.stats.errors.other++;
        this.stats.example(`${who}: ${msg}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The run

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** The load mode drives a switch on this machine only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === '[::1]';
}

export async function runLoad(o: LoadOptions): Promise<LoadSummary> {
  if (!isLoopback(o.host)) throw new Error(`the load mode drives a switch on this machine only (127.0.0.1, ::1, localhost), not ${o.host}`);
  const rate = o.rate ?? 0;
  const durationSeconds = o.durationSeconds ?? 60;
  const drainMs = (o.drainSeconds ?? 10) * 1000;
  const mix = o.mix ?? DEFAULT_MIX;
  const perTerminal = o.connectionsPerTerminal ?? 1;
  const maxInFlight = o.maxInFlight ?? 1;
  const stream = o.progressStream ?? process.stderr;
  const log = o.log ?? ((l: string) => void stream.write(l + '\n'));
  if (!(rate >= 0) || !(durationSeconds > 0) || !(perTerminal >= 1) || !Number.isInteger(perTerminal)) {
    throw new Error('rate must be >= 0, duration > 0 and connections per terminal a whole number >= 1');
  }
  if (!(maxInFlight >= 1) || !Number.isInteger(maxInFlight)) throw new Error('requests in flight per connection must be a whole number >= 1');
  if (maxInFlight > 1 && rate === 0) throw new Error('more than one request in flight per connection is for the open loop (a rate > 0)');

  const file = loadTerminalCredentials(o.credentialsFile);
  const first = o.first ?? 0;
  if (!(first >= 0) || !Number.isInteger(first)) throw new Error('the first terminal must be a whole number >= 0');
  if (first >= file.length) throw new Error(`--first ${first}: the credentials file has ${file.length} terminals`);
  const creds = file.slice(first, o.terminals !== undefined ? first + o.terminals : undefined);
  if (creds.length === 0) throw new Error('no terminals to simulate');
  const stats = new Stats();
  if (o.samplesFile) stats.samples = { sentAt: [], latency: [], code: [] };

  const jobs = mix.payment > 0 || mix.inquiry > 0 ? payableNotices(o.seed, o.positions) : [];
  const total = creds.length * perTerminal;
  log(`${jobs.length} payable notices regenerated from the seeded network (seed ${o.seed ?? 2000}, ${o.positions ?? 40000} positions)`);

  // Deal the notices out: connection w gets w, w + W, w + 2W, ... With `first`, W counts
  // every terminal of the file and this run's connections start at first * perTerminal.
  const dealt = o.first !== undefined ? file.length * perTerminal : total;
  const offset = first * perTerminal;
  const shares: Job[][] = Array.from({ length: dealt }, () => []);
  jobs.forEach((j, i) => shares[i % dealt]!.push(j));
  const startRandom = Math.random;
  const span = Math.floor(999_999 / perTerminal);
  const connections: Connection[] = [];
  creds.forEach((c, t) => {
    const state: TerminalState = { creds: c, sessionKey: null };
    for (let k = 0; k < perTerminal; k++) {
      const w = t * perTerminal + k;
      // Each connection of a terminal has its own STAN range, starting at random within it.
      const firstStan = k * span + 1 + Math.floor(startRandom() * (span / 2));
      connections.push(new Connection(state, o, drainMs, firstStan, shares[offset + w]!, mix, stats, (o.seed ?? 2000) * 7919 + offset + w));
    }
  });

  // Connect and sign on (one sign-on per terminal; its other connections share the key).
  log(`connecting ${connections.length} connections for ${creds.length} terminals to ${o.host}:${o.port}`);
  const ready: Connection[] = [];
  const signedOn = new Set<TerminalState>();
  let firstConnectError: unknown = null;
  await inBatches(connections, 64, async (c) => {
    try {
      await c.term.connect();
    } catch (err) {
      stats.errors.connectFailures++;
      firstConnectError ??= err;
      return;
    }
    ready.push(c);
  });
  const firsts = ready.filter((c) => {
    if (signedOn.has(c.terminal)) return false;
    signedOn.add(c.terminal);
    return true;
  });
  await inBatches(
    firsts,
    64,
    async (c) => {
      try {
        const r = await c.signOn();
        if (r.code !== '00') {
          stats.errors.signOnFailures++;
          stats.example(`${c.terminal.creds.terminalId}: sign-on answered ${r.code} ${r.tlv.get(TAGS.error) ?? ''}`);
        }
      } catch (err) {
        stats.errors.signOnFailures++;
        stats.example(`${c.terminal.creds.terminalId}: sign-on failed: ${String(err)}`);
      }
    },
  );
  const working = ready.filter((c) => c.terminal.sessionKey !== null);
  for (const c of ready) if (!working.includes(c)) c.term.close();
  if (working.length === 0) {
    throw new Error(`no terminal could sign on at ${o.host}:${o.port}${firstConnectError ? `: ${String(firstConnectError)}` : ''}`);
  }
  if (o.startAt !== undefined) {
    const wait = o.startAt - Date.now();
    if (wait > 0) {
      log(`waiting ${(wait / 1000).toFixed(1)} s for the start time`);
      await sleep(wait);
    } else log(`the start time passed ${(-wait / 1000).toFixed(1)} s ago: starting now`);
  }
  log(
    `${working.length} connections signed on; ${rate > 0 ? `open loop at ${rate}/s${maxInFlight > 1 ? `, up to ${maxInFlight} in flight per connection` : ''}` : 'closed loop'} for ${durationSeconds} s`,
  );

  // The run.
  const startedAt = new Date();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let until = t0 + durationSeconds * 1000;
  let stoppedEarly = false;
  const stop = () => {
    if (performance.now() >= until) return;
    stoppedEarly = true;
    until = performance.now();
    for (const wake of sleepers) wake();
  };
  // Loops sleeping until their next slot, woken by an early stop.
  const sleepers = new Set<() => void>();
  const sleepUntilSlot = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, Math.max(0, ms));
      sleepers.add(wake);
    });
  if (o.stop?.aborted) stop();
  o.stop?.addEventListener('abort', stop, { once: true });
  const W = working.length;
  const interval = rate > 0 ? 1000 / rate : 0;

  const loop = async (c: Connection, w: number): Promise<void> => {
    const inFlight = new Set<Promise<void>>();
    for (let j = 0; ; j++) {
      let scheduled: number | null = null;
      if (rate > 0) {
        scheduled = t0 + (w + j * W) * interval;
        if (scheduled >= until) break;
        const now = performance.now();
        if (now >= until) {
          // Behind schedule when time ran out: these slots were never sent.
          stats.missedSends += Math.ceil((until - scheduled) / (W * interval));
          break;
        }
        if (scheduled > now) await sleepUntilSlot(scheduled - now);
        if (scheduled >= until) break; // stopped early while sleeping
      } else if (performance.now() >= until) {
        break;
      }
      if (!c.term.connected) {
        if (!(await c.reconnect())) {
          await sleep(Math.min(500, until - performance.now()));
          continue;
        }
      }
      if (maxInFlight === 1) {
        await c.step(scheduled);
        continue;
      }
      // Open loop with pipelining: send on schedule, wait only when the connection is full.
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      const p: Promise<void> = c.step(scheduled).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  };

  const progress = startProgress(o.progress ?? 'auto', stream, stats, t0, durationSeconds);
  const loops = Promise.all(working.map((c, w) => loop(c, w)));
  let hardStop: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    hardStop = setTimeout(() => resolve('deadline'), durationSeconds * 1000 + drainMs + 1000);
  });
  if ((await Promise.race([loops.then(() => 'done' as const), deadline])) === 'deadline') {
    for (const c of working) {
      c.abandoning = true;
      c.term.destroy();
    }
    await loops;
  }
  clearTimeout(hardStop);
  o.stop?.removeEventListener('abort', stop);
  const cpu = process.cpuUsage(cpu0);
  progress.stop();
  for (const c of working) c.term.close();
  if (o.samplesFile && stats.samples) writeSamples(o.samplesFile, stats.samples);

  const end = stats.lastAnswerAt || performance.now();
  const elapsedSeconds = Math.max(0.001, (end - (stats.firstSendAt || t0)) / 1000);
  const sorted = (m: Map<string, number>) => Object.fromEntries([...m.entries()].sort((a, b) => a[0].localeCompare(b[0])));
  const e = stats.errors;
  const summary: LoadSummary = {
    target: `${o.host}:${o.port}`,
    terminals: new Set(working.map((c) => c.terminal)).size,
    connections: working.length,
    mode: rate > 0 ? 'open loop' : 'closed loop',
    rate,
    durationSeconds,
    mix,
    startedAt: startedAt.toISOString(),
    elapsedSeconds: Math.round(elapsedSeconds * 1000) / 1000,
    sent: stats.sent,
    answered: stats.answered,
    throughputPerSecond: Math.round((stats.answered / elapsedSeconds) * 10) / 10,
    byCode: sorted(stats.byCode),
    byOperation: Object.fromEntries(
      OPERATIONS.map((op) => [
        op,
        { sent: stats.byOp[op].sent, answered: stats.byOp[op].answered, byCode: sorted(stats.byOp[op].byCode), latencyMs: latencySummary(stats.perOp[op]) },
      ]),
    ) as LoadSummary['byOperation'],
    latencyMs: latencySummary(stats.all),
    latencyByCodeMs: Object.fromEntries([...stats.byCodeLatency.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([k, h]) => [k, latencySummary(h)])),
    maxInFlight,
    stoppedEarly,
    cpu: {
      userSeconds: Math.round(cpu.user / 1000) / 1000,
      systemSeconds: Math.round(cpu.system / 1000) / 1000,
      usPerAnswer: stats.answered ? Math.round(((cpu.user + cpu.system) / stats.answered) * 10) / 10 : 0,
    },
    count96: stats.count96,
    retransmissions: stats.retransmissions,
    errors: e,
    missedSends: stats.missedSends,
    notices: { available: jobs.length, used: stats.noticesUsed },
    ok: stats.count96 === 0 && stats.retransmissions.mismatches === 0 && e.timeouts === 0 && e.connectionClosed === 0 && e.abandoned === 0 && e.badMac === 0 && e.other === 0,
  };
  return summary;
}

/** 0 when the run had no 96, no retransmission mismatch, no timeout, no lost connection, no bad MAC and no other request failure; else 1. */
export function loadExitCode(s: LoadSummary): number {
  return s.ok ? 0 : 1;
}

/** One line per answer: `sentAtEpochMs,latencyMs,code`, in the order the answers came. */
function writeSamples(file: string, x: NonNullable<Stats['samples']>): void {
  const lines: string[] = ['sentAtEpochMs,latencyMs,code'];
  for (let i = 0; i < x.sentAt.length; i++) lines.push(`${x.sentAt[i]!.toFixed(3)},${x.latency[i]!.toFixed(3)},${x.code[i]}`);
  writeFileSync(file, lines.join('\n') + '\n');
}

export function writeSummaryJson(file: string, s: LoadSummary): void {
  writeFileSync(file, JSON.stringify(s, null, 2) + '\n');
}

// ---------------------------------------------------------------------------
// Output

function startProgress(mode: NonNullable<LoadOptions['progress']>, stream: NodeJS.WritableStream & { isTTY?: boolean }, stats: Stats, t0: number, durationSeconds: number) {
  const kind = mode === 'auto' ? (stream.isTTY ? 'tty' : 'lines') : mode;
  if (kind === 'off') return { stop: () => undefined };
  let lastAnswered = 0;
  let lastAt = t0;
  let lastLineAt = t0;
  let width = 0;
  let rate = 0;
  const line = () => {
    const now = performance.now();
    if (now - lastAt >= 1000) {
      rate = ((stats.answered - lastAnswered) * 1000) / (now - lastAt);
      lastAnswered = stats.answered;
      lastAt = now;
    }
    const e = stats.errors;
    const errors = e.timeouts + e.connectionClosed + e.badMac + e.abandoned + e.other;
    const p99 = stats.all.totalCount ? (stats.all.getValueAtPercentile(99) / 1000).toFixed(1) : '-';
    return (
      `${((now - t0) / 1000).toFixed(1).padStart(5)}s/${durationSeconds}s  sent ${stats.sent}  answered ${stats.answered}  ` +
      `${Math.round(rate)}/s  p99 ${p99} ms  96: ${stats.count96}  errors ${errors}`
    );
  };
  const timer = setInterval(
    () => {
      if (kind === 'tty') {
        const l = line();
        stream.write('\r' + l.padEnd(width));
        width = l.length;
      } else if (performance.now() - lastLineAt >= 5000) {
        lastLineAt = performance.now();
        stream.write(line() + '\n');
      } else {
        line(); // keeps the rate window moving
      }
    },
    kind === 'tty' ? 250 : 1000,
  );
  return {
    stop: () => {
      clearInterval(timer);
      if (kind === 'tty') stream.write('\r' + line().padEnd(width) + '\n');
    },
  };
}

const pct = (n: number, of: number) => (of ? `${((100 * n) / of).toFixed(1)}%` : '-');
const ms = (x: number) => `${x.toFixed(2)} ms`;

export function formatSummary(s: LoadSummary): string {
  const L: string[] = [];
  const mix = OPERATIONS.map((o) => `${o}=${s.mix[o]}`).join(',');
  L.push(
    `tserve terminal load: ${s.terminals} terminals, ${s.connections} connections to ${s.target}, ${s.mode}${s.rate > 0 ? ` at ${s.rate}/s` : ''}, ` +
      `${s.durationSeconds} s, mix ${mix}`,
  );
  L.push(`sent ${s.sent}, answered ${s.answered} in ${s.elapsedSeconds.toFixed(1)} s: ${s.throughputPerSecond.toFixed(1)} answers/s`);
  L.push('response codes:');
  for (const [k, n] of Object.entries(s.byCode).sort((a, b) => b[1] - a[1])) {
    const code = k.slice(0, 2);
    L.push(`  ${k.padEnd(28)} ${String(n).padStart(9)}  ${pct(n, s.answered).padStart(6)}  ${RESPONSE_MEANINGS[code] ?? ''}`);
  }
  const lat = s.latencyMs;
  L.push(`latency: p50 ${ms(lat.p50)}, p90 ${ms(lat.p90)}, p99 ${ms(lat.p99)}, p99.9 ${ms(lat.p999)}, max ${ms(lat.max)} (${s.mode === 'open loop' ? 'from the scheduled send' : 'from the send'})`);
  const codes = Object.entries(s.latencyByCodeMs);
  if (codes.length > 1) {
    L.push('latency by response code:');
    for (const [code, c] of codes) L.push(`  ${code.padEnd(4)} ${String(c.count).padStart(9)}  p50 ${ms(c.p50)}  p99 ${ms(c.p99)}  max ${ms(c.max)}  ${RESPONSE_MEANINGS[code] ?? ''}`);
  }
  L.push('by operation:');
  for (const op of OPERATIONS) {
    const b = s.byOperation[op];
    if (b.sent === 0) continue;
    const codes = Object.entries(b.byCode)
      .sort((x, y) => y[1] - x[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    L.push(`  ${op.padEnd(10)} ${String(b.answered).padStart(9)} answered  p50 ${ms(b.latencyMs.p50)}  p99 ${ms(b.latencyMs.p99)}  [${codes}]`);
  }
  const r = s.retransmissions;
  L.push(`retransmissions: ${r.sent} sent, ${r.matched} same 37/38, ${r.mismatches} mismatches`);
  for (const x of r.examples) L.push(`  mismatch: ${x}`);
  const e = s.errors;
  L.push(
    `errors: ${e.timeouts} timeouts, ${e.connectionClosed} closed connections, ${e.abandoned} abandoned at the drain timeout, ${e.badMac} bad MACs, ${e.other} other; ` +
      `${e.signOnFailures} sign-on failures, ${e.connectFailures} failed connects (reconnect attempts included), ${e.reconnects} reconnects`,
  );
  for (const x of e.examples) L.push(`  ${x}`);
  if (s.mode === 'open loop') L.push(`missed sends (behind schedule at the end): ${s.missedSends}${s.maxInFlight > 1 ? ` (up to ${s.maxInFlight} in flight per connection)` : ''}`);
  if (s.stoppedEarly) L.push('stopped early (before the duration)');
  L.push(
    `simulator CPU: ${s.cpu.userSeconds.toFixed(2)} s user + ${s.cpu.systemSeconds.toFixed(2)} s system over the run, ${s.cpu.usPerAnswer.toFixed(1)} µs per answer`,
  );
  L.push(`notices of the seeded network paid or tried: ${s.notices.used} of ${s.notices.available}`);
  L.push(
    s.ok
      ? `result: OK (${s.count96} x 96, no retransmission mismatch, no timeout)`
      : `result: FAILED (${s.count96} x 96, ${r.mismatches} retransmission mismatches, ${e.timeouts} timeouts, ${e.connectionClosed + e.abandoned} lost, ${e.badMac} bad MACs, ${e.other} other errors)`,
  );
  return L.join('\n');
}
