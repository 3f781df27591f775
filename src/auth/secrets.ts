// Hashing of passwords and client secrets (scrypt), and encryption of terminal
// master keys at rest (AES-256-GCM under the switch's key-encryption key).
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * scrypt costs. Passwords are low-entropy and get the full cost; terminal secrets are
 * 256-bit random keys that no one can guess, so a light cost is enough and keeps the
 * seeding of hundreds of terminals fast.
 */
export const PASSWORD_COST = { N: 1 << 15, r: 8, p: 1 } as const;
export const KEY_COST = { N: 1 << 10, r: 8, p: 1 } as const;
type Cost = { N: number; r: number; p: number };

function scryptAsync(secret: string, salt: Buffer, cost: Cost): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, 32, { ...cost, maxmem: 128 * cost.N * cost.r * 2 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/**
 * A terminal's JSON API secret (terminal-protocol.md §2): 32 random bytes in base64url,
 * 43 characters. Never the TMK nor derived from it, and never mistaken for one (a TMK is
 * 64 hex characters).
 */
export const API_SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function newApiSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The secret_hash of a terminal without an API secret: one provisioned before API
 * secrets were apart from the TMK (its old hash, of the TMK, is erased at upgrade) until
 * an admin issues one. verifySecret never accepts anything against it.
 */
export const NO_API_SECRET = '';

/**
 * A short fingerprint of a terminal's API secret hash, carried in its tokens (`sv`): a
 * token issued before the secret was rotated no longer matches and is refused. The hash's
 * salt is random, so each issued secret has its own fingerprint.
 */
export function secretVersion(secretHash: string): string {
  return createHash('sha256').update(secretHash).digest('base64url').slice(0, 12);
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64. */
export async function hashSecret(secret: string, cost: Cost = PASSWORD_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, cost);
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, N, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64');
  const key = await scryptAsync(secret, Buffer.from(salt, 'base64'), { N: +N, r: +r, p: +p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/**
 * Reads a hex key from the data directory, creating it (mode 0600) on first use.
 * Used for the key-encryption key and the JWT signing key when the configuration
 * does not supply them.
 */
export function loadOrCreateKeyFile(dataDir: string, name: string, bytes = 32): Buffer {
  const file = path.join(dataDir, name);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(bytes).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  if (key.length !== bytes) throw new Error(`${file} must hold ${bytes} bytes in hex`);
  return key;
}

/** Encrypts a TMK under the KEK; the terminal id is bound in as additional data. */
export function sealTmk(kek: Buffer, terminalId: string, tmk: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(terminalId));
  const ct = Buffer.concat([cipher.update(tmk), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64');
}

export function openTmk(kek: Buffer, terminalId: string, sealed: string): Buffer {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', kek, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(terminalId));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]);
}
