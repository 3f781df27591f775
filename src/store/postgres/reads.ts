// Reads that every request makes (its idempotency record, a reversal advice, its notice)
// gathered per turn of the event loop into one statement, as the writer gathers
// bookings: hundreds of terminals at once cost a few statements, not hundreds.
export class ReadBatcher<K, V> {
  private pending = new Map<string, { key: K; waiters: { resolve: (v: V | undefined) => void; reject: (e: unknown) => void }[] }>();
  private scheduled = false;

  constructor(
    private readonly keyOf: (key: K) => string,
    /** The rows for these keys, by keyOf. */
    private readonly fetch: (keys: K[]) => Promise<Map<string, V>>,
    private readonly maxKeys = 1000,
  ) {}

  load(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const k = this.keyOf(key);
      const p = this.pending.get(k);
      if (p) p.waiters.push({ resolve, reject });
      else this.pending.set(k, { key, waiters: [{ resolve, reject }] });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const all = [...this.pending.values()];
    this.pending = new Map();
    for (let i = 0; i < all.length; i += this.maxKeys) {
      const slice = all.slice(i, i + this.maxKeys);
      try {
        const found = await this.fetch(slice.map((p) => p.key));
        for (const p of slice) for (const w of p.waiters) w.resolve(found.get(this.keyOf(p.key)));
      } catch (err) {
        for (const p of slice) for (const w of p.waiters) w.reject(err);
      }
    }
  }
}
