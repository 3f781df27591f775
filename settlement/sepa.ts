// SEPA files of an approved settlement (domain.md §3):
//
// - pain.001.001.09, credit transfers from the circuit's settlement account to the
//   entities (net payouts), the network operator (its fees) and the counters the circuit
//   owes money (more refunded than collected), and pagoPA creditors' IBANs (one per
//   creditor and IBAN, its reporting flow's id as end-to-end id and remittance
//   information: settlement/pagopa.ts);
// - pain.008.001.08, SEPA Core direct debits (recurrent, RCUR) from the counters for the
//   cash they collected less their commission, each under the counter's mandate.
//
// Deterministic: the same figures and options give the same bytes. Message ids and
// end-to-end ids derive from the window date (TSERVE-CT-20261123, TSERVE-20261123-C0042),
// the creation time (CreDtTm) is the window's approval time. The requested dates are
// TARGET2 business days counted from the Rome date the file is produced (never from the
// window date alone, so never in the past), see `creditTransferDate` and
// `collectionDate`: exporting again the same day gives the same bytes; on a later day,
// a later requested date under the same message id. Amounts are decimal euros written
// from integer cents by integer arithmetic (no floats). Every IBAN is checked (Italian CIN included) before
// anything is built: a broken one refuses the whole file, naming the party.
//
// A transfer to the settlement account itself (the circuit owner's own payout when the
// settlement account is the owner's account) is not a movement: it is left out of the
// file and reported on its own line as retained (`sepaSummary`).
import { create } from 'xmlbuilder2';
import { addDays, romeDate, romeParts } from '../src/domain/calendar.js';
import { normalizeIban } from '../src/domain/iban.js';
import { formatEuroPlain } from '../src/domain/money.js';
import { nextTarget2BusinessDay, target2BusinessDayOnOrAfter } from '../src/domain/target2.js';
import { sctRemittanceInformation } from '../src/pagopa/flow.js';
import { PaymentError } from '../src/payments/errors.js';
import type { SettlementFigures, Transfer } from './figures.js';
import { assertValidIbans } from './iban.js';

export const PAIN001_NS = 'urn:iso:std:iso:20022:tech:xsd:pain.001.001.09';
export const PAIN008_NS = 'urn:iso:std:iso:20022:tech:xsd:pain.008.001.08';
/** Mandates of the demo network are dated 2024 (TSRV-C0001-2024): their date of signature. */
export const DEFAULT_MANDATE_SIGNED = '2024-01-01';

/** The circuit's own account: debtor of the credit transfers, creditor of the direct debits. */
export interface SettlementAccount {
  name: string;
  iban: string;
  /** BIC of the account's bank; absent: IBAN-only ("NOTPROVIDED"). */
  bic?: string | null;
  /** The owner's fiscal code: the initiating party's organisation id. */
  fiscalCode: string;
}

export interface Pain001Options {
  account: SettlementAccount;
  /** Instant the file is dated with, CreDtTm (the window's approval). */
  createdAt: number;
  /** Instant the file is produced (the caller's clock, never read here): the requested date counts from it. */
  producedAt: number;
  messageId?: string;
}

export interface Pain008Options extends Pain001Options {
  /** SEPA creditor identifier, e.g. IT66ZZZA1B2C3D4E5F6G7H8. */
  creditorId: string;
  /** Date of signature of the counters' mandates. */
  mandateSignedOn?: string;
}

/** NOTHING_TO_EXPORT: the window moves no money of this kind. */
export class NothingToExportError extends PaymentError {
  constructor(
    readonly date: string,
    what: string,
  ) {
    super('NOTHING_TO_EXPORT', `the settlement of ${date} has no ${what}: there is no file to write`);
    this.name = 'NothingToExportError';
  }
}

/** INVALID_CREDITOR_ID: TSERVE_SDD_CREDITOR_ID fails its check digits or format. */
export class InvalidCreditorIdError extends PaymentError {
  constructor(readonly creditorId: string) {
    super('INVALID_CREDITOR_ID', `pain.008 refused: the SEPA creditor identifier "${creditorId}" is not valid (check digits or format): fix TSERVE_SDD_CREDITOR_ID`);
    this.name = 'InvalidCreditorIdError';
  }
}

// ---------------------------------------------------------------------------
// Pieces

/** 12345 → "123.45"; refuses negative and non-integer amounts. */
export function euros(cents: number): string {
  if (!Number.isSafeInteger(cents) || cents < 0) throw new RangeError(`a SEPA amount must be whole non-negative cents, got ${cents}`);
  return formatEuroPlain(cents);
}

/**
 * Text restricted to the SEPA basic Latin set (EPC217-08): accents dropped, '&' as '+',
 * anything else outside the set as a space; trimmed to `max` characters. So no '&' reaches
 * xmlbuilder2 and no xmlText (src/xml.ts) is needed: test/settlement/xml-text.test.ts.
 */
export function sepaText(s: string, max: number): string {
  const out = s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/&/g, '+')
    .replace(/[^A-Za-z0-9/\-?:().,'+ ]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, max)
    .trim();
  return out === '' ? 'NOTPROVIDED' : out;
}

/** 'YYYY-MM-DD' → 'YYYYMMDD'. */
const compact = (date: string) => date.replaceAll('-', '');

/** The instant as a Rome local date-time with its UTC offset: 2026-11-24T09:15:02+01:00. */
export function romeDateTime(instant: number): string {
  const p = romeParts(instant);
  const wall = Date.parse(`${p.date}T${p.time}Z`);
  const offsetMin = Math.round((wall - Math.floor(instant / 1000) * 1000) / 60_000);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${p.date}T${p.time}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * The Rome date a file counts from: the day it is produced, or the day the window was
 * approved if that is later (a clock behind the approval cannot date a file before it).
 */
export function productionDate(approvedAt: number, producedAt: number): string {
  return romeDate(Math.max(approvedAt, producedAt));
}

/**
 * Requested execution date of the credit transfers (pain.001 ReqdExctnDt): the first
 * TARGET2 business day on or after the later of the day after the window and the
 * production date. Window Fri 20 Nov, produced Mon 23 → Mon 23; produced Thu 26 → Thu 26;
 * window Mon 7 Dec, produced that evening (cutoff 18:00) → Tue 8 Dec (an Italian holiday,
 * a TARGET2 business day).
 */
export function creditTransferDate(windowDate: string, producedOn: string): string {
  const dayAfter = addDays(windowDate, 1);
  return target2BusinessDayOnOrAfter(dayAfter > producedOn ? dayAfter : producedOn);
}

/**
 * Requested collection date of the SEPA Core direct debits (pain.008 ReqdColltnDt): at
 * least one TARGET2 business day after the file is produced, i.e. the first TARGET2
 * business day strictly after the production date (and after the window). Produced Mon 23
 * Nov → Tue 24; produced Fri 20 → Mon 23; produced Thu 2 Apr 2026 → Tue 7 Apr (Good
 * Friday and Easter Monday closed).
 */
export function collectionDate(windowDate: string, producedOn: string): string {
  return nextTarget2BusinessDay(producedOn > windowDate ? producedOn : windowDate);
}

/** ISO 7064 mod 97-10 over an alphanumeric string (letters A=10 … Z=35). */
function mod97(s: string): number {
  let r = 0;
  for (const ch of s) {
    const v = ch >= 'A' && ch <= 'Z' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    for (const d of String(v)) r = (r * 10 + Number(d)) % 97;
  }
  return r;
}

/**
 * A SEPA creditor identifier (EPC262-08): country, two check digits, a three-character
 * business code (not part of the check), then the national identifier; the check digits
 * make national id + country + check digits ≡ 1 (mod 97), as for an IBAN.
 */
export function isValidCreditorId(id: string): boolean {
  const m = /^([A-Z]{2})(\d{2})[A-Z0-9]{3}([A-Z0-9]{1,28})$/.exec(id);
  if (!m) return false;
  return mod97(`${m[3]}${m[1]}${m[2]}`) === 1;
}

/** Check digits for a creditor identifier of `country` and `nationalId` (business code ZZZ by convention). */
export function creditorId(country: string, nationalId: string, businessCode = 'ZZZ'): string {
  const check = 98 - mod97(`${nationalId}${country}00`);
  return `${country}${String(check).padStart(2, '0')}${businessCode}${nationalId}`;
}

function partyLabel(t: Transfer): string {
  return `${t.party} ${t.id} ${t.name}`;
}

/** The movements a settlement's files carry, and the ones kept on the settlement account. */
export function sepaMovements(figures: SettlementFigures, account: SettlementAccount) {
  const own = normalizeIban(account.iban);
  const credits = figures.creditTransfers.filter((t) => t.amount > 0 && normalizeIban(t.iban) !== own);
  const retained = figures.creditTransfers.filter((t) => t.amount > 0 && normalizeIban(t.iban) === own);
  const debits = figures.directDebits.filter((t) => t.amount > 0);
  return { credits, debits, retained };
}

const sum = (ts: Transfer[]) => ts.reduce((a, t) => a + t.amount, 0);

/**
 * What the reports put next to the SEPA files: each file's transactions and CtrlSum
 * (cents, the very sums the files carry), and apart from them what stays on the
 * settlement account because it is the circuit owner's own (not in any file).
 */
export interface SepaSummary {
  pain001: { transactions: number; ctrlSum: number };
  pain008: { transactions: number; ctrlSum: number };
  retained: { label: string; transfers: Transfer[]; total: number };
}

export const RETAINED_LABEL = "Retained in the circuit owner's account (not in the SEPA file)";

export function sepaSummary(figures: SettlementFigures, account: SettlementAccount): SepaSummary {
  const { credits, debits, retained } = sepaMovements(figures, account);
  return {
    pain001: { transactions: credits.length, ctrlSum: sum(credits) },
    pain008: { transactions: debits.length, ctrlSum: sum(debits) },
    retained: { label: RETAINED_LABEL, transfers: retained, total: sum(retained) },
  };
}

type Node = ReturnType<ReturnType<typeof create>['ele']>;

function agent(parent: Node, name: string, bic: string | null | undefined): void {
  const fin = parent.ele(name).ele('FinInstnId');
  if (bic) fin.ele('BICFI').txt(bic);
  else fin.ele('Othr').ele('Id').txt('NOTPROVIDED');
}

function account(parent: Node, name: string, iban: string): void {
  parent.ele(name).ele('Id').ele('IBAN').txt(normalizeIban(iban));
}

function groupHeader(root: Node, msgId: string, createdAt: number, count: number, total: number, acc: SettlementAccount): void {
  const g = root.ele('GrpHdr');
  g.ele('MsgId').txt(msgId);
  g.ele('CreDtTm').txt(romeDateTime(createdAt));
  g.ele('NbOfTxs').txt(String(count));
  g.ele('CtrlSum').txt(euros(total));
  const p = g.ele('InitgPty');
  p.ele('Nm').txt(sepaText(acc.name, 70));
  p.ele('Id').ele('OrgId').ele('Othr').ele('Id').txt(acc.fiscalCode);
}

// ---------------------------------------------------------------------------
// pain.001.001.09

export function pain001(figures: SettlementFigures, opts: Pain001Options): string {
  const { credits } = sepaMovements(figures, opts.account);
  assertValidIbans(
    [{ party: `settlement account ${opts.account.name}`, iban: opts.account.iban }, ...credits.map((t) => ({ party: partyLabel(t), iban: t.iban }))],
    'pain.001',
  );
  if (credits.length === 0) throw new NothingToExportError(figures.date, 'credit transfers');
  const msgId = opts.messageId ?? `TSERVE-CT-${compact(figures.date)}`;
  const total = sum(credits);

  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele(PAIN001_NS, 'Document').ele('CstmrCdtTrfInitn');
  groupHeader(root, msgId, opts.createdAt, credits.length, total, opts.account);
  const pmt = root.ele('PmtInf');
  pmt.ele('PmtInfId').txt(`${msgId}-1`);
  pmt.ele('PmtMtd').txt('TRF');
  pmt.ele('BtchBookg').txt('false');
  pmt.ele('NbOfTxs').txt(String(credits.length));
  pmt.ele('CtrlSum').txt(euros(total));
  pmt.ele('PmtTpInf').ele('SvcLvl').ele('Cd').txt('SEPA');
  pmt.ele('ReqdExctnDt').ele('Dt').txt(creditTransferDate(figures.date, productionDate(opts.createdAt, opts.producedAt)));
  pmt.ele('Dbtr').ele('Nm').txt(sepaText(opts.account.name, 70));
  account(pmt, 'DbtrAcct', opts.account.iban);
  agent(pmt, 'DbtrAgt', opts.account.bic);
  pmt.ele('ChrgBr').txt('SLEV');
  for (const t of credits) {
    const tx = pmt.ele('CdtTrfTxInf');
    // A pagoPA creditor's transfer: its reporting flow's id, exactly, as end-to-end id and remittance information.
    const flow = t.party === 'pagopa' ? sctRemittanceInformation(t.flowId ?? '') : null;
    tx.ele('PmtId').ele('EndToEndId').txt(flow ?? `TSERVE-${compact(figures.date)}-${t.id}`.slice(0, 35));
    tx.ele('Amt').ele('InstdAmt', { Ccy: 'EUR' }).txt(euros(t.amount));
    tx.ele('Cdtr').ele('Nm').txt(sepaText(t.name, 70));
    account(tx, 'CdtrAcct', t.iban);
    const what = t.party === 'entity' ? 'riversamento incassi' : t.party === 'operator' ? 'compensi gestore rete' : 'rimborso sportello';
    tx.ele('RmtInf').ele('Ustrd').txt(flow ?? sepaText(`T-Serve regolamento ${figures.date} ${what} ${t.id}`, 140));
  }
  return doc.end({ prettyPrint: true });
}

// ---------------------------------------------------------------------------
// pain.008.001.08

export function pain008(figures: SettlementFigures, opts: Pain008Options): string {
  const { debits } = sepaMovements(figures, opts.account);
  assertValidIbans(
    [{ party: `settlement account ${opts.account.name}`, iban: opts.account.iban }, ...debits.map((t) => ({ party: partyLabel(t), iban: t.iban }))],
    'pain.008',
  );
  if (!isValidCreditorId(opts.creditorId)) throw new InvalidCreditorIdError(opts.creditorId);
  const missing = debits.filter((t) => !t.mandateRef);
  if (missing.length > 0) throw new PaymentError('MANDATE_MISSING', `pain.008 refused: no SEPA mandate for ${missing.map(partyLabel).join(', ')}`);
  if (debits.length === 0) throw new NothingToExportError(figures.date, 'direct debits');
  const msgId = opts.messageId ?? `TSERVE-DD-${compact(figures.date)}`;
  const total = sum(debits);

  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele(PAIN008_NS, 'Document').ele('CstmrDrctDbtInitn');
  groupHeader(root, msgId, opts.createdAt, debits.length, total, opts.account);
  const pmt = root.ele('PmtInf');
  pmt.ele('PmtInfId').txt(`${msgId}-1`);
  pmt.ele('PmtMtd').txt('DD');
  pmt.ele('BtchBookg').txt('false');
  pmt.ele('NbOfTxs').txt(String(debits.length));
  pmt.ele('CtrlSum').txt(euros(total));
  const tp = pmt.ele('PmtTpInf');
  tp.ele('SvcLvl').ele('Cd').txt('SEPA');
  tp.ele('LclInstrm').ele('Cd').txt('CORE');
  tp.ele('SeqTp').txt('RCUR');
  pmt.ele('ReqdColltnDt').txt(collectionDate(figures.date, productionDate(opts.createdAt, opts.producedAt)));
  pmt.ele('Cdtr').ele('Nm').txt(sepaText(opts.account.name, 70));
  account(pmt, 'CdtrAcct', opts.account.iban);
  agent(pmt, 'CdtrAgt', opts.account.bic);
  pmt.ele('ChrgBr').txt('SLEV');
  const scheme = pmt.ele('CdtrSchmeId').ele('Id').ele('PrvtId').ele('Othr');
  scheme.ele('Id').txt(opts.creditorId);
  scheme.ele('SchmeNm').ele('Prtry').txt('SEPA');
  for (const t of debits) {
    const tx = pmt.ele('DrctDbtTxInf');
    tx.ele('PmtId').ele('EndToEndId').txt(`TSERVE-${compact(figures.date)}-${t.id}`.slice(0, 35));
    tx.ele('InstdAmt', { Ccy: 'EUR' }).txt(euros(t.amount));
    const mandate = tx.ele('DrctDbtTx').ele('MndtRltdInf');
    mandate.ele('MndtId').txt(sepaText(t.mandateRef!, 35));
    mandate.ele('DtOfSgntr').txt(opts.mandateSignedOn ?? DEFAULT_MANDATE_SIGNED);
    agent(tx, 'DbtrAgt', null);
    tx.ele('Dbtr').ele('Nm').txt(sepaText(t.name, 70));
    account(tx, 'DbtrAcct', t.iban);
    tx.ele('RmtInf').ele('Ustrd').txt(sepaText(`T-Serve regolamento ${figures.date} incassi sportello ${t.id}`, 140));
  }
  return doc.end({ prettyPrint: true });
}

/** The circuit's settlement account: the configured one, else the circuit owner's account from the catalogue. */
export function circuitAccount(owner: { name: string; iban: string; fiscalCode: string }, configured: { iban: string | null; bic: string | null }): SettlementAccount {
  return { name: owner.name, iban: configured.iban ?? owner.iban, bic: configured.bic, fiscalCode: owner.fiscalCode };
}
