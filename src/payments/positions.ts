// Debt positions published by entities (domain.md §6): the rules that make a position
// acceptable before the store takes it, and the use-cases of the entity API (publish
// one or many, from JSON or a CSV upload, all or nothing with a per-row report; list,
// read, cancel). src/http/entity-api.ts decodes, authorises, calls one of them, encodes.
import { parse as parseCsv } from 'csv-parse/sync';
import { webcrypto } from 'node:crypto';
import { checkNoticeNumber } from '../domain/notice.js';
import type { DebtPositionInputT } from './inputs.js';
import type { ImportJob } from './import-check.js';
import { ImportPool } from './import-pool.js';
import type { DebtPositionView, NewPosition, Store } from '../store/types.js';
import { PaymentError, type ErrorCode } from './errors.js';
import type { Payments } from './service.js';
import type { Entity, Service } from '../domain/model.js';

const FISCAL_CODE_FORMAT = /^([A-Z0-9]{16}|\d{11})$/;

/** Positions checked between two turns of the event loop (publishing one by one; uploads are checked on the import worker). */
const SLICE = 1000;
const nextTurn = () => new Promise((r) => setImmediate(r));

export interface PositionError {
  code: ErrorCode;
  detail: string;
  /** Index of the payment option at fault, when one is. */
  option?: number;
}

/** What the rules read of the catalogue: Payments on the main thread, a copy in the import worker. */
export interface RuleCatalogue {
  entity(id: string): Entity | undefined;
  service(code: string): Service | undefined;
}

export function positionRowErrors(input: DebtPositionInputT, entityId: string, payments: RuleCatalogue): PositionError[] {
  const errors: PositionError[] = [];
  const err = (code: ErrorCode, detail: string, option?: number) => errors.push({ code, detail, ...(option === undefined ? {} : { option }) });
  const entity = payments.entity(entityId);
  if (!entity) return [{ code: 'NOT_FOUND', detail: `unknown entity ${entityId}` }];
  const service = payments.service(input.service.toUpperCase());
  if (!service) return [{ code: 'SERVICE_UNKNOWN', detail: `unknown service ${input.service}` }];
  if (service.entityId !== entityId) err('FORBIDDEN', `service ${service.code} belongs to ${service.entityId}, not ${entityId}`);
  if (service.amountKind !== 'L') err('UNSUPPORTED', `service ${service.code} is not paid against debt positions (amount kind ${service.amountKind})`);
  // Format only: entities' data in the wild often fails the check character (domain.md §4.3).
  if (!FISCAL_CODE_FORMAT.test(input.debtorFiscalCode.toUpperCase())) err('INVALID_FISCAL_CODE', 'debtorFiscalCode must be 16 letters/digits or 11 digits');
  const needsLookup = service.identifierKind !== 'notice' && service.identifierKind !== 'fine_plate';
  input.options.forEach((o, i) => {
    const where = `option ${i + 1}`;
    const n = checkNoticeNumber(o.noticeNumber);
    if (!n.ok) err('INVALID_NOTICE_NUMBER', `${where}: ${n.reason}`, i);
    else if (n.auxDigit === 3 && entity.segregationCode && n.notice.slice(1, 3) !== entity.segregationCode) {
      err('INVALID_NOTICE_NUMBER', `${where}: segregation code ${n.notice.slice(1, 3)} is not ${entityId}'s (${entity.segregationCode})`, i);
    }
    if (needsLookup && !o.lookupKey) err('FORMAT', `${where}: lookupKey is required for ${service.code} (identified by ${service.identifierKind})`, i);
    if (o.kind === 'instalment' && o.instalmentNo === undefined) err('FORMAT', `${where}: instalmentNo is required for an instalment`, i);
    if ((o.ruleParams?.rule ?? null) !== service.rule) {
      err('FORMAT', service.rule ? `${where}: ruleParams for rule '${service.rule}' are required` : `${where}: ${service.code} takes no ruleParams`, i);
    }
  });
  return errors;
}

export function toNewPosition(input: DebtPositionInputT, entityId: string): NewPosition {
  return {
    entityId,
    serviceCode: input.service.toUpperCase(),
    externalRef: input.externalRef,
    debtorCf: input.debtorFiscalCode.toUpperCase(),
    debtorName: input.debtorName ?? null,
    description: input.description,
    validUntil: input.validUntil ?? null,
    options: input.options.map((o) => ({
      noticeNumber: o.noticeNumber.replace(/\s/g, ''),
      lookupKey: o.lookupKey?.toUpperCase() ?? null,
      kind: o.kind,
      instalmentNo: o.instalmentNo ?? null,
      amountCents: o.amount,
      dueDate: o.dueDate,
      description: o.description,
      ruleParams: o.ruleParams ?? null,
    })),
  };
}

// ---------------------------------------------------------------------------
// Publishing, reading and cancelling positions (the entity API's use-cases)

/** Who acts: the audit name, and the entity an entity user is confined to (null: admin, for any entity it names). */
export interface PositionsActor {
  name: string;
  entityId: string | null;
}

/** A refused row of an upload: the CSV line (header is line 1) or the JSON array index. */
export interface RowError {
  row: number;
  code: ErrorCode;
  detail: string;
}

/** Longest `detail` of one row error: a report is bounded by maxErrors times this. */
export const MAX_DETAIL_CHARS = 300;

/** The first `max` errors and the count of all: what every bulk report carries, whatever the upload holds. */
export class CappedErrors {
  readonly errors: RowError[] = [];
  count = 0;
  constructor(private readonly max: number) {}
  add(e: RowError): void {
    this.count += 1;
    if (this.errors.length < this.max) this.errors.push({ ...e, detail: e.detail.length > MAX_DETAIL_CHARS ? `${e.detail.slice(0, MAX_DETAIL_CHARS - 1)}…` : e.detail });
  }
}

/** All or nothing: every position created, or none with the reason of each refused row. */
export type PublishReport =
  | { outcome: 'created'; created: number; ids: number[] }
  /**
   * A row breaks the rules (422), or the store refuses rows (a notice number taken: 409).
   * `errors` holds the first `maxErrors` of them, `errorCount` how many there are in all.
   */
  | { outcome: 'invalid' | 'conflict'; created: 0; errors: RowError[]; errorCount: number };

/** An upload as received: its bytes, before any parsing. */
export interface Upload {
  bytes: Uint8Array;
  csv: boolean;
  /** ?entityId= of a CSV upload (an admin names the entity its rows are for). */
  entityId?: string;
}

export interface ImportLimits {
  /** Rows an upload may hold: positions of a JSON array, lines of a CSV. */
  maxRows: number;
  /** Errors a report lists; it counts them all. */
  maxErrors: number;
}

/** CSV columns of a bulk upload: one row per payment option; rows with the same externalRef form one position. */
export const CSV_COLUMNS = [
  'externalRef', 'service', 'debtorFiscalCode', 'debtorName', 'description', 'validUntil',
  'noticeNumber', 'lookupKey', 'kind', 'instalmentNo', 'amount', 'dueDate', 'optionDescription',
] as const;
const OPTIONAL_CSV_COLUMNS: readonly string[] = ['debtorName', 'validUntil', 'lookupKey', 'kind', 'instalmentNo', 'optionDescription'];

/** Where each position and each of its options came from: CSV line numbers (null: JSON, by array index). */
export type Origins = { line: number; options: number[] }[] | null;

export function rowOf(origins: Origins, position: number, option?: number): number {
  if (!origins) return position;
  const o = origins[position];
  if (!o) return -1;
  return option === undefined ? o.line : (o.options[option] ?? o.line);
}

/** Groups CSV rows into position inputs (not yet validated), remembering each one's lines. */
export function csvToPositions(text: string, entityId: string | undefined): { positions: unknown[]; origins: NonNullable<Origins>; lines: number } {
  let records: Record<string, string>[];
  try {
    records = parseCsv(text, { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Record<string, string>[];
  } catch (err) {
    throw new PaymentError('FORMAT', `CSV: ${(err as Error).message}`);
  }
  const missing = CSV_COLUMNS.filter((c) => !OPTIONAL_CSV_COLUMNS.includes(c)).filter((c) => records.length > 0 && !(c in records[0]!));
  if (missing.length > 0) throw new PaymentError('FORMAT', `CSV: missing columns ${missing.join(', ')}; expected ${CSV_COLUMNS.join(',')}`);
  const byRef = new Map<string, { position: Record<string, unknown>; line: number; options: number[] }>();
  records.forEach((rec, i) => {
    const opt = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
    const num = (v: string | undefined) => (opt(v) === undefined ? undefined : /^\d+$/.test(v!) ? Number(v) : v);
    let entry = byRef.get(rec.externalRef ?? '');
    if (!entry) {
      entry = {
        line: i + 2, // header is line 1
        options: [],
        position: {
          ...(entityId ? { entityId } : {}),
          service: rec.service,
          externalRef: rec.externalRef,
          debtorFiscalCode: rec.debtorFiscalCode,
          debtorName: opt(rec.debtorName),
          description: rec.description,
          validUntil: opt(rec.validUntil),
          options: [],
        },
      };
      byRef.set(rec.externalRef ?? '', entry);
    }
    entry.options.push(i + 2);
    (entry.position.options as unknown[]).push({
      noticeNumber: rec.noticeNumber,
      lookupKey: opt(rec.lookupKey),
      kind: opt(rec.kind),
      instalmentNo: num(rec.instalmentNo),
      amount: num(rec.amount),
      dueDate: rec.dueDate,
      description: opt(rec.optionDescription) ?? rec.description,
    });
  });
  const entries = [...byRef.values()];
  return { positions: entries.map((e) => e.position), origins: entries.map((e) => ({ line: e.line, options: e.options })), lines: records.length };
}

export class DebtPositions {
  /** Parses and checks uploads off the event loop. */
  private readonly pool = new ImportPool();

  constructor(
    private readonly store: Store,
    /** The catalogue the rules check services and entities against. */
    private readonly payments: Payments,
    private readonly limits: ImportLimits = { maxRows: 50_000, maxErrors: 100 },
  ) {}

  /** The entity an actor acts for: an entity user its own only; admin the one it names. */
  private actingEntity(actor: PositionsActor, named: string | undefined): string {
    if (actor.entityId !== null) {
      if (named !== undefined && named !== actor.entityId) throw new PaymentError('FORBIDDEN', 'an entity acts only for itself');
      return actor.entityId;
    }
    if (!named) throw new PaymentError('FORMAT', 'entityId is required');
    return named;
  }

  private async publish(inputs: DebtPositionInputT[], actor: PositionsActor, origins: Origins): Promise<PublishReport> {
    const rows = inputs.map((input) => ({ input, entityId: this.actingEntity(actor, input.entityId) }));
    const errors: (RowError & { row: number })[] = [];
    for (let from = 0; from < rows.length; from += SLICE) {
      // A large upload is checked a slice at a time, so payments are served in between.
      if (from > 0) await nextTurn();
      rows.slice(from, from + SLICE).forEach(({ input, entityId }, k) => {
        for (const { option, ...e } of positionRowErrors(input, entityId, this.payments)) errors.push({ row: rowOf(origins, from + k, option), ...e });
      });
    }
    if (errors.length > 0) return { outcome: 'invalid', created: 0, errors, errorCount: errors.length };
    const result = await this.store.createPositions(rows.map(({ input, entityId }) => toNewPosition(input, entityId)), actor.name);
    if ('errors' in result) return { outcome: 'conflict', created: 0, errors: result.errors.map((e) => ({ ...e, row: rowOf(origins, e.row) })), errorCount: result.errors.length };
    return { outcome: 'created', created: result.ids.length, ids: result.ids };
  }

  /** Publish one position: the position as stored, or the reasons it was refused (the first one leads). */
  async publishOne(input: DebtPositionInputT, actor: PositionsActor): Promise<{ position: DebtPositionView } | { errors: RowError[] }> {
    const report = await this.publish([input], actor, null);
    if (report.outcome !== 'created') return { errors: report.errors };
    return { position: (await this.store.getPosition(report.ids[0]!))! };
  }

  /**
   * Publish many positions, all or nothing: a JSON array of positions, or CSV text with
   * one row per option (its rows name no entity: an admin names it as `entityId`).
   * Rows that fail the schema or the rules are reported by CSV line or array index.
   * A file this entity imported already is refused at once (DUPLICATE) from its SHA-256,
   * before anything is parsed; parsing and checking run on the import worker's thread.
   */
  async publishBulk(upload: Upload, actor: PositionsActor): Promise<PublishReport> {
    const scope = actor.entityId ?? `admin:${upload.entityId ?? '*'}`;
    const sha256 = Buffer.from(await webcrypto.subtle.digest('SHA-256', upload.bytes)).toString('hex');
    const prior = await this.store.findImport(scope, sha256);
    if (prior) {
      throw new PaymentError('DUPLICATE', `this file was imported already at ${new Date(prior.at).toISOString()} (${prior.positions} positions): nothing was created again`);
    }
    const job: ImportJob = {
      bytes: upload.bytes,
      csv: upload.csv,
      ...(upload.entityId === undefined ? {} : { namedEntity: upload.entityId }),
      actorEntity: actor.entityId,
      catalogue: { entities: this.payments.entities, services: this.payments.services },
      ...this.limits,
    };
    const checked = await this.pool.check(job);
    if (checked.type === 'refused') throw new PaymentError(checked.code, checked.detail);
    if (checked.type === 'invalid') return { outcome: 'invalid', created: 0, errors: checked.errors, errorCount: checked.errorCount };
    const result = await this.store.createPositions(checked.positions, actor.name);
    if ('errors' in result) {
      const capped = new CappedErrors(this.limits.maxErrors);
      for (const e of result.errors) capped.add({ ...e, row: rowOf(checked.origins, e.row) });
      return { outcome: 'conflict', created: 0, errors: capped.errors, errorCount: capped.count };
    }
    await this.store.recordImport(scope, sha256, result.ids.length);
    return { outcome: 'created', created: result.ids.length, ids: result.ids };
  }

  /** Stops the import worker (tests, shutdown); the next upload starts it again. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** A page of an entity's positions; an entity lists its own only. */
  list(q: { entityId?: string; cursor?: number; limit: number }, scope: string | null) {
    const entityId = scope ?? q.entityId;
    if (scope !== null && q.entityId !== undefined && q.entityId !== scope) throw new PaymentError('FORBIDDEN', 'an entity acts only for itself');
    if (!entityId) throw new PaymentError('FORMAT', 'entityId is required');
    return this.store.listPositions(entityId, q.cursor ?? 0, q.limit);
  }

  /** A position by its id (as given in the path); an entity reads its own only. */
  async get(id: string, scope: string | null): Promise<DebtPositionView> {
    const n = Number(id);
    const pos = Number.isSafeInteger(n) && n > 0 ? await this.store.getPosition(n) : undefined;
    if (!pos) throw new PaymentError('NOT_FOUND', `no debt position ${id}`);
    if (scope !== null && pos.entityId !== scope) throw new PaymentError('FORBIDDEN', 'this position belongs to another entity');
    return pos;
  }

  /** Cancel a position that is not paid: its notices answer NOTICE_CANCELLED. */
  async cancel(id: string, actor: PositionsActor): Promise<DebtPositionView> {
    const pos = await this.get(id, actor.entityId);
    const result = await this.store.cancelPosition(pos.id, actor.name);
    if (!result.ok) throw new PaymentError(result.code, result.detail);
    return (await this.store.getPosition(pos.id))!;
  }
}
