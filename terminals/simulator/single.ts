// Single-shot simulator: one terminal, one citizen at the counter.
//
//   tserve terminal pay --terminal T0001 --service TARI --id 301202400000000164
//
// signs on, asks what is due (0100), pays it (0200) and prints the receipt. The receipt
// is rendered here, offline, with src/payments/receipt.ts from what the terminal knows:
// the 0110 (entity, description, amount), the 0210 (RRN, approval code, receipt number,
// fee, settlement date), its own terminal and counter ids, the demo catalogue (service
// name, entity fiscal code) and the seeded counters (name and address, from the same
// generator seed as the switch). It is what a terminal prints; the switch's own receipt
// (GET /v1/payments/{paymentId}/receipt) is addressed by a paymentId that the ISO 8583
// 0210 does not carry. The identifier is printed as typed, not as the switch normalised it.
import { generateNetwork } from '../../fixtures/generator.js';
import { formatAmount, receiptText } from '../../src/payments/receipt.js';
import { IsoTerminal, type Identification, type Response, type Sent, type TerminalCredentials } from './client.js';
import { TAGS, dateNotBefore, fromWire, getField, getTag } from '../iso8583/index.js';
import { describeResponse, entityById, findTerminal, loadTerminalCredentials, serviceByCode, serviceOfNotice, type Target } from './common.js';

export interface SingleOptions extends Target {
  terminalId: string;
  credentialsFile: string;
  /** Generator seed of the switch's demo network: names the counter on the receipt. */
  seed?: number;
  timeoutMs?: number;
  /** Where the lines go (default: stdout). */
  out?: (line: string) => void;
}

export interface PayOptions extends SingleOptions, Identification {
  /** Cents; default: the amount due from the 0110 (required for self-assessed services). */
  amount?: number;
}

export interface ReverseOptions extends SingleOptions {
  /** Field 11 and field 7 of the original 0200, and its amount in cents. */
  stan: string;
  f7: string;
  amount: number;
  /** 0420 reversal advice instead of a 0400. */
  advice?: boolean;
}

/** Exit codes: 0 approved, 1 declined, 2 no answer (connection refused or closed, timeout). */
export const EXIT_APPROVED = 0;
export const EXIT_DECLINED = 1;
export const EXIT_NO_ANSWER = 2;

const label = (l: string) => `  ${l.padEnd(13)}`;

/** The amount due of a 0110: its `AD`, else field 4; 0 when neither is there. */
const amountDue = (r: Response): number => getTag(r.tlv, TAGS.amountDue) ?? getField(r, 4) ?? 0;
/** The fee of a 0110 or 0210 (field 28); 0 when absent. */
const feeOf = (r: Response): number => getField(r, 28) ?? 0;

/** An ISO date YYYY-MM-DD as dd/mm/yyyy. */
const italianDate = (date: string): string => `${date.slice(8, 10)}/${date.slice(5, 7)}/${date.slice(0, 4)}`;

/** Field 15 (MMDD) → YYYY-MM-DD: the settlement day is today (Rome, never before UTC's) or later, so a MMDD before today's is next year's. */
export function settlementDateFromMmdd(mmdd: string, now: Date): string {
  const date = dateNotBefore(fromWire(15, mmdd), now.toISOString().slice(0, 10));
  if (date === undefined) throw new Error(`field 15 ${mmdd} names no day in the year from today`);
  return date;
}

function what(id: Identification): string {
  if (id.qr) return `QR ${id.qr}`;
  const extra = [id.vehicleType && `vehicle type ${id.vehicleType}`, id.fiscalCode && `CF ${id.fiscalCode}`, id.year !== undefined && `year ${id.year}`].filter(Boolean);
  return `${id.service ?? '?'} ${id.identifier ?? ''}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

function declined(out: (l: string) => void, r: Response): void {
  out(label('response') + describeResponse(r.code, r.tlv.get(TAGS.error)));
  if (!r.macOk) out(label('warning') + 'the MAC of this answer does not verify');
}

/** Connects and signs on; null (after printing why) when the terminal cannot work. */
async function openTerminal(o: SingleOptions, out: (l: string) => void): Promise<{ term: IsoTerminal; creds: TerminalCredentials } | null> {
  const creds = findTerminal(loadTerminalCredentials(o.credentialsFile), o.terminalId, o.credentialsFile);
  // A random first STAN: two runs in the same second must not look like a retransmission.
  const firstStan = 1 + Math.floor(Math.random() * 990_000);
  const term = new IsoTerminal(creds, { host: o.host, port: o.port, tls: o.tls, timeoutMs: o.timeoutMs ?? 30_000, firstStan });
  out(`terminal ${creds.terminalId} (counter ${creds.counterId}) -> ${o.host}:${o.port}${o.tls ? ' (TLS)' : ''}`);
  await term.connect();
  const signOn = await term.signOn();
  if (signOn.code !== '00' || !term.sessionKey) {
    out(`0800 sign-on`);
    declined(out, signOn);
    term.close();
    return null;
  }
  out(`0800 sign-on: ${describeResponse('00')}`);
  return { term, creds };
}

async function guarded(out: (l: string) => void, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    // A certificate that does not verify (self-signed, unknown CA, wrong name, expired).
    if (/CERT|SIGNATURE|ERR_TLS|ERR_SSL/.test((err as { code?: string }).code ?? '')) {
      out(`the switch's certificate does not verify: ${msg} (give the CA that signed it with --ca)`);
      return EXIT_NO_ANSWER;
    }
    if (/ECONNREFUSED|connection closed|no answer|not connected|ECONNRESET|ETIMEDOUT/.test(msg)) {
      out(`no answer from the switch: ${msg}`);
      return EXIT_NO_ANSWER;
    }
    throw err;
  }
}

/** 0100 only: prints what is due. */
export function terminalInquiry(o: PayOptions): Promise<number> {
  const out = o.out ?? ((l: string) => console.log(l));
  return guarded(out, async () => {
    const opened = await openTerminal(o, out);
    if (!opened) return EXIT_DECLINED;
    try {
      return (await inquire(opened.term, o, out)) ? EXIT_APPROVED : EXIT_DECLINED;
    } finally {
      opened.term.close();
    }
  });
}

/** Sends the 0100 and prints the answer; the 0110 when approved. */
async function inquire(term: IsoTerminal, id: Identification, out: (l: string) => void): Promise<Response | null> {
  out(`0100 inquiry: ${what(id)}`);
  const r = await term.inquiry(id);
  if (r.code !== '00') {
    declined(out, r);
    return null;
  }
  const amount = amountDue(r);
  const fee = feeOf(r);
  out(label('entity') + (r.tlv.get(TAGS.entity) ?? '-'));
  out(label('description') + (r.tlv.get(TAGS.description) ?? '-'));
  const due = getTag(r.tlv, TAGS.dueDate);
  if (due) out(label('due date') + italianDate(due));
  if (amount > 0) {
    out(label('amount') + formatAmount(amount));
    out(label('fee') + formatAmount(fee));
    out(label('total') + formatAmount(amount + fee));
  } else {
    out(label('amount') + 'set at the counter (self-assessed)');
    out(label('fee') + `${formatAmount(fee)} (at the minimum amount)`);
  }
  if (!r.macOk) out(label('warning') + 'the MAC of this answer does not verify');
  return r;
}

/** 0100, 0200 and the receipt. */
export function terminalPay(o: PayOptions): Promise<number> {
  const out = o.out ?? ((l: string) => console.log(l));
  return guarded(out, async () => {
    const opened = await openTerminal(o, out);
    if (!opened) return EXIT_DECLINED;
    const { term, creds } = opened;
    try {
      const inquiry = await inquire(term, o, out);
      if (!inquiry) return EXIT_DECLINED;
      const due = amountDue(inquiry);
      const amount = o.amount ?? due;
      if (!(amount > 0)) {
        out('this service takes the amount from the counter: give --amount <cents>');
        return EXIT_DECLINED;
      }
      // The fee the terminal showed goes in field 28 when it paid the amount shown.
      const shownFee = amount === due ? feeOf(inquiry) : undefined;
      out(`0200 payment: ${formatAmount(amount)}${shownFee === undefined ? '' : ` + fee ${formatAmount(shownFee)}`}`);
      const { sent, response: r } = await term.pay(o, amount, shownFee);
      if (r.code !== '00') {
        declined(out, r);
        return EXIT_DECLINED;
      }
      const fee = feeOf(r);
      const f15 = r.fields.get(15);
      const settlement = f15 === undefined ? '-' : settlementDateFromMmdd(f15, new Date(term.now()));
      const receiptNumber = r.tlv.get(TAGS.receiptNumber) ?? '-';
      out(label('response') + describeResponse(r.code));
      out(label('RRN') + (r.fields.get(37) ?? '-'));
      out(label('approval') + (r.fields.get(38) ?? '-'));
      out(label('receipt no.') + receiptNumber);
      // A notice paid through pagoPA: the token and the creditor (field 48 PT, EF).
      if (r.tlv.has(TAGS.paymentToken)) out(label('pagoPA token') + r.tlv.get(TAGS.paymentToken));
      if (r.tlv.has(TAGS.creditorFiscalCode)) out(label('creditor CF') + r.tlv.get(TAGS.creditorFiscalCode));
      out(label('settlement') + settlement);
      out(label('total') + `${formatAmount(amount + fee)} (fee ${formatAmount(fee)})`);
      if (!r.macOk) out(label('warning') + 'the MAC of this answer does not verify');
      // pagoPA has no undo for a counter payment: the switch refuses its reversal (REVERSAL_NOT_ALLOWED).
      if (!r.tlv.has(TAGS.paymentToken)) out(label('to reverse') + reverseHint(creds, sent, amount));
      out('');
      out(receipt(o, creds, inquiry, r, amount, fee, settlement, term.now()));
      return EXIT_APPROVED;
    } finally {
      term.close();
    }
  });
}

function reverseHint(creds: TerminalCredentials, sent: Sent, amount: number): string {
  return `tserve terminal reverse --terminal ${creds.terminalId} --stan ${sent.stan} --f7 ${sent.f7} --amount ${amount}`;
}

function receipt(
  o: PayOptions,
  creds: TerminalCredentials,
  inquiry: Response,
  r: Response,
  amount: number,
  fee: number,
  settlementDate: string,
  bookedAt: number,
): string {
  const notice = o.qr?.split('|')[2];
  // Paid through pagoPA (PT in the 0210): the creditor is the node's, named by EF; no service of the catalogue.
  const token = r.tlv.get(TAGS.paymentToken);
  const creditor = r.tlv.get(TAGS.creditorFiscalCode);
  const service = token ? undefined : (serviceByCode(o.service) ?? (notice ? serviceOfNotice(notice) : undefined));
  const entityName = inquiry.tlv.get(TAGS.entity) ?? '-';
  const entity = service ? entityById(service.entityId) : undefined;
  const counter = generateNetwork({ seed: o.seed, positions: 0 }).counters.find((c) => c.id === creds.counterId);
  const identifier = [(o.identifier ?? notice ?? '').replace(/\s+/g, '').toUpperCase(), o.vehicleType, o.fiscalCode?.toUpperCase(), o.year]
    .filter((x) => x !== undefined && x !== '')
    .join('/');
  return receiptText({
    receiptNumber: r.tlv.get(TAGS.receiptNumber) ?? '-',
    rrn: r.fields.get(37) ?? '-',
    approvalCode: r.fields.get(38) ?? '-',
    entityName,
    entityFiscalCode: creditor ?? entity?.fiscalCode ?? '-',
    serviceName: token ? 'Avviso pagoPA' : (service?.name ?? '-'),
    serviceCode: token ? 'PAGOPA' : (service?.code ?? o.service ?? '-'),
    identifier,
    description: inquiry.tlv.get(TAGS.description) ?? '',
    amountCents: amount,
    feeCents: fee,
    counterId: creds.counterId,
    counterName: counter?.name ?? creds.counterId,
    counterAddress: counter ? `${counter.address}, ${counter.town}` : '',
    terminalId: creds.terminalId,
    bookedAt,
    settlementDate,
    reversed: false,
    // The PSP's name and fiscal code are the switch's: a terminal prints them from its configuration; '-' here.
    ...(token && notice ? { pagopa: { noticeNumber: notice, iuv: notice.slice(1), paymentToken: token, pspName: 'T-Serve', pspFiscalCode: '-' } } : {}),
  });
}

/** 0400 (or 0420 advice) of a 0200 named by its STAN and field 7. */
export function terminalReverse(o: ReverseOptions): Promise<number> {
  const out = o.out ?? ((l: string) => console.log(l));
  return guarded(out, async () => {
    if (!/^\d{6}$/.test(o.stan)) throw new Error('--stan must be 6 digits');
    try {
      fromWire(7, o.f7);
    } catch (err) {
      throw new Error(`--f7 must be the 0200's field 7, MMDDhhmmss in UTC (${(err as Error).message})`, { cause: err });
    }
    const opened = await openTerminal(o, out);
    if (!opened) return EXIT_DECLINED;
    try {
      const mti = o.advice ? '0420' : '0400';
      out(`${mti} reversal of 0200 STAN ${o.stan} sent ${o.f7}: ${formatAmount(o.amount)}`);
      const original: Sent = { mti: '0200', stan: o.stan, f7: o.f7, packed: Buffer.alloc(0) };
      const r = await opened.term.reverse(original, o.amount, mti);
      if (r.code !== '00') {
        declined(out, r);
        return EXIT_DECLINED;
      }
      out(label('response') + describeResponse(r.code));
      return EXIT_APPROVED;
    } finally {
      opened.term.close();
    }
  });
}
