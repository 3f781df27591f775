// Admin API of the network's configuration (issue 13): entities and their circuit fees,
// services, fee schedules, counters and users. Every write builds a one-item
// NetworkChange and goes through the one door (NetworkConfiguration.apply: validated
// whole, applied in one transaction, audited under the caller's name); a refused change
// is a 422 NETWORK_INVALID that lists every problem. Admins write; admins and finance read.
// Money never changes retroactively: fee and circuit fee versions are only ever added,
// from a future date (the validation refuses any other).
import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import { principalName } from '../auth/principal.js';
import type { CounterInput, EntityInput, NetworkChange, NetworkConfiguration, NetworkKind, NetworkProblem, NetworkState } from '../network/change.js';
import { authenticate, principal, requireRole } from './auth.js';
import type { AppContext } from './context.js';
import * as N from './network-schemas.js';
import { documented } from './openapi.js';
import { sendProblem } from './problem.js';

/** The words of a 422: how many problems, and the first few in a line. */
export function problemsDetail(problems: NetworkProblem[]): string {
  const shown = problems.slice(0, 5).map((p) => (p.field ? `${p.field}: ${p.message}` : p.message));
  return `the change was refused (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${shown.join('; ')}${problems.length > 5 ? '; ...' : ''}`;
}

function sendInvalid(res: Response, problems: NetworkProblem[]): void {
  sendProblem(res, 'NETWORK_INVALID', problemsDetail(problems), { problems });
}

/** The next free counter id of the C0001 series. */
export function nextCounterId(counters: { id: string }[]): string {
  const last = Math.max(0, ...counters.map((c) => /^C(\d+)$/.exec(c.id)).map((m) => (m ? Number(m[1]) : 0)));
  return `C${String(last + 1).padStart(4, '0')}`;
}

const entityOut = (e: EntityInput, s: NetworkState) => ({ ...e, circuitFees: s.circuitFees.filter((f) => f.entityId === e.id) });

/**
 * @param network the one door
 * @param onChanged called after every applied change: this instance's payments reload
 *        the catalogue at once (others hear the `network.changed` event)
 */
export function networkApi(ctx: AppContext, network: NetworkConfiguration, onChanged: () => Promise<void>): Router {
  const r = Router();
  const admin = [authenticate(ctx.tokens), requireRole('admin')];
  const readers = [authenticate(ctx.tokens), requireRole('admin', 'finance')];
  const actor = (req: Request) => principalName(principal(req));
  const param = (req: Request, name: string) => String(req.params[name]);

  /** The body through its schema; on failure a 422 listing every issue has been sent. */
  function parse<T extends z.ZodType>(schema: T, kind: NetworkKind, res: Response, value: unknown): z.infer<T> | undefined {
    const r = schema.safeParse(value ?? {});
    if (r.success) return r.data;
    sendInvalid(res, N.zodProblems(kind, r.error.issues));
    return undefined;
  }

  /** Applies a change; on problems a 422 has been sent and undefined is returned. */
  async function apply(req: Request, res: Response, change: NetworkChange) {
    const result = await network.apply(change, actor(req));
    if (!result.ok) {
      sendInvalid(res, result.problems);
      return undefined;
    }
    await onChanged();
    return result;
  }

  const notFound = (res: Response, what: string) => sendProblem(res, 'NOT_FOUND', `no ${what}`);

  // Writes of this instance one at a time: a write reads the network (the current item,
  // the next counter id) then applies a change built from it, and two at once could
  // otherwise both take the same new id or undo each other's fields.
  let writes: Promise<unknown> = Promise.resolve();
  const serial = (handler: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response) => {
    const run = writes.then(() => handler(req, res));
    writes = run.catch(() => undefined);
    return run;
  };

  // ----- entities

  documented({ method: 'get', path: '/v1/admin/entities', summary: 'Entities, each with its circuit fee versions', roles: ['admin', 'finance'], response: N.EntityOut.array() });
  r.get('/v1/admin/entities', ...readers, async (_req, res) => {
    const s = await network.state();
    res.json(s.entities.map((e) => entityOut(e, s)));
  });

  documented({ method: 'get', path: '/v1/admin/entities/:id', summary: 'An entity with its circuit fee versions', roles: ['admin', 'finance'], response: N.EntityOut, params: { id: N.EntityId }, errors: ['NOT_FOUND'] });
  r.get('/v1/admin/entities/:id', ...readers, async (req, res) => {
    const s = await network.state();
    const e = s.entities.find((x) => x.id === param(req, 'id'));
    if (!e) return notFound(res, `entity ${param(req, 'id')}`);
    res.json(entityOut(e, s));
  });

  documented({
    method: 'put', path: '/v1/admin/entities/:id', summary: 'Create (201) or replace (200) an entity: tax code, VAT number, IBAN, FatturaPA office code',
    roles: ['admin'], body: N.EntityBody, response: N.EntityOut, status: 201, alsoStatus: { 200: 'replaced' }, params: { id: N.EntityId }, errors: ['NETWORK_INVALID'],
  });
  r.put('/v1/admin/entities/:id', ...admin, serial(async (req, res) => {
    const body = parse(N.EntityBody, 'entities', res, req.body);
    if (!body) return;
    const done = await apply(req, res, { entities: [{ id: param(req, 'id'), ...body }] });
    if (!done) return;
    const s = await network.state();
    res.status(done.applied.entities.created ? 201 : 200).json(entityOut(s.entities.find((e) => e.id === param(req, 'id'))!, s));
  }));

  documented({ method: 'get', path: '/v1/admin/entities/:id/circuit-fees', summary: "An entity's circuit fee versions, oldest first", roles: ['admin', 'finance'], response: N.CircuitFeeOut.array(), params: { id: N.EntityId }, errors: ['NOT_FOUND'] });
  r.get('/v1/admin/entities/:id/circuit-fees', ...readers, async (req, res) => {
    const s = await network.state();
    if (!s.entities.some((e) => e.id === param(req, 'id'))) return notFound(res, `entity ${param(req, 'id')}`);
    res.json(s.circuitFees.filter((f) => f.entityId === param(req, 'id')));
  });

  documented({
    method: 'post', path: '/v1/admin/entities/:id/circuit-fees',
    summary: 'Add a circuit fee version (fee and mode) from a future date; one already in force is never changed. 201, or 200 when the same version exists',
    roles: ['admin'], body: N.CircuitFeeBody, response: N.CircuitFeeOut, status: 201, alsoStatus: { 200: 'the same version exists: nothing changed' },
    params: { id: N.EntityId }, errors: ['NETWORK_INVALID', 'NOT_FOUND'],
  });
  r.post('/v1/admin/entities/:id/circuit-fees', ...admin, serial(async (req, res) => {
    const entityId = param(req, 'id');
    const body = parse(N.CircuitFeeBody, 'circuitFees', res, req.body);
    if (!body) return;
    if (!(await network.state()).entities.some((e) => e.id === entityId)) return notFound(res, `entity ${entityId}`);
    const fee = { entityId, ...body };
    const done = await apply(req, res, { circuitFees: [fee] });
    if (done) res.status(done.applied.circuitFees.created ? 201 : 200).json(fee);
  }));

  // ----- services

  documented({ method: 'get', path: '/v1/admin/services', summary: 'Services (enabled or not)', roles: ['admin', 'finance'], response: N.ServiceOut.array() });
  r.get('/v1/admin/services', ...readers, async (_req, res) => {
    res.json((await network.state()).services);
  });

  documented({ method: 'get', path: '/v1/admin/services/:code', summary: 'A service', roles: ['admin', 'finance'], response: N.ServiceOut, params: { code: N.ServiceCode }, errors: ['NOT_FOUND'] });
  r.get('/v1/admin/services/:code', ...readers, async (req, res) => {
    const svc = (await network.state()).services.find((x) => x.code === param(req, 'code'));
    if (!svc) return notFound(res, `service ${param(req, 'code')}`);
    res.json(svc);
  });

  documented({
    method: 'put', path: '/v1/admin/services/:code', summary: 'Create (201) or replace (200) a service: entity, identifier kind, amount rule and its parameters',
    roles: ['admin'], body: N.ServiceBody, response: N.ServiceOut, status: 201, alsoStatus: { 200: 'replaced' }, params: { code: N.ServiceCode }, errors: ['NETWORK_INVALID'],
  });
  r.put('/v1/admin/services/:code', ...admin, serial(async (req, res) => {
    const code = param(req, 'code');
    const body = parse(N.ServiceBody, 'services', res, req.body);
    if (!body) return;
    const current = (await network.state()).services.find((x) => x.code === code);
    const service = { code, ...body, enabled: body.enabled ?? current?.enabled ?? true };
    const done = await apply(req, res, { services: [service] });
    if (done) res.status(done.applied.services.created ? 201 : 200).json(service);
  }));

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    documented({
      method: 'post', path: `/v1/admin/services/:code/${verb}`,
      summary: enabled ? 'Enable a service' : 'Disable a service: terminals are refused it (SERVICE_DISABLED) at once, on every instance',
      roles: ['admin'], response: N.ServiceOut, params: { code: N.ServiceCode }, errors: ['NOT_FOUND', 'NETWORK_INVALID'],
    });
    r.post(`/v1/admin/services/:code/${verb}`, ...admin, serial(async (req, res) => {
      const current = (await network.state()).services.find((x) => x.code === param(req, 'code'));
      if (!current) return notFound(res, `service ${param(req, 'code')}`);
      const service = { ...current, enabled };
      if (await apply(req, res, { services: [service] })) res.json(service);
    }));
  }

  // ----- fee schedules

  documented({
    method: 'get', path: '/v1/admin/fee-schedules', summary: 'Fee schedule versions per service and counter kind, oldest first',
    roles: ['admin', 'finance'], query: N.FeeScheduleQuery, response: N.FeeScheduleOut.array(),
  });
  r.get('/v1/admin/fee-schedules', ...readers, async (req, res) => {
    const q = N.FeeScheduleQuery.parse(req.query);
    const all = (await network.state()).feeSchedules;
    res.json(all.filter((f) => (!q.service || f.serviceCode === q.service) && (!q.counterKind || f.counterKind === q.counterKind)));
  });

  documented({
    method: 'post', path: '/v1/admin/fee-schedules',
    summary: 'Add a fee schedule version of a service for a counter kind, from a future date; one already in force is never changed. 201, or 200 when the same version exists',
    roles: ['admin'], body: N.FeeScheduleBody, response: N.FeeScheduleOut, status: 201, alsoStatus: { 200: 'the same version exists: nothing changed' }, errors: ['NETWORK_INVALID'],
  });
  r.post('/v1/admin/fee-schedules', ...admin, serial(async (req, res) => {
    const body = parse(N.FeeScheduleBody, 'feeSchedules', res, req.body);
    if (!body) return;
    const schedule = body as NonNullable<NetworkChange['feeSchedules']>[number];
    const done = await apply(req, res, { feeSchedules: [schedule] });
    if (done) res.status(done.applied.feeSchedules.created ? 201 : 200).json(schedule);
  }));

  // ----- counters (lists, details, suspension and credit limits: admin-api.ts)

  documented({
    method: 'post', path: '/v1/admin/counters', summary: 'Create a counter: kind, name, address, IBAN, SDD mandate, credit limit (409 if the id exists)',
    roles: ['admin'], body: N.CounterCreate, response: N.NetworkCounterOut, status: 201, errors: ['NETWORK_INVALID', 'CONFLICT'],
  });
  r.post('/v1/admin/counters', ...admin, serial(async (req, res) => {
    const body = parse(N.CounterCreate, 'counters', res, req.body);
    if (!body) return;
    const counters = (await network.state()).counters;
    const id = body.id ?? nextCounterId(counters);
    if (counters.some((c) => c.id === id)) return sendProblem(res, 'CONFLICT', `counter ${id} exists; change it with PUT /v1/admin/counters/${id}`);
    const counter: CounterInput = { ...body, kind: body.kind as CounterInput['kind'], id, status: body.status ?? 'active' };
    if (await apply(req, res, { counters: [counter], mustBeNew: ['counters'] })) res.status(201).json(counter);
  }));

  documented({
    method: 'put', path: '/v1/admin/counters/:id', summary: "Replace a counter's fields (status unchanged unless given)",
    roles: ['admin'], body: N.CounterUpdate, response: N.NetworkCounterOut, errors: ['NETWORK_INVALID', 'NOT_FOUND'],
  });
  r.put('/v1/admin/counters/:id', ...admin, serial(async (req, res) => {
    const body = parse(N.CounterUpdate, 'counters', res, req.body);
    if (!body) return;
    const current = (await network.state()).counters.find((c) => c.id === param(req, 'id'));
    if (!current) return notFound(res, `counter ${param(req, 'id')}`);
    const counter: CounterInput = { ...body, kind: body.kind as CounterInput['kind'], id: current.id, status: body.status ?? current.status };
    if (await apply(req, res, { counters: [counter] })) res.json(counter);
  }));

  // ----- users (disable/enable: admin-api.ts)

  documented({ method: 'get', path: '/v1/admin/users', summary: 'Users with their role, entity and whether disabled', roles: ['admin', 'finance'], response: N.UserOut.array() });
  r.get('/v1/admin/users', ...readers, async (_req, res) => {
    const users = (await network.state()).users;
    const rows = await Promise.all(users.map(async (u) => ({ ...u, disabled: (await ctx.store.getUser(u.username))?.disabled ?? false })));
    res.json(rows);
  });

  documented({
    method: 'put', path: '/v1/admin/users/:username',
    summary: "Create a user (201; the answer carries its generated password, shown this once) or change an existing one's role and entity (200; the password is untouched)",
    roles: ['admin'], body: N.UserBody, response: N.CreatedUser, status: 201, alsoStatus: { 200: 'changed (no password in the answer)' }, params: { username: N.Username },
    errors: ['NETWORK_INVALID'],
  });
  r.put('/v1/admin/users/:username', ...admin, serial(async (req, res) => {
    const username = N.Username.safeParse(param(req, 'username'));
    if (!username.success) return sendInvalid(res, N.zodProblems('users', username.error.issues).map((p) => ({ ...p, field: 'username' })));
    const body = parse(N.UserBody, 'users', res, req.body);
    if (!body) return;
    const user = { username: username.data, ...body };
    const done = await apply(req, res, { users: [user] });
    if (!done) return;
    const created = done.credentials.users.find((u) => u.username === user.username);
    res.set('Cache-Control', 'no-store');
    if (created) res.status(201).json({ ...user, password: created.password });
    else res.json(user);
  }));

  return r;
}
