// The import worker's thread: runs checkImport (parse, schema, rules) for each upload
// it is handed, one after the other, and answers in slices of positions so that the
// main thread takes them in short turns between payments.
import { parentPort } from 'node:worker_threads';
import { checkImport, type ImportJob } from './import-check.js';
import type { ImportReply } from './import-pool.js';

const SLICE = 1000;
const port = parentPort!;

port.on('message', (msg: { id: number; job: ImportJob }) => {
  const { id, job } = msg;
  let reply: ImportReply;
  try {
    const r = checkImport(job);
    if (r.type !== 'ok') reply = { id, result: r };
    else {
      for (let from = 0; from < r.positions.length; from += SLICE) {
        port.postMessage({ id, slice: { positions: r.positions.slice(from, from + SLICE), origins: r.origins?.slice(from, from + SLICE) ?? null } } satisfies ImportReply);
      }
      reply = { id, done: r.positions.length };
    }
  } catch (err) {
    reply = { id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
