// Concurrency against a real switch (its SQLite file, or PgStore on a database of its
// own on the postgres project): one notice, many terminals; and group commit isolation
// (a failing command in a batch books nothing and fails no other).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settlementDate } from '../../src/domain/calendar.js';
import { paymentPostings } from '../../src/ledger/postings.js';
import { PaymentError } from '../../src/payments/errors.js';
import { requestHash, type PayRequest, type TerminalContext } from '../../src/payments/service.js';
import type { BookingCommand, BookingResult } from '../../src/ledger/commands.js';
import type { PayCommand } from '../../src/store/types.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { cashBalance, ledgerViolations, openDb, payableNotices, type Db, type PayableNotice } from './db.js';

let h: Harness;
let db: Db;
let pool: PayableNotice[];
/** Counters already used by a test of this file (a fresh counter has no ledger accounts yet). */
const usedCounters = new Set<string>();

const audit = { actor: 'test', action: 'counters.credit-limit', target: 'test' };

function takeNotice(): PayableNotice {
  const n = pool.shift();
  if (!n) throw new Error('notice pool exhausted');
  return n;
}

/** Terminals of counters no other test of this file has used, one per counter. */
function freshTerminals(n: number): TerminalContext[] {
  const out: TerminalContext[] = [];
  for (const t of h.credentials.terminals) {
    if (out.length === n) break;
    if (usedCounters.has(t.counterId)) continue;
    usedCounters.add(t.counterId);
    out.push({ terminalId: t.terminalId, counterId: t.counterId });
  }
  if (out.length < n) throw new Error('not enough fresh terminals');
  return out;
}

async function payRequest(t: TerminalContext, notice: PayableNotice): Promise<PayRequest> {
  const v = await h.payments.verify(t, { service: notice.serviceCode, identifier: notice.noticeNumber });
  return { service: notice.serviceCode, identifier: notice.noticeNumber, amount: v.amountDue };
}

const idem = (req: PayRequest, key = randomUUID()) => ({ key, requestHash: requestHash('pay', req) });

const paymentsOfOption = (optionId: number) =>
  db.all<{ id: number; terminal_id: string; reversed_at: number | null }>('SELECT id, terminal_id, reversed_at FROM payments WHERE option_id = ? ORDER BY id', optionId);

/**
 * Holds the store's write() calls until `n` have been made, then hands them to the
 * writer in one tick, so they go into one batch (a held call is never answered before;
 * after 10 s whatever was held goes anyway, and the batch count says so). On SQLite,
 * payments started together reach the writer in one tick by themselves: their reads
 * before the write wait on no I/O. On PostgreSQL each read (idempotency record, notice)
 * is a round trip that ends when it ends, so they would reach it in several batches.
 * Returns the hold's end (restores write).
 */
function oneBatchOf(n: number): () => void {
  const store = h.rt.store;
  const write = store.write.bind(store);
  const held: { cmd: BookingCommand; resolve: (r: Promise<BookingResult>) => void }[] = [];
  const release = () => {
    clearTimeout(timer);
    Reflect.deleteProperty(store, 'write');
    for (const x of held.splice(0)) x.resolve(write(x.cmd));
  };
  const timer = setTimeout(release, 10_000);
  store.write = (cmd) =>
    new Promise<BookingResult>((resolve) => {
      held.push({ cmd, resolve });
      if (held.length === n) release();
    });
  return release;
}

beforeAll(async () => {
  h = await startHarness({ positions: 3000 });
  db = await openDb(h);
  pool = await payableNotices(db);
  expect(pool.length).toBeGreaterThan(50);
});

afterAll(async () => {
  await db?.close();
  await h?.close();
});

describe('one notice, many terminals', () => {
  it('50 concurrent payments of one notice from 50 terminals: exactly one is booked', async () => {
    const notice = takeNotice();
    const terminals = freshTerminals(50);
    const req = await payRequest(terminals[0]!, notice);
    const settled = await Promise.allSettled(terminals.map((t) => h.payments.pay(t, req, idem(req), 'json')));

    const ok = settled.flatMap((s, i) => (s.status === 'fulfilled' ? [{ i, value: s.value }] : []));
    expect(ok).toHaveLength(1);
    const winner = ok[0]!;
    expect(winner.value.status).toBe(201);
    expect(winner.value.payment.terminalId).toBe(terminals[winner.i]!.terminalId);

    const codes = new Set<string>();
    for (const s of settled) {
      if (s.status === 'fulfilled') continue;
      expect(s.reason).toBeInstanceOf(PaymentError);
      codes.add((s.reason as PaymentError).code);
    }
    expect([...codes].every((c) => c === 'NOTICE_ALREADY_PAID' || c === 'PAYMENT_IN_PROGRESS')).toBe(true);

    const rows = await paymentsOfOption(notice.optionId);
    expect(rows).toEqual([{ id: winner.value.payment.id, terminal_id: winner.value.payment.terminalId, reversed_at: null }]);
    const option = (await db.get<{ paid_payment_id: number }>('SELECT paid_payment_id FROM payment_options WHERE id = ?', notice.optionId))!;
    expect(option.paid_payment_id).toBe(winner.value.payment.id);
    // Only the winner left an idempotency record.
    const records = await db.all('SELECT terminal_id FROM idempotency_records WHERE payment_id = ?', winner.value.payment.id);
    expect(records).toEqual([{ terminal_id: winner.value.payment.terminalId }]);
    expect(await ledgerViolations(db)).toEqual([]);
    expect((await h.rt.store.checkInvariants()).violations).toEqual([]);
  });

  it('50 concurrent retries with one idempotency key from one terminal book once and all get the same answer', async () => {
    const notice = takeNotice();
    const [t] = freshTerminals(1);
    const req = await payRequest(t!, notice);
    const key = idem(req);
    const answers = await Promise.all(Array.from({ length: 50 }, () => h.payments.pay(t!, req, key, 'json')));
    const ids = new Set(answers.map((a) => a.body.paymentId));
    expect(ids.size).toBe(1);
    for (const a of answers) expect(a.body).toEqual(answers[0]!.body);
    expect(await paymentsOfOption(notice.optionId)).toHaveLength(1);
    expect(await db.scalar('SELECT count(*) FROM idempotency_records WHERE terminal_id = ? AND key = ?', t!.terminalId, key.key)).toBe(1);
  });
});

describe('group commit isolation', () => {
  it('a command over its credit limit fails alone; the others of its batch are booked', async () => {
    const baseline = await ledgerViolations(db);
    const terminals = freshTerminals(5);
    const notices = terminals.map(() => takeNotice());
    const reqs = await Promise.all(terminals.map((t, i) => payRequest(t, notices[i]!)));
    const loser = 2; // in the middle of the batch
    const loserCounter = terminals[loser]!.counterId;
    const loserTotal = reqs[loser]!.amount + (await h.payments.verify(terminals[loser]!, { service: notices[loser]!.serviceCode, identifier: notices[loser]!.noticeNumber })).fee;
    expect(await cashBalance(db, loserCounter)).toBe(0);
    await h.rt.store.setCreditLimit(loserCounter, loserTotal - 1, audit);

    const before = h.rt.store.writerStats;
    const eventsBefore = await db.scalar('SELECT count(*) FROM events');
    const keys = reqs.map((r) => idem(r));
    const hold = oneBatchOf(5);
    const settled = await Promise.allSettled(terminals.map((t, i) => h.payments.pay(t, reqs[i]!, keys[i]!, 'json'))).finally(hold);
    const after = h.rt.store.writerStats;
    // All five were handed to the writer in one tick (oneBatchOf), so they went into one transaction.
    expect(after.batches - before.batches).toBe(1);
    expect(after.commands - before.commands).toBe(5);

    for (const [i, s] of settled.entries()) {
      if (i === loser) {
        expect(s.status).toBe('rejected');
        expect((s as PromiseRejectedResult).reason).toMatchObject({ code: 'CREDIT_LIMIT_EXCEEDED' });
        continue;
      }
      expect(s.status).toBe('fulfilled');
      const p = (s as PromiseFulfilledResult<Awaited<ReturnType<Harness['payments']['pay']>>>).value.payment;
      expect(await paymentsOfOption(notices[i]!.optionId)).toEqual([{ id: p.id, terminal_id: terminals[i]!.terminalId, reversed_at: null }]);
      expect(await cashBalance(db, terminals[i]!.counterId)).toBe(p.amountCents + p.feeCents);
    }
    // The loser booked nothing: no payment, no mark on its notice, no cash, no idempotency record.
    expect(await paymentsOfOption(notices[loser]!.optionId)).toEqual([]);
    expect((await db.get<{ p: number | null }>('SELECT paid_payment_id AS p FROM payment_options WHERE id = ?', notices[loser]!.optionId))!.p).toBeNull();
    expect(await db.scalar('SELECT count(*) FROM payments WHERE counter_id = ?', loserCounter)).toBe(0);
    expect(await cashBalance(db, loserCounter)).toBe(0);
    expect(await h.rt.store.counterExposure(loserCounter)).toBe(0);
    expect(await h.rt.store.getIdempotency(terminals[loser]!.terminalId, keys[loser]!.key)).toBeUndefined();
    expect((await db.scalar('SELECT count(*) FROM events')) - eventsBefore).toBe(4);
    expect(await ledgerViolations(db)).toEqual(baseline);
    expect((await h.rt.store.checkInvariants()).violations).toEqual([]);

    // Once its limit allows it, the same counter books the same notice, on its own accounts.
    await h.rt.store.setCreditLimit(loserCounter, 10_000_000, audit);
    const retry = await h.payments.pay(terminals[loser]!, reqs[loser]!, keys[loser]!, 'json');
    expect(retry.status).toBe(201);
    expect(retry.payment.counterId).toBe(loserCounter);
    const others: (readonly [string, number])[] = [];
    for (const t of terminals.filter((_, i) => i !== loser)) others.push([t.counterId, await cashBalance(db, t.counterId)] as const);
    // Every entry of the new payment is on the loser counter's or its entity's accounts.
    expect(await ledgerViolations(db)).toEqual(baseline);
    expect(await cashBalance(db, loserCounter)).toBe(loserTotal);
    expect(await h.rt.store.counterExposure(loserCounter)).toBe(loserTotal);
    // ...and no other counter's cash moved.
    for (const [counterId, cash] of others) expect(await cashBalance(db, counterId)).toBe(cash);
    expect((await h.rt.store.checkInvariants()).violations).toEqual([]);
  });

  it('a command that breaks an invariant (unbalanced postings) fails its whole batch, loudly: nothing of the batch is on disk; the next batch books', async () => {
    const baseline = await ledgerViolations(db);
    const [ta, tb, tc] = freshTerminals(3);
    const [na, nb, nc] = [takeNotice(), takeNotice(), takeNotice()];
    const reqA = await payRequest(ta!, na!);
    const reqC = await payRequest(tc!, nc!);
    const vb = await h.payments.verify(tb!, { service: nb!.serviceCode, identifier: nb!.noticeNumber });
    const counterB = (await h.rt.store.getCounter(tb!.counterId))!;
    const catalogue = await h.rt.store.loadCatalogue();
    const now = h.rt.clock();
    // A command as Payments would build it, but with one cent too many on the counter's cash.
    const split = { commission: vb.fee, operator: 0, royalty: 0 };
    const entityId = catalogue.services.get(nb!.serviceCode)!.entityId;
    const postings = paymentPostings({ counterId: counterB.id, entityId, amountCents: vb.amountDue, feeCents: vb.fee, ...split, circuitFeeCents: 0, circuitFeeMode: null });
    postings[0] = { ...postings[0]!, amountCents: postings[0]!.amountCents + 1 };
    const broken: PayCommand = {
      kind: 'pay',
      channel: 'json',
      terminalId: tb!.terminalId,
      counterId: counterB.id,
      counterKind: counterB.kind,
      entityId,
      serviceCode: nb!.serviceCode,
      identifier: nb!.noticeNumber,
      optionId: nb!.optionId,
      payerCf: null,
      amountCents: vb.amountDue,
      feeCents: vb.fee,
      split,
      circuitFeeCents: 0,
      circuitFeeMode: null,
      stan: null,
      approvalCode: 'ABC123',
      publicId: randomUUID(),
      description: 'broken',
      bookedAt: now,
      settlementDate: settlementDate(now, h.config.settlementCutoff),
      postings,
      idempotency: { key: 'broken-key', requestHash: 'x' },
    };
    const before = h.rt.store.writerStats;
    const hold = oneBatchOf(3);
    const outcomes = await Promise.allSettled([
      h.payments.pay(ta!, reqA, idem(reqA), 'json'),
      h.rt.store.write(broken),
      h.payments.pay(tc!, reqC, idem(reqC), 'json'),
    ]).finally(hold);
    expect(h.rt.store.writerStats.batches - before.batches).toBe(0); // no batch committed
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect(String((o as PromiseRejectedResult).reason)).toMatch(/ledger invariant broken: payment .* unbalanced postings: sum 1/);
    }
    for (const n of [na!, nb!, nc!]) expect(await paymentsOfOption(n.optionId)).toEqual([]);
    expect(await db.scalar('SELECT count(*) FROM payments WHERE public_id = ?', broken.publicId)).toBe(0);
    expect(await cashBalance(db, counterB.id)).toBe(0);
    expect(await ledgerViolations(db)).toEqual(baseline);
    expect((await h.rt.store.checkInvariants()).violations).toEqual([]);

    // The same payments, sent again, book normally.
    const [a, c] = await Promise.all([h.payments.pay(ta!, reqA, idem(reqA), 'json'), h.payments.pay(tc!, reqC, idem(reqC), 'json')]);
    expect([a.status, c.status]).toEqual([201, 201]);
    const reqB = await payRequest(tb!, nb!);
    const okB = await h.payments.pay(tb!, reqB, idem(reqB), 'json');
    expect(await cashBalance(db, counterB.id)).toBe(okB.payment.amountCents + okB.payment.feeCents);
    expect(await ledgerViolations(db)).toEqual(baseline);
    expect((await h.rt.store.checkInvariants()).violations).toEqual([]);
  });
});
