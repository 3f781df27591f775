// The switch as seen from its own host: `tserve watch` and the container's health check
// reach its HTTP listener from the configuration it runs with, not from a URL typed
// again (a different port, TLS turned on, would otherwise be missed).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { Config } from '../config.js';

/** A wildcard bind listens on loopback too: that is where a local client goes. */
const WILDCARD_TO_LOOPBACK: Record<string, string> = { '': '127.0.0.1', '0.0.0.0': '127.0.0.1', '::': '::1' };

/** http(s)://host:port of the HTTP listener (https when TLS is on). */
export function localUrl(http: Config['http']): string {
  if (http.port === 0) throw new Error('TSERVE_HTTP_PORT is 0 (any free port): the port cannot be known from the configuration; give the URL');
  const host = WILDCARD_TO_LOOPBACK[http.host] ?? http.host;
  return `${http.tls ? 'https' : 'http'}://${isIP(host) === 6 ? `[${host}]` : host}:${http.port}`;
}

/**
 * TLS options for the switch reached on loopback: trust exactly the certificate it is
 * configured with (the first of TSERVE_TLS_CERT's file). Its chain's CAs are not
 * trusted, so no other certificate they signed passes; and there is no name check,
 * since the certificate names the public name, not 127.0.0.1. Verification stays on.
 * Undefined without TLS.
 */
export function localTrust(http: Config['http']): ConnectionOptions | undefined {
  if (!http.tls) return undefined;
  const configured = new X509Certificate(readFileSync(http.tls.cert));
  return { ca: configured.toString(), allowPartialTrustChain: true, checkServerIdentity: () => undefined };
}
