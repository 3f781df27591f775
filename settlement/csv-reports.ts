// The settlement CSV files, each a table of columns rendered by csv-dialect.ts: the
// machine CSV by default, the Italian office's CSV for Excel with ?dialect=it.
//
// Machine conventions (every file): UTF-8, comma-separated, a header row, RFC 4180
// quoting; amounts are integer cents (no decimal point, no currency), dates YYYY-MM-DD
// (Rome), instants ISO 8601 UTC. Columns added later come last, so a reader by position
// keeps working.
//
// Payment lines (payments.csv, rebilling lines): one row per payment booked in the
// window and one per cancellation booked in it (kind reversal or adjustment), with the
// payment's split. Money columns are signed: a cancellation's row carries the negated
// split, so that summing a column gives the window's net movement.
//   settlementDate  the window the row counts in
//   kind            booking | reversal | adjustment
//   bookedAt        when the payment was booked (cancellations: of the original payment)
//   paymentId, rrn, receiptNumber, entityId, serviceCode, counterId, terminalId, channel
//   amount          the tributo A
//   fee             the citizen's fee F = commission + operator + royalty
//   commission      the counter's part of F
//   operator        the network operator's part of F
//   royalty         the circuit owner's part of F
//   circuitFee      circuit fee the entity owes the owner for this payment
//   circuitFeeMode  netted (deducted from the payout) | rebilled (invoiced monthly) | empty
//   serviceName     the service's name
//   identifier      what the terminal named, normalised (notice number, plate, fiscal code...)
//   noticeNumber    the notice number (codice avviso) of the debt position paid, or empty
//   iuv             the IUV within that notice number, or empty
//   cancelledAt     a cancellation's row: when it was booked; empty on a booking's row
import type { PaymentLine } from '../src/store/settlement-types.js';
import { CsvTable, type Column, type ColumnKind, type Dialect } from './csv-dialect.js';
import type { CounterStatement, EntityStatement } from './figures.js';
import type { RebillingStatement } from './rebilling.js';

type Rec = Readonly<Record<string, unknown>>;

/** A column read from a record's field of the same name. */
function field(key: string, it: string, kind: ColumnKind, labels?: Record<string, string>): Column<Rec> {
  return { key, it, kind, get: (r) => r[key], labels };
}

const TOTAL = { TOTAL: 'TOTALE' };

// ---------------------------------------------------------------------------
// Payment lines

/** A cancellation's row carries the negated money. */
const signed = (l: PaymentLine, cents: number) => (l.kind === 'booking' ? cents : -cents);

const LINES = new CsvTable<PaymentLine>([
  { key: 'settlementDate', it: 'Data regolamento', kind: 'date', get: (l) => l.settlementDate },
  { key: 'kind', it: 'Tipo', kind: 'text', get: (l) => l.kind, labels: { booking: 'pagamento', reversal: 'storno', adjustment: 'rettifica' } },
  { key: 'bookedAt', it: 'Data e ora pagamento', kind: 'datetime', get: (l) => l.bookedAt },
  { key: 'paymentId', it: 'ID pagamento', kind: 'code', get: (l) => l.paymentId },
  { key: 'rrn', it: 'RRN', kind: 'code', get: (l) => l.rrn },
  { key: 'receiptNumber', it: 'Numero ricevuta', kind: 'code', get: (l) => l.receiptNumber },
  { key: 'entityId', it: 'Codice ente', kind: 'code', get: (l) => l.entityId },
  { key: 'serviceCode', it: 'Codice servizio', kind: 'code', get: (l) => l.serviceCode },
  { key: 'counterId', it: 'Sportello', kind: 'code', get: (l) => l.counterId },
  { key: 'terminalId', it: 'Terminale', kind: 'code', get: (l) => l.terminalId },
  { key: 'channel', it: 'Canale', kind: 'text', get: (l) => l.channel },
  { key: 'amount', it: 'Importo', kind: 'money', get: (l) => signed(l, l.amount) },
  { key: 'fee', it: 'Commissione cittadino', kind: 'money', get: (l) => signed(l, l.fee) },
  { key: 'commission', it: 'Commissione sportello', kind: 'money', get: (l) => signed(l, l.commission) },
  { key: 'operator', it: 'Compenso gestore rete', kind: 'money', get: (l) => signed(l, l.operator) },
  { key: 'royalty', it: 'Royalty', kind: 'money', get: (l) => signed(l, l.royalty) },
  { key: 'circuitFee', it: 'Commissione circuito', kind: 'money', get: (l) => signed(l, l.circuitFee) },
  { key: 'circuitFeeMode', it: 'Commissione circuito (modalità)', kind: 'text', get: (l) => l.circuitFeeMode, labels: { netted: 'trattenuta', rebilled: 'rifatturata' } },
  // Added for reconciliation (issue 14): what an entity matches the line against.
  { key: 'serviceName', it: 'Servizio', kind: 'text', get: (l) => l.serviceName },
  { key: 'identifier', it: 'Identificativo', kind: 'code', get: (l) => l.identifier },
  { key: 'noticeNumber', it: 'Numero avviso', kind: 'code', get: (l) => l.noticeNumber },
  { key: 'iuv', it: 'IUV', kind: 'code', get: (l) => l.iuv },
  { key: 'cancelledAt', it: 'Data e ora annullamento', kind: 'datetime', get: (l) => l.cancelledAt },
]);

export const LINE_COLUMNS = LINES.keys;

/** Rows of payment lines; pass header=false for the pages after the first one. */
export function linesCsv(lines: PaymentLine[], header = true, dialect: Dialect = 'machine'): string {
  return LINES.render(lines, dialect, header);
}

// ---------------------------------------------------------------------------
// Statements

const ENTITIES = new CsvTable([
  field('date', 'Data regolamento', 'date'),
  field('entityId', 'Codice ente', 'code'),
  field('entityName', 'Ente', 'text'),
  field('serviceCode', 'Codice servizio', 'code', TOTAL),
  field('serviceName', 'Servizio', 'text'),
  field('count', 'Pagamenti', 'count'),
  field('gross', 'Lordo', 'money'),
  field('reversalCount', 'Storni (n.)', 'count'),
  field('reversals', 'Storni', 'money'),
  field('adjustmentCount', 'Rettifiche (n.)', 'count'),
  field('adjustments', 'Rettifiche', 'money'),
  field('circuitFeesNetted', 'Comm. circuito trattenute', 'money'),
  field('circuitFeesRebilled', 'Comm. circuito da fatturare', 'money'),
  field('royaltiesReceived', 'Royalty ricevute', 'money'),
  field('circuitFeesReceived', 'Comm. circuito ricevute', 'money'),
  field('netPayout', 'Netto da versare', 'money'),
]);

export const ENTITY_COLUMNS = ENTITIES.keys;

/** Per entity: one row per service, then a TOTAL row with the payout. */
export function entitiesCsv(date: string, entities: EntityStatement[], dialect: Dialect = 'machine'): string {
  const rows = entities.flatMap((e) => {
    const t = (k: 'reversalCount' | 'adjustmentCount') => e.services.reduce((a, s) => a + s[k], 0);
    const entity = { date, entityId: e.entityId, entityName: e.name };
    return [
      ...e.services.map((s) => ({ ...entity, ...s })),
      {
        ...entity, serviceCode: 'TOTAL', count: e.count, gross: e.gross, reversalCount: t('reversalCount'), reversals: e.reversals,
        adjustmentCount: t('adjustmentCount'), adjustments: e.adjustments, circuitFeesNetted: e.circuitFeesNetted, circuitFeesRebilled: e.circuitFeesRebilled,
        royaltiesReceived: e.royaltiesReceived, circuitFeesReceived: e.circuitFeesReceived, netPayout: e.netPayout,
      },
    ];
  });
  return ENTITIES.render(rows, dialect);
}

const COUNTERS = new CsvTable([
  field('date', 'Data regolamento', 'date'),
  field('counterId', 'Sportello', 'code'),
  field('name', 'Nome', 'text'),
  field('kind', 'Tipo', 'text'),
  field('iban', 'IBAN', 'code'),
  field('mandateRef', 'Mandato SEPA', 'code'),
  field('count', 'Pagamenti', 'count'),
  field('cancelledCount', 'Annullati', 'count'),
  field('collected', 'Incassato', 'money'),
  field('commission', 'Commissioni', 'money'),
  field('owed', 'Dovuto (addebito)', 'money'),
]);

export const COUNTER_COLUMNS = COUNTERS.keys;

export function countersCsv(date: string, counters: CounterStatement[], dialect: Dialect = 'machine'): string {
  return COUNTERS.render(counters.map((c) => ({ date, ...c })), dialect);
}

// ---------------------------------------------------------------------------
// Rebilling

const REBILLING = new CsvTable([
  field('month', 'Mese', 'month'),
  field('entityId', 'Codice ente', 'code'),
  field('serviceCode', 'Codice servizio', 'code', TOTAL),
  field('serviceName', 'Servizio', 'text'),
  field('rate', 'Commissione circuito unitaria', 'money'),
  field('count', 'Pagamenti', 'count'),
  field('cancelled', 'Annullati', 'count'),
  field('net', 'Netto (n.)', 'count'),
  field('amount', 'Importo', 'money'),
]);

export const REBILLING_COLUMNS = REBILLING.keys;

export function rebillingCsv(st: RebillingStatement, dialect: Dialect = 'machine'): string {
  const head = { month: st.month, entityId: st.entityId };
  return REBILLING.render([...st.lines.map((l) => ({ ...head, ...l })), { ...head, serviceCode: 'TOTAL', ...st.totals }], dialect);
}
