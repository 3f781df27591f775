// Configuration: environment variables, optionally an env-style file named by
// TSERVE_CONFIG. Everything has a default so that `npm start` runs with none.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { fileDescriptorLimit } from './net/connection-caps.js';
import type { PspClientConfig } from './pagopa/client.js';

const Env = z.object({
  TSERVE_DATA_DIR: z.string().default('./data'),
  TSERVE_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a PostgreSQL URL, postgres://user:password@host:5432/database')
    .optional(),
  TSERVE_PG_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(10),
  TSERVE_HTTP_HOST: z.string().default('0.0.0.0'),
  TSERVE_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  TSERVE_TLS_CERT: z.string().optional(),
  TSERVE_TLS_KEY: z.string().optional(),
  TSERVE_SETTLEMENT_CUTOFF: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, Europe/Rome')
    .default('00:00'),
  TSERVE_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(900).default(900),
  TSERVE_JWT_SECRET: z.string().min(32).optional(),
  TSERVE_KEK: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, '64 hex characters (32 bytes)')
    .optional(),
  // demo: `npm start` as is (keys generated in the data directory, demo network seeded);
  // production: keys only from the environment or secret files outside it, no demo data.
  TSERVE_MODE: z.enum(['demo', 'production']).default('demo'),
  TSERVE_KEK_FILE: z.string().min(1).optional(),
  TSERVE_JWT_KEY_FILE: z.string().min(1).optional(),
  TSERVE_SEED: z.coerce.number().int().default(2000),
  TSERVE_SEED_POSITIONS: z.coerce.number().int().min(0).default(40_000),
  // Default: true in demo mode, false in production (where true is refused).
  TSERVE_AUTO_SEED: z.enum(['true', 'false']).optional(),
  TSERVE_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(120_000),
  TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  TSERVE_LOGIN_LOCK_AFTER: z.coerce.number().int().min(1).default(5),
  TSERVE_LOGIN_LOCK_SECONDS: z.coerce.number().int().min(1).default(60),
  TSERVE_LOGIN_LOCK_MAX_SECONDS: z.coerce.number().int().min(1).default(3600),
  TSERVE_PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(128).default(12),
  // The web console's sessions (docs/console.md): idle expiry, slid by each request, and the absolute cap.
  TSERVE_CONSOLE_IDLE_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(15),
  TSERVE_CONSOLE_MAX_HOURS: z.coerce.number().int().min(1).max(7 * 24).default(8),
  TSERVE_ISO_HOST: z.string().default('0.0.0.0'),
  TSERVE_ISO_PORT: z.coerce.number().int().min(0).max(65535).default(8583),
  TSERVE_ISO_TLS_CERT: z.string().optional(),
  TSERVE_ISO_TLS_KEY: z.string().optional(),
  // Mutual TLS for terminals: a client certificate signed by this CA, its subject CN the terminal id.
  TSERVE_ISO_TLS_CLIENT_CA: z.string().optional(),
  TSERVE_ISO_IDLE_SECONDS: z.coerce.number().int().min(1).default(300),
  TSERVE_ISO_MAX_PENDING: z.coerce.number().int().min(1).default(64),
  // Connection caps (docs/connections.md); unset: derived from the file-descriptor limit.
  TSERVE_ISO_MAX_CONNECTIONS: z.coerce.number().int().min(1).optional(),
  TSERVE_ISO_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).optional(),
  TSERVE_ISO_MAX_UNSIGNED_CONNECTIONS: z.coerce.number().int().min(1).optional(),
  TSERVE_ISO_MAX_UNSIGNED_PER_ADDRESS: z.coerce.number().int().min(1).optional(),
  TSERVE_ISO_SIGNON_TIMEOUT_SECONDS: z.coerce.number().positive().default(10),
  TSERVE_HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).optional(),
  TSERVE_HTTP_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).optional(),
  TSERVE_HTTP_FIRST_REQUEST_TIMEOUT_SECONDS: z.coerce.number().positive().default(10),
  TSERVE_CONNECTIONS_EXEMPT_ADDRESSES: z.string().default('127.0.0.1,::1'),
  TSERVE_OPERATOR_NAME: z.string().min(1).max(70).default('T-Serve Network Operator S.r.l.'),
  TSERVE_OPERATOR_IBAN: z.string().default('IT60X0542811101000000123456'),
  TSERVE_SETTLEMENT_SCHEDULE: z.enum(['true', 'false']).default('true'),
  TSERVE_METRICS_PUBLIC: z.enum(['true', 'false']).default('false'),
  // A Prometheus on another host scrapes /metrics with this bearer token (or the file's first line).
  TSERVE_METRICS_TOKEN: z.string().min(32, 'at least 32 characters (openssl rand -hex 32)').optional(),
  TSERVE_METRICS_TOKEN_FILE: z.string().min(1).optional(),
  TSERVE_EVENT_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
  TSERVE_STREAM_MAX_BUFFER_BYTES: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  TSERVE_STREAM_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).default(30),
  TSERVE_STREAM_MAX_PER_PRINCIPAL: z.coerce.number().int().min(1).default(20),
  // Bulk uploads of debt positions (docs/api.md).
  TSERVE_IMPORT_MAX_BYTES: z.coerce.number().int().min(1024).default(20 * 1024 * 1024),
  TSERVE_IMPORT_MAX_ROWS: z.coerce.number().int().min(1).default(50_000),
  TSERVE_IMPORT_MAX_ERRORS: z.coerce.number().int().min(1).max(10_000).default(100),
  TSERVE_IMPORT_PER_MINUTE: z.coerce.number().int().min(1).default(6),
  // Settlement files (settlement/sepa.ts, settlement/fatturapa.ts).
  TSERVE_SDD_CREDITOR_ID: z
    .string()
    .regex(/^[A-Z]{2}\d{2}[A-Z0-9]{3}[A-Z0-9]{1,28}$/, 'a SEPA creditor identifier, e.g. IT66ZZZA1B2C3D4E5F6G7H8')
    .default('IT66ZZZA1B2C3D4E5F6G7H8'),
  TSERVE_SETTLEMENT_IBAN: z.string().optional(),
  TSERVE_SETTLEMENT_BIC: z
    .string()
    .regex(/^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$/, 'a BIC of 8 or 11 characters')
    .optional(),
  TSERVE_OWNER_VAT_NUMBER: z.string().regex(/^\d{11}$/, '11 digits').default('00337360978'),
  TSERVE_FATTURAPA_CODES: z
    .string()
    .regex(/^([A-Z0-9]+=[A-Z0-9]{6})?(,[A-Z0-9]+=[A-Z0-9]{6})*$/, 'ENTITY=CODE pairs, comma-separated, each code the 6 uppercase letters or digits of the IPA office code, e.g. PISA=UFABC1,PISTOIA=UFXYZ2')
    .default(''),
  // Demo mode only: with no TSERVE_PAGOPA_NODE_URL, start pagoPA's node simulator in the
  // process on loopback and turn the bridge on against it (docs/pagopa.md "The demo").
  // `npm start` and `tserve start` default it to true; unset elsewhere (tests) it is off.
  TSERVE_PAGOPA_DEMO_NODE: z.enum(['true', 'false']).default('false'),
  // pagoPA's node (docs/pagopa.md): unset URL, the bridge is off. Secrets also from *_FILE (first line).
  TSERVE_PAGOPA_NODE_URL: z.string().regex(/^https?:\/\/[^\s]+$/, 'an http(s) URL of the nodeForPsp endpoint').optional(),
  TSERVE_PAGOPA_PSP_ID: z.string().min(1).max(35).optional(),
  TSERVE_PAGOPA_BROKER_ID: z.string().min(1).max(35).optional(),
  TSERVE_PAGOPA_CHANNEL_ID: z.string().min(1).max(35).optional(),
  TSERVE_PAGOPA_PSP_FISCAL_CODE: z.string().regex(/^[a-zA-Z0-9]{2,18}$/, '2..18 letters or digits (the prefix of idempotency keys)').optional(),
  TSERVE_PAGOPA_PASSWORD: z.string().min(8).max(15).optional(),
  TSERVE_PAGOPA_PASSWORD_FILE: z.string().min(1).optional(),
  TSERVE_PAGOPA_SUBSCRIPTION_KEY: z.string().min(1).optional(),
  TSERVE_PAGOPA_SUBSCRIPTION_KEY_FILE: z.string().min(1).optional(),
  TSERVE_PAGOPA_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(8000),
  TSERVE_PAGOPA_TOKEN_EXPIRATION_MS: z.coerce.number().int().min(60_000).max(1_800_000).default(1_800_000),
});

export interface Config {
  dataDir: string;
  dbFile: string;
  /** PostgreSQL instead of the embedded SQLite file: several instances share it. */
  database: { url: string; poolSize: number } | null;
  http: {
    host: string;
    port: number;
    tls: { cert: string; key: string } | null;
    /** Caps in all and per address, and how long a new connection may stay silent. */
    connections: { maxTotal: number; maxPerAddress: number; exemptAddresses: string[] };
    firstRequestTimeoutMs: number;
  };
  iso: {
    host: string;
    port: number;
    /** clientCa: mutual TLS, each connection bound to the terminal its certificate names (docs/tls.md). */
    tls: { cert: string; key: string; clientCa: string | null } | null;
    idleTimeoutMs: number;
    maxPendingPerConnection: number;
    /** Caps in all and per address; "unsigned": connections that have not signed on yet. */
    connections: { maxTotal: number; maxPerAddress: number; maxUnsigned: number; maxUnsignedPerAddress: number; exemptAddresses: string[] };
    signOnTimeoutMs: number;
  };
  settlementCutoff: string;
  /** The network operator: receives its fees by credit transfer at settlement. */
  operator: { name: string; iban: string };
  /** Serve /metrics to any address (default: loopback only). */
  metricsPublic: boolean;
  /** The bearer token with which callers from other hosts may scrape /metrics (null: loopback only). */
  metricsToken: string | null;
  /** Run the nightly settlement inside the server. */
  settlementSchedule: boolean;
  tokenTtlSeconds: number;
  /** demo: keys may be generated in dataDir and the demo network seeded; production: neither (src/auth/keys.ts). */
  mode: 'demo' | 'production';
  /** From the environment, or from a secret file; in demo mode, when neither, the key files in dataDir (created on first start). */
  jwtSecret: string | null;
  kekHex: string | null;
  kekFile: string | null;
  jwtKeyFile: string | null;
  seed: number;
  seedPositions: number;
  autoSeed: boolean;
  rateLimitPerMinute: number;
  authRateLimitPerMinute: number;
  /** Per-account login throttling (src/auth/login-throttle.ts), for users and terminal token requests. */
  loginThrottle: { lockAfter: number; baseLockMs: number; maxLockMs: number };
  /** Shortest new password (src/auth/password-policy.ts). */
  passwordMinLength: number;
  /** The console's cookie sessions (src/auth/session.ts): idle expiry (slid by each request) and the absolute cap. */
  consoleSession: { idleMs: number; maxMs: number };
  stream: { retentionDays: number; maxBufferedBytes: number; heartbeatMs: number; maxConnectionsPerPrincipal: number };
  /**
   * Bulk uploads: bytes and rows (positions of a JSON array, lines of a CSV) one may
   * hold, errors a report lists (it counts them all), uploads per user and minute (and
   * one at a time per entity).
   */
  imports: { maxBytes: number; maxRows: number; maxErrors: number; perMinute: number };
  /**
   * Settlement files. creditorId: the circuit's SEPA creditor identifier for direct
   * debits (pain.008). iban/bic: the circuit's settlement account, debited by the
   * credit transfers and credited by the direct debits (null: the circuit owner's IBAN
   * from the catalogue; no BIC: "NOTPROVIDED", IBAN-only). ownerVatNumber: the owner's
   * partita IVA, for the FatturaPA invoices it issues. invoiceCodes: FatturaPA
   * CodiceDestinatario (IPA office code) per entity id; an entity without one gets no invoice.
   */
  settlementFiles: { creditorId: string; iban: string | null; bic: string | null; ownerVatNumber: string; invoiceCodes: Record<string, string> };
  /** The PSP client of pagoPA's node; null: TSERVE_PAGOPA_NODE_URL unset, the bridge is off. */
  pagopa: PspClientConfig | null;
  /** Demo mode without a node URL: run the node simulator in the process and pay against it. */
  pagopaDemoNode: boolean;
}

/** Parses KEY=VALUE lines (# comments) of the file named by TSERVE_CONFIG. */
function readConfigFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && !line.trimStart().startsWith('#')) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** `defaults`: what a command assumes when neither the environment nor TSERVE_CONFIG says. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, defaults: Record<string, string> = {}): Config {
  const fromFile = env.TSERVE_CONFIG ? readConfigFile(env.TSERVE_CONFIG) : {};
  const parsed = Env.safeParse({ ...defaults, ...fromFile, ...env });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (Boolean(e.TSERVE_TLS_CERT) !== Boolean(e.TSERVE_TLS_KEY) || Boolean(e.TSERVE_ISO_TLS_CERT) !== Boolean(e.TSERVE_ISO_TLS_KEY)) {
    throw new Error('invalid configuration: a TLS certificate and its key go together');
  }
  if (e.TSERVE_ISO_TLS_CLIENT_CA && !e.TSERVE_ISO_TLS_CERT) {
    throw new Error('invalid configuration: TSERVE_ISO_TLS_CLIENT_CA (client certificates) needs TLS on the ISO 8583 listener: set TSERVE_ISO_TLS_CERT and TSERVE_ISO_TLS_KEY');
  }
  if (e.TSERVE_KEK && e.TSERVE_KEK_FILE) throw new Error('invalid configuration: set TSERVE_KEK or TSERVE_KEK_FILE, not both');
  if (e.TSERVE_JWT_SECRET && e.TSERVE_JWT_KEY_FILE) throw new Error('invalid configuration: set TSERVE_JWT_SECRET or TSERVE_JWT_KEY_FILE, not both');
  if (e.TSERVE_MODE === 'production' && e.TSERVE_AUTO_SEED === 'true') {
    throw new Error('invalid configuration: TSERVE_AUTO_SEED=true seeds the demo network, whose keys and passwords are written in clear; production mode never seeds it (unset TSERVE_AUTO_SEED, or use TSERVE_MODE=demo)');
  }
  if (e.TSERVE_CONSOLE_IDLE_MINUTES > e.TSERVE_CONSOLE_MAX_HOURS * 60) {
    throw new Error('invalid configuration: TSERVE_CONSOLE_IDLE_MINUTES is longer than TSERVE_CONSOLE_MAX_HOURS: a session would end at the cap before it could idle out');
  }
  const dataDir = path.resolve(e.TSERVE_DATA_DIR);
  const caps = connectionCaps(e);
  return {
    dataDir,
    dbFile: path.join(dataDir, 'tserve.db'),
    database: e.TSERVE_DATABASE_URL ? { url: e.TSERVE_DATABASE_URL, poolSize: e.TSERVE_PG_POOL_SIZE } : null,
    http: {
      host: e.TSERVE_HTTP_HOST,
      port: e.TSERVE_HTTP_PORT,
      tls: e.TSERVE_TLS_CERT && e.TSERVE_TLS_KEY ? { cert: e.TSERVE_TLS_CERT, key: e.TSERVE_TLS_KEY } : null,
      connections: caps.http,
      firstRequestTimeoutMs: Math.round(e.TSERVE_HTTP_FIRST_REQUEST_TIMEOUT_SECONDS * 1000),
    },
    iso: {
      host: e.TSERVE_ISO_HOST,
      port: e.TSERVE_ISO_PORT,
      tls: e.TSERVE_ISO_TLS_CERT && e.TSERVE_ISO_TLS_KEY ? { cert: e.TSERVE_ISO_TLS_CERT, key: e.TSERVE_ISO_TLS_KEY, clientCa: e.TSERVE_ISO_TLS_CLIENT_CA ?? null } : null,
      idleTimeoutMs: e.TSERVE_ISO_IDLE_SECONDS * 1000,
      maxPendingPerConnection: e.TSERVE_ISO_MAX_PENDING,
      connections: caps.iso,
      signOnTimeoutMs: Math.round(e.TSERVE_ISO_SIGNON_TIMEOUT_SECONDS * 1000),
    },
    settlementCutoff: e.TSERVE_SETTLEMENT_CUTOFF,
    operator: { name: e.TSERVE_OPERATOR_NAME, iban: e.TSERVE_OPERATOR_IBAN.replace(/\s/g, '').toUpperCase() },
    settlementSchedule: e.TSERVE_SETTLEMENT_SCHEDULE === 'true',
    metricsPublic: e.TSERVE_METRICS_PUBLIC === 'true',
    metricsToken: metricsToken(e),
    tokenTtlSeconds: e.TSERVE_TOKEN_TTL_SECONDS,
    mode: e.TSERVE_MODE,
    jwtSecret: e.TSERVE_JWT_SECRET ?? null,
    kekHex: e.TSERVE_KEK ?? null,
    kekFile: e.TSERVE_KEK_FILE ?? null,
    jwtKeyFile: e.TSERVE_JWT_KEY_FILE ?? null,
    seed: e.TSERVE_SEED,
    seedPositions: e.TSERVE_SEED_POSITIONS,
    autoSeed: (e.TSERVE_AUTO_SEED ?? (e.TSERVE_MODE === 'demo' ? 'true' : 'false')) === 'true',
    rateLimitPerMinute: e.TSERVE_RATE_LIMIT_PER_MINUTE,
    authRateLimitPerMinute: e.TSERVE_AUTH_RATE_LIMIT_PER_MINUTE,
    loginThrottle: {
      lockAfter: e.TSERVE_LOGIN_LOCK_AFTER,
      baseLockMs: e.TSERVE_LOGIN_LOCK_SECONDS * 1000,
      maxLockMs: Math.max(e.TSERVE_LOGIN_LOCK_SECONDS, e.TSERVE_LOGIN_LOCK_MAX_SECONDS) * 1000,
    },
    passwordMinLength: e.TSERVE_PASSWORD_MIN_LENGTH,
    consoleSession: { idleMs: e.TSERVE_CONSOLE_IDLE_MINUTES * 60_000, maxMs: e.TSERVE_CONSOLE_MAX_HOURS * 3_600_000 },
    stream: {
      retentionDays: e.TSERVE_EVENT_RETENTION_DAYS,
      maxBufferedBytes: e.TSERVE_STREAM_MAX_BUFFER_BYTES,
      heartbeatMs: e.TSERVE_STREAM_HEARTBEAT_SECONDS * 1000,
      maxConnectionsPerPrincipal: e.TSERVE_STREAM_MAX_PER_PRINCIPAL,
    },
    imports: {
      maxBytes: e.TSERVE_IMPORT_MAX_BYTES,
      maxRows: e.TSERVE_IMPORT_MAX_ROWS,
      maxErrors: e.TSERVE_IMPORT_MAX_ERRORS,
      perMinute: e.TSERVE_IMPORT_PER_MINUTE,
    },
    settlementFiles: {
      creditorId: e.TSERVE_SDD_CREDITOR_ID,
      iban: e.TSERVE_SETTLEMENT_IBAN ? e.TSERVE_SETTLEMENT_IBAN.replace(/\s/g, '').toUpperCase() : null,
      bic: e.TSERVE_SETTLEMENT_BIC ?? null,
      ownerVatNumber: e.TSERVE_OWNER_VAT_NUMBER,
      invoiceCodes: Object.fromEntries(
        e.TSERVE_FATTURAPA_CODES.split(',')
          .filter(Boolean)
          .map((pair) => pair.split('=') as [string, string]),
      ),
    },
    pagopa: pagopaConfig(e),
    pagopaDemoNode: e.TSERVE_MODE === 'demo' && !e.TSERVE_PAGOPA_NODE_URL && e.TSERVE_PAGOPA_DEMO_NODE === 'true',
  };
}

/** TSERVE_METRICS_TOKEN, or the first line of TSERVE_METRICS_TOKEN_FILE (a secret file, as the KEK's); at least 32 characters. */
function metricsToken(e: z.infer<typeof Env>): string | null {
  if (e.TSERVE_METRICS_TOKEN && e.TSERVE_METRICS_TOKEN_FILE) throw new Error('invalid configuration: set TSERVE_METRICS_TOKEN or TSERVE_METRICS_TOKEN_FILE, not both');
  if (!e.TSERVE_METRICS_TOKEN_FILE) return e.TSERVE_METRICS_TOKEN ?? null;
  const token = (readFileSync(e.TSERVE_METRICS_TOKEN_FILE, 'utf8').split(/\r?\n/)[0] ?? '').trim();
  if (token.length < 32) throw new Error('invalid configuration: TSERVE_METRICS_TOKEN_FILE: the token must be at least 32 characters (openssl rand -hex 32)');
  return token;
}

/** The PSP's identity on pagoPA's node, all of it or none (no URL: the bridge is off). */
function pagopaConfig(e: z.infer<typeof Env>): PspClientConfig | null {
  if (!e.TSERVE_PAGOPA_NODE_URL) return null;
  const secret = (name: string, value: string | undefined, file: string | undefined): string | undefined => {
    if (value && file) throw new Error(`invalid configuration: set ${name} or ${name}_FILE, not both`);
    return file ? (readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '').trim() : value;
  };
  const password = secret('TSERVE_PAGOPA_PASSWORD', e.TSERVE_PAGOPA_PASSWORD, e.TSERVE_PAGOPA_PASSWORD_FILE);
  const subscriptionKey = secret('TSERVE_PAGOPA_SUBSCRIPTION_KEY', e.TSERVE_PAGOPA_SUBSCRIPTION_KEY, e.TSERVE_PAGOPA_SUBSCRIPTION_KEY_FILE);
  const missing = [
    ['TSERVE_PAGOPA_PSP_ID', e.TSERVE_PAGOPA_PSP_ID],
    ['TSERVE_PAGOPA_BROKER_ID', e.TSERVE_PAGOPA_BROKER_ID],
    ['TSERVE_PAGOPA_CHANNEL_ID', e.TSERVE_PAGOPA_CHANNEL_ID],
    ['TSERVE_PAGOPA_PSP_FISCAL_CODE', e.TSERVE_PAGOPA_PSP_FISCAL_CODE],
    ['TSERVE_PAGOPA_PASSWORD', password],
    ['TSERVE_PAGOPA_SUBSCRIPTION_KEY', subscriptionKey],
  ].filter(([, v]) => !v).map(([name]) => name);
  if (missing.length > 0) throw new Error(`invalid configuration: TSERVE_PAGOPA_NODE_URL is set, so set also ${missing.join(', ')}`);
  if (password!.length < 8 || password!.length > 15) throw new Error('invalid configuration: TSERVE_PAGOPA_PASSWORD(_FILE): the node takes 8..15 characters');
  // The PSP's password and subscription key travel in every request: never in clear outside a test bench.
  if (e.TSERVE_MODE === 'production' && !e.TSERVE_PAGOPA_NODE_URL.startsWith('https://')) {
    throw new Error('invalid configuration: TSERVE_PAGOPA_NODE_URL must be https:// in production mode');
  }
  return {
    nodeUrl: e.TSERVE_PAGOPA_NODE_URL,
    identity: {
      idPSP: e.TSERVE_PAGOPA_PSP_ID!,
      idBrokerPSP: e.TSERVE_PAGOPA_BROKER_ID!,
      idChannel: e.TSERVE_PAGOPA_CHANNEL_ID!,
      password: password!,
      subscriptionKey: subscriptionKey!,
    },
    pspFiscalCode: e.TSERVE_PAGOPA_PSP_FISCAL_CODE!,
    timeoutMs: e.TSERVE_PAGOPA_TIMEOUT_MS,
    tokenExpirationMs: e.TSERVE_PAGOPA_TOKEN_EXPIRATION_MS,
  };
}

/**
 * Connection caps. Unset, each listener may hold up to 4,096 connections (a network of
 * a few hundred counters uses ~500), but never more than 40% of the process's
 * file-descriptor limit, so that both listeners together leave a fifth of it to the
 * database, log and key files. Connections not signed on yet: a quarter of the ISO total.
 */
function connectionCaps(e: z.infer<typeof Env>, fdLimit = fileDescriptorLimit()) {
  const budget = fdLimit === null ? 4096 : Math.max(16, Math.floor(fdLimit * 0.4));
  const isoTotal = e.TSERVE_ISO_MAX_CONNECTIONS ?? Math.min(4096, budget);
  const isoUnsigned = e.TSERVE_ISO_MAX_UNSIGNED_CONNECTIONS ?? Math.max(1, Math.floor(isoTotal / 4));
  const httpTotal = e.TSERVE_HTTP_MAX_CONNECTIONS ?? Math.min(4096, budget);
  // Loopback by default: a local reverse proxy, the simulator, a benchmark (the totals still apply).
  const exemptAddresses = e.TSERVE_CONNECTIONS_EXEMPT_ADDRESSES.split(',').map((a) => a.trim()).filter(Boolean);
  const notIp = exemptAddresses.filter((a) => isIP(a) === 0);
  if (notIp.length > 0) throw new Error(`invalid configuration: TSERVE_CONNECTIONS_EXEMPT_ADDRESSES: not an IP address: ${notIp.join(', ')}`);
  const iso = {
    maxTotal: isoTotal,
    maxPerAddress: e.TSERVE_ISO_MAX_CONNECTIONS_PER_ADDRESS ?? Math.min(512, isoTotal),
    maxUnsigned: isoUnsigned,
    maxUnsignedPerAddress: e.TSERVE_ISO_MAX_UNSIGNED_PER_ADDRESS ?? Math.min(32, isoUnsigned),
    exemptAddresses,
  };
  const http = { maxTotal: httpTotal, maxPerAddress: e.TSERVE_HTTP_MAX_CONNECTIONS_PER_ADDRESS ?? Math.min(256, httpTotal), exemptAddresses };
  if (iso.maxUnsigned > iso.maxTotal) throw new Error('invalid configuration: TSERVE_ISO_MAX_UNSIGNED_CONNECTIONS is above TSERVE_ISO_MAX_CONNECTIONS');
  if (iso.maxPerAddress > iso.maxTotal || http.maxPerAddress > http.maxTotal) throw new Error('invalid configuration: a per-address connection cap is above its total');
  return { iso, http };
}
