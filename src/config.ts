// Configuration: environment variables, optionally an env-style file named by
// TSERVE_CONFIG. Everything has a default so that `npm start` runs with none.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

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
  TSERVE_SEED: z.coerce.number().int().default(2000),
  TSERVE_SEED_POSITIONS: z.coerce.number().int().min(0).default(40_000),
  TSERVE_AUTO_SEED: z.enum(['true', 'false']).default('true'),
  TSERVE_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(120_000),
  TSERVE_AUTH_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  TSERVE_ISO_HOST: z.string().default('0.0.0.0'),
  TSERVE_ISO_PORT: z.coerce.number().int().min(0).max(65535).default(8583),
  TSERVE_ISO_TLS_CERT: z.string().optional(),
  TSERVE_ISO_TLS_KEY: z.string().optional(),
  TSERVE_ISO_IDLE_SECONDS: z.coerce.number().int().min(1).default(300),
  TSERVE_ISO_MAX_PENDING: z.coerce.number().int().min(1).default(64),
  TSERVE_OPERATOR_NAME: z.string().min(1).max(70).default('T-Serve Network Operator S.r.l.'),
  TSERVE_OPERATOR_IBAN: z.string().default('IT60X0542811101000000123456'),
  TSERVE_SETTLEMENT_SCHEDULE: z.enum(['true', 'false']).default('true'),
  TSERVE_METRICS_PUBLIC: z.enum(['true', 'false']).default('false'),
  TSERVE_EVENT_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
  TSERVE_STREAM_MAX_BUFFER_BYTES: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  TSERVE_STREAM_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).default(30),
  TSERVE_STREAM_MAX_PER_PRINCIPAL: z.coerce.number().int().min(1).default(20),
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
});

export interface Config {
  dataDir: string;
  dbFile: string;
  /** PostgreSQL instead of the embedded SQLite file: several instances share it. */
  database: { url: string; poolSize: number } | null;
  http: { host: string; port: number; tls: { cert: string; key: string } | null };
  iso: { host: string; port: number; tls: { cert: string; key: string } | null; idleTimeoutMs: number; maxPendingPerConnection: number };
  settlementCutoff: string;
  /** The network operator: receives its fees by credit transfer at settlement. */
  operator: { name: string; iban: string };
  /** Serve /metrics to any address (default: loopback only). */
  metricsPublic: boolean;
  /** Run the nightly settlement inside the server. */
  settlementSchedule: boolean;
  tokenTtlSeconds: number;
  /** From the environment; when absent the key files in dataDir are used (created on first start). */
  jwtSecret: string | null;
  kekHex: string | null;
  seed: number;
  seedPositions: number;
  autoSeed: boolean;
  rateLimitPerMinute: number;
  authRateLimitPerMinute: number;
  stream: { retentionDays: number; maxBufferedBytes: number; heartbeatMs: number; maxConnectionsPerPrincipal: number };
  /**
   * Settlement files. creditorId: the circuit's SEPA creditor identifier for direct
   * debits (pain.008). iban/bic: the circuit's settlement account, debited by the
   * credit transfers and credited by the direct debits (null: the circuit owner's IBAN
   * from the catalogue; no BIC: "NOTPROVIDED", IBAN-only). ownerVatNumber: the owner's
   * partita IVA, for the FatturaPA invoices it issues. invoiceCodes: FatturaPA
   * CodiceDestinatario (IPA office code) per entity id; an entity without one gets no invoice.
   */
  settlementFiles: { creditorId: string; iban: string | null; bic: string | null; ownerVatNumber: string; invoiceCodes: Record<string, string> };
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const fromFile = env.TSERVE_CONFIG ? readConfigFile(env.TSERVE_CONFIG) : {};
  const parsed = Env.safeParse({ ...fromFile, ...env });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (Boolean(e.TSERVE_TLS_CERT) !== Boolean(e.TSERVE_TLS_KEY) || Boolean(e.TSERVE_ISO_TLS_CERT) !== Boolean(e.TSERVE_ISO_TLS_KEY)) {
    throw new Error('invalid configuration: a TLS certificate and its key go together');
  }
  const dataDir = path.resolve(e.TSERVE_DATA_DIR);
  return {
    dataDir,
    dbFile: path.join(dataDir, 'tserve.db'),
    database: e.TSERVE_DATABASE_URL ? { url: e.TSERVE_DATABASE_URL, poolSize: e.TSERVE_PG_POOL_SIZE } : null,
    http: {
      host: e.TSERVE_HTTP_HOST,
      port: e.TSERVE_HTTP_PORT,
      tls: e.TSERVE_TLS_CERT && e.TSERVE_TLS_KEY ? { cert: e.TSERVE_TLS_CERT, key: e.TSERVE_TLS_KEY } : null,
    },
    iso: {
      host: e.TSERVE_ISO_HOST,
      port: e.TSERVE_ISO_PORT,
      tls: e.TSERVE_ISO_TLS_CERT && e.TSERVE_ISO_TLS_KEY ? { cert: e.TSERVE_ISO_TLS_CERT, key: e.TSERVE_ISO_TLS_KEY } : null,
      idleTimeoutMs: e.TSERVE_ISO_IDLE_SECONDS * 1000,
      maxPendingPerConnection: e.TSERVE_ISO_MAX_PENDING,
    },
    settlementCutoff: e.TSERVE_SETTLEMENT_CUTOFF,
    operator: { name: e.TSERVE_OPERATOR_NAME, iban: e.TSERVE_OPERATOR_IBAN.replace(/\s/g, '').toUpperCase() },
    settlementSchedule: e.TSERVE_SETTLEMENT_SCHEDULE === 'true',
    metricsPublic: e.TSERVE_METRICS_PUBLIC === 'true',
    tokenTtlSeconds: e.TSERVE_TOKEN_TTL_SECONDS,
    jwtSecret: e.TSERVE_JWT_SECRET ?? null,
    kekHex: e.TSERVE_KEK ?? null,
    seed: e.TSERVE_SEED,
    seedPositions: e.TSERVE_SEED_POSITIONS,
    autoSeed: e.TSERVE_AUTO_SEED === 'true',
    rateLimitPerMinute: e.TSERVE_RATE_LIMIT_PER_MINUTE,
    authRateLimitPerMinute: e.TSERVE_AUTH_RATE_LIMIT_PER_MINUTE,
    stream: {
      retentionDays: e.TSERVE_EVENT_RETENTION_DAYS,
      maxBufferedBytes: e.TSERVE_STREAM_MAX_BUFFER_BYTES,
      heartbeatMs: e.TSERVE_STREAM_HEARTBEAT_SECONDS * 1000,
      maxConnectionsPerPrincipal: e.TSERVE_STREAM_MAX_PER_PRINCIPAL,
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
  };
}
