// The PSP's client of pagoPA's node: verify, activate and outcome over SOAP/HTTP(S), with
// a timeout per attempt and retries with exponential back-off and jitter where retrying
// is safe: verify has no side effect; activate is retried with the same idempotencyKey
// (the node answers the original activation); an outcome is retried until the node
// answers or the deadline (the token's expiry) passes. A business KO is an answer, never
// retried here. The node's faults come back as values (NodeAnswer); transport failures
// throw a NodeTransportError, which faults.ts maps like a fault (timeout → 91).
// A reporting flow (sendFlow) is retried like verify: the node keeps one flow per id and
// answers a resend of the same content OK again.
import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { TransportFaultCode } from './faults.js';
import { FLOW_OPERATION, buildFlowRequest, parseFlowResponse } from './flow-soap.js';
import type { BuiltFlow } from './flow.js';
import { SoapSyntaxError, buildRequest, parseResponse, type Operations } from './soap.js';
import type { ActivateRequest, NodeAnswer, OperationName, OutcomeRequest, PspIdentity, VerifyRequest } from './types.js';

export interface PspClientConfig {
  /** The node's nodeForPsp endpoint (every operation is POSTed there, SOAPAction naming it). */
  nodeUrl: string;
  identity: PspIdentity;
  /** The PSP's fiscal code: the prefix of every idempotencyKey. */
  pspFiscalCode: string;
  /** Per attempt. */
  timeoutMs: number;
  /** The token lifetime asked at activation (≤ 1800000); also an outcome's default deadline. */
  tokenExpirationMs: number;
}

export interface RetryPolicy {
  /** Attempts of verify and activate (the first included). */
  attempts: number;
  /** The first back-off; doubled at each retry up to maxDelayMs; each wait drawn in [delay/2, delay]. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 250, maxDelayMs: 4000 };

/** An answer is at most this long: a verify or activation is a few kilobytes. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** The transport failed: the node was not reached, did not answer in time, refused the configuration, or answered garbage. */
export class NodeTransportError extends Error {
  constructor(
    readonly code: TransportFaultCode,
    message: string,
    /** The HTTP status when there was one. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'NodeTransportError';
  }

  /** Worth another attempt: the node may answer the next one. */
  get transient(): boolean {
    return this.code === 'NODE_UNREACHABLE' || this.code === 'NODE_TIMEOUT';
  }
}

export interface PspClientDeps {
  fetch?: typeof fetch;
  clock?: Clock;
  /** Waits between attempts (tests pass a recorder). */
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): the jitter's draw. */
  random?: () => number;
  retry?: Partial<RetryPolicy>;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * The activation's idempotencyKey, `<PSP fiscal code>_<10 alphanumerics>`: the same
 * terminal and retransmission or idempotency key always give the same key, so a retried
 * 0200 reuses the activation instead of meeting PPT_PAGAMENTO_IN_CORSO. The 10
 * characters are base62 of a SHA-256 (62^10 ≈ 8·10^17 values).
 */
export function idempotencyKey(pspFiscalCode: string, terminalId: string, terminalKey: string): string {
  if (!/^[a-zA-Z0-9]{2,18}$/.test(pspFiscalCode)) throw new RangeError('the PSP fiscal code must be 2..18 letters or digits');
  let n = BigInt(`0x${createHash('sha256').update(terminalId).update('\0').update(terminalKey).digest('hex')}`);
  let suffix = '';
  for (let i = 0; i < 10; i++) {
    suffix += BASE62[Number(n % 62n)];
    n /= 62n;
  }
  return `${pspFiscalCode}_${suffix}`;
}

export class PspClient {
  private readonly fetch: typeof fetch;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly retry: RetryPolicy;

  constructor(
    readonly config: PspClientConfig,
    deps: PspClientDeps = {},
  ) {
    this.fetch = deps.fetch ?? globalThis.fetch;
    this.clock = deps.clock ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = deps.random ?? Math.random;
    this.retry = { ...DEFAULT_RETRY, ...deps.retry };
    if (this.retry.attempts < 1 || this.retry.attempts > 10) throw new RangeError('retry attempts must be 1..10');
  }

  /** The key for a terminal's payment (see idempotencyKey()). */
  keyFor(terminalId: string, terminalKey: string): string {
    return idempotencyKey(this.config.pspFiscalCode, terminalId, terminalKey);
  }

  verify(request: VerifyRequest): Promise<NodeAnswer<Operations['verifyPaymentNotice']['answer']>> {
    return this.call('verifyPaymentNotice', request, { attempts: this.retry.attempts, deadline: null });
  }

  /** The token lifetime defaults to the configured one. */
  activate(request: ActivateRequest): Promise<NodeAnswer<Operations['activatePaymentNotice']['answer']>> {
    const withExpiration = request.expirationMs === undefined ? { ...request, expirationMs: this.config.tokenExpirationMs } : request;
    return this.call('activatePaymentNotice', withExpiration, { attempts: this.retry.attempts, deadline: null });
  }

  /** Retried until answered or until `deadline` (epoch ms; default: now + the token lifetime). */
  sendOutcome(request: OutcomeRequest, options: { deadline?: number } = {}): Promise<NodeAnswer<Operations['sendPaymentOutcome']['answer']>> {
    return this.call('sendPaymentOutcome', request, { attempts: null, deadline: options.deadline ?? this.clock() + this.config.tokenExpirationMs });
  }

  /**
   * nodoInviaFlussoRendicontazione: the flow for its creditor (identificativoDominio).
   * OK means the node accepted it (or had accepted this very flow before).
   */
  sendFlow(flow: Pick<BuiltFlow, 'flowId' | 'creditorFiscalCode' | 'flowDateTime' | 'xml'>): Promise<NodeAnswer<null>> {
    const body = buildFlowRequest(this.config.identity, { domain: flow.creditorFiscalCode, flowId: flow.flowId, flowDateTime: flow.flowDateTime, xml: flow.xml });
    return this.retried(FLOW_OPERATION, body, parseFlowResponse, { attempts: this.retry.attempts, deadline: null });
  }

  private call<Op extends OperationName>(
    operation: Op,
    request: Operations[Op]['request'],
    limit: { attempts: number | null; deadline: number | null },
  ): Promise<NodeAnswer<Operations[Op]['answer']>> {
    const body = buildRequest(operation, this.config.identity, request);
    return this.retried(operation, body, (text) => parseResponse(operation, text), limit);
  }

  private async retried<T>(
    operation: string,
    body: string,
    parse: (text: string) => NodeAnswer<T>,
    limit: { attempts: number | null; deadline: number | null },
  ): Promise<NodeAnswer<T>> {
    // Bounded either way: by attempts, or by the deadline (and, as a backstop, 1,000 tries).
    const maxAttempts = limit.attempts ?? 1000;
    for (let attempt = 1; ; attempt++) {
      const remaining = limit.deadline === null ? this.config.timeoutMs : limit.deadline - this.clock();
      try {
        if (remaining <= 0) throw new NodeTransportError('NODE_TIMEOUT', `pagoPA ${operation}: the deadline passed before an answer`);
        return await this.attempt(operation, body, parse, Math.min(this.config.timeoutMs, remaining));
      } catch (e) {
        if (!(e instanceof NodeTransportError) || !e.transient || attempt >= maxAttempts) throw e;
        const delay = this.backoff(attempt);
        if (limit.deadline !== null && this.clock() + delay >= limit.deadline) throw e;
        await this.sleep(delay);
      }
    }
  }

  /** Full jitter in the upper half: base·2^(n-1), capped, times [0.5, 1). */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(ceiling * (0.5 + this.random() / 2));
  }

  private async attempt<T>(operation: string, body: string, parse: (text: string) => NodeAnswer<T>, timeoutMs: number): Promise<NodeAnswer<T>> {
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(this.config.nodeUrl, {
        method: 'POST',
        headers: {
          'content-type': 'text/xml; charset=utf-8',
          soapaction: operation,
          'ocp-apim-subscription-key': this.config.identity.subscriptionKey,
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') throw new NodeTransportError('NODE_TIMEOUT', `pagoPA ${operation}: no answer within ${timeoutMs} ms`);
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new NodeTransportError('NODE_UNREACHABLE', `pagoPA ${operation}: node unreachable (${String(cause).slice(0, 80)})`);
    }
    const status = response.status;
    if (status === 408 || status === 429 || status >= 500) throw new NodeTransportError('NODE_UNREACHABLE', `pagoPA ${operation}: HTTP ${status}`, status);
    if (status >= 400) {
      // Never retried: the same key or URL will be refused again until someone fixes the configuration.
      const what = status === 401 ? 'the subscription key is refused (TSERVE_PAGOPA_SUBSCRIPTION_KEY)' : `check TSERVE_PAGOPA_NODE_URL and the PSP's identifiers`;
      throw new NodeTransportError('NODE_CONFIGURATION', `pagoPA ${operation}: HTTP ${status}: ${what}`, status);
    }
    if (Buffer.byteLength(text) > MAX_ANSWER_BYTES) throw new NodeTransportError('NODE_BAD_ANSWER', `pagoPA ${operation}: answer over ${MAX_ANSWER_BYTES} bytes`, status);
    try {
      return parse(text);
    } catch (e) {
      if (e instanceof SoapSyntaxError || e instanceof RangeError) throw new NodeTransportError('NODE_BAD_ANSWER', `pagoPA ${operation}: ${e.message}`, status);
      throw e;
    }
  }
}
