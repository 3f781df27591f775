// The figures of one settlement window (domain.md §3), computed from the fee splits
// stored with each payment and checked against the ledger's own movements.
//
// Invariants, checked before a settlement is produced:
// - the window's ledger movements sum to zero, to the cent;
// - every account's movement equals what the window's payments imply;
// - the money that comes in (direct debits from counters) equals the money that goes
//   out (credit transfers to entities, the operator and counters owed money), less
//   what entities owe back.
import { PaymentError } from '../src/payments/errors.js';
import type { CatalogueSnapshot, Counter } from '../src/store/types.js';
import type { CounterSums, EntityServiceSums, WindowSums } from '../src/store/settlement-types.js';
import type { PagoPaSettlementRecord } from '../src/store/pagopa-flow-types.js';
import { pagopaSettlement, type PagoPaFigures } from './pagopa.js';

export interface ServiceLine {
  serviceCode: string;
  serviceName: string;
  count: number;
  gross: number;
  reversalCount: number;
  reversals: number;
  adjustmentCount: number;
  adjustments: number;
}

export interface EntityStatement {
  entityId: string;
  name: string;
  fiscalCode: string;
  iban: string;
  services: ServiceLine[];
  count: number;
  gross: number;
  reversals: number;
  adjustments: number;
  /** Circuit fees of this window, net of cancellations: deducted from the payout (netted) or to be invoiced (rebilled). */
  circuitFeesNetted: number;
  circuitFeesRebilled: number;
  /** For the circuit owner: the royalties and the other entities' netted circuit fees it receives. */
  royaltiesReceived: number;
  circuitFeesReceived: number;
  netPayout: number;
  /**
   * Of the net payout, what goes to pagoPA creditors' IBANs instead of the entity's
   * (its pagoPA payments not reversed in the window); present only when there is some.
   */
  pagopaTransferred?: number;
}

export interface CounterStatement {
  counterId: string;
  name: string;
  kind: string;
  iban: string;
  mandateRef: string;
  count: number;
  cancelledCount: number;
  /** Cash collected (amount + fee), net of reversals and adjustments. */
  collected: number;
  commission: number;
  /** What the counter owes: collected less its commission (negative: owed to it). */
  owed: number;
}

export interface Transfer {
  /** pagopa: to a pagoPA creditor's IBAN (id: its fiscal code), with its reporting flow's id. */
  party: 'entity' | 'operator' | 'counter' | 'pagopa';
  id: string;
  name: string;
  iban: string;
  amount: number;
  mandateRef?: string;
  /** party pagopa: the reporting flow's id, the credit transfer's remittance information and end-to-end id. */
  flowId?: string;
}

export interface SettlementFigures {
  date: string;
  cutoff: string;
  entities: EntityStatement[];
  counters: CounterStatement[];
  operator: { name: string; iban: string; fees: number };
  owner: { entityId: string; royalties: number; circuitFeesNetted: number; circuitFeesRebilled: number };
  totals: {
    payments: number;
    gross: number;
    fees: number;
    reversals: number;
    adjustments: number;
    collected: number;
    commissions: number;
    netPayouts: number;
    creditTransfers: number;
    directDebits: number;
  };
  creditTransfers: Transfer[];
  directDebits: Transfer[];
  /** Entities whose cancellations exceed their collections: they owe the circuit. */
  receivables: Transfer[];
  /** The window's pagoPA payments, per creditor and IBAN (settlement/pagopa.ts); only when it has some. */
  pagopa?: PagoPaFigures;
}

/** A window's pagoPA payments and the PSP's id (the flow ids' middle part). */
export interface PagoPaInput {
  records: PagoPaSettlementRecord[];
  idPSP: string;
}

/** SETTLEMENT_UNBALANCED: the window's figures do not check against the ledger; nothing is stored. */
export class SettlementError extends PaymentError {
  constructor(
    readonly date: string,
    readonly problems: string[],
  ) {
    super('SETTLEMENT_UNBALANCED', `settlement of ${date} refused: ${problems.join('; ')}`);
    this.name = 'SettlementError';
  }
}

export interface Operator {
  name: string;
  iban: string;
}

const sign = (kind: string) => (kind === 'booking' ? 1 : -1);

export function computeFigures(
  date: string,
  cutoff: string,
  sums: WindowSums,
  catalogue: CatalogueSnapshot,
  counters: Map<string, Counter>,
  operator: Operator,
  pagopaInput: PagoPaInput | null = null,
): SettlementFigures {
  const problems: string[] = [];
  const owner = catalogue.owner;
  const catalogueNames = new Map([...catalogue.entities.values()].map((e) => [e.fiscalCode, e.name]));
  const pagopa = pagopaInput ? pagopaSettlement(date, pagopaInput.records, pagopaInput.idPSP, catalogueNames, problems) : null;
  const pagopaOf = new Map((pagopa?.entities ?? []).map((e) => [e.entityId, e.amount]));

  // ---- entities, by service
  const entityRows = new Map<string, EntityServiceSums[]>();
  for (const r of sums.byEntityService) entityRows.set(r.entityId, [...(entityRows.get(r.entityId) ?? []), r]);
  const entities: EntityStatement[] = [];
  for (const entityId of [...entityRows.keys()].sort()) {
    const e = catalogue.entities.get(entityId);
    if (!e) {
      problems.push(`payments for unknown entity ${entityId}`);
      continue;
    }
    const byService = new Map<string, ServiceLine>();
    let netted = 0;
    let rebilled = 0;
    for (const r of entityRows.get(entityId)!) {
      const line = byService.get(r.serviceCode) ?? {
        serviceCode: r.serviceCode,
        serviceName: catalogue.services.get(r.serviceCode)?.name ?? r.serviceCode,
        count: 0,
        gross: 0,
        reversalCount: 0,
        reversals: 0,
        adjustmentCount: 0,
        adjustments: 0,
      };
      if (r.kind === 'booking') {
        line.count += r.count;
        line.gross += r.amount;
      } else if (r.kind === 'reversal') {
        line.reversalCount += r.count;
        line.reversals += r.amount;
      } else {
        line.adjustmentCount += r.count;
        line.adjustments += r.amount;
      }
      byService.set(r.serviceCode, line);
      netted += sign(r.kind) * r.circuitNetted;
      rebilled += sign(r.kind) * r.circuitRebilled;
    }
    const services = [...byService.values()].sort((a, b) => a.serviceCode.localeCompare(b.serviceCode));
    const total = (k: keyof ServiceLine) => services.reduce((acc, s) => acc + (s[k] as number), 0);
    entities.push({
      entityId,
      name: e.name,
      fiscalCode: e.fiscalCode,
      iban: e.iban,
      services,
      count: total('count'),
      gross: total('gross'),
      reversals: total('reversals'),
      adjustments: total('adjustments'),
      circuitFeesNetted: netted,
      circuitFeesRebilled: rebilled,
      royaltiesReceived: 0,
      circuitFeesReceived: 0,
      netPayout: total('gross') - total('reversals') - total('adjustments') - netted,
    });
  }

  // ---- counters
  const counterRows = new Map<string, CounterSums[]>();
  for (const r of sums.byCounter) counterRows.set(r.counterId, [...(counterRows.get(r.counterId) ?? []), r]);
  let operatorFees = 0;
  let royalties = 0;
  const counterStatements: CounterStatement[] = [];
  for (const counterId of [...counterRows.keys()].sort()) {
    const c = counters.get(counterId);
    if (!c) {
      problems.push(`payments for unknown counter ${counterId}`);
      continue;
    }
    let count = 0;
    let cancelledCount = 0;
    let collected = 0;
    let commission = 0;
    for (const r of counterRows.get(counterId)!) {
      if (r.kind === 'booking') count += r.count;
      else cancelledCount += r.count;
      collected += sign(r.kind) * (r.amount + r.fee);
      commission += sign(r.kind) * r.commission;
      operatorFees += sign(r.kind) * r.operator;
      royalties += sign(r.kind) * r.royalty;
    }
    counterStatements.push({
      counterId,
      name: c.name,
      kind: c.kind,
      iban: c.iban,
      mandateRef: c.mandateRef,
      count,
      cancelledCount,
      collected,
      commission,
      owed: collected - commission,
    });
  }

  // ---- the owner receives the royalties and the netted circuit fees
  const circuitNetted = entities.reduce((a, e) => a + e.circuitFeesNetted, 0);
  const circuitRebilled = entities.reduce((a, e) => a + e.circuitFeesRebilled, 0);
  let ownerStatement = entities.find((e) => e.entityId === owner.id);
  if (!ownerStatement && (royalties !== 0 || circuitNetted !== 0)) {
    ownerStatement = {
      entityId: owner.id,
      name: owner.name,
      fiscalCode: owner.fiscalCode,
      iban: owner.iban,
      services: [],
      count: 0,
      gross: 0,
      reversals: 0,
      adjustments: 0,
      circuitFeesNetted: 0,
      circuitFeesRebilled: 0,
      royaltiesReceived: 0,
      circuitFeesReceived: 0,
      netPayout: 0,
    };
    entities.push(ownerStatement);
    entities.sort((a, b) => a.entityId.localeCompare(b.entityId));
  }
  if (ownerStatement) {
    ownerStatement.royaltiesReceived = royalties;
    ownerStatement.circuitFeesReceived = circuitNetted;
    ownerStatement.netPayout += royalties + circuitNetted;
  }

  // ---- the ledger must agree, account by account, and sum to zero
  const expected = new Map<string, number>();
  const add = (kind: string, ownerId: string, amount: number) => {
    if (amount !== 0) expected.set(`${kind}/${ownerId}`, (expected.get(`${kind}/${ownerId}`) ?? 0) + amount);
  };
  for (const c of counterStatements) {
    add('counter_cash', c.counterId, c.collected);
    add('counter_commission', c.counterId, -c.commission);
  }
  for (const e of entities) {
    add('entity_payable', e.entityId, -(e.gross - e.reversals - e.adjustments) + e.circuitFeesNetted);
    add('entity_circuit_fees', e.entityId, e.circuitFeesRebilled);
  }
  add('operator_fees', '', -operatorFees);
  add('owner_royalty', '', -royalties);
  add('owner_circuit_fees', '', -(circuitNetted + circuitRebilled));
  const actual = new Map<string, number>();
  let movementSum = 0;
  for (const m of sums.movements) {
    movementSum += m.amount;
    if (m.amount !== 0) actual.set(`${m.kind}/${m.ownerId}`, m.amount);
  }
  if (movementSum !== 0) problems.push(`the window's ledger movements sum to ${movementSum} cents, not 0`);
  for (const key of new Set([...expected.keys(), ...actual.keys()])) {
    if ((expected.get(key) ?? 0) !== (actual.get(key) ?? 0)) {
      problems.push(`account ${key}: ledger moved ${actual.get(key) ?? 0}, payments imply ${expected.get(key) ?? 0}`);
    }
  }

  // ---- money movements
  const creditTransfers: Transfer[] = [];
  const receivables: Transfer[] = [];
  for (const e of entities) {
    // Its pagoPA payments' money goes to the creditors' IBANs (below), not to the entity's.
    const toPagoPa = pagopaOf.get(e.entityId) ?? 0;
    if (toPagoPa !== 0) e.pagopaTransferred = toPagoPa;
    const own = e.netPayout - toPagoPa;
    const t: Transfer = { party: 'entity', id: e.entityId, name: e.name, iban: e.iban, amount: Math.abs(own) };
    if (own > 0) creditTransfers.push(t);
    else if (own < 0) receivables.push(t);
  }
  for (const id of pagopaOf.keys()) if (!entities.some((e) => e.entityId === id)) problems.push(`pagoPA payments for entity ${id}, which has no statement`);
  for (const c of pagopa?.creditors ?? []) {
    for (const sct of c.scts) creditTransfers.push({ party: 'pagopa', id: sct.fiscalCode, name: sct.name, iban: sct.iban, amount: sct.amount, flowId: sct.flowId });
  }
  if (operatorFees > 0) creditTransfers.push({ party: 'operator', id: 'OPERATOR', name: operator.name, iban: operator.iban, amount: operatorFees });
  const directDebits: Transfer[] = [];
  for (const c of counterStatements) {
    const t: Transfer = { party: 'counter', id: c.counterId, name: c.name, iban: c.iban, amount: Math.abs(c.owed), mandateRef: c.mandateRef };
    if (c.owed > 0) directDebits.push(t);
    else if (c.owed < 0) creditTransfers.push(t);
  }
  const sumOf = (ts: Transfer[]) => ts.reduce((a, t) => a + t.amount, 0);
  // A negative operator total (more refunds than fees) is owed by the operator: money in.
  if (sumOf(directDebits) + sumOf(receivables) + Math.max(0, -operatorFees) !== sumOf(creditTransfers)) {
    problems.push(
      `money in (${sumOf(directDebits)} debited + ${sumOf(receivables)} receivable) differs from money out (${sumOf(creditTransfers)})`,
    );
  }
  if (problems.length > 0) throw new SettlementError(date, problems);

  return {
    date,
    cutoff,
    entities,
    counters: counterStatements,
    operator: { name: operator.name, iban: operator.iban, fees: operatorFees },
    owner: { entityId: owner.id, royalties, circuitFeesNetted: circuitNetted, circuitFeesRebilled: circuitRebilled },
    totals: {
      payments: counterStatements.reduce((a, c) => a + c.count, 0),
      gross: entities.reduce((a, e) => a + e.gross, 0),
      fees: counterStatements.reduce((a, c) => a + c.collected, 0) - entities.reduce((a, e) => a + e.gross - e.reversals - e.adjustments, 0),
      reversals: entities.reduce((a, e) => a + e.reversals, 0),
      adjustments: entities.reduce((a, e) => a + e.adjustments, 0),
      collected: counterStatements.reduce((a, c) => a + c.collected, 0),
      commissions: counterStatements.reduce((a, c) => a + c.commission, 0),
      netPayouts: entities.reduce((a, e) => a + e.netPayout, 0),
      creditTransfers: sumOf(creditTransfers),
      directDebits: sumOf(directDebits),
    },
    creditTransfers,
    directDebits,
    receivables,
    ...(pagopa ? { pagopa } : {}),
  };
}
