// The Store: the only place that knows how data is kept. Every method is
// asynchronous so that a PostgreSQL implementation can stand behind the same
// interface; the SQLite one answers reads from its own read connection and sends
// every write through the single group-commit writer.
import type { NetworkApplied, NetworkChange, NetworkState, NewSecrets } from '../network/change.js';
import type {
  Catalogue,
  CatalogueSnapshot,
  Channel,
  Counter,
  DebtPositionFixture,
  DebtPositionView,
  Network,
  OptionView,
  Payment,
  RuleParams,
  Terminal,
} from '../domain/model.js';
import type { BookingCommand, BookingResult, PayCommand, RefusalCode, ReverseCommand } from '../ledger/commands.js';
import type { AuditEntry, EventRow, IdempotencyRecord } from '../ledger/port.js';
import type { PagoPaOutbox, PagoPaOutcomeWrite, PagoPaRecord } from './pagopa-types.js';
import type { NewPagoPaFlow, PagoPaFlow, PagoPaFlowAttempt, PagoPaSettlementRecord } from './pagopa-flow-types.js';
import type { LinesQuery, PaymentLine, RebilledSums, WindowRow, WindowSums } from './settlement-types.js';
import type { Reseal } from './reseal.js';
import type { AuditHead, AuditQuery, AuditRecord } from './audit-chain.js';
import type { Readiness } from './health.js';
import type { CounterDay, DayGroup, PaymentSearch } from './console-reads.js';

/**
 * The database cannot be reached (PostgreSQL down or failing over): answered UNAVAILABLE
 * (96 / 503 with Retry-After), never as a malfunction. Nothing of the request was booked.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`the database is not reachable: ${message}`, options);
    this.name = 'StoreUnavailableError';
  }
}

/** Why the store refused a write: the ledger's refusal codes. */
export type StoreRefusalCode = RefusalCode;
export type { BookingCommand, BookingResult, PayCommand, ReverseCommand };
export type { AuditEntry, EventRow, IdempotencyRecord };

export interface NewPosition {
  entityId: string;
  serviceCode: string;
  externalRef: string;
  debtorCf: string;
  debtorName: string | null;
  description: string;
  validUntil: string | null;
  options: {
    noticeNumber: string;
    lookupKey: string | null;
    kind: 'single' | 'instalment';
    instalmentNo: number | null;
    amountCents: number;
    dueDate: string;
    description: string;
    ruleParams: RuleParams | null;
  }[];
}



export interface LoginFailures {
  failures: number;
  /** Epoch ms of the last failure. */
  lastFailureAt: number;
}

export type { AuditHead, AuditQuery, AuditRecord };

export interface InvariantReport {
  ok: boolean;
  checked: Record<string, number>;
  violations: string[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Store {
  // catalogue and network
  loadCatalogue(): Promise<CatalogueSnapshot>;
  getCounter(id: string): Promise<Counter | undefined>;
  listCounters(): Promise<Counter[]>;
  getTerminal(id: string): Promise<Terminal | undefined>;
  listTerminals(counterId?: string): Promise<Omit<Terminal, 'tmkSealed' | 'secretHash'>[]>;
  counterExposure(counterId: string): Promise<number>;
  /** The whole configured network (src/network/change.ts), without secrets. */
  networkState(): Promise<NetworkState>;
  /**
   * Applies a network change (validated by the caller: src/network/validate.ts) in one
   * transaction: upserts and added versions, one audit entry per created or changed item,
   * and one `network.changed` event (its counts) on which every instance reloads. All or
   * nothing: throws, writing nothing, when a statement fails or a version would change.
   */
  applyNetworkChange(change: NetworkChange, secrets: NewSecrets, actor: string): Promise<NetworkApplied>;

  // debt positions
  findOptionByNotice(noticeNumber: string): Promise<OptionView | undefined>;
  getOption(optionId: number): Promise<OptionView | undefined>;
  findOptionsByLookup(serviceCode: string, lookupKey: string): Promise<OptionView[]>;
  getPosition(id: number): Promise<DebtPositionView | undefined>;
  listPositions(entityId: string, cursor: number, limit: number): Promise<Page<DebtPositionView>>;
  /** All-or-nothing: either every position is created, or none and the errors per row. */
  createPositions(rows: NewPosition[], actor: string): Promise<{ ids: number[] } | { errors: { row: number; code: StoreRefusalCode; detail: string }[] }>;
  /** Takes back the DRAFT positions a crash left in the middle of a large upload (server start only). */
  deleteStaleDrafts(): Promise<number>;
  /** An upload imported already by `scope` (an entity, or an admin's target), by the SHA-256 of its bytes. */
  findImport(scope: string, sha256: string): Promise<{ at: number; positions: number } | undefined>;
  /** Remembers a successful upload's SHA-256, so that sending it again is refused before any parsing. */
  recordImport(scope: string, sha256: string, positions: number): Promise<void>;
  cancelPosition(id: number, actor: string): Promise<{ ok: true } | { ok: false; code: StoreRefusalCode; detail: string }>;

  // payments
  getPayment(publicId: string): Promise<Payment | undefined>;
  getPaymentById(id: number): Promise<Payment | undefined>;
  getIdempotency(terminalId: string, key: string): Promise<IdempotencyRecord | undefined>;
  /**
   * A terminal's earlier request under this key, read once before a payment: its stored
   * answer if it was booked, and whether a reversal advice (0420/0421) named it before.
   */
  priorRequest(terminalId: string, key: string): Promise<{ record: IdempotencyRecord | undefined; advised: boolean }>;
  /**
   * The console's payment search (src/store/console-reads.ts): newest first (id order
   * descending), on indexed columns; the cursor is the last id of the page before.
   */
  searchPayments(q: PaymentSearch, cursor: number | null, limit: number): Promise<Page<Payment>>;
  /** A window's bookings grouped by service, entity, channel, counter kind, UTC hour and reversed; optionally one entity's. */
  dayGroups(date: string, entityId: string | null): Promise<DayGroup[]>;
  /** Every counter with its credit used and its window's bookings not reversed. */
  countersDay(date: string): Promise<CounterDay[]>;
  /** A terminal's own totals for a business day's window (0500 reconciliation): its payments and its reversals in it. */
  terminalTotals(terminalId: string, date: string): Promise<{ count: number; amountCents: number; reversalCount: number; reversalAmountCents: number }>;
  /** Appends an event to the log outside a booking (sign-on, sign-off). */
  recordEvent(e: Omit<EventRow, 'seq'>): Promise<void>;
  /** Commands waiting for the writer: a payment use-case sheds load early past a bound. */
  writerBacklog(): number;
  /** Books through the single writer; resolves after the commit is on disk. */
  write(cmd: BookingCommand): Promise<BookingResult>;

  // pagoPA (docs/pagopa.md): the outcome outbox and what a payment was booked on
  /**
   * Pending outcomes no sender holds (their claim lapsed by `lapsedBy`), soonest token
   * expiry first, claimed until `until` (PostgreSQL: SKIP LOCKED, so instances share the work).
   */
  claimPagoPaOutcomes(lapsedBy: number, until: number, limit: number): Promise<PagoPaOutbox[]>;
  /**
   * The node's answers, in one transaction: each row leaves 'pending' once (false for one
   * that had already left it); its `event` (pagopa.refund_due) is appended only when it does.
   */
  recordPagoPaOutcomes(writes: PagoPaOutcomeWrite[]): Promise<boolean[]>;
  getPagoPa(paymentId: number): Promise<PagoPaRecord | undefined>;
  /** pagoPA payments booked in a settlement window (reversed ones included), by payment id. */
  pagopaPaymentsOfWindow(date: string): Promise<PagoPaRecord[]>;
  /** Payments marked refund_due, newest first: what the finance office must refund or report. */
  pagopaRefundsDue(limit: number): Promise<PagoPaRecord[]>;
  // pagoPA settlement and reporting flows (settlement/pagopa.ts)
  /** A window's pagoPA payments with their entity, amount and whether they were reversed in that window, by payment id. */
  pagopaSettlementOfWindow(date: string): Promise<PagoPaSettlementRecord[]>;
  /** Stores built reporting flows; a flow already stored under its id stays as it is. Returns how many were new. */
  savePagoPaFlows(flows: NewPagoPaFlow[]): Promise<number>;
  /** Reporting flows of a window (or of every window), optionally only the pending ones; by settlement date and flow id. */
  pagopaFlows(q: { date?: string; pendingOnly?: boolean }): Promise<PagoPaFlow[]>;
  /** Records one attempt to send a flow and the node's answer; an accepted flow stays accepted. */
  recordPagoPaFlowAttempt(flowId: string, a: PagoPaFlowAttempt): Promise<void>;

  // administration (each writes an audit entry in the same transaction)
  insertTerminal(t: { id: string; counterId: string; tmkSealed: string; secretHash: string }, audit: AuditEntry): Promise<void>;
  setTerminalStatus(id: string, status: Terminal['status'], audit: AuditEntry): Promise<boolean>;
  /**
   * Replaces a terminal's TMK (sealed by the caller) or its API secret hash; false for an
   * unknown terminal. Emits `terminal.key_rotated` ({ key: 'tmk' | 'apiSecret' }): every
   * instance forgets the terminal's cached TMK and ends its ISO session on it.
   */
  rotateTerminalKey(id: string, key: { tmkSealed: string } | { secretHash: string }, audit: AuditEntry): Promise<boolean>;
  /**
   * Sign-on freshness (terminal-protocol.md §1.5): records (field 7 as epoch ms, field 11)
   * as the terminal's last accepted sign-on iff it is later than the one kept, in one
   * atomic compare-and-set; false (nothing changed) when it is not.
   */
  acceptSignOn(id: string, transmittedAtMs: number, stan: number): Promise<boolean>;
  /** Every terminal's sealed TMK: the KEK check at start and KEK rotation (src/auth/kek-rotation.ts). */
  sealedTerminalKeys(): Promise<{ id: string; tmkSealed: string }[]>;
  /**
   * KEK rotation: every terminal's TMK re-sealed, written in one transaction with the
   * audit entry, terminals locked against provisioning and re-keying meanwhile. Throws,
   * changing nothing, unless `changes` names every terminal with its current sealed value.
   */
  resealTerminalKeys(changes: Reseal[], audit: AuditEntry): Promise<void>;
  setCounterStatus(id: string, status: Counter['status'], audit: AuditEntry): Promise<boolean>;
  setCreditLimit(id: string, cents: number, audit: AuditEntry): Promise<boolean>;
  nextTerminalId(): Promise<string>;

  // users
  addUser(u: { username: string; role: 'entity' | 'finance' | 'admin'; entityId: string | null; passwordHash: string }): Promise<void>;
  getUser(username: string): Promise<{ username: string; role: 'entity' | 'finance' | 'admin'; entityId: string | null; passwordHash: string; disabled: boolean } | undefined>;
  /**
   * Disables (no login, tokens refused, open streams closed) or enables a user, with its
   * audit entry and a user.disabled / user.enabled event; false when there is no such user.
   */
  setUserDisabled(username: string, disabled: boolean, audit: AuditEntry): Promise<boolean>;

  // login throttling (src/auth/login-throttle.ts): consecutive failures per account, kept
  // in the database so that they hold across restarts and instances
  loginFailures(account: string): Promise<LoginFailures | undefined>;
  /** Counts one more failure atomically; returns the new count. */
  recordLoginFailure(account: string, at: number): Promise<LoginFailures>;
  /** A success or an admin's unlock: the count starts again. True if there was one. */
  clearLoginFailures(account: string): Promise<boolean>;
  /** Forgets counts whose last failure is older than `before` (epoch ms): a spray of made-up names leaves no lasting rows. */
  pruneLoginFailures(before: number): Promise<number>;

  // console sessions ended by logout (src/http/session.ts): the cookie is stateless, so
  // an ended session's id is kept until it would have ended anyway
  /** Records the session as ended until `until` (epoch ms, its absolute cap); rows past theirs at `now` are pruned. */
  endSession(id: string, until: number, now: number): Promise<void>;
  sessionEnded(id: string): Promise<boolean>;

  // audit log (hash-chained, append-only: src/store/audit-chain.ts)
  /** Audit entries outside another write (logins, settlement runs, downloads), chained in one transaction. */
  appendAudit(entries: AuditEntry[]): Promise<void>;
  /** Newest first; the cursor is the last id of the page before. */
  listAudit(q: AuditQuery, cursor: number | null, limit: number): Promise<Page<AuditRecord>>;
  /** Rows after an id, in id order, with their hashes (for verification). */
  auditChain(afterId: number, limit: number): Promise<AuditRecord[]>;
  auditHead(): Promise<AuditHead | undefined>;

  // events
  eventsAfter(seq: number, limit: number): Promise<EventRow[]>;
  /** Lowest retained and highest committed sequence numbers (0 when the log is empty). */
  eventBounds(): Promise<{ minSeq: number; maxSeq: number }>;
  /** Deletes events older than `before` (epoch ms), always keeping the newest one; returns how many. */
  pruneEvents(before: number): Promise<number>;
  onCommit(listener: (events: EventRow[]) => void): void;

  // settlement (reads come from one snapshot; an approved window never changes)
  /** Closes a window: from now on nothing is booked or reversed into it. Idempotent. */
  closeWindow(date: string, at: number): Promise<void>;
  getWindow(date: string): Promise<WindowRow | undefined>;
  listWindows(): Promise<WindowRow[]>;
  windowSums(date: string): Promise<WindowSums>;
  /** Stores a draft's figures; refuses (false) when the window is approved or exported. */
  saveDraft(date: string, figures: string, figuresHash: string, at: number): Promise<boolean>;
  /**
   * Approves a draft. In the same transaction each counter's cash of the window (what
   * its direct debit collects) counts as settled, so it no longer weighs on the
   * counter's credit limit. Approving again changes nothing.
   */
  approveWindow(date: string, actor: string, at: number, settledByCounter: Map<string, number>): Promise<WindowRow>;
  markExported(date: string, at: number): Promise<void>;
  /**
   * Payment lines of windows from..to (inclusive): bookings, then cancellations
   * (reversals and adjustments), each in id order. Optionally one entity's only, or only
   * rebilled ones. The cursor is opaque; null starts, and a null nextCursor ends.
   */
  windowLines(q: LinesQuery, cursor: string | null, limit: number): Promise<{ lines: PaymentLine[]; nextCursor: string | null }>;
  /**
   * An entity's rebilled circuit fees over the windows of a month ('YYYY-MM'): bookings
   * of those windows and cancellations (reversals, adjustments) booked in them, grouped by
   * service and per-payment rate; one snapshot.
   */
  rebilledSums(entityId: string, month: string): Promise<RebilledSums[]>;

  // operations
  /**
   * Runs a job (the nightly settlement) unless another instance on the same database
   * is running it: then it is skipped ({ ran: false }).
   */
  exclusively<T>(job: string, fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }>;
  /** Called after each committed booking batch with its size and the time it took (ms). */
  observeBatches(fn: (size: number, ms: number) => void): void;
  readonly writerStats: { batches: number; commands: number; largestBatch: number; refused: number; queueDepth: number };
  isEmpty(): Promise<boolean>;
  /** Replaces catalogue, network and positions; terminals' TMKs sealed by the caller. */
  seed(catalogue: Catalogue, network: Network, sealed: Map<string, { tmkSealed: string; secretHash: string }>): Promise<void>;
  checkInvariants(): Promise<InvariantReport>;
  /**
   * Can the switch book? The write path's last result and any alarm (store/health.ts):
   * what /readyz answers. Never a query: it costs nothing to ask.
   */
  readiness(): Readiness;
  close(): Promise<void>;
}

export type { Catalogue, Network, DebtPositionFixture };
// The model lives in the domain; re-exported for the store's users.
export type { CatalogueSnapshot, Channel, Counter, DebtPositionView, OptionView, Payment, Terminal };
export type { Entity, FeeSchedule, PositionStatus, Service } from '../domain/model.js';
