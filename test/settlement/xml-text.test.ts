// Text that looks like markup in the XML files the settlement writes (pain.001, pain.008,
// FatturaPA): xmlbuilder2 writes an "&" that already starts an entity ("&amp;", "&lt;",
// "&#38;") as it is, so a name holding the characters "AT&amp;T" would be read back as
// "AT&T". Names come in free (src/network/validate.ts: any text up to 200 characters),
// so each file is read back here by a strict reader and its text compared with the input.
import { describe, expect, it } from 'vitest';
import { create } from 'xmlbuilder2';
import { CATALOGUE } from '../../fixtures/catalogue.js';
import { generateNetwork } from '../../fixtures/generator.js';
import type { NetworkChange, NetworkState } from '../../src/network/change.js';
import { checkNetworkChange } from '../../src/network/validate.js';
import { xmlText } from '../../src/xml.js';
import type { SettlementFigures, Transfer } from '../../settlement/figures.js';
import { fatturaPA } from '../../settlement/fatturapa.js';
import { buildStatement } from '../../settlement/rebilling.js';
import { pain001, pain008, sepaText } from '../../settlement/sepa.js';
import { demoChange } from '../network/support.js';
import { itWithXsd, validate } from './xsd.js';

/** Names a network may hold: entity-like sequences, then the plain markup characters. */
const TRICKY = ['AT&amp;T', 'Rossi &lt;srl&gt;', 'Q&#38;A', 'Q&#x26;A &quot;x&apos;', 'Tom & Jerry <snc> > 1'];

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * The text of every element `name` (text only, no child elements), decoded the way an
 * XML parser must: in one pass, and refusing any "&" that is not a reference and any
 * raw "<" (xmlbuilder2's own parser decodes "&amp;#38;" twice, so it cannot judge).
 */
function texts(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}(?:\\s[^>]*)?>([^<]*)</${name}>`, 'g'))].map((m) => {
    const raw = m[1]!;
    const bad = raw.match(/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/);
    if (bad) throw new Error(`<${name}>: a bare "&" in ${JSON.stringify(raw)}`);
    return raw.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, ref: string) =>
      ref.startsWith('#x') ? String.fromCodePoint(parseInt(ref.slice(2), 16)) : ref.startsWith('#') ? String.fromCodePoint(Number(ref.slice(1))) : PREDEFINED[ref]!,
    );
  });
}

describe('the strict reader', () => {
  it('decodes: one pass, bare "&" refused', () => {
    expect(texts('<a>AT&amp;amp;T</a><a>Q&amp;#38;A</a><a>&#x3C;&#60;&gt;</a>', 'a')).toEqual(['AT&amp;T', 'Q&#38;A', '<<>']);
    expect(() => texts('<a>AT&T</a>', 'a')).toThrow(/bare/);
  });

  it('xmlText (src/xml.ts) makes xmlbuilder2 write any text so that it reads back as it is', () => {
    for (const value of [...TRICKY, '&', '&&amp;;', '&#x26;amp;', '<![CDATA[x]]>', 'a]]>b', 'àè€ & ;']) {
      const xml = create().ele('a').txt(xmlText(value)).end();
      expect(texts(xml, 'a'), value).toEqual([value]);
    }
  });
});

describe('such names enter the network', () => {
  it('checkNetworkChange accepts them for entities, services and counters (names are free text)', () => {
    const c = demoChange();
    const stored = c as NetworkState;
    for (const name of TRICKY) {
      const change: NetworkChange = {
        entities: [{ ...c.entities[1]!, name }],
        services: [{ ...c.services[0]!, name }],
        counters: [{ ...c.counters[0]!, name, address: name, town: name }],
      };
      expect(checkNetworkChange(stored, change, '2026-11-23'), name).toEqual([]);
    }
  });
});

describe('SEPA files', () => {
  const createdAt = Date.parse('2026-11-23T08:15:00Z');
  const owner = CATALOGUE.entities.find((e) => e.isCircuitOwner)!;
  const counters = generateNetwork({ positions: 0 }).counters.slice(0, TRICKY.length);

  function figures(): SettlementFigures {
    const directDebits: Transfer[] = counters.map((c, i) => ({ party: 'counter', id: c.id, name: TRICKY[i]!, iban: c.iban, amount: 10_000 + i, mandateRef: c.mandateRef }));
    const creditTransfers: Transfer[] = CATALOGUE.entities
      .filter((e) => !e.isCircuitOwner)
      .map((e, i): Transfer => ({ party: 'entity', id: e.id, name: TRICKY[i % TRICKY.length]!, iban: e.iban, amount: 20_000 + i }));
    return {
      date: '2026-11-20', cutoff: '00:00', entities: [], counters: [],
      operator: { name: 'Op', iban: 'IT60X0542811101000000123456', fees: 0 },
      owner: { entityId: owner.id, royalties: 0, circuitFeesNetted: 0, circuitFeesRebilled: 0 },
      totals: { payments: 0, gross: 0, fees: 0, reversals: 0, adjustments: 0, collected: 0, commissions: 0, netPayouts: 0, creditTransfers: 0, directDebits: 0 },
      creditTransfers, directDebits, receivables: [],
    };
  }
  const account = { name: TRICKY[0]!, iban: owner.iban, fiscalCode: owner.fiscalCode };
  const ct = () => pain001(figures(), { account, createdAt, producedAt: createdAt });
  const dd = () => pain008(figures(), { account, createdAt, producedAt: createdAt, creditorId: 'IT66ZZZA1B2C3D4E5F6G7H8' });

  it('names and remittance text read back as written: the SEPA character set maps "&" to "+" and drops "<", ">", ";", "#"', () => {
    const ctNames = texts(ct(), 'Nm');
    // The initiating party and the debtor (pain.001) or creditor (pain.008) are both the account.
    expect(ctNames).toEqual([account.name, account.name, ...figures().creditTransfers.map((t) => t.name)].map((n) => sepaText(n, 70)));
    expect(ctNames.slice(2, 7)).toEqual(['AT+amp T', 'Rossi +lt srl+gt', 'Q+ 38 A', 'Q+ x26 A +quot x+apos', 'Tom + Jerry snc 1']);
    expect(texts(dd(), 'Nm')).toEqual([account.name, account.name, ...figures().directDebits.map((t) => t.name)].map((n) => sepaText(n, 70)));
    for (const xml of [ct(), dd()]) {
      for (const el of ['Nm', 'Ustrd', 'MndtId', 'EndToEndId', 'MsgId', 'Id']) for (const t of texts(xml, el)) expect(t, el).not.toMatch(/[&<>]/);
    }
  });

  itWithXsd('they validate against the XSDs', async () => {
    expect(await validate(ct(), 'pain.001')).toEqual([]);
    expect(await validate(ct(), 'pain.001-epc')).toEqual([]);
    expect(await validate(dd(), 'pain.008')).toEqual([]);
  });
});

describe('FatturaPA', () => {
  const owner = CATALOGUE.entities.find((e) => e.isCircuitOwner)!;
  const [issuerName, entityName, serviceName] = [TRICKY[0]!, `${TRICKY[1]!} ${TRICKY[4]!}`, `${TRICKY[2]!} ${TRICKY[3]!}`];
  const catalogue = {
    entities: new Map(CATALOGUE.entities.map((e) => [e.id, e.id === 'PONTEDERA' ? { ...e, name: entityName } : e])),
    services: new Map(CATALOGUE.services.map((s) => [s.code, { ...s, enabled: true, ...(s.code === 'SANZPONT' ? { name: serviceName } : {}) }])),
    feeSchedules: new Map(),
    circuitFees: new Map(CATALOGUE.entities.filter((e) => e.circuitFee).map((e) => [e.id, [e.circuitFee!]])),
    owner,
  };
  const seat = { street: 'Via A&amp;B <1>', number: '1&#38;2', cap: '56025', town: 'Q&lt;T&gt;', province: 'PI' };
  const opts = { issuer: { ...owner, name: issuerName }, issuerVatNumber: '00337360978', iban: owner.iban, recipientCode: 'TST123', seats: { PONTEDERA: seat, [owner.id]: seat } };
  const invoice = () =>
    fatturaPA(
      buildStatement(catalogue, 'PONTEDERA', '2026-02', [
        { kind: 'booking', serviceCode: 'SANZPONT', rate: 20, count: 10, amount: 200 },
        { kind: 'reversal', serviceCode: 'SANZPONT', rate: 20, count: 1, amount: 20 },
      ], true),
      opts,
    );

  it('issuer, customer, service and seat read back exactly as written', () => {
    const xml = invoice();
    expect(texts(xml, 'Denominazione')).toEqual([issuerName, entityName]);
    expect(texts(xml, 'Beneficiario')).toEqual([issuerName]);
    expect(texts(xml, 'Descrizione')).toEqual([
      `Commissione di circuito: ${serviceName} (SANZPONT), 10 pagamenti a 0.20 EUR`,
      `Storno commissione di circuito: ${serviceName} (SANZPONT), 1 pagamenti annullati`,
    ]);
    expect(texts(xml, 'Indirizzo')).toEqual([seat.street, seat.street]);
    expect(texts(xml, 'NumeroCivico')).toEqual([seat.number, seat.number]);
    expect(texts(xml, 'Comune')).toEqual([seat.town, seat.town]);
  });

  itWithXsd('it validates against the XSD', async () => {
    expect(await validate(invoice(), 'fatturapa')).toEqual([]);
  });
});
