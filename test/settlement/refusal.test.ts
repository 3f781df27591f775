// The sum-to-zero check: a window whose ledger movements do not sum to zero, or do not
// match its payments, is refused and no settlement is produced; `tserve check` names
// the broken window.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { romeInstant } from '../../src/domain/calendar.js';
import { requestHash } from '../../src/payments/service.js';
import { SettlementError } from '../../settlement/figures.js';
import { settle } from '../../settlement/run.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { openTestDb } from '../helpers/store.js';

const DAY = '2026-11-20';
let h: Harness;
let now = romeInstant(DAY, '11:00:00');
beforeAll(async () => {
  h = await startHarness({ positions: 500, clock: () => now });
  const t = h.credentials.terminals[3]!;
  for (let i = 0; i < 5; i++) {
    const req = { service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 };
    await h.payments.pay({ terminalId: t.terminalId, counterId: t.counterId }, req, { key: `refusal-${i}`, requestHash: requestHash('pay', req) }, 'json');
  }
});
afterAll(async () => {
  await h.close();
});

describe('a ledger that does not balance', () => {
  it('refuses the settlement, stores nothing, and tserve check names the window', async () => {
    const opts = { cutoff: '00:00', operator: h.config.operator, now: romeInstant('2026-11-23', '10:00:00') };
    // Break one account's movement of the window by a cent, behind the switch's back.
    const db = await openTestDb(h.dir);
    await db.run('UPDATE window_movements SET amount_cents = amount_cents + 1 WHERE settlement_date = ? AND account_id = (SELECT min(account_id) FROM window_movements WHERE settlement_date = ?)', DAY, DAY);
    await db.close();
    const err = await settle(h.rt.store, DAY, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SettlementError);
    expect((err as SettlementError).problems.join('\n')).toMatch(/sum to 1 cents, not 0/);
    const w = await h.rt.store.getWindow(DAY);
    expect(w?.figures ?? null).toBeNull();
    const report = await h.rt.store.checkInvariants();
    expect(report.ok).toBe(false);
    expect(report.violations.join('\n')).toContain(`window ${DAY}|`);
  });

  it('answers the run SETTLEMENT_UNBALANCED over HTTP, and approval DRAFT_MISSING: nothing to approve', async () => {
    now = romeInstant('2026-11-23', '10:00:00');
    const finance = { authorization: `Bearer ${h.userToken('finance')}` };
    const run = await request(h.app).post(`/v1/settlements/${DAY}/run`).set(finance);
    expect(run.status, run.text).toBe(409);
    expect(run.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(run.body).toMatchObject({ code: 'SETTLEMENT_UNBALANCED', detail: expect.stringMatching(new RegExp(`^settlement of ${DAY} refused: .*sum to 1 cents, not 0`)) });
    const approve = await request(h.app).post(`/v1/settlements/${DAY}/approve`).set(finance);
    expect(approve.status, approve.text).toBe(409);
    expect(approve.body).toMatchObject({ code: 'DRAFT_MISSING', detail: `the settlement of ${DAY} has no draft yet: run it first` });
  });
});
