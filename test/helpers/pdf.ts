// Reading a PDFKit document back: its objects (streams inflated) and the text it shows,
// decoded through each font's ToUnicode map (the embedded TrueType fonts of src/pdf.ts
// show glyph ids, not characters).
import { inflateSync } from 'node:zlib';

export interface PdfObject {
  num: number;
  /** The object's text before any stream (its dictionary, or a plain value), Latin-1. */
  dict: string;
  /** A stream's bytes, inflated when FlateDecode. */
  stream?: Buffer;
}

/** Every object of a PDFKit document by number (PDFKit writes no object streams or generations). */
export function pdfObjects(pdf: Buffer): Map<number, PdfObject> {
  const raw = pdf.toString('latin1');
  const out = new Map<number, PdfObject>();
  const re = /(?:^|\n)(\d+) 0 obj\n/g;
  for (let m = re.exec(raw); m; m = re.exec(raw)) {
    const start = m.index + m[0].length;
    const end = raw.indexOf('\nendobj', start);
    const s = raw.indexOf('\nstream\n', start);
    const num = Number(m[1]);
    if (s >= 0 && s < end) {
      const dict = raw.slice(start, s);
      const length = Number(/\/Length (\d+)/.exec(dict)?.[1]);
      const bytes = pdf.subarray(s + 8, s + 8 + length);
      out.set(num, { num, dict, stream: /\/Filter \/FlateDecode/.test(dict) ? inflateSync(bytes) : bytes });
      // Binary data may hold anything: go on after it, by its length.
      re.lastIndex = s + 8 + length;
    } else {
      out.set(num, { num, dict: raw.slice(start, end) });
      re.lastIndex = end;
    }
  }
  return out;
}

/** The object a `/Key n 0 R` entry of `dict` points to. */
export function pdfRef(objects: Map<number, PdfObject>, dict: string, key: string): PdfObject | undefined {
  const m = new RegExp(`/${key} (\\d+) 0 R`).exec(dict);
  return m ? objects.get(Number(m[1])) : undefined;
}

/** A ToUnicode CMap as code → text (PDFKit writes bfrange arrays; bfchar and plain ranges too). */
function toUnicode(cmap: string): Map<number, string> {
  const map = new Map<number, string>();
  const text = (hex: string) => Buffer.from(hex.replace(/\s/g, ''), 'hex').swap16().toString('utf16le');
  for (const block of cmap.matchAll(/beginbfrange([\s\S]*?)endbfrange/g)) {
    for (const r of block[1]!.matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*(\[[^\]]*\]|<[0-9a-fA-F]+>)/g)) {
      const from = parseInt(r[1]!, 16);
      const to = parseInt(r[2]!, 16);
      if (r[3]!.startsWith('[')) {
        [...r[3]!.matchAll(/<([0-9a-fA-F ]*)>/g)].forEach((u, i) => map.set(from + i, text(u[1]!)));
      } else {
        const base = parseInt(r[3]!.slice(1, -1), 16);
        for (let c = from; c <= to; c++) map.set(c, String.fromCharCode(base + c - from));
      }
    }
  }
  for (const block of cmap.matchAll(/beginbfchar([\s\S]*?)endbfchar/g)) {
    for (const r of block[1]!.matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>/g)) map.set(parseInt(r[1]!, 16), text(r[2]!));
  }
  return map;
}

/** The pages in order (the page tree's Kids; PDFKit writes a flat tree). */
export function pdfPages(objects: Map<number, PdfObject>): PdfObject[] {
  const catalog = [...objects.values()].find((o) => /\/Type \/Catalog\b/.test(o.dict))!;
  const pages = pdfRef(objects, catalog.dict, 'Pages')!;
  const kids = /\/Kids \[([^\]]*)\]/.exec(pages.dict)?.[1] ?? '';
  return [...kids.matchAll(/(\d+) 0 R/g)].map((k) => objects.get(Number(k[1]))!);
}

/**
 * The text of each text-showing operator (TJ), page by page: one string per table cell
 * or line, the hex strings of each TJ array joined and mapped through the current font's
 * ToUnicode CMap. A code the map lacks comes out as U+FFFD.
 */
export function pdfTexts(pdf: Buffer): string[] {
  const objects = pdfObjects(pdf);
  const cmaps = new Map<number, Map<number, string>>();
  const out: string[] = [];
  for (const page of pdfPages(objects)) {
    const resources = pdfRef(objects, page.dict, 'Resources')?.dict ?? '';
    const fonts = new Map<string, Map<number, string>>();
    for (const f of (/\/Font <<([^>]*)>>/.exec(resources)?.[1] ?? '').matchAll(/\/(\S+) (\d+) 0 R/g)) {
      const num = Number(f[2]);
      if (!cmaps.has(num)) {
        const cmap = pdfRef(objects, objects.get(num)!.dict, 'ToUnicode')?.stream?.toString('latin1');
        cmaps.set(num, cmap ? toUnicode(cmap) : new Map());
      }
      fonts.set(f[1]!, cmaps.get(num)!);
    }
    const content = pdfRef(objects, page.dict, 'Contents')?.stream?.toString('latin1') ?? '';
    let font = new Map<number, string>();
    for (const op of content.matchAll(/\/(\S+) [\d.]+ Tf|\[([^\]]*)\]\s*TJ/g)) {
      if (op[1]) {
        font = fonts.get(op[1]) ?? new Map();
        continue;
      }
      const hex = [...op[2]!.matchAll(/<([0-9a-fA-F]*)>/g)].map((h) => h[1]).join('');
      let s = '';
      for (let i = 0; i < hex.length; i += 4) s += font.get(parseInt(hex.slice(i, i + 4), 16)) ?? '\uFFFD';
      out.push(s);
    }
  }
  return out;
}
