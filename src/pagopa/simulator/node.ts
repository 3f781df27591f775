// The node simulator's state machine (NodeState): pagoPA's node as a PSP sees it (verify, activate,
// outcome, reporting flows), with no HTTP, on an injected clock, so each rule of
// ../shared/spec/pagopa-psp.md is testable alone. http.ts puts it on the wire.
// Each operation is a fixed sequence of named checks; the first that fails answers.
import type { Clock } from '../../clock.js';
import {
  MAX_EXPIRATION_MS,
  type ActivateAnswer,
  type ActivateRequest,
  type NodeAnswer,
  type NodeFault,
  type OperationName,
  type OutcomeDetails,
  type OutcomeRequest,
  type PspCredentials,
  type PspIdentity,
  type Transfer,
  type VerifyAnswer,
  type VerifyRequest,
} from '../types.js';
import { assertCreditor, defaultCreditors, type Creditor, type DebtPosition, type StationState } from './creditors.js';
import type { FlowSubmission } from '../flow-soap.js';
import { parseFlow, type ReportingFlow } from './flow.js';
// The terminal simulator's seeded generator (mulberry32): repeatable faults and tokens, never secrets.
import { seededRandom } from '../../../terminals/simulator/common.js';

export type { FlowSubmission } from '../flow-soap.js';

export interface NodeStateOptions {
  clock: Clock;
  /** The one PSP this node knows (identity, password, subscription key). */
  psp: PspIdentity;
  /** Default: defaultCreditors(). */
  creditors?: Creditor[];
  /** The node's own latency on every call: fixed plus a uniform jitter in [0, jitterMs). */
  latencyMs?: number;
  jitterMs?: number;
  /** Share of calls (0..1) answered PPT_SYSTEM_ERROR before any state is touched. */
  failRate?: number;
  /** Seeds the fault/jitter generator and the token generator: the same seed, the same run. */
  seed?: number;
  /** How long the node waits for a creditor's station before PPT_STAZIONE_INT_PA_TIMEOUT. Default 5000. */
  creditorTimeoutMs?: number;
}

/** What the HTTP layer does before answering a call. */
export type Injected = 'fault' | 'drop' | 'hang';

export interface CallPlan {
  /** Wait this long, then answer (the node's latency plus the creditor's, capped at the creditor timeout). */
  delayMs: number;
  /** A simulated failure instead of the answer: a PPT_SYSTEM_ERROR, a closed socket, or no answer at all. */
  injected?: Injected;
}

/** A token the node issued, with what became of it. */
export interface Activation {
  paymentToken: string;
  idPSP: string;
  idempotencyKey: string;
  fiscalCode: string;
  noticeNumber: string;
  amountCents: number;
  activatedAt: number;
  expiresAt: number;
  answer: ActivateAnswer;
  /** The outcome the node took for it, with the key it came with. */
  outcome?: { outcome: 'OK' | 'KO'; idempotencyKey: string; at: number; details?: OutcomeDetails };
}

/** Every sendPaymentOutcome received, with the node's answer: for tests and inspection. */
export interface OutcomeReceived {
  at: number;
  request: OutcomeRequest;
  answer: NodeAnswer<null>;
}

/** A notice paid: through this node's PSP (its token), or elsewhere (another PSP, markPaidElsewhere). */
export interface Paid {
  fiscalCode: string;
  noticeNumber: string;
  iuv: string;
  amountCents: number;
  paidAt: number;
  /** Null when paid elsewhere. */
  paymentToken: string | null;
  transfers: Transfer[];
  feeCents?: number;
}

export interface FlowReceived {
  at: number;
  flowId: string;
  domain: string;
  ok: boolean;
  /** Why it was refused. */
  reason?: string;
  flow?: ReportingFlow;
}


const fault = (code: string, description?: string, originalFaultCode?: string): { ok: false; fault: NodeFault } => ({
  ok: false,
  fault: { code, ...(description ? { description } : {}), ...(originalFaultCode ? { originalFaultCode } : {}) },
});

/** The creditor refused (PPT_ERRORE_EMESSO_DA_PAA with its PAA_* code). */
const paa = (code: string, description: string) => fault('PPT_ERRORE_EMESSO_DA_PAA', description, code);

const FLOW_ID = /^[a-zA-Z0-9\-_]{1,35}$/;

/** Two flows say the same thing: everything but dataOraFlusso. */
function sameContent(a: ReportingFlow, b: ReportingFlow): boolean {
  const { flowDateTime: _a, ...restA } = a;
  const { flowDateTime: _b, ...restB } = b;
  return JSON.stringify(restA) === JSON.stringify(restB);
}

export class NodeState {
  readonly clock: Clock;
  readonly psp: PspIdentity;
  readonly creditors: Map<string, Creditor>;
  latencyMs: number;
  jitterMs: number;
  failRate: number;
  creditorTimeoutMs: number;

  private readonly random: () => number;
  private readonly tokenRandom: () => number;
  /** Forced failures for the next calls, oldest first (failNext). */
  private readonly forced: (Injected | { how: Injected; operation: OperationName | 'nodoInviaFlussoRendicontazione' })[] = [];
  /** By paymentToken. */
  private readonly activations = new Map<string, Activation>();
  /** `${idPSP} ${idempotencyKey}` → the activation it made (while its token lives). */
  private readonly activationKeys = new Map<string, { params: string; token: string }>();
  /** `${fiscalCode} ${noticeNumber}` → the token holding the notice (may have expired: checked on use). */
  private readonly locks = new Map<string, string>();
  /** `${fiscalCode} ${noticeNumber}` → the payment. */
  private readonly paidNotices = new Map<string, Paid>();
  readonly outcomes: OutcomeReceived[] = [];
  readonly flows: FlowReceived[] = [];
  /** Calls answered, by operation (fault injections included). */
  readonly calls: Record<OperationName | 'nodoInviaFlussoRendicontazione', number> = {
    verifyPaymentNotice: 0,
    activatePaymentNotice: 0,
    sendPaymentOutcome: 0,
    nodoInviaFlussoRendicontazione: 0,
  };

  constructor(options: NodeStateOptions) {
    this.clock = options.clock;
    this.psp = options.psp;
    const creditors = options.creditors ?? defaultCreditors();
    for (const c of creditors) assertCreditor(c);
    this.creditors = new Map(creditors.map((c) => [c.fiscalCode, c]));
    this.latencyMs = options.latencyMs ?? 0;
    this.jitterMs = options.jitterMs ?? 0;
    this.failRate = options.failRate ?? 0;
    this.creditorTimeoutMs = options.creditorTimeoutMs ?? 5000;
    const seed = options.seed ?? 1;
    this.random = seededRandom(seed);
    this.tokenRandom = seededRandom(seed ^ 0x70c3e5);
    if (!(this.failRate >= 0 && this.failRate <= 1)) throw new RangeError('failRate must be within 0..1');
  }

  // ---- faults and latency -------------------------------------------------------------

  /**
   * The next `count` calls fail as `how` (then the node answers normally again); with
   * `operation`, the next `count` calls of that operation only (the others pass).
   */
  failNext(count: number, how: Injected = 'fault', operation?: OperationName | 'nodoInviaFlussoRendicontazione'): void {
    for (let i = 0; i < count; i++) this.forced.push(operation ? { how, operation } : how);
  }

  /** What the HTTP layer does for this call: drawn from the seeded generator, in call order. */
  plan(operation: OperationName | 'nodoInviaFlussoRendicontazione', creditorFiscalCode?: string): CallPlan {
    this.calls[operation]++;
    const at = this.forced.findIndex((f) => typeof f === 'string' || f.operation === operation);
    const entry = at < 0 ? undefined : this.forced.splice(at, 1)[0];
    const forced = entry === undefined ? undefined : typeof entry === 'string' ? entry : entry.how;
    const jitter = this.jitterMs > 0 ? Math.floor(this.random() * this.jitterMs) : 0;
    const failed = this.failRate > 0 && this.random() < this.failRate;
    let delayMs = this.latencyMs + jitter;
    // The creditor is asked on verify and activate only; the outcome's receipt goes to it later.
    const creditor = creditorFiscalCode ? this.creditors.get(creditorFiscalCode) : undefined;
    if (creditor && creditor.station === 'up' && (operation === 'verifyPaymentNotice' || operation === 'activatePaymentNotice')) {
      delayMs += Math.min(creditor.latencyMs, this.creditorTimeoutMs);
    }
    if (forced) return { delayMs, injected: forced };
    return failed ? { delayMs, injected: 'fault' } : { delayMs };
  }

  /** An injected failure's answer. */
  systemError(): { ok: false; fault: NodeFault } {
    return fault('PPT_SYSTEM_ERROR', 'simulated failure');
  }

  // ---- the PSP -------------------------------------------------------------------------

  /** PPT_AUTORIZZAZIONE (another PSP, broker or channel), then PPT_AUTENTICAZIONE (password). */
  authenticate(c: PspCredentials): NodeFault | null {
    if (c.idPSP !== this.psp.idPSP || c.idBrokerPSP !== this.psp.idBrokerPSP || c.idChannel !== this.psp.idChannel) {
      return { code: 'PPT_AUTORIZZAZIONE', description: 'PSP, broker and channel are not configured together' };
    }
    if (c.password !== this.psp.password) return { code: 'PPT_AUTENTICAZIONE', description: 'wrong password' };
    return null;
  }

  // ---- verify --------------------------------------------------------------------------

  verify(c: PspCredentials, req: VerifyRequest): NodeAnswer<VerifyAnswer> {
    const auth = this.authenticate(c);
    if (auth) return { ok: false, fault: auth };
    const found = this.position(req.fiscalCode, req.noticeNumber);
    if (!found.ok) return found;
    const { creditor, position } = found.value;
    const busy = this.busy(creditor, position);
    if (busy) return busy;
    return {
      ok: true,
      value: {
        amountCents: position.amountCents,
        ...(position.dueDate ? { dueDate: position.dueDate } : {}),
        description: position.description,
        fiscalCodePA: creditor.fiscalCode,
        companyName: creditor.companyName,
        ...(creditor.officeName ? { officeName: creditor.officeName } : {}),
      },
    };
  }

  // ---- activate ------------------------------------------------------------------------

  activate(c: PspCredentials, req: ActivateRequest): NodeAnswer<ActivateAnswer> {
    const auth = this.authenticate(c);
    if (auth) return { ok: false, fault: auth };
    if (req.expirationMs !== undefined && !(Number.isInteger(req.expirationMs) && req.expirationMs > 0 && req.expirationMs <= MAX_EXPIRATION_MS)) {
      return fault('PPT_AUTORIZZAZIONE', `expirationTime must be 1..${MAX_EXPIRATION_MS} ms`);
    }
    const now = this.clock();
    // Idempotency first: a retry gets its original answer even though its own token now holds the notice.
    const keyId = `${c.idPSP} ${req.idempotencyKey}`;
    const params = JSON.stringify([req.fiscalCode, req.noticeNumber, req.amountCents, req.expirationMs ?? null, req.dueDate ?? null, req.paymentNote ?? null]);
    const known = this.activationKeys.get(keyId);
    if (known) {
      const activation = this.activations.get(known.token)!;
      if (activation.expiresAt > now) {
        if (known.params !== params) return fault('PPT_ERRORE_IDEMPOTENZA', 'same idempotencyKey, other parameters');
        return { ok: true, value: activation.answer };
      }
      this.activationKeys.delete(keyId); // the key lives as long as its token
    }
    const found = this.position(req.fiscalCode, req.noticeNumber);
    if (!found.ok) return found;
    const { creditor, position } = found.value;
    const busy = this.busy(creditor, position);
    if (busy) return busy;
    if (req.amountCents !== position.amountCents) {
      return paa('PAA_SEMANTICA', `amount ${req.amountCents} cents differs from the position's ${position.amountCents}`);
    }
    const paymentToken = this.newToken();
    const answer: ActivateAnswer = {
      totalAmountCents: position.amountCents,
      description: position.description,
      fiscalCodePA: creditor.fiscalCode,
      companyName: creditor.companyName,
      ...(creditor.officeName ? { officeName: creditor.officeName } : {}),
      paymentToken,
      creditorReferenceId: position.noticeNumber.slice(1),
      transfers: position.transfers.map((t) => ({ ...t })),
    };
    this.activations.set(paymentToken, {
      paymentToken,
      idPSP: c.idPSP,
      idempotencyKey: req.idempotencyKey,
      fiscalCode: creditor.fiscalCode,
      noticeNumber: position.noticeNumber,
      amountCents: position.amountCents,
      activatedAt: now,
      expiresAt: now + (req.expirationMs ?? MAX_EXPIRATION_MS),
      answer,
    });
    this.activationKeys.set(keyId, { params, token: paymentToken });
    this.locks.set(noticeKey(creditor.fiscalCode, position.noticeNumber), paymentToken);
    return { ok: true, value: answer };
  }

  // ---- outcome -------------------------------------------------------------------------

  sendOutcome(c: PspCredentials, req: OutcomeRequest): NodeAnswer<null> {
    const answer = this.outcome(c, req);
    this.outcomes.push({ at: this.clock(), request: req, answer });
    return answer;
  }

  /** The checks in the spec's order: token, outcome taken, paid meanwhile, payment, expiry. */
  private outcome(c: PspCredentials, req: OutcomeRequest): NodeAnswer<null> {
    const auth = this.authenticate(c);
    if (auth) return { ok: false, fault: auth };
    if (req.outcome === 'OK' && !req.details) return fault('PPT_SEMANTICA', 'details are mandatory for outcome OK');
    const activation = this.activations.get(req.paymentToken);
    if (!activation || activation.idPSP !== c.idPSP) return fault('PPT_TOKEN_SCONOSCIUTO');
    if (activation.outcome) {
      // The PSP's retry of an outcome whose answer it lost: the same answer, once more.
      const same = activation.outcome.idempotencyKey === req.idempotencyKey && activation.outcome.outcome === req.outcome;
      return same ? { ok: true, value: null } : fault('PPT_ESITO_GIA_ACQUISITO');
    }
    const key = noticeKey(activation.fiscalCode, activation.noticeNumber);
    const paid = this.paidNotices.get(key);
    if (paid && paid.paymentToken !== activation.paymentToken) {
      if (req.outcome === 'OK') return fault('PPT_PAGAMENTO_DUPLICATO', 'the notice was paid meanwhile');
      // A KO for a notice someone else paid: nothing to reopen; the token is closed.
      activation.outcome = { outcome: 'KO', idempotencyKey: req.idempotencyKey, at: this.clock() };
      return { ok: true, value: null };
    }
    if (this.locks.get(key) !== activation.paymentToken) return fault('PPT_PAGAMENTO_SCONOSCIUTO', 'no payment activated with this token');
    const now = this.clock();
    if (activation.expiresAt <= now) return fault(req.outcome === 'OK' ? 'PPT_TOKEN_SCADUTO' : 'PPT_TOKEN_SCADUTO_KO');
    activation.outcome = { outcome: req.outcome, idempotencyKey: req.idempotencyKey, at: now, ...(req.details ? { details: req.details } : {}) };
    this.locks.delete(key);
    this.activationKeys.delete(`${activation.idPSP} ${activation.idempotencyKey}`);
    if (req.outcome === 'OK') {
      this.paidNotices.set(key, {
        fiscalCode: activation.fiscalCode,
        noticeNumber: activation.noticeNumber,
        iuv: activation.answer.creditorReferenceId,
        amountCents: activation.amountCents,
        paidAt: now,
        paymentToken: activation.paymentToken,
        transfers: activation.answer.transfers,
        ...(req.details ? { feeCents: req.details.feeCents } : {}),
      });
    }
    // KO: the lock is gone, so the notice is payable again.
    return { ok: true, value: null };
  }

  // ---- reporting flows ----------------------------------------------------------------

  /** nodoInviaFlussoRendicontazione: checked, kept (accepted or not), answered OK or with the reason. */
  receiveFlow(c: PspCredentials, sub: FlowSubmission): NodeAnswer<null> {
    const auth = this.authenticate(c);
    if (auth) return { ok: false, fault: auth };
    const at = this.clock();
    const refuse = (code: string, reason: string, flow?: ReportingFlow) => {
      this.flows.push({ at, flowId: sub.flowId, domain: sub.domain, ok: false, reason, ...(flow ? { flow } : {}) });
      return fault(code, reason);
    };
    const parsed = parseFlow(sub.xml);
    if (!parsed.ok) return refuse('PPT_SINTASSI_XSD', parsed.reason);
    const flow = parsed.flow;
    // A resend (the PSP's retry after a lost answer) is answered like the first time; the
    // same identifier with other content is a conflict. The flow's timestamp may differ.
    const earlier = this.flows.find((f) => f.ok && (f.flowId === flow.flowId || f.flowId === sub.flowId));
    if (earlier) {
      const same = earlier.flowId === sub.flowId && flow.flowId === sub.flowId && earlier.domain === sub.domain && sameContent(earlier.flow!, flow);
      return same ? { ok: true, value: null } : refuse('PPT_SEMANTICA', `flow ${earlier.flowId} already received, with other content`, flow);
    }
    const why = this.flowProblem(c, sub, flow);
    if (why) return refuse('PPT_SEMANTICA', why, flow);
    this.flows.push({ at, flowId: sub.flowId, domain: sub.domain, ok: true, flow });
    return { ok: true, value: null };
  }

  private flowProblem(c: PspCredentials, sub: FlowSubmission, flow: ReportingFlow): string | null {
    if (!FLOW_ID.test(flow.flowId)) return `identificativoFlusso "${flow.flowId}" must match [a-zA-Z0-9-_]{1,35}`;
    if (flow.flowId !== sub.flowId) return 'identificativoFlusso differs between the request and the flow';
    const prefix = `${flow.settlementDate}${c.idPSP}-`;
    if (!flow.flowId.startsWith(prefix) || flow.flowId.length === prefix.length) {
      return `identificativoFlusso must be <dataRegolamento><idPSP>-<unique>, "${prefix}..."`;
    }
    if (!this.creditors.has(sub.domain)) return `identificativoDominio ${sub.domain} is not a creditor of this node`;
    if (flow.receiverId !== sub.domain) return 'istitutoRicevente differs from identificativoDominio';
    if (flow.payments.length !== flow.totalPayments) return `numeroTotalePagamenti ${flow.totalPayments}, payments listed ${flow.payments.length}`;
    const sum = flow.payments.reduce((s, p) => s + p.amountCents, 0);
    if (sum !== flow.totalCents) return `importoTotalePagamenti ${flow.totalCents} cents, payments sum to ${sum}`;
    const seen = new Set<string>();
    for (const p of flow.payments) {
      const id = `${p.iuv} ${p.iur} ${p.index ?? 1}`;
      if (seen.has(id)) return `payment ${p.iuv}/${p.iur} index ${p.index ?? 1} listed twice`;
      seen.add(id);
      const activation = this.activations.get(p.iur);
      if (!activation || activation.idPSP !== c.idPSP || activation.answer.creditorReferenceId !== p.iuv) {
        return `IUV ${p.iuv} with IUR ${p.iur} is not a payment this node saw`;
      }
      const transfer = activation.answer.transfers.find((t) => t.index === (p.index ?? 1));
      if (!transfer || transfer.fiscalCodePA !== sub.domain) return `IUV ${p.iuv} has no transfer ${p.index ?? 1} to ${sub.domain}`;
      if (transfer.amountCents !== p.amountCents) return `IUV ${p.iuv} transfer ${transfer.index}: ${p.amountCents} cents reported, ${transfer.amountCents} activated`;
      const paid = this.paidNotices.get(noticeKey(activation.fiscalCode, activation.noticeNumber));
      const paidHere = paid?.paymentToken === activation.paymentToken;
      // 0 paid: this token's outcome OK; 9 paid without receipt: the token's outcome came too late (paid elsewhere); 3 revoked.
      if (p.outcomeCode === '0' && !paidHere) return `IUV ${p.iuv} reported paid (0) but no outcome OK was taken for ${p.iur}`;
      if (p.outcomeCode === '9' && paidHere) return `IUV ${p.iuv} reported 9 but its outcome OK was taken (code 0)`;
    }
    return null;
  }

  // ---- simulation controls and inspection ---------------------------------------------

  /** Another PSP (a bank app) pays the notice: a live token of ours loses it (its outcome answers DUPLICATO). */
  markPaidElsewhere(fiscalCode: string, noticeNumber: string): void {
    const found = this.position(fiscalCode, noticeNumber);
    if (!found.ok) throw new Error(`no payable position ${fiscalCode}/${noticeNumber}: ${found.fault.code}`);
    const key = noticeKey(fiscalCode, noticeNumber);
    if (this.paidNotices.has(key)) throw new Error(`${noticeNumber} is already paid`);
    this.locks.delete(key);
    const { position } = found.value;
    this.paidNotices.set(key, {
      fiscalCode,
      noticeNumber,
      iuv: noticeNumber.slice(1),
      amountCents: position.amountCents,
      paidAt: this.clock(),
      paymentToken: null,
      transfers: position.transfers,
    });
  }

  setStation(fiscalCode: string, station: StationState, latencyMs?: number): void {
    const creditor = this.creditors.get(fiscalCode);
    if (!creditor) throw new Error(`unknown creditor ${fiscalCode}`);
    creditor.station = station;
    if (latencyMs !== undefined) creditor.latencyMs = latencyMs;
  }

  activation(paymentToken: string): Activation | undefined {
    return this.activations.get(paymentToken);
  }

  /** Notices paid (here or elsewhere), in payment order. */
  payments(): Paid[] {
    return [...this.paidNotices.values()];
  }

  /** Positions nobody paid and no live token holds: what the CLI offers to pay. */
  payableNotices(): { creditor: Creditor; position: DebtPosition }[] {
    const out: { creditor: Creditor; position: DebtPosition }[] = [];
    for (const creditor of this.creditors.values()) {
      for (const position of creditor.positions) {
        if (position.status === 'payable' && !this.busy(creditor, position)) out.push({ creditor, position });
      }
    }
    return out;
  }

  // ---- the checks shared by verify and activate ---------------------------------------

  /** Creditor, its station, then the position in the creditor's books. */
  private position(fiscalCode: string, noticeNumber: string): NodeAnswer<{ creditor: Creditor; position: DebtPosition }> {
    const creditor = this.creditors.get(fiscalCode);
    if (!creditor) return fault('PPT_DOMINIO_SCONOSCIUTO', `no creditor ${fiscalCode} on the node`);
    // The node routes by aux digit and segregation code to the creditor's station.
    if (noticeNumber[0] !== '3' || noticeNumber.slice(1, 3) !== creditor.segregationCode) {
      return fault('PPT_STAZIONE_INT_PA_SCONOSCIUTA', `no station of ${fiscalCode} for this notice`);
    }
    if (creditor.station === 'down') return fault('PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE');
    if (creditor.latencyMs >= this.creditorTimeoutMs) return fault('PPT_STAZIONE_INT_PA_TIMEOUT');
    const position = creditor.positions.find((p) => p.noticeNumber === noticeNumber);
    if (!position) return paa('PAA_PAGAMENTO_SCONOSCIUTO', 'unknown notice');
    if (position.status === 'expired') return paa('PAA_PAGAMENTO_SCADUTO', 'the notice has expired');
    if (position.status === 'cancelled') return paa('PAA_PAGAMENTO_ANNULLATO', 'the notice was cancelled');
    return { ok: true, value: { creditor, position } };
  }

  /** Paid (PPT_PAGAMENTO_DUPLICATO) or held by a live token (PPT_PAGAMENTO_IN_CORSO). */
  private busy(creditor: Creditor, position: DebtPosition): { ok: false; fault: NodeFault } | null {
    const key = noticeKey(creditor.fiscalCode, position.noticeNumber);
    if (this.paidNotices.has(key)) return fault('PPT_PAGAMENTO_DUPLICATO', 'the notice is already paid');
    const token = this.locks.get(key);
    if (token) {
      const holder = this.activations.get(token)!;
      if (holder.expiresAt > this.clock()) return fault('PPT_PAGAMENTO_IN_CORSO', 'a payment of this notice is in progress');
    }
    return null;
  }

  /** 32 hex characters from the seeded generator (unique within a run: checked). */
  private newToken(): string {
    for (;;) {
      let token = '';
      for (let i = 0; i < 4; i++) token += Math.floor(this.tokenRandom() * 0x1_0000_0000).toString(16).padStart(8, '0');
      if (!this.activations.has(token)) return token;
    }
  }
}

const noticeKey = (fiscalCode: string, noticeNumber: string) => `${fiscalCode} ${noticeNumber}`;
