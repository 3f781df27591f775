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
