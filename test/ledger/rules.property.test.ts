// The booking rules (src/ledger/book.ts) over the in-memory port: random batches of
// payments, retries (same or another request), advices, reversals by id or by key,
// adjustments, terminals blocked, counters suspended and windows closed between
// batches, and now and then a command that breaks an invariant. Each outcome is
// checked against a small sequential model written apart from the engine, and after
// every batch the ledger's invariants must hold. Runs in seconds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDays, nextWorkingDay, romeInstant } from '../../src/domain/calendar.js';
import { Ledger, LedgerInvariantError } from '../../src/ledger/book.js';
import type { BookingCommand, BookingResult, PayCommand } from '../../src/ledger/commands.js';
import { MemoryLedgerTx } from '../../src/ledger/memory.js';
import { accountKey, paymentPostings } from '../../src/ledger/postings.js';

const DAY = '2026-11-23'; // a Monday
const AT = romeInstant(DAY, '10:00');
const COUNTERS = ['C1', 'C2', 'C3'];
const TERMINALS = [
  { id: 'T1', counterId: 'C1' },
  { id: 'T2', counterId: 'C1' },
  { id: 'T3', counterId: 'C2' },
  { id: 'T4', counterId: 'C3' },
];
const LIMIT_CENTS = 60_000;
// Positions: 1 and 2 single options; 3 a single payment (5) with two instalments (6, 7).
const OPTIONS = [
  { optionId: 1, positionId: 1, kind: 'single' as const, amount: 12_345 },
  { optionId: 2, positionId: 2, kind: 'single' as const, amount: 20_000 },
  { optionId: 5, positionId: 3, kind: 'single' as const, amount: 30_000 },
  { optionId: 6, positionId: 3, kind: 'instalment' as const, amount: 15_000 },
  { optionId: 7, positionId: 3, kind: 'instalment' as const, amount: 15_000 },
];

type Op =
  | { k: 'pay'; t: number; option: number | null; amount: number; key: number; variant: number }
  | { k: 'reverseId'; ref: number; t: number; adjust: boolean }
  | { k: 'reverseKey'; t: number; key: number; amount: number; advice: boolean }
  | { k: 'broken'; t: number };
type Between = { k: 'none' } | { k: 'block'; t: number } | { k: 'unblock'; t: number } | { k: 'suspend'; c: number } | { k: 'reactivate'; c: number } | { k: 'close' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('pay' as const), t: fc.nat(3), option: fc.option(fc.nat(OPTIONS.length - 1), { freq: 3 }), amount: fc.integer({ min: 100, max: 9_000 }), key: fc.nat(12), variant: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reverseId' as const), ref: fc.nat(50), t: fc.nat(3), adjust: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reverseKey' as const), t: fc.nat(3), key: fc.nat(12), amount: fc.integer({ min: 100, max: 9_000 }), advice: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('broken' as const), t: fc.nat(3) }) },
);
const betweenArb: fc.Arbitrary<Between> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ k: 'none' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('block' as const), t: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unblock' as const), t: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('suspend' as const), c: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reactivate' as const), c: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'close' as const }) },
);
const scenarioArb = fc.array(fc.record({ ops: fc.array(opArb, { minLength: 1, maxLength: 6 }), then: betweenArb }), { minLength: 1, maxLength: 12 });

function setup(): { tx: MemoryLedgerTx; ledger: Ledger } {
  const tx = new MemoryLedgerTx();
  for (const t of TERMINALS) tx.terminals.set(t.id, 'active');
  for (const c of COUNTERS) tx.counters.set(c, { status: 'active', creditLimitCents: LIMIT_CENTS, settledCents: 0 });
  tx.entities.set('PRATO', 'Comune di Prato');
  for (const o of OPTIONS) {
    tx.options.set(o.optionId, { optionId: o.optionId, positionId: o.positionId, noticeNumber: `N${o.optionId}`, kind: o.kind, paidPaymentId: null, positionStatus: 'VALID', validUntil: null });
    tx.positions.set(o.positionId, 'VALID');
  }
  return { tx, ledger: new Ledger(tx) };
}

// ---------------------------------------------------------------- the model

interface ModelPayment {
  id: number;
  terminal: string;
  counter: string;
  option: number | null;
  total: number;
  amount: number;
  window: string;
  reversed: boolean;
}

class Model {
  terminals = new Map(TERMINALS.map((t) => [t.id, 'active' as 'active' | 'blocked']));
  counters = new Map(COUNTERS.map((c) => [c, 'active' as 'active' | 'suspended']));
  payments = new Map<number, ModelPayment>();
  keys = new Map<string, { hash: string; paymentId: number }>();
  advices = new Set<string>();
  window = DAY;

  cash(counter: string): number {
    let s = 0;
    for (const p of this.payments.values()) if (p.counter === counter && !p.reversed) s += p.total;
    return s;
  }
  optionPaid(option: number): boolean {
    const o = OPTIONS.find((x) => x.optionId === option)!;
    const live = (id: number) => [...this.payments.values()].some((p) => p.option === id && !p.reversed);
    if (live(option)) return true;
    // The position's single payment is off once an instalment is paid, and vice versa the position is paid.
    const siblings = OPTIONS.filter((x) => x.positionId === o.positionId);
    const single = siblings.find((x) => x.kind === 'single');
    if (single && live(single.optionId)) return true; // position PAID
    const inst = siblings.filter((x) => x.kind === 'instalment');
    if (inst.length > 0 && inst.every((x) => live(x.optionId))) return true; // position PAID
    if (o.kind === 'single' && inst.some((x) => live(x.optionId))) return true; // PARTIALLY_PAID: single refused
    return false;
  }
}

function payCommand(op: Extract<Op, { k: 'pay' }>, n: number): PayCommand {
  const t = TERMINALS[op.t]!;
  const option = op.option === null ? null : OPTIONS[op.option]!;
  const amount = option ? option.amount : op.amount;
  const fee = 150 + op.variant; // the request's variant changes its content, and so its hash
  return {
    kind: 'pay',
    channel: 'iso8583',
    terminalId: t.id,
    counterId: t.counterId,
    counterKind: 'tabaccaio',
    entityId: 'PRATO',
    serviceCode: 'TARI',
    identifier: option ? `N${option.optionId}` : 'X',
    optionId: option?.optionId ?? null,
    payerCf: null,
    amountCents: amount,
    feeCents: fee,
    split: { commission: 100, operator: 30, royalty: fee - 130 },
    circuitFeeCents: 0,
    circuitFeeMode: null,
    stan: String(n).padStart(6, '0'),
    approvalCode: 'A00001',
    publicId: `p-${n}`,
    description: 'test',
    bookedAt: AT + n,
    settlementDate: DAY,
    postings: paymentPostings({ counterId: t.counterId, entityId: 'PRATO', amountCents: amount, feeCents: fee, commission: 100, operator: 30, royalty: fee - 130, circuitFeeCents: 0, circuitFeeMode: null }),
    idempotency: { key: `k${op.key}`, requestHash: `h${op.option}-${op.amount}-${op.variant}` },
  };
}

/** The model's expected outcome of one pay; applies it. */
function expectPay(m: Model, cmd: PayCommand, r: BookingResult): void {
  const key = `${cmd.terminalId}\0${cmd.idempotency!.key}`;
  const prior = m.keys.get(key);
  if (prior) {
    if (prior.hash !== cmd.idempotency!.requestHash) return void expect(r).toMatchObject({ ok: false, code: 'IDEMPOTENCY_CONFLICT' });
    expect(r.ok && r.payment?.id).toBe(prior.paymentId);
    return void expect(r.ok && 'replayed' in r && r.replayed !== undefined).toBe(true);
  }
  const counter = TERMINALS.find((t) => t.id === cmd.terminalId)!.counterId;
  const total = cmd.amountCents + cmd.feeCents;
  const code = m.advices.has(key)
    ? 'ALREADY_REVERSED'
    : m.terminals.get(cmd.terminalId) !== 'active'
      ? 'TERMINAL_BLOCKED'
      : m.counters.get(counter) !== 'active'
        ? 'COUNTER_SUSPENDED'
        : cmd.optionId !== null && m.optionPaid(cmd.optionId)
          ? 'NOTICE_ALREADY_PAID'
          : m.cash(counter) + total > LIMIT_CENTS
            ? 'CREDIT_LIMIT_EXCEEDED'
            : null;
  if (code) return void expect(r, code).toMatchObject({ ok: false, code });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  const p = (r as { payment: { id: number; settlementDate: string } }).payment;
  expect(p.settlementDate).toBe(m.window);
  m.payments.set(p.id, { id: p.id, terminal: cmd.terminalId, counter, option: cmd.optionId, total, amount: cmd.amountCents, window: m.window, reversed: false });
  m.keys.set(key, { hash: cmd.idempotency!.requestHash, paymentId: p.id });
}

function expectReverse(m: Model, cmd: Extract<BookingCommand, { kind: 'reverse' }>, r: BookingResult): void {
  const o = cmd.original;
  const id = 'paymentId' in o ? o.paymentId : m.keys.get(`${cmd.terminalId}\0${o.key}`)?.paymentId;
  const p = id === undefined ? undefined : m.payments.get(id);
  if (!p) {
    if ('advice' in o && o.advice) {
      m.advices.add(`${cmd.terminalId}\0${o.key}`);
      return void expect(r).toEqual({ ok: true, payment: null, advised: true });
    }
    return void expect(r).toMatchObject({ ok: false, code: 'ORIGINAL_NOT_FOUND' });
  }
  const code = (() => {
    if (!cmd.adjustment) {
      if (m.terminals.get(cmd.terminalId) !== 'active') return 'TERMINAL_BLOCKED';
      if (m.counters.get(p.counter) !== 'active') return 'COUNTER_SUSPENDED';
    }
    if ('amountCents' in o && o.amountCents !== p.amount) return 'AMOUNT_MISMATCH';
    if (p.terminal !== cmd.terminalId) return 'FORBIDDEN';
    if (p.reversed) return 'ok-unchanged';
    if (cmd.adjustment) return p.window === m.window ? 'CONFLICT' : null;
    return p.window === m.window ? null : 'REVERSAL_WINDOW_CLOSED';
  })();
  if (code === 'ok-unchanged') return void expect(r).toMatchObject({ ok: true, payment: { id: p.id } });
  if (code) return void expect(r, code).toMatchObject({ ok: false, code });
  expect(r).toMatchObject({ ok: true, payment: { id: p.id, reversalSettlementDate: m.window } });
  p.reversed = true;
}

// ---------------------------------------------------------------- invariants

function expectInvariants(tx: MemoryLedgerTx): void {
  const byPayment = new Map<string, number>();
  const byAccount = new Map<string, number>();
  const byWindow = new Map<string, number>();
  for (const e of tx.entries) {
    const pk = `${e.paymentId}/${e.isReversal}`;
    byPayment.set(pk, (byPayment.get(pk) ?? 0) + e.amountCents);
    const ak = accountKey(e.account);
    byAccount.set(ak, (byAccount.get(ak) ?? 0) + e.amountCents);
    const wk = `${e.window}|${ak}`;
    byWindow.set(wk, (byWindow.get(wk) ?? 0) + e.amountCents);
  }
  for (const [k, s] of byPayment) expect(s, `entries of ${k}`).toBe(0);
  for (const [k, s] of byAccount) expect(tx.balances.get(k) ?? 0, `balance of ${k}`).toBe(s);
  for (const [k, b] of tx.balances) expect(byAccount.get(k) ?? 0, `balance of ${k}`).toBe(b);
  for (const [k, s] of byWindow) expect(tx.windowMovements.get(k) ?? 0, `movement ${k}`).toBe(s);
  expect([...tx.balances.values()].reduce((a, b) => a + b, 0)).toBe(0);
  for (const o of tx.options.values()) {
    const live = [...tx.payments.values()].filter((p) => p.optionId === o.optionId && p.reversedAt === null);
    expect(live.length, `live payments of option ${o.optionId}`).toBeLessThanOrEqual(1);
    expect(o.paidPaymentId).toBe(live[0]?.id ?? null);
  }
  for (const c of COUNTERS) expect(tx.storedBalance({ kind: 'counter_cash', ownerId: c })).toBeLessThanOrEqual(LIMIT_CENTS);
  // The windows' group totals are what settlement would sum from the payments.
  const totals = new Map<string, { n: number; amount: number; fee: number }>();
  const count = (date: string, kind: string, p: { entityId: string; serviceCode: string; counterId: string; amountCents: number; feeCents: number }) => {
    const k = `${date}|${kind}|${p.entityId}|${p.serviceCode}|${p.counterId}`;
    const t = totals.get(k) ?? { n: 0, amount: 0, fee: 0 };
    totals.set(k, { n: t.n + 1, amount: t.amount + p.amountCents, fee: t.fee + p.feeCents });
  };
  for (const p of tx.payments.values()) {
    count(p.settlementDate, 'booking', p);
    if (p.reversalSettlementDate !== null) count(p.reversalSettlementDate, p.reversalKind!, p);
  }
  expect(new Map([...tx.windowTotals].map(([k, t]) => [k, { n: t.n, amount: t.amountCents, fee: t.feeCents }]))).toEqual(totals);
  // One event per booking and per reversal, in seq order.
  expect(tx.events.map((e) => e.seq)).toEqual(tx.events.map((_, i) => i + 1));
  const reversals = [...tx.payments.values()].filter((p) => p.reversedAt !== null).length;
  expect(tx.events.length).toBe(tx.payments.size + reversals);
}

describe('booking rules over the in-memory port', () => {
  it('every outcome is the model\'s, and the ledger\'s invariants hold after every batch', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { tx, ledger } = setup();
        const m = new Model();
        let n = 0;
        for (const { ops, then } of scenario) {
          const cmds: BookingCommand[] = ops.map((op): BookingCommand => {
            n++;
            const t = TERMINALS[op.k === 'reverseId' || op.k === 'reverseKey' || op.k === 'pay' || op.k === 'broken' ? op.t : 0]!;
            switch (op.k) {
              case 'pay':
                return payCommand(op, n);
              case 'broken': {
                const c = payCommand({ k: 'pay', t: op.t, option: null, amount: 500, key: 99, variant: 0 }, n);
                return { ...c, idempotency: { key: `broken-${n}`, requestHash: 'x' }, postings: c.postings.map((p, i) => (i === 0 ? { ...p, amountCents: p.amountCents + 1 } : p)) };
              }
              case 'reverseId':
                return { kind: 'reverse', original: { paymentId: op.ref }, terminalId: t.id, at: AT + n, settlementDate: DAY, ...(op.adjust ? { adjustment: { actor: 'finance', reason: 'test' } } : {}) };
              case 'reverseKey':
                return { kind: 'reverse', original: { key: `k${op.key}`, amountCents: op.amount, advice: op.advice }, terminalId: t.id, at: AT + n, settlementDate: DAY };
            }
          });
          const snapshot = () => JSON.stringify([[...tx.payments], tx.entries, [...tx.balances], tx.events.length, [...tx.options.values()]]);
          const before = snapshot();
          let outcome: ReturnType<Ledger['runBatch']> | null = null;
          try {
            outcome = ledger.runBatch(cmds);
          } catch (err) {
            // Only a command with unbalanced postings that got as far as booking breaks an invariant.
            expect(err).toBeInstanceOf(LedgerInvariantError);
            expect(ops.some((op) => op.k === 'broken')).toBe(true);
            expect(snapshot()).toBe(before);
          }
          if (outcome) {
            const { results, events } = outcome;
            expect(results).toHaveLength(cmds.length);
            cmds.forEach((cmd, i) => {
              if (ops[i]!.k === 'broken') return void expect(results[i]!.ok, 'a broken command is refused before its effects').toBe(false);
              if (cmd.kind === 'pay') expectPay(m, cmd, results[i]!);
              else expectReverse(m, cmd, results[i]!);
            });
            const booked = results.filter((r) => r.ok && r.payment !== null && !('replayed' in r && r.replayed)).length;
            expect(events.length).toBe(booked - unchangedReversals(cmds, results));
          }
          expectInvariants(tx);
          switch (then.k) {
            case 'block':
            case 'unblock':
              tx.terminals.set(TERMINALS[then.t]!.id, then.k === 'block' ? 'blocked' : 'active');
              m.terminals.set(TERMINALS[then.t]!.id, then.k === 'block' ? 'blocked' : 'active');
              break;
            case 'suspend':
            case 'reactivate':
              tx.counters.get(COUNTERS[then.c]!)!.status = then.k === 'suspend' ? 'suspended' : 'active';
              m.counters.set(COUNTERS[then.c]!, then.k === 'suspend' ? 'suspended' : 'active');
              break;
            case 'close':
              // The settlement run closes today's window: bookings move to the next business day's.
              tx.closedWindows.add(m.window);
              m.window = nextWorkingDay(addDays(m.window, 1));
              break;
            case 'none':
              break;
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a commit that fails rolls the whole batch back: nothing of it remains, and the next batch books', () => {
    const { tx, ledger } = setup();
    const a = payCommand({ k: 'pay', t: 0, option: 0, amount: 0, key: 1, variant: 0 }, 1);
    tx.failNextCommit = true;
    expect(() => ledger.runBatch([a])).toThrow('commit failed');
    expect(tx.payments.size).toBe(0);
    expect(tx.entries).toEqual([]);
    expect(tx.options.get(1)!.paidPaymentId).toBeNull();
    const { results } = ledger.runBatch([a]);
    expect(results[0]).toMatchObject({ ok: true, payment: { id: 1 } });
    expectInvariants(tx);
  });
});

/** Reversals answered ok without an event: advices, and second reversals of a reversed payment. */
function unchangedReversals(cmds: BookingCommand[], results: BookingResult[]): number {
  let n = 0;
  const reversedInBatch = new Set<number>();
  cmds.forEach((c, i) => {
    const r = results[i]!;
    if (c.kind !== 'reverse' || !r.ok || r.payment === null) return;
    if (r.payment.reversedAt === null || reversedInBatch.has(r.payment.id) || r.payment.reversedAt !== c.at) n++;
    else reversedInBatch.add(r.payment.id);
  });
  return n;
}
