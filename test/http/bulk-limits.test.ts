// Issue 12, finding 3 ("one entity user stalls every terminal"): a bulk upload is
// bounded (bytes, rows, errors reported), rate-limited per user and one at a time per
// entity, a file imported already is refused before it is parsed, and payments go on
// while an import runs. Real HTTP against a seeded switch.
import './quiet.js'; // before anything that loads src/log.ts
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CSV_COLUMNS } from '../../src/payments/positions.js';
import { bearer, expectProblem, idemKey, noticeFactory, positionCount, setupWithEnv, type Ctx } from './support.js';

const CF = 'RSSMRA85T10A562S';
let refSeq = 0;
const tari = (notice: string, amount = 12_000) => ({
  service: 'TARI',
  externalRef: `BL-${process.pid}-${++refSeq}`,
  debtorFiscalCode: CF,
  description: 'TARI 2026 - limits',
  options: [{ noticeNumber: notice, amount, dueDate: '2026-12-31', description: 'TARI 2026 - rata unica' }],
});
const bulkRaw = (c: Ctx, auth: Record<string, string>, body: string, type = 'application/json') =>
  c.api().post('/v1/debt-positions/bulk').set(auth).set('Content-Type', type).send(body);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('bulk upload: the report, the duplicate check, booking beside an import', () => {
  let c: Ctx;
  let prato: Record<string, string>;
  const pratoNotice = noticeFactory('01', 61);

  beforeAll(async () => {
    c = await setupWithEnv({}, 300);
    prato = bearer(c.h.userToken('ente-prato'));
  });
  afterAll(async () => {
    await c?.close();
  });

  it('a 146 KB body of 48,000 empty objects is answered with the first 100 errors and the count of all, in a few KB', async () => {
    const body = `[${Array.from({ length: 48_000 }, () => '{}').join(',')}]`;
    expect(body.length).toBeGreaterThan(140_000);
    const before = await positionCount(c.db);
    const res = await bulkRaw(c, prato, body);
    expectProblem(res, 422, 'ROWS_INVALID');
    // Before: every issue of every row, 26 MB.
    expect(res.text.length).toBeLessThan(64 * 1024);
    expect(res.body.created).toBe(0);
    expect(res.body.errors).toHaveLength(100);
    // Each {} lacks service, externalRef, debtorFiscalCode, description and options.
    expect(res.body.errorCount).toBe(48_000 * 5);
    expect(res.body.errors[0]).toMatchObject({ row: 0, code: 'FORMAT' });
    expect(await positionCount(c.db)).toBe(before);
  });

  it('a file imported already is refused at once (409 DUPLICATE), before the store is asked anything about its rows', async () => {
    const rows = Array.from({ length: 50 }, () => tari(pratoNotice()));
    const body = JSON.stringify(rows);
    const first = await bulkRaw(c, prato, body);
    expect(first.status, first.text.slice(0, 300)).toBe(201);
    const before = await positionCount(c.db);
    const createPositions = vi.spyOn(c.h.rt.store, 'createPositions');
    const again = await bulkRaw(c, prato, body);
    expectProblem(again, 409, 'DUPLICATE');
    expect(again.body.detail).toMatch(/imported already/);
    expect(createPositions).not.toHaveBeenCalled();
    expect(await positionCount(c.db)).toBe(before);
    // The same positions in other bytes are not the same file: the store's conflict check answers.
    const reordered = await bulkRaw(c, prato, JSON.stringify([...rows].reverse()));
    expectProblem(reordered, 409, 'CONFLICT');
    expect(reordered.body.errorCount).toBe(100); // each row: its externalRef and its notice
    expect(createPositions).toHaveBeenCalledTimes(1);
  });

  it('a payment sent while a 20,000-position import is being written is booked and committed before the import', async () => {
    const rows = Array.from({ length: 20_000 }, () => tari(pratoNotice()));
    const option = await c.notices.take("p.service_code = 'TARI' AND p.status = 'VALID' AND p.valid_until IS NULL AND o.kind = 'single'");
    let entered!: () => void;
    const writing = new Promise<void>((resolve) => (entered = resolve));
    const store = c.h.rt.store;
    const original = store.createPositions.bind(store);
    vi.spyOn(store, 'createPositions').mockImplementation((r, actor) => {
      entered();
      return original(r, actor);
    });
    const upload = bulkRaw(c, prato, JSON.stringify(rows)).then((res) => res);
    await writing;
    const paid = await c.api().post('/v1/payments').set(bearer(c.h.terminalToken('T0001'))).set('Idempotency-Key', idemKey('beside')).send({ service: 'TARI', identifier: option.notice, amount: option.amount });
    expect(paid.status, paid.text).toBe(201);
    const res = await upload;
    expect(res.status, res.text.slice(0, 300)).toBe(201);
    expect(res.body.created).toBe(20_000);
    const paymentSeq = await c.db.scalar("SELECT seq FROM events WHERE type = 'payment.booked' AND payload LIKE ?", `%${paid.body.paymentId as string}%`);
    const importSeq = await c.db.scalar("SELECT max(seq) FROM events WHERE type = 'notices.imported' AND entity_id = 'PRATO'");
    expect(paymentSeq).toBeGreaterThan(0);
    expect(paymentSeq).toBeLessThan(importSeq);
  });
});

describe('bulk upload: limits and rate', () => {
  let c: Ctx;
  let prato: Record<string, string>;
  let pisa: Record<string, string>;
  const pratoNotice = noticeFactory('01', 62);
  const pisaNotice = noticeFactory('11', 62);
  const pisaRow = () => ({ ...tari(pisaNotice()), service: 'TARIPISA' });

  beforeAll(async () => {
    c = await setupWithEnv({ TSERVE_IMPORT_MAX_BYTES: '4096', TSERVE_IMPORT_MAX_ROWS: '5', TSERVE_IMPORT_PER_MINUTE: '4' }, 100);
    prato = bearer(c.h.userToken('ente-prato'));
    pisa = bearer(c.h.userToken('ente-pisa'));
  });
  afterAll(async () => {
    await c?.close();
  });

  it('over TSERVE_IMPORT_MAX_BYTES: 413 PAYLOAD_TOO_LARGE naming the limit; over TSERVE_IMPORT_MAX_ROWS (JSON positions, CSV lines): 413 naming it; nothing created', async () => {
    const before = await positionCount(c.db);
    const big = JSON.stringify(Array.from({ length: 20 }, () => tari(pratoNotice())));
    expect(big.length).toBeGreaterThan(4096);
    const tooBig = await bulkRaw(c, pisa, big);
    expectProblem(tooBig, 413, 'PAYLOAD_TOO_LARGE');
    expect(tooBig.body.detail).toContain('4096 bytes');

    const six = JSON.stringify(Array.from({ length: 6 }, () => pisaRow()));
    expect(six.length).toBeLessThan(4096);
    const tooMany = await bulkRaw(c, pisa, six);
    expectProblem(tooMany, 413, 'PAYLOAD_TOO_LARGE');
    expect(tooMany.body.detail).toContain('at most 5 positions');

    const line = (n: string) => ['CSV-' + n, 'TARIPISA', CF, '', 'x', '', n, '', '', '', '100', '2026-12-31', ''].join(',');
    const csv = [CSV_COLUMNS.join(','), ...Array.from({ length: 6 }, () => line(pisaNotice()))].join('\n');
    const csvTooMany = await bulkRaw(c, pisa, csv, 'text/csv');
    expectProblem(csvTooMany, 413, 'PAYLOAD_TOO_LARGE');
    expect(csvTooMany.body.detail).toContain('at most 5 CSV lines');
    expect(await positionCount(c.db)).toBe(before);
  });

  it('past TSERVE_IMPORT_PER_MINUTE uploads a user gets 429 RATE_LIMITED with Retry-After; another user is not held up', async () => {
    // The describe's first test spent three of ente-pisa's four.
    const ok = await bulkRaw(c, pisa, JSON.stringify([pisaRow()]));
    expect(ok.status, ok.text).toBe(201);
    const limited = await bulkRaw(c, pisa, JSON.stringify([pisaRow()]));
    expectProblem(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    const other = await bulkRaw(c, prato, JSON.stringify([tari(pratoNotice())]));
    expect(other.status, other.text).toBe(201);
  });

  it('one upload at a time per entity: a second one while the first is in the store gets 429 with Retry-After', async () => {
    const store = c.h.rt.store;
    const original = store.createPositions.bind(store);
    let entered!: () => void;
    const inStore = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    vi.spyOn(store, 'createPositions').mockImplementation(async (r, actor) => {
      entered();
      await held;
      return original(r, actor);
    });
    const first = bulkRaw(c, prato, JSON.stringify([tari(pratoNotice())])).then((res) => res);
    try {
      await inStore;
      const second = await bulkRaw(c, prato, JSON.stringify([tari(pratoNotice())]));
      expectProblem(second, 429, 'RATE_LIMITED');
      expect(Number(second.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      release();
    }
    expect((await first).status).toBe(201);
  });
});
