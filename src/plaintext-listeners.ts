// A listener on an address other hosts can reach, without TLS: what crosses it (JSON
// API secrets and tokens, fiscal codes, field 48 of ISO 8583) can be read on the way.
// The switch still starts (the demo does so on 0.0.0.0), but says so at start and says
// what to configure (docs/tls.md).
import net from 'node:net';
import type { Config } from './config.js';

/** 127.0.0.0/8, ::1 (and IPv4-mapped loopback), localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

export interface PlaintextWarning {
  listener: 'http' | 'iso8583';
  host: string;
  message: string;
}

/** One warning per listener that binds a non-loopback address without TLS. */
export function plaintextListenerWarnings(config: Pick<Config, 'http' | 'iso'>): PlaintextWarning[] {
  const out: PlaintextWarning[] = [];
  if (!config.http.tls && !isLoopback(config.http.host)) {
    out.push({
      listener: 'http',
      host: config.http.host,
      message:
        `HTTP on ${config.http.host} without TLS: API secrets, tokens, passwords and personal data cross the network in clear. ` +
        'Set TSERVE_TLS_CERT and TSERVE_TLS_KEY, or bind TSERVE_HTTP_HOST=127.0.0.1 behind a TLS-terminating proxy (docs/tls.md)',
    });
  }
  if (!config.iso.tls && !isLoopback(config.iso.host)) {
    out.push({
      listener: 'iso8583',
      host: config.iso.host,
      message:
        `ISO 8583 on ${config.iso.host} without TLS: payers' fiscal codes and identifiers cross the network in clear (MACs protect integrity only). ` +
        'Set TSERVE_ISO_TLS_CERT and TSERVE_ISO_TLS_KEY (and TSERVE_ISO_TLS_CLIENT_CA for terminal certificates), or bind TSERVE_ISO_HOST=127.0.0.1 (docs/tls.md)',
    });
  }
  return out;
}
