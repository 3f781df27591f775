// The main thread's handle on the import worker: one thread, started on the first
// upload and kept (unreferenced: it never holds the process open), that parses and
// checks uploads off the event loop. Jobs run one after the other on it; a thread that
// dies fails its jobs and is started again for the next one. The checked positions come
// back one slice at a time, each asked for (`more`) on a later turn of the event loop:
// a MessagePort delivers every message already queued in one go, so slices sent
// unasked were all deserialized in a single pause of ~100 ms for 50,000 positions.
import { Worker } from 'node:worker_threads';
import type { NewPosition } from '../store/types.js';
import type { ImportCheckResult, ImportJob } from './import-check.js';
import type { Origins } from './positions.js';

export type ImportReply =
  | { id: number; result: Exclude<ImportCheckResult, { type: 'ok' }> }
  | { id: number; slice: { positions: NewPosition[]; origins: Origins } }
  | { id: number; done: number }
  | { id: number; error: string };

/** What the main thread sends: a job, or the request for the next slice of a job's positions. */
export type ImportRequest = { id: number; job: ImportJob } | { id: number; more: true };

interface Pending {
  resolve: (r: ImportCheckResult) => void;
  reject: (e: Error) => void;
  positions: NewPosition[];
  origins: NonNullable<Origins>;
}

export class ImportPool {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  private start(): Worker {
    const fromSource = import.meta.url.endsWith('.ts');
    const entry = new URL(`./import-worker.${fromSource ? 'ts' : 'js'}`, import.meta.url).href;
    const w = fromSource ? new Worker(new URL('./import-boot.mjs', import.meta.url), { workerData: { entry } }) : new Worker(new URL(entry), { workerData: { entry } });
    w.on('message', (m: ImportReply) => this.onReply(m, w));
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = null;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the import worker exited (code ${code})`)));
    w.unref(); // after the listeners: adding a 'message' listener refs it again
    return w;
  }

  private onReply(m: ImportReply, w: Worker): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if ('slice' in m) {
      for (const pos of m.slice.positions) p.positions.push(pos);
      if (m.slice.origins) for (const o of m.slice.origins) p.origins.push(o);
      // The next slice is asked for after the timers and sockets waiting now have run.
      setImmediate(() => {
        if (this.pending.has(m.id)) w.postMessage({ id: m.id, more: true } satisfies ImportRequest);
      });
      return;
    }
    this.pending.delete(m.id);
    if ('error' in m) p.reject(new Error(`import worker: ${m.error}`));
    else if ('result' in m) p.resolve(m.result);
    else p.resolve({ type: 'ok', positions: p.positions, origins: p.origins.length > 0 ? p.origins : null });
  }

  /** Parses and checks an upload on the worker's thread. */
  check(job: ImportJob): Promise<ImportCheckResult> {
    this.worker ??= this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, positions: [], origins: [] });
      this.worker!.postMessage({ id, job } satisfies ImportRequest);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
