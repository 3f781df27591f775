// Shared helpers for the ISO 8583 server tests: a seeded switch with its IsoServer
// listening on a real TCP port, a direct view of its store (SQLite or PostgreSQL), terminals (one per
// counter, never shared between tests of a file), distinct notices, and a raw
// connection that sees the exact bytes the server sends.
import './quiet.js';
import net from 'node:net';
import { expect } from 'vitest';
import { TerminalKeys } from '../../src/auth/terminal-keys.js';
import { IsoServer, type IsoServerOptions } from '../../terminals/server.js';
import { FrameDecoder, FramingError, decode, formatTlv, frame, fromWire, parseTlv, toWire, type IsoMessage } from '../../terminals/iso8583/index.js';
import { IsoTerminal, localTimeFields, transmissionTime, type Response, type TerminalCredentials } from '../../terminals/simulator/client.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { testToday } from '../helpers/clock.js';
import { openTestDb, TEST_STORE, type TestDb } from '../helpers/store.js';

/** How long a test terminal waits for an answer before failing (well under the test timeout). */
const ANSWER_TIMEOUT_MS = 20_000;

export interface Ctx {
  h: Harness;
  /** A direct connection on the switch's store, for assertions. */
  db: TestDb;
  iso: IsoServer;
  port: number;
  notices: NoticePicker;
  /** Terminal ids, each on a counter no other taken terminal shares. */
  takeTerminalId(): string;
  creds(terminalId: string): TerminalCredentials;
  /** A connected terminal (not signed on); a fresh pooled one unless an id is given. */
  terminal(terminalId?: string): Promise<IsoTerminal>;
  /** A connected terminal that has signed on (asserts 00). */
  signedOn(terminalId?: string): Promise<IsoTerminal>;
  /** A raw connection to the ISO port. */
  raw(): Promise<RawConn>;
  close(): Promise<void>;
}

export async function setup(opts: { positions?: number; iso?: Partial<IsoServerOptions>; clock?: () => number } = {}): Promise<Ctx> {
  const h = await startHarness({ positions: opts.positions ?? 2000, clock: opts.clock });
  const db = await openTestDb(h.dir);
  const iso = new IsoServer(h.payments, new TerminalKeys(h.rt.store, h.rt.kek), { host: '127.0.0.1', port: 0, clock: h.rt.clock, ...opts.iso });
  const port = await iso.listen();
  const terminals: IsoTerminal[] = [];
  const raws: RawConn[] = [];
  const seenCounters = new Set<string>();
  const pool: string[] = [];
  for (const t of h.credentials.terminals) {
    if (seenCounters.has(t.counterId)) continue;
    seenCounters.add(t.counterId);
    pool.push(t.terminalId);
  }
  let next = 0;
  const ctx: Ctx = {
    h,
    db,
    iso,
    port,
    notices: new NoticePicker(db),
    takeTerminalId() {
      const id = pool[next++];
      if (!id) throw new Error('terminal pool exhausted');
      return id;
    },
    creds(terminalId) {
      const c = h.credentials.terminals.find((t) => t.terminalId === terminalId);
      if (!c) throw new Error(`no demo terminal ${terminalId}`);
      return { terminalId: c.terminalId, counterId: c.counterId, tmk: Buffer.from(c.tmk, 'hex') };
    },
    async terminal(terminalId) {
      const t = new IsoTerminal(ctx.creds(terminalId ?? ctx.takeTerminalId()), { host: '127.0.0.1', port, timeoutMs: ANSWER_TIMEOUT_MS, clock: h.rt.clock });
      await t.connect();
      terminals.push(t);
      return t;
    },
    async signedOn(terminalId) {
      const t = await ctx.terminal(terminalId);
      const r = await t.signOn();
      expect(r.code, `sign-on of ${t.creds.terminalId}: ${r.tlv.get('ER') ?? ''}`).toBe('00');
      expect(t.sessionKey).not.toBeNull();
      return t;
    },
    async raw() {
      const c = await RawConn.open(port);
      raws.push(c);
      return c;
    },
    async close() {
      for (const t of terminals) t.close();
      for (const r of raws) r.destroy();
      await iso.close();
      await db.close();
      await h.close();
    },
  };
  return ctx;
}

// ------------------------------------------------------------------ notices

export interface Notice {
  optionId: number;
  notice: string;
  amount: number;
  service: string;
  dueDate: string;
  description: string;
  entityName: string;
}

/** Hands out seeded single-option notices (no amount rule), each at most once per file. */
export class NoticePicker {
  private readonly used = new Set<number>();

  constructor(private readonly db: TestDb) {}

  async take(services: readonly string[] = ['SANZIONI', 'NIDO', 'TRASPORTO', 'PASSOCARR']): Promise<Notice> {
    // The first used.size + 1 rows hold an unused one if there is any (unless another
    // take, between the query and its answer, used one of them: then ask again).
    for (;;) {
      const limit = this.used.size + 1;
      const rows = await this.db.all<Notice>(
        `SELECT o.id AS "optionId", o.notice_number AS notice, o.amount_cents AS amount, p.service_code AS service,
                o.due_date AS "dueDate", o.description AS description, e.name AS "entityName"
         FROM payment_options o JOIN debt_positions p ON p.id = o.position_id JOIN entities e ON e.id = p.entity_id
         WHERE p.status = 'VALID' AND o.kind = 'single' AND o.rule_params IS NULL AND o.paid_payment_id IS NULL
           AND (p.valid_until IS NULL OR p.valid_until >= ?)
           AND p.service_code IN (${services.map(() => '?').join(', ')})
         ORDER BY o.id LIMIT ${limit}`,
        testToday(),
        ...services,
      );
      for (const r of rows) {
        if (this.used.has(r.optionId)) continue;
        this.used.add(r.optionId);
        return r;
      }
      if (rows.length < limit) throw new Error(`no unused notice of ${services.join(', ')}`);
    }
  }
}

// ------------------------------------------------------------------ database reads

export function paymentCount(db: TestDb, optionId?: number): Promise<number> {
  return optionId === undefined ? db.scalar('SELECT count(*) FROM payments') : db.scalar('SELECT count(*) FROM payments WHERE option_id = ?', optionId);
}

export interface PaymentRow {
  id: number;
  public_id: string;
  channel: string;
  terminal_id: string;
  option_id: number | null;
  amount_cents: number;
  fee_cents: number;
  stan: string | null;
  rrn: string;
  approval_code: string;
  receipt_number: string;
  settlement_date: string;
  reversed_at: number | null;
}

export function paymentByRrn(db: TestDb, rrn: string): Promise<PaymentRow | undefined> {
  return db.get<PaymentRow>('SELECT * FROM payments WHERE rrn = ?', rrn);
}

export function paymentsOfOption(db: TestDb, optionId: number): Promise<PaymentRow[]> {
  return db.all<PaymentRow>('SELECT * FROM payments WHERE option_id = ? ORDER BY id', optionId);
}

/** Whether the option is marked paid (paid_payment_id set). */
export async function optionPaid(db: TestDb, optionId: number): Promise<boolean> {
  const row = await db.get<{ paid_payment_id: number | null }>('SELECT paid_payment_id FROM payment_options WHERE id = ?', optionId);
  return (row === undefined ? undefined : row.paid_payment_id) !== null;
}

export function ledgerEntryCount(db: TestDb, paymentId: number): Promise<number> {
  return db.scalar('SELECT count(*) FROM ledger_entries WHERE payment_id = ?', paymentId);
}

/** SQL for a text member of a JSON text column, on either store. */
export function jsonText(column: string, key: string): string {
  return TEST_STORE === 'postgres' ? `(${column}::json ->> '${key}')` : `json_extract(${column}, '$.${key}')`;
}

// ------------------------------------------------------------------ messages

/** The fields of a 0100 (processing 300000) or 0200 (500000) for a notice, with a fresh STAN. */
export function txnFields(t: IsoTerminal, processing: '300000' | '500000', amountCents: number, n: Pick<Notice, 'service' | 'notice'>): Record<number, string> {
  return {
    3: processing,
    4: toWire(4, amountCents),
    7: transmissionTime(t.now()),
    11: t.nextStan(),
    ...localTimeFields(t.now()),
    41: t.f41,
    42: t.f42,
    48: formatTlv([
      ['SV', n.service],
      ['ID', n.notice],
    ]),
    49: '978',
  };
}

/** The fields of a reversal (0400/0420/0421) naming an original 0200 by STAN and field 7. */
export function reversalFields(t: IsoTerminal, original: { stan: string; f7: string }, amountCents: number): Record<number, string> {
  return {
    3: '500000',
    4: toWire(4, amountCents),
    7: transmissionTime(t.now()),
    11: t.nextStan(),
    41: t.f41,
    42: t.f42,
    49: '978',
    90: toWire(90, { mti: '0200', stan: original.stan, transmission: fromWire(7, original.f7) }),
  };
}

/** A decoded frame with field 39 and field 48's TLV at hand. */
export interface Parsed extends IsoMessage {
  packed: Buffer;
  code: string | undefined;
  tlv: Map<string, string>;
}

export function parse(packed: Buffer): Parsed {
  const m = decode(packed);
  const f48 = m.fields.get(48);
  return { ...m, packed, code: m.fields.get(39), tlv: f48 === undefined ? new Map() : parseTlv(f48) };
}

/** A readable label for assertion messages. */
export function why(r: Response | Parsed): string {
  return `${r.mti} 39=${r.code ?? ''} ER=${r.tlv.get('ER') ?? ''}`;
}

/** Flips one character of the MAC (the last 16 bytes), keeping it uppercase hex. */
export function flipMac(packed: Buffer): Buffer {
  const out = Buffer.from(packed);
  const i = out.length - 5;
  out[i] = out[i] === 0x41 ? 0x42 : 0x41; // 'A' ↔ 'B' (any other hex digit becomes 'A')
  return out;
}

// ------------------------------------------------------------------ raw connection

/** A TCP connection that hands back every frame the server sends, as the raw packed bytes. */
export class RawConn {
  private readonly frames: Buffer[] = [];
  private readonly waiters: ((b: Buffer | null) => void)[] = [];
  /** Frames with a bad length the server sent (should never happen). */
  readonly badFrames: FramingError[] = [];
  closed = false;
  readonly whenClosed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const item of decoder.push(chunk)) {
        if (item instanceof FramingError) this.badFrames.push(item);
        else {
          const w = this.waiters.shift();
          if (w) w(item);
          else this.frames.push(item);
        }
      }
    });
    socket.on('error', () => undefined);
    this.whenClosed = new Promise<void>((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) w(null);
        resolve();
      }),
    );
  }

  static async open(port: number): Promise<RawConn> {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return new RawConn(socket);
  }

  /** Writes bytes as they are (no framing added). */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Frames and sends packed messages in one write. */
  send(...packed: Buffer[]): void {
    this.socket.write(Buffer.concat(packed.map((p) => frame(p))));
  }

  /** The next frame the server sends, or null if the connection closes first. */
  next(): Promise<Buffer | null> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The next n frames (throws if the connection closes first). */
  async take(n: number): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const f = await this.next();
      if (!f) throw new Error(`connection closed after ${out.length} of ${n} frames`);
      out.push(f);
    }
    return out;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
