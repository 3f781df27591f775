// The SQLite writer's thread: one SqliteWriteSide, answering one message at a time in
// order, so writes are serialized as on one connection and events leave in commit order.
import { parentPort, workerData } from 'node:worker_threads';
import { FileIdentity } from './file-identity.js';
import { SqliteWriteSide } from './write-side.js';

export interface WriteRequest {
  id: number;
  op: string;
  args: unknown[];
}

export type WriteReply =
  | { id: number; ok: true; value: unknown; events: unknown[]; committedAt: number }
  | { id: number; ok: false; error: { name: string; message: string; code?: string } };

const port = parentPort;
if (!port) throw new Error('worker.ts runs on a worker thread');
const file = (workerData as { file: string }).file;
const side = new SqliteWriteSide(file);
// Opened (WAL mode) by the write side above, so the WAL exists now.
const files = new FileIdentity([file, `${file}-wal`]);
const alarm = (message: string) => Object.assign(new Error(message), { name: 'StoreAlarmError' });
const ops = side as unknown as Record<string, (...args: unknown[]) => { value: unknown; events: unknown[] }>;

port.on('message', (req: WriteRequest | 'close') => {
  if (req === 'close') {
    side.close();
    port.close();
    return;
  }
  let reply: WriteReply;
  try {
    const fn = ops[req.op];
    if (typeof fn !== 'function') throw new Error(`no write operation ${req.op}`);
    const before = files.changed();
    if (before) throw alarm(before);
    const { value, events } = fn.apply(side, req.args);
    // Committed, but into a file no longer in place: lost at the next start, so not acknowledged.
    const after = files.changed();
    if (after) throw alarm(after);
    // Wall clock of the commit's return, for latency measured by stream clients.
    reply = { id: req.id, ok: true, value, events, committedAt: performance.timeOrigin + performance.now() };
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
    reply = { id: req.id, ok: false, error: err instanceof Error ? { name: err.name, message: err.message, code } : { name: 'Error', message: String(err) } };
  }
  port.postMessage(reply);
});
