// The database file and its WAL as they were opened (device and inode). Removed or
// replaced under a running switch, SQLite goes on writing into the unlinked file and
// reports success, and what it wrote is lost at the next start: so the writer compares
// them before and after each write and the checkpointer on its timer, and booking stops
// with an alarm instead of acknowledging payments that would be lost.
import { statSync } from 'node:fs';

export class FileIdentity {
  private readonly opened: { file: string; dev: number; ino: number }[];

  /** Files that exist now (the WAL exists while a connection in WAL mode is open). */
  constructor(files: string[]) {
    this.opened = files.map((file) => {
      const s = statSync(file);
      return { file, dev: s.dev, ino: s.ino };
    });
  }

  /** What changed since they were opened, or null when every file is still in place. */
  changed(): string | null {
    for (const o of this.opened) {
      let s;
      try {
        s = statSync(o.file);
      } catch {
        return `${o.file} was removed while the switch had it open`;
      }
      if (s.dev !== o.dev || s.ino !== o.ino) return `${o.file} was replaced while the switch had it open`;
    }
    return null;
  }
}
