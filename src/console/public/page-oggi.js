// Oggi: the current settlement window's figures (GET /v1/reports/day), live. The stream
// (/v1/stream, the session cookie) says when a payment is booked or reversed; the
// figures are then read again, at most once a second (the switch answers every console
// from one read per commit, but a busy window is a large read).
import { api, messageOf } from './api.js';
import { h, replace, say, table } from './dom.js';
import { count, day, euro, romeTime } from './format.js';
import { channelName, money, pageHead, paymentsTable } from './common.js';

const DEBOUNCE_MS = 1000;
const RETRY_MAX_MS = 15_000;

export async function render({ view }) {
  const status = h('span', { class: 'live live-off', role: 'status' }, 'disconnesso');
  const lead = h('p', { class: 'lead' }, 'Caricamento…');
  const slot = h('div', { class: 'msg-slot' });
  const figures = {
    count: h('p', { class: 'figure', 'data-testid': 'day-count' }, '—'),
    amount: h('p', { class: 'figure', 'data-testid': 'day-amount' }, '—'),
    fee: h('p', { class: 'figure', 'data-testid': 'day-fee' }, '—'),
    reversed: h('p', { class: 'figure', 'data-testid': 'day-reversed' }, '—'),
    reversedAmount: h('p', { class: 'sub' }, ''),
  };
  const card = (label, ...nodes) => h('div', { class: 'card' }, h('h2', null, label), nodes);
  const cards = h(
    'section',
    { class: 'cards', 'aria-label': 'Totali del giorno', 'aria-live': 'polite', 'aria-atomic': 'false' },
    card('Pagamenti', figures.count),
    card('Importo incassato', figures.amount),
    card('Commissioni', figures.fee),
    card('Stornati', figures.reversed, figures.reversedAmount),
  );
  const chart = h('div', { class: 'section' }, h('h2', null, 'Pagamenti per ora'));
  const groups = h('div', { class: 'grid-2' });
  const latest = h('div', { class: 'section' });
  view.append(pageHead('Oggi', status), lead, slot, cards, chart, groups, latest);

  let closed = false;

  const set = (node, text) => {
    if (node.textContent !== text) node.textContent = text;
  };

  function show(r) {
    set(figures.count, count(r.totals.count));
    set(figures.amount, euro(r.totals.amount));
    set(figures.fee, euro(r.totals.fee));
    set(figures.reversed, count(r.reversed.count));
    set(figures.reversedAmount, euro(r.reversed.amount));
    lead.textContent = `Finestra di regolamento del ${day(r.date)} · aggiornato alle ${romeTime(Date.now())}`;
    replace(chart, h('h2', null, 'Pagamenti per ora'), hourChart(r.byHour));
    replace(groups, 
      groupTable('Per servizio', r.byService),
      groupTable('Per ente', r.byEntity),
      groupTable('Per canale', r.byChannel.map((g) => ({ ...g, name: channelName(g.key) === g.key ? g.name : channelName(g.key) }))),
      groupTable('Per tipo di sportello', r.byCounterKind),
    );
    replace(latest, h('h2', null, 'Ultimi pagamenti'), paymentsTable('Gli ultimi 20 pagamenti della finestra', r.latest, { testid: 'latest' }));
  }

  // One read at a time; an event during a read asks for one more after it.
  let reading = false;
  let again = false;
  async function refresh() {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      const r = await api('/v1/reports/day');
      if (closed) return;
      show(r);
      say(slot, '');
    } catch (err) {
      if (!closed) say(slot, messageOf(err));
    } finally {
      reading = false;
      if (again && !closed) {
        again = false;
        void refresh();
      }
    }
  }

  let pending = null;
  const soon = () => {
    if (pending || closed) return;
    pending = setTimeout(() => {
      pending = null;
      void refresh();
    }, DEBOUNCE_MS);
  };

  // ---------------------------------------------------------------- the stream
  let ws = null;
  let retryMs = 500;
  let retryTimer = null;

  function setLive(on) {
    status.className = `live ${on ? 'live-on' : 'live-off'}`;
    status.textContent = on ? 'in diretta' : 'disconnesso';
  }

  function connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/stream?type=payment.booked,payment.reversed`;
    ws = new WebSocket(url, ['tserve.v1']);
    ws.addEventListener('open', () => {
      retryMs = 500;
      setLive(true);
      // Payments booked before the stream was open (the first read ran before it, or it
      // was down) came with no event: read the figures again.
      soon();
    });
    ws.addEventListener('message', (e) => {
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      if (m.type === 'payment.booked' || m.type === 'payment.reversed') soon();
    });
    ws.addEventListener('close', (e) => {
      ws = null;
      if (closed) return;
      setLive(false);
      // A refused or revoked session: asking for it again lands on the login page if it is over.
      if (e.code === 4401 || e.code === 4403 || e.code === 1006) {
        api('/console/session').catch(() => {});
      }
      retryTimer = setTimeout(connect, retryMs + Math.random() * 250);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    });
  }

  await refresh();
  connect();

  return () => {
    closed = true;
    clearTimeout(pending);
    clearTimeout(retryTimer);
    if (ws) ws.close(1000, 'page left');
  };
}

function groupTable(caption, rows) {
  return table({
    caption,
    rows,
    empty: 'Nessun pagamento.',
    columns: [
      { label: 'Nome', cell: (g) => g.name || g.key },
      { label: 'Pagamenti', num: true, cell: (g) => count(g.count) },
      { label: 'Importo', num: true, cell: (g) => money(g.amount) },
      { label: 'Commissioni', num: true, cell: (g) => money(g.fee) },
    ],
  });
}

/** 24 bars, one per hour of Rome's day; the figures are also in the label (role=img). */
function hourChart(byHour) {
  const hours = Array.from({ length: 24 }, (_, hour) => byHour.find((x) => x.hour === hour) ?? { hour, count: 0, amount: 0 });
  const max = Math.max(1, ...hours.map((x) => x.count));
  const W = 960;
  const H = 200;
  const left = 8;
  const bottom = 24;
  const top = 16;
  const slot = (W - left * 2) / 24;
  const busy = hours.filter((x) => x.count > 0);
  const label = busy.length
    ? `Pagamenti per ora (ora di Roma): ${busy.map((x) => `ore ${x.hour}: ${x.count}`).join(', ')}.`
    : 'Pagamenti per ora (ora di Roma): nessun pagamento.';
  const bars = hours.map((x, i) => {
    const hgt = Math.round(((H - bottom - top) * x.count) / max);
    const xPos = left + i * slot + slot * 0.15;
    return [
      h('svg:rect', { class: 'bar', x: xPos.toFixed(1), y: H - bottom - hgt, width: (slot * 0.7).toFixed(1), height: hgt }),
      x.count ? h('svg:text', { class: 'value', x: (xPos + slot * 0.35).toFixed(1), y: H - bottom - hgt - 4, 'text-anchor': 'middle' }, String(x.count)) : null,
      h('svg:text', { x: (left + i * slot + slot / 2).toFixed(1), y: H - 6, 'text-anchor': 'middle' }, String(x.hour)),
    ];
  });
  return h(
    'svg:svg',
    { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMid meet' },
    h('svg:title', null, label),
    h('svg:line', { class: 'axis', x1: left, y1: H - bottom + 0.5, x2: W - left, y2: H - bottom + 0.5 }),
    bars,
  );
}
