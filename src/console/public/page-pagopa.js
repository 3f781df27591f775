// pagoPA: the payments the node took no receipt for (GET /v1/pagopa/refunds). The counter
// took the money, but the notice was paid elsewhere meanwhile or the token expired: the
// citizen is refunded (Storna on the payment's page, which cancels it) or the creditor
// is paid and told with code 9 in the reporting flow (docs/pagopa.md).
import { api, messageOf } from './api.js';
import { badge, h, replace, say, table } from './dom.js';
import { romeDateTime } from './format.js';
import { money, pageHead } from './common.js';

const REASONS = {
  PPT_PAGAMENTO_DUPLICATO: "pagato altrove nel frattempo",
  PPT_TOKEN_SCADUTO: 'token scaduto prima dell\u2019esito',
  PPT_TOKEN_SCONOSCIUTO: 'token sconosciuto al nodo',
  PPT_PAGAMENTO_SCONOSCIUTO: 'avviso ripreso da un altro token',
};

export async function render({ view }) {
  const slot = h('div', { class: 'msg-slot' });
  const list = h('div');
  view.append(
    pageHead('pagoPA'),
    h('p', { class: 'lead' }, 'Pagamenti di avvisi pagoPA incassati allo sportello di cui il nodo non ha preso la ricevuta: da rimborsare al cittadino (Storna, dalla pagina del pagamento) o da rendicontare all\u2019ente con codice 9.'),
    slot,
    list,
  );
  try {
    const rows = await api('/v1/pagopa/refunds');
    replace(
      list,
      table({
        caption: 'Da rimborsare, dal più recente',
        rows,
        testid: 'pagopa-refunds',
        empty: 'Nessun pagamento pagoPA da rimborsare.',
        columns: [
          { label: 'Ricevuta', cell: (r) => h('a', { href: `#/pagamenti/${r.paymentId}` }, r.receiptNumber) },
          { label: 'Pagato il', cell: (r) => romeDateTime(r.bookedAt) },
          { label: 'Ente creditore', cell: (r) => `${r.creditorName} (${r.creditorFiscalCode})` },
          { label: 'Codice avviso', cell: (r) => r.noticeNumber },
          { label: 'Sportello', cell: (r) => r.counterId },
          { label: 'Importo', num: true, cell: (r) => money(r.amount) },
          { label: 'Motivo', cell: (r) => REASONS[r.reason] ?? r.reason ?? '—' },
          { label: 'Stato', cell: (r) => (r.refunded ? badge('rimborsato', 'ok') : badge('da rimborsare', 'warn')) },
        ],
      }),
    );
  } catch (err) {
    say(slot, messageOf(err));
  }
}
