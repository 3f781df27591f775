// Entity API (domain.md §6): publish debt positions one by one or in bulk (JSON or
// CSV, all or nothing with a per-row report), cancel them, list them with a cursor;
// an entity acts only for itself.
import './quiet.js'; // before anything that loads src/log.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/domain/calendar.js';
import { CSV_COLUMNS } from '../../src/payments/positions.js';
import { bearer, corruptCheckDigits, expectProblem, idemKey, noticeFactory, pluck, pluckAll, positionCount, setup, today, type Ctx } from './support.js';

let c: Ctx;
let prato: Record<string, string>;
let pisa: Record<string, string>;
let admin: Record<string, string>;
let term: Record<string, string>;
const pratoNotice = noticeFactory('01', 1); // PRATO's segregation code
const pisaNotice = noticeFactory('11', 2); // PISA's
const CF = 'RSSMRA85T10A562S';
let refSeq = 0;
const ref = (p = 'T') => `${p}-${++refSeq}`;

beforeAll(async () => {
  c = await setup();
  prato = bearer(c.h.userToken('ente-prato'));
  pisa = bearer(c.h.userToken('ente-pisa'));
  admin = bearer(c.h.userToken('admin'));
  term = bearer(c.h.terminalToken('T0001'));
});
afterAll(async () => {
  await c?.close();
});

function tari(notice = pratoNotice(), amount = 12_000, extra: Record<string, unknown> = {}) {
  return {
    service: 'TARI',
    externalRef: ref('TARI'),
    debtorFiscalCode: CF,
    debtorName: 'Mario Rossi',
    description: 'TARI 2026 - test',
    options: [{ noticeNumber: notice, amount, dueDate: '2026-12-31', description: 'TARI 2026 - rata unica' }],
    ...extra,
  };
}

const verify = (notice: string, service = 'TARI') => c.api().post('/v1/verify').set(term).send({ service, identifier: notice });
const create = (auth: Record<string, string>, body: unknown) => c.api().post('/v1/debt-positions').set(auth).send(body as object);
const bulk = (auth: Record<string, string>, body: unknown) => c.api().post('/v1/debt-positions/bulk').set(auth).send(body as object);

describe('POST /v1/debt-positions', () => {
  it('201 with the position; its notice is payable at once through /v1/verify and /v1/payments', async () => {
    const body = tari(undefined, 13_579);
    const notice = body.options[0]!.noticeNumber;
    const res = await create(prato, body);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      entityId: 'PRATO',
      service: 'TARI',
      externalRef: body.externalRef,
      debtorFiscalCode: CF,
      status: 'VALID',
      options: [{ noticeNumber: notice, amount: 13_579, dueDate: '2026-12-31', kind: 'single', paid: false }],
    });
    expect(Number.isInteger(res.body.id)).toBe(true);
    const v = await verify(notice);
    expect(v.status, v.text).toBe(200);
    expect(v.body).toMatchObject({ amountDue: 13_579, dueDate: '2026-12-31', status: 'VALID', entity: 'Comune di Prato' });
    const paid = await c.api().post('/v1/payments').set(term).set('Idempotency-Key', idemKey()).send({ service: 'TARI', identifier: notice, amount: 13_579 });
    expect(paid.status, paid.text).toBe(201);
    const got = await c.api().get(`/v1/debt-positions/${res.body.id as number}`).set(prato);
    expect(got.body.status).toBe('PAID');
    expect(got.body.options[0].paid).toBe(true);
  });

  it('accepts a notice as printed (groups of four) and stores it without spaces', async () => {
    const n = pratoNotice();
    const res = await create(prato, tari(n.replace(/(\d{4})(?=\d)/g, '$1 ')));
    expect(res.status, res.text).toBe(201);
    expect(res.body.options[0].noticeNumber).toBe(n);
    expect((await verify(n)).status).toBe(200);
  });

  it('instalments and a multa with its rule: amounts due by the rule', async () => {
    const [single, r1, r2] = [pratoNotice(), pratoNotice(), pratoNotice()];
    const inst = await create(prato, {
      ...tari(single, 30_000),
      options: [
        { noticeNumber: single, amount: 30_000, dueDate: '2026-12-31', description: 'unica' },
        { noticeNumber: r1, kind: 'instalment', instalmentNo: 1, amount: 15_000, dueDate: '2026-12-31', description: 'rata 1' },
        { noticeNumber: r2, kind: 'instalment', instalmentNo: 2, amount: 15_000, dueDate: '2027-03-31', description: 'rata 2' },
      ],
    });
    expect(inst.status, inst.text).toBe(201);
    expect(inst.body.options).toHaveLength(3);
    expect((await verify(r2)).body.amountDue).toBe(15_000);

    const m = pratoNotice();
    const notifiedOn = addDays(today(), -30);
    const multa = await create(prato, {
      service: 'MULTA',
      externalRef: ref('V'),
      debtorFiscalCode: CF,
      description: 'Verbale di prova',
      options: [
        {
          noticeNumber: m,
          lookupKey: 'VT0001/AB123CD',
          amount: 5_200,
          dueDate: '2027-01-31',
          description: 'Verbale di prova',
          ruleParams: { rule: 'multa', minCents: 4_200, maxCents: 17_300, costsCents: 1_000, notifiedOn },
        },
      ],
    });
    expect(multa.status, multa.text).toBe(201);
    const v = await verify(m, 'MULTA');
    expect(v.status, v.text).toBe(200);
    expect(v.body.amountDue).toBe(4_200 + 1_000);
    const byKey = await c.api().post('/v1/verify').set(term).send({ service: 'MULTA', identifier: 'vt0001/ab123cd' });
    expect(byKey.status, byKey.text).toBe(200);
    expect(byKey.body.amountDue).toBe(5_200);
  });

  it('a position whose validity has ended answers NOTICE_EXPIRED', async () => {
    const n = pratoNotice();
    const res = await create(prato, tari(n, 5_000, { validUntil: '2020-01-01' }));
    expect(res.status, res.text).toBe(201);
    expectProblem(await verify(n), 409, 'NOTICE_EXPIRED');
  });

  it('an invalid notice number → 422 INVALID_NOTICE_NUMBER with the errors, nothing created', async () => {
    const before = await positionCount(c.db);
    const res = await create(prato, tari(corruptCheckDigits(pratoNotice())));
    expectProblem(res, 422, 'INVALID_NOTICE_NUMBER');
    expect(Array.isArray(res.body.errors)).toBe(true);
    expect(res.body.errors[0]).toMatchObject({ code: 'INVALID_NOTICE_NUMBER' });
    // Aux 3 with another entity's segregation code.
    expectProblem(await create(prato, tari(pisaNotice())), 422, 'INVALID_NOTICE_NUMBER');
    expectProblem(await create(prato, tari('12345')), 400, 'FORMAT');
    expect(await positionCount(c.db)).toBe(before);
  });

  it('a duplicate notice or externalRef → 409 CONFLICT', async () => {
    const n = pratoNotice();
    const first = tari(n);
    expect((await create(prato, first)).status).toBe(201);
    const before = await positionCount(c.db);
    expectProblem(await create(prato, tari(n)), 409, 'CONFLICT');
    expectProblem(await create(prato, { ...tari(), externalRef: first.externalRef }), 409, 'CONFLICT');
    // A seeded notice too.
    const seeded = (await pluck<string>(c.db, "SELECT notice_number FROM payment_options o JOIN debt_positions p ON p.id = o.position_id WHERE p.entity_id = 'PRATO' ORDER BY o.id LIMIT 1"))!;
    expectProblem(await create(prato, tari(seeded)), 409, 'CONFLICT');
    expect(await positionCount(c.db)).toBe(before);
  });

  it('refuses services that are not looked up, unknown services, missing rule parameters or lookup keys', async () => {
    const before = await positionCount(c.db);
    expectProblem(await create(prato, { ...tari(), service: 'CERTIFICATI' }), 400, 'UNSUPPORTED');
    expectProblem(await create(prato, { ...tari(), service: 'NOPE' }), 404, 'SERVICE_UNKNOWN');
    expectProblem(await create(prato, { ...tari(), service: 'MULTA' }), 400, 'FORMAT');
    expectProblem(await create(prato, { ...tari(), service: 'LAMPADE' }), 400, 'FORMAT');
    expectProblem(await create(prato, { ...tari(), debtorFiscalCode: 'not a cf!!!' }), 422, 'INVALID_FISCAL_CODE');
    expectProblem(await create(prato, { ...tari(), options: [] }), 400, 'FORMAT');
    expectProblem(await create(prato, { ...tari(), surprise: 1 }), 400, 'FORMAT');
    expect(await positionCount(c.db)).toBe(before);
  });

  it('ente-pisa cannot create for PRATO services, nor name PRATO as its entity', async () => {
    const before = await positionCount(c.db);
    expectProblem(await create(pisa, tari()), 403, 'FORBIDDEN');
    expectProblem(await create(pisa, { ...tari(pisaNotice()), service: 'TARIPISA', entityId: 'PRATO' }), 403, 'FORBIDDEN');
    expect(await positionCount(c.db)).toBe(before);
    // Its own service is fine.
    const own = await create(pisa, { ...tari(pisaNotice()), service: 'TARIPISA' });
    expect(own.status, own.text).toBe(201);
    expect(own.body.entityId).toBe('PISA');
  });

  it('impossible calendar dates (30 February) → 400 FORMAT, never a position that breaks verify later', async () => {
    const before = await positionCount(c.db);
    expectProblem(await create(prato, { ...tari(), options: [{ noticeNumber: pratoNotice(), amount: 100, dueDate: '2026-02-30', description: 'x' }] }), 400, 'FORMAT');
    expectProblem(await create(prato, tari(undefined, 100, { validUntil: '2026-13-01' })), 400, 'FORMAT');
    const m = pratoNotice();
    const multa = await create(prato, {
      service: 'MULTA',
      externalRef: ref('V'),
      debtorFiscalCode: CF,
      description: 'Verbale con data impossibile',
      options: [
        {
          noticeNumber: m,
          lookupKey: 'VT0002/AB123CD',
          amount: 5_200,
          dueDate: '2027-01-31',
          description: 'Verbale',
          ruleParams: { rule: 'multa', minCents: 4_200, maxCents: 17_300, costsCents: 1_000, notifiedOn: '2026-02-30' },
        },
      ],
    });
    if (multa.status === 201) {
      // Created anyway: the terminal must at least not get a 500 for it.
      const v = await verify(m, 'MULTA');
      expect(v.status, v.text).toBeLessThan(500);
    }
    expectProblem(multa, 400, 'FORMAT');
    const bollo = await create(admin, {
      entityId: 'RTOSCANA',
      service: 'BOLLO',
      externalRef: ref('TA'),
      debtorFiscalCode: CF,
      description: 'Bollo con scadenza impossibile',
      options: [
        { noticeNumber: noticeFactory('10', 3)(), lookupKey: 'AB123CD/1', amount: 20_000, dueDate: '2027-01-31', description: 'Bollo', ruleParams: { rule: 'bollo', dueDate: '2025-02-31' } },
      ],
    });
    expectProblem(bollo, 400, 'FORMAT');
    expect(await positionCount(c.db)).toBe(before);
  });

  it('admin must name the entity', async () => {
    expectProblem(await create(admin, tari()), 400, 'FORMAT');
    const res = await create(admin, { ...tari(), entityId: 'PRATO' });
    expect(res.status, res.text).toBe(201);
    expect(res.body.entityId).toBe('PRATO');
  });
});

describe('POST /v1/debt-positions/bulk (JSON)', () => {
  it('2,000 positions → 201 created 2000, all payable', async () => {
    const before = await positionCount(c.db, 'PRATO');
    const rows = Array.from({ length: 2000 }, (_, i) => tari(pratoNotice(), 1_000 + i));
    const res = await bulk(prato, rows);
    expect(res.status, res.text.slice(0, 500)).toBe(201);
    expect(res.body.created).toBe(2000);
    expect(res.body.ids).toHaveLength(2000);
    expect(new Set(res.body.ids).size).toBe(2000);
    expect(await positionCount(c.db, 'PRATO')).toBe(before + 2000);
    for (const i of [0, 999, 1999]) {
      const v = await verify(rows[i]!.options[0]!.noticeNumber);
      expect(v.status).toBe(200);
      expect(v.body.amountDue).toBe(1_000 + i);
    }
  });

  it('2,000 TARI positions of single payment + three instalments each (over 1 MB of JSON) → 201', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => {
      const amount = 30_000 + i;
      const rata = Math.floor(amount / 3);
      return {
        service: 'TARI',
        externalRef: ref('TARI4'),
        debtorFiscalCode: CF,
        debtorName: 'Maria Bianchi',
        description: `TARI 2027 - utenza domestica Via del Corso ${i + 1}, Prato`,
        options: [
          { noticeNumber: pratoNotice(), amount, dueDate: '2027-05-31', description: 'TARI 2027 - rata unica' },
          ...[1, 2, 3].map((n) => ({
            noticeNumber: pratoNotice(),
            kind: 'instalment',
            instalmentNo: n,
            amount: n < 3 ? rata : amount - 2 * rata,
            dueDate: ['2027-05-31', '2027-07-31', '2027-09-30'][n - 1],
            description: `TARI 2027 - rata ${n} di 3`,
          })),
        ],
      };
    });
    expect(JSON.stringify(rows).length).toBeGreaterThan(1_048_576);
    const res = await bulk(prato, rows);
    expect(res.status, res.text.slice(0, 300)).toBe(201);
    expect(res.body.created).toBe(2000);
  });

  it('one bad row out of 1,000 → 422 naming that row, nothing created', async () => {
    const before = await positionCount(c.db);
    const rows = Array.from({ length: 1000 }, () => tari(pratoNotice()));
    rows[537]!.options[0]!.noticeNumber = corruptCheckDigits(rows[537]!.options[0]!.noticeNumber);
    const res = await bulk(prato, rows);
    expectProblem(res, 422, 'ROWS_INVALID');
    expect(res.body.created).toBe(0);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0]).toMatchObject({ row: 537, code: 'INVALID_NOTICE_NUMBER' });
    expect(res.body.detail).toMatch(/^1 row error: .*nothing was created \(row 537: INVALID_NOTICE_NUMBER /);
    expect(await positionCount(c.db)).toBe(before);
    expectProblem(await verify(rows[0]!.options[0]!.noticeNumber), 404, 'NOTICE_UNKNOWN');
  });

  it('one row failing the schema (negative amount) out of 1,000 → 422 naming that row, nothing created', async () => {
    const before = await positionCount(c.db);
    const rows = Array.from({ length: 1000 }, () => tari(pratoNotice()));
    rows[42]!.options[0]!.amount = -5;
    const res = await bulk(prato, rows);
    expectProblem(res, 422, 'ROWS_INVALID');
    expect(res.body.created).toBe(0);
    expect(res.body.errors.map((e: { row: number }) => e.row)).toEqual([42]);
    expect(res.body.errors[0].code).toBe('FORMAT');
    expect(await positionCount(c.db)).toBe(before);
  });

  it('a large upload is checked in slices: rows failing the schema in different slices are named by their place in the whole array', async () => {
    const before = await positionCount(c.db);
    const rows = Array.from({ length: 2500 }, () => tari(pratoNotice()));
    rows[42]!.options[0]!.amount = -5;
    rows[2042]!.options[0]!.amount = 1.5;
    const res = await bulk(prato, rows);
    expectProblem(res, 422, 'ROWS_INVALID');
    expect(res.body.created).toBe(0);
    expect(res.body.errors.map((e: { row: number }) => e.row)).toEqual([42, 2042]);
    expect(await positionCount(c.db)).toBe(before);
  });

  it('a row whose notice already exists (or repeats in the batch) → 409 naming the rows, nothing created', async () => {
    const before = await positionCount(c.db);
    const rows = Array.from({ length: 1000 }, () => tari(pratoNotice()));
    const seeded = (await pluck<string>(c.db, "SELECT notice_number FROM payment_options o JOIN debt_positions p ON p.id = o.position_id WHERE p.entity_id = 'PRATO' ORDER BY o.id LIMIT 1 OFFSET 10"))!;
    rows[100]!.options[0]!.noticeNumber = seeded;
    rows[900]!.options[0]!.noticeNumber = rows[899]!.options[0]!.noticeNumber;
    const res = await bulk(prato, rows);
    expectProblem(res, 409, 'CONFLICT');
    expect(res.body.created).toBe(0);
    expect(res.body.errors.map((e: { row: number }) => e.row).sort((a: number, b: number) => a - b)).toEqual([100, 900]);
    expect(res.body.errors.every((e: { code: string }) => e.code === 'CONFLICT')).toBe(true);
    expect(await positionCount(c.db)).toBe(before);
  });

  it('an import written in slices (2,500 rows) with conflicts in its last slice → 409 naming them, nothing created, nothing left as a draft', async () => {
    const before = await positionCount(c.db);
    const drafts = () => c.db.scalar("SELECT count(*) FROM debt_positions WHERE status = 'DRAFT'");
    const draftsBefore = await drafts();
    const rows = Array.from({ length: 2500 }, () => tari(pratoNotice()));
    const seeded = (await pluck<string>(c.db, "SELECT notice_number FROM payment_options o JOIN debt_positions p ON p.id = o.position_id WHERE p.entity_id = 'PRATO' ORDER BY o.id LIMIT 1 OFFSET 20"))!;
    rows[2400]!.options[0]!.noticeNumber = seeded;
    rows[2499]!.externalRef = rows[2498]!.externalRef;
    const res = await bulk(prato, rows);
    expectProblem(res, 409, 'CONFLICT');
    expect(res.body.created).toBe(0);
    expect(res.body.errors.map((e: { row: number }) => e.row).sort((a: number, b: number) => a - b)).toEqual([2400, 2499]);
    expect(await positionCount(c.db)).toBe(before);
    expect(await drafts()).toBe(draftsBefore);
    expectProblem(await verify(rows[0]!.options[0]!.noticeNumber), 404, 'NOTICE_UNKNOWN');
    // The same import without the conflicts goes through, every position published (none left as DRAFT).
    rows[2400]!.options[0]!.noticeNumber = pratoNotice();
    rows[2499]!.externalRef = ref('TARI');
    const ok = await bulk(prato, rows);
    expect(ok.status, ok.text.slice(0, 300)).toBe(201);
    expect(ok.body.created).toBe(2500);
    expect(await positionCount(c.db)).toBe(before + 2500);
    expect(await drafts()).toBe(draftsBefore);
    expect((await verify(rows[2499]!.options[0]!.noticeNumber)).status).toBe(200);
  });

  it('drafts a crash left in the middle of a large upload are taken back at the next start; nothing else is touched', async () => {
    const before = await positionCount(c.db);
    const inserted = await c.db.get<{ id: number }>(
      "INSERT INTO debt_positions (entity_id, service_code, external_ref, debtor_cf, description, status, created_at) VALUES ('PRATO', 'TARI', ?, ?, 'x', 'DRAFT', 0) RETURNING id",
      ref('CRASH'),
      CF,
    );
    const id = Number(inserted!.id);
    const notice = pratoNotice();
    await c.db.run("INSERT INTO payment_options (position_id, notice_number, kind, amount_cents, due_date, description) VALUES (?, ?, 'single', 100, '2027-01-31', 'x')", id, notice);
    expectProblem(await verify(notice), 404, 'NOTICE_UNKNOWN'); // a draft is never payable
    expect(await c.h.rt.store.deleteStaleDrafts()).toBe(1);
    expect(await positionCount(c.db)).toBe(before);
    expect(await c.db.scalar('SELECT count(*) FROM payment_options WHERE notice_number = ?', notice)).toBe(0);
    expect(await c.h.rt.store.deleteStaleDrafts()).toBe(0);
  });

  it('ente-pisa cannot bulk-create for PRATO services: refused, nothing created', async () => {
    const before = await positionCount(c.db);
    const res = await bulk(pisa, [{ ...tari(pisaNotice()), service: 'TARIPISA' }, tari()]);
    expect(res.status).toBeGreaterThanOrEqual(403);
    expect(res.status).toBeLessThan(500);
    if (res.status === 422) expect(res.body.errors.some((e: { row: number; code: string }) => e.row === 1 && e.code === 'FORBIDDEN')).toBe(true);
    expect(await positionCount(c.db)).toBe(before);
  });

  it('an empty array or not an array → 4xx, nothing created', async () => {
    const before = await positionCount(c.db);
    expectProblem(await bulk(prato, []), 422, 'ROWS_INVALID');
    expect((await bulk(prato, { positions: [] })).status).toBeGreaterThanOrEqual(400);
    expect(await positionCount(c.db)).toBe(before);
  });
});

describe('POST /v1/debt-positions/bulk (CSV)', () => {
  const csvLine = (fields: Record<string, string | number | undefined>) =>
    CSV_COLUMNS.map((col) => {
      const v = fields[col];
      if (v === undefined) return '';
      const s = String(v);
      return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    }).join(',');
  const csv = (rows: Record<string, string | number | undefined>[]) => [CSV_COLUMNS.join(','), ...rows.map(csvLine)].join('\n') + '\n';
  const upload = (auth: Record<string, string>, text: string) =>
    c.api().post('/v1/debt-positions/bulk').set(auth).set('Content-Type', 'text/csv').send(text);

  const row = (externalRef: string, notice: string, amount: number, extra: Record<string, string | number> = {}) => ({
    externalRef,
    service: 'TARI',
    debtorFiscalCode: CF,
    debtorName: 'Rossi, Mario',
    description: 'TARI 2026 via CSV',
    noticeNumber: notice,
    amount,
    dueDate: '2026-12-31',
    ...extra,
  });

  it('a few thousand rows (positions with one or three options) → 201', async () => {
    const before = await positionCount(c.db, 'PRATO');
    const rows: Record<string, string | number>[] = [];
    for (let i = 0; i < 2400; i++) rows.push(row(ref('CSV'), pratoNotice(), 2_000 + i));
    const instalmentNotices: string[] = [];
    for (let i = 0; i < 200; i++) {
      const r = ref('CSVI');
      rows.push(row(r, pratoNotice(), 9_000, { kind: 'single', optionDescription: 'rata unica' }));
      for (let n = 1; n <= 3; n++) {
        const notice = pratoNotice();
        instalmentNotices.push(notice);
        rows.push(row(r, notice, 3_000, { kind: 'instalment', instalmentNo: n, optionDescription: `rata ${n}` }));
      }
    }
    expect(rows.length).toBe(3200);
    const res = await upload(prato, csv(rows));
    expect(res.status, res.text.slice(0, 500)).toBe(201);
    expect(res.body.created).toBe(2600);
    expect(await positionCount(c.db, 'PRATO')).toBe(before + 2600);
    const v = await verify(instalmentNotices[5]!);
    expect(v.status, v.text).toBe(200);
    expect(v.body.amountDue).toBe(3_000);
    const pos = await c.api().get(`/v1/debt-positions/${res.body.ids[2400] as number}`).set(prato);
    expect(pos.body.options).toHaveLength(4);
    expect(pos.body.debtorName).toBe('Rossi, Mario');
  });

  it('a bad row is reported with its line number (header = line 1), nothing created', async () => {
    const before = await positionCount(c.db);
    const rows = Array.from({ length: 500 }, () => row(ref('CSVB'), pratoNotice(), 4_000));
    rows[199]!.noticeNumber = corruptCheckDigits(rows[199]!.noticeNumber); // line 201
    const res = await upload(prato, csv(rows));
    expectProblem(res, 422, 'ROWS_INVALID');
    expect(res.body.created).toBe(0);
    expect(res.body.errors).toEqual([expect.objectContaining({ row: 201, code: 'INVALID_NOTICE_NUMBER' })]);
    expect(await positionCount(c.db)).toBe(before);
  });

  it('an amount that is not whole cents is reported with its line number', async () => {
    const rows = Array.from({ length: 20 }, () => row(ref('CSVA'), pratoNotice(), 4_000));
    (rows[9] as Record<string, string | number>).amount = '40.50'; // line 11
    const res = await upload(prato, csv(rows));
    expectProblem(res, 422, 'ROWS_INVALID');
    expect(res.body.errors.map((e: { row: number }) => e.row)).toEqual([11]);
  });

  it('a bad option in the middle of a multi-row position is reported at its own line', async () => {
    const r = ref('CSVM');
    const rows = [
      row(ref('CSVM'), pratoNotice(), 1_000), // line 2
      row(r, pratoNotice(), 9_000, { kind: 'single' }), // line 3
      row(r, pratoNotice(), 4_500, { kind: 'instalment', instalmentNo: 1 }), // line 4
      row(r, corruptCheckDigits(pratoNotice()), 4_500, { kind: 'instalment', instalmentNo: 2 }), // line 5
    ];
    const res = await upload(prato, csv(rows));
    expectProblem(res, 422, 'ROWS_INVALID');
    expect(res.body.errors.map((e: { row: number }) => e.row)).toEqual([5]);
  });

  it('a CSV without the required columns → 400 FORMAT', async () => {
    const res = await upload(prato, 'externalRef,service\nX1,TARI\n');
    expectProblem(res, 400, 'FORMAT');
  });

  it('malformed CSV (unterminated quote) → 400 FORMAT', async () => {
    const res = await upload(prato, `${CSV_COLUMNS.join(',')}\n"oops,TARI\n`);
    expectProblem(res, 400, 'FORMAT');
  });
});

describe('cancel', () => {
  it('a cancelled position answers NOTICE_CANCELLED at the terminal; cancelling again is harmless', async () => {
    const n = pratoNotice();
    const made = await create(prato, tari(n));
    expect(made.status).toBe(201);
    const res = await c.api().post(`/v1/debt-positions/${made.body.id as number}/cancel`).set(prato);
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe('INVALID');
    expectProblem(await verify(n), 409, 'NOTICE_CANCELLED');
    expectProblem(
      await c.api().post('/v1/payments').set(term).set('Idempotency-Key', idemKey()).send({ service: 'TARI', identifier: n, amount: 12_000 }),
      409,
      'NOTICE_CANCELLED',
    );
    const again = await c.api().post(`/v1/debt-positions/${made.body.id as number}/cancel`).set(prato);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('INVALID');
  });

  it('a paid or partly paid position cannot be cancelled → 409', async () => {
    const n = pratoNotice();
    const made = await create(prato, tari(n, 7_777));
    const paid = await c.api().post('/v1/payments').set(term).set('Idempotency-Key', idemKey()).send({ service: 'TARI', identifier: n, amount: 7_777 });
    expect(paid.status).toBe(201);
    expectProblem(await c.api().post(`/v1/debt-positions/${made.body.id as number}/cancel`).set(prato), 409, 'CONFLICT');
    expect((await c.api().get(`/v1/debt-positions/${made.body.id as number}`).set(prato)).body.status).toBe('PAID');

    const [s, r1, r2] = [pratoNotice(), pratoNotice(), pratoNotice()];
    const inst = await create(prato, {
      ...tari(s, 10_000),
      options: [
        { noticeNumber: s, amount: 10_000, dueDate: '2026-12-31', description: 'unica' },
        { noticeNumber: r1, kind: 'instalment', instalmentNo: 1, amount: 5_000, dueDate: '2026-12-31', description: 'rata 1' },
        { noticeNumber: r2, kind: 'instalment', instalmentNo: 2, amount: 5_000, dueDate: '2027-01-31', description: 'rata 2' },
      ],
    });
    expect(inst.status).toBe(201);
    expect((await c.api().post('/v1/payments').set(term).set('Idempotency-Key', idemKey()).send({ service: 'TARI', identifier: r1, amount: 5_000 })).status).toBe(201);
    expectProblem(await c.api().post(`/v1/debt-positions/${inst.body.id as number}/cancel`).set(prato), 409, 'CONFLICT');
    expect((await verify(r2)).status).toBe(200);
  });

  it('ente-pisa cannot cancel a PRATO position (403), which stays payable', async () => {
    const n = pratoNotice();
    const made = await create(prato, tari(n));
    expectProblem(await c.api().post(`/v1/debt-positions/${made.body.id as number}/cancel`).set(pisa), 403, 'FORBIDDEN');
    expect((await verify(n)).status).toBe(200);
    // A seeded one too.
    const seeded = (await pluck<number>(c.db, "SELECT id FROM debt_positions WHERE entity_id = 'PRATO' AND status = 'VALID' ORDER BY id LIMIT 1"))!;
    expectProblem(await c.api().post(`/v1/debt-positions/${seeded}/cancel`).set(pisa), 403, 'FORBIDDEN');
    expect(await pluck(c.db, 'SELECT status FROM debt_positions WHERE id = ?', seeded)).toBe('VALID');
  });

  it('an unknown position → 404', async () => {
    expectProblem(await c.api().post('/v1/debt-positions/99999999/cancel').set(prato), 404, 'NOT_FOUND');
    expectProblem(await c.api().post('/v1/debt-positions/abc/cancel').set(prato), 404, 'NOT_FOUND');
    expectProblem(await c.api().get('/v1/debt-positions/0').set(prato), 404, 'NOT_FOUND');
  });
});

describe('GET /v1/debt-positions: cursor pagination', () => {
  it('walks every position of the entity once, in order, and ends with nextCursor null', async () => {
    const auth = bearer(c.h.userToken('ente-pontedera'));
    const expected = await pluckAll<number>(c.db, "SELECT id FROM debt_positions WHERE entity_id = 'PONTEDERA' ORDER BY id");
    expect(expected.length).toBeGreaterThan(7);
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await c.api().get(`/v1/debt-positions?limit=7${cursor ? `&cursor=${cursor}` : ''}`).set(auth);
      expect(res.status, res.text).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(7);
      for (const p of res.body.items as { id: number; entityId: string }[]) {
        expect(p.entityId).toBe('PONTEDERA');
        seen.push(p.id);
      }
      cursor = res.body.nextCursor as string | null;
      pages++;
    } while (cursor !== null && pages < 100);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 7));
  });

  it('pages of ente-prato do not overlap and carry options', async () => {
    const first = await c.api().get('/v1/debt-positions?limit=50').set(prato);
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(50);
    expect(first.body.nextCursor).not.toBeNull();
    const second = await c.api().get(`/v1/debt-positions?limit=50&cursor=${first.body.nextCursor as string}`).set(prato);
    const a = new Set(first.body.items.map((p: { id: number }) => p.id));
    expect(second.body.items.some((p: { id: number }) => a.has(p.id))).toBe(false);
    expect(second.body.items[0].id).toBeGreaterThan(first.body.items[49].id);
    expect(first.body.items[0].options.length).toBeGreaterThan(0);
  });

  it('bad queries → 400 FORMAT; finance must name the entity', async () => {
    expectProblem(await c.api().get('/v1/debt-positions?limit=0').set(prato), 400, 'FORMAT');
    expectProblem(await c.api().get('/v1/debt-positions?limit=501').set(prato), 400, 'FORMAT');
    expectProblem(await c.api().get('/v1/debt-positions?cursor=-1').set(prato), 400, 'FORMAT');
    expectProblem(await c.api().get('/v1/debt-positions?cursor=abc').set(prato), 400, 'FORMAT');
    expectProblem(await c.api().get('/v1/debt-positions?sort=id').set(prato), 400, 'FORMAT');
    expectProblem(await c.api().get('/v1/debt-positions').set(bearer(c.h.userToken('finance'))), 400, 'FORMAT');
    expect((await c.api().get('/v1/debt-positions?entityId=PRATO&limit=1').set(bearer(c.h.userToken('finance')))).status).toBe(200);
  });
});
