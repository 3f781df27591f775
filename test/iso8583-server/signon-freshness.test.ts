// Sign-on freshness and TMK rotation over a real TCP socket (terminal-protocol.md §1.5,
// §1.7; issue 12 finding 2): a captured sign-on replayed, or one whose field 7 is more
// than 5 minutes off the switch's clock, is answered 63 and changes nothing (the session
// key in use keeps working); a later sign-on works; after a TMK rotation (admin API or
// CLI) the old TMK's sign-on is 63, the new one's works, and the old session is over.
import './quiet.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveWrapKey, unwrapSessionKey } from '../../terminals/keys.js';
import { NETWORK_MANAGEMENT } from '../../terminals/iso8583/index.js';
import { IsoTerminal, transmissionTime, type Response } from '../../terminals/simulator/client.js';
import { api } from '../helpers/harness.js';
import { TEST_STORE } from '../helpers/store.js';
import { runCli } from '../e2e/process.js';
import { setup, type Ctx } from './support.js';

let ctx: Ctx;
beforeAll(async () => {
  ctx = await setup({ positions: 200 });
});
afterAll(async () => {
  await ctx?.close();
});

const MINUTE = 60_000;

/** A sign-on with the given field 7 instant, MACed under the terminal's K_signon; adopts the session key when 00. */
async function signOnAt(t: IsoTerminal, atMs: number, stan = t.nextStan()) {
  const { sent, response } = await t.request('0800', { 7: transmissionTime(atMs), 11: stan, 41: t.f41, 70: NETWORK_MANAGEMENT.signOn });
  adopt(t, response);
  return { sent, response };
}

function adopt(t: IsoTerminal, r: Response): void {
  const sk = r.tlv.get('SK');
  if (r.code === '00' && sk) t.sessionKey = unwrapSessionKey(deriveWrapKey(t.creds.tmk), t.creds.terminalId, sk);
}

/** An echo MACed with the terminal's session key: 00 while the switch holds that key. */
async function sessionWorks(t: IsoTerminal): Promise<boolean> {
  const r = await t.echo();
  return r.code === '00' && r.macOk;
}

describe('sign-on freshness (§1.5)', () => {
  it('a captured sign-on replayed is answered 63 and changes nothing: the current session key still works', async () => {
    const t = await ctx.terminal();
    const first = await signOnAt(t, t.now());
    expect(first.response.code).toBe('00');
    expect(await sessionWorks(t)).toBe(true);

    const replay = await t.sendRaw(first.sent.packed, first.sent.stan);
    expect(replay.code).toBe('63');
    expect(replay.tlv.get('ER')).toBe('STALE_SIGNON');
    expect(replay.macOk).toBe(true); // answered under K_signon
    expect(replay.tlv.has('SK')).toBe(false);
    expect(await sessionWorks(t)).toBe(true);

    // Replayed by someone else, on another connection: the same.
    const other = await ctx.terminal(t.creds.terminalId);
    expect((await other.sendRaw(first.sent.packed, first.sent.stan)).code).toBe('63');
    expect(await sessionWorks(t)).toBe(true);
  });

  it('a sign-on 6 minutes off the clock (either way) is 63; the session stays', async () => {
    const t = await ctx.signedOn();
    const late = await signOnAt(t, t.now() - 6 * MINUTE);
    expect(late.response.code).toBe('63');
    expect(late.response.tlv.get('ER')).toBe('STALE_SIGNON');
    const early = await signOnAt(t, t.now() + 6 * MINUTE);
    expect(early.response.code).toBe('63');
    expect(await sessionWorks(t)).toBe(true);
    // 4 minutes off is within the window.
    expect((await signOnAt(t, t.now() + 4 * MINUTE)).response.code).toBe('00');
    expect(await sessionWorks(t)).toBe(true);
  });

  it('a repeated sign-on with a later field 7 or a later field 11 works and replaces the session key', async () => {
    const t = await ctx.terminal();
    const at = t.now();
    expect((await signOnAt(t, at, '000100')).response.code).toBe('00');
    const firstKey = t.sessionKey!;
    // Same second, later STAN.
    expect((await signOnAt(t, at, '000101')).response.code).toBe('00');
    expect(t.sessionKey!.equals(firstKey)).toBe(false);
    expect(await sessionWorks(t)).toBe(true);
    // Same second, earlier STAN: not later than the last accepted one.
    expect((await signOnAt(t, at, '000050')).response.code).toBe('63');
    // A later second with a smaller STAN (a terminal's counter restarted): later, so accepted.
    expect((await signOnAt(t, at + 1000, '000001')).response.code).toBe('00');
    expect(await sessionWorks(t)).toBe(true);
  });

  it('the last accepted sign-on is kept in the store (it holds across restarts and instances)', async () => {
    const t = await ctx.terminal();
    const at = t.now();
    expect((await signOnAt(t, at, '000777')).response.code).toBe('00');
    const row = await ctx.db.get<{ signon_at: number; signon_stan: number }>('SELECT signon_at, signon_stan FROM terminals WHERE id = ?', t.creds.terminalId);
    expect(Number(row!.signon_at)).toBe(Math.floor(at / 1000) * 1000);
    expect(Number(row!.signon_stan)).toBe(777);
    // Another switch on the same store (a restart, or a second instance) refuses the replay.
    expect(await ctx.h.payments.acceptSignOn({ terminalId: t.creds.terminalId, counterId: t.creds.counterId }, Math.floor(at / 1000) * 1000, 777)).toBe(false);
  });
});

describe('field 7 across the year boundary', () => {
  let y: Ctx;
  // 1 January, 00:01:00 UTC: a field 7 of 1231235959 was sent 61 s ago, last year.
  const newYear = Date.UTC(2027, 0, 1, 0, 1, 0);
  beforeAll(async () => {
    let offset = 0;
    y = await setup({ positions: 100, clock: () => newYear + offset++ });
  });
  afterAll(async () => {
    await y?.close();
  });

  it('1231235959 received at 0101000100 is fresh; 1231234500 (16 min before) is not; 0101000400 is fresh', async () => {
    const t = await y.terminal();
    expect(transmissionTime(Date.UTC(2026, 11, 31, 23, 59, 59))).toBe('1231235959');
    expect((await signOnAt(t, Date.UTC(2026, 11, 31, 23, 45, 0))).response.code).toBe('63');
    expect((await signOnAt(t, Date.UTC(2026, 11, 31, 23, 59, 59))).response.code).toBe('00');
    expect((await signOnAt(t, Date.UTC(2027, 0, 1, 0, 4, 0))).response.code).toBe('00');
  });
});

describe('TMK rotation ends the ISO session', () => {
  const rotatedBy = async (how: 'api' | 'cli', id: string): Promise<Buffer> => {
    if (how === 'api') {
      const res = await api(ctx.h).post(`/v1/admin/terminals/${id}/tmk`).set({ Authorization: `Bearer ${ctx.h.userToken('admin')}` });
      expect(res.status, res.text).toBe(200);
      return Buffer.from(res.body.tmk as string, 'hex');
    }
    const r = await runCli(ctx.h.dir, ['credentials', 'rotate-tmk', id]);
    expect(r.code, r.stderr).toBe(0);
    const m = /^tmk: ([0-9a-f]{64})$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    return Buffer.from(m![1]!, 'hex');
  };

  // The CLI is another process: the running switch hears of its rotation through the
  // store (PostgreSQL: NOTIFY to every instance). The embedded store has no such signal
  // (docs/terminal-credentials.md), so the CLI case runs on PostgreSQL.
  for (const how of TEST_STORE === 'postgres' ? (['api', 'cli'] as const) : (['api'] as const)) {
    it(`rotated through the ${how}: the old TMK's sign-on is 63, the session ends, the new TMK signs on`, { timeout: 60_000 }, async () => {
      const old = await ctx.signedOn();
      const id = old.creds.terminalId;
      expect(await sessionWorks(old)).toBe(true);

      const newTmk = await rotatedBy(how, id);
      expect(newTmk.equals(old.creds.tmk)).toBe(false);

      // The switch learns of it (at once through the API; through NOTIFY from the CLI).
      let inquiry: Response;
      for (;;) {
        inquiry = await old.inquiry({ service: 'TARI', identifier: '301202400000000164' });
        if (inquiry.code === '58') break;
        expect(['00', '14', '25', '54', '80', '82'], `still served under the old session: ${inquiry.code}`).toContain(inquiry.code);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(inquiry.tlv.get('ER')).toBe('NOT_SIGNED_ON');
      const oldSignOn = await signOnAt(old, old.now());
      expect(oldSignOn.response.code).toBe('63');
      expect(oldSignOn.response.tlv.get('ER')).toBe('BAD_MAC');

      const fresh = new IsoTerminal({ ...old.creds, tmk: newTmk }, { host: '127.0.0.1', port: ctx.port, timeoutMs: 20_000, clock: ctx.h.rt.clock, firstStan: 500_000 });
      await fresh.connect();
      try {
        const r = await fresh.signOn();
        expect(r.code, r.tlv.get('ER')).toBe('00');
        expect(await sessionWorks(fresh)).toBe(true);
      } finally {
        fresh.close();
      }
    });
  }

  // On the embedded store the CLI cannot tell the running switch: it refuses instead of
  // leaving the old TMK and API secret in use until a restart.
  (TEST_STORE === 'sqlite' ? it : it.skip)('on the embedded store, the CLI refuses to rotate while a switch holds the file, and nothing changes', async () => {
    const t = await ctx.signedOn();
    const id = t.creds.terminalId;
    const before = (await ctx.h.rt.store.getTerminal(id))!;
    for (const what of ['rotate-tmk', 'rotate-secret']) {
      const r = await runCli(ctx.h.dir, ['credentials', what, id]);
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr).toMatch(/admin API/);
    }
    const after = (await ctx.h.rt.store.getTerminal(id))!;
    expect([after.tmkSealed, after.secretHash]).toEqual([before.tmkSealed, before.secretHash]);
    expect(await sessionWorks(t)).toBe(true);
  });
});
