// The settlement's files on their own: IBAN and creditor-id checks, SEPA XML against
// the XSDs (and a tampered file against them, so the validator is known to bite), the
// FatturaPA invoice, CSV and PDF reports.
import { composeIBAN, isValidIBAN } from 'ibantools';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../fixtures/catalogue.js';
import { generateNetwork, italianCin as fixturesCin, italianIban } from '../../fixtures/generator.js';
import { isValidIban, italianCin } from '../../src/domain/iban.js';
import { loadConfig } from '../../src/config.js';
import type { PaymentLine } from '../../src/store/settlement-types.js';
import type { CounterStatement, SettlementFigures, Transfer } from '../../settlement/figures.js';
import { ENTITY_SEATS, NothingToInvoiceError, OfficeCodeError, fatturaPA } from '../../settlement/fatturapa.js';
import { InvalidIbanError, settlementIbanProblem } from '../../settlement/iban.js';
import { buildStatement, monthBounds } from '../../settlement/rebilling.js';
import { romeInstant } from '../../src/domain/calendar.js';
import { formatEuro } from '../../src/domain/money.js';
import { countersCsv, linesCsv } from '../../settlement/csv-reports.js';
import { MOVEMENT_LABELS, reportPdf, windowPeriod } from '../../settlement/reports.js';
import {
  NothingToExportError,
  RETAINED_LABEL,
  collectionDate,
  creditTransferDate,
  creditorId,
  euros,
  isValidCreditorId,
  pain001,
  pain008,
  productionDate,
  romeDateTime,
  sepaSummary,
  sepaText,
} from '../../settlement/sepa.js';
import { pdfTexts, pdfValueAfter } from './support.js';
import { itWithXsd, validate } from './xsd.js';

const owner = CATALOGUE.entities.find((e) => e.isCircuitOwner)!;
const account = { name: owner.name, iban: owner.iban, fiscalCode: owner.fiscalCode };
const network = generateNetwork({ positions: 0 });

/** Figures with every counter of the demo network owing something, and every entity paid. */
function syntheticFigures(): SettlementFigures {
  const counters: CounterStatement[] = network.counters.map((c, i) => ({
    counterId: c.id, name: c.name, kind: c.kind, iban: c.iban, mandateRef: c.mandateRef,
    count: 10 + i, cancelledCount: i % 3, collected: 100_000 + i * 137, commission: 1_000 + i, owed: 99_000 + i * 136,
  }));
  const directDebits: Transfer[] = counters.map((c) => ({ party: 'counter', id: c.counterId, name: c.name, iban: c.iban, amount: c.owed, mandateRef: c.mandateRef }));
  const creditTransfers: Transfer[] = [
    ...CATALOGUE.entities.map((e, i): Transfer => ({ party: 'entity', id: e.id, name: e.name, iban: e.iban, amount: 1_000_000 + i })),
    { party: 'operator', id: 'OPERATOR', name: 'T-Serve Network Operator S.r.l.', iban: 'IT60X0542811101000000123456', amount: 12_345 },
  ];
  return {
    date: '2026-11-20',
    cutoff: '00:00',
    entities: CATALOGUE.entities.map((e) => ({
      entityId: e.id, name: e.name, fiscalCode: e.fiscalCode, iban: e.iban, services: [], count: 1, gross: 100, reversals: 0, adjustments: 0,
      circuitFeesNetted: 0, circuitFeesRebilled: 0, royaltiesReceived: 0, circuitFeesReceived: 0, netPayout: 100,
    })),
    counters,
    operator: { name: 'T-Serve Network Operator S.r.l.', iban: 'IT60X0542811101000000123456', fees: 12_345 },
    owner: { entityId: owner.id, royalties: 0, circuitFeesNetted: 0, circuitFeesRebilled: 0 },
    totals: { payments: 1, gross: 1, fees: 1, reversals: 0, adjustments: 0, collected: 1, commissions: 1, netPayouts: 1, creditTransfers: 1, directDebits: 1 },
    creditTransfers,
    directDebits,
    receivables: [],
  };
}

describe('IBANs', () => {
  it('the CIN algorithm moved to src/domain/iban.ts is the one the fixtures use', () => {
    expect(fixturesCin).toBe(italianCin);
    expect(italianIban('05428', '11101', '000000123456')).toBe('IT60X0542811101000000123456');
  });

  it('every IBAN of the catalogue, the demo network and the default operator is valid, CIN included', () => {
    for (const e of CATALOGUE.entities) expect(isValidIban(e.iban), e.id).toBe(true);
    for (const c of network.counters) expect(isValidIban(c.iban), c.id).toBe(true);
    expect(isValidIban(loadConfig({}).operator.iban)).toBe(true);
  });

  it('refuses wrong check digits, a wrong CIN with right check digits, bad shapes', () => {
    expect(isValidIban('IT60X0542811101000000123457')).toBe(false);
    const wrongCin = composeIBAN({ countryCode: 'IT', bban: 'Y0542811101000000123456' })!;
    expect(wrongCin).toMatch(/^IT\d\dY/);
    expect(isValidIban(wrongCin)).toBe(false);
    expect(isValidIban('it60x0542811101000000123456')).toBe(false);
    expect(isValidIban('IT60X05428111010000001234')).toBe(false);
    expect(isValidIban('DE89370400440532013000')).toBe(true);
  });

  it('the pure domain check agrees with ibantools on check digits: every single-digit change is caught by both', () => {
    for (const c of network.counters.slice(0, 60)) {
      for (const at of [5, 12, 20, 26]) {
        const d = c.iban[at]!;
        if (!/\d/.test(d)) continue;
        const changed = c.iban.slice(0, at) + String((Number(d) + 1) % 10) + c.iban.slice(at + 1);
        expect(isValidIban(changed), changed).toBe(false);
        expect(isValidIBAN(changed), changed).toBe(false);
      }
    }
    expect(settlementIbanProblem('DE89370400440532013000')).toBeNull();
    expect(settlementIbanProblem('DE8937040044053201300')).toMatch(/22 characters/);
  });

  it('creditor identifiers: the EPC example is valid, a changed digit is not', () => {
    expect(isValidCreditorId('IT66ZZZA1B2C3D4E5F6G7H8')).toBe(true);
    expect(isValidCreditorId('IT67ZZZA1B2C3D4E5F6G7H8')).toBe(false);
    expect(creditorId('IT', 'A1B2C3D4E5F6G7H8')).toBe('IT66ZZZA1B2C3D4E5F6G7H8');
    expect(isValidCreditorId(creditorId('IT', '84006890481'))).toBe(true);
    expect(loadConfig({}).settlementFiles.creditorId).toBe('IT66ZZZA1B2C3D4E5F6G7H8');
  });
});

describe('SEPA files', () => {
  const createdAt = Date.parse('2026-11-23T08:15:00Z');
  const producedAt = createdAt;

  it('amounts from integer cents, SEPA text, dates', () => {
    expect(euros(0)).toBe('0.00');
    expect(euros(5)).toBe('0.05');
    expect(euros(123_456_789)).toBe('1234567.89');
    expect(() => euros(-1)).toThrow(RangeError);
    expect(() => euros(1.5)).toThrow(RangeError);
    expect(sepaText('Caffè & Tabacchi "Da Nicolò" – n°5', 70)).toBe("Caffe + Tabacchi Da Nicolo n 5");
    expect(romeDateTime(createdAt)).toBe('2026-11-23T09:15:00+01:00');
    expect(romeDateTime(Date.parse('2026-07-01T10:00:00Z'))).toBe('2026-07-01T12:00:00+02:00');
  });

  itWithXsd('359 debits and every credit validate against the XSDs', async () => {
    const f = syntheticFigures();
    expect(await validate(pain001(f, { account, createdAt, producedAt }), 'pain.001')).toEqual([]);
    expect(await validate(pain001(f, { account, createdAt, producedAt }), 'pain.001-epc')).toEqual([]);
    expect(await validate(pain008(f, { account, createdAt, producedAt, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' }), 'pain.008')).toEqual([]);
  });

  it('359 debits and every credit but the owner\'s; the same input gives the same bytes', () => {
    const f = syntheticFigures();
    const ct = pain001(f, { account, createdAt, producedAt });
    const dd = pain008(f, { account, createdAt, producedAt, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' });
    expect((dd.match(/<DrctDbtTxInf>/g) ?? []).length).toBe(359);
    // The owner's payout stays on its own account: 6 entities and the operator are paid.
    expect((ct.match(/<CdtTrfTxInf>/g) ?? []).length).toBe(CATALOGUE.entities.length);
    expect(ct).not.toContain(`<EndToEndId>TSERVE-20261120-${owner.id}</EndToEndId>`);
    const debits = f.directDebits.reduce((a, t) => a + t.amount, 0);
    expect(dd).toContain(`<CtrlSum>${euros(debits)}</CtrlSum>`);
    expect(pain001(f, { account, createdAt, producedAt })).toBe(ct);
    expect(pain008(f, { account, createdAt, producedAt, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' })).toBe(dd);
  });

  itWithXsd('the validator bites: a tampered file fails', async () => {
    const f = syntheticFigures();
    const dd = pain008(f, { account, createdAt, producedAt, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' });
    expect(await validate(dd.replace('<SeqTp>RCUR</SeqTp>', '<SeqTp>EVERY</SeqTp>'), 'pain.008')).not.toEqual([]);
    const ct = pain001(f, { account, createdAt, producedAt });
    expect(await validate(ct.replace(/<InstdAmt Ccy="EUR">[\d.]+</, '<InstdAmt Ccy="EUR">12,34<'), 'pain.001')).not.toEqual([]);
  });

  it('a broken IBAN refuses the file, naming the party and the IBAN', () => {
    const f = syntheticFigures();
    f.creditTransfers[2] = { ...f.creditTransfers[2]!, iban: 'IT42U0503414010000000001235' };
    expect(() => pain001(f, { account, createdAt, producedAt })).toThrow(InvalidIbanError);
    expect(() => pain001(f, { account, createdAt, producedAt })).toThrow(/entity PISA Comune di Pisa: "IT42U0503414010000000001235" \(wrong check digits/);
    const g = syntheticFigures();
    g.directDebits[41] = { ...g.directDebits[41]!, iban: 'IT00X0000000000000000000000' };
    expect(() => pain008(g, { account, createdAt, producedAt, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' })).toThrow(/counter C0042 .*IT00X0000000000000000000000/);
    expect(() => pain001(syntheticFigures(), { account: { ...account, iban: 'IT15G0306921530100000300002' }, createdAt, producedAt })).toThrow(/settlement account/);
    expect(() => pain008(syntheticFigures(), { account, createdAt, producedAt, creditorId: 'IT67ZZZA1B2C3D4E5F6G7H8' })).toThrow(/creditor identifier/);
  });

  it('a counter to debit without a mandate refuses the direct debits (MANDATE_MISSING), naming it', () => {
    const g = syntheticFigures();
    g.directDebits[41] = { ...g.directDebits[41]!, mandateRef: null } as never;
    expect(() => pain008(g, { account, createdAt, producedAt, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' })).toThrow(
      expect.objectContaining({ code: 'MANDATE_MISSING', detail: expect.stringMatching(/^pain\.008 refused: no SEPA mandate for counter C0042/) }),
    );
  });

  it('a window with nothing to move has no file', () => {
    const f = { ...syntheticFigures(), creditTransfers: [], directDebits: [] };
    expect(() => pain001(f, { account, createdAt, producedAt })).toThrow(NothingToExportError);
    expect(() => pain008(f, { account, createdAt, producedAt, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' })).toThrow(NothingToExportError);
  });
});

describe('SEPA dates: TARGET2 business days, counted from when the file is produced', () => {
  const at = (date: string, time: string) => romeInstant(date, time);
  const reqdExctnDt = (xml: string) => /<ReqdExctnDt>\s*<Dt>([\d-]+)<\/Dt>/.exec(xml)![1];
  const reqdColltnDt = (xml: string) => /<ReqdColltnDt>([\d-]+)<\/ReqdColltnDt>/.exec(xml)![1];
  const filesOf = (window: string, createdAt: number, producedAt: number) => {
    const f = { ...syntheticFigures(), date: window };
    return {
      ct: pain001(f, { account, createdAt, producedAt }),
      dd: pain008(f, { account, createdAt, producedAt, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' }),
    };
  };

  // [case, window, approved (Rome), produced (Rome), ReqdExctnDt, ReqdColltnDt]
  const cases: [string, string, [string, string], [string, string], string, string][] = [
    ['a Friday window exported on Monday', '2026-11-20', ['2026-11-23', '09:15:00'], ['2026-11-23', '09:15:00'], '2026-11-23', '2026-11-24'],
    ['a Friday production (Thursday window)', '2026-11-19', ['2026-11-20', '09:00:00'], ['2026-11-20', '17:00:00'], '2026-11-20', '2026-11-23'],
    ['a Friday production of the Friday window (cutoff 18:00)', '2026-11-20', ['2026-11-20', '18:30:00'], ['2026-11-20', '18:40:00'], '2026-11-23', '2026-11-23'],
    ['approved several days late', '2026-11-20', ['2026-11-26', '10:00:00'], ['2026-11-26', '10:05:00'], '2026-11-26', '2026-11-27'],
    ['approved on Monday, produced on Wednesday', '2026-11-20', ['2026-11-23', '09:15:00'], ['2026-11-25', '16:00:00'], '2026-11-25', '2026-11-26'],
    ['a clock behind the approval counts from the approval', '2026-11-20', ['2026-11-24', '09:00:00'], ['2026-11-23', '09:00:00'], '2026-11-24', '2026-11-25'],
    ['Good Friday and Easter Monday after a Thursday window', '2026-04-02', ['2026-04-02', '19:00:00'], ['2026-04-02', '19:00:00'], '2026-04-07', '2026-04-07'],
    ['Good Friday is an Italian business day: its window, produced on Easter Monday', '2026-04-03', ['2026-04-06', '09:00:00'], ['2026-04-06', '09:00:00'], '2026-04-07', '2026-04-07'],
    ['1 May on a Friday', '2026-04-30', ['2026-04-30', '20:00:00'], ['2026-04-30', '20:00:00'], '2026-05-04', '2026-05-04'],
    ['Christmas and Santo Stefano (2026: Friday and Saturday)', '2026-12-24', ['2026-12-24', '19:00:00'], ['2026-12-24', '19:00:00'], '2026-12-28', '2026-12-28'],
    ['Christmas and Santo Stefano (2025: Thursday and Friday)', '2025-12-24', ['2025-12-24', '19:00:00'], ['2025-12-24', '19:00:00'], '2025-12-29', '2025-12-29'],
    ['1 January on a Friday', '2026-12-31', ['2026-12-31', '19:00:00'], ['2026-12-31', '19:00:00'], '2027-01-04', '2027-01-04'],
    ['2 June, an Italian holiday, is a TARGET2 business day', '2026-06-01', ['2026-06-01', '19:00:00'], ['2026-06-01', '19:00:00'], '2026-06-02', '2026-06-02'],
    ['8 December, an Italian holiday, is a TARGET2 business day', '2026-12-07', ['2026-12-08', '09:00:00'], ['2026-12-08', '09:00:00'], '2026-12-08', '2026-12-09'],
    ['6 January, an Italian holiday, is a TARGET2 business day', '2027-01-05', ['2027-01-05', '20:00:00'], ['2027-01-05', '20:00:00'], '2027-01-06', '2027-01-06'],
    ['the Rome date counts, not the UTC one (00:30 Friday in Rome is Thursday in UTC)', '2026-11-19', ['2026-11-20', '00:30:00'], ['2026-11-20', '00:30:00'], '2026-11-20', '2026-11-23'],
  ];
  for (const [what, window, approved, produced, ct, dd] of cases) {
    it(`${what}: window ${window}, produced ${produced.join(' ')} → credit transfers ${ct}, direct debits ${dd}`, () => {
      const approvedAt = at(...approved);
      const producedAt = at(...produced);
      const on = productionDate(approvedAt, producedAt);
      expect(creditTransferDate(window, on)).toBe(ct);
      expect(collectionDate(window, on)).toBe(dd);
      const files = filesOf(window, approvedAt, producedAt);
      expect(reqdExctnDt(files.ct)).toBe(ct);
      expect(reqdColltnDt(files.dd)).toBe(dd);
      // Never in the past, never before the window is over; a direct debit at least one TARGET2 day ahead.
      expect(ct >= on && ct > window).toBe(true);
      expect(dd > on && dd > window).toBe(true);
    });
  }

  it('the same day gives the same bytes; a later day only moves the requested dates', () => {
    const approvedAt = at('2026-11-23', '09:15:00');
    const morning = filesOf('2026-11-20', approvedAt, at('2026-11-23', '09:15:00'));
    const evening = filesOf('2026-11-20', approvedAt, at('2026-11-23', '23:59:59'));
    expect(evening).toEqual(morning);
    const later = filesOf('2026-11-20', approvedAt, at('2026-11-25', '08:00:00'));
    expect(later.ct.replace('<Dt>2026-11-25</Dt>', '<Dt>2026-11-23</Dt>')).toBe(morning.ct);
    expect(later.dd.replace('<ReqdColltnDt>2026-11-26<', '<ReqdColltnDt>2026-11-24<')).toBe(morning.dd);
    expect(later.ct).toContain('<CreDtTm>2026-11-23T09:15:00+01:00</CreDtTm>');
  });

  itWithXsd('files dated across Easter and Christmas validate against the XSDs', async () => {
    for (const [window, day] of [['2026-04-02', '2026-04-02'], ['2026-12-24', '2026-12-24']] as const) {
      const files = filesOf(window, at(day, '19:00:00'), at(day, '19:00:00'));
      expect(await validate(files.ct, 'pain.001')).toEqual([]);
      expect(await validate(files.ct, 'pain.001-epc')).toEqual([]);
      expect(await validate(files.dd, 'pain.008')).toEqual([]);
    }
  });
});

describe('FatturaPA', () => {
  const catalogue = {
    entities: new Map(CATALOGUE.entities.map((e) => [e.id, e])),
    services: new Map(CATALOGUE.services.map((s) => [s.code, { ...s, enabled: true }])),
    feeSchedules: new Map(),
    circuitFees: new Map(CATALOGUE.entities.filter((e) => e.circuitFee).map((e) => [e.id, [e.circuitFee!]])),
    owner,
  };
  // A test office code: the shape of the IPA's (6 uppercase letters or digits), no real office.
  const opts = { issuer: owner, issuerVatNumber: '00337360978', iban: owner.iban, recipientCode: 'TST123' };
  const pontedera = () =>
    buildStatement(catalogue, 'PONTEDERA', '2026-02', [
      { kind: 'booking', serviceCode: 'SANZPONT', rate: 20, count: 1200, amount: 24_000 },
      { kind: 'booking', serviceCode: 'SANZPONT', rate: 25, count: 300, amount: 7_500 },
      { kind: 'reversal', serviceCode: 'SANZPONT', rate: 20, count: 7, amount: 140 },
      { kind: 'adjustment', serviceCode: 'SANZPONT', rate: 20, count: 1, amount: 20 },
    ], true);

  itWithXsd('an invoice with a rate change and cancellations validates against the XSD; the validator bites', async () => {
    const xml = fatturaPA(pontedera(), opts);
    expect(await validate(xml, 'fatturapa')).toEqual([]);
    expect(await validate(xml.replace('<Natura>N2.2</Natura>', '<Natura>N9</Natura>'), 'fatturapa')).not.toEqual([]);
  });

  it('an invoice with a rate change and cancellations adds up', () => {
    const st = buildStatement(catalogue, 'PONTEDERA', '2026-02', [
      { kind: 'booking', serviceCode: 'SANZPONT', rate: 20, count: 1200, amount: 24_000 },
      { kind: 'booking', serviceCode: 'SANZPONT', rate: 25, count: 300, amount: 7_500 },
      { kind: 'reversal', serviceCode: 'SANZPONT', rate: 20, count: 7, amount: 140 },
      { kind: 'adjustment', serviceCode: 'SANZPONT', rate: 20, count: 1, amount: 20 },
    ], true);
    expect(st.from).toBe('2026-02-01');
    expect(st.to).toBe('2026-02-28');
    expect(st.lines.map((l) => [l.rate, l.count, l.cancelled, l.amount])).toEqual([[20, 1200, 8, 23_840], [25, 300, 0, 7_500]]);
    expect(st.totals.amount).toBe(31_340);
    const xml = fatturaPA(st, opts);
    expect(fatturaPA(pontedera(), opts)).toBe(xml);
    expect(xml).toContain('<CodiceDestinatario>TST123</CodiceDestinatario>');
    expect(xml).toContain('<ImportoTotaleDocumento>313.40</ImportoTotaleDocumento>');
    expect(xml).toContain('<ImponibileImporto>313.40</ImponibileImporto>');
    expect(xml).toContain('<PrezzoUnitario>-0.20</PrezzoUnitario>');
    expect(xml).toContain('<Data>2026-02-28</Data>');
    expect(xml).toContain('<Numero>TS-202602-PONTEDERA</Numero>');
    expect(xml).toContain('<DataScadenzaPagamento>2026-03-30</DataScadenzaPagamento>');
    expect((xml.match(/<DettaglioLinee>/g) ?? []).length).toBe(3);
    expect(fatturaPA(st, opts)).toBe(xml);
  });

  it('nothing to invoice, or a bad recipient code, is refused', () => {
    const empty = buildStatement(catalogue, 'PISA', '2026-11', [], true);
    expect(() => fatturaPA(empty, opts)).toThrow(NothingToInvoiceError);
    const st = buildStatement(catalogue, 'PISA', '2026-11', [{ kind: 'booking', serviceCode: 'TARIPISA', rate: 25, count: 4, amount: 100 }], true);
    // No office code: refused, naming the entity and the setting; never a placeholder.
    for (const missing of [undefined, null, '']) {
      expect(() => fatturaPA(st, { ...opts, recipientCode: missing })).toThrow(OfficeCodeError);
      expect(() => fatturaPA(st, { ...opts, recipientCode: missing })).toThrow(
        'entity PISA has no FatturaPA office code: set TSERVE_FATTURAPA_CODES=PISA=<6 chars> (its Codice Univoco Ufficio in the IPA index)',
      );
    }
    // The wrong shape: 6 uppercase letters or digits, no more, no less.
    for (const bad of ['uf00ab', 'UF00', 'ABC1234', 'ABC-12', '0000000']) {
      expect(() => fatturaPA(st, { ...opts, recipientCode: bad }), bad).toThrow(new RegExp(`"${bad}" of entity PISA is not 6 uppercase letters or digits: fix it in TSERVE_FATTURAPA_CODES`));
    }
    expect(() => loadConfig({ TSERVE_FATTURAPA_CODES: 'PISA=ABC1234' })).toThrow(/TSERVE_FATTURAPA_CODES.*6 uppercase letters or digits/);
    expect(() => loadConfig({ TSERVE_FATTURAPA_CODES: 'PISA=abc123' })).toThrow(/TSERVE_FATTURAPA_CODES/);
    expect(loadConfig({ TSERVE_FATTURAPA_CODES: 'PISA=ABC123,PISTOIA=XYZ789' }).settlementFiles.invoiceCodes).toEqual({ PISA: 'ABC123', PISTOIA: 'XYZ789' });
    expect(loadConfig({}).settlementFiles.invoiceCodes).toEqual({});
    expect(() => fatturaPA(st, { ...opts, iban: 'IT15G0306921530100000300002' })).toThrow(InvalidIbanError);
    expect(() => fatturaPA(st, { ...opts, seats: { PRATO: ENTITY_SEATS.PRATO! } })).toThrow(
      expect.objectContaining({ code: 'SEAT_MISSING', detail: 'invoice refused: no registered seat (address) for entity PISA: an invoice needs one' }),
    );
    expect(monthBounds('2028-02').to).toBe('2028-02-29');
    expect(() => monthBounds('2026-13')).toThrow();
  });
});

describe('reports', () => {
  /** The group header's CtrlSum of a SEPA file, in cents. */
  const ctrlSum = (xml: string) => Math.round(Number(/<GrpHdr>[\s\S]*?<CtrlSum>([\d.]+)<\/CtrlSum>/.exec(xml)![1]) * 100);
  const approvedWindow = { status: 'approved' as const, approvedAt: Date.parse('2026-11-23T08:15:00Z'), approvedBy: 'finance:finance' };

  it('next to each SEPA file the report gives that file\'s CtrlSum; the owner\'s retained payout has its own line', async () => {
    const f = syntheticFigures();
    f.totals.creditTransfers = f.creditTransfers.reduce((a, t) => a + t.amount, 0);
    f.totals.directDebits = f.directDebits.reduce((a, t) => a + t.amount, 0);
    const dates = { createdAt: approvedWindow.approvedAt, producedAt: approvedWindow.approvedAt };
    const ct = pain001(f, { account, ...dates });
    const dd = pain008(f, { account, ...dates, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' });
    const ownerPayout = f.creditTransfers.find((t) => t.id === owner.id)!.amount;
    expect(ctrlSum(ct)).toBe(f.totals.creditTransfers - ownerPayout);

    const summary = sepaSummary(f, account);
    expect(summary.pain001).toEqual({ transactions: f.creditTransfers.length - 1, ctrlSum: ctrlSum(ct) });
    expect(summary.pain008).toEqual({ transactions: 359, ctrlSum: ctrlSum(dd) });
    expect(summary.retained).toMatchObject({ label: RETAINED_LABEL, total: ownerPayout, transfers: [{ party: 'entity', id: owner.id }] });
    expect(RETAINED_LABEL).toBe("Retained in the circuit owner's account (not in the SEPA file)");

    const texts = pdfTexts(await reportPdf(f, approvedWindow, account, '00:00', Date.parse('2026-11-23T09:00:00Z')));
    expect(pdfValueAfter(texts, MOVEMENT_LABELS.pain001)).toBe(formatEuro(ctrlSum(ct)));
    expect(texts).toContain(`${MOVEMENT_LABELS.pain001}, ${f.creditTransfers.length - 1} operazioni`);
    expect(pdfValueAfter(texts, MOVEMENT_LABELS.retained)).toBe(formatEuro(f.totals.creditTransfers - ctrlSum(ct)));
    expect(pdfValueAfter(texts, MOVEMENT_LABELS.pain008)).toBe(formatEuro(ctrlSum(dd)));
    // The credit transfers' grand total (file + retained) is no longer shown as the file's.
    expect(texts).not.toContain(formatEuro(f.totals.creditTransfers));
  });

  it('with a settlement account of its own, the owner is paid in the file and nothing is retained', async () => {
    const f = syntheticFigures();
    const separate = { ...account, iban: italianIban('05034', '14010', '000000009999') };
    const ct = pain001(f, { account: separate, createdAt: approvedWindow.approvedAt, producedAt: approvedWindow.approvedAt });
    expect(ctrlSum(ct)).toBe(f.creditTransfers.reduce((a, t) => a + t.amount, 0));
    expect(sepaSummary(f, separate).retained.total).toBe(0);
    const texts = pdfTexts(await reportPdf(f, approvedWindow, separate, '00:00', Date.parse('2026-11-23T09:00:00Z')));
    expect(pdfValueAfter(texts, MOVEMENT_LABELS.pain001)).toBe(formatEuro(ctrlSum(ct)));
    expect(pdfValueAfter(texts, MOVEMENT_LABELS.retained)).toBe(formatEuro(0));
  });

  it('payment lines: cancellations carry the negated split', () => {
    const line: PaymentLine = {
      id: 1, paymentId: 'p', kind: 'booking', bookedAt: Date.parse('2026-11-20T09:00:00Z'), cancelledAt: null, settlementDate: '2026-11-20', entityId: 'PISA',
      serviceCode: 'TARIPISA', serviceName: 'TARI Pisa', identifier: '301000000000000144', noticeNumber: '301000000000000144', iuv: '01000000000000144',
      counterId: 'C0001', terminalId: 'T0001', channel: 'json', rrn: '000000000001', receiptNumber: 'r',
      amount: 12_345, fee: 150, commission: 98, operator: 42, royalty: 10, circuitFee: 25, circuitFeeMode: 'rebilled',
    };
    const reversal: PaymentLine = { ...line, kind: 'reversal', cancelledAt: Date.parse('2026-11-20T09:05:00Z') };
    const rows = parseCsv(linesCsv([line, reversal]), { columns: true }) as Record<string, string>[];
    expect(rows[0]).toMatchObject({ kind: 'booking', amount: '12345', fee: '150', bookedAt: '2026-11-20T09:00:00.000Z', circuitFeeMode: 'rebilled', cancelledAt: '' });
    expect(rows[0]).toMatchObject({ serviceName: 'TARI Pisa', identifier: '301000000000000144', noticeNumber: '301000000000000144', iuv: '01000000000000144' });
    expect(rows[1]).toMatchObject({ kind: 'reversal', amount: '-12345', fee: '-150', commission: '-98', operator: '-42', royalty: '-10', circuitFee: '-25' });
    expect(rows[1]!.cancelledAt).toBe('2026-11-20T09:05:00.000Z');
    expect(linesCsv([], false)).toBe('');
  });

  it('the PDF report of 359 counters runs over numbered A4 landscape pages; the counters CSV has them all', async () => {
    const f = syntheticFigures();
    const pdf = await reportPdf(f, { status: 'approved', approvedAt: Date.parse('2026-11-23T08:15:00Z'), approvedBy: 'finance:finance' }, account, '00:00', Date.parse('2026-11-23T09:00:00Z'));
    const text = pdf.toString('latin1');
    const pages = (text.match(/\/Type \/Page\b/g) ?? []).length;
    // About 38 counter rows fit a page.
    expect(pages).toBeGreaterThanOrEqual(10);
    expect(pages).toBeLessThan(20);
    expect(text).toMatch(/\/MediaBox \[0 0 841\.89 595\.28\]/);
    const rows = parseCsv(countersCsv(f.date, f.counters), { columns: true }) as unknown[];
    expect(rows.length).toBe(359);
    const p = windowPeriod('2026-11-20', '00:00');
    expect(new Date(p.from).toISOString()).toBe('2026-11-19T23:00:00.000Z');
    expect(new Date(p.to).toISOString()).toBe('2026-11-20T23:00:00.000Z');
    expect(windowPeriod('2026-11-23', '00:00').to - windowPeriod('2026-11-23', '00:00').from).toBe(3 * 86_400_000);
  });
});
