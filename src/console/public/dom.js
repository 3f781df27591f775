// Building the page without innerHTML (values from the switch are always text), tables,
// alerts and the confirmation dialog.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** h('p', {class: 'x', onclick: fn}, 'text', child, [more]) — 'svg:rect' for SVG. */
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && !svg) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children, skipping null and false as append does. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let ids = 0;
export const uid = (prefix) => `${prefix}-${++ids}`;

/**
 * A table in a wrapper that scrolls sideways on a narrow screen (focusable, so the
 * keyboard scrolls it too). Columns: {label, cell: (row) => node|text, num?: true};
 * the first column heads its row; rowAttrs(row) gives a row's attributes.
 */
export function table({ caption, columns, rows, empty = 'Nessun dato.', testid, captionHidden = false, rowAttrs }) {
  const capId = uid('cap');
  const head = h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)));
  const body = rows.length
    ? rows.map((row) =>
        h('tr', rowAttrs ? rowAttrs(row) : null, columns.map((c, i) => h(i === 0 ? 'th' : 'td', { scope: i === 0 ? 'row' : null, class: c.num ? 'num' : null }, c.cell(row)))),
      )
    : [h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, empty))];
  return h(
    'div',
    { class: 'table-wrap', role: 'region', 'aria-labelledby': capId, tabindex: 0 },
    h('table', { 'data-testid': testid }, h('caption', { id: capId, class: captionHidden ? 'visually-hidden' : null }, caption), h('thead', null, head), h('tbody', null, body)),
  );
}

/** A message in role=alert (errors) or role=status (news), replacing the previous one in `slot`. */
export function say(slot, text, kind = 'error') {
  slot.replaceChildren();
  if (!text) return;
  slot.append(h('p', { role: kind === 'error' ? 'alert' : 'status', class: kind === 'error' ? 'msg msg-error' : 'msg msg-ok' }, kind === 'error' ? h('strong', null, 'Errore: ') : null, text));
}

/**
 * Asks for a confirmation in a modal <dialog>: resolves to the form's values (an
 * object) on "Conferma", null on "Annulla" or Escape. `fields` are extra nodes of the
 * form (a textarea "Motivo"); the browser checks their constraints first.
 */
export function confirmDialog({ title, message, fields = [], confirmLabel = 'Conferma', danger = false }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dlg');
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', { id: titleId }, title),
      message ? h('p', null, message) : null,
      fields,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : null }, confirmLabel),
        h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close('') }, 'Annulla'),
      ),
    );
    const dialog = h('dialog', { 'aria-labelledby': titleId }, form);
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'ok';
      const values = ok ? Object.fromEntries(new FormData(form)) : null;
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(values);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A button that runs `action` once at a time (disabled and aria-busy meanwhile). */
export function actionButton(label, action, attrs = {}) {
  const b = h('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', async () => {
    if (b.disabled) return;
    b.disabled = true;
    b.setAttribute('aria-busy', 'true');
    try {
      await action(b);
    } finally {
      b.disabled = false;
      b.removeAttribute('aria-busy');
    }
  });
  return b;
}

/** A labelled field: <label for> and its input. */
export function field(label, input, hint) {
  const id = input.id || uid('f');
  input.id = id;
  const hintNode = hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintNode) input.setAttribute('aria-describedby', hintNode.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintNode);
}

/** A status word with a shape beside its colour (never colour alone). */
export function badge(text, tone = 'neutral') {
  return h('span', { class: `badge badge-${tone}` }, text);
}
