// Pieces several pages share: the payments table, status words, download links, a page head.
import { badge, h, table } from './dom.js';
import { euro, romeDateTime } from './format.js';

export const CHANNELS = { json: 'API', iso8583: 'POS' };
export const channelName = (key) => CHANNELS[key] ?? key;

export function paymentStatus(p) {
  return p.status === 'REVERSED' ? badge('Stornato', 'bad') : badge('Pagato', 'ok');
}

/** Cents in a cell that keeps them on one line. */
export const money = (cents) => h('span', { class: 'money' }, euro(cents));

/** Payments, newest first: each receipt number opens the payment's page. */
export function paymentsTable(caption, items, { testid, empty = 'Nessun pagamento.' } = {}) {
  return table({
    caption,
    testid,
    empty,
    rows: items,
    columns: [
      { label: 'Ricevuta', cell: (p) => h('a', { href: `#/pagamenti/${encodeURIComponent(p.paymentId)}`, class: 'mono' }, p.receiptNumber) },
      // Second, so that a narrow screen scrolling the table sideways still shows it.
      { label: 'Stato', cell: paymentStatus },
      { label: 'Data e ora', cell: (p) => h('span', { class: 'nowrap' }, romeDateTime(p.bookedAt)) },
      { label: 'Servizio ed ente', cell: (p) => [p.service, h('span', { class: 'small-note' }, p.entity)] },
      { label: 'Identificativo', cell: (p) => h('span', { class: 'mono' }, p.identifier) },
      { label: 'Importo', num: true, cell: (p) => money(p.amount) },
      { label: 'Commissione', num: true, cell: (p) => money(p.fee) },
      { label: 'Sportello', cell: (p) => p.counterId },
      { label: 'Canale', cell: (p) => channelName(p.channel) },
    ],
  });
}

/** A link to a file of the API (the session cookie goes with it); `download` saves instead of opening. */
export function fileLink(label, href, { download = true, title } = {}) {
  return h('a', { href, download: download ? '' : null, title, class: 'nowrap' }, label);
}

/** The page's heading and, beside it, what else the head shows. */
export function pageHead(title, ...aside) {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, title), aside.length ? h('div', { class: 'page-aside' }, aside) : null);
}
