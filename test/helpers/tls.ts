// Certificates for tests, made at test time with openssl in a temporary directory:
// a throw-away CA, a server certificate for localhost/127.0.0.1 signed by it, and
// client certificates (subject CN = a terminal id) for mutual TLS. Nothing here is
// committed; every key lives one day and dies with the directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A certificate and its private key, as PEM file paths. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** The CA certificate (PEM file) that signed the server's and the clients' certificates. */
  ca: string;
  caPem: Buffer;
  /** The server's certificate: CN=localhost, SAN DNS:localhost and IP:127.0.0.1. */
  server: CertFiles;
  /** A client certificate with subject CN = `cn`, signed by this CA (or by `other`'s). */
  client(cn: string, by?: 'ca' | 'other'): CertFiles;
  /** Another server certificate signed by this CA, naming only `dnsName` (as a public name would: no loopback in it). */
  serverFor(dnsName: string): CertFiles;
  /** Another CA, trusted by no one: its certificates must be refused. */
  otherCa: string;
  close(): void;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(
    ['req', '-x509', ...EC, '-days', '1', '-subj', `/CN=tserve ${name} (tests only)`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', `${name}.key`, '-out', `${name}.pem`],
    dir,
  );
}

function issue(dir: string, name: string, cn: string, ca: string, extensions: string): CertFiles {
  openssl(['req', ...EC, '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tserve-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other');
  const server = issue(dir, 'server', 'localhost', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  let n = 0;
  return {
    dir,
    ca: path.join(dir, 'ca.pem'),
    caPem: readFileSync(path.join(dir, 'ca.pem')),
    otherCa: path.join(dir, 'other.pem'),
    server,
    client(cn, by = 'ca') {
      n += 1;
      return issue(dir, `client${n}`, cn, by, 'extendedKeyUsage=clientAuth\n');
    },
    serverFor(dnsName) {
      n += 1;
      return issue(dir, `server${n}`, dnsName, 'ca', `subjectAltName=DNS:${dnsName}\nextendedKeyUsage=serverAuth\n`);
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
