// Admin API: provision terminals (TMK and API secret shown once), rotate either, block and unblock them,
// suspend counters, change credit limits. Thin: decode, authorise, call
// src/payments/admin.ts (which audits every change), encode.
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { principalName } from '../auth/principal.js';
import type { NetworkAdmin } from '../payments/admin.js';
import type { Counter, Terminal } from '../store/types.js';
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

const terminalOut = (t: Terminal) => ({ id: t.id, counterId: t.counterId, status: t.status });

export function adminApi(ctx: AppContext, network: NetworkAdmin): Router {
  const r = Router();
  const admin = [authenticate(ctx.tokens), requireRole('admin')];
  const readers = [authenticate(ctx.tokens), requireRole('admin', 'finance')];
  const actor = (req: Request) => principalName(principal(req));
  const id = (req: Request) => String(req.params.id);

  documented({ method: 'get', path: '/v1/admin/counters', summary: 'All counters', roles: ['admin', 'finance'], response: z.array(S.CounterOut) });
  r.get('/v1/admin/counters', ...readers, async (_req, res) => {
    res.json((await network.listCounters()).map((c) => counterOut(c)));
  });

  documented({ method: 'get', path: '/v1/admin/counters/:id', summary: 'A counter with its exposure (cash collected, not settled)', roles: ['admin', 'finance'], response: S.CounterDetailOut, errors: ['NOT_FOUND'] });
  r.get('/v1/admin/counters/:id', ...readers, async (req, res) => {
    const { counter, exposureCents, terminals } = await network.counterDetail(id(req));
    res.json({ ...counterOut(counter, exposureCents), terminals });
  });

  const counterStatus = (status: Counter['status']) => async (req: Request, res: Response) => {
    res.json(counterOut(await network.setCounterStatus(id(req), status, actor(req))));
  };
  documented({ method: 'post', path: '/v1/admin/counters/:id/suspend', summary: 'Suspend a counter: its terminals are refused (57/58)', roles: ['admin'], response: S.CounterOut, errors: ['NOT_FOUND'] });
  r.post('/v1/admin/counters/:id/suspend', ...admin, counterStatus('suspended'));
  documented({ method: 'post', path: '/v1/admin/counters/:id/reactivate', summary: 'Reactivate a suspended counter', roles: ['admin'], response: S.CounterOut, errors: ['NOT_FOUND'] });
  r.post('/v1/admin/counters/:id/reactivate', ...admin, counterStatus('active'));

  documented({ method: 'put', path: '/v1/admin/counters/:id/credit-limit', summary: "Change a counter's credit limit (cents)", roles: ['admin'], body: S.CreditLimitInput, response: S.CounterOut, errors: ['NOT_FOUND'] });
  r.put('/v1/admin/counters/:id/credit-limit', ...admin, async (req, res) => {
    const body = S.CreditLimitInput.parse(req.body);
    const { counter, exposureCents } = await network.setCreditLimit(id(req), body.creditLimit, actor(req));
    res.json(counterOut(counter, exposureCents));
  });

  documented({ method: 'get', path: '/v1/admin/terminals', summary: 'Terminals (optionally ?counterId=)', roles: ['admin', 'finance'], query: S.TerminalListQuery, response: z.array(S.TerminalSummaryOut) });
  r.get('/v1/admin/terminals', ...readers, async (req, res) => {
    const { counterId } = S.TerminalListQuery.parse(req.query);
    res.json(await network.listTerminals(counterId));
  });

  documented({
    method: 'post', path: '/v1/admin/terminals', summary: 'Provision a terminal; the answer carries its TMK and its API secret, shown this once',
    roles: ['admin'], body: S.ProvisionTerminal, response: S.ProvisionedTerminal, status: 201, errors: ['NOT_FOUND', 'CONFLICT'],
  });
  r.post('/v1/admin/terminals', ...admin, async (req, res) => {
    const body = S.ProvisionTerminal.parse(req.body);
    const t = await network.provisionTerminal(body, actor(req));
    res.status(201).set('Cache-Control', 'no-store').json({ terminalId: t.terminalId, counterId: t.counterId, tmk: t.tmkHex, apiSecret: t.apiSecret });
  });

  documented({
    method: 'post', path: '/v1/admin/terminals/:id/tmk', summary: "Rotate a terminal's TMK: the new one is shown this once; its ISO session ends",
    roles: ['admin'], response: S.RotatedTmk, errors: ['NOT_FOUND'],
  });
  r.post('/v1/admin/terminals/:id/tmk', ...admin, async (req, res) => {
    const t = await network.rotateTmk(id(req), actor(req));
    res.set('Cache-Control', 'no-store').json({ terminalId: t.terminalId, tmk: t.tmkHex });
  });

  documented({
    method: 'post', path: '/v1/admin/terminals/:id/api-secret', summary: "Rotate a terminal's JSON API secret: the new one is shown this once; the old one and its tokens stop working",
    roles: ['admin'], response: S.RotatedApiSecret, errors: ['NOT_FOUND'],
  });
  r.post('/v1/admin/terminals/:id/api-secret', ...admin, async (req, res) => {
    const t = await network.rotateApiSecret(id(req), actor(req));
    res.set('Cache-Control', 'no-store').json({ terminalId: t.terminalId, apiSecret: t.apiSecret });
  });

  const terminalStatus = (status: 'active' | 'blocked') => async (req: Request, res: Response) => {
    res.json(terminalOut(await network.setTerminalStatus(id(req), status, actor(req))));
  };
  documented({ method: 'post', path: '/v1/admin/terminals/:id/block', summary: 'Block a terminal', roles: ['admin'], response: S.TerminalOut, errors: ['NOT_FOUND'] });
  r.post('/v1/admin/terminals/:id/block', ...admin, terminalStatus('blocked'));
  documented({ method: 'post', path: '/v1/admin/terminals/:id/unblock', summary: 'Unblock a terminal', roles: ['admin'], response: S.TerminalOut, errors: ['NOT_FOUND'] });
  r.post('/v1/admin/terminals/:id/unblock', ...admin, terminalStatus('active'));

  const userDisabled = (disabled: boolean) => async (req: Request, res: Response) => {
    res.json(await network.setUserDisabled(String(req.params.username), disabled, actor(req)));
  };
  documented({ method: 'post', path: '/v1/admin/users/:username/disable', summary: "Disable a user: login refused, its tokens refused, its open streams closed (4403)", roles: ['admin'], response: S.UserStatusOut, errors: ['NOT_FOUND'] });
  r.post('/v1/admin/users/:username/disable', ...admin, userDisabled(true));
  documented({ method: 'post', path: '/v1/admin/users/:username/enable', summary: 'Enable a disabled user again', roles: ['admin'], response: S.UserStatusOut, errors: ['NOT_FOUND'] });
  r.post('/v1/admin/users/:username/enable', ...admin, userDisabled(false));

  return r;
}
