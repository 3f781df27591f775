// The main thread's handle on the writer's thread: calls by name with plain data, one
// promise per call, answered in order.
import { Worker } from 'node:worker_threads';
import { LedgerInvariantError } from '../../ledger/book.js';
import type { EventRow } from '../../ledger/port.js';
import type { SqliteWriteSide, Written } from './write-side.js';
import type { WriteReply, WriteRequest } from './worker.js';

type Ops = {
  [K in keyof SqliteWriteSide as SqliteWriteSide[K] extends (...a: never[]) => Written<unknown> ? K : never]: SqliteWriteSide[K];
};

/** A thread running one of this folder's modules, from the TypeScript sources or the build. */
function startWorker(name: 'worker' | 'checkpointer', file: string): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, import.meta.url).href;
  return fromSource
    ? new Worker(new URL('./worker-boot.mjs', import.meta.url), { workerData: { file, entry } })
    : new Worker(new URL(entry), { workerData: { file, entry } });
}

export class WriterThread {
  private readonly worker: Worker;
  private readonly checkpointer: Worker;
  private readonly pending = new Map<number, { resolve: (w: Written<unknown> & { committedAt: number }) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private exited: Error | null = null;

  /** Called when the checkpointer finds the database file or its WAL removed or replaced. */
  onAlarm: (reason: string) => void = () => undefined;

  constructor(file: string) {
    this.worker = startWorker('worker', file);
    this.checkpointer = startWorker('checkpointer', file);
    this.checkpointer.on('message', (msg: { alarm?: string }) => {
      if (typeof msg.alarm === 'string') this.onAlarm(msg.alarm);
    });
    this.worker.on('message', (reply: WriteReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve({ value: reply.value, events: reply.events as EventRow[], committedAt: reply.committedAt });
      else {
        const { name, message, code } = reply.error;
        p.reject(name === 'LedgerInvariantError' ? Object.assign(new LedgerInvariantError(''), { message }) : Object.assign(new Error(message), { name, code }));
      }
    });
    const fail = (err: Error) => {
      this.exited = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the writer's thread exited (code ${code})`)));
  }

  /** Runs a write operation on the writer's thread; resolves after its commit. */
  call<K extends keyof Ops>(op: K, ...args: Parameters<Ops[K]>): Promise<{ value: ReturnType<Ops[K]>['value']; events: EventRow[]; committedAt: number }> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (w: Written<unknown> & { committedAt: number }) => void, reject });
      this.worker.postMessage({ id, op, args } satisfies WriteRequest);
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Closes the connection and ends the thread once the calls in flight are answered. */
  async close(): Promise<void> {
    while (this.pending.size > 0 && !this.exited) await new Promise((r) => setTimeout(r, 1));
    if (this.exited) return;
    const exited = (w: Worker) => new Promise<void>((resolve) => w.once('exit', () => resolve()));
    const done = Promise.all([exited(this.worker), exited(this.checkpointer)]);
    this.checkpointer.postMessage('close');
    this.worker.postMessage('close');
    await done;
  }
}
