// Issue #5's acceptance on a generated business day: tens of thousands of payments of
// every service at every kind of counter, with reversals, and administrative refunds of
// the day before, booked through the payments use-cases under a fake clock; then the
// settlement, checked against an independent recomputation from the payments table,
// to the cent; sum to zero; idempotent re-run; approval; immutability; an adjustment
// after approval landing in the next window; the CSV, PDF, SEPA and FatturaPA outputs.
import { parse as parseCsv } from 'csv-parse/sync';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SettlementFigures } from '../../settlement/figures.js';
import { figuresHash, settle } from '../../settlement/run.js';
import { formatEuro } from '../../src/domain/money.js';
import { MOVEMENT_LABELS } from '../../settlement/reports.js';
import { RETAINED_LABEL, type SepaSummary } from '../../settlement/sepa.js';
import { bookDay, expectFiguresEqualRecomputation, pdfTexts, pdfValueAfter, recompute, startSwitch, type DayReport, type Switch } from './support.js';
import { itWithXsd, validate } from './xsd.js';

const PREVIOUS = '2026-11-19'; // Thursday
const DAY = '2026-11-20'; // Friday
const NEXT = '2026-11-23'; // Monday
const OWNER = 'PRATO';

let s: Switch;
let day: DayReport;
let previous: DayReport;
const adjustedEarly: string[] = [];
let finance: string;
let admin: string;

const api = () => request(s.h.app);
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const rowsOf = (sql: string, ...params: unknown[]) => s.db.all<Record<string, number | string>>(sql, ...params);
const one = (sql: string, ...params: unknown[]) => s.db.scalar(sql, ...params);

async function figuresOf(date: string): Promise<SettlementFigures> {
  const res = await api().get(`/v1/settlements/${date}`).set(bearer(finance));
  expect(res.status, res.text).toBe(200);
  return res.body.figures as SettlementFigures;
}

beforeAll(async () => {
  // Office codes of the rebilled entities (test codes of the IPA's shape, no real offices).
  s = await startSwitch({ positions: 8000, at: [PREVIOUS, '15:00:00'], env: { TSERVE_FATTURAPA_CODES: 'PISA=TSTPI1,PISTOIA=TSTPT1,PONTEDERA=TSTPO1' } });
  finance = s.h.userToken('finance');
  admin = s.h.userToken('admin');
  // The day before: a few hundred payments, some of which are refunded the next day.
  previous = await bookDay(s, { date: PREVIOUS, free: 400, positions: 200, reverseOneIn: 1e9, seed: 19 });
  day = await bookDay(s, { date: DAY, free: 13_000, reverseOneIn: 12 });
  // Administrative refunds during the day of payments of the day before: adjustments of this window.
  s.setRome(DAY, '18:00:00');
  for (const p of previous.booked.slice(0, 40)) {
    const res = await api().post(`/v1/payments/${p.publicId}/adjustment`).set(bearer(finance)).send({ reason: 'double payment at the counter' });
    expect(res.status, res.text).toBe(201);
    expect(res.body.adjustment.window).toBe(DAY);
    adjustedEarly.push(p.publicId);
  }
  s.setRome(NEXT, '00:10:00');
}, 600_000);

afterAll(async () => {
  await s?.close();
});

describe('the generated day', () => {
  it('has tens of thousands of payments of every service at every kind of counter, with reversals and adjustments', async () => {
    expect(day.booked.length).toBeGreaterThanOrEqual(20_000);
    expect(day.reversed.length).toBeGreaterThanOrEqual(1_000);
    expect(day.services.size).toBe(30);
    expect([...day.kinds].sort()).toEqual(['agenzia', 'supermercato', 'tabaccaio']);
    expect(await one('SELECT count(*) FROM payments WHERE settlement_date = ?', DAY)).toBe(day.booked.length);
    expect(await one("SELECT count(*) FROM payments WHERE reversal_settlement_date = ? AND reversal_kind = 'reversal'", DAY)).toBe(day.reversed.length);
    expect(await one("SELECT count(*) FROM payments WHERE reversal_settlement_date = ? AND reversal_kind = 'adjustment'", DAY)).toBe(40);
    // Reversals of every service and every counter kind.
    expect(await one('SELECT count(DISTINCT service_code) FROM payments WHERE reversal_settlement_date = ?', DAY)).toBeGreaterThanOrEqual(25);
    expect(await one('SELECT count(DISTINCT counter_kind) FROM payments WHERE reversal_settlement_date = ?', DAY)).toBe(3);
    // Netted and rebilled circuit fees both occur.
    expect(await one("SELECT count(*) FROM payments WHERE settlement_date = ? AND circuit_fee_mode = 'netted'", DAY)).toBeGreaterThan(100);
    expect(await one("SELECT count(*) FROM payments WHERE settlement_date = ? AND circuit_fee_mode = 'rebilled'", DAY)).toBeGreaterThan(100);
  });
});

describe('settlement', () => {
  let first: SettlementFigures;

  it('runs once the window is over (finance), refusing a window still open', async () => {
    const open = await api().post(`/v1/settlements/${NEXT}/run`).set(bearer(finance));
    expect(open.status, open.text).toBe(409);
    expect(open.body).toMatchObject({ code: 'WINDOW_OPEN', detail: expect.stringContaining(`the settlement window of ${NEXT} is still open`) });
    const prev = await api().post(`/v1/settlements/${PREVIOUS}/run`).set(bearer(admin));
    expect(prev.status, prev.text).toBe(201);
    const res = await api().post(`/v1/settlements/${DAY}/run`).set(bearer(finance));
    expect(res.status, res.text).toBe(201);
    expect(res.body.outcome).toBe('created');
    expect(res.body.window.status).toBe('draft');
    first = res.body.figures as SettlementFigures;
    expect(first.date).toBe(DAY);
  });

  it('equals, for every entity and counter statement and the totals, an independent recomputation from the payments table, to the cent', async () => {
    expectFiguresEqualRecomputation(first, await recompute(s.db, DAY), OWNER);
    expectFiguresEqualRecomputation(await figuresOf(PREVIOUS), await recompute(s.db, PREVIOUS), OWNER);
    // The refunds of the day before count in this window, not in theirs.
    const adjusted = first.entities.reduce((a, e) => a + e.adjustments, 0);
    const expected = (await rowsOf(`SELECT sum(amount_cents) AS s FROM payments WHERE public_id IN (${adjustedEarly.map(() => '?').join(',')})`, ...adjustedEarly))[0]!.s;
    expect(adjusted).toBe(expected);
    expect((await figuresOf(PREVIOUS)).totals.adjustments).toBe(0);
  });

  it('sums to zero: ledger movements, parties, money in and out', async () => {
    expect(await one('SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries WHERE settlement_date = ?', DAY)).toBe(0);
    // What the counters owe is what the entities and the operator get.
    const owed = first.counters.reduce((a, c) => a + c.owed, 0);
    const payouts = first.entities.reduce((a, e) => a + e.netPayout, 0);
    expect(owed).toBe(payouts + first.operator.fees);
    const sum = (ts: { amount: number }[]) => ts.reduce((a, t) => a + t.amount, 0);
    expect(sum(first.directDebits) + sum(first.receivables) + Math.max(0, -first.operator.fees)).toBe(sum(first.creditTransfers));
    expect(first.totals.collected - first.totals.commissions).toBe(first.totals.netPayouts + first.operator.fees);
    expect(first.totals.fees).toBe(first.totals.commissions + first.operator.fees + first.owner.royalties);
  });

  it('is idempotent: a re-run gives the same figures and hash and moves no money', async () => {
    const entries = await one('SELECT count(*) FROM ledger_entries');
    const before = (await s.h.rt.store.getWindow(DAY))!;
    const res = await api().post(`/v1/settlements/${DAY}/run`).set(bearer(finance));
    expect(res.status, res.text).toBe(200);
    expect(res.body.outcome).toBe('unchanged');
    expect(res.body.window.figuresHash).toBe(before.figuresHash);
    expect(JSON.stringify(res.body.figures)).toBe(before.figures);
    expect(figuresHash(before.figures!)).toBe(before.figuresHash);
    const direct = await settle(s.h.rt.store, DAY, { cutoff: s.h.config.settlementCutoff, operator: s.h.config.operator, now: s.clock.now });
    expect(direct.outcome).toBe('unchanged');
    expect(await one('SELECT count(*) FROM ledger_entries')).toBe(entries);
  });

  it('payments.csv has one row per payment and cancellation, and its columns sum to the figures', async () => {
    const res = await api().get(`/v1/settlements/${DAY}/payments.csv`).set(bearer(finance));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const rows = parseCsv(res.text, { columns: true }) as Record<string, string>[];
    expect(rows.length).toBe(day.booked.length + day.reversed.length + 40);
    const col = (k: string) => rows.reduce((a, r) => a + Number(r[k]), 0);
    expect(col('amount')).toBe(first.totals.gross - first.totals.reversals - first.totals.adjustments);
    expect(col('amount') + col('fee')).toBe(first.totals.collected);
    expect(col('commission')).toBe(first.totals.commissions);
    expect(col('operator')).toBe(first.operator.fees);
    expect(col('royalty')).toBe(first.owner.royalties);
    expect(new Set(rows.map((r) => r.kind))).toEqual(new Set(['booking', 'reversal', 'adjustment']));

    const entities = parseCsv((await api().get(`/v1/settlements/${DAY}/entities.csv`).set(bearer(finance))).text, { columns: true }) as Record<string, string>[];
    for (const e of first.entities) {
      const total = entities.find((r) => r.entityId === e.entityId && r.serviceCode === 'TOTAL')!;
      expect(Number(total.netPayout)).toBe(e.netPayout);
      expect(Number(total.gross)).toBe(e.gross);
    }
    const counters = parseCsv((await api().get(`/v1/settlements/${DAY}/counters.csv`).set(bearer(finance))).text, { columns: true }) as Record<string, string>[];
    expect(counters.length).toBe(first.counters.length);
    expect(counters.reduce((a, r) => a + Number(r.owed), 0)).toBe(first.counters.reduce((a, c) => a + c.owed, 0));
  });

  it('the finance PDF report covers every counter on several numbered A4 landscape pages', async () => {
    const res = await api().get(`/v1/settlements/${DAY}/report.pdf`).set(bearer(finance)).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/pdf');
    const pdf = res.body as Buffer;
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(first.counters.length).toBeGreaterThan(300);
    const pages = (pdf.toString('latin1').match(/\/Type \/Page\b/g) ?? []).length;
    expect(pages).toBeGreaterThan(5);
    // A4 landscape: 841.89 × 595.28 points.
    expect(pdf.toString('latin1')).toMatch(/\/MediaBox \[0 0 841\.89 595\.28\]/);
  });
});

describe('approval, immutability, SEPA files', () => {
  let approved: SettlementFigures;
  let hash: string;

  it('SEPA files of a draft are refused; only finance approves; approving again changes nothing', async () => {
    const early = await api().get(`/v1/settlements/${DAY}/sepa/pain.001.xml`).set(bearer(finance));
    expect(early.status, early.text).toBe(409);
    expect(early.body.code).toBe('WINDOW_NOT_APPROVED');
    expect((await api().post(`/v1/settlements/${DAY}/approve`).set(bearer(admin))).status).toBe(403);
    s.setRome(NEXT, '09:15:00');
    const res = await api().post(`/v1/settlements/${DAY}/approve`).set(bearer(finance));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ changed: true, window: { status: 'approved', approvedBy: 'finance:finance' } });
    const again = await api().post(`/v1/settlements/${DAY}/approve`).set(bearer(finance));
    expect(again.body).toMatchObject({ changed: false, window: { status: 'approved', approvedAt: res.body.window.approvedAt } });
    approved = await figuresOf(DAY);
    hash = res.body.window.figuresHash;
    expect(await one("SELECT count(*) FROM audit_log WHERE action = 'settlement.approve' AND target = ?", DAY)).toBe(1);
  });

  it('running an approved window answers the stored figures; a draft can no longer be saved over it', async () => {
    const res = await api().post(`/v1/settlements/${DAY}/run`).set(bearer(finance));
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe('approved');
    expect(res.body.figures).toEqual(approved);
    expect(await s.h.rt.store.saveDraft(DAY, '{}', 'x', s.clock.now)).toBe(false);
    expect((await s.h.rt.store.getWindow(DAY))!.figuresHash).toBe(hash);
  });

  const files: { ct?: string; dd?: string } = {};

  it('pain.001 and pain.008 carry every transfer, dated by TARGET2, and re-export byte for byte', async () => {
    const ct = await api().get(`/v1/settlements/${DAY}/sepa/pain.001.xml`).set(bearer(finance));
    expect(ct.status, ct.text).toBe(200);
    expect(ct.headers['content-type']).toMatch(/^application\/xml/);
    const dd = await api().get(`/v1/settlements/${DAY}/sepa/pain.008.xml`).set(bearer(finance));
    expect(dd.status, dd.text).toBe(200);
    files.ct = ct.text;
    files.dd = dd.text;

    // The owner's own payout stays on the settlement account (its IBAN): not a transfer.
    const credits = approved.creditTransfers.filter((t) => t.id !== OWNER);
    const euros = (c: number) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
    expect(ct.text).toContain(`<MsgId>TSERVE-CT-20261120</MsgId>`);
    expect(ct.text).toContain(`<NbOfTxs>${credits.length}</NbOfTxs>`);
    expect(ct.text).toContain(`<CtrlSum>${euros(credits.reduce((a, t) => a + t.amount, 0))}</CtrlSum>`);
    // Produced Monday 23 at 09:15 (approved then): credit transfers that day, direct debits one TARGET2 day later.
    expect(ct.text).toContain('<ReqdExctnDt>\n        <Dt>2026-11-23</Dt>');
    expect(dd.text).toContain('<ReqdColltnDt>2026-11-24</ReqdColltnDt>');
    expect(ct.text).toContain('<CreDtTm>2026-11-23T09:15:00+01:00</CreDtTm>');
    expect((ct.text.match(/<CdtTrfTxInf>/g) ?? []).length).toBe(credits.length);
    expect(dd.text).toContain(`<NbOfTxs>${approved.directDebits.length}</NbOfTxs>`);
    expect(dd.text).toContain(`<CtrlSum>${euros(approved.directDebits.reduce((a, t) => a + t.amount, 0))}</CtrlSum>`);
    expect(dd.text).toContain('<SeqTp>RCUR</SeqTp>');
    expect(dd.text).toContain('<Cd>CORE</Cd>');
    expect(dd.text).toContain('<Id>IT66ZZZA1B2C3D4E5F6G7H8</Id>');
    for (const d of approved.directDebits.slice(0, 20)) expect(dd.text).toContain(`<MndtId>${d.mandateRef}</MndtId>`);
    expect((dd.text.match(/<DrctDbtTxInf>/g) ?? []).length).toBe(approved.directDebits.length);

    s.setRome(NEXT, '11:00:00');
    const again = await api().get(`/v1/settlements/${DAY}/sepa/pain.001.xml`).set(bearer(finance));
    expect(again.text).toBe(ct.text);
    expect((await api().get(`/v1/settlements/${DAY}/sepa/pain.008.xml`).set(bearer(finance))).text).toBe(dd.text);
    const w = (await s.h.rt.store.getWindow(DAY))!;
    expect(w.status).toBe('exported');
    expect(w.figuresHash).toBe(hash);
  });

  itWithXsd('pain.001 and pain.008 as served validate against the XSDs', async () => {
    expect(files.ct && files.dd, 'the files of the test before').toBeTruthy();
    expect(await validate(files.ct!, 'pain.001')).toEqual([]);
    expect(await validate(files.ct!, 'pain.001-epc')).toEqual([]);
    expect(await validate(files.dd!, 'pain.008')).toEqual([]);
  });

  it("the report's pain.001 and pain.008 totals are the files' CtrlSum; the owner's retained payout is its own line (JSON and PDF)", async () => {
    expect(files.ct && files.dd, 'the files of the test before').toBeTruthy();
    const ctrlSum = (xml: string) => Math.round(Number(/<GrpHdr>[\s\S]*?<CtrlSum>([\d.]+)<\/CtrlSum>/.exec(xml)![1]) * 100);
    const ct = ctrlSum(files.ct!);
    const dd = ctrlSum(files.dd!);
    const owner = approved.creditTransfers.find((t) => t.id === OWNER)!;
    expect(owner.amount).toBeGreaterThan(0);

    const res = await api().get(`/v1/settlements/${DAY}`).set(bearer(finance));
    const sepa = res.body.sepa as SepaSummary;
    expect(sepa.pain001.ctrlSum).toBe(ct);
    expect(sepa.pain008.ctrlSum).toBe(dd);
    expect(sepa.retained.label).toBe(RETAINED_LABEL);
    expect(sepa.retained.total).toBe(approved.totals.creditTransfers - ct);
    expect(sepa.retained.total).toBe(owner.amount);
    expect(sepa.retained.transfers.map((t) => t.id)).toEqual([OWNER]);
    // An entity's view has no SEPA summary.
    expect((await api().get(`/v1/settlements/${DAY}`).set(bearer(s.h.userToken('ente-pisa')))).body.sepa).toBeUndefined();

    const pdf = await api().get(`/v1/settlements/${DAY}/report.pdf`).set(bearer(finance)).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    const texts = pdfTexts(pdf.body as Buffer);
    expect(pdfValueAfter(texts, MOVEMENT_LABELS.pain001)).toBe(formatEuro(ct));
    expect(pdfValueAfter(texts, MOVEMENT_LABELS.retained)).toBe(formatEuro(approved.totals.creditTransfers - ct));
    expect(pdfValueAfter(texts, MOVEMENT_LABELS.pain008)).toBe(formatEuro(dd));
  });

  it('an adjustment after approval lands in the next window; the approved window does not change', async () => {
    s.setRome(NEXT, '10:00:00');
    const victims = day.booked.filter((p) => !day.reversed.some((r) => r.id === p.id)).slice(0, 25);
    for (const p of victims) {
      const res = await api().post(`/v1/payments/${p.publicId}/adjustment`).set(bearer(finance)).send({ reason: 'refund ordered by the entity' });
      expect(res.status, res.text).toBe(201);
      expect(res.body.adjustment).toMatchObject({ window: NEXT, originalWindow: DAY, actor: 'finance:finance' });
      expect(res.body.status).toBe('REVERSED');
    }
    const twice = await api().post(`/v1/payments/${victims[0]!.publicId}/adjustment`).set(bearer(finance)).send({ reason: 'again' });
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe('ALREADY_REVERSED');
    expect(await one("SELECT count(*) FROM audit_log WHERE action = 'payment.adjustment'")).toBe(40 + 25);

    // The approved window is as it was.
    expect(await figuresOf(DAY)).toEqual(approved);
    expect((await s.h.rt.store.getWindow(DAY))!.figuresHash).toBe(hash);
    const rerun = await settle(s.h.rt.store, DAY, { cutoff: s.h.config.settlementCutoff, operator: s.h.config.operator, now: s.clock.now });
    expect(rerun.outcome).toBe('approved');
    expect(rerun.figures).toEqual(approved);

    // The next window carries the refunds, and equals its recomputation.
    s.setRome('2026-11-24', '00:10:00');
    const res = await api().post(`/v1/settlements/${NEXT}/run`).set(bearer(finance));
    expect(res.status, res.text).toBe(201);
    const next = res.body.figures as SettlementFigures;
    expectFiguresEqualRecomputation(next, await recompute(s.db, NEXT), OWNER);
    const refunded = victims.reduce((a, p) => a + p.amountCents, 0);
    expect(next.totals.adjustments).toBe(refunded);
    expect(next.totals.payments).toBe(0);
    // Counters are owed the refunds back (cash they hand back to the citizens): credit transfers to them.
    expect(next.counters.every((c) => c.owed <= 0)).toBe(true);
    expect(next.creditTransfers.some((t) => t.party === 'counter')).toBe(true);
  });

  it('a payment still in its open window is not refunded administratively: its terminal reverses it', async () => {
    s.setRome('2026-11-24', '10:00:00');
    const t = s.h.credentials.terminals[0]!;
    const p = await s.h.payments.pay({ terminalId: t.terminalId, counterId: t.counterId }, { service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 }, null, 'json');
    const res = await api().post(`/v1/payments/${p.payment.publicId}/adjustment`).set(bearer(finance)).send({ reason: 'too early' });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('CONFLICT');
  });
});

describe('rebilling of circuit fees', () => {
  const REBILLED = ['PISA', 'PISTOIA', 'PONTEDERA'];

  it("an entity's month equals the payments table: count × rate per service, net of cancellations", async () => {
    s.setRome('2026-11-30', '12:00:00');
    for (const entityId of REBILLED) {
      const res = await api().get('/v1/rebilling/2026-11').query({ entityId }).set(bearer(finance));
      expect(res.status, res.text).toBe(200);
      const expected = await rowsOf(
        `SELECT service_code AS "serviceCode", circuit_fee_cents AS rate,
           sum(CASE WHEN settlement_date BETWEEN '2026-11-01' AND '2026-11-30' THEN 1 ELSE 0 END) AS count,
           sum(CASE WHEN reversal_settlement_date BETWEEN '2026-11-01' AND '2026-11-30' THEN 1 ELSE 0 END) AS cancelled
         FROM payments WHERE entity_id = ? AND circuit_fee_mode = 'rebilled' GROUP BY 1, 2 ORDER BY 1, 2`,
        entityId,
      );
      expect(expected.length).toBeGreaterThan(0);
      expect(res.body.lines.map((l: Record<string, unknown>) => ({ serviceCode: l.serviceCode, rate: l.rate, count: l.count, cancelled: l.cancelled }))).toEqual(expected);
      const amount = expected.reduce((a, r) => a + ((r.count as number) - (r.cancelled as number)) * (r.rate as number), 0);
      expect(res.body.totals.amount).toBe(amount);
      expect(res.body.mode).toBe('rebilled');
      expect(res.body.final).toBe(false);
      // The month is not over: no invoice yet.
      const early = await api().get('/v1/rebilling/2026-11/invoice.xml').query({ entityId }).set(bearer(finance));
      expect(early.status).toBe(409);
      expect(early.body.code).toBe('MONTH_NOT_OVER');
    }
  });

  it('lines page with a cursor through every rebilled payment, in JSON and CSV', async () => {
    const token = s.h.userToken('ente-pisa');
    const seen = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await api().get('/v1/rebilling/2026-11/lines').query({ limit: 100, ...(cursor ? { cursor } : {}) }).set(bearer(token));
      expect(res.status, res.text).toBe(200);
      for (const l of res.body.items) {
        expect(l.entityId).toBe('PISA');
        expect(l.circuitFeeMode).toBe('rebilled');
        seen.add(`${l.kind}/${l.paymentId}`);
      }
      cursor = res.body.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    const expected = await one(
      `SELECT (SELECT count(*) FROM payments WHERE entity_id = 'PISA' AND circuit_fee_mode = 'rebilled' AND settlement_date BETWEEN '2026-11-01' AND '2026-11-30')
            + (SELECT count(*) FROM payments WHERE entity_id = 'PISA' AND circuit_fee_mode = 'rebilled' AND reversal_settlement_date BETWEEN '2026-11-01' AND '2026-11-30')`,
    );
    expect(seen.size).toBe(expected);
    expect(pages).toBeGreaterThan(1);
    const csv = await api().get('/v1/rebilling/2026-11/lines').query({ limit: 50, format: 'csv' }).set(bearer(token));
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['x-next-cursor']).toMatch(/^[bc]:\d+$/);
    expect((parseCsv(csv.text, { columns: true }) as unknown[]).length).toBe(50);
    const statement = await api().get('/v1/rebilling/2026-11').query({ format: 'csv' }).set(bearer(token));
    const rows = parseCsv(statement.text, { columns: true }) as Record<string, string>[];
    expect(rows.at(-1)!.serviceCode).toBe('TOTAL');
  });

  const invoices: string[] = [];

  it("the month's FatturaPA invoice totals the statement, with the entity's configured office code", async () => {
    s.setRome('2026-12-01', '10:00:00');
    for (const entityId of REBILLED) {
      const st = await api().get('/v1/rebilling/2026-11').query({ entityId }).set(bearer(finance));
      expect(st.body.final).toBe(true);
      const res = await api().get('/v1/rebilling/2026-11/invoice.xml').query({ entityId }).set(bearer(finance));
      expect(res.status, res.text).toBe(200);
      invoices.push(res.text);
      expect(res.text).toContain(`<CodiceDestinatario>${{ PISA: 'TSTPI1', PISTOIA: 'TSTPT1', PONTEDERA: 'TSTPO1' }[entityId]}</CodiceDestinatario>`);
      const total = st.body.totals.amount as number;
      expect(res.text).toContain(`<ImportoTotaleDocumento>${Math.floor(total / 100)}.${String(total % 100).padStart(2, '0')}</ImportoTotaleDocumento>`);
      expect(res.text).toContain(`<Numero>TS-202611-${entityId}</Numero>`);
      expect(res.text).toContain('<FormatoTrasmissione>FPA12</FormatoTrasmissione>');
      expect(res.text).toContain('<Natura>N2.2</Natura>');
      // Issued again: the same document.
      expect((await api().get('/v1/rebilling/2026-11/invoice.xml').query({ entityId }).set(bearer(finance))).text).toBe(res.text);
    }
    // An entity gets its own invoice, and only its own.
    const own = await api().get('/v1/rebilling/2026-11/invoice.xml').set(bearer(s.h.userToken('ente-pistoia')));
    expect(own.status).toBe(200);
    expect(own.text).toContain('<CodiceFiscale>00108690470</CodiceFiscale>');
    expect((await api().get('/v1/rebilling/2026-11/invoice.xml').query({ entityId: 'PISA' }).set(bearer(s.h.userToken('ente-pistoia')))).status).toBe(403);
    // A netted entity has nothing to invoice.
    expect((await api().get('/v1/rebilling/2026-11/invoice.xml').query({ entityId: 'RTOSCANA' }).set(bearer(finance))).status).toBe(404);
  });

  itWithXsd("the month's FatturaPA invoices validate against the XSD", async () => {
    expect(invoices.length, 'the invoices of the test before').toBe(REBILLED.length);
    for (const xml of invoices) expect(await validate(xml, 'fatturapa')).toEqual([]);
  });
});
