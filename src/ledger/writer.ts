// The single writer with group commit. Requests that arrive while a batch is being
// committed wait in the queue and go into the next transaction together, so one disk
// sync serves the whole batch. One batch is in flight at a time (`lanes` where the store
// runs transactions side by side); its runner may be synchronous or answer later (the
// SQLite writer's own thread, PostgreSQL).
//
// Invariant: a command's promise resolves only after the transaction holding it has
// committed (synchronous=FULL: on disk), or rejects if the batch could not commit.
// The queue is bounded: past `maxQueue` waiting commands a new one is refused at once,
// and a command that has waited longer than `maxWaitMs` when its batch starts is refused
// instead of booked (WriterOverloadedError, answered 96 / 503): under overload the switch
// says so at once rather than answering after seconds. A refused command was never
// booked, so the terminal's retry is safe.

export interface BatchRunner<C, R> {
  /** Runs the commands in one transaction and returns one result per command. */
  runBatch(commands: C[]): R[] | Promise<R[]>;
}

interface Pending<C, R> {
  command: C;
  queuedAtMs: number;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export interface WriterStats {
  batches: number;
  commands: number;
  largestBatch: number;
  refused: number;
}

export class WriterOverloadedError extends Error {
  constructor(readonly queued: number) {
    super(`the writer has ${queued} commands waiting: try again shortly`);
    this.name = 'WriterOverloadedError';
  }
}

export class GroupCommitWriter<C, R> {
  private queue: Pending<C, R>[] = [];
  private scheduled = false;
  /** Batches in flight (at most `lanes`). */
  private running = 0;
  private closed = false;
  private idle: (() => void)[] = [];
  readonly stats: WriterStats = { batches: 0, commands: 0, largestBatch: 0, refused: 0 };

  /** Called after each committed batch with its size and the time it took (ms). */
  onBatch: ((size: number, ms: number) => void) | null = null;

  constructor(
    private readonly runner: BatchRunner<C, R>,
    private readonly maxBatch = 2000,
    private readonly maxQueue = 5_000,
    private readonly maxWaitMs = 1_000,
    /**
     * Batches in flight at once. One for SQLite (a single writer); a store whose
     * transactions run side by side (PostgreSQL, row locks) lets the next batch read
     * while the previous one commits.
     */
    private readonly lanes = 1,
  ) {}

  get queueDepth(): number {
    return this.queue.length;
  }

  submit(command: C): Promise<R> {
    if (this.closed) return Promise.reject(new Error('writer closed'));
    if (this.queue.length >= this.maxQueue) {
      this.stats.refused++;
      return Promise.reject(new WriterOverloadedError(this.queue.length));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ command, queuedAtMs: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.lanes) return;
    this.scheduled = true;
    // setImmediate runs after the I/O callbacks of this loop turn, so every request
    // read from the sockets in the meantime joins the same batch.
    // flush() settles every command's promise itself and throws nothing.
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.running >= this.lanes || this.queue.length === 0) return;
    this.running++;
    try {
      while (this.queue.length > 0) {
        const started = performance.now();
        const taken = this.queue.splice(0, this.maxBatch);
        const batch = taken.filter((p) => started - p.queuedAtMs <= this.maxWaitMs);
        if (batch.length < taken.length) {
          for (const p of taken) if (started - p.queuedAtMs > this.maxWaitMs) p.reject(new WriterOverloadedError(this.queue.length + taken.length));
          this.stats.refused += taken.length - batch.length;
          if (batch.length === 0) continue;
        }
        let results: R[];
        try {
          results = await this.runner.runBatch(batch.map((p) => p.command));
        } catch (err) {
          for (const p of batch) p.reject(err);
          continue;
        }
        this.stats.batches++;
        this.stats.commands += batch.length;
        this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
        try {
          this.onBatch?.(batch.length, performance.now() - started);
        } catch {
          // An observer (metrics) must never fail a committed batch nor stop the writer.
        }
        batch.forEach((p, i) => p.resolve(results[i]!));
        // Let the answers go out and new requests come in before the next batch.
        if (this.queue.length > 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.running--;
      if (this.queue.length > 0) this.schedule();
      else if (this.running === 0) for (const done of this.idle.splice(0)) done();
    }
  }

  /** Commits what is queued, then refuses new commands. */
  async close(): Promise<void> {
    if (this.queue.length > 0 || this.running > 0 || this.scheduled) await new Promise<void>((r) => this.idle.push(r));
    this.closed = true;
  }
}
