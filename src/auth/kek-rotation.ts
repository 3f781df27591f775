// KEK rotation (docs/keys.md): every terminal's TMK opened under the old KEK and sealed
// under the new one, all written in one transaction or none; and the check at start
// that the KEK a switch runs with is the one the terminal keys are sealed under.
import { createHmac } from 'node:crypto';
import { logger } from '../log.js';
import type { Store } from '../store/types.js';
import { openTmk, sealTmk } from './secrets.js';

/**
 * A short name for a KEK that reveals nothing of it (an HMAC of a constant under it):
 * tells two KEKs apart in the audit trail, the logs and the CLI's output.
 */
export function kekFingerprint(kek: Buffer): string {
  return createHmac('sha256', kek).update('tserve KEK fingerprint').digest('hex').slice(0, 16);
}

function some(ids: string[]): string {
  return ids.length <= 5 ? ids.join(', ') : `${ids.slice(0, 5).join(', ')} and ${ids.length - 5} more`;
}

function opens(kek: Buffer, id: string, sealed: string): Buffer | null {
  try {
    return openTmk(kek, id, sealed);
  } catch {
    return null; // AES-GCM refuses: sealed under another KEK, or altered
  }
}

/** Terminals whose sealed TMK does not open under `kek`, out of how many. */
export async function unopened(store: Store, kek: Buffer): Promise<{ total: number; failed: string[] }> {
  const sealed = await store.sealedTerminalKeys();
  return { total: sealed.length, failed: sealed.filter((t) => opens(kek, t.id, t.tmkSealed) === null).map((t) => t.id) };
}

export interface Rotation {
  terminals: number;
  from: string;
  to: string;
}

/**
 * Re-seals every terminal's TMK under `newKek`. Each is opened under `oldKek` first: if
 * any does not open, nothing changes. The store writes them all at once with an audit
 * entry, and refuses (changing nothing) if a terminal was added or re-keyed meanwhile.
 */
export async function rotateKek(store: Store, oldKek: Buffer, newKek: Buffer, actor: string): Promise<Rotation> {
  if (newKek.equals(oldKek)) throw new Error('the new KEK is the KEK in use: generate a new one (openssl rand -hex 32)');
  const sealed = await store.sealedTerminalKeys();
  const failed: string[] = [];
  const changes: { id: string; from: string; to: string }[] = [];
  for (const t of sealed) {
    const tmk = opens(oldKek, t.id, t.tmkSealed);
    if (tmk === null) {
      failed.push(t.id);
      continue;
    }
    const to = sealTmk(newKek, t.id, tmk);
    // Asserted before anything is written: the new seal gives back the same TMK.
    if (!opens(newKek, t.id, to)?.equals(tmk)) throw new Error(`re-sealing the TMK of ${t.id} did not round-trip: nothing was changed`);
    tmk.fill(0);
    changes.push({ id: t.id, from: t.tmkSealed, to });
  }
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${sealed.length} terminal keys do not open under the current KEK (${some(failed)}): nothing was changed. ` +
        'Run the rotation with the KEK the switch runs with (TSERVE_KEK_FILE or TSERVE_KEK; in demo mode kek.key in the data directory)',
    );
  }
  const rotation = { terminals: changes.length, from: kekFingerprint(oldKek), to: kekFingerprint(newKek) };
  await store.resealTerminalKeys(changes, { actor, action: 'kek.rotate', target: 'terminals', detail: rotation });
  return rotation;
}

/**
 * At start: a KEK that opens none of the terminal keys is the wrong one (the switch
 * refuses to start: every sign-on would fail); one that opens some but not all is
 * reported for an alarm, with the terminals that cannot sign on.
 */
export async function checkKek(store: Store, kek: Buffer): Promise<{ total: number; failed: string[] }> {
  const r = await unopened(store, kek);
  if (r.total > 0 && r.failed.length === r.total) {
    throw new Error(
      `the KEK (fingerprint ${kekFingerprint(kek)}) opens none of the ${r.total} terminal keys in the database: they are sealed under another KEK. ` +
        'After tserve kek rotate, start with the new KEK (TSERVE_KEK_FILE or TSERVE_KEK); in demo mode, kek.key in the data directory must be the one the database was seeded with (docs/keys.md)',
    );
  }
  return r;
}

/** checkKek at a server's start: refused when the KEK opens none, an alarm when it opens only some. */
export async function checkKekAtStart(store: Store, kek: Buffer): Promise<void> {
  const { total, failed } = await checkKek(store, kek);
  if (failed.length > 0) {
    logger.error('ALARM: terminal keys that do not open under this KEK; those terminals cannot sign on (sealed under another KEK, or altered)', {
      terminals: failed.length,
      of: total,
      ids: some(failed),
      kekFingerprint: kekFingerprint(kek),
    });
  }
}
