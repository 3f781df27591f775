// The official XSDs, for the tests that validate generated files against them, and the
// validator (xmllint compiled to WebAssembly: no network, no binary).
//
// Where they are: the directory named by TSERVE_XSD_DIR, else ../shared/xsd beside the
// repository (as CI lays it out). Where neither holds them, the tests that need them are
// skipped with the reason printed (`itWithXsd`), never passed silently; calling
// `validate` without them throws.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'vitest';
import { validateXML } from 'xmllint-wasm';
import { projectRoot } from '../../src/paths.js';

export type Schema = 'pain.001' | 'pain.001-epc' | 'pain.008' | 'fatturapa';

const MAIN: Record<Schema, string> = {
  'pain.001': 'pain.001.001.09.xsd',
  'pain.001-epc': 'EPC132-08_2025_V1.0_pain.001.001.09.xsd',
  'pain.008': 'pain.008.001.08.xsd',
  fatturapa: 'Schema_del_file_xml_FatturaPA_v1.2.2.xsd',
};
const NEEDED = [...Object.values(MAIN), 'xmldsig-core-schema.xsd'];

function locate(): { dir: string | null; reason: string } {
  const candidates = [
    ...(process.env.TSERVE_XSD_DIR ? [{ dir: path.resolve(process.env.TSERVE_XSD_DIR), from: 'TSERVE_XSD_DIR' }] : []),
    { dir: path.resolve(projectRoot(), '../shared/xsd'), from: '../shared/xsd' },
  ];
  const tried: string[] = [];
  for (const c of candidates) {
    if (!existsSync(c.dir)) {
      tried.push(`${c.from} (${c.dir}) does not exist`);
      continue;
    }
    const missing = NEEDED.filter((f) => !existsSync(path.join(c.dir, f)));
    if (missing.length === 0) return { dir: c.dir, reason: '' };
    tried.push(`${c.from} (${c.dir}) lacks ${missing.join(', ')}`);
  }
  return { dir: null, reason: `official XSDs not found: ${tried.join('; ')}; set TSERVE_XSD_DIR to the directory that holds them` };
}

const found = locate();
/** The directory the XSDs are read from, or null when there is none. */
export const XSD_DIR = found.dir;
/** Why the XSD tests are skipped ('' when they run). */
export const XSD_MISSING = found.reason;

let warned = false;
function warnOnce(): void {
  if (warned || XSD_DIR) return;
  warned = true;
  console.warn(`XSD validation tests skipped: ${XSD_MISSING}`);
}

/** A test that needs the XSDs: skipped, with the reason printed, when they are not there. */
export function itWithXsd(name: string, fn: () => Promise<void>, timeout?: number): void {
  warnOnce();
  it.skipIf(!XSD_DIR)(XSD_DIR ? name : `${name} [skipped: no XSDs]`, fn, timeout);
}

const file = (name: string) => ({ fileName: name, contents: readFileSync(path.join(XSD_DIR!, name)) });

/** Errors of `xml` against the schema ([] when valid). Throws when the XSDs are not there. */
export async function validate(xml: string, schema: Schema): Promise<string[]> {
  if (!XSD_DIR) throw new Error(XSD_MISSING);
  const result = await validateXML({
    xml: [{ fileName: 'document.xml', contents: xml }],
    schema: [file(MAIN[schema])],
    preload: schema === 'fatturapa' ? [file('xmldsig-core-schema.xsd')] : [],
    initialMemoryPages: 1024,
    maxMemoryPages: 16_384,
  });
  return result.valid ? [] : result.errors.map((e) => e.rawMessage);
}
