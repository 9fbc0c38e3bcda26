// Small formatting helpers shared by the views.

export function time(ms) {
  if (!ms) return '–';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

export function duration(ms) {
  if (ms < 0 || !isFinite(ms)) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function num(v, digits = 2) {
  if (v === null || v === undefined || !isFinite(v)) return '–';
  return Number(v).toFixed(digits);
}

// Text for the DOM: every value from the API goes through here or textContent, never innerHTML raw.
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export function label(s) {
  return String(s ?? '').replace(/_/g, ' ');
}
