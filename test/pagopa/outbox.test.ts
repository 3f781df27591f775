// The outcome sender's takeover at start (src/payments/pagopa-outcomes.ts): pending rows
// left by a process that died, more of them than one claim takes, are all claimed and
// sent, each once, by batches; the node takes each outcome once. Real store, the node
// simulator over HTTP, activations made at the node.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PayCommand } from '../../src/ledger/commands.js';
import { paymentPostings } from '../../src/ledger/postings.js';
import { PspClient } from '../../src/pagopa/client.js';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import type { PspIdentity } from '../../src/pagopa/types.js';
import { PagoPaOutcomes } from '../../src/payments/pagopa-outcomes.js';
import { testClock, testToday } from '../helpers/clock.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const PSP: PspIdentity = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-outbox' };
const FIRENZE = '01307110484';

const sim = new NodeSimulator({ psp: PSP, clock: testClock, seed: 31 });
let h: Harness;
let client: PspClient;

beforeAll(async () => {
  const url = await sim.start();
  h = await startHarness({ positions: 50 });
  client = new PspClient({ nodeUrl: url, identity: PSP, pspFiscalCode: '01234567890', timeoutMs: 2000, tokenExpirationMs: 1_800_000 }, { clock: testClock });
});

afterAll(async () => {
  await h?.close();
  await sim.stop();
});

/** Activates a notice and books it with its outbox row claimed by a process that is gone (its lease runs on). */
async function bookLeftBehind(n: number, terminal: { terminalId: string; counterId: string }): Promise<{ paymentId: number; token: string }> {
  const p = sim.creditors.find((c) => c.fiscalCode === FIRENZE)!.positions[n]!;
  const key = client.keyFor(terminal.terminalId, `outbox-${n}`);
  const a = await client.activate({ idempotencyKey: key, fiscalCode: FIRENZE, noticeNumber: p.noticeNumber, amountCents: p.amountCents });
  if (!a.ok) throw new Error(`activation refused: ${a.fault.code}`);
  const now = testClock();
  const split = { commission: 140, operator: 50, royalty: 10 };
  const cmd: PayCommand = {
    kind: 'pay', channel: 'json', terminalId: terminal.terminalId, counterId: terminal.counterId, counterKind: 'tabaccaio', entityId: 'PRATO', serviceCode: 'TARI',
    identifier: p.noticeNumber, optionId: null, payerCf: null, amountCents: p.amountCents, feeCents: 200, split, circuitFeeCents: 0, circuitFeeMode: null, stan: null,
    approvalCode: 'OUTBOX', publicId: randomUUID(), description: p.description, bookedAt: now, settlementDate: testToday(),
    postings: paymentPostings({ counterId: terminal.counterId, entityId: 'PRATO', amountCents: p.amountCents, feeCents: 200, ...split, circuitFeeCents: 0, circuitFeeMode: null }),
    idempotency: null,
    pagopa: {
      creditorFiscalCode: FIRENZE, creditorName: a.value.companyName, noticeNumber: p.noticeNumber, iuv: a.value.creditorReferenceId, paymentToken: a.value.paymentToken,
      idempotencyKey: key, activatedAt: now, tokenExpiresAt: now + 1_800_000,
      // Claimed by the dead process for the next minute: only a takeover sends it now.
      claimedUntil: now + 60_000,
      transfers: a.value.transfers.map((t) => ({ index: t.index, amountCents: t.amountCents, fiscalCode: t.fiscalCodePA, iban: t.iban, remittance: t.remittanceInformation })),
    },
  };
  const r = await h.rt.store.write(cmd);
  if (!r.ok || !r.payment) throw new Error(`booking refused: ${JSON.stringify(r)}`);
  return { paymentId: r.payment.id, token: a.value.paymentToken };
}

describe('the outcome sender at start', () => {
  it('takes over every pending row a dead process left, by claims of two, and sends each outcome once', async () => {
    const t = h.credentials.terminals[0]!;
    const left = [];
    for (let n = 0; n < 5; n++) left.push(await bookLeftBehind(n, t));

    // A poll does not take rows whose claim still holds.
    const polling = new PagoPaOutcomes(h.rt.store, client, { clock: testClock, batch: 2 });
    polling.wake();
    await polling.idle();
    await polling.stop();
    expect(sim.state.outcomes).toHaveLength(0);

    const sender = new PagoPaOutcomes(h.rt.store, client, { clock: testClock, batch: 2, pollMs: 3_600_000 });
    sender.start();
    await sender.idle();
    await sender.stop();
    for (const { paymentId, token } of left) {
      expect((await h.rt.store.getPagoPa(paymentId))?.outcome, `payment ${paymentId}`).toBe('sent');
      expect(sim.state.outcomes.filter((o) => o.request.paymentToken === token).map((o) => o.answer.ok)).toEqual([true]);
    }
    expect(sim.state.outcomes).toHaveLength(5);
  });
});
