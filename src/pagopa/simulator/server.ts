// NodeSimulator: pagoPA's node for one PSP over HTTP (SOAP 1.1), around the state machine
// in node.ts, with the codec the client uses (soap.ts) and the reporting-flow primitive
// (../flow-soap.ts). Tests and the bench start it in-process on port 0; `tserve pagopa-node`
// runs it alone. Any POST path is the node's endpoint; the operation is the body's root.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../clock.js';
import { buildResponse, parseRequest, ROOT_ELEMENTS, SoapSyntaxError, type ParsedRequest } from '../soap.js';
import type { NodeAnswer, NodeFault, OperationName, PspIdentity } from '../types.js';
import type { Creditor } from './creditors.js';
import { buildFlowResponse, isFlowRequest, parseFlowRequest, soapFault, FLOW_OPERATION } from '../flow-soap.js';
import { NodeState, type CallPlan, type Injected, type NodeStateOptions } from './node.js';

/** A flow of a settled day can be large; nothing else is. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface NodeSimulatorOptions extends Omit<NodeStateOptions, 'clock'> {
  clock?: Clock;
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  /** Told of every answered call (the CLI prints them); no secrets in it. */
  onCall?: (call: CallReport) => void;
}

export interface CallReport {
  operation: OperationName | typeof FLOW_OPERATION | 'unknown';
  /** HTTP status answered, or 0 when the connection was dropped or left hanging. */
  status: number;
  /** 'OK', a PPT_* code, or what was injected. */
  result: string;
  noticeNumber?: string;
}

/**
 * The PSP the simulator knows when the switch has no TSERVE_PAGOPA_* identity: the demo's,
 * written here and in docs/pagopa.md, so never a production secret.
 */
/** The demo PSP's fiscal code (made up, valid check digit): the prefix of its idempotency keys, printed on attestations. */
export const DEMO_PSP_FISCAL_CODE = '12345678903';

export const DEMO_PSP: PspIdentity = {
  idPSP: 'TSERVEPSP',
  idBrokerPSP: 'TSERVEBROKER',
  idChannel: 'TSERVEBROKER_01',
  password: 'demoPSP2025',
  subscriptionKey: 'demo-subscription-key',
};

const OPERATIONS = Object.keys(ROOT_ELEMENTS) as OperationName[];

export class NodeSimulator {
  readonly state: NodeState;
  private readonly server: Server;
  private readonly options: NodeSimulatorOptions;
  private readonly hanging = new Set<ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private address: AddressInfo | null = null;

  constructor(options: NodeSimulatorOptions) {
    this.options = options;
    this.state = new NodeState({ ...options, clock: options.clock ?? systemClock });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // A bug of the simulator, not a node's answer: a plain 500 the client treats as unreachable.
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`simulator error: ${err instanceof Error ? err.message : String(err)}`);
      });
    });
  }

  get psp(): PspIdentity {
    return this.state.psp;
  }

  get creditors(): Creditor[] {
    return [...this.state.creditors.values()];
  }

  /** The node's endpoint, once started. */
  get url(): string {
    if (!this.address) throw new Error('the node simulator is not started');
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
    return `http://${host}:${this.address.port}/nodo/node-for-psp/v1`;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.address = this.server.address() as AddressInfo;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // The state machine's controls and inspection, at hand.
  failNext(count: number, how?: Injected): void {
    this.state.failNext(count, how);
  }
  markPaidElsewhere(fiscalCode: string, noticeNumber: string): void {
    this.state.markPaidElsewhere(fiscalCode, noticeNumber);
  }

  // ---- one request --------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('POST a SOAP envelope');
      return;
    }
    // The API gateway in front of the node: no subscription key, no entry (HTTP 401, no SOAP).
    if (req.headers['ocp-apim-subscription-key'] !== this.state.psp.subscriptionKey) {
      await drain(req);
      this.json(res, 401, { statusCode: 401, message: 'Access denied due to missing or invalid subscription key.' });
      this.report({ operation: 'unknown', status: 401, result: 'subscription key refused' });
      return;
    }
    const body = await readBody(req);
    if (body === null) {
      this.json(res, 413, { statusCode: 413, message: 'body too large' });
      return;
    }
    const action = String(req.headers.soapaction ?? '').replace(/^"|"$/g, '');
    if (isFlowRequest(body)) return this.flow(res, body, action);

    let parsed: ParsedRequest;
    try {
      parsed = parseRequest(body);
    } catch (err) {
      if (!(err instanceof SoapSyntaxError)) throw err;
      // A known operation answers KO in its own response; anything else gets a SOAP Fault.
      const op = OPERATIONS.find((o) => o === action);
      if (op) return this.answer(res, op, { ok: false, fault: { code: err.code, description: err.message } });
      this.xml(res, 500, soapFault('soapenv:Client', err.message));
      this.report({ operation: 'unknown', status: 500, result: err.code });
      return;
    }
    if (action && action !== parsed.operation) {
      return this.answer(res, parsed.operation, { ok: false, fault: { code: 'PPT_SINTASSI_EXTRAXSD', description: `SOAPAction ${action.slice(0, 60)} is not ${parsed.operation}` } });
    }
    const creditor = parsed.operation === 'sendPaymentOutcome' ? undefined : parsed.request.fiscalCode;
    const notice = parsed.operation === 'sendPaymentOutcome' ? undefined : parsed.request.noticeNumber;
    const plan = this.state.plan(parsed.operation, creditor);
    if (await this.injected(res, plan, parsed.operation, notice)) return;
    if (plan.injected === 'fault') return this.answer(res, parsed.operation, this.state.systemError(), notice);
    await this.sleep(plan.delayMs);
    return this.answer(res, parsed.operation, this.run(parsed), notice);
  }

  private run(p: ParsedRequest): NodeAnswer<unknown> {
    switch (p.operation) {
      case 'verifyPaymentNotice':
        return this.state.verify(p.credentials, p.request);
      case 'activatePaymentNotice':
        return this.state.activate(p.credentials, p.request);
      case 'sendPaymentOutcome': {
        const a = this.state.sendOutcome(p.credentials, p.request);
        return a.ok ? { ok: true, value: {} } : a;
      }
    }
  }

  private async flow(res: ServerResponse, body: string, action: string): Promise<void> {
    const plan = this.state.plan(FLOW_OPERATION);
    if (await this.injected(res, plan, FLOW_OPERATION)) return;
    let answer: NodeAnswer<null>;
    if (plan.injected === 'fault') answer = this.state.systemError();
    else {
      await this.sleep(plan.delayMs);
      const parsed = parseFlowRequest(body);
      if (!parsed.ok) answer = { ok: false, fault: parsed.fault };
      else if (action && action !== FLOW_OPERATION) answer = { ok: false, fault: { code: 'PPT_SINTASSI_EXTRAXSD', description: `SOAPAction ${action.slice(0, 60)} is not ${FLOW_OPERATION}` } };
      else answer = this.state.receiveFlow(parsed.credentials, parsed.submission);
    }
    this.xml(res, 200, buildFlowResponse(answer));
    this.report({ operation: FLOW_OPERATION, status: 200, result: answer.ok ? 'OK' : answer.fault.code });
  }

  /** Drop or hang as planned; true if the call is thereby done. */
  private async injected(res: ServerResponse, plan: CallPlan, operation: CallReport['operation'], noticeNumber?: string): Promise<boolean> {
    if (plan.injected === 'drop') {
      await this.sleep(plan.delayMs);
      res.socket?.destroy();
      this.report({ operation, status: 0, result: 'dropped', ...(noticeNumber ? { noticeNumber } : {}) });
      return true;
    }
    if (plan.injected === 'hang') {
      // Never answered: the client's timeout decides. stop() closes it.
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      this.report({ operation, status: 0, result: 'hanging', ...(noticeNumber ? { noticeNumber } : {}) });
      return true;
    }
    return false;
  }

  private answer(res: ServerResponse, operation: OperationName, answer: NodeAnswer<unknown>, noticeNumber?: string): void {
    // HTTP 200 for KO too: business errors are not SOAP faults (pagopa-psp.md).
    this.xml(res, 200, buildResponse(operation, answer as Parameters<typeof buildResponse>[1]));
    this.report({ operation, status: 200, result: answer.ok ? 'OK' : faultLabel(answer.fault), ...(noticeNumber ? { noticeNumber } : {}) });
  }

  private xml(res: ServerResponse, status: number, xml: string): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'text/xml; charset=utf-8' }).end(xml);
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private report(call: CallReport): void {
    this.options.onCall?.(call);
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }
}

const faultLabel = (f: NodeFault) => (f.originalFaultCode ? `${f.code}/${f.originalFaultCode}` : f.code);

/** The body as text, or null past MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const chunk of req as AsyncIterable<Buffer>) void chunk;
}
