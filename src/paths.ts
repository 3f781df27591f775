// Files shipped with the project (schema.sql), found from this module whether it
// runs from src/ (tsx) or dist/src/ (compiled).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function projectRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'schema.sql'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find schema.sql above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  root = dir;
  return dir;
}

export function projectFile(name: string): string {
  return path.join(projectRoot(), name);
}
