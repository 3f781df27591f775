// The catalogue's place for creditors outside it (docs/pagopa.md "The catalogue"): a
// payment references an entity and a service, so notices of creditors reached only
// through pagoPA's node (Comune di Firenze, ACI...) are booked under entity PAGOPA
// ("creditors through pagoPA") and service PAGOPA, with its own fee schedule; the creditor
// itself and the activation's transfers are kept with the payment (pagopa_payments).
import type { Clock } from '../clock.js';
import { romeDate } from '../domain/calendar.js';
import type { CounterKind, FeeRule } from '../domain/model.js';
import { logger } from '../log.js';
import type { NetworkChange } from './change.js';
import type { NetworkService } from './service.js';

export const PAGOPA_ENTITY_ID = 'PAGOPA';
export const PAGOPA_SERVICE_CODE = 'PAGOPA';

/**
 * The demo's fee for a pagoPA notice, per counter kind: what Italian counter networks
 * charge for a pagoPA payment (about 2 euros), with the catalogue's commission shares.
 */
const DEMO_FEES: Readonly<Record<CounterKind, { feeRule: FeeRule; commissionRate: string }>> = {
  tabaccaio: { feeRule: { type: 'fixed', cents: 200 }, commissionRate: '0.70' },
  agenzia: { feeRule: { type: 'fixed', cents: 200 }, commissionRate: '0.75' },
  supermercato: { feeRule: { type: 'fixed', cents: 150 }, commissionRate: '0.60' },
};

/**
 * Entity and service PAGOPA with the demo's fee schedules from `from`. The entity's
 * fiscal code is a placeholder of the demo (an operator imports its own, see
 * docs/pagopa.md); its IBAN is the operator's: pagoPA payments are paid out to the
 * transfers' IBANs, never to it.
 */
export function pagopaCatalogueChange(opts: { fiscalCode: string; iban: string; from: string; royaltyCents: number }): NetworkChange {
  return {
    entities: [
      {
        id: PAGOPA_ENTITY_ID,
        name: 'Creditori tramite pagoPA',
        fiscalCode: opts.fiscalCode,
        vatNumber: null,
        iban: opts.iban,
        officeCode: null,
        isCircuitOwner: false,
        segregationCode: null,
        pagopa: true,
      },
    ],
    services: [
      {
        code: PAGOPA_SERVICE_CODE,
        name: 'Avvisi pagoPA di altri enti',
        entityId: PAGOPA_ENTITY_ID,
        amountKind: 'L',
        identifierKind: 'notice',
        rule: null,
        fixedCents: null,
        minCents: null,
        maxCents: null,
        enabled: true,
      },
    ],
    feeSchedules: (Object.keys(DEMO_FEES) as CounterKind[]).map((counterKind) => ({
      serviceCode: PAGOPA_SERVICE_CODE,
      counterKind,
      effectiveFrom: opts.from,
      ...DEMO_FEES[counterKind],
      royaltyCents: opts.royaltyCents,
    })),
  };
}

/** The demo's placeholder fiscal code of entity PAGOPA (11 digits, valid check digit, no real entity's). */
export const DEMO_PAGOPA_FISCAL_CODE = '09876543217';

/**
 * With the bridge on, the network needs entity and service PAGOPA for creditors outside the
 * catalogue. The demo adds them (audited, through the network's one door) from today; a
 * production network imports its own (its fees are its business), and until it does such
 * notices are refused SERVICE_UNKNOWN (creditors of the catalogue flagged pagopa work).
 */
export async function ensurePagoPaCatalogue(
  network: NetworkService,
  opts: { mode: 'demo' | 'production'; iban: string; royaltyCents: number; clock: Clock },
): Promise<'present' | 'created' | 'missing'> {
  const state = await network.state();
  if (state.services.some((s) => s.code === PAGOPA_SERVICE_CODE)) return 'present';
  if (opts.mode !== 'demo' || state.entities.length === 0) {
    logger.warn('pagoPA bridge on, but the network has no service PAGOPA: notices of creditors outside the catalogue are refused until it is imported (docs/pagopa.md)');
    return 'missing';
  }
  const change = pagopaCatalogueChange({ fiscalCode: DEMO_PAGOPA_FISCAL_CODE, iban: opts.iban, from: romeDate(opts.clock()), royaltyCents: opts.royaltyCents });
  const r = await network.apply(change, 'system:pagopa');
  if (!r.ok) throw new Error(`entity and service PAGOPA could not be added: ${r.problems.map((p) => `${p.kind}[${p.index}]${p.field ? `.${p.field}` : ''}: ${p.message}`).join('; ')}`);
  logger.info('pagoPA bridge: entity and service PAGOPA added to the demo network');
  return 'created';
}
