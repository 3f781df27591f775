// TLS on the ISO 8583 listener (docs/tls.md). The contract asks for TLS with the same
// framing (terminal-protocol.md §1.1); mutual TLS is an extension a deployment turns
// on (TSERVE_ISO_TLS_CLIENT_CA): then every connection presents a certificate signed
// by that CA, and the terminal id its subject CN names is the only one the connection
// may speak for. Terminals without it keep working wherever it is off.
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import type tls from 'node:tls';

export interface IsoTlsFiles {
  cert: string;
  key: string;
  /** The CA of terminals' client certificates: mutual TLS when set. */
  clientCa?: string | null;
}

/** Options of tls.createServer for the listener: the server's certificate, and client certificates required when a client CA is given. */
export function isoTlsServerOptions(files: IsoTlsFiles): tls.TlsOptions {
  const base = { cert: readFileSync(files.cert), key: readFileSync(files.key) };
  if (!files.clientCa) return base;
  // rejectUnauthorized: a connection without a certificate, or with one the CA did not
  // sign (or expired), never completes its handshake; no frame of it is read.
  return { ...base, ca: readFileSync(files.clientCa), requestCert: true, rejectUnauthorized: true };
}

/**
 * The terminal id a connection's client certificate names (its subject CN), or ''
 * when it names none. Only for connections of a listener that requires client
 * certificates (the handshake has checked the chain by then).
 */
export function certifiedTerminal(socket: net.Socket): string {
  const cert = (socket as tls.TLSSocket).getPeerCertificate?.();
  const cn = cert?.subject?.CN;
  // A subject with several CNs comes as an array: no single terminal, so none.
  return typeof cn === 'string' ? cn : '';
}
