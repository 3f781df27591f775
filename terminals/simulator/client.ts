// A terminal's side of the ISO 8583 protocol: what a vendor's firmware does. Used by
// the simulator (`tserve terminal`), the tests and the benchmark.
import net from 'node:net';
import tls from 'node:tls';
import {
  FrameDecoder,
  FramingError,
  NETWORK_MANAGEMENT,
  TAGS,
  decode,
  formatTlv,
  frame,
  fromWire,
  monthDayOf,
  parseTlv,
  timeOfDayOf,
  toWire,
  transmissionAt,
  verifyMac,
  wireFields,
  withMac,
  type IsoMessage,
  type Totals,
} from '../iso8583/index.js';
import { deriveSignonKey, deriveWrapKey, unwrapSessionKey } from '../keys.js';
import { romeParts } from '../../src/domain/calendar.js';
import { systemClock, type Clock } from '../../src/clock.js';

/** How many seconds ahead a sign-on refused as stale may be stamped (see signOn). */
const SIGNON_SECONDS_AHEAD = 5;

export interface TerminalCredentials {
  terminalId: string;
  counterId: string;
  tmk: Buffer;
}

export interface Response {
  mti: string;
  code: string; // field 39
  fields: Map<number, string>;
  tlv: Map<string, string>;
  macOk: boolean;
}

export interface Identification {
  service?: string;
  identifier?: string;
  qr?: string;
  vehicleType?: string;
  fiscalCode?: string;
  year?: number;
}

const pad = (s: string, n: number) => s.padEnd(n, ' ');

/** Field 7 of an instant: `MMDDhhmmss` in UTC. */
export function transmissionTime(instantMs: number): string {
  return toWire(7, transmissionAt(instantMs));
}

/** Fields 12 (`hhmmss`) and 13 (`MMDD`) of an instant, in Europe/Rome. */
export function localTimeFields(instantMs: number): { 12: string; 13: string } {
  const p = romeParts(instantMs);
  return { 12: toWire(12, timeOfDayOf(p.time)), 13: toWire(13, monthDayOf(p.date)) };
}

function identificationTlv(id: Identification): string {
  const entries: [string, string][] = [];
  if (id.service) entries.push([TAGS.service, id.service]);
  if (id.identifier) entries.push([TAGS.identifier, id.identifier]);
  if (id.qr) entries.push([TAGS.qr, id.qr]);
  if (id.vehicleType) entries.push([TAGS.vehicleType, id.vehicleType]);
  if (id.fiscalCode) entries.push([TAGS.fiscalCode, id.fiscalCode]);
  if (id.year !== undefined) entries.push([TAGS.year, String(id.year)]);
  return formatTlv(entries);
}

/**
 * TLS towards the switch, with certificate checks always on: the CA that signed the
 * switch's certificate (default: the system's CAs), and the terminal's own certificate
 * and key where the switch requires client certificates (mutual TLS, docs/tls.md).
 */
export interface TlsClientOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** A sent request, kept so a retransmission can repeat it byte for byte. */
export interface Sent {
  mti: string;
  stan: string;
  f7: string;
  packed: Buffer;
}

export class IsoTerminal {
  private socket: net.Socket | null = null;
  private readonly waiting = new Map<string, { resolve: (r: Response) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private stanCounter: number;
  sessionKey: Buffer | null = null;

  constructor(
    readonly creds: TerminalCredentials,
    private readonly opts: {
      host: string;
      port: number;
      /** true: TLS checked against the system's CAs. */
      tls?: boolean | TlsClientOptions;
      timeoutMs?: number;
      firstStan?: number;
      /** The terminal's own clock (fields 7, 12, 13); the wall clock by default. */
      clock?: Clock;
    } = { host: '127.0.0.1', port: 8583 },
  ) {
    this.stanCounter = opts.firstStan ?? 1;
  }

  /** The terminal's clock reading. */
  now(): number {
    return (this.opts.clock ?? systemClock)();
  }

  get f41(): string {
    return pad(this.creds.terminalId, 8);
  }

  get f42(): string {
    return pad(this.creds.counterId, 15);
  }

  async connect(): Promise<void> {
    const { host, port } = this.opts;
    const t = this.opts.tls === true ? {} : this.opts.tls || null;
    // A host name is also the name the switch's certificate must carry (SNI too); an IP
    // address is checked against the certificate's IP entries.
    const socket = t ? tls.connect({ host, port, ...t, ...(net.isIP(host) ? {} : { servername: host }) }) : net.connect({ host, port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once(this.opts.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const item of decoder.push(chunk)) if (!(item instanceof FramingError)) this.onFrame(item);
    });
    socket.on('close', () => {
      for (const [, w] of this.waiting) {
        clearTimeout(w.timer);
        w.reject(new Error('connection closed'));
      }
      this.waiting.clear();
    });
    socket.on('error', () => undefined);
    this.socket = socket;
  }

  close(): void {
    this.socket?.end();
    this.socket = null;
  }

  /** Closes the connection at once; requests waiting for an answer fail with 'connection closed'. */
  destroy(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  /** True while the connection is open. */
  get connected(): boolean {
    return this.socket !== null && !this.socket.destroyed;
  }

  nextStan(): string {
    const s = String(this.stanCounter).padStart(6, '0');
    this.stanCounter = (this.stanCounter % 999_999) + 1;
    return s;
  }

  private onFrame(packed: Buffer): void {
    let msg: IsoMessage;
    try {
      msg = decode(packed);
    } catch {
      return;
    }
    const k = `${msg.fields.get(41)}|${msg.fields.get(11)}`;
    const w = this.waiting.get(k);
    if (!w) return;
    this.waiting.delete(k);
    clearTimeout(w.timer);
    const isSignOn = msg.mti === '0810' && msg.fields.get(70) === NETWORK_MANAGEMENT.signOn;
    const key = isSignOn || !this.sessionKey ? deriveSignonKey(this.creds.tmk) : this.sessionKey;
    const tlv = msg.fields.has(48) ? parseTlv(msg.fields.get(48)!) : new Map<string, string>();
    w.resolve({ mti: msg.mti, code: msg.fields.get(39) ?? '', fields: msg.fields, tlv, macOk: verifyMac(packed, msg, key) });
  }

  /** Sends already packed bytes (a retransmission, or a deliberately broken message) and waits for the answer to STAN. */
  sendRaw(packed: Buffer, stan: string): Promise<Response> {
    if (!this.socket || this.socket.destroyed) throw new Error('not connected');
    const k = `${this.f41}|${stan}`;
    return new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(k);
        reject(new Error(`no answer to STAN ${stan}`));
      }, this.opts.timeoutMs ?? 30_000);
      this.waiting.set(k, { resolve, reject, timer });
      this.socket!.write(frame(packed));
    });
  }

  /** Packs and MACs a request with the key the protocol wants for it. */
  pack(mti: string, fields: Record<number, string>, key?: Buffer): Sent {
    const stan = fields[11]!;
    const isSignOn = mti === '0800' && fields[70] === NETWORK_MANAGEMENT.signOn;
    const macKey = key ?? (isSignOn || !this.sessionKey ? deriveSignonKey(this.creds.tmk) : this.sessionKey);
    const msg: IsoMessage = { mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v] as [number, string]).sort((a, b) => a[0] - b[0])) };
    return { mti, stan, f7: fields[7]!, packed: withMac(msg, macKey) };
  }

  async request(mti: string, fields: Record<number, string>): Promise<{ sent: Sent; response: Response }> {
    const sent = this.pack(mti, fields);
    return { sent, response: await this.sendRaw(sent.packed, sent.stan) };
  }

  private base(): Record<number, string> {
    return { 7: transmissionTime(this.now()), 11: this.nextStan(), 41: this.f41 };
  }

  async signOn(): Promise<Response> {
    let { response } = await this.request('0800', { ...this.base(), 70: NETWORK_MANAGEMENT.signOn });
    // STALE_SIGNON: this terminal signed on in the same second (or a second or two ahead,
    // as below) with a higher STAN: another run of the simulator, whose STAN counter is
    // not kept between runs. §1.5 wants a later (field 7, field 11): stamp the following
    // seconds, at most a few ahead (well inside the 5 minutes it allows).
    for (let ahead = 1; ahead <= SIGNON_SECONDS_AHEAD && response.code === '63' && response.tlv.get(TAGS.error) === 'STALE_SIGNON'; ahead++) {
      const later = (Math.floor(this.now() / 1000) + ahead) * 1000;
      ({ response } = await this.request('0800', { ...this.base(), 7: transmissionTime(later), 70: NETWORK_MANAGEMENT.signOn }));
    }
    const sk = response.tlv.get(TAGS.sessionKey);
    if (response.code === '00' && sk && response.macOk) {
      this.sessionKey = unwrapSessionKey(deriveWrapKey(this.creds.tmk), this.creds.terminalId, sk);
    }
    return response;
  }

  async signOff(): Promise<Response> {
    const { response } = await this.request('0800', { ...this.base(), 70: NETWORK_MANAGEMENT.signOff });
    this.sessionKey = null;
    return response;
  }

  async echo(): Promise<Response> {
    return (await this.request('0800', { ...this.base(), 70: NETWORK_MANAGEMENT.echo })).response;
  }

  private txnFields(processing: string, amountCents: number, id: Identification): Record<number, string> {
    return {
      3: processing,
      4: toWire(4, amountCents),
      ...this.base(),
      ...localTimeFields(this.now()),
      42: this.f42,
      48: identificationTlv(id),
      49: '978',
    };
  }

  async inquiry(id: Identification): Promise<Response> {
    return (await this.request('0100', this.txnFields('300000', 0, id))).response;
  }

  /** A bill payment; keep `sent` to retransmit it or to reverse it. */
  async pay(id: Identification, amountCents: number, feeCents?: number): Promise<{ sent: Sent; response: Response }> {
    const fields = this.txnFields('500000', amountCents, id);
    if (feeCents !== undefined) fields[28] = toWire(28, feeCents);
    return this.request('0200', fields);
  }

  /** Reversal (0400) or reversal advice (0420 / repeat 0421) of a sent 0200. */
  async reverse(original: Sent, amountCents: number, mti: '0400' | '0420' | '0421' = '0400'): Promise<Response> {
    return (
      await this.request(mti, {
        3: '500000',
        4: toWire(4, amountCents),
        ...this.base(),
        42: this.f42,
        49: '978',
        90: toWire(90, { mti: original.mti, stan: original.stan, transmission: fromWire(7, original.f7) }),
      })
    ).response;
  }

  /** End-of-day reconciliation (0500) of the business day `date` (YYYY-MM-DD, sent as MMDD in field 13). */
  async reconcile(date: string, totals: Totals): Promise<Response> {
    return (
      await this.request('0500', {
        ...this.base(),
        42: this.f42,
        ...reconciliationFields(date, totals),
      })
    ).response;
  }
}

/** Fields 13, 74, 75, 86 and 87 of a 0500: the day (YYYY-MM-DD) and the terminal's totals for it. */
export function reconciliationFields(date: string, totals: Totals): Record<number, string> {
  return wireFields({
    13: monthDayOf(date),
    74: totals.count,
    75: totals.reversalCount,
    86: totals.amountCents,
    87: totals.reversalAmountCents,
  });
}
