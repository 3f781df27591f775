// Real CLI processes (src/cli.ts) on temporary data directories, for the operations tests.
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { runToEnd } from '../e2e/process.js';

/** `tserve <args>` on a data directory (its own database on PostgreSQL): exit code and output. */
export function tserve(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return runToEnd(dataDir, ['--import', 'tsx', 'src/cli.ts', ...args], { TSERVE_SEED_POSITIONS: '200', ...env });
}

/** Copies kek.key and jwt.key from one directory into a data directory, owner-only (git keeps no file modes). */
export function copyKeys(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of ['kek.key', 'jwt.key']) {
    copyFileSync(path.join(from, f), path.join(to, f));
    chmodSync(path.join(to, f), 0o600);
  }
}
