// Talks to the selfheal REST API (/api/v1) and its live event stream.

const BASE = '/api/v1';

export function token() {
  return localStorage.getItem('selfheal.token') || '';
}

export function setToken(t) {
  localStorage.setItem('selfheal.token', t);
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
  try {
    const body = await res.json();
    return new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`);
  } catch {
    return new Error(`HTTP ${res.status}`);
  }
}

// Calls onEvent(type, data) for every live event; onState(true|false) when the stream connects or
// drops (EventSource reconnects by itself).
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
