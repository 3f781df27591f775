// The network's configuration on PostgreSQL (src/network): read whole in one snapshot,
// changed in one administrative transaction planned against the rows under a lock
// (network-change.ts), so that two instances' changes apply one after the other. Every
// instance forgets the counters and terminals changed (NOTIFY tserve_cache) and reloads
// its catalogue on the `network.changed` event.
import type { NetworkApplied, NetworkChange, NetworkState, NewSecrets } from '../../network/change.js';
import { parseFeeRule } from '../fee-rule.js';
import { networkRowsAsync, networkStateOf, planNetworkChange, type NetworkRows } from '../network-change.js';
import type { PgContext } from './context.js';
import type { PoolClient } from './pool.js';

/** Network changes, one at a time across instances (any constant distinct from the others). */
const NETWORK_LOCK = 7_351_013;

function rows(c: PoolClient): Promise<NetworkRows> {
  // One query at a time on one client: pg queues concurrent ones but deprecates it (gone in pg 9).
  let last: Promise<unknown> = Promise.resolve();
  return networkRowsAsync((sql) => {
    const next = last.then(async () => (await c.query(sql)).rows);
    last = next.catch(() => undefined);
    return next;
  });
}

export async function networkState(ctx: PgContext): Promise<NetworkState> {
  return ctx.snapshot(async (c) => networkStateOf(await rows(c), parseFeeRule));
}

function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

export async function applyNetworkChange(ctx: PgContext, change: NetworkChange, secrets: NewSecrets, actor: string): Promise<NetworkApplied> {
  const at = ctx.clock();
  let stale: { counters: string[]; terminals: string[] } = { counters: [], terminals: [] };
  return ctx
    .tx(async ({ c, emit, audit, invalidate }) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [NETWORK_LOCK]);
      const plan = planNetworkChange(networkStateOf(await rows(c), parseFeeRule), change, secrets, actor, at);
      for (const st of plan.statements) {
        if ((await c.query(numbered(st.sql), st.params)).rowCount !== 1) throw new Error(`the network change met a row that moved under it: ${st.sql.split(' (')[0]}`);
      }
      for (const a of plan.audits) audit(a, at);
      if (plan.event) emit(plan.event);
      stale = plan.stale;
      for (const id of stale.counters) invalidate('counter', id);
      for (const id of stale.terminals) invalidate('terminal', id);
      return plan.applied;
    })
    .finally(() => {
      for (const id of stale.counters) ctx.counters.delete(id);
      for (const id of stale.terminals) ctx.terminals.delete(id);
    });
}
