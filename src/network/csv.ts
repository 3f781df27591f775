// The network as CSV files, one per kind (docs/network.md): reading them into a
// NetworkChange (each item remembering its file and line, so that every problem, the
// format's here and the validation's of src/network/validate.ts, is told as file:line)
// and writing a NetworkState back as the same files. Pure but for nothing: bytes in,
// bytes out; the CLI (src/network-import-cli.ts) does the files and the store.
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { COUNTER_KINDS, type FeeRule } from '../domain/model.js';
import type { NetworkChange, NetworkKind, NetworkProblem, NetworkState } from './change.js';

/** The file of each kind, in the order a network is read and written. */
export const NETWORK_FILES: Readonly<Record<NetworkKind, string>> = {
  entities: 'entities.csv',
  circuitFees: 'circuit-fees.csv',
  services: 'services.csv',
  feeSchedules: 'fee-schedules.csv',
  counters: 'counters.csv',
  terminals: 'terminals.csv',
  users: 'users.csv',
};
export const NETWORK_KINDS = Object.keys(NETWORK_FILES) as NetworkKind[];

/** A problem of a file, at a line (1: the header; 0: the file as a whole). */
export interface FileProblem {
  file: string;
  line: number;
  field?: string;
  message: string;
}

export function formatProblem(p: FileProblem): string {
  return `${p.file}${p.line > 0 ? `:${p.line}` : ''}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

// ---------------------------------------------------------------------------
// Cells: what a CSV cell may hold, one rule per type (spec as data)

const text = z.string().min(1, 'required');
const optionalText = z.string().transform((s) => (s === '' ? null : s));
const BOOLEANS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, si: true, sì: true, '1': true, '0': false };
const bool = z.string().transform((s, ctx) => {
  const v = BOOLEANS[s.toLowerCase()];
  if (v === undefined) ctx.addIssue({ code: 'custom', message: `true or false expected, got "${s}"` });
  return v ?? false;
});
/** Money is integer cents, always: "1,50" or "1.50" is refused rather than guessed at. */
const CENTS_HINT = 'integer cents expected (150 for €1.50), without separators';
function centsOf(s: string, ctx: z.RefinementCtx): number {
  if (/^-?\d+$/.test(s)) return Number(s);
  ctx.addIssue({ code: 'custom', message: `${CENTS_HINT}; got "${s}"` });
  return 0;
}
const cents = z.string().transform(centsOf);
const optionalCents = z.string().transform((s, ctx) => (s === '' ? null : centsOf(s, ctx)));
/** A rate (0.70): decimal point or, as Italian Excel writes it, decimal comma. */
const rate = z.string().transform((s, ctx) => {
  const v = s.replace(',', '.');
  if (!/^\d+(\.\d+)?$/.test(v)) ctx.addIssue({ code: 'custom', message: `a decimal rate expected, e.g. 0.70; got "${s}"` });
  return v;
});
/** YYYY-MM-DD, or DD/MM/YYYY as Italian Excel shows and saves a date it recognised. */
const date = z.string().transform((s, ctx) => {
  const it = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(s);
  const v = it ? `${it[3]}-${it[2]!.padStart(2, '0')}-${it[1]!.padStart(2, '0')}` : s;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)) || new Date(`${v}T00:00:00Z`).toISOString().slice(0, 10) !== v) {
    ctx.addIssue({ code: 'custom', message: `a date YYYY-MM-DD (or DD/MM/YYYY) expected, got "${s}"` });
  }
  return v;
});
const oneOf = <T extends string>(values: readonly T[]) =>
  z.string().refine((s): s is T => (values as readonly string[]).includes(s), { message: `one of ${values.join(', ')} expected` }) as unknown as z.ZodType<T, string>;
const optionalOneOf = <T extends string>(values: readonly T[]) =>
  z.string().transform((s, ctx) => {
    if (s === '') return null;
    if (!(values as readonly string[]).includes(s)) ctx.addIssue({ code: 'custom', message: `one of ${values.join(', ')} or empty expected` });
    return s as T;
  });

/** "5000:100|20000:150|:200": up to 5000 cents the fee is 100, up to 20000 150, above 200. */
const tiers = z.string().transform((s, ctx) => {
  const out: { upToCents: number | null; cents: number }[] = [];
  for (const part of s.split('|')) {
    const m = /^(\d*):(\d+)$/.exec(part.trim());
    if (!m) {
      ctx.addIssue({ code: 'custom', message: `tiers are upToCents:feeCents separated by |, the last open-ended, e.g. 5000:100|20000:150|:200; got "${s}"` });
      return [];
    }
    out.push({ upToCents: m[1] === '' ? null : Number(m[1]), cents: Number(m[2]) });
  }
  return out;
});

// ---------------------------------------------------------------------------
// Rows: the columns of each file and how a row becomes an item of the change

const AMOUNT_KINDS = ['L', 'F', 'C', 'S'] as const;
const IDENTIFIER_KINDS = [
  'notice', 'fine_plate', 'plate', 'plate_vehicle', 'plate_fiscal_code', 'fiscal_code',
  'fiscal_code_year', 'vat_period', 'user_code', 'file_number', 'fine_number',
] as const;

/** Columns of the flattened fee rule (fee-schedules.csv). */
const FeeRow = z.object({
  serviceCode: text,
  counterKind: oneOf(COUNTER_KINDS),
  effectiveFrom: date,
  feeType: oneOf(['fixed', 'percent', 'tiers'] as const),
  feeCents: optionalCents,
  rate: z.string(),
  minCents: optionalCents,
  maxCents: optionalCents,
  tiers: z.string(),
  commissionRate: rate,
  royaltyCents: cents,
});

/** The rule columns each feeType uses; the others must be empty. */
const FEE_COLUMNS = { fixed: ['feeCents'], percent: ['rate', 'minCents', 'maxCents'], tiers: ['tiers'] } as const;
const ALL_FEE_COLUMNS = ['feeCents', 'rate', 'minCents', 'maxCents', 'tiers'] as const;

function feeRule(row: z.infer<typeof FeeRow>, ctx: z.RefinementCtx): FeeRule {
  const used: readonly string[] = FEE_COLUMNS[row.feeType];
  for (const c of ALL_FEE_COLUMNS) {
    const given = row[c] !== null && row[c] !== '';
    if (used.includes(c) && !given) ctx.addIssue({ code: 'custom', path: [c], message: `required for feeType ${row.feeType}` });
    if (!used.includes(c) && given) ctx.addIssue({ code: 'custom', path: [c], message: `not used by feeType ${row.feeType}: leave it empty` });
  }
  /** A sub-format (rate, tiers) checked here, where feeType says it is needed. */
  const sub = <T>(field: string, schema: z.ZodType<T, string>, value: string, fallback: T): T => {
    if (value === '') return fallback;
    const r = schema.safeParse(value);
    if (!r.success) ctx.addIssue({ code: 'custom', path: [field], message: r.error.issues[0]!.message });
    return r.success ? r.data : fallback;
  };
  switch (row.feeType) {
    case 'fixed':
      return { type: 'fixed', cents: row.feeCents ?? 0 };
    case 'percent':
      return { type: 'percent', rate: sub('rate', rate, row.rate, ''), minCents: row.minCents ?? 0, maxCents: row.maxCents ?? 0 };
    case 'tiers':
      return { type: 'tiers', tiers: sub('tiers', tiers, row.tiers, []) };
  }
}

const ROWS = {
  entities: z.object({
    id: text,
    name: text,
    fiscalCode: text,
    vatNumber: optionalText,
    iban: text,
    officeCode: optionalText,
    isCircuitOwner: bool,
    segregationCode: optionalText,
    pagopa: bool,
  }),
  circuitFees: z.object({ entityId: text, effectiveFrom: date, feeCents: cents, mode: oneOf(['netted', 'rebilled'] as const) }),
  services: z.object({
    code: text,
    name: text,
    entityId: text,
    amountKind: oneOf(AMOUNT_KINDS),
    identifierKind: oneOf(IDENTIFIER_KINDS),
    rule: optionalOneOf(['multa', 'bollo'] as const),
    fixedCents: optionalCents,
    minCents: optionalCents,
    maxCents: optionalCents,
    enabled: bool,
  }),
  feeSchedules: FeeRow.transform((row, ctx) => ({
    serviceCode: row.serviceCode,
    counterKind: row.counterKind,
    effectiveFrom: row.effectiveFrom,
    feeRule: feeRule(row, ctx),
    commissionRate: row.commissionRate,
    royaltyCents: row.royaltyCents,
  })),
  counters: z.object({
    id: text,
    kind: oneOf(COUNTER_KINDS),
    name: text,
    address: text,
    town: text,
    iban: text,
    mandateRef: text,
    creditLimitCents: cents,
    status: oneOf(['active', 'suspended'] as const),
  }),
  terminals: z.object({ id: text, counterId: text, status: oneOf(['active', 'blocked'] as const) }),
  users: z.object({ username: text, role: oneOf(['entity', 'finance', 'admin'] as const), entityId: optionalText }),
} satisfies Record<NetworkKind, z.ZodType>;

/** The columns of each file, in the order export writes them. */
const shapes = NETWORK_KINDS.map((k) => [k, (k === 'feeSchedules' ? FeeRow : ROWS[k]).shape as Record<string, z.ZodType>] as const);
export const COLUMNS = Object.fromEntries(shapes.map(([k, shape]) => [k, Object.keys(shape)])) as unknown as Readonly<Record<NetworkKind, readonly string[]>>;

/** What a column left out, or a cell left empty, reads as: empty, but for these. */
const DEFAULTS: Record<string, string> = { enabled: 'true', status: 'active', pagopa: 'false' };
/** A column a file may leave out: one whose empty (or default) value is valid. */
const OPTIONAL_COLUMNS = new Set(shapes.flatMap(([k, shape]) => Object.entries(shape).filter(([c, t]) => t.safeParse(DEFAULTS[c] ?? '').success).map(([c]) => `${k}.${c}`)));

/** fiscal_code, Fiscal Code, fiscalCode → fiscalcode: the header names match whatever their case and separators. */
const headerKey = (s: string) => s.toLowerCase().replace(/[\s_-]/g, '');

// ---------------------------------------------------------------------------
// Reading

/** The text of a file: UTF-8 (BOM dropped), or Windows-1252 when the bytes are not UTF-8 (Excel's "CSV (delimitato dal separatore di elenco)"). */
export function decodeCsv(bytes: Uint8Array): { text: string; encoding: 'utf-8' | 'windows-1252' } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf-8' };
  } catch {
    return { text: new TextDecoder('windows-1252').decode(bytes), encoding: 'windows-1252' };
  }
}

/** Comma, or semicolon (Excel in an Italian locale): whichever the header line has more of. */
export function detectDelimiter(text: string): ',' | ';' {
  const header = text.slice(0, text.search(/\r?\n|$/));
  const count = (c: string) => header.split(c).length - 1;
  return count(';') > count(',') ? ';' : ',';
}

/** The items of one file, each with its line, and the file's problems. */
export interface ReadFile<K extends NetworkKind = NetworkKind> {
  kind: K;
  file: string;
  items: NonNullable<NetworkChange[K]>;
  lines: number[];
  problems: FileProblem[];
  rows: number;
  /** Keys of the rows refused for their format (of the kinds other rows refer to). */
  refusedKeys: Set<string>;
}

/** The kinds other rows refer to, by their key column. */
const REFERENCED = { entities: 'id', services: 'code', counters: 'id' } as const;
/** The reference columns, and the kind each names. */
const REFERENCES: Partial<Record<NetworkKind, Record<string, keyof typeof REFERENCED>>> = {
  circuitFees: { entityId: 'entities' },
  services: { entityId: 'entities' },
  feeSchedules: { serviceCode: 'services' },
  terminals: { counterId: 'counters' },
  users: { entityId: 'entities' },
};

export function readNetworkFile<K extends NetworkKind>(kind: K, file: string, bytes: Uint8Array): ReadFile<K> {
  const out: ReadFile<K> = { kind, file, items: [] as unknown as NonNullable<NetworkChange[K]>, lines: [], problems: [], rows: 0, refusedKeys: new Set() };
  const problem = (line: number, message: string, field?: string) => out.problems.push({ file, line, field, message });
  const { text: content } = decodeCsv(bytes);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(content, { delimiter: detectDelimiter(content), info: true, trim: true, skip_empty_lines: true, relax_column_count: true, bom: true }) as never;
  } catch (err) {
    const e = err as { message: string; lines?: number };
    problem(e.lines ?? 0, `not readable as CSV: ${e.message.replace(/^Invalid Record Length: |^[A-Za-z ]+: /, '')}`);
    return out;
  }
  const [header, ...rows] = records;
  if (!header) {
    problem(0, `empty: a header line is required (${COLUMNS[kind].join(',')})`);
    return out;
  }
  // Map each header cell to a column of the kind.
  const byKey = new Map(COLUMNS[kind].map((c) => [headerKey(c), c]));
  const columns: (string | null)[] = header.record.map((h) => byKey.get(headerKey(h)) ?? null);
  header.record.forEach((h, i) => {
    if (columns[i] === null && h !== '') problem(header.info.lines, `unknown column "${h}"; the columns are ${COLUMNS[kind].join(', ')}`);
    if (columns[i] !== null && columns.indexOf(columns[i]!) !== i) problem(header.info.lines, `column "${h}" given twice`);
  });
  const missing = COLUMNS[kind].filter((c) => !columns.includes(c) && !OPTIONAL_COLUMNS.has(`${kind}.${c}`));
  if (missing.length > 0) problem(header.info.lines, `missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  if (out.problems.length > 0) return out;

  const schema = ROWS[kind] as z.ZodType;
  for (const { record, info } of rows) {
    // Excel saves rows it once formatted as separators alone (";;;;"): blank, skipped.
    if (record.every((c) => c === '')) continue;
    out.rows++;
    const raw: Record<string, string> = {};
    for (const c of COLUMNS[kind]) raw[c] = DEFAULTS[c] ?? '';
    columns.forEach((c, i) => {
      if (c !== null && (record[i] ?? '') !== '') raw[c] = record[i]!;
    });
    const refuse = (): void => void (kind in REFERENCED && out.refusedKeys.add(raw[REFERENCED[kind as keyof typeof REFERENCED]]!));
    if (record.length > header.record.length && record.slice(header.record.length).some((c) => c !== '')) {
      problem(info.lines, `${record.length} fields, the header has ${header.record.length} (a separator inside a value? quote the value)`);
      refuse();
      continue;
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problem(info.lines, issue.message, issue.path.length > 0 ? issue.path.join('.') : undefined);
      refuse();
      continue;
    }
    (out.items as unknown[]).push(parsed.data);
    out.lines.push(info.lines);
  }
  return out;
}

/** A change read from files, and where each of its items came from. */
export interface ReadNetwork {
  change: NetworkChange;
  files: ReadFile[];
  problems: FileProblem[];
}

export function readNetwork(files: { kind: NetworkKind; file: string; bytes: Uint8Array }[]): ReadNetwork {
  const read = files.map((f) => readNetworkFile(f.kind, f.file, f.bytes));
  const change: NetworkChange = {};
  for (const r of read) (change as Record<string, unknown>)[r.kind] = r.items;
  return { change, files: read, problems: read.flatMap((r) => r.problems) };
}

/** A validation problem (an item of the change) told as the file and line it was read from. */
export function locate(read: ReadNetwork, p: NetworkProblem): FileProblem {
  const f = read.files.find((r) => r.kind === p.kind);
  return { file: f?.file ?? NETWORK_FILES[p.kind], line: f?.lines[p.index] ?? 0, field: p.field, message: p.message };
}

/**
 * Whether a validation problem only follows from a row refused for its format (and
 * reported): a reference to an entity, service or counter whose own row was refused;
 * the circuit owner rule when an entity row was.
 */
export function followsFromRefusedRow(read: ReadNetwork, p: NetworkProblem): boolean {
  const refused = (kind: NetworkKind) => read.files.find((f) => f.kind === kind)?.refusedKeys ?? new Set<string>();
  // "One circuit owner" cannot be judged without every entity row.
  if (p.kind === 'entities' && p.field === 'isCircuitOwner' && refused('entities').size > 0) return true;
  const target = p.field ? REFERENCES[p.kind]?.[p.field] : undefined;
  if (!target) return false;
  const value = (read.change[p.kind]?.[p.index] as Record<string, unknown> | undefined)?.[p.field!];
  return typeof value === 'string' && refused(target).has(value);
}

/** Problems in file order, then line order. */
export function sortProblems(problems: FileProblem[]): FileProblem[] {
  const order = (file: string) => NETWORK_KINDS.findIndex((k) => file.endsWith(NETWORK_FILES[k]));
  return [...problems].sort((a, b) => order(a.file) - order(b.file) || a.file.localeCompare(b.file) || a.line - b.line);
}

// ---------------------------------------------------------------------------
// Writing

const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'boolean' ? String(v) : String(v));

/** The rows of each file, sorted by their keys, so that the same network gives the same bytes. */
function rowsOf(state: NetworkState): Record<NetworkKind, object[]> {
  const by = <T>(...keys: ((x: T) => string)[]) => (a: T, b: T) => {
    for (const k of keys) {
      const c = k(a).localeCompare(k(b), 'en');
      if (c !== 0) return c;
    }
    return 0;
  };
  return {
    entities: [...state.entities].sort(by((e) => e.id)),
    circuitFees: [...state.circuitFees].sort(by((f) => f.entityId, (f) => f.effectiveFrom)),
    services: [...state.services].sort(by((s) => s.code)),
    feeSchedules: [...state.feeSchedules]
      .sort(by((f) => f.serviceCode, (f) => f.counterKind, (f) => f.effectiveFrom))
      .map((f) => ({
        serviceCode: f.serviceCode,
        counterKind: f.counterKind,
        effectiveFrom: f.effectiveFrom,
        feeType: f.feeRule.type,
        feeCents: f.feeRule.type === 'fixed' ? f.feeRule.cents : null,
        rate: f.feeRule.type === 'percent' ? f.feeRule.rate : null,
        minCents: f.feeRule.type === 'percent' ? f.feeRule.minCents : null,
        maxCents: f.feeRule.type === 'percent' ? f.feeRule.maxCents : null,
        tiers: f.feeRule.type === 'tiers' ? f.feeRule.tiers.map((t) => `${t.upToCents ?? ''}:${t.cents}`).join('|') : null,
        commissionRate: f.commissionRate,
        royaltyCents: f.royaltyCents,
      })),
    counters: [...state.counters].sort(by((c) => c.id)),
    terminals: [...state.terminals].sort(by((t) => t.id)),
    users: [...state.users].sort(by((u) => u.username)),
  };
}

/**
 * Columns written only when some row holds other than their default: a network that
 * uses nothing of what they add exports the same bytes as before they existed.
 */
const WRITTEN_WHEN_USED: Partial<Record<NetworkKind, readonly string[]>> = { entities: ['pagopa'] };

/** The files of a network: name → content. `bom`: a UTF-8 BOM first, which Excel needs to read accents right. */
export function writeNetwork(state: NetworkState, opts: { delimiter?: ',' | ';'; bom?: boolean } = {}): Map<string, string> {
  const rows = rowsOf(state);
  const out = new Map<string, string>();
  for (const kind of NETWORK_KINDS) {
    const unused = (c: string) => rows[kind].every((r) => cell((r as Record<string, unknown>)[c]) === (DEFAULTS[c] ?? ''));
    const columns = COLUMNS[kind].filter((c) => !WRITTEN_WHEN_USED[kind]?.includes(c) || !unused(c));
    const records = rows[kind].map((r) => columns.map((c) => cell((r as Record<string, unknown>)[c])));
    const csv = stringify([columns as string[], ...records], { delimiter: opts.delimiter ?? ',', record_delimiter: 'unix' });
    out.set(NETWORK_FILES[kind], (opts.bom ? '\ufeff' : '') + csv);
  }
  return out;
}
