// Where the switch's two keys come from (docs/keys.md): the key-encryption key (KEK),
// which seals every terminal's TMK in the database, and the JWT signing key. A copy of
// the data directory must yield neither: in production mode both come from the
// environment or from secret files outside the data directory, and the switch refuses
// to start otherwise. Demo mode (the default, `npm start`) may generate them into the
// data directory, and says so.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';
import { CREDENTIALS_FILE } from '../../fixtures/credentials.js';
import { loadOrCreateKeyFile } from './secrets.js';

export type KeyConfig = Pick<Config, 'mode' | 'dataDir' | 'kekHex' | 'kekFile' | 'jwtSecret' | 'jwtKeyFile'>;

export interface SwitchKeys {
  kek: Buffer;
  jwtKey: Buffer;
  /** True when a key comes from a file the switch generated in the data directory (demo mode only). */
  inDataDir: boolean;
}

/** The key files demo mode generates in the data directory. */
export const KEK_FILE_NAME = 'kek.key';
export const JWT_FILE_NAME = 'jwt.key';

/** A secret file is a few dozen bytes; anything larger is not one. */
const MAX_SECRET_FILE_BYTES = 4096;
const KEK_PATTERN = /^[0-9a-fA-F]{64}$/;
/** The JWT key: printable ASCII without spaces, as TSERVE_JWT_SECRET (at least 32 characters). */
const JWT_PATTERN = /^[\x21-\x7e]{32,}$/;

export const KEYS_HELP = [
  'the KEK: set TSERVE_KEK_FILE to a file holding 64 hex characters, mode 0600 (e.g. the Docker secret /run/secrets/tserve_kek), or TSERVE_KEK',
  'the JWT signing key: set TSERVE_JWT_KEY_FILE to a file holding at least 32 characters, mode 0600 (e.g. /run/secrets/tserve_jwt_key), or TSERVE_JWT_SECRET',
  'each from its own `(umask 077; openssl rand -hex 32 > FILE)`, kept outside the data directory; see docs/keys.md',
  '(TSERVE_MODE=demo runs the demonstration, with keys generated in the data directory)',
];

/** The real path of a directory, or of its nearest existing ancestor joined with the rest (a data directory not created yet). */
function realDir(dir: string): string {
  const abs = path.resolve(dir);
  if (existsSync(abs)) return realpathSync(abs);
  const parent = path.dirname(abs);
  return parent === abs ? abs : path.join(realDir(parent), path.basename(abs));
}

function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Reads a secret file named by `variable`: it must exist, be a regular file, be readable
 * by its owner only and (in production) lie outside the data directory, symbolic links
 * resolved (a Kubernetes secret is a link into `..data/`). Returns its text, trimmed.
 */
export function readSecretFile(variable: string, file: string, config: Pick<Config, 'mode' | 'dataDir'>): string {
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    throw new Error(`${variable}: ${file} does not exist or cannot be reached`);
  }
  const st = statSync(real);
  if (!st.isFile()) throw new Error(`${variable}: ${file} is not a regular file`);
  if (config.mode === 'production') {
    const dataDir = realDir(config.dataDir);
    if (isInside(dataDir, real) || isInside(path.resolve(config.dataDir), path.resolve(file))) {
      throw new Error(
        `${variable}: ${file} is inside the data directory ${config.dataDir}: a copy of the directory would carry the key; keep it outside (e.g. /run/secrets)`,
      );
    }
  }
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new Error(`${variable}: ${file} can be read by its group or by others (mode ${mode}); make it readable by its owner only: chmod 600 ${file}`);
  }
  if (st.size > MAX_SECRET_FILE_BYTES) throw new Error(`${variable}: ${file} is ${st.size} bytes, too large for a key`);
  return readFileSync(real, 'utf8').trim();
}

/** The KEK from a file: 64 hex characters (32 bytes). Never echoes the content. */
export function readKekFile(variable: string, file: string, config: Pick<Config, 'mode' | 'dataDir'>): Buffer {
  const text = readSecretFile(variable, file, config);
  if (!KEK_PATTERN.test(text)) throw new Error(`${variable}: ${file} must hold the KEK as 64 hex characters (32 bytes), e.g. from openssl rand -hex 32`);
  return Buffer.from(text, 'hex');
}

function readJwtFile(file: string, config: KeyConfig): Buffer {
  const text = readSecretFile('TSERVE_JWT_KEY_FILE', file, config);
  if (!JWT_PATTERN.test(text)) {
    throw new Error(`TSERVE_JWT_KEY_FILE: ${file} must hold at least 32 printable characters without spaces, e.g. from openssl rand -hex 32`);
  }
  // Its text, as TSERVE_JWT_SECRET's: the same secret given either way signs the same tokens.
  return Buffer.from(text);
}

/** The KEK and the JWT key must differ: also caught when one's hex text was given as the other. */
export function sameKey(kek: Buffer, jwtKey: Buffer): boolean {
  return jwtKey.equals(kek) || jwtKey.toString('latin1').toLowerCase() === kek.toString('hex');
}

/**
 * The switch's keys for this configuration, or an Error that says exactly what to set.
 * Production: from TSERVE_KEK / TSERVE_KEK_FILE and TSERVE_JWT_SECRET / TSERVE_JWT_KEY_FILE
 * only. Demo: the same when given, else kek.key / jwt.key in the data directory.
 */
export function loadKeys(config: KeyConfig): SwitchKeys {
  const production = config.mode === 'production';
  const missing: string[] = [];
  if (production && !config.kekHex && !config.kekFile) missing.push(KEYS_HELP[0]!);
  if (production && !config.jwtSecret && !config.jwtKeyFile) missing.push(KEYS_HELP[1]!);
  if (missing.length > 0) {
    throw new Error(
      `production mode (TSERVE_MODE=production) takes its keys from outside the data directory, and some are not set:\n` +
        [...missing, ...KEYS_HELP.slice(2)].map((l) => `  ${l}`).join('\n'),
    );
  }
  if (config.kekFile && config.jwtKeyFile && realpathOrSelf(config.kekFile) === realpathOrSelf(config.jwtKeyFile)) {
    throw new Error('TSERVE_KEK_FILE and TSERVE_JWT_KEY_FILE name the same file: the KEK and the JWT signing key must be two different keys');
  }
  let inDataDir = false;
  const generated = (name: string) => {
    inDataDir = true;
    return loadOrCreateKeyFile(config.dataDir, name);
  };
  const kek = config.kekHex
    ? Buffer.from(config.kekHex, 'hex')
    : config.kekFile
      ? readKekFile('TSERVE_KEK_FILE', config.kekFile, config)
      : generated(KEK_FILE_NAME);
  const jwtKey = config.jwtSecret ? Buffer.from(config.jwtSecret) : config.jwtKeyFile ? readJwtFile(config.jwtKeyFile, config) : generated(JWT_FILE_NAME);
  if (sameKey(kek, jwtKey)) {
    throw new Error('the KEK and the JWT signing key are the same key: generate two (openssl rand -hex 32, twice); whoever holds one must not hold the other');
  }
  return { kek, jwtKey, inDataDir };
}

function realpathOrSelf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/**
 * Production start: a data directory still holding demo-mode key files or the demo
 * credentials is refused (a copy of it would carry the keys, or every demo terminal's
 * TMK and every demo password in clear). Returns the problems; empty when clean.
 */
export function demoLeftovers(dataDir: string): string[] {
  const problems: string[] = [];
  const keys = [KEK_FILE_NAME, JWT_FILE_NAME].filter((f) => existsSync(path.join(dataDir, f)));
  if (keys.length > 0) {
    problems.push(
      `${keys.join(' and ')} in the data directory ${dataDir}: keys of demo mode. Move each to a secret file outside the data directory ` +
        `(TSERVE_KEK_FILE, TSERVE_JWT_KEY_FILE; the KEK must stay the one the terminal keys are sealed under, or run tserve kek rotate), then delete it`,
    );
  }
  if (existsSync(path.join(dataDir, CREDENTIALS_FILE))) {
    problems.push(
      `${CREDENTIALS_FILE} in the data directory ${dataDir}: the demo network's terminal keys and passwords in clear, so this deployment was seeded ` +
        `for a demonstration. Start production on a new data directory and database; delete the file only if no demo terminal or user is left in this database`,
    );
  }
  return problems;
}

/** The line demo mode logs at start: what it keeps where, and that it is not for production. */
export function demoWarning(config: KeyConfig & Pick<Config, 'autoSeed'>): string {
  const generated = [!config.kekHex && !config.kekFile && 'the KEK', !config.jwtSecret && !config.jwtKeyFile && 'the JWT signing key'].filter(Boolean);
  const parts = [
    generated.length > 0 && `${generated.join(' and ')} in ${config.dataDir}, beside the database (${[KEK_FILE_NAME, JWT_FILE_NAME].join(', ')})`,
    config.autoSeed && `demo credentials in clear in ${CREDENTIALS_FILE} when the database is seeded`,
  ].filter(Boolean);
  return `demo mode (TSERVE_MODE=demo): ${parts.length > 0 ? parts.join('; ') : 'demo data and commands allowed'}. Not for production: set TSERVE_MODE=production (docs/keys.md)`;
}
