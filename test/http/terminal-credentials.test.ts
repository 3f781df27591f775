// A terminal's two credentials (issue 12 finding 2; terminal-protocol.md §1.7 and §2):
// the JSON API secret is not the TMK, is shown once and rotates on its own; the TMK
// rotates too; both rotations are audited; and a database of the release where the TMK
// was the API secret stops accepting it once upgraded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_COST, NO_API_SECRET, hashSecret } from '../../src/auth/secrets.js';
import { migrate } from '../../src/store/postgres/migrate.js';
import { openPool } from '../../src/store/postgres/pool.js';
import { PgStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { TEST_STORE } from '../helpers/store.js';
import { bearer, expectProblem, setup, type Ctx } from './support.js';

let c: Ctx;
let admin: Record<string, string>;
beforeAll(async () => {
  c = await setup(200);
  admin = bearer(c.h.userToken('admin'));
});
afterAll(async () => {
  await c?.close();
});

const creds = (id: string) => c.h.credentials.terminals.find((t) => t.terminalId === id)!;
const token = (terminalId: string, secret: string) => c.api().post('/v1/auth/token').send({ terminalId, secret });
const services = (tok: string) => c.api().get('/v1/services').set(bearer(tok));
const audits = (target: string, action: string) =>
  c.db.all<{ actor: string; detail: string | null }>('SELECT actor, detail FROM audit_log WHERE target = ? AND action = ?', target, action);

describe('finding 2: the TMK is not the JSON login secret', () => {
  it('a token request with the TMK is refused 401; the API secret issued beside it is accepted', async () => {
    const t = creds('T0001');
    expect(t.apiSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(t.apiSecret).not.toBe(t.tmk);
    const withTmk = await token('T0001', t.tmk);
    expectProblem(withTmk, 401, 'UNAUTHORIZED');
    expect(withTmk.text).toMatch(/TMK/);
    expect(withTmk.text).not.toContain(t.tmk);
    const ok = await token('T0001', t.apiSecret);
    expect(ok.status, ok.text).toBe(200);
    expect((await services(ok.body.token as string)).status).toBe(200);
  });

  it('the store keeps only a slow hash of the API secret, and no trace of the TMK in it', async () => {
    const row = await c.db.get<{ secret_hash: string; tmk_enc: string }>('SELECT secret_hash, tmk_enc FROM terminals WHERE id = ?', 'T0002');
    expect(row!.secret_hash).toMatch(/^scrypt\$/);
    expect(row!.secret_hash).not.toContain(creds('T0002').apiSecret);
    expect(row!.tmk_enc).not.toContain(creds('T0002').tmk);
  });
});

describe('rotating the API secret', () => {
  it('shows the new secret once (no-store); the old secret and the tokens issued under it are refused; audited', async () => {
    const id = 'T0003';
    const old = creds(id).apiSecret;
    const before = await token(id, old);
    expect(before.status).toBe(200);
    const oldToken = before.body.token as string;

    const res = await c.api().post(`/v1/admin/terminals/${id}/api-secret`).set(admin);
    expect(res.status, res.text).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.terminalId).toBe(id);
    expect(res.body.apiSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body.apiSecret).not.toBe(old);
    expect(res.body).not.toHaveProperty('tmk');

    expectProblem(await token(id, old), 401, 'UNAUTHORIZED');
    expectProblem(await services(oldToken), 401, 'UNAUTHORIZED');
    const fresh = await token(id, res.body.apiSecret as string);
    expect(fresh.status, fresh.text).toBe(200);
    expect((await services(fresh.body.token as string)).status).toBe(200);
    // The TMK is untouched: the JSON secret's rotation gives and takes no ISO key.
    expect((await c.db.get<{ n: number }>('SELECT count(*) AS n FROM terminals WHERE id = ? AND tmk_enc IS NOT NULL', id))!.n).toBe(1);

    const rows = await audits(id, 'terminal.rotate_secret');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.actor).toBe('admin:admin');
    expect(JSON.stringify(rows)).not.toContain(res.body.apiSecret);
  });

  it('an unknown terminal → 404; a non-admin → 403', async () => {
    expectProblem(await c.api().post('/v1/admin/terminals/T9999/api-secret').set(admin), 404, 'NOT_FOUND');
    expectProblem(await c.api().post('/v1/admin/terminals/T0004/api-secret').set(bearer(c.h.userToken('finance'))), 403, 'FORBIDDEN');
    expectProblem(await c.api().post('/v1/admin/terminals/T0004/tmk').set(bearer(c.h.terminalToken('T0004'))), 403, 'FORBIDDEN');
  });
});

describe('rotating the TMK', () => {
  it('shows a new 64-hex TMK once (no-store), sealed in the store; audited; the API secret still works', async () => {
    const id = 'T0005';
    const sealedBefore = (await c.db.get<{ tmk_enc: string }>('SELECT tmk_enc FROM terminals WHERE id = ?', id))!.tmk_enc;
    const res = await c.api().post(`/v1/admin/terminals/${id}/tmk`).set(admin);
    expect(res.status, res.text).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.tmk).toMatch(/^[0-9a-f]{64}$/);
    expect(res.body.tmk).not.toBe(creds(id).tmk);
    const sealedAfter = (await c.db.get<{ tmk_enc: string }>('SELECT tmk_enc FROM terminals WHERE id = ?', id))!.tmk_enc;
    expect(sealedAfter).not.toBe(sealedBefore);
    expect(sealedAfter).not.toContain(res.body.tmk);
    // Neither the old nor the new TMK opens the JSON API; the API secret does.
    expectProblem(await token(id, res.body.tmk as string), 401, 'UNAUTHORIZED');
    expect((await token(id, creds(id).apiSecret)).status).toBe(200);
    const rows = await audits(id, 'terminal.rotate_tmk');
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(res.body.tmk);
    const events = await c.db.all<{ type: string }>("SELECT type FROM events WHERE terminal_id = ? AND type = 'terminal.key_rotated'", id);
    expect(events).toHaveLength(1);
  });
});

describe('a terminal without an API secret (provisioned when the TMK was the secret)', () => {
  it('is refused with a detail naming the way out; an admin issues a secret and it works', async () => {
    const id = 'T0006';
    // The state an upgraded database leaves (see the upgrade test below).
    await c.h.rt.store.rotateTerminalKey(id, { secretHash: NO_API_SECRET }, { actor: 'test', action: 'test.legacy', target: id });
    const refused = await token(id, creds(id).apiSecret);
    expectProblem(refused, 401, 'UNAUTHORIZED');
    expect(refused.body.detail).toMatch(/has no API secret yet/);
    expectProblem(await token(id, creds(id).tmk), 401, 'UNAUTHORIZED');
    const issued = await c.api().post(`/v1/admin/terminals/${id}/api-secret`).set(admin);
    expect(issued.status).toBe(200);
    expect((await token(id, issued.body.apiSecret as string)).status).toBe(200);
  });
});

describe('upgrading a database where secret_hash held a hash of the TMK', () => {
  it('erases those hashes once: the TMK no longer opens /v1/auth/token, and later secrets are kept', async () => {
    const id = 'T0007';
    const legacy = await hashSecret(creds(id).tmk, KEY_COST);
    await c.db.run('UPDATE terminals SET secret_hash = ? WHERE id = ?', legacy, id);
    let reopened: SqliteStore | PgStore;
    if (TEST_STORE === 'sqlite') {
      // A file of the older release: no 'api_secrets' mark yet.
      await c.db.run("DELETE FROM meta WHERE key = 'api_secrets'");
      reopened = SqliteStore.open(c.h.config.dbFile);
    } else {
      // A database at migration 001: 002 not applied yet.
      const url = c.h.config.database!.url;
      const pool = openPool(url, 1);
      await pool.query('DELETE FROM schema_migrations WHERE version = 2');
      expect(await migrate(pool)).toEqual([2]);
      await pool.end();
      reopened = await PgStore.open(url);
    }
    try {
      expect((await reopened.getTerminal(id))!.secretHash).toBe(NO_API_SECRET);
      // Done once: a secret issued after the upgrade survives the next start.
      const fresh = await hashSecret('x'.repeat(43), KEY_COST);
      await reopened.rotateTerminalKey(id, { secretHash: fresh }, { actor: 'test', action: 'test.rotate', target: id });
    } finally {
      await reopened.close();
    }
    const again = TEST_STORE === 'sqlite' ? SqliteStore.open(c.h.config.dbFile) : await PgStore.open(c.h.config.database!.url);
    try {
      expect((await again.getTerminal(id))!.secretHash).toMatch(/^scrypt\$/);
    } finally {
      await again.close();
    }
  });
});
