// Property test of booking on a real switch (its SQLite file, or PgStore on a database
// of its own on the postgres project): random sequences of payments,
// retries (same key, same or different body), reversals (by the payer terminal or
// another one), payments of already-paid notices and of fixed/self-assessed services,
// some fired concurrently. Each outcome must be explained by a sequential model in
// some order of its concurrent group (linearizability), and after every sequence the
// ledger in the store must be intact and agree with the model.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PaymentError } from '../../src/payments/errors.js';
import { requestHash, type PayRequest, type PaymentReceipt, type TerminalContext } from '../../src/payments/service.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { ledgerViolations, openDb, payableNotices, type Db, type PayableNotice } from './db.js';

// ---------------------------------------------------------------- abstract commands

type Abstract =
  | { k: 'payNew'; t: number }
  | { k: 'retrySame'; ref: number }
  | { k: 'retryDiff'; ref: number }
  | { k: 'reverseOwn'; ref: number }
  | { k: 'reverseOther'; ref: number; t: number }
  | { k: 'payPaid'; ref: number; t: number }
  | { k: 'payFS'; svc: number; code: number; t: number; amount: number };

const nat = fc.nat({ max: 1000 });
const abstractArb: fc.Arbitrary<Abstract> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('payNew' as const), t: nat }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('retrySame' as const), ref: nat }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('retryDiff' as const), ref: nat }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reverseOwn' as const), ref: nat }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reverseOther' as const), ref: nat, t: nat }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('payPaid' as const), ref: nat, t: nat }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('payFS' as const),
      svc: fc.nat({ max: 1 }),
      code: fc.nat({ max: 3 }),
      t: nat,
      amount: fc.integer({ min: 500, max: 50_000 }),
    }),
  },
);
const groupArb = fc.record({ ops: fc.array(abstractArb, { minLength: 1, maxLength: 4 }), concurrent: fc.boolean() });
const sequenceArb = fc.array(groupArb, { minLength: 1, maxLength: 8 });

// ---------------------------------------------------------------- concrete commands

interface PayOp {
  kind: 'pay';
  label: string;
  t: TerminalContext;
  key: string;
  req: PayRequest;
  hash: string;
  notice: string | null;
}
interface ReverseOp {
  kind: 'reverse';
  label: string;
  t: TerminalContext;
  paymentId: number;
}
type Op = PayOp | ReverseOp;

type Outcome =
  | { ok: true; paymentId: number; status: number; body: PaymentReceipt | null; reversed: boolean }
  | { ok: false; code: string; detail: string };

// ---------------------------------------------------------------- the model

interface Model {
  /** `${terminalId}\0${key}` → the first successful answer. */
  records: Map<string, { hash: string; paymentId: number; body: PaymentReceipt }>;
  /** notice → the payment that holds it paid, or null when payable again. */
  noticePaidBy: Map<string, number | null>;
  payments: Map<number, { terminalId: string; notice: string | null; reversed: boolean }>;
}

const cloneModel = (m: Model): Model => ({
  records: new Map(m.records),
  noticePaidBy: new Map(m.noticePaidBy),
  payments: new Map([...m.payments].map(([id, p]) => [id, { ...p }])),
});

interface Stats {
  [k: string]: number;
}

/**
 * Applies one op's actual outcome to the model; returns why the model would not
 * have given this outcome, or null if it would.
 */
function step(m: Model, op: Op, o: Outcome, inProgressOk: boolean, stats: Stats): string | null {
  const bump = (k: string) => (stats[k] = (stats[k] ?? 0) + 1);
  if (op.kind === 'reverse') {
    const p = m.payments.get(op.paymentId);
    if (!p) return `reversal of unknown payment ${op.paymentId}`;
    if (p.terminalId !== op.t.terminalId) {
      if (o.ok || o.code !== 'FORBIDDEN') return `expected FORBIDDEN, got ${JSON.stringify(o)}`;
      bump('forbidden');
      return null;
    }
    if (!o.ok || o.paymentId !== op.paymentId || !o.reversed) return `expected the reversal of ${op.paymentId}, got ${JSON.stringify(o)}`;
    if (!p.reversed) {
      p.reversed = true;
      if (p.notice !== null && m.noticePaidBy.get(p.notice) === op.paymentId) m.noticePaidBy.set(p.notice, null);
      bump('reversal');
    } else bump('reversalRepeated');
    return null;
  }
  if (!o.ok && o.code === 'PAYMENT_IN_PROGRESS' && inProgressOk) {
    bump('inProgress');
    return null; // refused while another op of its group paid the same notice: no effect
  }
  const tk = `${op.t.terminalId}\0${op.key}`;
  const rec = m.records.get(tk);
  if (rec) {
    if (rec.hash === op.hash) {
      if (!o.ok) return `expected the replay of payment ${rec.paymentId}, got ${JSON.stringify(o)}`;
      if (o.paymentId !== rec.paymentId) return `replay answered payment ${o.paymentId}, the first answer was ${rec.paymentId}`;
      if (o.status !== 201 || JSON.stringify(o.body) !== JSON.stringify(rec.body)) return `replay answered ${JSON.stringify(o.body)}, first ${JSON.stringify(rec.body)}`;
      bump('replay');
      return null;
    }
    if (o.ok || o.code !== 'IDEMPOTENCY_CONFLICT') return `expected IDEMPOTENCY_CONFLICT, got ${JSON.stringify(o)}`;
    bump('conflict');
    return null;
  }
  if (op.notice !== null && (m.noticePaidBy.get(op.notice) ?? null) !== null) {
    if (o.ok || o.code !== 'NOTICE_ALREADY_PAID') return `expected NOTICE_ALREADY_PAID, got ${JSON.stringify(o)}`;
    bump('alreadyPaid');
    return null;
  }
  if (!o.ok) return `expected a new payment, got ${JSON.stringify(o)}`;
  if (m.payments.has(o.paymentId)) return `expected a new payment, got existing payment ${o.paymentId}`;
  if (o.status !== 201 || o.body === null) return `a new payment answered status ${o.status}`;
  m.records.set(tk, { hash: op.hash, paymentId: o.paymentId, body: o.body });
  m.payments.set(o.paymentId, { terminalId: op.t.terminalId, notice: op.notice, reversed: false });
  if (op.notice !== null) m.noticePaidBy.set(op.notice, o.paymentId);
  bump(op.notice === null ? 'newFS' : op.label === 'payPaid' ? 'repaidAfterReversal' : 'newNotice');
  return null;
}

function* permutations(n: number): Generator<number[]> {
  if (n <= 1) {
    yield [...Array(n).keys()];
    return;
  }
  for (const rest of permutations(n - 1)) {
    for (let i = 0; i <= rest.length; i++) yield [...rest.slice(0, i), n - 1, ...rest.slice(i)];
  }
}

/** Finds an order of the group in which the model explains every outcome; returns the new model. */
function linearize(m: Model, ops: Op[], outcomes: Outcome[], concurrent: boolean, stats: Stats): Model {
  const orders = concurrent ? [...permutations(ops.length)] : [[...ops.keys()]];
  const reasons: string[] = [];
  for (const order of orders) {
    const trial = cloneModel(m);
    const trialStats: Stats = {};
    let failure: string | null = null;
    for (const i of order) {
      const op = ops[i]!;
      const sameNotice =
        concurrent && op.kind === 'pay' && op.notice !== null && ops.some((x, j) => j !== i && x.kind === 'pay' && x.notice === op.notice);
      failure = step(trial, op, outcomes[i]!, sameNotice, trialStats);
      if (failure) {
        failure = `${op.label} #${i}: ${failure}`;
        break;
      }
    }
    if (!failure) {
      for (const [k, v] of Object.entries(trialStats)) stats[k] = (stats[k] ?? 0) + v;
      return trial;
    }
    reasons.push(`order ${order.join(',')}: ${failure}`);
  }
  throw new Error(
    `no order of this ${concurrent ? 'concurrent' : 'sequential'} group is explained by the model:\n` +
      ops.map((op, i) => `  #${i} ${describeOp(op)} → ${JSON.stringify(outcomes[i])}`).join('\n') +
      `\n${reasons.join('\n')}`,
  );
}

function describeOp(op: Op): string {
  return op.kind === 'pay'
    ? `${op.label} ${op.t.terminalId} key=${op.key} ${op.req.service}/${op.req.identifier} amount=${op.req.amount}${op.req.payer ? ' payer' : ''}`
    : `${op.label} ${op.t.terminalId} payment=${op.paymentId}`;
}

// ---------------------------------------------------------------- the test

let h: Harness;
let db: Db;
let pool: PayableNotice[];
let terminals: TerminalContext[];
let payers: string[];
const model: Model = { records: new Map(), noticePaidBy: new Map(), payments: new Map() };
const stats: Stats = {};
let keySeq = 0;

beforeAll(async () => {
  h = await startHarness({ positions: 3000 });
  db = await openDb(h);
  pool = await payableNotices(db);
  // Six terminals, two of them on the same counter; credit limits out of the way.
  const byCounter = new Map<string, TerminalContext[]>();
  for (const t of h.credentials.terminals) {
    byCounter.set(t.counterId, [...(byCounter.get(t.counterId) ?? []), { terminalId: t.terminalId, counterId: t.counterId }]);
  }
  const pair = [...byCounter.values()].find((ts) => ts.length >= 2)!;
  const singles = [...byCounter.values()].filter((ts) => ts.length === 1).slice(0, 4).map((ts) => ts[0]!);
  terminals = [pair[0]!, pair[1]!, ...singles];
  for (const counterId of new Set(terminals.map((t) => t.counterId))) {
    await h.rt.store.setCreditLimit(counterId, 1_000_000_000, { actor: 'test', action: 'counters.credit-limit', target: counterId });
  }
  payers = (await db.all<{ cf: string }>('SELECT DISTINCT debtor_cf AS cf FROM debt_positions WHERE length(debtor_cf) = 16 LIMIT 10')).map((r) => r.cf);
  expect(payers.length).toBeGreaterThan(0);
});

afterAll(async () => {
  await db?.close();
  await h?.close();
});

async function execute(op: Op): Promise<Outcome> {
  try {
    if (op.kind === 'pay') {
      const r = await h.payments.pay(op.t, op.req, { key: op.key, requestHash: op.hash }, 'json');
      return { ok: true, paymentId: r.payment.id, status: r.status, body: r.body, reversed: r.payment.reversedAt !== null };
    }
    const payment = await h.rt.store.getPaymentById(op.paymentId);
    if (!payment) throw new Error(`payment ${op.paymentId} vanished`);
    const r = await h.payments.reverse(op.t, payment);
    return { ok: true, paymentId: r.id, status: 200, body: null, reversed: r.reversedAt !== null };
  } catch (err) {
    if (err instanceof PaymentError) return { ok: false, code: err.code, detail: err.detail };
    throw err;
  }
}

describe('booking: random sequences of pay, retry, reverse', () => {
  it('every outcome is explained by the model and the ledger stays intact', async () => {
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (groups) => {
        // Per run: the pay ops and notices this run has seen (retries and re-payments refer to them).
        const payOps: PayOp[] = [];
        const notices: { notice: string; req: PayRequest }[] = [];
        const paymentsBefore = await db.scalar('SELECT count(*) FROM payments');
        const modelPaymentsBefore = model.payments.size;
        const term = (i: number) => terminals[i % terminals.length]!;
        const newKey = () => `prop-key-${String(++keySeq).padStart(6, '0')}`;

        for (const group of groups) {
          const known = [...model.payments.keys()];
          const ops: Op[] = [];
          for (const a of group.ops) {
            switch (a.k) {
              case 'payNew': {
                const n = pool.shift();
                if (!n) throw new Error('notice pool exhausted');
                const t = term(a.t);
                const v = await h.payments.verify(t, { service: n.serviceCode, identifier: n.noticeNumber });
                const req: PayRequest = { service: n.serviceCode, identifier: n.noticeNumber, amount: v.amountDue };
                const op: PayOp = { kind: 'pay', label: 'payNew', t, key: newKey(), req, hash: requestHash('pay', req), notice: n.noticeNumber };
                notices.push({ notice: n.noticeNumber, req });
                payOps.push(op);
                ops.push(op);
                break;
              }
              case 'retrySame':
              case 'retryDiff': {
                if (payOps.length === 0) break;
                const first = payOps[a.ref % payOps.length]!;
                let req = first.req;
                if (a.k === 'retryDiff') {
                  const { payer, ...rest } = first.req;
                  req = payer === undefined ? { ...rest, payer: payers[a.ref % payers.length]! } : rest;
                }
                ops.push({ ...first, label: a.k, req, hash: requestHash('pay', req) });
                break;
              }
              case 'reverseOwn':
              case 'reverseOther': {
                if (known.length === 0) break;
                const id = known[a.ref % known.length]!;
                const owner = model.payments.get(id)!.terminalId;
                let t = terminals.find((x) => x.terminalId === owner)!;
                if (a.k === 'reverseOther') {
                  const others = terminals.filter((x) => x.terminalId !== owner);
                  t = others[a.t % others.length]!;
                }
                ops.push({ kind: 'reverse', label: a.k, t, paymentId: id });
                break;
              }
              case 'payPaid': {
                if (notices.length === 0) break;
                const n = notices[a.ref % notices.length]!;
                const op: PayOp = { kind: 'pay', label: 'payPaid', t: term(a.t), key: newKey(), req: n.req, hash: requestHash('pay', n.req), notice: n.notice };
                payOps.push(op);
                ops.push(op);
                break;
              }
              case 'payFS': {
                const service = a.svc === 0 ? 'BIBLIOTECA' : 'REFEZIONE';
                const identifier = `USR-${String(a.code).padStart(4, '0')}`;
                const t = term(a.t);
                const v = await h.payments.verify(t, { service, identifier });
                const req: PayRequest = { service, identifier, amount: service === 'REFEZIONE' ? a.amount : v.amountDue };
                const op: PayOp = { kind: 'pay', label: 'payFS', t, key: newKey(), req, hash: requestHash('pay', req), notice: null };
                payOps.push(op);
                ops.push(op);
                break;
              }
            }
          }
          if (ops.length === 0) continue;
          const concurrent = group.concurrent && ops.length > 1;
          let outcomes: Outcome[];
          if (concurrent) {
            stats.concurrentGroups = (stats.concurrentGroups ?? 0) + 1;
            outcomes = await Promise.all(ops.map(execute));
          } else {
            outcomes = [];
            for (const op of ops) outcomes.push(await execute(op));
          }
          const next = linearize(model, ops, outcomes, concurrent, stats);
          model.records = next.records;
          model.noticePaidBy = next.noticePaidBy;
          model.payments = next.payments;
        }

        // The store's own check, then the same rules straight from the store's tables.
        const report = await h.rt.store.checkInvariants();
        expect(report.violations).toEqual([]);
        expect(report.ok).toBe(true);
        expect(await ledgerViolations(db)).toEqual([]);

        // One payment row per distinct successful (terminal, key), and nothing else.
        const payments = await db.scalar('SELECT count(*) FROM payments');
        expect(payments - paymentsBefore).toBe(model.payments.size - modelPaymentsBefore);
        expect(payments).toBe(model.records.size);
        expect(await db.scalar('SELECT count(*) FROM idempotency_records')).toBe(model.records.size);
        for (const [tk, rec] of model.records) {
          const [terminalId, key] = tk.split('\0') as [string, string];
          const row = await db.get<{ payment_id: number }>('SELECT payment_id FROM idempotency_records WHERE terminal_id = ? AND key = ?', terminalId, key);
          expect(row?.payment_id).toBe(rec.paymentId);
        }

        // Reversal state and paid marks agree with the model.
        const rows = await db.all<{ id: number; terminal_id: string; reversed_at: number | null }>('SELECT id, terminal_id, reversed_at FROM payments');
        for (const r of rows) {
          const p = model.payments.get(r.id);
          expect(p, `payment ${r.id} is not in the model`).toBeDefined();
          expect([r.id, r.terminal_id, r.reversed_at !== null]).toEqual([r.id, p!.terminalId, p!.reversed]);
        }
        for (const [notice, paidBy] of model.noticePaidBy) {
          const o = (await db.get<{ paid: number | null; status: string }>(
            `SELECT o.paid_payment_id AS paid, p.status FROM payment_options o JOIN debt_positions p ON p.id = o.position_id
             WHERE o.notice_number = ?`,
            notice,
          ))!;
          expect([notice, o.paid, o.status]).toEqual([notice, paidBy, paidBy === null ? 'VALID' : 'PAID']);
        }
      }),
      { numRuns: 25, endOnFailure: true },
    );

    // The runs exercised what they claim to (with 25 random runs each of these is all but certain).
    for (const k of ['newNotice', 'newFS', 'replay', 'conflict', 'reversal', 'forbidden', 'alreadyPaid', 'concurrentGroups']) {
      expect(stats[k] ?? 0, `${k} in ${JSON.stringify(stats)}`).toBeGreaterThan(0);
    }
  });
});
