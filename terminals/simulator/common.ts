// Shared by the single-shot and the load simulator: the seeded network's credentials,
// what the response codes mean, and a few generators of valid identifiers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CATALOGUE } from '../../fixtures/catalogue.js';
import { POSITION_MIX } from '../../fixtures/generator.js';
import type { EntityFixture, ServiceFixture } from '../../src/domain/model.js';
import { CREDENTIALS_FILE, isOlderCredentials, type DemoCredentials } from '../../fixtures/credentials.js';
import { codiceFiscaleCheckChar } from '../../src/domain/fiscal-code.js';
import type { TerminalCredentials, TlsClientOptions } from './client.js';

/** Where to reach the switch's ISO 8583 listener. */
export interface Target {
  host: string;
  port: number;
  /** true: TLS checked against the system's CAs; or the CA (and client certificate) to use. */
  tls?: boolean | TlsClientOptions;
}

/** `<TSERVE_DATA_DIR or ./data>/demo-credentials.json`, as written by the seeding. */
export function defaultCredentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(path.resolve(env.TSERVE_DATA_DIR || './data'), CREDENTIALS_FILE);
}

/** The terminals of a demo credentials file, in file order (T0001 first). */
export function loadTerminalCredentials(file: string): TerminalCredentials[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : String(err);
    throw new Error(`credentials file ${file}: ${why} (the switch writes it when it seeds the demo network; set TSERVE_DATA_DIR or give --credentials)`, {
      cause: err,
    });
  }
  const parsed = JSON.parse(text) as Partial<DemoCredentials>;
  if (isOlderCredentials(parsed)) {
    throw new Error(
      `credentials file ${file} is from an older release (one "secret" per terminal, the TMK, which was also the API secret); ` +
        'reseed the demo network (`tserve seed --force`, or delete the data directory) to get a TMK and an API secret per terminal',
    );
  }
  if (!Array.isArray(parsed.terminals)) throw new Error(`credentials file ${file}: no "terminals" list`);
  return parsed.terminals.map((t, i) => {
    if (typeof t.terminalId !== 'string' || typeof t.counterId !== 'string' || !/^[0-9a-fA-F]{64}$/.test(String(t.tmk))) {
      throw new Error(`credentials file ${file}: terminal #${i + 1} needs terminalId, counterId and a 64-hex-digit tmk`);
    }
    return { terminalId: t.terminalId, counterId: t.counterId, tmk: Buffer.from(t.tmk, 'hex') };
  });
}

export function findTerminal(all: TerminalCredentials[], terminalId: string, file: string): TerminalCredentials {
  const t = all.find((c) => c.terminalId === terminalId);
  if (!t) throw new Error(`terminal ${terminalId} is not in ${file} (${all.length} terminals, e.g. ${all[0]?.terminalId ?? 'none'})`);
  return t;
}

/** Field 39 (terminal-protocol.md §1.6). */
export const RESPONSE_MEANINGS: Readonly<Record<string, string>> = {
  '00': 'approved',
  '05': 'do not honour',
  '12': 'invalid transaction',
  '13': 'invalid amount',
  '14': 'invalid identifier',
  '25': 'record not found',
  '30': 'format error',
  '51': 'counter over its credit limit',
  '54': 'notice expired',
  '57': 'not permitted',
  '58': 'terminal not permitted',
  '63': 'security violation',
  '80': 'notice already paid',
  '81': 'payment in progress elsewhere',
  '82': 'notice cancelled',
  '91': "creditor's system unavailable (pagoPA node or creditor)",
  '94': 'duplicate transmission',
  '95': 'reconciliation error',
  '96': 'system malfunction',
};

/** `80 notice already paid (NOTICE_ALREADY_PAID)`. */
export function describeResponse(code: string, er?: string): string {
  const meaning = RESPONSE_MEANINGS[code] ?? 'unknown response code';
  return `${code || '??'} ${meaning}${er ? ` (${er})` : ''}`;
}

export function serviceByCode(code: string | undefined): ServiceFixture | undefined {
  const c = code?.trim().toUpperCase();
  return c ? CATALOGUE.services.find((s) => s.code === c) : undefined;
}

export function entityById(id: string): EntityFixture | undefined {
  return CATALOGUE.entities.find((e) => e.id === id);
}

/**
 * The service of a notice number the demo generator made: aux digit 3, the entity's
 * segregation code, the IUV series, then the service's slot (fixtures/generator.ts).
 * Undefined for any other notice.
 */
export function serviceOfNotice(notice: string): ServiceFixture | undefined {
  const m = /^3(\d{2})\d{4}(\d{2})\d{9}$/.exec(notice);
  if (!m) return undefined;
  const entity = CATALOGUE.entities.find((e) => e.segregationCode === m[1]);
  if (!entity) return undefined;
  for (const { code, slot } of POSITION_MIX) {
    const service = serviceByCode(code);
    if (service && service.entityId === entity.id && slot === m[2]) return service;
  }
  return undefined;
}

/** Mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Fisher-Yates, in place. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const MONTHS = 'ABCDEHLMPRST';

/** A random codice fiscale of the right shape with a correct check character. */
export function randomCodiceFiscale(random: () => number): string {
  const letter = () => LETTERS[Math.floor(random() * 26)]!;
  const digits = (n: number, from: number, to: number) => String(from + Math.floor(random() * (to - from + 1))).padStart(n, '0');
  const day = 1 + Math.floor(random() * 28) + (random() < 0.5 ? 40 : 0);
  const first15 =
    Array.from({ length: 6 }, letter).join('') +
    digits(2, 0, 99) +
    MONTHS[Math.floor(random() * MONTHS.length)]! +
    String(day).padStart(2, '0') +
    letter() +
    digits(3, 1, 999);
  return first15 + codiceFiscaleCheckChar(first15);
}

/** A school-canteen user code: 'U' and 9 digits. */
export function randomUserCode(random: () => number): string {
  return 'U' + String(Math.floor(random() * 1e9)).padStart(9, '0');
}
