// What-if, for the bench only (`npm run bench -- --whatif-jwt`): the server's
// jsonwebtoken calls get the HMAC secret as a KeyObject made once, instead of a Buffer.
// With a Buffer, jsonwebtoken first tries crypto.createPublicKey(secret) on every
// verify (and createPrivateKey on every sign), which fails, slowly, inside OpenSSL's
// decoders, before it falls back to createSecretKey. Preloaded with --import; src/ is
// unchanged.
import { Buffer } from 'node:buffer';
import { createSecretKey } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const jwt = require('jsonwebtoken');
const keys = new WeakMap();
const keyOf = (secret) => {
  if (!Buffer.isBuffer(secret)) return secret;
  let k = keys.get(secret);
  if (!k) {
    k = createSecretKey(secret);
    keys.set(secret, k);
  }
  return k;
};
const { verify, sign } = jwt;
jwt.verify = (token, secret, ...rest) => verify(token, keyOf(secret), ...rest);
jwt.sign = (payload, secret, ...rest) => sign(payload, keyOf(secret), ...rest);
