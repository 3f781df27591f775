// The console's pagoPA page in a real browser (issue 15, docs/pagopa.md "Refunds"): a
// switch with the bridge on against a node simulator over HTTP; a counter pays a notice of
// Comune di Firenze over ISO 8583, another PSP pays it before our outcome reaches the node,
// and the finance office finds the payment to refund on the page pagoPA, opens it and
// refunds it with Storna. Screenshots: test-results/console/pagopa-*.png.
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatPagoPaQr } from '../../src/domain/qr.js';
import { NodeSimulator } from '../../src/pagopa/simulator/server.js';
import type { PspIdentity } from '../../src/pagopa/types.js';
import { pspEnv } from '../pagopa/psp-env.js';
import { MISSING_MESSAGE, browserRequired, chromiumMissing, launchBrowser, logIn, openPage, openSection, shot, shotOfFailure, startConsoleSwitch, type ConsoleSwitch } from './browser.js';

const PSP: PspIdentity = { idPSP: 'TSERVEPSP', idBrokerPSP: 'TSERVEBROKER', idChannel: 'TSERVEBROKER_01', password: 'Password01', subscriptionKey: 'sub-key-console' };
const FIRENZE = '01307110484';

if (chromiumMissing) console.warn(MISSING_MESSAGE);

describe.skipIf(chromiumMissing && !browserRequired)('the console, page pagoPA, in Chromium', () => {
  const sim = new NodeSimulator({ psp: PSP, seed: 5 });
  let browser: Browser;
  let sw: ConsoleSwitch;

  beforeAll(async () => {
    if (chromiumMissing) throw new Error(MISSING_MESSAGE);
    const url = await sim.start();
    [sw, browser] = await Promise.all([startConsoleSwitch({ env: pspEnv(url, PSP) }), launchBrowser()]);
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') await shotOfFailure(ctx.task.name);
  });

  afterAll(async () => {
    await browser?.close();
    await sw?.close();
    await sim.stop();
  });

  it('a payment the node took no receipt for is listed to refund; Storna refunds it', async () => {
    const p = sim.creditors.find((c) => c.fiscalCode === FIRENZE)!.positions[0]!;
    // Our outcome fails once (no verdict), another PSP pays the notice, our outcome goes again: PPT_PAGAMENTO_DUPLICATO.
    sim.state.failNext(1, 'fault', 'sendPaymentOutcome');
    const terminal = await sw.terminal();
    const paid = await sw.pay(terminal, { qr: formatPagoPaQr(p.noticeNumber, FIRENZE, p.amountCents) }, p.amountCents);
    await sw.server.pagopaOutcomes!.idle();
    sim.state.markPaidElsewhere(FIRENZE, p.noticeNumber);
    sw.server.pagopaOutcomes!.wake(true);
    await sw.server.pagopaOutcomes!.idle();

    const { page, errors } = await openPage(browser, sw);
    await logIn(page, sw, 'finance');
    await openSection(page, 'pagoPA');
    const table = page.getByTestId('pagopa-refunds');
    const row = table.getByRole('row').filter({ hasText: paid.receiptNumber });
    await row.waitFor();
    await expect(row.textContent()).resolves.toMatch(/Comune di Firenze/);
    await expect(row.textContent()).resolves.toMatch(/pagato altrove nel frattempo/);
    await expect(row.textContent()).resolves.toMatch(/da rimborsare/);
    await shot(page, 'pagopa-da-rimborsare');

    // The receipt number opens the payment; Storna (with a reason) refunds the citizen.
    await row.getByRole('link', { name: paid.receiptNumber }).click();
    await page.getByText('da rimborsare: il nodo non ha la ricevuta').waitFor();
    await expect(page.getByText('Token pagoPA').count()).resolves.toBe(1);
    await shot(page, 'pagopa-pagamento');
    await page.getByRole('button', { name: 'Storna' }).click();
    await page.getByLabel('Motivo').fill('avviso già pagato altrove: rimborsato allo sportello');
    await page.getByRole('button', { name: 'Conferma' }).click();
    await page.getByText(/Pagamento stornato|Rimborso amministrativo registrato/).waitFor();
    await openSection(page, 'pagoPA');
    await table.getByRole('row').filter({ hasText: paid.receiptNumber }).filter({ hasText: 'rimborsato' }).waitFor();
    await shot(page, 'pagopa-rimborsato');
    expect(errors).toEqual([]);
  });
});
