// The CPU-heavy part of a bulk upload, as a pure function of its bytes: parse (JSON or
// CSV), count rows against the limit, check each position against the schema and the
// rules. It runs on the import worker's thread (import-worker.ts), never on the event
// loop that serves payments. The report it builds is capped: the first `maxErrors`
// errors and the count of all of them, whatever the upload holds.
import { z } from 'zod';
import type { Entity, Service } from '../domain/model.js';
import type { NewPosition } from '../store/types.js';
import type { ErrorCode } from './errors.js';
import { DebtPositionInput, zodDetail } from './inputs.js';
import { CappedErrors, csvToPositions, positionRowErrors, rowOf, toNewPosition, type Origins, type RowError, type RuleCatalogue } from './positions.js';
import { PaymentError } from './errors.js';

export interface ImportJob {
  bytes: Uint8Array;
  csv: boolean;
  /** The entity a CSV upload is for, as an admin names it (?entityId=). */
  namedEntity?: string;
  /** The entity an entity user is confined to; null for admin. */
  actorEntity: string | null;
  catalogue: { entities: Entity[]; services: Service[] };
  maxRows: number;
  maxErrors: number;
}

export type ImportCheckResult =
  | { type: 'refused'; code: ErrorCode; detail: string }
  | { type: 'invalid'; errors: RowError[]; errorCount: number }
  | { type: 'ok'; positions: NewPosition[]; origins: Origins };

function actingEntity(actorEntity: string | null, named: string | undefined): string {
  if (actorEntity !== null) {
    if (named !== undefined && named !== actorEntity) throw new PaymentError('FORBIDDEN', 'an entity acts only for itself');
    return actorEntity;
  }
  if (!named) throw new PaymentError('FORMAT', 'entityId is required');
  return named;
}

const itemSchema = z.array(DebtPositionInput);

export function checkImport(job: ImportJob): ImportCheckResult {
  try {
    return check(job);
  } catch (err) {
    if (err instanceof PaymentError) return { type: 'refused', code: err.code, detail: err.detail };
    throw err;
  }
}

function check(job: ImportJob): ImportCheckResult {
  const text = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength).toString('utf8');
  let raw: unknown;
  let origins: Origins = null;
  let rows: number;
  if (job.csv) {
    const parsed = csvToPositions(text, job.namedEntity);
    raw = parsed.positions;
    origins = parsed.origins;
    rows = parsed.lines;
  } else {
    try {
      raw = JSON.parse(text);
    } catch {
      return { type: 'refused', code: 'FORMAT', detail: 'the body is not valid JSON' };
    }
    if (!Array.isArray(raw)) return { type: 'refused', code: 'FORMAT', detail: 'a JSON array of debt positions is expected' };
    rows = raw.length;
  }
  const positions = raw as unknown[];
  if (rows > job.maxRows) {
    const unit = job.csv ? 'CSV lines' : 'positions';
    return { type: 'refused', code: 'PAYLOAD_TOO_LARGE', detail: `an upload holds at most ${job.maxRows} ${unit} (TSERVE_IMPORT_MAX_ROWS); this one holds ${rows}: split it` };
  }
  if (positions.length === 0) return { type: 'invalid', errors: [{ row: -1, code: 'FORMAT', detail: 'the upload holds no position' }], errorCount: 1 };

  const errors = new CappedErrors(job.maxErrors);
  const catalogue: RuleCatalogue = {
    entity: (id) => job.catalogue.entities.find((e) => e.id === id),
    service: (code) => job.catalogue.services.find((s) => s.code === code),
  };
  const out: NewPosition[] = [];
  positions.forEach((item, i) => {
    const r = itemSchema.safeParse([item]);
    if (!r.success) {
      for (const issue of r.error.issues) {
        const [, key, option] = issue.path;
        errors.add({
          row: rowOf(origins, i, key === 'options' && typeof option === 'number' ? option : undefined),
          code: 'FORMAT',
          detail: zodDetail({ issues: [{ ...issue, path: issue.path.slice(1) }] }),
        });
      }
      return;
    }
    const input = r.data[0]!;
    const entityId = actingEntity(job.actorEntity, input.entityId);
    const rowErrors = positionRowErrors(input, entityId, catalogue);
    for (const { option, ...e } of rowErrors) errors.add({ row: rowOf(origins, i, option), ...e });
    if (rowErrors.length === 0 && errors.count === 0) out.push(toNewPosition(input, entityId));
  });
  if (errors.count > 0) return { type: 'invalid', errors: errors.errors, errorCount: errors.count };
  return { type: 'ok', positions: out, origins };
}
