// The web console in a real browser (issue 14): Debian's Chromium, headless, driven by
// playwright-core against a switch in this process whose clock the test moves. A finance
// user sees the day's totals change as a terminal pays over ISO 8583; an ente sees its
// own payments and is refused another's; CSRF without the token is refused; a window is
// run, approved and its Italian CSV downloaded and read; an idle session expires.
// One switch and one browser for the file: the tests run in order (the clock only goes
// forward). Screenshots: test-results/console/<name>.png.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addDays, nextWorkingDay, romeInstant } from '../../src/domain/calendar.js';
import { TEST_DAY } from '../helpers/clock.js';
import {
  MISSING_MESSAGE,
  SCREENSHOTS,
  TABLET,
  browserRequired,
  centsOf,
  chromiumMissing,
  freshScreenshots,
  italianDate,
  launchBrowser,
  logIn,
  openPage,
  openSection,
  shot,
  shotOfFailure,
  startConsoleSwitch,
  type ConsoleSwitch,
  type Paid,
} from './browser.js';

/** A valid fiscal code: CERTIFICATI (Comune di Prato, €1.00 fixed) is paid by fiscal code. */
const CF = 'RSSMRA85T10A562S';
const D = TEST_DAY;
const WAIT = { timeout: 15_000 };

if (chromiumMissing) console.warn(MISSING_MESSAGE);

/** A count as the console shows it ("1.234"). */
function countOf(text: string | null): number {
  const t = (text ?? '').trim();
  if (!/^\d{1,3}(\.?\d{3})*$/.test(t)) throw new Error(`not a count: ${JSON.stringify(text)}`);
  return Number(t.replace(/\./g, ''));
}

describe.skipIf(chromiumMissing && !browserRequired)('the console in Chromium', () => {
  let browser: Browser;
  let sw: ConsoleSwitch;
  /** Payments made on day D by the tests, by the entity they are owed to. */
  const prato: Paid[] = [];
  const pisa: Paid[] = [];

  beforeAll(async () => {
    if (chromiumMissing) throw new Error(MISSING_MESSAGE);
    freshScreenshots();
    [sw, browser] = await Promise.all([startConsoleSwitch(), launchBrowser()]);
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') await shotOfFailure(ctx.task.name);
  });

  afterAll(async () => {
    await browser?.close();
    await sw?.close();
  });

  it('a finance user logs in, opens Oggi, and sees the totals change as a payment is made over ISO 8583', async () => {
    const { page, context, errors } = await openPage(browser, sw);
    await logIn(page, sw, 'finance', 'login');
    await shot(page, 'home-finance');
    await openSection(page, 'Oggi');
    const count = page.getByTestId('day-count');
    const amount = page.getByTestId('day-amount');
    await count.filter({ hasText: /\d/ }).waitFor();
    await amount.filter({ hasText: /€/ }).waitFor();
    const before = { count: countOf(await count.textContent()), cents: centsOf((await amount.textContent()) ?? '') };
    // Live: the stream is open (a payment booked between the first read and the stream's
    // opening would otherwise be missed until the next one).
    await page.getByRole('status').filter({ hasText: 'in diretta' }).waitFor();
    await shot(page, 'oggi-before');

    // Over TCP, signed on, as a counter's terminal does; the page is not reloaded.
    const t = await sw.terminal();
    const p = await sw.pay(t, { service: 'CERTIFICATI', identifier: CF }, 100);
    prato.push(p);
    expect(p.settlementDate).toBe(D);
    await expect.poll(async () => countOf(await count.textContent()), WAIT).toBe(before.count + 1);
    await expect.poll(async () => centsOf((await amount.textContent()) ?? ''), WAIT).toBe(before.cents + p.amount);
    // Then a second one: live again, not a one-off refetch.
    const again = await sw.pay(t, { service: 'CERTIFICATI', identifier: CF }, 100);
    prato.push(again);
    await expect.poll(async () => countOf(await count.textContent()), WAIT).toBe(before.count + 2);
    await expect.poll(async () => centsOf((await amount.textContent()) ?? ''), WAIT).toBe(before.cents + p.amount + again.amount);
    // The newest payments as they come, and the chart per hour named for screen readers.
    await page.getByRole('table').filter({ hasText: again.receiptNumber }).filter({ hasText: p.receiptNumber }).first().waitFor();
    await expect(page.getByRole('img').first().getAttribute('aria-label')).resolves.toBeTruthy();
    await shot(page, 'oggi');
    expect(errors).toEqual([]);
    await context.close();
  });

  it("an ente sees only its own payments, and is refused another's (console route and raw API URL), on a tablet", async () => {
    const n = await sw.notices.take(['TARIPISA']);
    const t = await sw.terminal();
    pisa.push(await sw.pay(t, { service: n.service, identifier: n.notice }, n.amount));
    const own = pisa[0]!;
    const other = prato[0]!;

    const { page, context, errors } = await openPage(browser, sw, TABLET);
    await logIn(page, sw, 'ente-pisa', 'login-tablet');
    const nav = page.getByRole('navigation', { name: 'Sezioni' });
    for (const name of ['Pagamenti', 'Estratti conto', 'Rifatturazione', 'Posizioni debitorie']) {
      await expect(nav.getByRole('link', { name, exact: true }).count(), `nav link ${name}`).resolves.toBe(1);
    }
    await expect(nav.getByRole('link', { name: 'Finestre di regolamento', exact: true }).count()).resolves.toBe(0);
    await openSection(page, 'Pagamenti');

    // The whole day: its own payment, none of Prato's.
    await page.getByLabel('Dal', { exact: true }).fill(D);
    await page.getByLabel('Al', { exact: true }).fill(D);
    await page.getByRole('button', { name: 'Cerca' }).click();
    const results = page.getByRole('table');
    await results.getByRole('row').filter({ hasText: own.receiptNumber }).waitFor();
    // A header row and its own payments' rows, nothing more.
    await expect.poll(() => results.getByRole('row').count(), WAIT).toBe(1 + pisa.length);
    const text = (await results.textContent()) ?? '';
    for (const p of prato) expect(text).not.toContain(p.receiptNumber);
    await shot(page, 'pagamenti-ente');
    // By another's receipt number: nothing.
    await page.getByLabel('Dal', { exact: true }).fill('');
    await page.getByLabel('Al', { exact: true }).fill('');
    await page.getByLabel('Numero ricevuta', { exact: true }).fill(other.receiptNumber);
    await page.getByRole('button', { name: 'Cerca' }).click();
    await expect.poll(async () => (await page.getByRole('row').filter({ hasText: own.receiptNumber }).count()), WAIT).toBe(0);
    expect(await page.getByText(other.receiptNumber, { exact: false }).count()).toBe(0);

    // Its own payment's detail opens; another's is refused, shown as such.
    await page.goto(`${sw.url}/console/#/pagamenti/${own.paymentId}`);
    await page.getByText(own.receiptNumber).first().waitFor();
    await shot(page, 'pagamento-ente');
    await page.goto(`${sw.url}/console/#/pagamenti/${other.paymentId}`);
    await page.getByRole('alert').filter({ hasText: /403|non autorizzat|negat|vietat|permess/i }).first().waitFor();
    expect(await page.getByText(other.receiptNumber).count()).toBe(0);
    await shot(page, 'pagamento-altrui');

    // The API's own URL, opened in the browser with the session cookie.
    const mine = await page.goto(`${sw.url}/v1/payments/${own.paymentId}`);
    expect(mine?.status()).toBe(200);
    expect(((await mine!.json()) as { receiptNumber: string }).receiptNumber).toBe(own.receiptNumber);
    const refused = await page.goto(`${sw.url}/v1/payments/${other.paymentId}`);
    expect(refused?.status()).toBe(403);
    expect(await refused!.text()).not.toContain(other.receiptNumber);
    await shot(page, 'api-altrui');
    expect(errors).toEqual([]);
    await context.close();
  });

  it("CSRF: from the logged-in page an unsafe request without X-CSRF-Token is refused (403 CSRF), with the session's token it is not", async () => {
    const { page, context } = await openPage(browser, sw);
    await logIn(page, sw, 'finance');
    const post = (token: string | null) =>
      page.evaluate(
        async ([date, t]) => {
          const r = await fetch(`/v1/settlements/${date}/run`, { method: 'POST', headers: t ? { 'X-CSRF-Token': t } : {} });
          return { status: r.status, body: await r.text() };
        },
        [D, token] as const,
      );
    const without = await post(null);
    expect(without.status, without.body).toBe(403);
    expect((JSON.parse(without.body) as { code: string }).code).toBe('CSRF');
    const forged = await post('not-the-token');
    expect(forged.status, forged.body).toBe(403);
    // The page's token, as the session JSON gives it to the console's script.
    const token = await page.evaluate(async () => ((await (await fetch('/console/session')).json()) as { csrfToken: string }).csrfToken);
    const withToken = await post(token);
    expect(withToken.status, withToken.body).not.toBe(403);
    // The day's window is still open (the clock is on D): the route itself answered.
    expect(withToken.status, withToken.body).toBe(409);
    await context.close();
  });

  it('the next business day: a window is run and approved with confirmations, and its Italian CSV downloaded is right', async () => {
    await sw.to(romeInstant(nextWorkingDay(addDays(D, 1)), '10:00'));
    const { page, context, errors } = await openPage(browser, sw);
    await logIn(page, sw, 'finance');
    await openSection(page, 'Finestre di regolamento');
    const row = page.getByRole('row').filter({ hasText: italianDate(D) });
    await row.waitFor();
    await shot(page, 'finestre-prima');

    const dialog = page.getByRole('dialog');
    await row.getByRole('button', { name: 'Esegui' }).click();
    await shot(page, 'finestre-conferma-esegui');
    await dialog.getByRole('button', { name: 'Conferma' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await row.getByRole('button', { name: 'Approva' }).waitFor();
    await shot(page, 'finestre-bozza');
    await row.getByRole('button', { name: 'Approva' }).click();
    await dialog.getByRole('button', { name: 'Conferma' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await row.filter({ hasText: /approvat/i }).waitFor();
    await shot(page, 'finestre-approvata');

    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('link', { name: 'CSV (Excel)', exact: true }).click()]);
    expect(download.suggestedFilename()).toMatch(/-it\.csv$/);
    await download.saveAs(path.join(SCREENSHOTS, download.suggestedFilename()));
    const bytes = readFileSync((await download.path())!);
    // UTF-8 with BOM, ';' between fields, euros with a decimal comma, Rome's dd/mm/yyyy times.
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = bytes.toString('utf8').slice(1).split(/\r?\n/).filter(Boolean);
    expect(lines[0]).toContain(';');
    for (const p of [...prato, ...pisa]) {
      const line = lines.find((l) => l.includes(p.receiptNumber));
      expect(line, `a line with receipt ${p.receiptNumber} in:\n${lines.join('\n')}`).toBeDefined();
      const fields = line!.split(';').map((f) => f.replace(/^"|"$/g, ''));
      expect(fields).toContain((p.amount / 100).toFixed(2).replace('.', ','));
      expect(line).toMatch(new RegExp(`${italianDate(D)} \\d{2}:\\d{2}:\\d{2}`));
    }
    expect(errors).toEqual([]);
    await context.close();
  });

  it('an idle session expires: the next action lands on the login page saying "Sessione scaduta"', async () => {
    const { page, context } = await openPage(browser, sw);
    await logIn(page, sw, 'finance');
    await openSection(page, 'Oggi');
    // TSERVE_CONSOLE_IDLE_MINUTES: 15 by default.
    await sw.advance(16 * 60_000);
    await page.getByRole('navigation', { name: 'Sezioni' }).getByRole('link', { name: 'Finestre di regolamento', exact: true }).click();
    await page.getByText('Sessione scaduta').first().waitFor();
    await page.getByLabel('Utente', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Accedi' }).waitFor();
    await shot(page, 'sessione-scaduta');
    // The cookie is no longer a session: the API says so too.
    const status = await page.evaluate(async () => (await fetch('/console/session')).status);
    expect(status).toBe(401);
    await context.close();
  });
});
