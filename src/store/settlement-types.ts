// What the store gives settlement: sums over one window, read from one snapshot.

export type WindowStatus = 'closed' | 'draft' | 'approved' | 'exported';

export interface WindowRow {
  date: string;
  status: WindowStatus;
  closedAt: number;
  computedAt: number | null;
  figures: string | null;
  figuresHash: string | null;
  approvedAt: number | null;
  approvedBy: string | null;
  exportedAt: number | null;
}

/** Sums of payments booked in the window (kind 'booking') or cancelled in it ('reversal' / 'adjustment'). */
export interface EntityServiceSums {
  kind: 'booking' | 'reversal' | 'adjustment';
  entityId: string;
  serviceCode: string;
  count: number;
  amount: number;
  fee: number;
  circuitNetted: number;
  circuitRebilled: number;
}

export interface CounterSums {
  kind: 'booking' | 'reversal' | 'adjustment';
  counterId: string;
  count: number;
  amount: number;
  fee: number;
  commission: number;
  operator: number;
  royalty: number;
}

export interface AccountMovement {
  kind: string;
  ownerId: string;
  amount: number;
}

export interface WindowSums {
  byEntityService: EntityServiceSums[];
  byCounter: CounterSums[];
  /** The ledger's view: the window's entries summed per account. */
  movements: AccountMovement[];
}

/** One payment line of a window (CSV export, rebilling detail), with what an entity reconciles it by. */
export interface PaymentLine {
  id: number;
  paymentId: string;
  kind: 'booking' | 'reversal' | 'adjustment';
  /** When the payment was booked (a cancellation's row: the original payment's time). */
  bookedAt: number;
  /** A cancellation's row: when it was booked; null on a booking's row. */
  cancelledAt: number | null;
  settlementDate: string;
  entityId: string;
  serviceCode: string;
  serviceName: string;
  /** What the terminal named, normalised: a notice number, plate, fiscal code, 'FINENO/PLATE'... */
  identifier: string;
  /** The notice number (codice avviso) of the debt position paid; null for services paid without one. */
  noticeNumber: string | null;
  /** The IUV within that notice number (what an entity's pagoPA positions are keyed by). */
  iuv: string | null;
  counterId: string;
  terminalId: string;
  channel: string;
  rrn: string;
  receiptNumber: string;
  amount: number;
  fee: number;
  commission: number;
  operator: number;
  royalty: number;
  circuitFee: number;
  circuitFeeMode: string | null;
}

export interface LinesQuery {
  from: string; // YYYY-MM-DD, inclusive
  to: string; // inclusive
  entityId?: string;
  counterId?: string;
  rebilledOnly?: boolean;
}

/** Rebilled circuit fees of one entity over a month's windows, per service and rate. */
export interface RebilledSums {
  kind: 'booking' | 'reversal' | 'adjustment';
  serviceCode: string;
  /** The circuit fee per payment, cents, as booked with each payment. */
  rate: number;
  count: number;
  /** count × rate: the sum of the payments' circuit fees. */
  amount: number;
}
