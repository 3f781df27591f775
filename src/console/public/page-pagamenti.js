// Pagamenti: the search (GET /v1/payments) and a payment's page (#/pagamenti/<id>) with
// its fee split, its receipt as PDF and, for the finance office, "Storna" (POST
// /v1/payments/:id/cancel, with a reason). An entity sees only its own: the switch
// confines it, the page only asks.
import { api, messageOf, query } from './api.js';
import { actionButton, confirmDialog, field, h, replace, say, table, uid } from './dom.js';
import { day, euro, romeDateTime } from './format.js';
import { channelName, money, pageHead, paymentStatus, paymentsTable } from './common.js';

/** The last search, kept while the console is open: back from a payment, its results again. */
let lastSearch = null;

export async function render({ view, session, param }) {
  if (param) return detail(view, session, param);
  return search(view, session);
}

// ------------------------------------------------------------------ search

const FIELDS = [
  { name: 'notice', label: 'Numero avviso', hint: '18 cifre, o lo IUV', inputmode: 'numeric' },
  { name: 'receipt', label: 'Numero ricevuta', hint: 'AAAAMMGG-NNNNNNNNNN' },
  { name: 'rrn', label: 'RRN', inputmode: 'numeric' },
  { name: 'identifier', label: 'Identificativo', hint: 'come pagato: avviso, targa, codice fiscale…' },
  { name: 'counterId', label: 'Sportello', hint: 'es. C0001' },
  { name: 'from', label: 'Dal', type: 'date' },
  { name: 'to', label: 'Al', type: 'date' },
];

async function search(view, session) {
  const staff = session.role !== 'entity';
  const inputs = {};
  const fields = FIELDS.map((f) => {
    inputs[f.name] = h('input', { name: f.name, type: f.type ?? 'text', inputmode: f.inputmode, autocomplete: 'off', spellcheck: 'false' });
    return field(f.label, inputs[f.name], f.hint);
  });
  if (staff) {
    inputs.entityId = h('select', { name: 'entityId' }, h('option', { value: '' }, 'Tutti gli enti'));
    fields.push(field('Ente', inputs.entityId));
    api('/v1/services')
      .then((services) => {
        const entities = new Map(services.map((s) => [s.entityId, s.entity]));
        for (const [id, name] of [...entities].sort((a, b) => a[1].localeCompare(b[1], 'it'))) inputs.entityId.append(h('option', { value: id }, name));
        if (lastSearch?.entityId) inputs.entityId.value = lastSearch.entityId;
      })
      .catch(() => {});
  }
  const slot = h('div', { class: 'msg-slot' });
  const results = h('div', { class: 'results' });
  const submit = h('button', { type: 'submit' }, 'Cerca');
  const clear = h('button', { type: 'button', class: 'secondary' }, 'Svuota');
  const form = h(
    'form',
    { class: 'section', role: 'search', 'aria-label': 'Ricerca pagamenti' },
    h('div', { class: 'form-grid' }, fields),
    h('div', { class: 'form-actions' }, submit, clear, h('span', { class: 'hint' }, 'Almeno un criterio, o un intervallo di date (giorni di regolamento).')),
  );
  view.append(pageHead('Pagamenti'), h('p', { class: 'lead' }, staff ? 'Cerca tra i pagamenti di tutta la rete.' : `Cerca tra i pagamenti dell’ente ${session.entityId}.`), form, slot, results);

  let items = [];
  let nextCursor = null;
  let criteria = null;

  const criteriaOf = () => {
    const c = {};
    for (const [k, input] of Object.entries(inputs)) {
      const v = input.value.trim();
      if (v) c[k] = k === 'notice' ? v.replace(/\s+/g, '') : v;
    }
    return c;
  };

  async function run(c, more) {
    say(slot, '');
    try {
      const page = await api(`/v1/payments${query({ ...c, limit: 50, cursor: more ? nextCursor : undefined })}`);
      items = more ? [...items, ...page.items] : page.items;
      nextCursor = page.nextCursor;
      criteria = c;
      lastSearch = c;
      showResults();
    } catch (err) {
      say(slot, messageOf(err));
    }
  }

  function showResults() {
    const moreBtn = nextCursor ? actionButton('Altri risultati', () => run(criteria, true), { class: 'secondary' }) : null;
    replace(results, 
      h('p', { role: 'status' }, items.length ? `${items.length} pagament${items.length === 1 ? 'o' : 'i'}${nextCursor ? ' (ce ne sono altri)' : ''}.` : 'Nessun pagamento trovato.'),
      items.length ? paymentsTable('Risultati della ricerca', items, { testid: 'payments' }) : null,
      moreBtn,
    );
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const c = criteriaOf();
    if (!Object.keys(c).some((k) => k !== 'entityId')) {
      say(slot, 'Indica almeno un criterio di ricerca o un intervallo di date.');
      return;
    }
    if (c.from && c.to && c.from > c.to) {
      say(slot, 'La data "Dal" è successiva alla data "Al".');
      return;
    }
    submit.disabled = true;
    try {
      await run(c, false);
    } finally {
      submit.disabled = false;
    }
  });
  clear.addEventListener('click', () => {
    for (const input of Object.values(inputs)) input.value = '';
    replace(results);
    say(slot, '');
    lastSearch = null;
    inputs.notice.focus();
  });

  if (lastSearch) {
    for (const [k, v] of Object.entries(lastSearch)) if (inputs[k]) inputs[k].value = v;
    await run(lastSearch, false);
  }
}

// ------------------------------------------------------------------ one payment

const OUTCOMES = { pending: 'in invio', sent: 'inviato: il nodo ha la ricevuta', refund_due: 'da rimborsare: il nodo non ha la ricevuta' };
const MODES = { netted: 'trattenuta dal riversamento all’ente', rebilled: 'rifatturata all’ente a fine mese' };

async function detail(view, session, id) {
  const slot = h('div', { class: 'msg-slot' });
  const body = h('div');
  view.append(h('p', null, h('a', { href: '#/pagamenti' }, '← Torna alla ricerca')), pageHead('Pagamento'), slot, body);

  let p;
  try {
    p = await api(`/v1/payments/${encodeURIComponent(id)}`);
  } catch (err) {
    say(slot, messageOf(err));
    return;
  }
  show();

  function show() {
    const facts = [
      ['Numero ricevuta', h('span', { class: 'mono' }, p.receiptNumber)],
      ['Stato', [paymentStatus(p), p.reversedAt ? ` il ${romeDateTime(p.reversedAt)}` : '']],
      ['Servizio', p.service],
      ['Ente', p.entity],
      ['Descrizione', p.description],
      ['Identificativo', h('span', { class: 'mono' }, p.identifier)],
      ['Importo', money(p.amount)],
      ['Commissione', money(p.fee)],
      ['Totale pagato', money(p.total)],
      ['Data e ora', romeDateTime(p.bookedAt)],
      ['Giorno di regolamento', day(p.settlementDate)],
      ['Sportello', p.counterId],
      ['Terminale', p.terminalId],
      ['Canale', channelName(p.channel)],
      ['RRN', h('span', { class: 'mono' }, p.rrn)],
      ['Codice di autorizzazione', h('span', { class: 'mono' }, p.approvalCode)],
      // A notice paid through pagoPA: its creditor, its token and where its outcome stands (docs/pagopa.md).
      ...(p.pagopa
        ? [
            ['Ente creditore (pagoPA)', `${p.pagopa.creditorName} (${p.pagopa.creditorFiscalCode})`],
            ['IUV', h('span', { class: 'mono' }, p.pagopa.iuv)],
            ['Token pagoPA', h('span', { class: 'mono' }, p.pagopa.paymentToken)],
            ['Esito a pagoPA', OUTCOMES[p.pagopa.outcome] ?? p.pagopa.outcome],
          ]
        : []),
    ];
    const receipt = h('a', { href: `/v1/payments/${encodeURIComponent(p.paymentId)}/receipt`, class: 'button secondary' }, 'Ricevuta PDF');
    receipt.addEventListener('click', (e) => {
      e.preventDefault();
      void downloadReceipt(p, slot);
    });
    const actions = [receipt];
    // pagoPA has no undo: only a payment the node took no receipt for can be refunded (REVERSAL_NOT_ALLOWED otherwise).
    const cancellable = !p.pagopa || p.pagopa.outcome === 'refund_due';
    if ((session.role === 'finance' || session.role === 'admin') && p.status === 'BOOKED' && cancellable) actions.push(actionButton('Storna', () => cancel(), { class: 'danger' }));
    replace(body, 
      h('div', { class: 'section' }, h('h2', null, 'Dati del pagamento'), h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]))),
      p.split ? splitTable(p) : null,
      h('div', { class: 'form-actions' }, actions),
    );
  }

  async function cancel() {
    const reasonId = uid('motivo');
    const values = await confirmDialog({
      title: 'Stornare il pagamento?',
      message: `Ricevuta ${p.receiptNumber}, ${euro(p.total)}. Nella finestra ancora aperta è uno storno; se la finestra è chiusa, un rimborso amministrativo nella finestra corrente. L’operazione è registrata con il motivo.`,
      fields: [h('div', { class: 'field' }, h('label', { for: reasonId }, 'Motivo'), h('textarea', { id: reasonId, name: 'reason', required: true, minlength: 3, maxlength: 200 }))],
      danger: true,
    });
    if (!values) return;
    try {
      const after = await api(`/v1/payments/${encodeURIComponent(p.paymentId)}/cancel`, { method: 'POST', json: { reason: String(values.reason).trim() } });
      p = { ...p, ...after };
      show();
      const kind = after.cancellation?.kind === 'adjustment' ? 'Rimborso amministrativo registrato' : 'Pagamento stornato';
      say(slot, `${kind}.`, 'ok');
    } catch (err) {
      say(slot, messageOf(err));
    }
  }
}

function splitTable(p) {
  const s = p.split;
  const rows = [
    { name: 'Commissione dello sportello', cents: s.commission },
    { name: 'Quota del gestore della rete', cents: s.operator },
    { name: 'Royalty del titolare del circuito', cents: s.royalty },
    { name: `Fee di circuito a carico dell’ente${s.circuitFeeMode ? ` (${MODES[s.circuitFeeMode] ?? s.circuitFeeMode})` : ''}`, cents: s.circuitFee },
  ];
  return h(
    'div',
    { class: 'section' },
    h('h2', null, 'Ripartizione della commissione'),
    table({ caption: `Commissione di ${euro(p.fee)} e fee di circuito`, rows, columns: [{ label: 'Voce', cell: (r) => r.name }, { label: 'Importo', num: true, cell: (r) => money(r.cents) }] }),
  );
}

/** The receipt comes as PDF when asked with Accept: a link alone would get the text. */
async function downloadReceipt(p, slot) {
  try {
    const blob = await api(`/v1/payments/${encodeURIComponent(p.paymentId)}/receipt`, { accept: 'application/pdf' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `ricevuta-${p.receiptNumber}.pdf`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    say(slot, messageOf(err));
  }
}
