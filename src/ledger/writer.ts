// The single writer with group commit. Requests that arrive while a batch is being
// committed wait in the queue and go into the next transaction together, so one disk
// sync serves the whole batch. Each command is isolated by the batch runner (a
// savepoint per command), so one failing command does not fail its batch.
//
// Invariant: a command's promise resolves only after the transaction holding it has
// committed (synchronous=FULL: on disk), or rejects if the batch could not commit.

export interface BatchRunner<C, R> {
  /** Runs the commands in one transaction and returns one result per command. */
  runBatch(commands: C[]): R[];
}

interface Pending<C, R> {
  command: C;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export interface WriterStats {
  batches: number;
  commands: number;
  largestBatch: number;
}

export class GroupCommitWriter<C, R> {
  private queue: Pending<C, R>[] = [];
  private scheduled = false;
  private closed = false;
  readonly stats: WriterStats = { batches: 0, commands: 0, largestBatch: 0 };

  /** Called after each committed batch with its size and the time it took (ms). */
  onBatch: ((size: number, ms: number) => void) | null = null;

  constructor(
    private readonly runner: BatchRunner<C, R>,
    private readonly maxBatch = 2000,
  ) {}

  get queueDepth(): number {
    return this.queue.length;
  }

  submit(command: C): Promise<R> {
    if (this.closed) return Promise.reject(new Error('writer closed'));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ command, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after the I/O callbacks of this loop turn, so every request
    // read from the sockets in the meantime joins the same batch.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      let results: R[];
      const started = performance.now();
      try {
        results = this.runner.runBatch(batch.map((p) => p.command));
      } catch (err) {
        for (const p of batch) p.reject(err);
        continue;
      }
      this.stats.batches++;
      this.stats.commands += batch.length;
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
      this.onBatch?.(batch.length, performance.now() - started);
      batch.forEach((p, i) => p.resolve(results[i]!));
      // Let the answers go out and new requests come in before the next batch.
      if (this.queue.length > 0) {
        this.schedule();
        return;
      }
    }
  }

  /** Commits what is queued, then refuses new commands. */
  async close(): Promise<void> {
    while (this.queue.length > 0) await new Promise((r) => setImmediate(r));
    this.closed = true;
  }
}
