// Operations of the PostgreSQL store: the balance check at start, jobs that one instance
// runs at a time (exclusively), seeding an empty database, and the invariant check.
import type { Catalogue, Network } from '../../domain/model.js';
import { logger } from '../../log.js';
import type { WriteHealth } from '../health.js';
import { checkInvariants as runChecks } from '../invariants.js';
import type { InvariantReport } from '../types.js';
import type { PgContext } from './context.js';
import { insertPositions } from './positions.js';

/** Positions per statement of an import. */
const IMPORT_SLICE = 1000;

/** Compares every account's balance with the sum of its entries (one snapshot); a difference stops booking on that account. */
export async function verifyBalances(ctx: PgContext, health: WriteHealth): Promise<void> {
  const started = performance.now();
  try {
    const rows = await ctx.snapshot(async (c) =>
      (
        await c.query<{ kind: string; owner_id: string; b: string; s: string | null }>(
          `SELECT a.kind, a.owner_id, coalesce(b.balance_cents, 0) AS b, e.s
           FROM ledger_accounts a LEFT JOIN ledger_balances b ON b.account_id = a.id
           LEFT JOIN (SELECT account_id, sum(amount_cents) AS s FROM ledger_entries GROUP BY account_id) e ON e.account_id = a.id`,
        )
      ).rows,
    );
    let mismatches = 0;
    for (const r of rows) {
      const entries = Number(r.s ?? 0);
      if (Number(r.b) === entries) continue;
      mismatches++;
      health.accountAlarm(`${r.kind}/${r.owner_id}`, `its stored balance ${Number(r.b)} differs from the sum of its entries ${entries}`);
    }
    logger.info('balances checked against their entries', { accounts: rows.length, mismatches, ms: Math.round(performance.now() - started) });
  } catch (err) {
    logger.error('the balances could not be checked at start', { error: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * Runs fn in this instance only if no other instance runs the same job (a session
 * advisory lock on a connection held for the job); otherwise skips it.
 */
export async function exclusively<T>(ctx: PgContext, job: string, fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
  const c = await ctx.connect();
  try {
    const key = `tserve:${job}`;
    const got = (await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [key])).rows[0]!.ok;
    if (!got) return { ran: false };
    try {
      return { ran: true, value: await fn() };
    } finally {
      await c.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
    }
  } finally {
    c.release();
  }
}

export async function isEmpty(ctx: PgContext): Promise<boolean> {
  return (await ctx.one<{ n: number }>('SELECT count(*) AS n FROM entities'))!.n === 0;
}

/** Empties every table but the audit log and writes the catalogue and network in one transaction (the caller forgets its caches). */
export async function seed(ctx: PgContext, catalogue: Catalogue, network: Network, sealed: Map<string, { tmkSealed: string; secretHash: string }>) {
  const at = ctx.clock();
  const c = await ctx.connect();
  try {
    await c.query('BEGIN');
    await c.query(`TRUNCATE ${SEED_TABLES.join(', ')} RESTART IDENTITY CASCADE`);
    await c.query('UPDATE event_sequence SET last_seq = 0');
    await c.query("SELECT setval('payments_id_seq', 1, false)");
    for (const e of catalogue.entities) {
      await c.query(
        'INSERT INTO entities (id, name, fiscal_code, iban, is_circuit_owner, segregation_code, vat_number, office_code, pagopa) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [e.id, e.name, e.fiscalCode, e.iban, e.isCircuitOwner ? 1 : 0, e.segregationCode, e.vatNumber ?? null, e.officeCode ?? null, e.pagopa ? 1 : 0],
      );
      if (e.circuitFee) {
        await c.query('INSERT INTO circuit_fees (entity_id, effective_from, fee_cents, mode) VALUES ($1, $2, $3, $4)', [
          e.id, e.circuitFee.effectiveFrom, e.circuitFee.feeCents, e.circuitFee.mode,
        ]);
      }
    }
    for (const s of catalogue.services) {
      await c.query(
        'INSERT INTO services (code, name, entity_id, amount_kind, identifier_kind, rule, fixed_cents, min_cents, max_cents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [s.code, s.name, s.entityId, s.amountKind, s.identifierKind, s.rule, s.fixedCents, s.minCents, s.maxCents],
      );
    }
    for (const f of catalogue.feeSchedules) {
      await c.query(
        'INSERT INTO fee_schedules (service_code, counter_kind, effective_from, fee_rule, commission_rate, royalty_cents) VALUES ($1, $2, $3, $4, $5, $6)',
        [f.serviceCode, f.counterKind, f.effectiveFrom, JSON.stringify(f.feeRule), f.commissionRate, f.royaltyCents],
      );
    }
    const cs = network.counters;
    await c.query(
      `INSERT INTO counters (id, kind, name, address, town, iban, mandate_ref, credit_limit_cents, status)
       SELECT *, 'active' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])`,
      [cs.map((x) => x.id), cs.map((x) => x.kind), cs.map((x) => x.name), cs.map((x) => x.address), cs.map((x) => x.town), cs.map((x) => x.iban), cs.map((x) => x.mandateRef), cs.map((x) => x.creditLimitCents)],
    );
    const ts = network.terminals.map((t) => {
      const s = sealed.get(t.id);
      if (!s) throw new Error(`no sealed key for terminal ${t.id}`);
      return { ...t, ...s };
    });
    await c.query(
      `INSERT INTO terminals (id, counter_id, status, tmk_enc, secret_hash, created_at)
       SELECT a, b, 'active', c, d, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x (a, b, c, d)`,
      [ts.map((t) => t.id), ts.map((t) => t.counterId), ts.map((t) => t.tmkSealed), ts.map((t) => t.secretHash), at],
    );
    for (let i = 0; i < network.positions.length; i += IMPORT_SLICE) {
      const slice = network.positions.slice(i, i + IMPORT_SLICE);
      await insertPositions(c, slice.map((p) => ({ ...p, options: p.options })), null, at);
    }
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

export async function checkInvariants(ctx: PgContext): Promise<InvariantReport> {
  return ctx.snapshot((c) => runChecks({ all: async <R>(sql: string) => (await c.query<R & object>(sql)).rows }));
}

// Not the audit log: it is append-only and outlives a re-seed (its chain goes on).
const SEED_TABLES = [
  'events', 'settlement_windows', 'reversal_advices', 'idempotency_records', 'window_movements', 'window_totals', 'ledger_entries',
  'ledger_balances', 'ledger_accounts', 'payment_options', 'payments', 'debt_positions', 'terminals', 'counters', 'fee_schedules',
  'services', 'circuit_fees', 'users', 'entities',
];
