// The SQLite writer's thread: one SqliteWriteSide, answering one message at a time in
// order, so writes are serialized as on one connection and events leave in commit order.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteWriteSide } from './write-side.js';

export interface WriteRequest {
  id: number;
  op: string;
  args: unknown[];
}

export type WriteReply =
  | { id: number; ok: true; value: unknown; events: unknown[]; committedAt: number }
  | { id: number; ok: false; error: { name: string; message: string } };

const port = parentPort;
if (!port) throw new Error('worker.ts runs on a worker thread');
const side = new SqliteWriteSide((workerData as { file: string }).file);
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
    const { value, events } = fn.apply(side, req.args);
    // Wall clock of the commit's return, for latency measured by stream clients.
    reply = { id: req.id, ok: true, value, events, committedAt: performance.timeOrigin + performance.now() };
  } catch (err) {
    reply = { id: req.id, ok: false, error: err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) } };
  }
  port.postMessage(reply);
});
