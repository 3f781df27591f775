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

  it('the ledger knows no SQL, HTTP or ISO 8583, and nothing of the stores', () => {
    for (const { file, imports } of sources('src/ledger')) {
      expect(imports.filter((i) => /better-sqlite3|^pg$|express|\/http\/|\/store\/|terminals\//.test(i)), file).toEqual([]);
    }
  });

  it('the terminal simulator (a client) imports no server wiring', () => {
    for (const { file, imports } of sources('terminals/simulator')) {
      expect(imports.filter((i) => /src\/(bootstrap|server|config|cli|main|store|http|ledger|stream)/.test(i)), file).toEqual([]);
    }
  });

  it('the domain imports nothing of ours outside itself; fixtures import the domain, never the reverse', () => {
    for (const { file, imports } of sources('src/domain')) expect(imports.filter((i) => !/^\.\/[\w-]+\.js$/.test(i) && i !== 'decimal.js'), file).toEqual([]);
    for (const { file, imports } of sources('fixtures')) expect(imports.filter((i) => /src\/(?!domain\/)/.test(i)), file).toEqual([]);
  });
});
