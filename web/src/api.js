// Talks to the selfheal REST API (/api/v1) and its live event stream.

const BASE = '/api/v1';
const TOKEN_KEY = 'selfheal.token';

// The bearer token lives in sessionStorage: it is forgotten when the tab closes and is never
// shared with other tabs or written to disk by the browser's persistent storage.
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export async function get(path) {
  const res = await fetch(BASE + path, { headers: authHeaders() });
  if (!res.ok) throw await apiError(res);
  return res.json();
}

export async function post(path, body = {}) {
  const res = await fetch(BASE + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw await apiError(res);
  return res.json();
}

function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

async function apiError(res) {
  let message = `HTTP ${res.status}`;
  try {
    const body = await res.json();
    if (body.error) message = `${body.error.code}: ${body.error.message}`;
  } catch {
    // not JSON: keep the status
  }
  const e = new Error(message);
  e.status = res.status;
  return e;
}

// Calls onEvent(type, data) for every live event; onState(true|false) when the stream connects or
// drops (EventSource reconnects by itself, resuming with Last-Event-ID).
export function subscribe(onEvent, onState) {
  const es = new EventSource(BASE + '/events');
  es.onopen = () => onState(true);
  es.onerror = () => onState(false);
  for (const type of ['incident', 'action', 'action_result', 'anomaly', 'acknowledgement']) {
    es.addEventListener(type, (m) => {
      let envelope;
      try { envelope = JSON.parse(m.data); } catch { return; }
      onEvent(type, envelope.data || envelope);
    });
  }
  return es;
}
