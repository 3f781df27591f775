// Debt positions on PostgreSQL: their reads with their options, imports (one
// transaction each, conflicts checked first), the record of imported files, and
// cancelling a position.
import { OPTION_VIEW_SQL, toOptionView, toPositionView, type DebtPositionRow, type OptionRow } from '../rows.js';
import type { DebtPositionView, NewPosition, OptionView, Page, StoreRefusalCode } from '../types.js';
import type { PgContext } from './context.js';
import type { PoolClient } from './pool.js';

type CreatePositionsResult = { ids: number[] } | { errors: { row: number; code: StoreRefusalCode; detail: string }[] };

async function positionViews(ctx: PgContext, rows: DebtPositionRow[]): Promise<DebtPositionView[]> {
  if (rows.length === 0) return [];
  const options = await ctx.q<OptionRow>(`${OPTION_VIEW_SQL} WHERE o.position_id = ANY($1::bigint[]) ORDER BY o.position_id, o.kind DESC, o.instalment_no`, [
    rows.map((p) => p.id),
  ]);
  const byPosition = new Map<number, OptionView[]>();
  for (const o of options) {
    const list = byPosition.get(o.position_id) ?? [];
    list.push(toOptionView(o));
    byPosition.set(o.position_id, list);
  }
  return rows.map((p) => toPositionView(p, byPosition.get(p.id) ?? []));
}

export async function getPosition(ctx: PgContext, id: number): Promise<DebtPositionView | undefined> {
  const p = await ctx.one<DebtPositionRow>('SELECT * FROM debt_positions WHERE id = $1', [id]);
  return p ? (await positionViews(ctx, [p]))[0] : undefined;
}

export async function listPositions(ctx: PgContext, entityId: string, cursor: number, limit: number): Promise<Page<DebtPositionView>> {
  const rows = await ctx.q<DebtPositionRow>('SELECT * FROM debt_positions WHERE entity_id = $1 AND id > $2 ORDER BY id LIMIT $3', [entityId, cursor, limit + 1]);
  const items = await positionViews(ctx, rows.slice(0, limit));
  return { items, nextCursor: rows.length > limit ? String(items.at(-1)!.id) : null };
}

/**
 * An import is one transaction however large (PostgreSQL's row locks do not stop
 * booking elsewhere); conflicts are checked first with the rows locked by their keys.
 */
export async function createPositions(ctx: PgContext, rows: NewPosition[], actor: string): Promise<CreatePositionsResult> {
  const at = ctx.clock();
  let conflicts: { row: number; code: StoreRefusalCode; detail: string }[] = [];
  const ids = await ctx.tx(async ({ c, emit, audit }) => {
    conflicts = await importConflicts(c, rows);
    if (conflicts.length > 0) return [];
    const ids = await insertPositions(c, rows, 'VALID', at);
    const byEntity = new Map<string, number>();
    for (const p of rows) byEntity.set(p.entityId, (byEntity.get(p.entityId) ?? 0) + 1);
    for (const [entityId, count] of byEntity) {
      audit({ actor, action: 'positions.create', target: entityId, detail: { count } }, at);
      emit({ type: 'notices.imported', at, terminalId: null, counterId: null, entityId, serviceCode: null, payload: { entityId, positions: count } });
    }
    return ids;
  }).catch((err: unknown) => {
    // Another import took one of these notices meanwhile (a UNIQUE constraint): nothing stays.
    if (typeof err === 'object' && err !== null && (err as { code?: string }).code === '23505') {
      conflicts = [{ row: 0, code: 'CONFLICT', detail: `the import was taken back: ${(err as Error).message}` }];
      return [];
    }
    throw err;
  });
  return conflicts.length > 0 ? { errors: conflicts } : { ids };
}

/**
 * Drafts are never written here (an import is one transaction), but a SQLite file
 * copied after a crash in the middle of a large upload brings its drafts along: taken
 * back at start like the embedded store's, so that the upload can be sent again.
 */
export async function deleteStaleDrafts(ctx: PgContext): Promise<number> {
  return ctx.tx(async ({ c }) => {
    await c.query("DELETE FROM payment_options WHERE position_id IN (SELECT id FROM debt_positions WHERE status = 'DRAFT')");
    return (await c.query("DELETE FROM debt_positions WHERE status = 'DRAFT'")).rowCount ?? 0;
  });
}

export async function findImport(ctx: PgContext, scope: string, sha256: string) {
  const r = await ctx.one<{ at: string; positions: number }>('SELECT imported_at AS at, positions FROM position_imports WHERE scope = $1 AND sha256 = $2', [scope, sha256]);
  return r && { at: Number(r.at), positions: r.positions };
}

export async function recordImport(ctx: PgContext, scope: string, sha256: string, positions: number) {
  await ctx.exec('INSERT INTO position_imports (scope, sha256, positions, imported_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [scope, sha256, positions, ctx.clock()]);
}

export async function cancelPosition(ctx: PgContext, id: number, actor: string): Promise<{ ok: true } | { ok: false; code: StoreRefusalCode; detail: string }> {
  const at = ctx.clock();
  return ctx.tx(async ({ c, audit }) => {
    const p = (await c.query<{ status: string }>('SELECT status FROM debt_positions WHERE id = $1 FOR UPDATE', [id])).rows[0];
    if (!p) return { ok: false as const, code: 'NOT_FOUND' as const, detail: `no debt position ${id}` };
    if (p.status === 'INVALID') return { ok: true as const };
    if (p.status === 'PAID' || p.status === 'PARTIALLY_PAID') return { ok: false as const, code: 'CONFLICT' as const, detail: `position ${id} is ${p.status} and cannot be cancelled` };
    await c.query("UPDATE debt_positions SET status = 'INVALID' WHERE id = $1", [id]);
    audit({ actor, action: 'positions.cancel', target: String(id) }, at);
    return { ok: true as const };
  });
}

type PositionInput = Omit<NewPosition, 'options'> & { status?: string; options: NewPosition['options'] };

/** Inserts positions and their options; status null keeps each row's own (the seed's). Their ids in order. */
export async function insertPositions(c: PoolClient, rows: PositionInput[], status: 'VALID' | 'DRAFT' | null, at: number): Promise<number[]> {
  if (rows.length === 0) return [];
  const ids = (await c.query<{ id: number }>(
    `INSERT INTO debt_positions (entity_id, service_code, external_ref, debtor_cf, debtor_name, description, status, valid_until, created_at)
     SELECT a, b, c, d, e, f, g, h, $9 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
       WITH ORDINALITY AS x (a, b, c, d, e, f, g, h, i) ORDER BY i RETURNING id`,
    [
      rows.map((p) => p.entityId), rows.map((p) => p.serviceCode), rows.map((p) => p.externalRef), rows.map((p) => p.debtorCf), rows.map((p) => p.debtorName),
      rows.map((p) => p.description), rows.map((p) => status ?? p.status ?? 'VALID'), rows.map((p) => p.validUntil), at,
    ],
  )).rows.map((r) => r.id);
  // RETURNING follows the insertion order, which follows ORDER BY i.
  const opts = rows.flatMap((p, i) => p.options.map((o) => ({ ...o, positionId: ids[i]! })));
  if (opts.length > 0) {
    await c.query(
      `INSERT INTO payment_options (position_id, notice_number, lookup_key, kind, instalment_no, amount_cents, due_date, description, rule_params)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[], $7::text[], $8::text[], $9::text[])`,
      [
        opts.map((o) => o.positionId), opts.map((o) => o.noticeNumber), opts.map((o) => o.lookupKey), opts.map((o) => o.kind), opts.map((o) => o.instalmentNo),
        opts.map((o) => o.amountCents), opts.map((o) => o.dueDate), opts.map((o) => o.description), opts.map((o) => (o.ruleParams ? JSON.stringify(o.ruleParams) : null)),
      ],
    );
  }
  return ids;
}

/** An import's conflicts: external references and notice numbers that exist already or repeat within it. */
async function importConflicts(c: PoolClient, rows: NewPosition[]): Promise<{ row: number; code: StoreRefusalCode; detail: string }[]> {
  const refs = await c.query<{ entity_id: string; external_ref: string }>(
    'SELECT d.entity_id, d.external_ref FROM debt_positions d JOIN unnest($1::text[], $2::text[]) AS k (e, r) ON d.entity_id = k.e AND d.external_ref = k.r',
    [rows.map((p) => p.entityId), rows.map((p) => p.externalRef)],
  );
  const notices = await c.query<{ notice_number: string }>('SELECT notice_number FROM payment_options WHERE notice_number = ANY($1::text[])', [
    rows.flatMap((p) => p.options.map((o) => o.noticeNumber)),
  ]);
  const existingRefs = new Set(refs.rows.map((r) => `${r.entity_id}/${r.external_ref}`));
  const existingNotices = new Set(notices.rows.map((r) => r.notice_number));
  const conflicts: { row: number; code: StoreRefusalCode; detail: string }[] = [];
  rows.forEach((p, i) => {
    const ref = `${p.entityId}/${p.externalRef}`;
    if (existingRefs.has(ref)) conflicts.push({ row: i, code: 'CONFLICT', detail: `externalRef ${p.externalRef} already exists` });
    existingRefs.add(ref);
    for (const o of p.options) {
      if (existingNotices.has(o.noticeNumber)) conflicts.push({ row: i, code: 'CONFLICT', detail: `notice number ${o.noticeNumber} already exists` });
      existingNotices.add(o.noticeNumber);
    }
  });
  return conflicts;
}
