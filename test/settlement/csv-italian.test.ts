// Files an Italian office can use (issue 14): every CSV route with ?dialect=it, through
// real HTTP. A few payments made over the JSON terminal API (a Prato TARI notice, a Pisa
// TARI notice whose circuit fee is rebilled, a CIE paid without a notice, one of them
// reversed), the window run, then each file fetched twice, machine and Italian: every
// Italian cell is its machine twin rendered (euros from cents, Rome times, dd/mm/yyyy),
// with the BOM, semicolons and Italian headers; the lines carry what an entity
// reconciles them by (notice number, IUV, identifier, service, time, receipt number).
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { romeInstant } from '../../src/domain/calendar.js';
import { bearer, expectProblem, idemKey, setup, TerminalPool, counterOf, type Ctx } from '../http/support.js';
import { TEST_DAY } from '../helpers/clock.js';

const DAY = TEST_DAY; // a Monday: its window closes at midnight
const MONTH = DAY.slice(0, 7);
const clock = { now: romeInstant(DAY, '10:00:00') };
let c: Ctx;
let finance: string;
let pisa: string;
let counterId: string;

interface Paid {
  paymentId: string;
  receiptNumber: string;
  rrn: string;
  bookedAt: string;
  service: string;
  serviceName: string;
  identifier: string;
  notice: string | null;
}
const paid: Paid[] = [];
let reversedId: string;

/** The machine headers the payment lines had before issue 14: they stay first, in order. */
const OLD_LINE_COLUMNS = [
  'settlementDate', 'kind', 'bookedAt', 'paymentId', 'rrn', 'receiptNumber', 'entityId', 'serviceCode', 'counterId',
  'terminalId', 'channel', 'amount', 'fee', 'commission', 'operator', 'royalty', 'circuitFee', 'circuitFeeMode',
];

/** Rome wall time of an ISO instant, by Intl (independently of src/domain/calendar.ts). */
function romeOf(iso: string): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Rome', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(iso));
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}:${p.second}`;
}

/** Cents as euros with a decimal comma, by BigInt (independently of csv-dialect.ts). */
function euros(cents: string): string {
  const big = BigInt(cents);
  const abs = big < 0n ? -big : big;
  return `${big < 0n ? '-' : ''}${abs / 100n},${String(abs % 100n).padStart(2, '0')}`;
}

const LABELS: Record<string, string> = { booking: 'pagamento', reversal: 'storno', adjustment: 'rettifica', netted: 'trattenuta', rebilled: 'rifatturata', TOTAL: 'TOTALE' };

/** The Italian headers of money columns, in every file: euros with a decimal comma. */
const MONEY = new Set([
  'Importo', 'Commissione cittadino', 'Commissione sportello', 'Compenso gestore rete', 'Royalty', 'Commissione circuito', 'Lordo', 'Storni',
  'Rettifiche', 'Comm. circuito trattenute', 'Comm. circuito da fatturare', 'Royalty ricevute', 'Comm. circuito ricevute', 'Netto da versare',
  'Incassato', 'Commissioni', 'Dovuto (addebito)', 'Commissione circuito unitaria',
]);

/** Every Italian cell is its machine twin rendered in the Italian dialect. */
function expectTwin(machine: string, italian: string, header: string, where: string): void {
  if (machine === '') return expect(italian, where).toBe('');
  if (MONEY.has(header)) return expect(italian, where).toBe(euros(machine));
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(machine)) return expect(italian, where).toBe(romeOf(machine));
  if (/^\d{4}-\d{2}-\d{2}$/.test(machine)) return expect(italian, where).toBe(`${machine.slice(8)}/${machine.slice(5, 7)}/${machine.slice(0, 4)}`);
  if (/^\d{4}-\d{2}$/.test(machine)) return expect(italian, where).toBe(`${machine.slice(5)}/${machine.slice(0, 4)}`);
  if (italian.startsWith('="')) return expect(italian, where).toBe(`="${machine}"`);
  expect(italian, where).toBe(LABELS[machine] ?? machine);
}

interface Fetched {
  raw: Buffer;
  text: string;
  headers: Record<string, string>;
}

async function fetchCsv(path: string, token: string): Promise<Fetched> {
  const res = await c
    .api()
    .get(path)
    .set(bearer(token))
    .buffer(true)
    .parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (b: Buffer) => chunks.push(b));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
  expect(res.status, `${path}: ${String(res.body)}`).toBe(200);
  expect(res.headers['content-type'], path).toMatch(/^text\/csv; charset=utf-8/);
  const raw = res.body as Buffer;
  return { raw, text: raw.toString('utf8'), headers: res.headers as Record<string, string> };
}

/**
 * The machine file at `path` and its Italian twin at `path` + dialect=it: shapes, BOM,
 * separators, file names and every cell compared. Answers both parsed, keyed by header.
 */
async function twins(path: string, token: string, italianPath?: string): Promise<{ machine: Record<string, string>[]; italian: Record<string, string>[]; itHeader: string[] }> {
  const m = await fetchCsv(path, token);
  const i = await fetchCsv(italianPath ?? `${path}${path.includes('?') ? '&' : '?'}dialect=it`, token);
  // Machine: no BOM, commas, LF. Italian: UTF-8 BOM, semicolons, CRLF.
  expect(m.raw.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))).toBe(false);
  expect(i.raw.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])), path).toBe(true);
  const mRows = parseCsv(m.text) as string[][];
  const iRows = parseCsv(i.text, { bom: true, delimiter: ';', record_delimiter: '\r\n' }) as string[][];
  expect(i.text.slice(1).split('\r\n')[0]!.split(';').length, path).toBe(mRows[0]!.length);
  expect(iRows.length, path).toBe(mRows.length);
  expect(iRows.length, path).toBeGreaterThan(1);
  for (let r = 1; r < mRows.length; r++) {
    expect(iRows[r]!.length).toBe(mRows[r]!.length);
    mRows[r]!.forEach((cell, k) => expectTwin(cell, iRows[r]![k]!, iRows[0]![k]!, `${path} row ${r} ${mRows[0]![k]}/${iRows[0]![k]}`));
  }
  // File names: the Italian one ends in -it.
  const name = (h: Record<string, string>) => /filename="([^"]+)"/.exec(h['content-disposition'] ?? '')?.[1] ?? '';
  expect(name(i.headers), path).toBe(name(m.headers).replace(/\.csv$/, '-it.csv'));
  const keyed = (rows: string[][]) => rows.slice(1).map((row) => Object.fromEntries(rows[0]!.map((h, k) => [h, row[k]!])));
  return { machine: keyed(mRows), italian: keyed(iRows), itHeader: iRows[0]! };
}

const unwrap = (code: string) => /^="(.*)"$/.exec(code)?.[1] ?? code;

beforeAll(async () => {
  c = await setup(300, () => clock.now);
  finance = c.h.userToken('finance');
  pisa = c.h.userToken('ente-pisa');
  const terminal = new TerminalPool(c.h).take();
  counterId = counterOf(c.h, terminal);
  const auth = bearer(c.h.terminalToken(terminal));
  const services = (await c.api().get('/v1/services').set(auth)).body as { code: string; name: string }[];
  const nameOf = (code: string) => services.find((s) => s.code === code)!.name;

  const pay = async (service: string, identifier: string, notice: string | null, at: string) => {
    clock.now = romeInstant(DAY, at);
    const v = await c.api().post('/v1/verify').set(auth).send({ service, identifier });
    expect(v.status, v.text).toBe(200);
    const res = await c.api().post('/v1/payments').set(auth).set('Idempotency-Key', idemKey('it')).send({ service, identifier, amount: v.body.amountDue });
    expect(res.status, res.text).toBe(201);
    const b = res.body as Paid;
    paid.push({ paymentId: b.paymentId, receiptNumber: b.receiptNumber, rrn: b.rrn, bookedAt: b.bookedAt, service, serviceName: nameOf(service), identifier, notice });
  };
  const tari = await c.notices.tari();
  await pay('TARI', tari.notice, tari.notice, '10:00:05');
  const pisaNotice = await c.notices.payable('TARIPISA');
  await pay('TARIPISA', pisaNotice.notice, pisaNotice.notice, '10:01:10');
  const pisaNotice2 = await c.notices.payable('TARIPISA');
  await pay('TARIPISA', pisaNotice2.notice, pisaNotice2.notice, '10:02:20');
  await pay('CIE', 'RSSMRA85T10A562S', null, '10:03:30');
  // The second Pisa payment reversed by its terminal, in the window.
  clock.now = romeInstant(DAY, '10:04:40');
  reversedId = paid[2]!.paymentId;
  const rev = await c.api().post(`/v1/payments/${reversedId}/reversal`).set(auth).set('Idempotency-Key', idemKey('rev'));
  expect(rev.status, rev.text).toBe(200);

  // After the window's cutoff: run it.
  clock.now = romeInstant(DAY, '23:59:59') + 11 * 60_000;
  const run = await c.api().post(`/v1/settlements/${DAY}/run`).set(bearer(finance));
  expect(run.status, run.text).toBe(201);
}, 180_000);

afterAll(async () => {
  await c?.close();
});

describe('payments.csv', () => {
  it('machine: the old columns first, in order, then what an entity reconciles by', async () => {
    const res = await c.api().get(`/v1/settlements/${DAY}/payments.csv`).set(bearer(finance));
    const header = res.text.split('\n')[0]!.split(',');
    expect(header.slice(0, OLD_LINE_COLUMNS.length)).toEqual(OLD_LINE_COLUMNS);
    expect(header.slice(OLD_LINE_COLUMNS.length)).toEqual(['serviceName', 'identifier', 'noticeNumber', 'iuv', 'cancelledAt']);
    const rows = parseCsv(res.text, { columns: true }) as Record<string, string>[];
    for (const p of paid) {
      const row = rows.find((r) => r.paymentId === p.paymentId && r.kind === 'booking')!;
      expect(row).toMatchObject({ receiptNumber: p.receiptNumber, rrn: p.rrn, bookedAt: p.bookedAt, identifier: p.identifier, serviceName: p.serviceName, noticeNumber: p.notice ?? '', cancelledAt: '' });
      // Aux digit 3: the IUV is the 17 digits after it.
      expect(row.iuv).toBe(p.notice ? p.notice.slice(1) : '');
    }
    const reversal = rows.find((r) => r.paymentId === reversedId && r.kind === 'reversal')!;
    expect(reversal.cancelledAt).toBe(new Date(romeInstant(DAY, '10:04:40')).toISOString());
    expect(reversal.identifier).toBe(paid[2]!.identifier);
  });

  it('dialect=it: every cell its machine twin in Italian, with the notice, IUV, receipt and Rome time of each payment', async () => {
    const { machine, italian, itHeader } = await twins(`/v1/settlements/${DAY}/payments.csv`, finance);
    expect(machine.length).toBe(paid.length + 1);
    expect(itHeader).toEqual([
      'Data regolamento', 'Tipo', 'Data e ora pagamento', 'ID pagamento', 'RRN', 'Numero ricevuta', 'Codice ente', 'Codice servizio', 'Sportello',
      'Terminale', 'Canale', 'Importo', 'Commissione cittadino', 'Commissione sportello', 'Compenso gestore rete', 'Royalty', 'Commissione circuito',
      'Commissione circuito (modalità)', 'Servizio', 'Identificativo', 'Numero avviso', 'IUV', 'Data e ora annullamento',
    ]);
    for (const p of paid) {
      const row = italian.find((r) => r['ID pagamento'] === p.paymentId && r.Tipo === 'pagamento')!;
      expect(row['Numero ricevuta']).toBe(p.receiptNumber);
      expect(unwrap(row.RRN!)).toBe(p.rrn);
      expect(row.RRN).toMatch(/^="\d{12}"$/); // kept as text: Excel would drop the leading zeros
      expect(unwrap(row.Identificativo!)).toBe(p.identifier);
      expect(unwrap(row['Numero avviso']!)).toBe(p.notice ?? '');
      expect(unwrap(row.IUV!)).toBe(p.notice ? p.notice.slice(1) : '');
      expect(row.Servizio).toBe(p.serviceName);
      expect(row['Data e ora pagamento']).toBe(romeOf(p.bookedAt));
      expect(row['Data regolamento']).toBe(`${DAY.slice(8)}/${DAY.slice(5, 7)}/${DAY.slice(0, 4)}`);
      expect(row.Importo).toMatch(/^\d+,\d{2}$/);
    }
    // The first payment, at 10:00:05 in Rome (UTC+1 in November).
    expect(italian.find((r) => r['ID pagamento'] === paid[0]!.paymentId)!['Data e ora pagamento']).toBe(`${DAY.slice(8)}/${DAY.slice(5, 7)}/${DAY.slice(0, 4)} 10:00:05`);
    const reversal = italian.find((r) => r.Tipo === 'storno')!;
    expect(reversal['ID pagamento']).toBe(reversedId);
    expect(reversal.Importo).toMatch(/^-\d+,\d{2}$/);
    expect(reversal['Data e ora annullamento']).toBe(`${DAY.slice(8)}/${DAY.slice(5, 7)}/${DAY.slice(0, 4)} 10:04:40`);
  });

  it("an entity's own lines in Italian: its payments only", async () => {
    const { italian } = await twins(`/v1/settlements/${DAY}/payments.csv`, pisa);
    expect(new Set(italian.map((r) => r['Codice ente']))).toEqual(new Set(['PISA']));
    expect(italian.filter((r) => r.Tipo === 'pagamento').length).toBe(2);
    expect(italian.every((r) => r['Commissione circuito (modalità)'] === 'rifatturata')).toBe(true);
  });
});

describe('statements and summaries', () => {
  it('entities.csv and counters.csv', async () => {
    const e = await twins(`/v1/settlements/${DAY}/entities.csv`, finance);
    expect(e.itHeader.slice(0, 7)).toEqual(['Data regolamento', 'Codice ente', 'Ente', 'Codice servizio', 'Servizio', 'Pagamenti', 'Lordo']);
    expect(e.italian.some((r) => r['Codice servizio'] === 'TOTALE' && r['Netto da versare']!.includes(','))).toBe(true);
    const k = await twins(`/v1/settlements/${DAY}/counters.csv`, finance);
    expect(k.itHeader).toContain('Dovuto (addebito)');
    const mine = k.italian.find((r) => r.Sportello === counterId)!;
    expect(mine.Pagamenti).toBe('4');
    expect(mine.Annullati).toBe('1');
  });

  it("an entity's statement and a counter's, by ?format=csv&dialect=it or by dialect alone", async () => {
    const e = await twins(`/v1/settlements/${DAY}/entities/PISA?format=csv`, pisa);
    expect(e.italian.at(-1)!['Codice servizio']).toBe('TOTALE');
    expect(e.machine.at(-1)!.serviceCode).toBe('TOTAL');
    await twins(`/v1/settlements/${DAY}/entities/PISA?format=csv`, pisa, `/v1/settlements/${DAY}/entities/PISA?dialect=it`);
    await twins(`/v1/settlements/${DAY}/counters/${counterId}?format=csv`, finance, `/v1/settlements/${DAY}/counters/${counterId}?dialect=it`);
  });

  it('a dialect goes with CSV only, and only it', async () => {
    expectProblem(await c.api().get(`/v1/settlements/${DAY}/entities/PISA?format=pdf&dialect=it`).set(bearer(pisa)), 400, 'FORMAT');
    expectProblem(await c.api().get(`/v1/settlements/${DAY}/payments.csv?dialect=de`).set(bearer(pisa)), 400, 'FORMAT');
    expectProblem(await c.api().get(`/v1/settlements/${DAY}/entities.csv?dialect=en`).set(bearer(finance)), 400, 'FORMAT');
    expectProblem(await c.api().get(`/v1/rebilling/${MONTH}?format=json&dialect=it`).set(bearer(pisa)), 400, 'FORMAT');
  });
});

describe('rebilling', () => {
  it("the month's statement: the rate and amount in euros", async () => {
    const { italian } = await twins(`/v1/rebilling/${MONTH}?format=csv`, pisa, `/v1/rebilling/${MONTH}?dialect=it`);
    const line = italian.find((r) => r['Codice servizio'] === 'TARIPISA')!;
    expect(line.Mese).toBe(`${MONTH.slice(5)}/${MONTH.slice(0, 4)}`);
    expect(line['Commissione circuito unitaria']).toBe('0,25');
    expect(line).toMatchObject({ Pagamenti: '2', Annullati: '1', 'Netto (n.)': '1', Importo: '0,25' });
  });

  it('its lines carry the notice number, IUV, receipt number and time of each payment', async () => {
    const { italian } = await twins(`/v1/rebilling/${MONTH}/lines?entityId=PISA&format=csv`, finance);
    const bookings = italian.filter((r) => r.Tipo === 'pagamento');
    expect(bookings.map((r) => r['ID pagamento']).sort()).toEqual([paid[1]!.paymentId, paid[2]!.paymentId].sort());
    for (const row of bookings) {
      const p = paid.find((x) => x.paymentId === row['ID pagamento'])!;
      expect(unwrap(row['Numero avviso']!)).toBe(p.notice);
      expect(unwrap(row.IUV!)).toBe(p.notice!.slice(1));
      expect(row['Numero ricevuta']).toBe(p.receiptNumber);
      expect(row['Data e ora pagamento']).toBe(romeOf(p.bookedAt));
      expect(row['Commissione circuito']).toBe('0,25');
    }
    const json = await c.api().get(`/v1/rebilling/${MONTH}/lines?entityId=PISA`).set(bearer(finance));
    const item = (json.body.items as Record<string, unknown>[]).find((x) => x.paymentId === paid[1]!.paymentId && x.kind === 'booking')!;
    expect(item).toMatchObject({ noticeNumber: paid[1]!.notice, iuv: paid[1]!.notice!.slice(1), identifier: paid[1]!.identifier, receiptNumber: paid[1]!.receiptNumber, cancelledAt: null });
  });
});
