// Shared helpers for the HTTP API tests: one seeded switch per test file, a
// direct view of its store (SQLite file or PostgreSQL database), and pickers that hand out distinct notices so
// that tests in one file never pay the same thing twice.
import './quiet.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { expect } from 'vitest';
import { buildNoticeNumber } from '../../src/domain/notice.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { testToday } from '../helpers/clock.js';
import { openTestDb, TEST_STORE, type TestDb } from '../helpers/store.js';

export interface Ctx {
  h: Harness;
  /** A direct connection on the switch's store, for assertions. */
  db: TestDb;
  server: http.Server;
  /** supertest bound to one listening server (concurrent requests share it). */
  api: () => ReturnType<typeof request>;
  notices: NoticePicker;
  close(): Promise<void>;
}

export async function setup(positions = 2000, clock?: () => number): Promise<Ctx> {
  return setupWith({ positions, clock });
}

/** A small switch with extra configuration (e.g. low rate limits). */
export async function setupWithEnv(env: Record<string, string>, positions = 100): Promise<Ctx> {
  return setupWith({ positions, env });
}

async function setupWith(opts: { positions: number; clock?: () => number; env?: Record<string, string> }): Promise<Ctx> {
  const h = await startHarness(opts);
  const db = await openTestDb(h.dir);
  const server = http.createServer(h.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    h,
    db,
    server,
    api: () => request(base),
    notices: new NoticePicker(db),
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.close();
      await h.close();
    },
  };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

let keySeq = 0;
/** A fresh Idempotency-Key. */
export function idemKey(prefix = 'k'): string {
  keySeq += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${keySeq}`;
}

/** The Rome date the test switch lives on. */
export const today = testToday;

/** Asserts an application/problem+json answer with the given status and code. */
export function expectProblem(res: { status: number; headers: Record<string, string>; body: unknown; text: string }, status: number, code: string): void {
  const ctx = `${res.status} ${res.text}`;
  expect(res.status, ctx).toBe(status);
  expect(res.headers['content-type'], ctx).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.text) as Record<string, unknown>;
  expect(body.code, ctx).toBe(code);
  expect(body.status, ctx).toBe(status);
  expect(typeof body.type, ctx).toBe('string');
  expect((body.type as string).length, ctx).toBeGreaterThan(0);
  expect(typeof body.title, ctx).toBe('string');
  expect((body.title as string).length, ctx).toBeGreaterThan(0);
  expect(typeof body.detail, ctx).toBe('string');
}

export interface OptionRow {
  optionId: number;
  positionId: number;
  notice: string;
  amount: number;
  lookupKey: string | null;
  ruleParams: string | null;
  dueDate: string;
  kind: 'single' | 'instalment';
  entityId: string;
  service: string;
  status: string;
  validUntil: string | null;
}

const OPTION_SQL = `SELECT o.id AS "optionId", o.position_id AS "positionId", o.notice_number AS notice, o.amount_cents AS amount,
  o.lookup_key AS "lookupKey", o.rule_params AS "ruleParams", o.due_date AS "dueDate", o.kind AS kind,
  p.entity_id AS "entityId", p.service_code AS service, p.status AS status, p.valid_until AS "validUntil"
  FROM payment_options o JOIN debt_positions p ON p.id = o.position_id`;

/** Hands out seeded payment options, each at most once per file. */
export class NoticePicker {
  private readonly used = new Set<number>();

  constructor(private readonly db: TestDb) {}

  /** The first unused option matching `where` (SQL over o.* and p.*). */
  async take(where: string, ...params: unknown[]): Promise<OptionRow> {
    // The first used.size + 1 rows hold an unused one if there is any (unless another
    // take, between the query and its answer, used one of them: then ask again).
    for (;;) {
      const limit = this.used.size + 1;
      const rows = await this.db.all<OptionRow>(`${OPTION_SQL} WHERE ${where} ORDER BY o.id LIMIT ${limit}`, ...params);
      for (const r of rows) {
        if (this.used.has(r.optionId)) continue;
        this.used.add(r.optionId);
        return r;
      }
      if (rows.length < limit) throw new Error(`no unused option for ${where}`);
    }
  }

  /** A payable single option of a service (position VALID, not expired, unpaid). */
  payable(service: string, extra = '1=1', ...params: unknown[]): Promise<OptionRow> {
    return this.take(
      `p.service_code = ? AND p.status = 'VALID' AND o.paid_payment_id IS NULL AND o.kind = 'single'
       AND (p.valid_until IS NULL OR p.valid_until >= ?) AND ${extra}`,
      service,
      today(),
      ...params,
    );
  }

  /** A payable TARI single payment (the documented first notice is left alone). */
  tari(): Promise<OptionRow> {
    return this.payable('TARI', "o.notice_number <> '301202400000000164'");
  }
}

/** Counts payment rows, optionally for one option. */
export function paymentCount(db: TestDb, optionId?: number): Promise<number> {
  return optionId === undefined ? db.scalar('SELECT count(*) FROM payments') : db.scalar('SELECT count(*) FROM payments WHERE option_id = ?', optionId);
}

/** Counts positions (optionally of one entity). */
export function positionCount(db: TestDb, entityId?: string): Promise<number> {
  return entityId === undefined ? db.scalar('SELECT count(*) FROM debt_positions') : db.scalar('SELECT count(*) FROM debt_positions WHERE entity_id = ?', entityId);
}

/** The first column of a query's first row (undefined without a row), as the store gives it. */
export async function pluck<T>(db: TestDb, sql: string, ...params: unknown[]): Promise<T | undefined> {
  const row = await db.get<Record<string, unknown>>(sql, ...params);
  return row === undefined ? undefined : (Object.values(row)[0] as T);
}

/** The first column of every row of a query. */
export async function pluckAll<T>(db: TestDb, sql: string, ...params: unknown[]): Promise<T[]> {
  return (await db.all<Record<string, unknown>>(sql, ...params)).map((r) => Object.values(r)[0] as T);
}

/** SQL for a text member of a JSON text column, on either store. */
export function jsonText(column: string, key: string): string {
  return TEST_STORE === 'postgres' ? `(${column}::json ->> '${key}')` : `json_extract(${column}, '$.${key}')`;
}

/** Fresh, valid aux-3 notice numbers for an entity's segregation code, never seeded ('8' series). */
export function noticeFactory(segregationCode: string, series: number): () => string {
  let n = 0;
  return () => {
    n += 1;
    const body = `${segregationCode}8${String(series).padStart(2, '0')}${String(n).padStart(10, '0')}`;
    return buildNoticeNumber(3, body);
  };
}

/** A notice number with wrong check digits. */
export function corruptCheckDigits(notice: string): string {
  const last = Number(notice.slice(16));
  return notice.slice(0, 16) + String((last + 1) % 93).padStart(2, '0');
}

/** Terminal ids of counters of a kind (C0001–C0157 tabaccai, then agencies, then supermarkets). */
export function terminalsOf(h: Harness, kind: 'tabaccaio' | 'agenzia' | 'supermercato'): string[] {
  const n = (id: string) => Number(id.slice(1));
  const inKind = (c: string) => (kind === 'tabaccaio' ? n(c) <= 157 : kind === 'agenzia' ? n(c) > 157 && n(c) <= 344 : n(c) > 344);
  return h.credentials.terminals.filter((t) => inKind(t.counterId)).map((t) => t.terminalId);
}

export function counterOf(h: Harness, terminalId: string): string {
  const t = h.credentials.terminals.find((x) => x.terminalId === terminalId);
  if (!t) throw new Error(`no terminal ${terminalId}`);
  return t.counterId;
}

/** Terminals, one per counter, never shared with another test of the file: take from the pool. */
export class TerminalPool {
  private next = 0;
  private readonly ids: string[];

  constructor(h: Harness, kind: 'tabaccaio' | 'agenzia' | 'supermercato' = 'tabaccaio') {
    const seen = new Set<string>();
    this.ids = [];
    for (const id of terminalsOf(h, kind)) {
      const c = counterOf(h, id);
      if (seen.has(c)) continue;
      seen.add(c);
      this.ids.push(id);
    }
  }

  take(): string {
    const id = this.ids[this.next++];
    if (!id) throw new Error('terminal pool exhausted');
    return id;
  }
}
