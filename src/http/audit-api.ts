// The audit log for admins (GET /v1/admin/audit: paged, filtered) and the unlock of a
// user or terminal locked by failed logins (src/auth/login-throttle.ts). Admin role only.
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { LoginThrottle, terminalAccount, userAccount } from '../auth/login-throttle.js';
import { principalName } from '../auth/principal.js';
import { systemClock } from '../clock.js';
import { text } from '../payments/inputs.js';
import { authenticate, principal, requireRole } from './auth.js';
import type { AppContext } from './context.js';
import { documented } from './openapi.js';

const instant = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));

export const AuditListQuery = z.strictObject({
  actor: text().min(1).max(80).optional().describe('exactly this actor, e.g. admin:alice or user:bob'),
  action: text().min(1).max(64).optional().describe('exactly this action, e.g. login.failure, settlement.approve'),
  target: text().min(1).max(80).optional().describe('exactly this target'),
  from: instant.optional().describe('rows at or after this instant (ISO 8601 with offset)'),
  to: instant.optional().describe('rows before this instant'),
  cursor: z.string().regex(/^\d{1,15}$/).optional().describe('nextCursor of the page before'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const AuditRow = z.object({
  id: z.number().int(),
  at: z.string().describe('ISO 8601, UTC'),
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  detail: z.record(z.string(), z.unknown()).nullable(),
  hash: z.string().nullable().describe('SHA-256 of the row and the hash before it (tserve audit verify)'),
});
export const AuditPage = z.object({ items: z.array(AuditRow), nextCursor: z.string().nullable() });
const Unlocked = z.object({ account: z.string(), unlocked: z.boolean().describe('false: it had no failed attempts counted') });

export function auditApi(ctx: AppContext): Router {
  const r = Router();
  const admin = [authenticate(ctx.tokens), requireRole('admin')];
  const throttle = new LoginThrottle(ctx.store, ctx.config.loginThrottle, ctx.clock ?? systemClock);

  documented({ method: 'get', path: '/v1/admin/audit', summary: 'The audit log, newest first, paged and filtered', roles: ['admin'], query: AuditListQuery, response: AuditPage });
  r.get('/v1/admin/audit', ...admin, async (req, res) => {
    const q = AuditListQuery.parse(req.query);
    const page = await ctx.store.listAudit(q, q.cursor === undefined ? null : Number(q.cursor), q.limit);
    res.set('Cache-Control', 'no-store').json({
      items: page.items.map((a) => ({
        id: a.id, at: new Date(a.at).toISOString(), actor: a.actor, action: a.action, target: a.target,
        detail: a.detail === null ? null : (JSON.parse(a.detail) as Record<string, unknown>), hash: a.hash,
      })),
      nextCursor: page.nextCursor,
    });
  });

  const unlock = (kind: 'user' | 'terminal') => async (req: Request, res: Response) => {
    const name = String(req.params[kind === 'user' ? 'username' : 'id']);
    const account = kind === 'user' ? userAccount(name) : terminalAccount(name);
    const unlocked = await throttle.unlock(account);
    await ctx.store.appendAudit([{ actor: principalName(principal(req)), action: `${kind}.unlock`, target: account, detail: { hadFailures: unlocked } }]);
    res.json({ account, unlocked });
  };
  documented({ method: 'post', path: '/v1/admin/users/:username/unlock', summary: 'Unlock a user locked by failed logins (the count starts again)', roles: ['admin'], response: Unlocked });
  r.post('/v1/admin/users/:username/unlock', ...admin, unlock('user'));
  documented({ method: 'post', path: '/v1/admin/terminals/:id/unlock', summary: 'Unlock a terminal locked by failed token requests', roles: ['admin'], response: Unlocked });
  r.post('/v1/admin/terminals/:id/unlock', ...admin, unlock('terminal'));

  return r;
}
