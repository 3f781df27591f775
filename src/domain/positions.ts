// Debt-position states (domain.md §6): when an option may be paid, and the status a
// position takes from its options.

export type PositionStatus = 'DRAFT' | 'PUBLISHED' | 'VALID' | 'PARTIALLY_PAID' | 'PAID' | 'INVALID' | 'EXPIRED';

export type PayRefusalCode = 'NOTICE_ALREADY_PAID' | 'NOTICE_CANCELLED' | 'NOTICE_EXPIRED' | 'NOTICE_UNKNOWN';

export interface OptionState {
  noticeNumber: string;
  kind: 'single' | 'instalment';
  paidPaymentId: number | null;
  positionStatus: PositionStatus;
  validUntil: string | null;
}

/** Why this option cannot be paid on `today` (Europe/Rome date), or null if it can. */
export function refusalToPay(o: OptionState, today: string): { code: PayRefusalCode; detail: string } | null {
  const n = o.noticeNumber;
  switch (o.positionStatus) {
    case 'PAID':
      return { code: 'NOTICE_ALREADY_PAID', detail: `notice ${n} is already paid` };
    case 'INVALID':
      return { code: 'NOTICE_CANCELLED', detail: `notice ${n} was cancelled by the entity` };
    case 'EXPIRED':
      return { code: 'NOTICE_EXPIRED', detail: `notice ${n} has expired` };
    case 'DRAFT':
    case 'PUBLISHED':
      return { code: 'NOTICE_UNKNOWN', detail: `notice ${n} is not yet payable` };
    case 'VALID':
    case 'PARTIALLY_PAID':
      break;
  }
  if (o.validUntil !== null && today > o.validUntil) return { code: 'NOTICE_EXPIRED', detail: `notice ${n} expired on ${o.validUntil}` };
  if (o.paidPaymentId !== null) return { code: 'NOTICE_ALREADY_PAID', detail: `notice ${n} is already paid` };
  // Once an instalment is paid, the single payment is no longer on offer (pagoPA rule).
  if (o.kind === 'single' && o.positionStatus === 'PARTIALLY_PAID') {
    return { code: 'NOTICE_ALREADY_PAID', detail: `an instalment of this position is already paid: pay the remaining instalments` };
  }
  return null;
}

/** The status of a payable position from its options: paying the single option or every instalment pays it. */
export function positionStatusFromOptions(options: { kind: 'single' | 'instalment'; paid: boolean }[]): PositionStatus {
  if (options.some((o) => o.kind === 'single' && o.paid)) return 'PAID';
  const instalments = options.filter((o) => o.kind === 'instalment');
  const paid = instalments.filter((o) => o.paid).length;
  if (instalments.length > 0 && paid === instalments.length) return 'PAID';
  return paid > 0 ? 'PARTIALLY_PAID' : 'VALID';
}
