// The console's shell: the session (cookie + CSRF token from /console/session), the
// header and its navigation by role, a hash router (#/oggi, #/pagamenti/<id>...), the
// login page, and back to it with "Sessione scaduta" on any 401.
import { api, ApiError, messageOf, onExpired, setCsrfToken } from './api.js';
import { field, h, replace, say } from './dom.js';

const ROLE_NAMES = { admin: 'Amministratore', finance: 'Ufficio finanziario', entity: 'Ente' };

/** The pages of each role, in the order of the navigation; the first is the home. */
const STAFF = [
  { path: 'oggi', label: 'Oggi', load: () => import('./page-oggi.js') },
  { path: 'finestre', label: 'Finestre di regolamento', load: () => import('./page-finestre.js') },
  { path: 'sportelli', label: 'Sportelli', load: () => import('./page-sportelli.js') },
  { path: 'pagamenti', label: 'Pagamenti', load: () => import('./page-pagamenti.js') },
  { path: 'pagopa', label: 'pagoPA', load: () => import('./page-pagopa.js') },
];
const ENTITY = [
  { path: 'pagamenti', label: 'Pagamenti', load: () => import('./page-pagamenti.js') },
  { path: 'estratti', label: 'Estratti conto', load: () => import('./page-estratti.js') },
  { path: 'rifatturazione', label: 'Rifatturazione', load: () => import('./page-rifatturazione.js') },
  { path: 'posizioni', label: 'Posizioni debitorie', load: () => import('./page-posizioni.js') },
];

const main = document.getElementById('contenuto');
const top = document.getElementById('top');
let session = null;
let cleanup = null;
let renders = 0;

const pagesOf = (s) => (s.role === 'entity' ? ENTITY : STAFF);

function startSession(s) {
  session = s;
  setCsrfToken(s.csrfToken);
  const role = ROLE_NAMES[s.role] ?? s.role;
  document.getElementById('who').replaceChildren(
    h('span', { class: 'who-name' }, s.username),
    ' · ',
    h('span', { class: 'who-role' }, s.role === 'entity' && s.entityId ? (s.entityName ?? `${role} ${s.entityId}`) : role),
  );
  document.getElementById('nav-links').replaceChildren(...pagesOf(s).map((p) => h('li', null, h('a', { href: `#/${p.path}`, 'data-page': p.path }, p.label))));
  top.hidden = false;
}

function endSession() {
  session = null;
  setCsrfToken(null);
  top.hidden = true;
  runCleanup();
}

function runCleanup() {
  const fn = cleanup;
  cleanup = null;
  if (fn) fn();
}

// ------------------------------------------------------------------ login

function showLogin(message) {
  endSession();
  document.title = 'Accesso — tserve';
  const slot = h('div', { class: 'msg-slot' });
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, maxlength: 64, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 256 });
  const submit = h('button', { type: 'submit' }, 'Accedi');
  const form = h('form', { class: 'login-form', novalidate: false }, field('Utente', user), field('Password', pass), submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    say(slot, '');
    try {
      const s = await api('/console/session', { method: 'POST', json: { username: user.value.trim(), password: pass.value }, session: false });
      pass.value = '';
      startSession(s);
      const wanted = routeOf(location.hash);
      if (!wanted || !pagesOf(s).some((p) => p.path === wanted.path)) location.hash = `#/${pagesOf(s)[0].path}`;
      else void route(true);
    } catch (err) {
      const text = err instanceof ApiError && err.status === 401 ? 'Utente o password errati.' : messageOf(err);
      say(slot, text);
      pass.value = '';
      pass.focus();
    } finally {
      submit.disabled = false;
    }
  });
  const lead = h('div', { class: 'msg-slot' });
  if (message === 'expired') lead.append(h('p', { role: 'alert', class: 'msg msg-error' }, 'Sessione scaduta'), h('p', { class: 'hint' }, 'Accedi di nuovo per continuare.'));
  if (message === 'bye') lead.append(h('p', { role: 'status', class: 'msg msg-ok' }, 'Sei uscito dalla console.'));
  if (message && message !== 'expired' && message !== 'bye') say(lead, message);
  replace(main, 
    h('section', { class: 'login' }, h('h1', { tabindex: -1 }, 'Accesso alla console'), h('p', { class: 'lead' }, 'Ufficio finanziario, enti e amministratori della rete tserve.'), lead, form, slot),
  );
  user.focus();
}

let expiring = false;
onExpired(() => {
  if (!session || expiring) return;
  expiring = true;
  showLogin('expired');
  expiring = false;
});

document.getElementById('logout').addEventListener('click', async () => {
  try {
    await api('/console/session', { method: 'DELETE', session: false });
  } catch {
    // Gone already, or the switch is down: the page forgets the session either way.
  }
  showLogin('bye');
});

// ------------------------------------------------------------------ router

/** '#/pagamenti/abc' -> {path: 'pagamenti', param: 'abc'}; null for other hashes (the skip link's). */
function routeOf(hash) {
  const m = /^#\/([a-z-]+)(?:\/([^/?#]+))?\/?$/.exec(hash);
  return m ? { path: m[1], param: m[2] ? decodeURIComponent(m[2]) : null } : null;
}

async function route(focus) {
  if (!session) return;
  const r = routeOf(location.hash);
  const pages = pagesOf(session);
  const page = r && pages.find((p) => p.path === r.path);
  if (!page) {
    location.replace(`#/${pages[0].path}`);
    return;
  }
  const mine = ++renders;
  runCleanup();
  for (const a of document.querySelectorAll('#nav-links a')) {
    if (a.dataset.page === page.path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${page.label} — tserve`;
  const view = h('div', { class: 'view' });
  replace(main, view);
  try {
    const mod = await page.load();
    if (mine !== renders) return;
    const done = await mod.render({ view, session, param: r.param, api });
    if (mine !== renders) {
      if (typeof done === 'function') done();
      return;
    }
    cleanup = typeof done === 'function' ? done : null;
  } catch (err) {
    if (mine !== renders || !session) return;
    const slot = h('div', { class: 'msg-slot' });
    view.append(h('h1', { tabindex: -1 }, page.label), slot);
    say(slot, messageOf(err));
  }
  // A new page: its heading takes the focus, so a screen reader starts there.
  if (focus && mine === renders) view.querySelector('h1')?.focus();
}

window.addEventListener('hashchange', () => {
  if (routeOf(location.hash)) void route(true);
});

document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  (main.querySelector('h1') ?? main).focus();
});

// ------------------------------------------------------------------ start

async function boot() {
  try {
    const s = await api('/console/session', { session: false });
    startSession(s);
    const wanted = routeOf(location.hash);
    // A hash of another role's page (or none) becomes the home page; hashchange renders it.
    if (!wanted || !pagesOf(s).some((p) => p.path === wanted.path)) location.replace(`#/${pagesOf(s)[0].path}`);
    else await route(false);
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? null : messageOf(err));
  }
}

void boot();
