// Issue 12, finding 6 (audit part): settlement runs, approvals, SEPA exports and
// downloads were not audited and the audit log was editable. Now they are audited, the
// log is hash-chained and append-only, and `tserve audit verify` names the first row
// that was edited or removed (here with the append-only triggers dropped first, as an
// intruder with the database would). Also: the lock's back-off on the switch's clock.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../src/store/audit-chain.js';
import { TEST_STORE } from '../helpers/store.js';
import { runCli } from '../e2e/process.js';
import { startSwitch, type Switch } from '../settlement/support.js';
import { expectProblem } from './support.js';

const DAY = '2026-11-20';
let s: Switch;
const api = () => request(s.h.app);
const bearer = (user: string) => ({ Authorization: `Bearer ${s.h.userToken(user)}` });
const passwordOf = (username: string) => s.h.credentials.users.find((u) => u.username === username)!.password;

beforeAll(async () => {
  s = await startSwitch({ positions: 100, at: [DAY, '09:00:00'] });
  const t = s.h.credentials.terminals[0]!;
  await s.h.payments.pay({ terminalId: t.terminalId, counterId: t.counterId }, { service: 'CIE', identifier: 'RSSMRA85T10A562S', amount: 2221 }, null, 'json');
  s.setRome('2026-11-23', '00:10:00');
}, 120_000);
afterAll(async () => {
  await s?.close();
});

async function audit(action: string): Promise<{ actor: string; target: string; detail: Record<string, unknown> | null }[]> {
  const res = await api().get('/v1/admin/audit').query({ action, limit: '500' }).set(bearer('admin'));
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

describe('what is audited', () => {
  it('settlement runs and approvals, with their actor', async () => {
    expect((await api().post(`/v1/settlements/${DAY}/run`).set(bearer('finance'))).status).toBe(201);
    expect((await api().post(`/v1/settlements/${DAY}/approve`).set(bearer('finance'))).status).toBe(200);
    const runs = await audit('settlement.run');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ actor: 'finance:finance', target: DAY, detail: { outcome: 'created', payments: 1, figuresHash: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(await audit('settlement.approve')).toEqual([expect.objectContaining({ actor: 'finance:finance', target: DAY })]);
  });

  it('an administrative refund, audited inside its booking batch', async () => {
    const id = (await s.db.get<{ public_id: string }>('SELECT public_id FROM payments ORDER BY id LIMIT 1'))!.public_id;
    const res = await api().post(`/v1/payments/${id}/adjustment`).set(bearer('finance')).send({ reason: 'paid twice by mistake' });
    expect(res.status, res.text).toBe(201);
    expect(await audit('payment.adjustment')).toEqual([expect.objectContaining({ actor: 'finance:finance', target: id })]);
  });

  it('SEPA exports, FatturaPA-free downloads of reports and statements, payment lines', async () => {
    for (const path of [`/v1/settlements/${DAY}/report.pdf`, `/v1/settlements/${DAY}/counters.csv`, `/v1/settlements/${DAY}/payments.csv`]) {
      expect((await api().get(path).set(bearer('admin'))).status, path).toBe(200);
    }
    expect((await api().get(`/v1/settlements/${DAY}/entities/PISA?format=csv`).set(bearer('ente-pisa'))).status).toBe(200);
    expect((await api().get(`/v1/settlements/${DAY}/sepa/pain.008.xml`).set(bearer('finance'))).status).toBe(200);

    const downloads = await audit('report.download');
    expect(downloads.map((d) => [d.actor, d.target])).toEqual(
      expect.arrayContaining([
        ['admin:admin', `/v1/settlements/${DAY}/report.pdf`],
        ['admin:admin', `/v1/settlements/${DAY}/counters.csv`],
        ['admin:admin', `/v1/settlements/${DAY}/payments.csv`],
        ['entity:ente-pisa', `/v1/settlements/${DAY}/entities/PISA`],
      ]),
    );
    expect(await audit('sepa.export')).toEqual([
      expect.objectContaining({ actor: 'finance:finance', target: `/v1/settlements/${DAY}/sepa/pain.008.xml`, detail: expect.objectContaining({ format: 'xml' }) }),
    ]);
  });
});

describe('lock back-off on the switch clock', () => {
  it('locks for 60 s after 5 failures, then doubles with each failure after it expires; the right password works once it has', async () => {
    const login = (password: string) => api().post('/v1/auth/login').send({ username: 'ente-livorno', password });
    for (let i = 0; i < 4; i++) expect((await login(`bad-${i}`)).status).toBe(401);
    const first = await login('bad-4');
    expectProblem(first, 429, 'RATE_LIMITED');
    expect(first.headers['retry-after']).toBe('60');
    s.clock.now += 61_000;
    const second = await login('bad-5');
    expect(second.headers['retry-after']).toBe('120');
    s.clock.now += 121_000;
    const ok = await login(passwordOf('ente-livorno'));
    expect(ok.status, ok.text).toBe(200);
  });
});

describe('tserve audit verify', () => {
  const cli = (args: string[]) => runCli(s.h.dir, args);

  it('passes on the chain as written, every path of it (admin writes, bookings, logins, downloads)', async () => {
    const report = await verifyAuditChain(s.h.rt.store);
    expect(report.ok, JSON.stringify(report.broken)).toBe(true);
    expect(report.rows).toBeGreaterThan(10);
    const out = await cli(['audit', 'verify']);
    expect(out.stdout + out.stderr).toMatch(/audit log intact: \d+ rows/);
    expect(out.code).toBe(0);
  }, 60_000);

  it('refuses UPDATE and DELETE on audit_log', async () => {
    await expect(s.db.run("UPDATE audit_log SET actor = 'someone else' WHERE id = 3")).rejects.toThrow(/append-only/);
    await expect(s.db.run('DELETE FROM audit_log WHERE id = 3')).rejects.toThrow(/append-only/);
  });

  it('fails naming the first broken row after a row is edited (triggers dropped), and after one is deleted', async () => {
    // The CLI's start recreates SQLite's triggers (schema.sql): drop them before each change.
    const tamper = async (sql: string) => {
      if (TEST_STORE === 'postgres') await s.db.run('ALTER TABLE audit_log DISABLE TRIGGER USER');
      else for (const t of ['audit_log_no_update', 'audit_log_no_delete']) await s.db.run(`DROP TRIGGER IF EXISTS ${t}`);
      await s.db.run(sql);
    };
    await tamper("UPDATE audit_log SET actor = 'nobody' WHERE id = 4");
    const edited = await cli(['audit', 'verify']);
    expect(edited.code).toBe(1);
    expect(edited.stdout).toMatch(/AUDIT LOG BROKEN at row 4: its content does not match its hash/);

    await tamper('DELETE FROM audit_log WHERE id = 4');
    const deleted = await cli(['audit', 'verify']);
    expect(deleted.code).toBe(1);
    expect(deleted.stdout).toMatch(/AUDIT LOG BROKEN at row 5: its prev_hash does not match/);

    const last = await s.db.scalar('SELECT max(id) FROM audit_log');
    await tamper('DELETE FROM audit_log WHERE id >= 5');
    const report = await verifyAuditChain(s.h.rt.store);
    expect(report.ok).toBe(false);
    expect(report.broken).toEqual({ id: null, reason: expect.stringMatching(new RegExp(`head names row ${last}, the log ends at row 3`)) });
  }, 60_000);
});
