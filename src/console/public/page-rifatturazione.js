// Rifatturazione (an entity): the monthly statement of circuit fees (GET
// /v1/rebilling/:month), its lines (GET /v1/rebilling/:month/lines, a page at a time) and
// the month's FatturaPA invoice, once the month is over.
import { api, messageOf, query } from './api.js';
import { actionButton, badge, field, h, replace, say, table } from './dom.js';
import { count, day, month, romeDateTime, romeIsoDate } from './format.js';
import { fileLink, money, pageHead } from './common.js';
import { save } from './page-finestre.js';

const MODES = { rebilled: 'rifatturate con fattura mensile', netted: 'trattenute dal riversamento' };
const KINDS = { booking: 'pagamento', reversal: 'storno', adjustment: 'rimborso' };

export async function render({ view }) {
  const monthInput = h('input', { type: 'month', name: 'month', value: romeIsoDate(Date.now()).slice(0, 7), required: true });
  const form = h('form', { class: 'section form-grid' }, field('Mese', monthInput), h('div', { class: 'form-actions' }, h('button', { type: 'submit' }, 'Mostra')));
  const slot = h('div', { class: 'msg-slot' });
  const out = h('div');
  view.append(pageHead('Rifatturazione'), h('p', { class: 'lead' }, 'Le fee di circuito del mese, per servizio, le righe dei pagamenti che le generano e la fattura elettronica.'), form, slot, out);

  async function load() {
    const m = monthInput.value;
    say(slot, '');
    if (!/^\d{4}-\d{2}$/.test(m)) return say(slot, 'Indica un mese.');
    let st;
    try {
      st = await api(`/v1/rebilling/${m}`);
    } catch (err) {
      replace(out);
      return say(slot, messageOf(err));
    }
    const base = `/v1/rebilling/${m}`;
    const invoice = h('a', { href: `${base}/invoice.xml`, class: 'nowrap' }, 'Fattura FatturaPA');
    invoice.addEventListener('click', async (e) => {
      e.preventDefault();
      try {
        save(await api(`${base}/invoice.xml`, { accept: 'application/xml' }), `fattura-${m}.xml`);
      } catch (err) {
        say(slot, messageOf(err));
      }
    });
    const lines = h('div');
    replace(out, 
      h(
        'div',
        { class: 'section' },
        h('h2', null, `Prospetto di ${month(m)}`),
        h('p', null, st.final ? badge('definitivo', 'ok') : badge('provvisorio: il mese non è finito', 'warn'), ' ', st.mode ? `Fee di circuito ${MODES[st.mode] ?? st.mode}.` : 'Nessuna fee di circuito.'),
        table({
          caption: `Fee di circuito per servizio, ${month(m)}`,
          rows: st.lines,
          empty: 'Nessun pagamento nel mese.',
          columns: [
            { label: 'Servizio', cell: (l) => `${l.serviceName} (${l.serviceCode})` },
            { label: 'Tariffa', num: true, cell: (l) => money(l.rate) },
            { label: 'Pagamenti', num: true, cell: (l) => count(l.count) },
            { label: 'Annullati', num: true, cell: (l) => count(l.cancelled) },
            { label: 'Netti', num: true, cell: (l) => count(l.net) },
            { label: 'Importo', num: true, cell: (l) => money(l.amount) },
          ],
        }),
        h('p', null, h('strong', null, 'Totale: '), money(st.totals.amount), ` per ${count(st.totals.net)} pagamenti netti.`),
        h('div', { class: 'downloads' },
          fileLink('Prospetto CSV', `${base}?format=csv`),
          fileLink('Prospetto CSV (Excel)', `${base}?format=csv&dialect=it`),
          fileLink('Righe CSV', `${base}/lines?format=csv&limit=5000`),
          fileLink('Righe CSV (Excel)', `${base}/lines?format=csv&dialect=it&limit=5000`),
          invoice,
        ),
      ),
      h('div', { class: 'section' }, h('h2', null, 'Righe'), lines),
    );
    await showLines(base, lines);
  }

  async function showLines(base, box) {
    let items = [];
    let cursor = null;
    const more = async () => {
      try {
        const page = await api(`${base}/lines${query({ format: 'json', limit: 200, cursor })}`);
        items = [...items, ...page.items];
        cursor = page.nextCursor;
        render();
      } catch (err) {
        say(slot, messageOf(err));
      }
    };
    const render = () =>
      replace(box, 
        table({
          caption: 'Pagamenti rifatturati nel mese',
          rows: items,
          empty: 'Nessuna riga.',
          columns: [
            { label: 'Ricevuta', cell: (l) => h('span', { class: 'mono' }, l.receiptNumber) },
            { label: 'Data e ora', cell: (l) => h('span', { class: 'nowrap' }, romeDateTime(l.bookedAt)) },
            { label: 'Tipo', cell: (l) => KINDS[l.kind] ?? l.kind },
            { label: 'Servizio', cell: (l) => l.serviceName ?? l.serviceCode },
            { label: 'Avviso / identificativo', cell: (l) => h('span', { class: 'mono' }, l.noticeNumber ?? l.iuv ?? l.identifier ?? '—') },
            { label: 'Regolamento', cell: (l) => day(l.settlementDate) },
            { label: 'Importo', num: true, cell: (l) => money(l.amount) },
            { label: 'Fee di circuito', num: true, cell: (l) => money(l.circuitFee) },
          ],
        }),
        cursor ? actionButton('Altre righe', more, { class: 'secondary' }) : null,
      );
    await more();
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load();
  });
  await load();
}
