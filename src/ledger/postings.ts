// Double-entry postings of a payment. Debits are positive, credits negative.
// Invariant: the postings of a payment sum to zero (asserted here, checked again by
// `tserve check` over the stored entries).

export type AccountKind =
  | 'counter_cash' //         cash a counter collected and owes the circuit
  | 'counter_commission' //   commission the counter earned
  | 'entity_payable' //       what the circuit owes an entity
  | 'entity_circuit_fees' //  circuit fees an entity will be invoiced (rebilled)
  | 'operator_fees' //        the network operator's fees
  | 'owner_royalty' //        the circuit owner's royalty per payment
  | 'owner_circuit_fees'; //  circuit fees the owner earns from other entities

export interface AccountRef {
  kind: AccountKind;
  ownerId: string; // counter or entity id; '' for the operator and the owner's pools
}

export interface Posting {
  account: AccountRef;
  amountCents: number;
}

export interface PaymentSplit {
  counterId: string;
  entityId: string;
  amountCents: number;
  feeCents: number;
  commission: number;
  operator: number;
  royalty: number;
  circuitFeeCents: number;
  circuitFeeMode: 'netted' | 'rebilled' | null;
}

export function accountKey(a: AccountRef): string {
  return `${a.kind}/${a.ownerId}`;
}

/** The balanced postings a payment books; zero amounts are left out. */
export function paymentPostings(s: PaymentSplit): Posting[] {
  const postings: Posting[] = [
    { account: { kind: 'counter_cash', ownerId: s.counterId }, amountCents: s.amountCents + s.feeCents },
    { account: { kind: 'entity_payable', ownerId: s.entityId }, amountCents: -s.amountCents },
    { account: { kind: 'counter_commission', ownerId: s.counterId }, amountCents: -s.commission },
    { account: { kind: 'operator_fees', ownerId: '' }, amountCents: -s.operator },
    { account: { kind: 'owner_royalty', ownerId: '' }, amountCents: -s.royalty },
  ];
  if (s.circuitFeeCents > 0) {
    // Netted: deducted from the entity's payout. Rebilled: invoiced to the entity monthly.
    const debtor: AccountKind = s.circuitFeeMode === 'rebilled' ? 'entity_circuit_fees' : 'entity_payable';
    postings.push(
      { account: { kind: debtor, ownerId: s.entityId }, amountCents: s.circuitFeeCents },
      { account: { kind: 'owner_circuit_fees', ownerId: '' }, amountCents: -s.circuitFeeCents },
    );
  }
  const nonZero = postings.filter((p) => p.amountCents !== 0);
  assertBalanced(nonZero);
  return nonZero;
}

/** A reversal books the exact opposite of the original postings. */
export function reversalPostings(original: Posting[]): Posting[] {
  return original.map((p) => ({ account: p.account, amountCents: -p.amountCents }));
}

export function assertBalanced(postings: Posting[]): void {
  const sum = postings.reduce((acc, p) => acc + p.amountCents, 0);
  if (sum !== 0) throw new Error(`unbalanced postings: sum ${sum}`);
}
