// Users of the administration API on PostgreSQL (their failed logins and the audit log
// are in audit.ts), and the console sessions ended by logout.
import { toUser, type UserRow } from '../rows.js';
import type { AuditEntry } from '../types.js';
import type { PgContext } from './context.js';

export async function setUserDisabled(ctx: PgContext, username: string, disabled: boolean, audit: AuditEntry): Promise<boolean> {
  const at = ctx.clock();
  return ctx.tx(async ({ c, emit, audit: log }) => {
    if ((await c.query('UPDATE users SET disabled = $1 WHERE username = $2', [disabled ? 1 : 0, username])).rowCount !== 1) return false;
    log(audit, at);
    // The event reaches every instance's stream, which closes the user's streams.
    emit({ type: disabled ? 'user.disabled' : 'user.enabled', at, terminalId: null, counterId: null, entityId: null, serviceCode: null, payload: { username } });
    return true;
  });
}

export async function addUser(ctx: PgContext, u: { username: string; role: 'entity' | 'finance' | 'admin'; entityId: string | null; passwordHash: string }) {
  await ctx.exec(
    `INSERT INTO users (username, role, entity_id, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (username) DO UPDATE SET role = excluded.role, entity_id = excluded.entity_id, password_hash = excluded.password_hash`,
    [u.username, u.role, u.entityId, u.passwordHash, ctx.clock()],
  );
}

export async function getUser(ctx: PgContext, username: string) {
  const r = await ctx.one<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
  return r && toUser(r);
}

/** One statement (one round trip): the rows past their cap pruned, the session recorded. */
export async function endSession(ctx: PgContext, id: string, until: number, now: number): Promise<void> {
  await ctx.exec(
    `WITH pruned AS (DELETE FROM ended_sessions WHERE until < $3)
     INSERT INTO ended_sessions (session_id, until) VALUES ($1, $2) ON CONFLICT (session_id) DO NOTHING`,
    [id, until, now],
  );
}

export async function sessionEnded(ctx: PgContext, id: string): Promise<boolean> {
  return (await ctx.one('SELECT 1 FROM ended_sessions WHERE session_id = $1', [id])) !== undefined;
}
