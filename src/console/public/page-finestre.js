// Finestre di regolamento: every window (GET /v1/settlements) and the days over and not
// settled yet (GET /v1/settlements/due), newest first; "Esegui" (run) and "Approva"
// (finance only), each after a confirmation; every file of a window one click away; the
// month's rebilling statements and invoices per entity.
import { api, messageOf, query } from './api.js';
import { actionButton, badge, confirmDialog, field, h, replace, say, table } from './dom.js';
import { count, day, month, previousMonth, romeDateTime, romeIsoDate } from './format.js';
import { fileLink, money, pageHead } from './common.js';

const STATES = {
  due: ['da eseguire', 'warn'],
  closed: ['chiusa, da calcolare', 'warn'],
  draft: ['bozza', 'info'],
  approved: ['approvata', 'ok'],
  exported: ['approvata, esportata', 'ok'],
};
const SHOWN = 40;

export async function render({ view, session }) {
  const finance = session.role === 'finance';
  const slot = h('div', { class: 'msg-slot' });
  const list = h('div');
  view.append(
    pageHead('Finestre di regolamento'),
    h('p', { class: 'lead' }, 'Ogni giorno lavorativo è una finestra: si esegue (chiusura e calcolo della bozza), si approva, poi se ne scaricano i file.'),
    slot,
    list,
  );
  let all = false;

  async function load(focusDate) {
    let windows;
    let due;
    try {
      [windows, { due }] = await Promise.all([api('/v1/settlements'), api('/v1/settlements/due')]);
    } catch (err) {
      say(slot, messageOf(err));
      return;
    }
    const known = new Set(windows.map((w) => w.date));
    const rows = [...due.filter((d) => !known.has(d)).map((date) => ({ date, status: 'due', totals: null })), ...windows].sort((a, b) => b.date.localeCompare(a.date));
    const shown = all ? rows : rows.slice(0, SHOWN);
    replace(list, 
      table({
        caption: 'Finestre, dalla più recente',
        rows: shown,
        testid: 'windows',
        empty: 'Nessuna finestra ancora: la prima si chiude alla fine del primo giorno lavorativo con pagamenti.',
        columns: [
          { label: 'Giorno', cell: (w) => h('span', { class: 'nowrap', 'data-date': w.date }, day(w.date)) },
          { label: 'Stato', cell: (w) => badge(...(STATES[w.status] ?? [w.status, 'neutral'])) },
          { label: 'Pagamenti', num: true, cell: (w) => (w.totals ? count(w.totals.payments) : '—') },
          { label: 'Incassato', num: true, cell: (w) => (w.totals ? money(w.totals.collected) : '—') },
          { label: 'Commissioni', num: true, cell: (w) => (w.totals ? money(w.totals.commissions) : '—') },
          { label: 'Agli enti', num: true, cell: (w) => (w.totals ? money(w.totals.netPayouts) : '—') },
          { label: 'Approvazione', cell: (w) => (w.approvedAt ? `${(w.approvedBy ?? '').replace(/^[a-z]+:/, '')} ${romeDateTime(w.approvedAt)}`.trim() : '—') },
          { label: 'Azioni', cell: (w) => actions(w) },
          { label: 'File', cell: (w) => downloads(w) },
        ],
      }),
      rows.length > SHOWN && !all
        ? h('button', { type: 'button', class: 'secondary', onclick: () => ((all = true), void load()) }, `Mostra tutte le ${rows.length} finestre`)
        : null,
    );
    if (focusDate) {
      const cell = list.querySelector(`[data-date="${focusDate}"]`);
      const next = cell?.closest('tr')?.querySelector('button');
      (next ?? view.querySelector('h1'))?.focus();
    }
  }

  function actions(w) {
    const b = [];
    if (w.status === 'due' || w.status === 'closed' || w.status === 'draft') b.push(actionButton('Esegui', () => run(w), { class: 'small' }));
    if (finance && w.status === 'draft') b.push(actionButton('Approva', () => approve(w), { class: 'small' }));
    return b.length ? h('div', { class: 'row-actions' }, b) : '—';
  }

  function downloads(w) {
    if (w.status === 'due' || w.status === 'closed') return '—';
    const base = `/v1/settlements/${w.date}`;
    const links = [
      fileLink('CSV', `${base}/payments.csv`, { title: `Pagamenti del ${day(w.date)}, CSV per programmi` }),
      fileLink('CSV (Excel)', `${base}/payments.csv?dialect=it`, { title: `Pagamenti del ${day(w.date)}, CSV per Excel in italiano` }),
      h('a', { href: `${base}/report.pdf`, target: '_blank', rel: 'noopener', class: 'nowrap', title: `Resoconto del ${day(w.date)}` }, 'PDF'),
    ];
    if (finance && (w.status === 'approved' || w.status === 'exported')) {
      links.push(sepaLink('SEPA pain.001', `${base}/sepa/pain.001.xml`, `tserve-${w.date}-pain.001.xml`), sepaLink('SEPA pain.008', `${base}/sepa/pain.008.xml`, `tserve-${w.date}-pain.008.xml`));
    }
    return h('div', { class: 'downloads' }, links);
  }

  /** A SEPA file marks its window exported, and may be refused (nothing to export): fetched, saved, then the list read again. */
  function sepaLink(label, href, filename) {
    const a = h('a', { href, class: 'nowrap' }, label);
    a.addEventListener('click', async (e) => {
      e.preventDefault();
      try {
        save(await api(href, { accept: 'application/xml' }), filename);
        say(slot, `${label}: file scaricato.`, 'ok');
        await load();
      } catch (err) {
        say(slot, messageOf(err));
      }
    });
    return a;
  }

  async function run(w) {
    const ok = await confirmDialog({
      title: `Eseguire il regolamento del ${day(w.date)}?`,
      message: 'Chiude la finestra e ne calcola la bozza: riversamenti agli enti, addebiti agli sportelli, commissioni. Finché non è approvata si può eseguire di nuovo.',
    });
    if (!ok) return;
    try {
      const r = await api(`/v1/settlements/${w.date}/run`, { method: 'POST' });
      say(slot, `Regolamento del ${day(w.date)} eseguito: ${count(r.figures.totals.payments)} pagamenti, stato «${(STATES[r.window.status] ?? [r.window.status])[0]}».`, 'ok');
    } catch (err) {
      say(slot, messageOf(err));
    }
    await load(w.date);
  }

  async function approve(w) {
    const ok = await confirmDialog({
      title: `Approvare il regolamento del ${day(w.date)}?`,
      message: 'Dopo l’approvazione le cifre non cambiano più, e si possono scaricare i file SEPA per la banca.',
    });
    if (!ok) return;
    try {
      await api(`/v1/settlements/${w.date}/approve`, { method: 'POST' });
      say(slot, `Regolamento del ${day(w.date)} approvato.`, 'ok');
    } catch (err) {
      say(slot, messageOf(err));
    }
    await load(w.date);
  }

  await load();
  view.append(await rebilling());
}

/** A file fetched by the page, saved under its name. */
export function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The month's rebilling of circuit fees, per entity: statement, lines and FatturaPA invoice. */
async function rebilling() {
  const monthInput = h('input', { type: 'month', name: 'month', value: previousMonth(romeIsoDate(Date.now())), required: true });
  const entity = h('select', { name: 'entityId' });
  const out = h('div', { class: 'downloads', 'aria-live': 'polite' });
  const box = h(
    'section',
    { class: 'section', 'aria-labelledby': 'rif-h' },
    h('h2', { id: 'rif-h' }, 'Rifatturazione delle fee di circuito'),
    h('p', { class: 'hint' }, 'Il prospetto mensile di un ente, le sue righe e la fattura elettronica (FatturaPA), a mese finito.'),
    h('div', { class: 'form-grid' }, field('Mese', monthInput), field('Ente', entity)),
    h('h3', null, 'File del mese'),
    out,
  );
  try {
    const services = await api('/v1/services');
    const entities = new Map(services.map((s) => [s.entityId, s.entity]));
    for (const [id, name] of [...entities].sort((a, b) => a[1].localeCompare(b[1], 'it'))) entity.append(h('option', { value: id }, name));
  } catch (err) {
    replace(out, messageOf(err));
    return box;
  }
  const update = () => {
    const m = monthInput.value;
    const e = entity.value;
    if (!/^\d{4}-\d{2}$/.test(m) || !e) return replace(out, 'Scegli un mese e un ente.');
    const base = `/v1/rebilling/${m}`;
    const name = `${entity.selectedOptions[0]?.textContent ?? e}, ${month(m)}`;
    replace(out, 
      fileLink('Prospetto CSV', `${base}${query({ entityId: e, format: 'csv' })}`, { title: `Prospetto di ${name}` }),
      fileLink('Prospetto CSV (Excel)', `${base}${query({ entityId: e, format: 'csv', dialect: 'it' })}`, { title: `Prospetto di ${name}, per Excel` }),
      fileLink('Righe CSV', `${base}/lines${query({ entityId: e, format: 'csv', limit: 5000 })}`, { title: `Righe di ${name}` }),
      fileLink('Righe CSV (Excel)', `${base}/lines${query({ entityId: e, format: 'csv', dialect: 'it', limit: 5000 })}`, { title: `Righe di ${name}, per Excel` }),
      fileLink('Fattura FatturaPA', `${base}/invoice.xml${query({ entityId: e })}`, { title: `Fattura di ${name} (XML)` }),
    );
  };
  monthInput.addEventListener('change', update);
  entity.addEventListener('change', update);
  update();
  return box;
}
