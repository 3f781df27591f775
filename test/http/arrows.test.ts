// design.md's arrows for the edge: http imports the use-cases (src/payments, and
// settlement/ only through its finance service); the use-cases never import http.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const sources = (dir: string) =>
  readdirSync(path.join(root, dir))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: `${dir}/${f}`, imports: [...readFileSync(path.join(root, dir, f), 'utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]!) }));

describe('arrows', () => {
  it('the routers reach settlement/ only through settlement/finance.ts, and no store adapter', () => {
    for (const { file, imports } of sources('src/http')) {
      expect(imports.filter((i) => i.includes('settlement/') && !i.endsWith('settlement/finance.js')), file).toEqual([]);
      expect(imports.filter((i) => /store\/(sqlite|postgres)/.test(i)), file).toEqual([]);
    }
  });

  it('use-cases and settlement never import the HTTP edge', () => {
    for (const { file, imports } of [...sources('src/payments'), ...sources('settlement')]) {
      expect(imports.filter((i) => i.includes('/http/') || i.startsWith('express')), file).toEqual([]);
    }
  });
});
