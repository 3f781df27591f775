// The console's front-end as the switch serves it (src/console/serve.ts): the page at
// /console and /console/ under its own CSP, its modules and style sheet revalidated each
// time, nothing from another host, no inline script or style; files outside the
// public folder (or not meant for the browser) are not served, and the session routes
// under /console pass through.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setup, type Ctx } from '../http/support.js';

const PUBLIC = path.resolve(import.meta.dirname, '../../src/console/public');

let c: Ctx;
beforeAll(async () => {
  c = await setup(10);
});
afterAll(async () => {
  await c?.close();
});

describe('the console at /console', () => {
  it('is an HTML page of this origin only, without inline script or style, under a strict CSP, never cached unchecked', async () => {
    for (const url of ['/console', '/console/']) {
      const res = await c.api().get(url);
      expect(res.status, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-cache');
      const csp = res.headers['content-security-policy']!;
      for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "script-src-attr 'none'", "style-src-attr 'none'"]) {
        expect(csp, d).toContain(d);
      }
      // ws:// of the demo must stay ws://: no upgrade-insecure-requests.
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|upgrade-insecure-requests|https?:|\*/);
      const html = res.text;
      expect(html).toContain('<html lang="it">');
      expect(html).not.toMatch(/https?:\/\//);
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // every script from a file
      expect(html).not.toMatch(/<style|\sstyle=/);
      expect(html).toContain('<nav aria-label="Sezioni"');
      const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => !u.startsWith('#'));
      expect(urls.sort()).toEqual(['/console/app.js', '/console/console.css', '/console/icon.svg']);
    }
  });

  it('serves every module the page imports, as JavaScript, and its style sheet', async () => {
    const js = readdirSync(PUBLIC).filter((f) => f.endsWith('.js'));
    expect(js).toContain('app.js');
    for (const f of js) {
      const source = readFileSync(path.join(PUBLIC, f), 'utf8');
      // Every import names a file of the folder: no package, no other host.
      for (const [, spec] of source.matchAll(/(?:import\s[^'"]*|import\()\s*['"]([^'"]+)['"]/g)) {
        expect(spec, `${f} imports ${spec}`).toMatch(/^\.\/[a-z0-9-]+\.js$/);
        expect(js, `${f} imports ${spec}`).toContain(spec!.slice(2));
      }
      expect(source, f).not.toMatch(/\.(innerHTML|outerHTML|insertAdjacentHTML)\b|\beval\(|new Function/); // values from the switch stay text
      const res = await c.api().get(`/console/${f}`);
      expect(res.status, f).toBe(200);
      expect(res.headers['content-type'], f).toMatch(/^text\/javascript/);
      expect(res.headers['cache-control'], f).toBe('no-cache');
      expect(res.headers.etag, f).toBeDefined();
    }
    const css = await c.api().get('/console/console.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    expect(css.text).not.toMatch(/@import|url\(\s*['"]?https?:/);
  });

  it('serves nothing else: no types file, no dot file, no path out of the folder; other routes under /console pass on', async () => {
    for (const url of ['/console/format.d.ts', '/console/index.html', '/console/nope.js', '/console/..%2Fserve.ts', '/console/%2e%2e%2fserve.ts', '/console/.hidden.js']) {
      const res = await c.api().get(url);
      expect(res.status, url).toBe(404);
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/);
    }
    // The session route answers for itself (401 without a cookie), not the static files.
    const session = await c.api().get('/console/session');
    expect(session.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(session.status).not.toBe(200);
  });
});
