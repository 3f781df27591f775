// KEK rotation on PostgreSQL, inside the store's administrative transaction. The lock
// keeps every instance from inserting or updating a terminal (provisioning, re-keying,
// sign-on) until the rotation commits; reads and bookings go on.
import { resealMismatch, type Reseal } from '../reseal.js';
import type { PoolClient } from './pool.js';

export async function resealUnderLock(c: PoolClient, changes: Reseal[]): Promise<void> {
  await c.query('LOCK TABLE terminals IN SHARE ROW EXCLUSIVE MODE');
  const current = (await c.query<{ id: string; tmk_enc: string }>('SELECT id, tmk_enc FROM terminals')).rows;
  const mismatch = resealMismatch(current, changes);
  if (mismatch) throw new Error(mismatch);
  const ids = changes.map((r) => r.id);
  const updated = await c.query(
    `UPDATE terminals t SET tmk_enc = v.sealed_to FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, sealed_from, sealed_to)
      WHERE t.id = v.id AND t.tmk_enc = v.sealed_from`,
    [ids, changes.map((r) => r.from), changes.map((r) => r.to)],
  );
  if (updated.rowCount !== changes.length) throw new Error('a TMK changed during the KEK rotation: nothing was changed; run it again');
  // Every instance forgets its cached rows of these terminals (delivered at COMMIT).
  await c.query("SELECT pg_notify('tserve_cache', 'terminal:' || id) FROM unnest($1::text[]) AS id", [ids]);
}
