// The node simulator's state machine, rule by rule, on a clock the test moves by hand.
import { describe, expect, it } from 'vitest';
import { NodeState } from '../../src/pagopa/simulator/node.js';
import { defaultCreditors, assertCreditor, type Creditor } from '../../src/pagopa/simulator/creditors.js';
import { checkNoticeNumber } from '../../src/domain/notice.js';
import type { ActivateRequest, OutcomeDetails, PspCredentials } from '../../src/pagopa/types.js';

export const PSP = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-1' };
const CRED: PspCredentials = { idPSP: PSP.idPSP, idBrokerPSP: PSP.idBrokerPSP, idChannel: PSP.idChannel, password: PSP.password };
const DETAILS: OutcomeDetails = { feeCents: 150, applicationDate: '2025-03-10', transferDate: '2025-03-11' };

function setup(extra: Partial<ConstructorParameters<typeof NodeState>[0]> = {}) {
  let now = Date.UTC(2025, 2, 10, 9, 0, 0);
  const node = new NodeState({ clock: () => now, psp: PSP, ...extra });
  const firenze = node.creditors.get('01307110484')!;
  const notice = firenze.positions[0]!; // 42.00, one transfer
  const activate = (over: Partial<ActivateRequest> = {}) =>
    node.activate(CRED, { idempotencyKey: 'TSERVEPSP_aaaaaaaaaa', fiscalCode: firenze.fiscalCode, noticeNumber: notice.noticeNumber, amountCents: notice.amountCents, ...over });
  return { node, firenze, notice, activate, advance: (ms: number) => (now += ms) };
}

const token = (a: { ok: boolean; value?: unknown }) => (a as { ok: true; value: { paymentToken: string } }).value.paymentToken;
const code = (a: { ok: boolean; fault?: { code: string } }) => (a.ok ? 'OK' : a.fault!.code);

describe('creditors', () => {
  it('every position has a valid aux-3 notice of its creditor and 1..5 transfers summing to its amount', () => {
    const creditors = defaultCreditors();
    expect(creditors.map((c) => c.companyName)).toContain('Comune di Firenze');
    for (const c of creditors) {
      for (const p of c.positions) {
        const check = checkNoticeNumber(p.noticeNumber);
        expect(check.ok && check.auxDigit).toBe(3);
        expect(p.transfers.reduce((s, t) => s + t.amountCents, 0)).toBe(p.amountCents);
        expect(p.transfers.length).toBeGreaterThanOrEqual(1);
        expect(p.transfers.length).toBeLessThanOrEqual(5);
      }
    }
    expect(Math.max(...creditors.flatMap((c) => c.positions.map((p) => p.transfers.length)))).toBe(5);
  });

  it('refuses a creditor whose transfers do not sum to the amount', () => {
    const c: Creditor = structuredClone(defaultCreditors()[0]!);
    c.positions[0]!.transfers[0]!.amountCents += 1;
    expect(() => assertCreditor(c)).toThrow(/sum/);
  });
});

describe('verify', () => {
  it('answers the position without touching it', () => {
    const { node, firenze, notice } = setup();
    const a = node.verify(CRED, { fiscalCode: firenze.fiscalCode, noticeNumber: notice.noticeNumber });
    expect(a).toEqual({ ok: true, value: expect.objectContaining({ amountCents: 4200, fiscalCodePA: firenze.fiscalCode, companyName: 'Comune di Firenze' }) });
    expect(node.payableNotices().some((p) => p.position === notice)).toBe(true);
  });

  it('identity then password, unknown creditor, unknown station, unknown/expired/cancelled notice', () => {
    const { node, firenze } = setup();
    const v = (fiscalCode: string, noticeNumber: string, c: PspCredentials = CRED) => code(node.verify(c, { fiscalCode, noticeNumber }));
    const n = firenze.positions[0]!.noticeNumber;
    expect(v(firenze.fiscalCode, n, { ...CRED, idChannel: 'OTHER' })).toBe('PPT_AUTORIZZAZIONE');
    expect(v(firenze.fiscalCode, n, { ...CRED, password: 'wrongwrong' })).toBe('PPT_AUTENTICAZIONE');
    expect(v('99999999999', n)).toBe('PPT_DOMINIO_SCONOSCIUTO');
    expect(v(firenze.fiscalCode, '3' + '30' + n.slice(3))).toBe('PPT_STAZIONE_INT_PA_SCONOSCIUTA');
    const unknown = node.verify(CRED, { fiscalCode: firenze.fiscalCode, noticeNumber: '301' + '9'.repeat(15) });
    expect(unknown).toMatchObject({ ok: false, fault: { code: 'PPT_ERRORE_EMESSO_DA_PAA', originalFaultCode: 'PAA_PAGAMENTO_SCONOSCIUTO' } });
    const expired = firenze.positions.find((p) => p.status === 'expired')!;
    const cancelled = firenze.positions.find((p) => p.status === 'cancelled')!;
    expect(node.verify(CRED, { fiscalCode: firenze.fiscalCode, noticeNumber: expired.noticeNumber })).toMatchObject({ fault: { originalFaultCode: 'PAA_PAGAMENTO_SCADUTO' } });
    expect(node.verify(CRED, { fiscalCode: firenze.fiscalCode, noticeNumber: cancelled.noticeNumber })).toMatchObject({ fault: { originalFaultCode: 'PAA_PAGAMENTO_ANNULLATO' } });
  });

  it('a slow station times out, a down station is unreachable, and both can be switched', () => {
    const { node, firenze, notice } = setup({ creditorTimeoutMs: 1000 });
    const slow = node.creditors.get('77777777701')!;
    const down = node.creditors.get('77777777702')!;
    expect(code(node.verify(CRED, { fiscalCode: slow.fiscalCode, noticeNumber: slow.positions[0]!.noticeNumber }))).toBe('PPT_STAZIONE_INT_PA_TIMEOUT');
    expect(code(node.verify(CRED, { fiscalCode: down.fiscalCode, noticeNumber: down.positions[0]!.noticeNumber }))).toBe('PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE');
    // The timeout comes after the node has waited for it.
    expect(node.plan('verifyPaymentNotice', slow.fiscalCode).delayMs).toBe(1000);
    node.setStation(firenze.fiscalCode, 'up', 999);
    expect(node.plan('activatePaymentNotice', firenze.fiscalCode).delayMs).toBe(999);
    expect(node.plan('sendPaymentOutcome', firenze.fiscalCode).delayMs).toBe(0);
    node.setStation(firenze.fiscalCode, 'up', 1000);
    expect(code(node.verify(CRED, { fiscalCode: firenze.fiscalCode, noticeNumber: notice.noticeNumber }))).toBe('PPT_STAZIONE_INT_PA_TIMEOUT');
    node.setStation(firenze.fiscalCode, 'down', 0);
    expect(code(node.verify(CRED, { fiscalCode: firenze.fiscalCode, noticeNumber: notice.noticeNumber }))).toBe('PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE');
  });
});

describe('activate', () => {
  it('gives a token, the transfer list and the IUV, and locks the notice: verify and another key answer in progress', () => {
    const { node, firenze, activate } = setup();
    const pratica = firenze.positions[4]!;
    const a = activate({ noticeNumber: pratica.noticeNumber, amountCents: pratica.amountCents });
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    expect(a.value.paymentToken).toMatch(/^[0-9a-f]{32}$/);
    expect(a.value.creditorReferenceId).toBe(pratica.noticeNumber.slice(1));
    expect(a.value.transfers.map((t) => t.index)).toEqual([1, 2, 3, 4, 5]);
    expect(a.value.transfers.reduce((s, t) => s + t.amountCents, 0)).toBe(a.value.totalAmountCents);
    expect(code(node.verify(CRED, { fiscalCode: firenze.fiscalCode, noticeNumber: pratica.noticeNumber }))).toBe('PPT_PAGAMENTO_IN_CORSO');
    expect(code(activate({ idempotencyKey: 'TSERVEPSP_bbbbbbbbbb', noticeNumber: pratica.noticeNumber, amountCents: pratica.amountCents }))).toBe('PPT_PAGAMENTO_IN_CORSO');
  });

  it('idempotency: the same key and parameters give the same answer; the same key with other parameters PPT_ERRORE_IDEMPOTENZA', () => {
    const { activate } = setup();
    const first = activate({ expirationMs: 60_000 });
    expect(activate({ expirationMs: 60_000 })).toEqual(first);
    expect(code(activate({ expirationMs: 60_001 }))).toBe('PPT_ERRORE_IDEMPOTENZA');
    expect(code(activate({ paymentNote: 'other' }))).toBe('PPT_ERRORE_IDEMPOTENZA');
  });

  it('a wrong amount is refused by the creditor; expirationTime past 1800000 is refused', () => {
    const { activate } = setup();
    expect(activate({ amountCents: 4201 })).toMatchObject({ ok: false, fault: { code: 'PPT_ERRORE_EMESSO_DA_PAA', originalFaultCode: 'PAA_SEMANTICA' } });
    expect(code(activate({ expirationMs: 1_800_001 }))).toBe('PPT_AUTORIZZAZIONE');
    expect(code(activate({ expirationMs: 1_800_000 }))).toBe('OK');
  });

  it('the token expires on the clock: the notice is free again and the key makes a new token', () => {
    const { node, activate, advance, firenze, notice } = setup();
    const first = token(activate({ expirationMs: 60_000 }));
    advance(59_999);
    expect(code(activate({ idempotencyKey: 'TSERVEPSP_bbbbbbbbbb' }))).toBe('PPT_PAGAMENTO_IN_CORSO');
    advance(1);
    expect(code(node.verify(CRED, { fiscalCode: firenze.fiscalCode, noticeNumber: notice.noticeNumber }))).toBe('OK');
    const second = token(activate({ expirationMs: 60_000 }));
    expect(second).not.toBe(first);
    expect(node.activation(second)!.expiresAt - node.activation(second)!.activatedAt).toBe(60_000);
    // Without expirationTime, the maximum: 30 minutes.
    advance(60_000);
    const third = token(activate({ idempotencyKey: 'TSERVEPSP_cccccccccc' }));
    expect(node.activation(third)!.expiresAt - node.activation(third)!.activatedAt).toBe(1_800_000);
  });
});

describe('outcome', () => {
  it('OK pays the notice once: verify and activate then answer duplicate; a retry with the same key is answered OK again', () => {
    const { node, activate, firenze, notice } = setup();
    const t = token(activate());
    const req = { idempotencyKey: 'TSERVEPSP_oooooooooo', paymentToken: t, outcome: 'OK' as const, details: DETAILS };
    expect(node.sendOutcome(CRED, req)).toEqual({ ok: true, value: null });
    expect(node.sendOutcome(CRED, req)).toEqual({ ok: true, value: null });
    expect(code(node.sendOutcome(CRED, { ...req, idempotencyKey: 'TSERVEPSP_pppppppppp' }))).toBe('PPT_ESITO_GIA_ACQUISITO');
    expect(code(node.sendOutcome(CRED, { ...req, outcome: 'KO' }))).toBe('PPT_ESITO_GIA_ACQUISITO');
    expect(code(node.verify(CRED, { fiscalCode: firenze.fiscalCode, noticeNumber: notice.noticeNumber }))).toBe('PPT_PAGAMENTO_DUPLICATO');
    expect(code(activate({ idempotencyKey: 'TSERVEPSP_bbbbbbbbbb' }))).toBe('PPT_PAGAMENTO_DUPLICATO');
    expect(node.payments()).toEqual([expect.objectContaining({ paymentToken: t, amountCents: 4200, feeCents: 150 })]);
    expect(node.outcomes).toHaveLength(4);
  });

  it('KO reopens the notice', () => {
    const { node, activate } = setup();
    const t = token(activate());
    expect(code(node.sendOutcome(CRED, { idempotencyKey: 'TSERVEPSP_oooooooooo', paymentToken: t, outcome: 'KO' }))).toBe('OK');
    const again = activate({ idempotencyKey: 'TSERVEPSP_bbbbbbbbbb' });
    expect(code(again)).toBe('OK');
    expect(token(again)).not.toBe(t);
    expect(node.payments()).toEqual([]);
  });

  it('checks in the spec order: unknown token, outcome taken, paid meanwhile, no activated payment, expired', () => {
    const { node, activate, advance, firenze, notice } = setup();
    const send = (paymentToken: string, outcome: 'OK' | 'KO' = 'OK', key = 'TSERVEPSP_oooooooooo') =>
      code(node.sendOutcome(CRED, { idempotencyKey: key, paymentToken, outcome, ...(outcome === 'OK' ? { details: DETAILS } : {}) }));
    expect(send('nosuchtoken')).toBe('PPT_TOKEN_SCONOSCIUTO');
    expect(code(node.sendOutcome(CRED, { idempotencyKey: 'TSERVEPSP_oooooooooo', paymentToken: 'x', outcome: 'OK' }))).toBe('PPT_SEMANTICA');

    // Expired, nobody else came: PPT_TOKEN_SCADUTO, or _KO for a KO.
    const t1 = token(activate({ expirationMs: 1000 }));
    advance(1000);
    expect(send(t1)).toBe('PPT_TOKEN_SCADUTO');
    expect(send(t1, 'KO')).toBe('PPT_TOKEN_SCADUTO_KO');

    // Expired, then another token holds the notice: no activated payment for t1.
    const t2 = token(activate({ idempotencyKey: 'TSERVEPSP_bbbbbbbbbb', expirationMs: 1000 }));
    expect(send(t1)).toBe('PPT_PAGAMENTO_SCONOSCIUTO');

    // Another PSP pays while t2 is live: t2's late outcome is a duplicate (the PSP refunds).
    node.markPaidElsewhere(firenze.fiscalCode, notice.noticeNumber);
    expect(send(t2)).toBe('PPT_PAGAMENTO_DUPLICATO');
    expect(send(t1)).toBe('PPT_PAGAMENTO_DUPLICATO');
    // A KO for it closes the token; afterwards the outcome is taken.
    expect(send(t2, 'KO', 'TSERVEPSP_kkkkkkkkkk')).toBe('OK');
    expect(send(t2)).toBe('PPT_ESITO_GIA_ACQUISITO');
    expect(node.payments()).toEqual([expect.objectContaining({ paymentToken: null })]);
  });

  it("another PSP's token is unknown to this PSP", () => {
    const { node, activate } = setup();
    const t = token(activate());
    const other = new NodeState({ clock: () => 0, psp: { ...PSP, idPSP: 'OTHERPSP' } });
    expect(code(other.sendOutcome({ ...CRED, idPSP: 'OTHERPSP' }, { idempotencyKey: 'OTHERPSP_oooooooooo', paymentToken: t, outcome: 'KO' }))).toBe('PPT_TOKEN_SCONOSCIUTO');
    expect(node.activation(t)).toBeDefined();
  });
});

describe('latency and failures', () => {
  const draw = (seed: number) => {
    const { node } = setup({ seed, failRate: 0.3, latencyMs: 50, jitterMs: 20 });
    return Array.from({ length: 200 }, () => node.plan('verifyPaymentNotice'));
  };

  it('the same seed draws the same delays and failures; another seed others', () => {
    const a = draw(7);
    expect(draw(7)).toEqual(a);
    expect(draw(8)).not.toEqual(a);
    const failed = a.filter((p) => p.injected === 'fault').length;
    expect(failed).toBeGreaterThan(30);
    expect(failed).toBeLessThan(90);
    for (const p of a) {
      expect(p.delayMs).toBeGreaterThanOrEqual(50);
      expect(p.delayMs).toBeLessThan(70);
    }
  });

  it('failNext forces the next calls, then the node answers again', () => {
    const { node } = setup();
    node.failNext(2, 'drop');
    node.failNext(1);
    expect([1, 2, 3, 4].map(() => node.plan('activatePaymentNotice').injected)).toEqual(['drop', 'drop', 'fault', undefined]);
    expect(node.calls.activatePaymentNotice).toBe(4);
  });

  it('tokens are the same for the same seed', () => {
    const one = setup({ seed: 3 });
    const two = setup({ seed: 3 });
    expect(token(one.activate())).toBe(token(two.activate()));
  });
});
