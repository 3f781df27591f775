// Estratti conto (an entity): its statement of every settled window (GET /v1/settlements
// gives an entity its own summary) and the files: the statement as CSV, CSV for Excel
// and PDF, and the window's payment lines (its own only).
import { api, messageOf } from './api.js';
import { badge, h, say, table } from './dom.js';
import { count, day } from './format.js';
import { fileLink, money, pageHead } from './common.js';

const STATES = { closed: ['in calcolo', 'warn'], draft: ['provvisorio', 'info'], approved: ['definitivo', 'ok'], exported: ['definitivo, pagato', 'ok'] };

export async function render({ view, session }) {
  const slot = h('div', { class: 'msg-slot' });
  view.append(
    pageHead('Estratti conto'),
    h('p', { class: 'lead' }, `Per ogni giorno di regolamento: quanto è stato incassato per l’ente ${session.entityId} e quanto gli viene riversato.`),
    slot,
  );
  let windows;
  try {
    windows = await api('/v1/settlements');
  } catch (err) {
    say(slot, messageOf(err));
    return;
  }
  const e = encodeURIComponent(session.entityId);
  view.append(
    table({
      caption: 'Estratti conto, dal più recente',
      rows: windows,
      testid: 'statements',
      empty: 'Nessun regolamento ancora.',
      columns: [
        { label: 'Giorno', cell: (w) => h('span', { class: 'nowrap' }, day(w.date)) },
        { label: 'Stato', cell: (w) => badge(...(STATES[w.status] ?? [w.status, 'neutral'])) },
        { label: 'Pagamenti', num: true, cell: (w) => (w.statement ? count(w.statement.count) : '—') },
        { label: 'Incassato', num: true, cell: (w) => (w.statement ? money(w.statement.gross) : '—') },
        { label: 'Storni', num: true, cell: (w) => (w.statement ? money(w.statement.reversals) : '—') },
        { label: 'Rimborsi', num: true, cell: (w) => (w.statement ? money(w.statement.adjustments) : '—') },
        { label: 'Riversato all’ente', num: true, cell: (w) => (w.statement ? money(w.statement.netPayout) : '—') },
        {
          label: 'Estratto',
          cell: (w) =>
            w.statement
              ? h(
                  'div',
                  { class: 'downloads' },
                  fileLink('CSV', `/v1/settlements/${w.date}/entities/${e}?format=csv`),
                  fileLink('CSV (Excel)', `/v1/settlements/${w.date}/entities/${e}?format=csv&dialect=it`),
                  h('a', { href: `/v1/settlements/${w.date}/entities/${e}?format=pdf`, target: '_blank', rel: 'noopener', class: 'nowrap' }, 'PDF'),
                )
              : '—',
        },
        {
          label: 'Righe dei pagamenti',
          cell: (w) =>
            w.statement
              ? h('div', { class: 'downloads' }, fileLink('Righe CSV', `/v1/settlements/${w.date}/payments.csv`), fileLink('Righe CSV (Excel)', `/v1/settlements/${w.date}/payments.csv?dialect=it`))
              : '—',
        },
      ],
    }),
  );
}
