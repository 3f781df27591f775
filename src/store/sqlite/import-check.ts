// The conflicts of a debt-position import: an external reference or a notice number
// that exists already, or repeats within the import. One check, run in one go inside a
// small import's transaction, or slice by slice on the read connection for a large one.
import type Database from 'better-sqlite3';
import type { NewPosition, StoreRefusalCode } from '../types.js';

export interface ImportConflict {
  row: number;
  code: StoreRefusalCode;
  detail: string;
}

export class ImportCheck {
  private readonly seenNotices = new Set<string>();
  private readonly seenRefs = new Set<string>();
  private readonly noticeExists;
  private readonly refExists;
  readonly conflicts: ImportConflict[] = [];

  constructor(db: Database.Database) {
    this.noticeExists = db.prepare<[string], number>('SELECT 1 FROM payment_options WHERE notice_number = ?').pluck();
    this.refExists = db.prepare<[string, string], number>('SELECT 1 FROM debt_positions WHERE entity_id = ? AND external_ref = ?').pluck();
  }

  /** Checks rows[from..to), in the order of the whole import. */
  check(rows: readonly NewPosition[], from = 0, to = rows.length): void {
    for (let i = from; i < Math.min(to, rows.length); i++) {
      const p = rows[i]!;
      const ref = `${p.entityId}/${p.externalRef}`;
      if (this.seenRefs.has(ref) || this.refExists.get(p.entityId, p.externalRef) !== undefined) {
        this.conflicts.push({ row: i, code: 'CONFLICT', detail: `externalRef ${p.externalRef} already exists` });
      }
      this.seenRefs.add(ref);
      for (const o of p.options) {
        if (this.seenNotices.has(o.noticeNumber) || this.noticeExists.get(o.noticeNumber) !== undefined) {
          this.conflicts.push({ row: i, code: 'CONFLICT', detail: `notice number ${o.noticeNumber} already exists` });
        }
        this.seenNotices.add(o.noticeNumber);
      }
    }
  }
}
