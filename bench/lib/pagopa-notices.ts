// The pagoPA bench's notices: Comune di Firenze (01307110484, segregation code 01) of the
// node simulator's default creditors, extended with `count` generated payable positions
// (IUV bases from 1,000,000, clear of the defaults' 1..7 and the tests' 100..119). Three
// in four have one transfer to the Comune; one in four two, TARI with the TEFA share to
// the Città Metropolitana, as the defaults' TARI position. Deterministic: the simulator's
// process and the bench's driver build the same list.
import { buildNoticeNumber } from '../../src/domain/notice.js';
import { defaultCreditors, type Creditor, type DebtPosition } from '../../src/pagopa/simulator/creditors.js';

export const BENCH_CREDITOR = '01307110484';
const SEGREGATION_CODE = '01';
const FIRST_BASE = 1_000_000;
const CITTA_METROPOLITANA_FI = '80016450480';

export interface BenchNotice {
  noticeNumber: string;
  amountCents: number;
}

/** The i-th generated notice: number and amount (10.00 to 209.99 euro). */
export function benchNotice(i: number): BenchNotice {
  return {
    noticeNumber: buildNoticeNumber(3, SEGREGATION_CODE + String(FIRST_BASE + i).padStart(13, '0')),
    amountCents: 1000 + ((i * 7919) % 20_000),
  };
}

/** The simulator's creditors with Firenze's `count` bench positions added and its station's latency set. */
export function benchCreditors(count: number, creditorLatencyMs: number): Creditor[] {
  const list = defaultCreditors();
  const firenze = list.find((c) => c.fiscalCode === BENCH_CREDITOR);
  if (!firenze) throw new Error(`no creditor ${BENCH_CREDITOR} among the simulator's defaults`);
  const single = firenze.positions.find((p) => p.transfers.length === 1)!.transfers[0]!;
  const tari = firenze.positions.find((p) => p.transfers.length === 2)!.transfers;
  firenze.latencyMs = creditorLatencyMs;
  for (let i = 0; i < count; i++) {
    const n = benchNotice(i);
    let transfers: DebtPosition['transfers'];
    if (i % 4 === 3) {
      const tefa = Math.round(n.amountCents * 0.05);
      transfers = [
        { index: 1, amountCents: n.amountCents - tefa, fiscalCodePA: BENCH_CREDITOR, iban: tari[0]!.iban, remittanceInformation: `TARI bench ${i}` },
        { index: 2, amountCents: tefa, fiscalCodePA: CITTA_METROPOLITANA_FI, iban: tari[1]!.iban, remittanceInformation: `TEFA bench ${i}` },
      ];
    } else {
      transfers = [{ index: 1, amountCents: n.amountCents, fiscalCodePA: BENCH_CREDITOR, iban: single.iban, remittanceInformation: `Verbale bench ${i}` }];
    }
    firenze.positions.push({ noticeNumber: n.noticeNumber, description: `Bench notice ${i}`, amountCents: n.amountCents, status: 'payable', transfers });
  }
  return list;
}
