// A window closed by another process (tserve settle from the command line) is seen by
// the running switch at its next batch: nothing more is booked into it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { romeInstant } from '../../src/domain/calendar.js';
import { openStore } from '../../src/bootstrap.js';
import { requestHash } from '../../src/payments/service.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const NOW = romeInstant('2026-11-20', '15:00:00'); // a Friday
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ positions: 500, clock: () => NOW });
});
afterAll(async () => {
  await h.close();
});

describe('a window closed by another process', () => {
  it('sends later bookings to the next business day', async () => {
    const t = h.credentials.terminals[0]!;
    const ctx = { terminalId: t.terminalId, counterId: t.counterId };
    const req = { service: 'CERTIFICATI', identifier: 'RSSMRA85T10A562S', amount: 100 };
    const before = await h.payments.pay(ctx, req, { key: 'closed-elsewhere-1', requestHash: requestHash('pay', req) }, 'json');
    expect(before.body.settlementDate).toBe('2026-11-20');

    // A second store on the same file or database, as `tserve settle` in another process opens.
    const other = await openStore(h.config);
    await other.closeWindow('2026-11-20', NOW);
    await other.close();

    const after = await h.payments.pay(ctx, req, { key: 'closed-elsewhere-2', requestHash: requestHash('pay', req) }, 'json');
    expect(after.body.settlementDate).toBe('2026-11-23'); // Monday
    expect((await h.rt.store.checkInvariants()).ok).toBe(true);
  });
});
