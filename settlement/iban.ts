// IBAN checks before any SEPA file is written: every account a file would name (the
// circuit's own, and each creditor's or debtor's) must be a valid IBAN, the Italian CIN
// included. One broken account refuses the whole file, naming the party and the IBAN,
// so that nothing half-right ever reaches the bank.
import { isValidIBAN } from 'ibantools';
import { ibanProblem } from '../src/domain/iban.js';
import { PaymentError } from '../src/payments/errors.js';

export { isValidIban, italianCin } from '../src/domain/iban.js';

export interface IbanHolder {
  /** Who holds the account, for the error message: "counter C0042 Tabaccheria Rossi". */
  party: string;
  iban: string;
}

/** INVALID_IBAN: `document` names what is refused ("pain.008", "invoice"). */
export class InvalidIbanError extends PaymentError {
  constructor(
    readonly problems: { party: string; iban: string; problem: string }[],
    document?: string,
  ) {
    super(
      'INVALID_IBAN',
      `${document ? `${document} refused: ` : ''}invalid IBAN${problems.length > 1 ? 's' : ''}: ${problems.map((p) => `${p.party}: "${p.iban}" (${p.problem})`).join('; ')}`,
    );
    this.name = 'InvalidIbanError';
  }
}

/**
 * Why an IBAN cannot be paid to or debited, or null: the domain's checks (shape, length,
 * mod 97, Italian BBAN and CIN), then ibantools' BBAN format for its country.
 */
export function settlementIbanProblem(iban: string): string | null {
  const problem = ibanProblem(iban);
  if (problem) return problem;
  return isValidIBAN(iban.replace(/\s+/g, '')) ? null : 'not a valid BBAN for its country';
}

/** Throws InvalidIbanError naming every holder whose IBAN is not valid (and the document refused). */
export function assertValidIbans(holders: Iterable<IbanHolder>, document?: string): void {
  const problems: { party: string; iban: string; problem: string }[] = [];
  for (const h of holders) {
    const problem = settlementIbanProblem(h.iban);
    if (problem) problems.push({ party: h.party, iban: h.iban, problem });
  }
  if (problems.length > 0) throw new InvalidIbanError(problems, document);
}
