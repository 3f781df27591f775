// The JSON terminal API of terminal-protocol.md §2, plus token login for users and
// payment reads for every role. Thin: validate, authorise, call a use-case, encode.
import { Router, type Request, type RequestHandler } from 'express';
import { API_SECRET_PATTERN, KEY_COST, NO_API_SECRET, secretVersion, verifySecret } from '../auth/secrets.js';
import type { Principal } from '../auth/principal.js';
import { PaymentError, type ErrorCode } from '../payments/errors.js';
import { receiptPdf, receiptText } from '../payments/receipt.js';
import { splitOf } from '../payments/reports.js';
import { requestHash } from '../payments/service.js';
import type { Payment } from '../store/types.js';
import { authenticate, currentTerminalSecret, principal, requireRole } from './auth.js';
import type { AppContext } from './context.js';
import { claimant, loginDoor, type LoginDoor } from './login-guard.js';
import { documented } from './openapi.js';
import { sendProblem } from './problem.js';
import * as S from './schemas.js';

// The scrypt hash of nothing anyone knows, at the cost real ones have, so that an
// unknown terminal costs the same time as a wrong secret (users': login-guard.ts).
const DUMMY_KEY_HASH = `scrypt$${KEY_COST.N}$${KEY_COST.r}$${KEY_COST.p}$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`;

/** What identifying a notice may answer (verify and pay). */
const IDENTIFY: ErrorCode[] = [
  'UNSUPPORTED', 'SERVICE_UNKNOWN', 'SERVICE_DISABLED', 'SERVICE_NOT_ALLOWED', 'NOTICE_UNKNOWN', 'NOTICE_EXPIRED', 'NOTICE_ALREADY_PAID', 'NOTICE_CANCELLED',
  'INVALID_NOTICE_NUMBER', 'INVALID_PLATE', 'INVALID_FISCAL_CODE', 'TERMINAL_BLOCKED', 'COUNTER_SUSPENDED',
];

function terminalContext(req: Request) {
  const p = principal(req);
  if (p.role !== 'terminal') throw new PaymentError('FORBIDDEN', 'terminal credentials required');
  return { terminalId: p.terminalId, counterId: p.counterId };
}

/**
 * The terminal's Idempotency-Key, kept under a 'json:' prefix so that it can never meet
 * the ISO 8583 channel's own keys ('iso:<field 7>:<STAN>') of the same terminal.
 */
function idempotencyKey(req: Request): string {
  const parsed = S.IdempotencyKey.safeParse(req.get('idempotency-key'));
  if (!parsed.success) throw new PaymentError('FORMAT', 'an Idempotency-Key header of 8 to 64 printable characters is required');
  return `json:${parsed.data}`;
}

/** May this principal read this payment? Terminals their own, entities theirs, finance and admin all. */
export function canRead(p: Principal, payment: Payment): boolean {
  switch (p.role) {
    case 'terminal':
      return payment.terminalId === p.terminalId;
    case 'entity':
      return payment.entityId === p.entityId;
    case 'finance':
    case 'admin':
      return true;
  }
}

export function terminalApi(ctx: AppContext, door: LoginDoor = loginDoor(ctx)): Router {
  const r = Router();
  const { payments, store, tokens } = ctx;
  // A terminal's token also needs its API secret to be the one it was issued under.
  const authenticated = authenticate(tokens);
  const current = currentTerminalSecret(store);
  const auth: RequestHandler = (req, res, next) => authenticated(req, res, (err?: unknown) => (err ? next(err) : current(req, res, next)));
  const { guard, limiter: authLimiter } = door;

  documented({
    method: 'post', path: '/v1/auth/token', summary: "Token for a terminal: secret = its JSON API secret (issued at provisioning; never its TMK)",
    roles: [], body: S.TokenRequest, response: S.TokenAnswer, errors: ['UNAUTHORIZED', 'TERMINAL_BLOCKED', 'COUNTER_SUSPENDED'],
  });
  r.post('/v1/auth/token', authLimiter, async (req, res) => {
    const body = S.TokenRequest.parse(req.body);
    const who = claimant(req, 'terminal', body.terminalId);
    const gate = await guard.open(res, who); // per-terminal throttle: null when locked (429 sent)
    if (!gate) return;
    const terminal = await store.getTerminal(body.terminalId);
    const issued = terminal !== undefined && terminal.secretHash !== NO_API_SECRET;
    const ok = await verifySecret(body.secret, issued ? terminal.secretHash : DUMMY_KEY_HASH);
    if (terminal && !issued) {
      // Provisioned when the TMK was the secret: that hash was erased at upgrade (terminal-credentials.md).
      return guard.fail(res, who, `terminal ${terminal.id} has no API secret yet: an admin issues one (POST /v1/admin/terminals/${terminal.id}/api-secret)`);
    }
    if (!terminal || !ok) {
      const hint = API_SECRET_PATTERN.test(body.secret) ? '' : ": this looks like a TMK, and a TMK never opens the JSON API; send the terminal's API secret";
      return guard.fail(res, who, `unknown terminal or wrong secret${hint}`);
    }
    await guard.pass(who, gate);
    if (terminal.status !== 'active') return sendProblem(res, 'TERMINAL_BLOCKED', 'the terminal is blocked');
    // Like an ISO sign-on (terminal-protocol.md §1.5): a suspended counter's terminals are refused.
    const counter = await store.getCounter(terminal.counterId);
    if (!counter || counter.status !== 'active') return sendProblem(res, 'COUNTER_SUSPENDED', 'the counter is suspended');
    // A token is a credential: no cache (browser, proxy) may keep the answer (RFC 6749 §5.1).
    const p: Principal = { role: 'terminal', terminalId: terminal.id, counterId: terminal.counterId, secretVersion: secretVersion(terminal.secretHash) };
    res.set('Cache-Control', 'no-store').json(tokens.issue(p));
  });

  documented({ method: 'post', path: '/v1/auth/login', summary: 'Token for an entity, finance or admin user', roles: [], body: S.LoginRequest, response: S.TokenAnswer, errors: ['UNAUTHORIZED', 'FORBIDDEN'] });
  r.post('/v1/auth/login', authLimiter, async (req, res) => {
    const body = S.LoginRequest.parse(req.body);
    const p = await guard.loginUser(req, res, body.username, body.password); // null: refused, answered
    if (p) res.set('Cache-Control', 'no-store').json(tokens.issue(p));
  });

  documented({ method: 'get', path: '/v1/services', summary: 'The service catalogue', roles: ['terminal', 'entity', 'finance', 'admin'], response: S.ServiceList });
  r.get('/v1/services', auth, (_req, res) => {
    res.json(
      payments.services.map((s) => ({
        code: s.code,
        name: s.name,
        entityId: s.entityId,
        entity: payments.entityName(s.entityId),
        amountKind: s.amountKind,
        identifierKind: s.identifierKind,
        fixedAmount: s.fixedCents,
        minAmount: s.minCents,
        maxAmount: s.maxCents,
        enabled: s.enabled,
      })),
    );
  });

  documented({ method: 'post', path: '/v1/verify', summary: 'What is due on an identifier', roles: ['terminal'], body: S.VerifyRequest, response: S.VerifyAnswer, errors: [...IDENTIFY, 'PAYMENT_IN_PROGRESS', 'CREDITOR_UNAVAILABLE'] });
  r.post('/v1/verify', auth, requireRole('terminal'), async (req, res) => {
    const body = S.VerifyRequest.parse(req.body);
    res.json(await payments.verify(terminalContext(req), body));
  });

  documented({
    method: 'post', path: '/v1/payments', summary: 'Pay: validate, book, answer after the commit', roles: ['terminal'],
    body: S.PayRequest, response: S.PaymentReceipt, status: 201, headers: ['Idempotency-Key'],
    alsoStatus: { 200: 'the first answer again: the same Idempotency-Key and body were sent before' },
    errors: [...IDENTIFY, 'AMOUNT_MISMATCH', 'AMOUNT_OUT_OF_RANGE', 'FEE_MISMATCH', 'CREDIT_LIMIT_EXCEEDED', 'PAYMENT_IN_PROGRESS', 'IDEMPOTENCY_CONFLICT', 'CREDITOR_UNAVAILABLE'],
  });
  r.post('/v1/payments', auth, requireRole('terminal'), async (req, res) => {
    const t = terminalContext(req);
    const key = idempotencyKey(req);
    const body = S.PayRequest.parse(req.body);
    const result = await payments.pay(t, body, { key, requestHash: requestHash('pay', body) }, 'json');
    res.status(result.status).location(`/v1/payments/${result.body.paymentId}`).json(result.body);
  });

  const loadReadable = async (req: Request): Promise<Payment> => {
    const id = String(req.params.id).toLowerCase();
    const payment = /^[0-9a-f-]{36}$/.test(id) ? await store.getPayment(id) : undefined;
    if (!payment) throw new PaymentError('NOT_FOUND', `no payment ${id}`);
    if (!canRead(principal(req), payment)) throw new PaymentError('FORBIDDEN', 'this payment is not yours to read');
    return payment;
  };

  documented({
    method: 'post', path: '/v1/payments/:id/reversal', summary: 'Reverse (annullo) a payment of this terminal in its settlement window',
    roles: ['terminal'], response: S.PaymentView, headers: ['Idempotency-Key'],
    errors: ['NOT_FOUND', 'REVERSAL_WINDOW_CLOSED', 'REVERSAL_NOT_ALLOWED', 'IDEMPOTENCY_CONFLICT', 'TERMINAL_BLOCKED', 'COUNTER_SUSPENDED'],
  });
  r.post('/v1/payments/:id/reversal', auth, requireRole('terminal'), async (req, res) => {
    const t = terminalContext(req);
    const key = idempotencyKey(req);
    const payment = await loadReadable(req);
    // A reversal is idempotent by itself; its key is recorded so it cannot serve another request.
    const hash = requestHash('reverse', payment.publicId);
    const prior = await store.getIdempotency(t.terminalId, key);
    if (prior && prior.requestHash !== hash) {
      throw new PaymentError('IDEMPOTENCY_CONFLICT', 'this idempotency key was used for a different request');
    }
    res.json(payments.view(await payments.reverse(t, payment, { key, requestHash: hash })));
  });

  documented({
    method: 'get', path: '/v1/payments/:id', summary: 'A payment (terminals: their own; entities: theirs, with its fee split as finance and admin)',
    roles: ['terminal', 'entity', 'finance', 'admin'], response: S.PaymentView, errors: ['NOT_FOUND'],
  });
  r.get('/v1/payments/:id', auth, async (req, res) => {
    const payment = await loadReadable(req);
    // The split (commissions, circuit fee) is the network's business, not a terminal's.
    const view = await payments.detail(payment);
    res.json(principal(req).role === 'terminal' ? view : { ...view, split: splitOf(payment) });
  });

  documented({
    method: 'get', path: '/v1/payments/:id/receipt', summary: 'Receipt: text/plain (40 columns) or application/pdf by Accept',
    roles: ['terminal', 'entity', 'finance', 'admin'], responseTypes: ['text/plain', 'application/pdf'], errors: ['NOT_FOUND'],
  });
  r.get('/v1/payments/:id/receipt', auth, async (req, res) => {
    const payment = await loadReadable(req);
    const type = req.accepts(['text/plain', 'application/pdf']);
    if (!type) return sendProblem(res, 'NOT_ACCEPTABLE', 'receipts come as text/plain or application/pdf');
    const data = await payments.receiptData(payment);
    if (type === 'application/pdf') {
      res.type('application/pdf').set('Content-Disposition', `inline; filename="${payment.receiptNumber}.pdf"`).send(await receiptPdf(data));
    } else {
      res.type('text/plain; charset=utf-8').send(receiptText(data));
    }
  });

  return r;
}
