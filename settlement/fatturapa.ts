// The monthly invoice of rebilled circuit fees, as a FatturaPA 1.2.2 file (the
// format of every invoice to an Italian public body; PA to PA: FormatoTrasmissione FPA12).
//
// Choices, each documented here because an accountant will ask:
// - Issuer (CedentePrestatore): the circuit owner, Comune di Prato: its partita IVA as
//   IdFiscaleIVA (the owner entity's vatNumber in the network, else TSERVE_OWNER_VAT_NUMBER,
//   default 00337360978) and its
//   fiscal code (84006890481) as CodiceFiscale; RegimeFiscale RF01 (ordinary).
// - Customer (CessionarioCommittente): the entity, by its fiscal code (public bodies
//   invoiced for institutional activities have no VAT position to quote).
// - CodiceDestinatario: the entity's 6-character office code (Codice Univoco Ufficio of
//   the IPA index: the entity's officeCode in the network, else TSERVE_FATTURAPA_CODES,
//   per entity). An entity without one, or with
//   one of another shape, gets no invoice: the error names the entity and the setting.
//   Never a made-up or placeholder code (SdI would deliver it nowhere).
// - VAT: circuit fees between public bodies for their institutional collection services
//   are treated as outside the scope of VAT (art. 4 DPR 633/1972: no commercial activity):
//   AliquotaIVA 0.00 with Natura N2.2 ("non soggette – altri casi"), Imposta 0.00.
//   If the owner's tax office says otherwise, only `VAT` below changes.
// - TD01 (invoice), EUR; Data: the last day of the month; Numero: TS-YYYYMM-ENTITY,
//   unique per entity and month, so a re-issue has the same number and the same bytes.
// - One line per service and rate: quantity = payments, unit price = the rate; payments
//   cancelled in the month are a second line with the negative rate. A month whose total
//   is not positive is not invoiced (it would need a credit note, TD04).
// - Payment terms: TP02 (in full), MP05 (bank transfer) to the owner's settlement
//   account, due 30 days after the invoice date.
import { createHash } from 'node:crypto';
import { create } from 'xmlbuilder2';
import { addDays } from '../src/domain/calendar.js';
import { formatEuroPlain } from '../src/domain/money.js';
import { PaymentError } from '../src/payments/errors.js';
import { xmlText } from '../src/xml.js';
import type { Entity } from '../src/store/types.js';
import { assertValidIbans } from './iban.js';
import type { RebillingStatement } from './rebilling.js';

export const FATTURAPA_NS = 'http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2';
/** The setting that holds the entities' office codes. */
export const OFFICE_CODES_SETTING = 'TSERVE_FATTURAPA_CODES';
/** A Codice Univoco Ufficio of the IPA index: 6 uppercase letters and digits. */
export const OFFICE_CODE = /^[A-Z0-9]{6}$/;

const VAT = {
  rate: '0.00',
  nature: 'N2.2',
  reference: 'Operazione fuori campo IVA, art. 4 DPR 633/1972 (attività istituzionale)',
};

export interface Seat {
  street: string;
  number?: string;
  cap: string;
  town: string;
  province: string;
}

/** Registered seats of the catalogue's entities (public addresses of their main offices). */
export const ENTITY_SEATS: Readonly<Record<string, Seat>> = {
  PRATO: { street: 'Piazza del Comune', number: '2', cap: '59100', town: 'Prato', province: 'PO' },
  RTOSCANA: { street: 'Piazza del Duomo', number: '10', cap: '50122', town: 'Firenze', province: 'FI' },
  PISA: { street: 'Via degli Uffizi', number: '1', cap: '56125', town: 'Pisa', province: 'PI' },
  LIVORNO: { street: 'Piazza del Municipio', number: '1', cap: '57123', town: 'Livorno', province: 'LI' },
  PISTOIA: { street: 'Piazza del Duomo', number: '1', cap: '51100', town: 'Pistoia', province: 'PT' },
  PONTEDERA: { street: 'Corso Matteotti', number: '37', cap: '56025', town: 'Pontedera', province: 'PI' },
  ASLTC: { street: 'Piazza Santa Maria Nuova', number: '1', cap: '50122', town: 'Firenze', province: 'FI' },
};

export interface InvoiceOptions {
  /** The circuit owner, issuer of the invoice. */
  issuer: Entity;
  issuerVatNumber: string;
  /** Account the entity pays into. */
  iban: string;
  /** CodiceDestinatario of the entity (IPA office code, 6 characters); absent: no invoice. */
  recipientCode: string | null | undefined;
  seats?: Readonly<Record<string, Seat>>;
}

/** NOTHING_TO_INVOICE: the month's rebilled circuit fees are not positive. */
export class NothingToInvoiceError extends PaymentError {
  constructor(
    readonly entityId: string,
    readonly month: string,
    readonly amount: number,
  ) {
    super('NOTHING_TO_INVOICE', `no invoice for ${entityId} in ${month}: its rebilled circuit fees total ${formatEuroPlain(amount)} EUR`);
    this.name = 'NothingToInvoiceError';
  }
}

/**
 * The entity has no usable FatturaPA office code (OFFICE_CODE_MISSING or
 * OFFICE_CODE_INVALID): configuration to fix, not a code to invent.
 */
export class OfficeCodeError extends PaymentError {
  constructor(
    readonly entityId: string,
    readonly officeCode: string | null,
  ) {
    super(
      officeCode === null ? 'OFFICE_CODE_MISSING' : 'OFFICE_CODE_INVALID',
      officeCode === null
        ? `invoice refused: entity ${entityId} has no FatturaPA office code: set ${OFFICE_CODES_SETTING}=${entityId}=<6 chars> (its Codice Univoco Ufficio in the IPA index)`
        : `invoice refused: the FatturaPA office code "${officeCode}" of entity ${entityId} is not 6 uppercase letters or digits: fix it in ${OFFICE_CODES_SETTING} (its Codice Univoco Ufficio in the IPA index)`,
    );
    this.name = 'OfficeCodeError';
  }
}

/** The entity's office code, checked; throws OfficeCodeError when it is missing or malformed. */
export function officeCode(entityId: string, code: string | null | undefined): string {
  if (code === null || code === undefined || code === '') throw new OfficeCodeError(entityId, null);
  if (!OFFICE_CODE.test(code)) throw new OfficeCodeError(entityId, code);
  return code;
}

/** Invoice number of an entity's month: TS-YYYYMM-ENTITY (at most 20 characters). */
export function invoiceNumber(entityId: string, month: string): string {
  return `TS-${month.replace('-', '')}-${entityId}`.slice(0, 20);
}

/**
 * Text the schema's Latin types accept: Latin-1 only, single spaces, at most `max` characters
 * (counted before xmlText, as the schema counts what a parser reads).
 */
function latin(s: string, max: number): string {
  return s
    .replace(/[^\u0020-\u007e\u00a0-\u00ff]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, max);
}

/** Text the schema's basic types accept (ASCII only). */
function basic(s: string, max: number): string {
  return latin(s.normalize('NFD').replace(/[\u0300-\u036f]/g, ''), max).replace(/[^\u0020-\u007e]/g, ' ');
}

const amount2 = (cents: number) => formatEuroPlain(cents);

function seatOf(seats: Readonly<Record<string, Seat>>, entityId: string): Seat {
  const s = seats[entityId];
  if (!s) throw new PaymentError('SEAT_MISSING', `invoice refused: no registered seat (address) for entity ${entityId}: an invoice needs one`);
  return s;
}

type Node = ReturnType<ReturnType<typeof create>['ele']>;

function sede(parent: Node, s: Seat): void {
  const n = parent.ele('Sede');
  n.ele('Indirizzo').txt(xmlText(latin(s.street, 60)));
  if (s.number) n.ele('NumeroCivico').txt(xmlText(basic(s.number, 8)));
  n.ele('CAP').txt(s.cap);
  n.ele('Comune').txt(xmlText(latin(s.town, 60)));
  n.ele('Provincia').txt(s.province);
  n.ele('Nazione').txt('IT');
}

export function fatturaPA(st: RebillingStatement, opts: InvoiceOptions): string {
  if (st.totals.amount <= 0) throw new NothingToInvoiceError(st.entityId, st.month, st.totals.amount);
  const recipientCode = officeCode(st.entityId, opts.recipientCode);
  if (!/^\d{11}$/.test(opts.issuerVatNumber)) throw new Error(`the issuer's VAT number "${opts.issuerVatNumber}" must be 11 digits`);
  assertValidIbans([{ party: `issuer ${opts.issuer.name}`, iban: opts.iban }], 'invoice');
  const seats = opts.seats ?? ENTITY_SEATS;
  const date = st.to;
  const number = invoiceNumber(st.entityId, st.month);
  // Ten characters, fixed for an (entity, month): YYMM + 6 hex of the entity id.
  const progressive = `${st.month.slice(2, 4)}${st.month.slice(5, 7)}${createHash('sha256').update(st.entityId).digest('hex').slice(0, 6).toUpperCase()}`;

  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele(FATTURAPA_NS, 'p:FatturaElettronica', { versione: 'FPA12' });
  const header = root.ele('FatturaElettronicaHeader');

  const tx = header.ele('DatiTrasmissione');
  const idt = tx.ele('IdTrasmittente');
  idt.ele('IdPaese').txt('IT');
  idt.ele('IdCodice').txt(opts.issuer.fiscalCode);
  tx.ele('ProgressivoInvio').txt(progressive);
  tx.ele('FormatoTrasmissione').txt('FPA12');
  tx.ele('CodiceDestinatario').txt(recipientCode);

  const cp = header.ele('CedentePrestatore');
  const cpd = cp.ele('DatiAnagrafici');
  const iva = cpd.ele('IdFiscaleIVA');
  iva.ele('IdPaese').txt('IT');
  iva.ele('IdCodice').txt(opts.issuerVatNumber);
  cpd.ele('CodiceFiscale').txt(opts.issuer.fiscalCode);
  cpd.ele('Anagrafica').ele('Denominazione').txt(xmlText(latin(opts.issuer.name, 80)));
  cpd.ele('RegimeFiscale').txt('RF01');
  sede(cp, seatOf(seats, opts.issuer.id));

  const cc = header.ele('CessionarioCommittente');
  const ccd = cc.ele('DatiAnagrafici');
  ccd.ele('CodiceFiscale').txt(st.fiscalCode);
  ccd.ele('Anagrafica').ele('Denominazione').txt(xmlText(latin(st.name, 80)));
  sede(cc, seatOf(seats, st.entityId));

  const body = root.ele('FatturaElettronicaBody');
  const dgd = body.ele('DatiGenerali').ele('DatiGeneraliDocumento');
  dgd.ele('TipoDocumento').txt('TD01');
  dgd.ele('Divisa').txt('EUR');
  dgd.ele('Data').txt(date);
  dgd.ele('Numero').txt(number);
  dgd.ele('ImportoTotaleDocumento').txt(amount2(st.totals.amount));
  dgd.ele('Causale').txt(xmlText(latin(`Riaddebito commissioni di circuito T-Serve sui pagamenti del mese ${st.month} (finestre di regolamento dal ${st.from} al ${st.to})`, 200)));

  const beni = body.ele('DatiBeniServizi');
  let n = 0;
  const line = (description: string, quantity: number, unitCents: number) => {
    const l = beni.ele('DettaglioLinee');
    l.ele('NumeroLinea').txt(String(++n));
    l.ele('Descrizione').txt(xmlText(latin(description, 1000)));
    l.ele('Quantita').txt(`${quantity}.00`);
    l.ele('UnitaMisura').txt('pagamenti');
    l.ele('DataInizioPeriodo').txt(st.from);
    l.ele('DataFinePeriodo').txt(st.to);
    l.ele('PrezzoUnitario').txt(amount2(unitCents));
    l.ele('PrezzoTotale').txt(amount2(quantity * unitCents));
    l.ele('AliquotaIVA').txt(VAT.rate);
    l.ele('Natura').txt(VAT.nature);
  };
  for (const l of st.lines) {
    if (l.count > 0) line(`Commissione di circuito: ${l.serviceName} (${l.serviceCode}), ${l.count} pagamenti a ${amount2(l.rate)} EUR`, l.count, l.rate);
    if (l.cancelled > 0) line(`Storno commissione di circuito: ${l.serviceName} (${l.serviceCode}), ${l.cancelled} pagamenti annullati`, l.cancelled, -l.rate);
  }
  if (n > 9999) throw new Error(`an invoice holds at most 9999 lines, ${st.entityId} ${st.month} needs ${n}`);
  const riepilogo = beni.ele('DatiRiepilogo');
  riepilogo.ele('AliquotaIVA').txt(VAT.rate);
  riepilogo.ele('Natura').txt(VAT.nature);
  riepilogo.ele('ImponibileImporto').txt(amount2(st.totals.amount));
  riepilogo.ele('Imposta').txt('0.00');
  riepilogo.ele('RiferimentoNormativo').txt(xmlText(latin(VAT.reference, 100)));

  const pay = body.ele('DatiPagamento');
  pay.ele('CondizioniPagamento').txt('TP02');
  const det = pay.ele('DettaglioPagamento');
  det.ele('Beneficiario').txt(xmlText(latin(opts.issuer.name, 200)));
  det.ele('ModalitaPagamento').txt('MP05');
  det.ele('DataScadenzaPagamento').txt(addDays(date, 30));
  det.ele('ImportoPagamento').txt(amount2(st.totals.amount));
  det.ele('IBAN').txt(opts.iban.replace(/\s+/g, '').toUpperCase());
  det.ele('CodicePagamento').txt(number);

  return doc.end({ prettyPrint: true });
}
