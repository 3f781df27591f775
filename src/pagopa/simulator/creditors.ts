// The node simulator's creditors (enti creditori) and their debt positions: a few
// entities outside Prato's catalogue, so the switch reaches them only through pagoPA.
// The fiscal codes are the public ones of these entities; IBANs are made up (valid
// check digits and CIN, Banca d'Italia treasury accounts). Notice numbers are aux 3 with
// valid check digits (src/domain/notice.ts), so a counter can type them.
import { buildNoticeNumber, checkNoticeNumber } from '../../domain/notice.js';
import type { Transfer } from '../types.js';

/** How the creditor's station answers the node: up, or down (PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE). */
export type StationState = 'up' | 'down';

/** Where a position is in the creditor's own books (the node's locks are kept apart). */
export type PositionStatus = 'payable' | 'expired' | 'cancelled';

export interface DebtPosition {
  noticeNumber: string;
  description: string;
  amountCents: number;
  /** YYYY-MM-DD. */
  dueDate?: string;
  status: PositionStatus;
  /** 1..5, indexes 1..n, summing to amountCents. */
  transfers: Transfer[];
}

export interface Creditor {
  /** 11 digits. */
  fiscalCode: string;
  companyName: string;
  officeName?: string;
  /** Aux 3: the two digits after it, by which the node routes to the creditor's station. */
  segregationCode: string;
  station: StationState;
  /** What the creditor's station takes to answer; at or past the node's creditor timeout, PPT_STAZIONE_INT_PA_TIMEOUT. */
  latencyMs: number;
  positions: DebtPosition[];
}

/** Sub-beneficiaries that appear only in transfer lists. */
const CITTA_METROPOLITANA_FI = '80016450480';
const REGIONE_TOSCANA = '01386030488';

const IBAN = {
  firenze: 'IT41S0100003245000000001234',
  firenzeTari: 'IT62X0100003245000000005678',
  cittaMetropolitana: 'IT73C0100003245000000009012',
  regione: 'IT44Z0100003245000000003333',
  aci: 'IT37F0100003245000000004444',
  slow: 'IT11H0503402800000000007777',
  down: 'IT09R0103002800000000004321',
};

type Split = [fiscalCodePA: string, iban: string, amountCents: number, remittance: string];

/** One position: notice number from the segregation code and a 13-digit IUV base, transfers from the splits. */
function position(
  segregationCode: string,
  base: number,
  description: string,
  splits: Split[],
  extra: { dueDate?: string; status?: PositionStatus } = {},
): DebtPosition {
  const noticeNumber = buildNoticeNumber(3, segregationCode + String(base).padStart(13, '0'));
  const transfers = splits.map(([fiscalCodePA, iban, amountCents, remittanceInformation], i) => ({
    index: i + 1,
    amountCents,
    fiscalCodePA,
    iban,
    remittanceInformation,
  }));
  return {
    noticeNumber,
    description,
    amountCents: transfers.reduce((s, t) => s + t.amountCents, 0),
    ...(extra.dueDate ? { dueDate: extra.dueDate } : {}),
    status: extra.status ?? 'payable',
    transfers,
  };
}

/** A fresh copy of the simulator's creditors: each simulator owns (and mutates) its own. */
export function defaultCreditors(): Creditor[] {
  const fi = '01307110484';
  const creditors: Creditor[] = [
    {
      fiscalCode: fi,
      companyName: 'Comune di Firenze',
      officeName: 'Direzione Risorse Finanziarie',
      segregationCode: '01',
      station: 'up',
      latencyMs: 0,
      positions: [
        position('01', 1, 'Multa codice della strada, verbale 2024/118734', [[fi, IBAN.firenze, 4200, 'Verbale 2024/118734']]),
        position('01', 2, 'Refezione scolastica, marzo', [[fi, IBAN.firenze, 6850, 'Refezione scolastica marzo']], { dueDate: '2099-03-31' }),
        // TARI with the provincial tax (TEFA) owed to the Città Metropolitana: two transfers.
        position('01', 3, 'TARI 2025, rata unica', [
          [fi, IBAN.firenzeTari, 28_500, 'TARI 2025 rata unica'],
          [CITTA_METROPOLITANA_FI, IBAN.cittaMetropolitana, 1425, 'TEFA 2025'],
        ]),
        position('01', 4, 'Occupazione suolo pubblico, dehors', [[fi, IBAN.firenze, 31_000, 'COSAP dehors 2025']]),
        // Five transfers, the most a payment carries.
        position('01', 5, 'Pratica edilizia, diritti e oneri', [
          [fi, IBAN.firenze, 10_000, 'Diritti di segreteria'],
          [fi, IBAN.firenzeTari, 25_000, 'Oneri di urbanizzazione primaria'],
          [fi, IBAN.firenze, 17_550, 'Oneri di urbanizzazione secondaria'],
          [CITTA_METROPOLITANA_FI, IBAN.cittaMetropolitana, 3200, 'Contributo provinciale'],
          [REGIONE_TOSCANA, IBAN.regione, 1600, 'Tributo speciale regionale'],
        ]),
        position('01', 6, 'Multa, verbale 2023/004411 (scaduto)', [[fi, IBAN.firenze, 8700, 'Verbale 2023/004411']], { status: 'expired' }),
        position('01', 7, 'Retta asilo nido, annullata', [[fi, IBAN.firenze, 21_000, 'Retta nido']], { status: 'cancelled' }),
      ],
    },
    {
      fiscalCode: REGIONE_TOSCANA,
      companyName: 'Regione Toscana',
      officeName: 'Tasse automobilistiche',
      segregationCode: '30',
      station: 'up',
      latencyMs: 0,
      positions: [
        position('30', 1, 'Bollo auto FI123AB, scadenza gennaio', [[REGIONE_TOSCANA, IBAN.regione, 21_472, 'Tassa automobilistica FI123AB']]),
        position('30', 2, 'Bollo auto GH456CD, scadenza aprile', [[REGIONE_TOSCANA, IBAN.regione, 17_835, 'Tassa automobilistica GH456CD']]),
        position('30', 3, 'Bollo moto EX12345, scadenza giugno', [[REGIONE_TOSCANA, IBAN.regione, 2_890, 'Tassa automobilistica EX12345']]),
        position('30', 4, 'Ticket sanitario, prestazione ambulatoriale', [[REGIONE_TOSCANA, IBAN.regione, 3_600, 'Ticket sanitario']]),
      ],
    },
    {
      fiscalCode: '00493410583',
      companyName: 'ACI - Automobile Club d\'Italia',
      officeName: 'Pubblico Registro Automobilistico',
      // 96: the code reserved nationally to ACI (domain/notice.ts).
      segregationCode: '96',
      station: 'up',
      latencyMs: 0,
      positions: [
        position('96', 1, 'Passaggio di proprietà, emolumenti PRA', [
          ['00493410583', IBAN.aci, 2_700, 'Emolumenti PRA'],
          [REGIONE_TOSCANA, IBAN.regione, 15_086, 'IPT imposta provinciale di trascrizione'],
        ]),
        position('96', 2, 'Certificato di proprietà digitale', [['00493410583', IBAN.aci, 3_200, 'Certificato di proprietà']]),
        position('96', 3, 'Radiazione per esportazione', [['00493410583', IBAN.aci, 1_350, 'Radiazione PRA']]),
      ],
    },
    {
      // A creditor of other creditors' transfers only (the TEFA of Firenze's TARI, the
      // provincial contribution of a building permit): the reporting flows of the credit
      // transfers to it are its own, so the node knows it; no notices of its own here.
      fiscalCode: CITTA_METROPOLITANA_FI,
      companyName: 'Città Metropolitana di Firenze',
      segregationCode: '40',
      station: 'up',
      latencyMs: 0,
      positions: [],
    },
    {
      // A creditor whose station answers slower than the node waits: PPT_STAZIONE_INT_PA_TIMEOUT.
      fiscalCode: '77777777701',
      companyName: 'Ente di prova lento (simulatore)',
      segregationCode: '50',
      station: 'up',
      latencyMs: 60_000,
      positions: [position('50', 1, 'Contributo di prova', [['77777777701', IBAN.slow, 1_000, 'Contributo di prova']])],
    },
    {
      // A creditor whose station is down: PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE.
      fiscalCode: '77777777702',
      companyName: 'Ente di prova irraggiungibile (simulatore)',
      segregationCode: '51',
      station: 'down',
      latencyMs: 0,
      positions: [position('51', 1, 'Contributo di prova', [['77777777702', IBAN.down, 1_000, 'Contributo di prova']])],
    },
  ];
  for (const c of creditors) assertCreditor(c);
  return creditors;
}

/** The invariants a creditor given to the simulator must hold (tests' own creditors too). */
export function assertCreditor(c: Creditor): void {
  const fail = (why: string) => {
    throw new Error(`creditor ${c.fiscalCode}: ${why}`);
  };
  if (!/^\d{11}$/.test(c.fiscalCode)) fail('fiscal code must be 11 digits');
  if (!/^\d{2}$/.test(c.segregationCode)) fail('segregation code must be 2 digits');
  for (const p of c.positions) {
    const check = checkNoticeNumber(p.noticeNumber);
    if (!check.ok || check.auxDigit !== 3) fail(`notice ${p.noticeNumber}: ${check.ok ? 'aux digit must be 3' : check.reason}`);
    if (p.noticeNumber.slice(1, 3) !== c.segregationCode) fail(`notice ${p.noticeNumber} is not of segregation code ${c.segregationCode}`);
    const n = p.transfers.length;
    if (n < 1 || n > 5) fail(`notice ${p.noticeNumber}: 1..5 transfers, got ${n}`);
    p.transfers.forEach((t, i) => {
      if (t.index !== i + 1) fail(`notice ${p.noticeNumber}: transfer indexes must be 1..${n} in order`);
      if (!Number.isSafeInteger(t.amountCents) || t.amountCents <= 0) fail(`notice ${p.noticeNumber}: transfer ${t.index} amount must be positive cents`);
      if (!/^[A-Z]{2}\d{2}[A-Z0-9]{1,30}$/.test(t.iban)) fail(`notice ${p.noticeNumber}: transfer ${t.index} IBAN malformed`);
    });
    const sum = p.transfers.reduce((s, t) => s + t.amountCents, 0);
    if (sum !== p.amountCents) fail(`notice ${p.noticeNumber}: transfers sum to ${sum}, amount is ${p.amountCents}`);
  }
}
