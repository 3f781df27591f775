// The console's browser tests (issue 14): a real switch in this process (HTTP, the
// stream, ISO 8583 on ports 0) on a clock the test moves, Debian's Chromium driven by
// playwright-core, and terminals of the project's own simulator paying over TCP.
// Screenshots of every page visited go to test-results/console/ (not committed).
import '../iso8583-server/quiet.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect, vi } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { romeInstant } from '../../src/domain/calendar.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { DemoCredentials } from '../../fixtures/credentials.js';
import { IsoTerminal, type Identification } from '../../terminals/simulator/client.js';
import { NoticePicker, paymentByRrn, why } from '../iso8583-server/support.js';
import { TEST_DAY } from '../helpers/clock.js';
import { openTestDb, storeEnv, type TestDb } from '../helpers/store.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SCREENSHOTS = path.join(ROOT, 'test-results', 'console');

// ------------------------------------------------------------------ the browser

/** Debian's Chromium (apt-get install chromium): no browser is downloaded. */
export const CHROMIUM = process.env.TSERVE_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumMissing = !existsSync(CHROMIUM);
/** CI sets it (.ci/run): a missing browser fails the tests instead of skipping them. */
export const browserRequired = process.env.TSERVE_REQUIRE_BROWSER === '1';
export const MISSING_MESSAGE =
  `\n*** the console's browser tests need Chromium at ${CHROMIUM}: apt-get install chromium ***\n` +
  (browserRequired ? '*** TSERVE_REQUIRE_BROWSER=1: they fail ***\n' : '*** skipped (TSERVE_REQUIRE_BROWSER=1 makes them fail) ***\n');

/** One browser per test file. */
export function launchBrowser(): Promise<Browser> {
  // --lang: the browser's own widgets (date inputs) in Italian, as an Italian office's.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--lang=it-IT'] });
}

export const DESKTOP = { width: 1280, height: 800 };
export const TABLET = { width: 768, height: 1024 };

// ------------------------------------------------------------------ the clock

/** A clock that runs at the wall's pace from 10:00 in Rome on TEST_DAY, and that the test moves forward. */
export interface MovableClock {
  (): number;
  /** Moves the clock forward by ms. */
  advance(ms: number): void;
  /** Moves the clock forward to an instant (never back). */
  to(instant: number): void;
}

export function movableClock(start: number = romeInstant(TEST_DAY, '10:00')): MovableClock {
  const t0 = performance.now();
  let offset = 0;
  const clock = (() => start + offset + Math.floor(performance.now() - t0)) as MovableClock;
  clock.advance = (ms) => {
    offset += ms;
  };
  clock.to = (instant) => {
    const ahead = instant - clock();
    if (ahead < 0) throw new Error(`the test clock never goes back (${ahead} ms)`);
    offset += ahead;
  };
  return clock;
}

// ------------------------------------------------------------------ the switch

export interface Paid {
  paymentId: string;
  rrn: string;
  receiptNumber: string;
  amount: number;
  fee: number;
  settlementDate: string;
}

export interface ConsoleSwitch {
  url: string;
  server: RunningServer;
  dir: string;
  clock: MovableClock;
  credentials: DemoCredentials;
  /** A direct view of the switch's store (SQLite or PostgreSQL), for the ids the test needs. */
  db: TestDb;
  notices: NoticePicker;
  /** A demo user's password (demo-credentials.json). */
  password(username: string): string;
  /** A terminal of a counter no other call used, connected and signed on over ISO 8583. */
  terminal(): Promise<IsoTerminal>;
  /** A payment over ISO 8583 (approved: asserts 00), with its id read from the store. */
  pay(t: IsoTerminal, id: Identification, amount: number): Promise<Paid>;
  /** Moves the switch's clock and the browsers' with it. */
  advance(ms: number): Promise<void>;
  to(instant: number): Promise<void>;
  /** Keeps a browser context's Date on the switch's clock (as a user's browser agrees with the server). */
  follow(context: BrowserContext): Promise<void>;
  close(): Promise<void>;
}

export async function startConsoleSwitch(opts: { positions?: number; env?: Record<string, string> } = {}): Promise<ConsoleSwitch> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-console-'));
  const clock = movableClock();
  const config = loadConfig({
    TSERVE_DATA_DIR: dir,
    TSERVE_HTTP_HOST: '127.0.0.1',
    TSERVE_HTTP_PORT: '0',
    TSERVE_ISO_HOST: '127.0.0.1',
    TSERVE_ISO_PORT: '0',
    TSERVE_SEED_POSITIONS: String(opts.positions ?? 300),
    TSERVE_SETTLEMENT_SCHEDULE: 'false',
    TSERVE_RATE_LIMIT_PER_MINUTE: '1000000',
    TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: '1000000',
    TSERVE_LOG_LEVEL: 'silent',
    ...(await storeEnv(dir)),
    ...opts.env,
  });
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined); // "demo network seeded"
  const server = await startServer(config, { clock: clock as Clock }).finally(() => log.mockRestore());
  const credentials = JSON.parse(readFileSync(path.join(dir, 'demo-credentials.json'), 'utf8')) as DemoCredentials;
  const db = await openTestDb(dir);
  // One terminal per counter, each used once: no two share a counter's sign-on or STANs.
  const seen = new Set<string>();
  const pool = credentials.terminals.filter((t) => !seen.has(t.counterId) && seen.add(t.counterId));
  const terminals: IsoTerminal[] = [];
  const contexts = new Set<BrowserContext>();
  const sync = async () => {
    for (const c of contexts) await c.clock.setSystemTime(clock()).catch(() => contexts.delete(c));
  };
  return {
    url: server.url,
    server,
    dir,
    clock,
    credentials,
    db,
    notices: new NoticePicker(db),
    password(username) {
      const u = credentials.users.find((x) => x.username === username);
      if (!u) throw new Error(`no demo user ${username}`);
      return u.password;
    },
    async terminal() {
      const c = pool.shift();
      if (!c) throw new Error('terminal pool exhausted');
      const t = new IsoTerminal({ terminalId: c.terminalId, counterId: c.counterId, tmk: Buffer.from(c.tmk, 'hex') }, { host: '127.0.0.1', port: server.isoPort, timeoutMs: 20_000, clock });
      await t.connect();
      terminals.push(t);
      const r = await t.signOn();
      expect(r.code, `sign-on of ${c.terminalId}: ${why(r)}`).toBe('00');
      return t;
    },
    async pay(t, id, amount) {
      const { response: r } = await t.pay(id, amount);
      expect(r.code, `payment of ${id.service} ${id.identifier ?? ''}: ${why(r)}`).toBe('00');
      const row = await paymentByRrn(db, r.fields.get(37)!);
      if (!row) throw new Error(`payment with RRN ${r.fields.get(37)} not in the store`);
      return { paymentId: row.public_id, rrn: row.rrn, receiptNumber: row.receipt_number, amount: row.amount_cents, fee: row.fee_cents, settlementDate: row.settlement_date };
    },
    async advance(ms) {
      clock.advance(ms);
      await sync();
    },
    async to(instant) {
      clock.to(instant);
      await sync();
    },
    async follow(context) {
      contexts.add(context);
      context.on('close', () => contexts.delete(context));
      await context.clock.setSystemTime(clock());
    },
    async close() {
      for (const t of terminals) t.close();
      await server.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ pages

/**
 * A page of its own (own cookies) at a viewport (1280x800 by default), in Italian and in
 * Rome's time, its Date on the switch's clock. Errors the page throws fail the test.
 */
export async function openPage(browser: Browser, sw: ConsoleSwitch, viewport = DESKTOP): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport, locale: 'it-IT', timezoneId: 'Europe/Rome', acceptDownloads: true });
  await sw.follow(context);
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  lastPage = page;
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  return { context, page, errors };
}

/** Empties test-results/console/ (a test file's first step): what is there is this run's. */
export function freshScreenshots(): void {
  rmSync(SCREENSHOTS, { recursive: true, force: true });
  mkdirSync(SCREENSHOTS, { recursive: true });
}

let lastPage: Page | null = null;

/** After a failed test: the page as it was then, to test-results/console/failed-<test>.png (its errors printed). */
export async function shotOfFailure(testName: string): Promise<void> {
  const page = lastPage;
  lastPage = null;
  if (!page || page.isClosed()) return;
  const name = `failed-${testName.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 60)}`;
  await shot(page, name).catch(() => undefined);
  console.error(`the page when the test failed: ${path.join(SCREENSHOTS, name)}.png (${page.url()})`);
}

/** A screenshot of the page as it is, to test-results/console/<name>.png. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Logs in from the console's login page (labels Utente, Password; button Accedi) and waits for the sections' navigation. */
export async function logIn(page: Page, sw: ConsoleSwitch, username: string, shotName?: string): Promise<void> {
  await page.goto(`${sw.url}/console/`);
  await page.getByLabel('Utente', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(sw.password(username));
  if (shotName) await shot(page, shotName);
  await page.getByRole('button', { name: 'Accedi' }).click();
  await page.getByRole('navigation', { name: 'Sezioni' }).waitFor();
}

/** Opens a section from the navigation (a link named as the contract says) and waits for its heading. */
export async function openSection(page: Page, name: string, heading: string = name): Promise<void> {
  await page.getByRole('navigation', { name: 'Sezioni' }).getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
}

// ------------------------------------------------------------------ Italian formats

/** Cents of an Italian amount as the console shows it: "1.234,56 €" (or "1234,56 €"). */
export function centsOf(text: string): number {
  const m = /^\s*(-?[\d.]+),(\d{2})\s*€\s*$/u.exec(text.replace(/\s/gu, ' '));
  if (!m) throw new Error(`not an amount in euros as 1.234,56 €: ${JSON.stringify(text)}`);
  const sign = m[1]!.startsWith('-') ? -1 : 1;
  return sign * (Number(m[1]!.replace(/[-.]/g, '')) * 100 + Number(m[2]));
}

/** dd/mm/yyyy of a YYYY-MM-DD date. */
export const italianDate = (date: string): string => date.split('-').reverse().join('/');
