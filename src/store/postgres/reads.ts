// Reads that every request makes (its idempotency record, a reversal advice, its notice)
// gathered per turn of the event loop into one statement, as the writer gathers
// bookings: hundreds of terminals at once cost a few statements, not hundreds.
// Below the batcher: those batched reads of PgStore (store.ts), and its other lookups.
import {
  OPTION_VIEW_SQL,
  PAYMENT_COLUMNS,
  toIdempotency,
  toOptionView,
  toPayment,
  type CountSumRow,
  type IdempotencyRow,
  type OptionRow,
  type PaymentRow,
} from '../rows.js';
import type { IdempotencyRecord, OptionView, Payment } from '../types.js';
import type { PgContext } from './context.js';

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

/** The reads that PgStore (store.ts) gathers, each through its own batcher. */
export function batchedReads(q: PgContext['q']) {
  return {
    idempotency: new ReadBatcher<{ terminalId: string; key: string }, IdempotencyRecord>(
      (k) => `${k.terminalId}\0${k.key}`,
      async (keys) => {
        const rows = await q<IdempotencyRow>(
          `SELECT r.terminal_id, r.key, r.request_hash, r.status, r.response, r.payment_id
           FROM unnest($1::text[], $2::text[]) AS k (t, k) JOIN idempotency_records r ON r.terminal_id = k.t AND r.key = k.k`,
          [keys.map((k) => k.terminalId), keys.map((k) => k.key)],
        );
        return new Map(rows.map((r) => [`${r.terminal_id}\0${r.key}`, toIdempotency(r)]));
      },
    ),
    prior: new ReadBatcher<{ terminalId: string; key: string }, { record: IdempotencyRecord | undefined; advised: boolean }>(
      (k) => `${k.terminalId}\0${k.key}`,
      async (keys) => {
        const rows = await q<Omit<IdempotencyRow, 'terminal_id' | 'key' | 'request_hash'> & { t: string; k: string; request_hash: string | null; advised: boolean }>(
          `SELECT k.t, k.k, r.request_hash, r.status, r.response, r.payment_id, a.terminal_id IS NOT NULL AS advised
           FROM unnest($1::text[], $2::text[]) AS k (t, k)
           LEFT JOIN idempotency_records r ON r.terminal_id = k.t AND r.key = k.k
           LEFT JOIN reversal_advices a ON a.terminal_id = k.t AND a.key = k.k`,
          [keys.map((k) => k.terminalId), keys.map((k) => k.key)],
        );
        return new Map(
          rows.map((r) => [
            `${r.t}\0${r.k}`,
            { record: r.request_hash === null ? undefined : toIdempotency({ ...r, terminal_id: r.t, key: r.k, request_hash: r.request_hash }), advised: r.advised },
          ]),
        );
      },
    ),
    notice: new ReadBatcher<string, OptionView>(
      (n) => n,
      async (notices) => new Map((await q<OptionRow>(`${OPTION_VIEW_SQL} WHERE o.notice_number = ANY($1::text[])`, [notices])).map((r) => [r.notice_number, toOptionView(r)])),
    ),
    payment: new ReadBatcher<number, Payment>(
      (id) => String(id),
      async (ids) => new Map((await q<PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE id = ANY($1::bigint[])`, [ids])).map((r) => [String(r.id), toPayment(r)])),
    ),
  };
}

export async function counterExposure(ctx: PgContext, counterId: string): Promise<number> {
  const r = await ctx.one<{ v: number }>(
    `SELECT coalesce((SELECT b.balance_cents FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
                      WHERE a.kind = 'counter_cash' AND a.owner_id = c.id), 0) - c.settled_cents AS v
     FROM counters c WHERE c.id = $1`,
    [counterId],
  );
  return r?.v ?? 0;
}

export async function getOption(ctx: PgContext, optionId: number): Promise<OptionView | undefined> {
  const r = await ctx.one<OptionRow>(`${OPTION_VIEW_SQL} WHERE o.id = $1`, [optionId]);
  return r && toOptionView(r);
}

export async function findOptionsByLookup(ctx: PgContext, serviceCode: string, lookupKey: string): Promise<OptionView[]> {
  return (await ctx.q<OptionRow>(`${OPTION_VIEW_SQL} WHERE o.lookup_key = $1 AND p.service_code = $2 ORDER BY o.due_date, o.id`, [lookupKey, serviceCode])).map(
    toOptionView,
  );
}

export async function getPayment(ctx: PgContext, publicId: string): Promise<Payment | undefined> {
  const r = await ctx.one<PaymentRow>(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE public_id = $1`, [publicId]);
  return r && toPayment(r);
}

export async function terminalTotals(ctx: PgContext, terminalId: string, date: string) {
  const paid = (await ctx.one<CountSumRow>(
    'SELECT count(*) AS n, coalesce(sum(amount_cents), 0) AS s FROM payments WHERE settlement_date = $1 AND terminal_id = $2',
    [date, terminalId],
  ))!;
  const reversed = (await ctx.one<CountSumRow>(
    `SELECT count(*) AS n, coalesce(sum(amount_cents), 0) AS s FROM payments
     WHERE reversal_settlement_date = $1 AND reversal_kind = 'reversal' AND terminal_id = $2`,
    [date, terminalId],
  ))!;
  return { count: paid.n, amountCents: paid.s, reversalCount: reversed.n, reversalAmountCents: reversed.s };
}
