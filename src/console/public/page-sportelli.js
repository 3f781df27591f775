// Sportelli: every counter's day (GET /v1/counters/day): its bookings, credit used
// against its limit, its statement of the latest settled window; admins suspend and
// reactivate (POST /v1/admin/counters/:id/suspend|reactivate) after a confirmation.
import { api, messageOf, query } from './api.js';
import { actionButton, badge, confirmDialog, field, h, replace, say, table } from './dom.js';
import { count, day, euro } from './format.js';
import { fileLink, money, pageHead } from './common.js';

export async function render({ view, session }) {
  const admin = session.role === 'admin';
  const slot = h('div', { class: 'msg-slot' });
  const dateInput = h('input', { type: 'date', name: 'date' });
  const filter = h('input', { type: 'search', name: 'filter', autocomplete: 'off' });
  const form = h(
    'form',
    { class: 'section form-grid' },
    field('Giorno di regolamento', dateInput, 'vuoto: la finestra in corso'),
    field('Filtra sportelli', filter, 'codice, nome o tipo'),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit' }, 'Mostra')),
  );
  const list = h('div');
  view.append(pageHead('Sportelli'), h('p', { class: 'lead' }, 'I pagamenti del giorno di ogni sportello, il credito usato rispetto al suo limite, il suo estratto conto.'), form, slot, list);

  let counters = [];
  let statementDate = null;

  async function load() {
    try {
      const date = dateInput.value || undefined;
      const [rows, windows] = await Promise.all([api(`/v1/counters/day${query({ date })}`), api('/v1/settlements')]);
      counters = rows;
      // Statements exist for settled windows: the chosen day's, else the latest before it.
      const settled = windows.filter((w) => w.status !== 'closed' && (!date || w.date <= date));
      statementDate = settled.length ? settled[0].date : null;
      show();
    } catch (err) {
      say(slot, messageOf(err));
    }
  }

  function show() {
    const f = filter.value.trim().toLowerCase();
    const rows = f ? counters.filter((c) => `${c.id} ${c.name} ${c.kind} ${c.kindName ?? ''}`.toLowerCase().includes(f)) : counters;
    const columns = [
      { label: 'Sportello', cell: (c) => c.id },
      { label: 'Nome', cell: (c) => c.name },
      { label: 'Tipo', cell: (c) => c.kindName ?? c.kind },
      { label: 'Stato', cell: (c) => (c.status === 'active' ? badge('attivo', 'ok') : c.status === 'suspended' ? badge('sospeso', 'bad') : badge(c.status)) },
      { label: 'Pagamenti', num: true, cell: (c) => count(c.count) },
      { label: 'Importo', num: true, cell: (c) => money(c.amount) },
      { label: 'Commissioni', num: true, cell: (c) => money(c.fee) },
      { label: 'Allo sportello', num: true, cell: (c) => money(c.commission) },
      { label: 'Credito usato', cell: credit },
      { label: statementDate ? `Estratto del ${day(statementDate)}` : 'Estratto', cell: statement },
    ];
    if (admin) columns.push({ label: 'Azioni', cell: actions });
    replace(list, 
      h('p', { role: 'status' }, `${rows.length} sportell${rows.length === 1 ? 'o' : 'i'}${f ? ` su ${counters.length}` : ''}.`),
      table({ caption: 'Sportelli e loro giornata', rows, columns, testid: 'counters', empty: 'Nessuno sportello.', rowAttrs: (c) => ({ 'data-id': c.id }) }),
    );
  }

  function credit(c) {
    const limit = c.creditLimit;
    const used = Math.max(0, c.exposure);
    const pct = limit > 0 ? Math.round((used * 100) / limit) : null;
    return h(
      'div',
      { class: 'credit' },
      limit > 0
        ? h('meter', { min: 0, max: limit, value: Math.min(used, limit), low: Math.round(limit * 0.7), high: Math.round(limit * 0.9), optimum: 0, 'aria-label': `Credito usato da ${c.id}` })
        : null,
      h('span', { class: 'credit-text' }, limit > 0 ? `${euro(used)} di ${euro(limit)} (${pct}%)` : `${euro(used)}, nessun limite`),
    );
  }

  function statement(c) {
    if (!statementDate) return '—';
    const base = `/v1/settlements/${statementDate}/counters/${encodeURIComponent(c.id)}`;
    return h(
      'div',
      { class: 'downloads' },
      h('a', { href: `${base}?format=pdf`, target: '_blank', rel: 'noopener', class: 'nowrap' }, 'PDF'),
      fileLink('CSV', `${base}?format=csv`),
      fileLink('CSV (Excel)', `${base}?format=csv&dialect=it`),
    );
  }

  function actions(c) {
    const suspend = c.status === 'active';
    return actionButton(suspend ? 'Sospendi' : 'Riattiva', async () => {
      const ok = await confirmDialog({
        title: `${suspend ? 'Sospendere' : 'Riattivare'} lo sportello ${c.id}?`,
        message: suspend
          ? `${c.name}: i suoi terminali saranno rifiutati finché non viene riattivato.`
          : `${c.name}: i suoi terminali potranno di nuovo incassare.`,
        danger: suspend,
      });
      if (!ok) return;
      try {
        await api(`/v1/admin/counters/${encodeURIComponent(c.id)}/${suspend ? 'suspend' : 'reactivate'}`, { method: 'POST' });
        say(slot, `Sportello ${c.id} ${suspend ? 'sospeso' : 'riattivato'}.`, 'ok');
        await load();
        // The row's button changed name: the focus goes back to it.
        list.querySelector(`tr[data-id="${c.id}"] button`)?.focus();
      } catch (err) {
        say(slot, messageOf(err));
      }
    }, { class: suspend ? 'small danger' : 'small' });
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load();
  });
  filter.addEventListener('input', () => show());
  await load();
}
