// The console's calls to the switch: same origin, the session cookie, X-CSRF-Token on
// every unsafe method, problem+json turned into ApiError; a 401 ends the session
// (the page goes back to the login with "Sessione scaduta").

let csrfToken = null;
let expired = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}
/** What to do when the switch answers 401 to a call made in a session. */
export function onExpired(fn) {
  expired = fn;
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code ?? null;
    this.problem = problem ?? null;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A query string of the non-empty values, '' when none. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Calls the API. `json` is sent as JSON, `body` as it is with `type`; `session: false`
 * for the login itself (its 401 is a wrong password, not an expired session).
 */
export async function api(path, { method = 'GET', json, body, type, accept = 'application/json', session = true } = {}) {
  const headers = { Accept: accept };
  if (UNSAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let payload = body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (type) headers['Content-Type'] = type;
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, { code: 'NETWORK', detail: 'the switch cannot be reached' });
  }
  if (res.status === 401 && session) {
    expired();
    throw new ApiError(401, await problemOf(res));
  }
  if (!res.ok) throw new ApiError(res.status, await problemOf(res));
  if (res.status === 204) return null;
  const ct = res.headers.get('content-type') ?? '';
  if (ct.includes('json')) return res.json();
  return res.blob();
}

async function problemOf(res) {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/** What a person reads of a refusal, in Italian (the switch's detail, in English, follows). */
const MESSAGES = {
  NETWORK: 'Il sistema non risponde: controlla la connessione e riprova.',
  UNAUTHORIZED: 'Credenziali non valide.',
  FORBIDDEN: 'Accesso negato: operazione non permessa al tuo profilo.',
  CSRF: 'Richiesta rifiutata (protezione CSRF): ricarica la pagina.',
  NOT_FOUND: 'Non trovato.',
  FORMAT: 'Dati non validi.',
  RATE_LIMITED: 'Troppe richieste: attendi qualche istante e riprova.',
  UNAVAILABLE: 'Servizio momentaneamente non disponibile: riprova tra poco.',
  SYSTEM: 'Errore interno del sistema: è stato registrato.',
  ALREADY_REVERSED: 'Il pagamento è già stornato.',
  REVERSAL_WINDOW_CLOSED: 'La finestra del pagamento è chiusa.',
  WINDOW_OPEN: 'La finestra di regolamento è ancora aperta.',
  DRAFT_MISSING: 'La finestra non ha ancora una bozza: esegui prima il regolamento.',
  WINDOW_NOT_APPROVED: 'La finestra non è approvata.',
  NOT_A_BUSINESS_DAY: 'Non è un giorno lavorativo.',
  NOTHING_TO_EXPORT: 'Niente da esportare.',
  NOTHING_TO_INVOICE: 'Niente da fatturare.',
  MONTH_NOT_OVER: 'Il mese non è ancora finito.',
  SETTLEMENT_UNBALANCED: 'Le cifre del regolamento non quadrano con la contabilità: regolamento rifiutato.',
  ROWS_INVALID: 'Righe non valide: non è stato caricato nulla.',
  CONFLICT: 'Conflitto con lo stato attuale.',
  PAYLOAD_TOO_LARGE: 'File troppo grande.',
  UNSUPPORTED_MEDIA_TYPE: 'Tipo di file non accettato.',
};

export function messageOf(err) {
  if (!(err instanceof ApiError)) return `Errore inatteso: ${String(err?.message ?? err)}`;
  const it = MESSAGES[err.code] ?? `Richiesta rifiutata (${err.code ?? err.status}).`;
  const detail = err.problem?.detail;
  return detail && err.code !== 'NETWORK' ? `${it} (${detail})` : it;
}
