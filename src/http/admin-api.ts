// Admin API: provision terminals (the TMK is shown once), block and unblock them,
// suspend counters, change credit limits. Every change is audited by the store.
import { randomBytes } from 'node:crypto';
import { Router, type Request } from 'express';
import { KEY_COST, hashSecret, sealTmk } from '../auth/secrets.js';
import { principalName } from '../auth/principal.js';
import { PaymentError } from '../payments/errors.js';
import type { Counter } from '../store/types.js';
import { authenticate, principal, requireRole } from './auth.js';
import type { AppContext } from './context.js';
import { documented } from './openapi.js';
import * as S from './schemas.js';

function counterOut(c: Counter, exposure?: number) {
  return {
    id: c.id,
    kind: c.kind,
    name: c.name,
    address: c.address,
    town: c.town,
    iban: c.iban,
    creditLimit: c.creditLimitCents,
    ...(exposure === undefined ? {} : { exposure }),
    status: c.status,
  };
}

export function adminApi(ctx: AppContext): Router {
  const r = Router();
  const { store } = ctx;
  const admin = [authenticate(ctx.tokens), requireRole('admin')];
  const readers = [authenticate(ctx.tokens), requireRole('admin', 'finance')];
  const actor = (req: Request) => principalName(principal(req));

  documented({ method: 'get', path: '/v1/admin/counters', summary: 'All counters', roles: ['admin', 'finance'] });
  r.get('/v1/admin/counters', ...readers, async (_req, res) => {
    res.json((await store.listCounters()).map((c) => counterOut(c)));
  });

  documented({ method: 'get', path: '/v1/admin/counters/:id', summary: 'A counter with its exposure (cash collected, not settled)', roles: ['admin', 'finance'], response: S.CounterOut });
  r.get('/v1/admin/counters/:id', ...readers, async (req, res) => {
    const c = await store.getCounter(String(req.params.id));
    if (!c) throw new PaymentError('NOT_FOUND', `no counter ${String(req.params.id)}`);
    res.json({ ...counterOut(c, await store.counterExposure(c.id)), terminals: await store.listTerminals(c.id) });
  });

  const counterStatus = (status: Counter['status']) => async (req: Request, res: import('express').Response) => {
    const id = String(req.params.id);
    if (!(await store.setCounterStatus(id, status, { actor: actor(req), action: `counter.${status}`, target: id }))) {
      throw new PaymentError('NOT_FOUND', `no counter ${id}`);
    }
    res.json(counterOut((await store.getCounter(id))!));
  };
  documented({ method: 'post', path: '/v1/admin/counters/:id/suspend', summary: 'Suspend a counter: its terminals are refused (57/58)', roles: ['admin'], response: S.CounterOut });
  r.post('/v1/admin/counters/:id/suspend', ...admin, counterStatus('suspended'));
  documented({ method: 'post', path: '/v1/admin/counters/:id/reactivate', summary: 'Reactivate a suspended counter', roles: ['admin'], response: S.CounterOut });
  r.post('/v1/admin/counters/:id/reactivate', ...admin, counterStatus('active'));

  documented({ method: 'put', path: '/v1/admin/counters/:id/credit-limit', summary: "Change a counter's credit limit (cents)", roles: ['admin'], body: S.CreditLimitInput, response: S.CounterOut });
  r.put('/v1/admin/counters/:id/credit-limit', ...admin, async (req, res) => {
    const id = String(req.params.id);
    const body = S.CreditLimitInput.parse(req.body);
    const before = await store.getCounter(id);
    if (!before) throw new PaymentError('NOT_FOUND', `no counter ${id}`);
    await store.setCreditLimit(id, body.creditLimit, {
      actor: actor(req),
      action: 'counter.credit_limit',
      target: id,
      detail: { from: before.creditLimitCents, to: body.creditLimit },
    });
    res.json(counterOut((await store.getCounter(id))!, await store.counterExposure(id)));
  });

  documented({ method: 'get', path: '/v1/admin/terminals', summary: 'Terminals (optionally ?counterId=)', roles: ['admin', 'finance'] });
  r.get('/v1/admin/terminals', ...readers, async (req, res) => {
    const counterId = typeof req.query.counterId === 'string' ? req.query.counterId : undefined;
    res.json(await store.listTerminals(counterId));
  });

  documented({
    method: 'post', path: '/v1/admin/terminals', summary: 'Provision a terminal; the answer carries its TMK, shown this once',
    roles: ['admin'], body: S.ProvisionTerminal, response: S.ProvisionedTerminal, status: 201,
  });
  r.post('/v1/admin/terminals', ...admin, async (req, res) => {
    const body = S.ProvisionTerminal.parse(req.body);
    const counter = await store.getCounter(body.counterId);
    if (!counter) throw new PaymentError('NOT_FOUND', `no counter ${body.counterId}`);
    const terminalId = body.terminalId ?? (await store.nextTerminalId());
    if (await store.getTerminal(terminalId)) throw new PaymentError('CONFLICT', `terminal ${terminalId} exists`);
    const tmk = randomBytes(32);
    const tmkHex = tmk.toString('hex');
    await store.insertTerminal(
      { id: terminalId, counterId: counter.id, tmkSealed: sealTmk(ctx.kek, terminalId, tmk), secretHash: await hashSecret(tmkHex, KEY_COST) },
      { actor: actor(req), action: 'terminal.provision', target: terminalId, detail: { counterId: counter.id } },
    );
    res.status(201).set('Cache-Control', 'no-store').json({ terminalId, counterId: counter.id, tmk: tmkHex });
  });

  const terminalStatus = (status: 'active' | 'blocked') => async (req: Request, res: import('express').Response) => {
    const id = String(req.params.id);
    if (!(await store.setTerminalStatus(id, status, { actor: actor(req), action: status === 'blocked' ? 'terminal.block' : 'terminal.unblock', target: id }))) {
      throw new PaymentError('NOT_FOUND', `no terminal ${id}`);
    }
    const t = (await store.getTerminal(id))!;
    res.json({ id: t.id, counterId: t.counterId, status: t.status });
  };
  documented({ method: 'post', path: '/v1/admin/terminals/:id/block', summary: 'Block a terminal', roles: ['admin'] });
  r.post('/v1/admin/terminals/:id/block', ...admin, terminalStatus('blocked'));
  documented({ method: 'post', path: '/v1/admin/terminals/:id/unblock', summary: 'Unblock a terminal', roles: ['admin'] });
  r.post('/v1/admin/terminals/:id/unblock', ...admin, terminalStatus('active'));

  return r;
}
