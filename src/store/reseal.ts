// KEK rotation's check inside the store's transaction, the same on both stores: the
// re-sealed values must name exactly the terminals there are, each with the sealed
// value it was read with. Otherwise a terminal was provisioned or re-keyed between the
// read and the write (its TMK would stay under the old KEK): refused, nothing changes.

export interface Reseal {
  id: string;
  /** The sealed TMK as read before re-sealing. */
  from: string;
  /** The same TMK sealed under the new KEK. */
  to: string;
}

/** Why `changes` cannot be written over `current`, or null when they match. */
export function resealMismatch(current: readonly { id: string; tmk_enc: string }[], changes: readonly Reseal[]): string | null {
  const byId = new Map(changes.map((c) => [c.id, c]));
  const moved = current.filter((t) => byId.get(t.id)?.from !== t.tmk_enc).map((t) => t.id);
  if (moved.length > 0 || byId.size !== changes.length || current.length !== changes.length) {
    return `the terminals changed during the KEK rotation (${moved.slice(0, 5).join(', ') || 'a terminal was removed'}): nothing was changed; run it again`;
  }
  return null;
}
