// Posizioni debitorie (an entity): its positions (GET /v1/debt-positions, a page at a
// time) and the CSV upload (POST /v1/debt-positions/bulk, text/csv, all or nothing),
// whose refusal (422 ROWS_INVALID, 409 CONFLICT) is shown row by row.
import { ApiError, api, messageOf, query } from './api.js';
import { actionButton, badge, field, h, replace, say, table } from './dom.js';
import { count, day, euro } from './format.js';
import { pageHead } from './common.js';

const HEADER = 'externalRef,service,debtorFiscalCode,debtorName,description,validUntil,noticeNumber,lookupKey,kind,instalmentNo,amount,dueDate,optionDescription';
const STATUS = { VALID: ['valida', 'ok'], PAID: ['pagata', 'info'], PARTIALLY_PAID: ['pagata in parte', 'info'], CANCELLED: ['annullata', 'neutral'], EXPIRED: ['scaduta', 'warn'], DRAFT: ['in caricamento', 'warn'] };

export async function render({ view, session }) {
  const slot = h('div', { class: 'msg-slot' });
  const file = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv', required: true });
  const submit = h('button', { type: 'submit' }, 'Carica');
  const report = h('div');
  const upload = h(
    'form',
    { class: 'section', 'aria-labelledby': 'carica-h' },
    h('h2', { id: 'carica-h' }, 'Carica posizioni da file'),
    h('p', { class: 'hint' }, 'Un file CSV con una riga di intestazione e una riga per opzione di pagamento (le righe con lo stesso externalRef formano una posizione). Tutto o niente: se una riga è sbagliata non viene caricato nulla.'),
    h('p', { class: 'hint' }, 'Intestazione: ', h('code', { class: 'csv-header' }, HEADER), '. Importi in centesimi, date AAAA-MM-GG.'),
    field('File CSV', file),
    h('div', { class: 'form-actions' }, submit),
    report,
  );
  const list = h('div', { class: 'section' });
  view.append(pageHead('Posizioni debitorie'), h('p', { class: 'lead' }, `Le posizioni pubblicate dall’ente ${session.entityId}: ogni avviso è pagabile agli sportelli.`), slot, upload, list);

  upload.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = file.files?.[0];
    replace(report);
    if (!f) return say(report, 'Scegli un file CSV.');
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      const text = await f.text();
      const r = await api(`/v1/debt-positions/bulk${query({})}`, { method: 'POST', body: text, type: 'text/csv' });
      say(report, `File «${f.name}» caricato: ${count(r.created)} posizioni create.`, 'ok');
      file.value = '';
      await loadList(true);
    } catch (err) {
      showRefusal(err, f.name);
    } finally {
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });

  function showRefusal(err, name) {
    const errors = err instanceof ApiError ? err.problem?.errors : null;
    say(report, `File «${name}» non caricato. ${messageOf(err)}`);
    if (!errors?.length) return;
    const total = err.problem.errorCount ?? errors.length;
    report.append(
      table({
        caption: total > errors.length ? `Righe rifiutate: le prime ${errors.length} di ${count(total)}` : `Righe rifiutate: ${count(total)}`,
        rows: errors,
        testid: 'upload-errors',
        columns: [
          { label: 'Riga', num: true, cell: (x) => (x.row === undefined ? '—' : String(x.row)) },
          { label: 'Codice', cell: (x) => h('span', { class: 'mono' }, x.code) },
          { label: 'Problema', cell: (x) => x.detail },
        ],
      }),
    );
  }

  let items = [];
  let cursor = null;
  async function loadList(fresh) {
    try {
      if (fresh) {
        items = [];
        cursor = null;
      }
      const page = await api(`/v1/debt-positions${query({ limit: 25, cursor: cursor ?? undefined })}`);
      items = [...items, ...page.items];
      cursor = page.nextCursor;
      showList();
    } catch (err) {
      say(slot, messageOf(err));
    }
  }

  function showList() {
    replace(list, 
      h('h2', null, 'Posizioni pubblicate'),
      table({
        caption: `Posizioni, ${count(items.length)} mostrate`,
        rows: items,
        testid: 'positions',
        empty: 'Nessuna posizione.',
        columns: [
          { label: 'Riferimento', cell: (p) => h('span', { class: 'mono' }, p.externalRef) },
          { label: 'Servizio', cell: (p) => p.service },
          { label: 'Debitore', cell: (p) => [p.debtorName ?? '', p.debtorName ? h('br') : null, h('span', { class: 'mono' }, p.debtorFiscalCode)] },
          { label: 'Descrizione', cell: (p) => p.description },
          { label: 'Avvisi', cell: (p) => p.options.map((o) => h('div', { class: 'nowrap' }, h('span', { class: 'mono' }, o.noticeNumber), ` ${euro(o.amount)} entro ${day(o.dueDate)}${o.paid ? ' (pagato)' : ''}`)) },
          { label: 'Stato', cell: (p) => badge(...(STATUS[p.status] ?? [p.status.toLowerCase(), 'neutral'])) },
        ],
      }),
      cursor !== null && cursor !== undefined ? actionButton('Altre posizioni', () => loadList(false), { class: 'secondary' }) : null,
    );
  }

  await loadList(true);
}
