// The booking rules of pagoPA payments (src/ledger/book.ts, checks.ts) over the in-memory
// port, with random batches: payments on activations of 1..5 transfers (now and then
// transfers that do not add up to the amount: an invariant, never a refusal), the node's
// answers moving outcome states between batches, terminal reversals and the office's
// cancels. Checked after every batch: a pagoPA payment is booked with exactly its
// activation, its transfers sum to its amount, no terminal ever reverses one, the office
// cancels one only when it is refund_due, and the ledger balances to the cent.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { romeInstant } from '../../src/domain/calendar.js';
import { Ledger, LedgerInvariantError } from '../../src/ledger/book.js';
import type { BookingCommand, BookingResult, PagoPaOutcomeState, PayCommand } from '../../src/ledger/commands.js';
import { MemoryLedgerTx } from '../../src/ledger/memory.js';
import { paymentPostings } from '../../src/ledger/postings.js';

const DAY = '2026-11-23'; // a Monday
const AT = romeInstant(DAY, '10:00');
const TERMINALS = [
  { id: 'T1', counterId: 'C1' },
  { id: 'T2', counterId: 'C2' },
];

type Op =
  | { k: 'pay'; t: number; splits: number[]; broken: boolean }
  | { k: 'reverse'; ref: number; office: boolean }
  | { k: 'answer'; ref: number; outcome: PagoPaOutcomeState };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('pay' as const), t: fc.nat(1), splits: fc.array(fc.integer({ min: 1, max: 50_000 }), { minLength: 1, maxLength: 5 }), broken: fc.nat(4).map((x) => x === 0) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reverse' as const), ref: fc.nat(40), office: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('answer' as const), ref: fc.nat(40), outcome: fc.constantFrom<PagoPaOutcomeState>('sent', 'refund_due') }) },
);

function payCommand(op: Extract<Op, { k: 'pay' }>, n: number): PayCommand {
  const t = TERMINALS[op.t]!;
  const amount = op.splits.reduce((a, b) => a + b, 0);
  const fee = 200;
  const split = { commission: 130, operator: 60, royalty: 10 };
  return {
    kind: 'pay',
    channel: 'json',
    terminalId: t.id,
    counterId: t.counterId,
    counterKind: 'tabaccaio',
    entityId: 'PAGOPA',
    serviceCode: 'PAGOPA',
    identifier: `3010000000000${String(n).padStart(5, '0')}`,
    optionId: null,
    payerCf: null,
    amountCents: amount,
    feeCents: fee,
    split,
    circuitFeeCents: 0,
    circuitFeeMode: null,
    stan: null,
    approvalCode: 'A00001',
    publicId: `p-${n}`,
    description: 'avviso pagoPA',
    bookedAt: AT + n,
    settlementDate: DAY,
    postings: paymentPostings({ counterId: t.counterId, entityId: 'PAGOPA', amountCents: amount, feeCents: fee, ...split, circuitFeeCents: 0, circuitFeeMode: null }),
    idempotency: { key: `k${n}`, requestHash: `h${n}` },
    pagopa: {
      creditorFiscalCode: '01307110484',
      creditorName: 'Comune di Firenze',
      noticeNumber: `3010000000000${String(n).padStart(5, '0')}`,
      iuv: `010000000000${String(n).padStart(5, '0')}`,
      paymentToken: `token-${n}`,
      idempotencyKey: `01234567890_${String(n).padStart(10, '0')}`,
      activatedAt: AT + n,
      tokenExpiresAt: AT + n + 1_800_000,
      claimedUntil: AT + n + 60_000,
      // A broken activation: its transfers miss a cent of the amount.
      transfers: op.splits.map((cents, i) => ({ index: i + 1, amountCents: op.broken && i === 0 ? cents + 1 : cents, fiscalCode: '01307110484', iban: 'IT60X0542811101000000123456', remittance: `quota ${i + 1}` })),
    },
  };
}

describe('pagoPA payments in the booking rules (property)', () => {
  it('are booked with their activation, never reversed by a terminal, cancelled by the office only when refund_due; the ledger balances', () => {
    fc.assert(
      fc.property(fc.array(fc.array(opArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 10 }), (batches) => {
        const tx = new MemoryLedgerTx();
        for (const t of TERMINALS) {
          tx.terminals.set(t.id, 'active');
          tx.counters.set(t.counterId, { status: 'active', creditLimitCents: Number.MAX_SAFE_INTEGER, settledCents: 0 });
        }
        tx.entities.set('PAGOPA', 'Creditori tramite pagoPA');
        const ledger = new Ledger(tx);
        let n = 0;
        for (const ops of batches) {
          const commands: BookingCommand[] = [];
          const expected: ((r: BookingResult) => void)[] = [];
          const cancelled = new Set<number>();
          // The node's answers, recorded after the batch (the outcome sender): pending → sent or refund_due.
          const answers: Extract<Op, { k: 'answer' }>[] = [];
          const answer = () => {
            for (const a of answers) {
              const ids = [...tx.pagopaStates.keys()];
              const id = ids[a.ref % Math.max(1, ids.length)];
              if (id !== undefined && tx.pagopaStates.get(id) === 'pending') tx.pagopaStates.set(id, a.outcome);
            }
          };
          for (const op of ops) {
            if (op.k === 'answer') {
              answers.push(op);
              continue;
            }
            if (op.k === 'pay') {
              commands.push(payCommand(op, ++n));
              expected.push((r) => expect(r.ok).toBe(true));
              continue;
            }
            const ids = [...tx.payments.keys()];
            const id = ids[op.ref % Math.max(1, ids.length)];
            if (id === undefined) continue;
            const p = tx.payment(id)!;
            const state = tx.pagopaStates.get(id);
            commands.push({
              kind: 'reverse',
              original: { paymentId: id },
              terminalId: p.terminalId,
              at: AT + 100_000 + n,
              settlementDate: DAY,
              ...(op.office ? { cancel: { actor: 'finance:test', reason: 'property' } } : {}),
            });
            const first = op.office && state === 'refund_due' && p.reversedAt === null && !cancelled.has(id);
            if (first) cancelled.add(id);
            expected.push((r) => {
              if (!op.office || state !== 'refund_due') expect(r).toMatchObject({ ok: false, code: 'REVERSAL_NOT_ALLOWED' });
              else if (first) expect(r).toMatchObject({ ok: true });
              else expect(r).toMatchObject({ ok: false, code: 'ALREADY_REVERSED' });
            });
          }
          if (commands.length === 0) {
            answer();
            continue;
          }
          const broken = commands.some((c) => c.kind === 'pay' && c.pagopa!.transfers.reduce((a, t) => a + t.amountCents, 0) !== c.amountCents);
          const before = { payments: tx.payments.size, rows: tx.pagopa.size };
          if (broken) {
            // Transfers that do not add up are a broken invariant: the whole batch rolls back.
            expect(() => ledger.runBatch(commands)).toThrow(LedgerInvariantError);
            expect({ payments: tx.payments.size, rows: tx.pagopa.size }).toEqual(before);
            answer();
            continue;
          }
          const { results } = ledger.runBatch(commands);
          results.forEach((r, i) => expected[i]!(r));
          answer();
        }
        // Every booked payment has its activation, whose transfers sum to its amount; balances sum to zero.
        for (const [id, p] of tx.payments) {
          const b = tx.pagopa.get(id);
          expect(b, `payment ${id} has its activation`).toBeDefined();
          expect(b!.transfers.reduce((a, t) => a + t.amountCents, 0)).toBe(p.amountCents);
          // Only a refund_due one is ever cancelled.
          if (p.reversedAt !== null) expect(tx.pagopaStates.get(id)).toBe('refund_due');
        }
        expect([...tx.balances.values()].reduce((a, b) => a + b, 0)).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
