import { create } from 'xmlbuilder2';
import type { ParserOptions } from 'xmlbuilder2/lib/interfaces.js';

/**
 * Text for xmlbuilder2's `.txt()` (and attribute values), so that what a parser reads is
 * exactly `value`. xmlbuilder2 escapes "<", ">" and a bare "&", but writes an "&" that
 * already starts an entity or character reference ("&amp;", "&lt;", "&#38;") as it is:
 * a name holding the characters "AT&amp;T" would be read as "AT&T". Escaping every "&"
 * first makes each one "&amp;", which the writer then leaves alone.
 *
 * Every XML writer of the switch whose text can hold free input (names, descriptions)
 * passes it through here: settlement/fatturapa.ts, src/pagopa/soap.ts, flow.ts and
 * flow-soap.ts. (SEPA text never holds "&": its
 * character set maps it to "+", see sepaText.)
 */
export function xmlText(value: string): string {
  return value.replaceAll('&', '&amp;');
}

/**
 * XML text as written, from its raw characters: the five predefined entities and
 * character references, each decoded once, left to right. Anything else after "&" (an
 * unknown entity, a bare "&", a reference to no XML character) is not well-formed XML
 * and throws.
 */
export function decodeXmlText(raw: string): string {
  return raw.replace(/&([^&;]*);?/g, (ref, name: string) => {
    if (!ref.endsWith(';')) throw new Error(`not XML: "&" that starts no reference: ${JSON.stringify(ref.slice(0, 12))}`);
    const entity = ENTITIES[name];
    if (entity !== undefined) return entity;
    const numeric = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
    if (!numeric) throw new Error(`not XML: unknown entity ${JSON.stringify(ref.slice(0, 12))}`);
    const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : Number(numeric[2]);
    if (!isXmlChar(code)) throw new Error(`not XML: ${ref} is not an XML character`);
    return String.fromCodePoint(code);
  });
}

const ENTITIES: Record<string, string | undefined> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML 1.0's Char production. */
const isXmlChar = (c: number) =>
  c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);

/**
 * Parses a document with xmlbuilder2, its text read by decodeXmlText. xmlbuilder2's
 * reader (4.0.3, BaseReader._decodeText) decodes entities, then character references in
 * the result: "&amp;#38;" (the text "&#38;") is read as "&". No public option reaches
 * the raw text (its `parser.text` gets it decoded), so the reader's decoder is replaced;
 * test/pagopa/xml-read.test.ts fails if a new version ignores the replacement.
 * Attribute values go through the same decoder; CDATA is not decoded.
 */
export function parseXml(xml: string): ReturnType<typeof create> {
  return create({ parser: { _decodeText: decodeXmlText } as ParserOptions }, xml);
}

/** The DOM xmlbuilder2's parser gives, as far as the readers use it. */
export interface DomNode {
  nodeType: number;
  localName?: string | null;
  namespaceURI?: string | null;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
}

export const ELEMENT_NODE = 1;

/** A node's element children (text, comments and the rest left out). */
export function elementsOf(node: DomNode): DomNode[] {
  return Array.from(node.childNodes).filter((c) => c.nodeType === ELEMENT_NODE);
}
