// Administration of terminals and counters on PostgreSQL: provisioning, blocking,
// re-keying and KEK rotation, sign-on, suspension and credit limits. Each change is
// one administrative transaction with its audit entry and event; the caches of every
// instance forget the row it changed.
import type { AuditEntry, Counter, Terminal } from '../types.js';
import type { Reseal } from '../reseal.js';
import type { PgContext } from './context.js';
import { resealUnderLock } from './reseal.js';

export async function insertTerminal(ctx: PgContext, t: { id: string; counterId: string; tmkSealed: string; secretHash: string }, audit: AuditEntry) {
  const at = ctx.clock();
  await ctx.tx(async ({ c, audit: log, invalidate }) => {
    await c.query('INSERT INTO terminals (id, counter_id, status, tmk_enc, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      t.id, t.counterId, 'active', t.tmkSealed, t.secretHash, at,
    ]);
    log(audit, at);
    invalidate('terminal', t.id);
  }).finally(() => ctx.terminals.delete(t.id));
}

export async function nextTerminalId(ctx: PgContext): Promise<string> {
  const ids = await ctx.q<{ id: string }>("SELECT id FROM terminals WHERE id ~ '^T[0-9]'");
  const max = ids.reduce((m, r) => Math.max(m, Number(r.id.slice(1)) || 0), 0);
  return `T${String(max + 1).padStart(4, '0')}`;
}

export async function sealedTerminalKeys(ctx: PgContext): Promise<{ id: string; tmkSealed: string }[]> {
  return ctx.q<{ id: string; tmkSealed: string }>('SELECT id, tmk_enc AS "tmkSealed" FROM terminals ORDER BY id');
}

export async function resealTerminalKeys(ctx: PgContext, changes: Reseal[], audit: AuditEntry): Promise<void> {
  const at = ctx.clock();
  await ctx.tx(async ({ c, audit: log }) => {
    await resealUnderLock(c, changes);
    log(audit, at);
  }).finally(() => ctx.terminals.clear());
}

export async function setTerminalStatus(ctx: PgContext, id: string, status: Terminal['status'], audit: AuditEntry): Promise<boolean> {
  const at = ctx.clock();
  return ctx.tx(async ({ c, emit, audit: log, invalidate }) => {
    const r = await c.query<{ counter_id: string }>('UPDATE terminals SET status = $1 WHERE id = $2 RETURNING counter_id', [status, id]);
    const counterId = r.rows[0]?.counter_id;
    if (counterId === undefined) return false;
    log(audit, at);
    invalidate('terminal', id);
    emit({ type: status === 'blocked' ? 'terminal.blocked' : 'terminal.unblocked', at, terminalId: id, counterId, entityId: null, serviceCode: null, payload: { terminalId: id, counterId } });
    return true;
  }).finally(() => ctx.terminals.delete(id));
}

export async function rotateTerminalKey(ctx: PgContext, id: string, key: { tmkSealed: string } | { secretHash: string }, audit: AuditEntry): Promise<boolean> {
  const at = ctx.clock();
  const [column, value, which] = 'tmkSealed' in key ? ['tmk_enc', key.tmkSealed, 'tmk'] : ['secret_hash', key.secretHash, 'apiSecret'];
  return ctx.tx(async ({ c, emit, audit: log, invalidate }) => {
    const r = await c.query<{ counter_id: string }>(`UPDATE terminals SET ${column} = $1 WHERE id = $2 RETURNING counter_id`, [value, id]);
    const counterId = r.rows[0]?.counter_id;
    if (counterId === undefined) return false;
    log(audit, at);
    invalidate('terminal', id);
    emit({ type: 'terminal.key_rotated', at, terminalId: id, counterId, entityId: null, serviceCode: null, payload: { terminalId: id, counterId, key: which } });
    return true;
  }).finally(() => ctx.terminals.delete(id));
}

export async function acceptSignOn(ctx: PgContext, id: string, transmittedAtMs: number, stan: number): Promise<boolean> {
  // One statement: atomic against another instance's sign-on of the same terminal.
  const n = await ctx.exec(
    `UPDATE terminals SET signon_at = $1, signon_stan = $2
     WHERE id = $3 AND (signon_at IS NULL OR (signon_at, signon_stan) < ($1::bigint, $2::integer))`,
    [transmittedAtMs, stan, id],
  );
  return n === 1;
}

export async function setCounterStatus(ctx: PgContext, id: string, status: Counter['status'], audit: AuditEntry): Promise<boolean> {
  const at = ctx.clock();
  return ctx.tx(async ({ c, emit, audit: log, invalidate }) => {
    if ((await c.query('UPDATE counters SET status = $1 WHERE id = $2', [status, id])).rowCount !== 1) return false;
    log(audit, at);
    invalidate('counter', id);
    emit({ type: status === 'suspended' ? 'counter.suspended' : 'counter.reactivated', at, terminalId: null, counterId: id, entityId: null, serviceCode: null, payload: { counterId: id } });
    return true;
  }).finally(() => ctx.counters.delete(id));
}

export async function setCreditLimit(ctx: PgContext, id: string, cents: number, audit: AuditEntry): Promise<boolean> {
  const at = ctx.clock();
  return ctx.tx(async ({ c, audit: log, invalidate }) => {
    if ((await c.query('UPDATE counters SET credit_limit_cents = $1 WHERE id = $2', [cents, id])).rowCount !== 1) return false;
    log(audit, at);
    invalidate('counter', id);
    return true;
  }).finally(() => ctx.counters.delete(id));
}
