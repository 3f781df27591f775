// Terminal keys and the MAC of docs/terminal-protocol §1.7.
//
//   K_signon = HMAC-SHA256(TMK, "tserve-signon-mac")   MACs 0800/001 and its 0810
//   K_wrap   = HMAC-SHA256(TMK, "tserve-key-wrap")     wraps the session key in SK
//   MAC(key, M) = first 8 bytes of HMAC-SHA256(key, M), 16 uppercase hex characters
//
// The session key travels in field 48 `SK` as hex of IV(12) || AES-256-GCM
// ciphertext(32) || tag(16) under K_wrap, with the terminal id as additional data.
// The terminal id used as additional data is the 8 characters of field 41 exactly as
// on the wire, i.e. right-padded with spaces to 8 ('T0001' → 'T0001   '). Both the
// switch and the terminal have that string in hand without any trimming rule; the
// functions below pad a shorter id themselves, so 'T0001' and 'T0001   ' bind the same.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const TMK_BYTES = 32;
export const SESSION_KEY_BYTES = 32;
/** Hex characters of a wrapped session key: (12 + 32 + 16) × 2. */
export const WRAPPED_KEY_HEX_LENGTH = 120;
export const MAC_HEX_LENGTH = 16;

const SIGNON_LABEL = 'tserve-signon-mac';
const WRAP_LABEL = 'tserve-key-wrap';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const TERMINAL_ID_LENGTH = 8;

function assertKey(key: Buffer, bytes: number, what: string): void {
  if (!Buffer.isBuffer(key) || key.length !== bytes) {
    throw new RangeError(`${what} must be ${bytes} bytes, got ${Buffer.isBuffer(key) ? key.length : typeof key}`);
  }
}

function hmac(key: Buffer, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function deriveSignonKey(tmk: Buffer): Buffer {
  assertKey(tmk, TMK_BYTES, 'TMK');
  return hmac(tmk, SIGNON_LABEL);
}

export function deriveWrapKey(tmk: Buffer): Buffer {
  assertKey(tmk, TMK_BYTES, 'TMK');
  return hmac(tmk, WRAP_LABEL);
}

/** MAC over `macInput` (the packed message minus its last 16 bytes): 16 uppercase hex. */
export function computeMac(key: Buffer, macInput: Buffer): string {
  return hmac(key, macInput).subarray(0, MAC_HEX_LENGTH / 2).toString('hex').toUpperCase();
}

/** Timing-safe equality of two MACs as carried on the wire (false if either is malformed). */
export function macEquals(a: string, b: string): boolean {
  if (a.length !== MAC_HEX_LENGTH || b.length !== MAC_HEX_LENGTH) return false;
  return timingSafeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}

export function newSessionKey(): Buffer {
  return randomBytes(SESSION_KEY_BYTES);
}

/** The additional data binding a wrapped key to its terminal: field 41 as on the wire. */
export function terminalIdAad(terminalId: string): Buffer {
  if (terminalId.length > TERMINAL_ID_LENGTH || !/^[\x20-\x7e]*$/.test(terminalId)) {
    throw new RangeError(`terminal id must be at most ${TERMINAL_ID_LENGTH} printable ASCII characters: ${JSON.stringify(terminalId)}`);
  }
  return Buffer.from(terminalId.padEnd(TERMINAL_ID_LENGTH, ' '), 'latin1');
}

/**
 * The `SK` value of an 0810: uppercase hex of IV || ciphertext || tag (120 characters).
 * `iv` is random unless given (only worked examples and tests pass one; an IV must
 * never repeat under one K_wrap).
 */
export function wrapSessionKey(wrapKey: Buffer, terminalId: string, sessionKey: Buffer, iv: Buffer = randomBytes(IV_BYTES)): string {
  assertKey(wrapKey, 32, 'wrap key');
  assertKey(sessionKey, SESSION_KEY_BYTES, 'session key');
  assertKey(iv, IV_BYTES, 'IV');
  const cipher = createCipheriv('aes-256-gcm', wrapKey, iv);
  cipher.setAAD(terminalIdAad(terminalId));
  const ct = Buffer.concat([cipher.update(sessionKey), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('hex').toUpperCase();
}

/**
 * The terminal's side (simulator, tests): recovers the session key from `SK`. Accepts
 * upper- or lowercase hex. Throws if the value is malformed or does not authenticate
 * (wrong key, wrong terminal id, any bit changed).
 */
export function unwrapSessionKey(wrapKey: Buffer, terminalId: string, hex: string): Buffer {
  assertKey(wrapKey, 32, 'wrap key');
  if (hex.length !== WRAPPED_KEY_HEX_LENGTH || !/^[0-9A-Fa-f]+$/.test(hex)) {
    throw new Error(`wrapped session key must be ${WRAPPED_KEY_HEX_LENGTH} hex characters`);
  }
  const raw = Buffer.from(hex, 'hex');
  const decipher = createDecipheriv('aes-256-gcm', wrapKey, raw.subarray(0, IV_BYTES));
  decipher.setAAD(terminalIdAad(terminalId));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new Error('wrapped session key does not authenticate');
  }
}
