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

// Calls onEvent(type, data) for every live event of GET /api/v1/events (Server-Sent Events), and
// onState(true|false) when the stream connects or drops. Read with fetch() rather than EventSource
// because EventSource cannot send the Authorization header, which the stream needs when the API
// protects reads (api.read_requires_token). Reconnects after 2 s, resuming with Last-Event-ID.
export function subscribe(onEvent, onState) {
  let lastId = '';
  let stopped = false;
  let controller = null;
  const dispatch = (block) => {
    let type = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;  // a comment (": keep-alive") or a blank line
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') lastId = value;
      else if (field === 'event') type = value;
      else if (field === 'data') data += (data ? '\n' : '') + value;
    }
    if (!data) return;
    let envelope;
    try { envelope = JSON.parse(data); } catch { return; }
    onEvent(type, envelope.data || envelope);
  };
  (async () => {
    while (!stopped) {
      try {
        controller = new AbortController();
        const headers = { Accept: 'text/event-stream', ...authHeaders() };
        if (lastId) headers['Last-Event-ID'] = lastId;
        const res = await fetch(BASE + '/events', { headers, cache: 'no-store', signal: controller.signal });
        if (!res.ok) throw await apiError(res);
        onState(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch {
        // dropped or refused: shown by onState, retried below
      }
      onState(false);
      if (!stopped) await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  return { close() { stopped = true; if (controller) controller.abort(); } };
}
