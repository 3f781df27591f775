// The import worker's thread: runs checkImport (parse, schema, rules) for each upload
// it is handed, one after the other, and answers in slices of positions, the next one
// only when the main thread asks for it (`more`), so that the main thread takes them
// in short turns between payments, never several in one turn.
import { parentPort } from 'node:worker_threads';
import { checkImport } from './import-check.js';
import type { NewPosition } from '../store/types.js';
import type { Origins } from './positions.js';
import type { ImportReply, ImportRequest } from './import-pool.js';

const SLICE = 1000;
const port = parentPort!;

/** Checked uploads whose positions are still being handed over, by job id. */
const outgoing = new Map<number, { positions: NewPosition[]; origins: Origins; from: number }>();

function sendNext(id: number): void {
  const o = outgoing.get(id);
  if (!o) return;
  const { positions, origins, from } = o;
  if (from >= positions.length) {
    outgoing.delete(id);
    port.postMessage({ id, done: positions.length } satisfies ImportReply);
    return;
  }
  o.from = from + SLICE;
  port.postMessage({ id, slice: { positions: positions.slice(from, from + SLICE), origins: origins?.slice(from, from + SLICE) ?? null } } satisfies ImportReply);
}

port.on('message', (msg: ImportRequest) => {
  const { id } = msg;
  if ('more' in msg) return sendNext(id);
  let reply: ImportReply;
  try {
    const r = checkImport(msg.job);
    if (r.type === 'ok') {
      outgoing.set(id, { positions: r.positions, origins: r.origins, from: 0 });
      return sendNext(id);
    }
    reply = { id, result: r };
  } catch (err) {
    reply = { id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
