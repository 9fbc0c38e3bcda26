// The selfheal dashboard: incident timeline, anomaly scores, CPU/memory per service, remediation
// history with approve/reject, and an incident page with its evidence. Live through the API's
// event stream (SSE) plus a periodic refresh of the charts; everything it shows comes from /api/v1.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import * as api from './api.js';
import { clock, duration, esc, label, num, time } from './format.js';

const state = {
  incidents: new Map(),  // id -> latest snapshot
  actions: new Map(),    // id -> latest decision
  results: new Map(),    // action id -> [results]
  services: [],
  selected: '',
};
const CHART_REFRESH_MS = 5000;
const charts = new Map();  // element id -> uPlot, so a refresh updates data instead of redrawing
let refreshTimer = null;

// ------------------------------------------------------------------------------------ data

function keepIncident(i) {
  const old = state.incidents.get(i.id);
  if (!old || old.revision <= i.revision) state.incidents.set(i.id, i);
}
function keepAction(a) { state.actions.set(a.id, a); }
function keepResult(r) {
  const list = state.results.get(r.action_id) || [];
  if (!list.some((x) => x.id === r.id)) list.push(r);
  state.results.set(r.action_id, list);
}
function keepService(name) {
  if (name && !state.services.includes(name)) {
    state.services.push(name);
    state.services.sort();
  }
}

async function loadAll() {
  const [inc, act, svc] = await Promise.all([
    api.get('/incidents?limit=200'),
    api.get('/actions?limit=500'),
    api.get('/services').catch(() => ({ items: [] })),
  ]);
  inc.items.forEach(keepIncident);
  act.items.forEach(keepAction);
  (svc.items || []).forEach((s) => keepService(s.service));
  for (const i of inc.items) keepService(i.service);
  if (!state.selected) state.selected = state.services[0] || '';
}

// ------------------------------------------------------------------------------------ views

// The incident id of the page shown, or '' on the overview.
function currentIncident() {
  const m = location.hash.match(/^#\/incidents\/(.+)$/);
  return m ? decodeURIComponent(m[1]) : '';
}

function route() {
  const id = currentIncident();
  return id ? incidentPage(id) : overview();
}

function destroyCharts() {
  charts.forEach((c) => c.destroy());
  charts.clear();
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

function overview() {
  destroyCharts();
  const app = document.getElementById('app');
  app.innerHTML = `
    <section class="card"><h2>Incident timeline</h2><div id="timeline" class="timeline"></div></section>
    <section class="card"><h2>Anomaly scores <small>highest score per minute and service, last hour</small></h2>
      <div id="scores"></div><p id="scores-note" class="note"></p></section>
    <section class="card"><h2>Service <select id="service"></select> <small id="resources-note"></small></h2>
      <div id="resources" class="charts">
        <div id="chart-cpu"></div><div id="chart-mem"></div><div id="chart-p95"></div><div id="chart-err"></div>
      </div></section>
    <section class="card"><h2>Remediation history</h2><div id="actions"></div></section>`;
  fillServiceSelect();
  drawTimeline();
  drawActions(null);
  refreshCharts();
  refreshTimer = setInterval(refreshCharts, CHART_REFRESH_MS);
}

function fillServiceSelect() {
  const select = document.getElementById('service');
  if (!select) return;
  if (!state.selected) state.selected = state.services[0] || '';
  select.innerHTML = state.services.map((s) => `<option ${s === state.selected ? 'selected' : ''}>${esc(s)}</option>`).join('');
  select.onchange = () => {
    state.selected = select.value;
    ['chart-cpu', 'chart-mem', 'chart-p95', 'chart-err'].forEach(dropChart);
    drawResources();
  };
}

// Rows are updated in place, never re-created: at demo speed the timeline changes several times a
// second, and a row replaced between a person's mousedown and mouseup swallows the click.
function drawTimeline() {
  const el = document.getElementById('timeline');
  if (!el) return;
  const list = [...state.incidents.values()].sort((a, b) => b.opened_at - a.opened_at).slice(0, 25);
  if (!list.length) { el.innerHTML = '<p class="note">No incidents yet.</p>'; return; }
  const now = Math.max(...list.map((i) => i.updated_at || i.opened_at));
  const start = Math.min(...list.map((i) => i.opened_at));
  const span = Math.max(now - start, 60000);
  const existing = new Map([...el.querySelectorAll('a.row')].map((a) => [a.dataset.id, a]));
  el.querySelectorAll(':scope > :not(a.row)').forEach((n) => n.remove());
  const keep = new Set(list.map((i) => i.id));
  existing.forEach((a, id) => { if (!keep.has(id)) a.remove(); });
  let previous = null;
  for (const i of list) {
    let row = existing.get(i.id);
    if (!row) {
      row = document.createElement('a');
      row.className = 'row';
      row.href = `#/incidents/${encodeURIComponent(i.id)}`;
      row.dataset.id = i.id;
      row.innerHTML = '<span class="what"><b class="status"></b> <span class="kind"></span></span>'
        + '<span class="track"><span class="bar"></span></span><span class="when"></span>';
    }
    const end = i.resolved_at || now;
    const left = ((i.opened_at - start) / span) * 100;
    const width = Math.max(((end - i.opened_at) / span) * 100, 0.8);
    const status = row.querySelector('.what .status');
    status.className = `status ${i.status}`;
    status.textContent = label(i.status);
    row.querySelector('.what .kind').textContent = `${label(i.type)} · ${i.service}`;
    const bar = row.querySelector('.bar');
    bar.className = `bar ${i.status}`;
    bar.style.left = `${left}%`;
    bar.style.width = `${width}%`;
    row.querySelector('.when').textContent = `${clock(i.opened_at)} · ${duration(end - i.opened_at)}`;
    // Moved only when out of place, so a row under the pointer stays the same element.
    const wanted = previous ? previous.nextSibling : el.firstChild;
    if (wanted !== row) el.insertBefore(row, wanted);
    previous = row;
  }
}

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324', '#469990'];

// Draws or updates the chart in element `id`. A chart whose series changed is rebuilt.
function plot(id, title, data, names, yRange) {
  const el = document.getElementById(id);
  if (!el) return;
  const key = names.join('\u0000');
  const old = charts.get(id);
  if (old && old.seriesKey === key) {
    old.setData(data);
    return;
  }
  if (old) old.destroy();
  el.innerHTML = '';
  const width = Math.max(el.clientWidth || 600, 300);
  const opts = {
    title, width, height: 200,
    scales: { x: { time: true }, y: yRange ? { range: yRange } : {} },
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false }))],
  };
  const c = new uPlot(opts, data, el);
  c.seriesKey = key;
  charts.set(id, c);
}

function dropChart(id) {
  const c = charts.get(id);
  if (c) c.destroy();
  charts.delete(id);
  const el = document.getElementById(id);
  if (el) el.innerHTML = '';
}

function refreshCharts() {
  drawScores();
  drawResources();
}

async function drawScores() {
  const note = document.getElementById('scores-note');
  if (!note) return;
  try {
    const d = await api.get('/anomalies/scores?step=60000');
    if (!document.getElementById('scores')) return;  // the page changed meanwhile
    if (!d.series.length) { dropChart('scores'); note.textContent = 'No anomalies in the last hour.'; return; }
    // One x per bucket over [from, to]; null where a service had no anomaly.
    // From the first minute with an anomaly (a few steps before it), not the empty start of the hour.
    const first = Math.min(...d.series.map((s) => (s.points.length ? s.points[0].ts : d.to)));
    const xs = [];
    for (let t = Math.max(d.from, first - 5 * d.step); t <= d.to; t += d.step) xs.push(t - (t % d.step));
    const index = new Map(xs.map((x, i) => [x, i]));
    const ys = d.series.map((s) => {
      const y = xs.map(() => null);
      for (const p of s.points) {
        const i = index.get(p.ts - (p.ts % d.step));
        if (i !== undefined) y[i] = p.score;
      }
      return y;
    });
    d.series.forEach((s) => keepService(s.service));
    plot('scores', '', [xs.map((x) => x / 1000), ...ys], d.series.map((s) => s.service), [0, 1]);
    note.textContent = `${d.series.reduce((n, s) => n + s.points.length, 0)} minute(s) with anomalies, up to ${time(d.to)}`;
  } catch (e) {
    note.textContent = `Anomaly scores unavailable: ${e.message}`;
  }
}

// CPU, memory, p95 latency and error ratio of a service. `range` limits it (incident page).
async function drawResources(service = state.selected, range = '', prefix = 'chart-') {
  const note = document.getElementById('resources-note');
  if (!service || !document.getElementById(`${prefix}cpu`)) return;
  try {
    const data = await api.get(`/services/${encodeURIComponent(service)}/metrics${range}`);
    if (!document.getElementById(`${prefix}cpu`)) return;
    const pts = data.points || [];
    const xs = pts.map((p) => p.ts / 1000);
    const col = (k) => pts.map((p) => p[k] ?? null);
    plot(`${prefix}cpu`, `CPU of ${service}, share of limit`, [xs, col('cpu_utilization_mean'), col('cpu_utilization_max')], ['mean', 'busiest pod'], [0, 1.1]);
    plot(`${prefix}mem`, `Memory of ${service}, share of limit`, [xs, col('memory_utilization_max')], ['fullest pod'], [0, 1.1]);
    plot(`${prefix}p95`, 'p95 latency, s', [xs, col('latency_p95_s')], ['p95']);
    plot(`${prefix}err`, 'Error ratio', [xs, col('error_ratio')], ['5xx / requests'], [0, 1]);
    if (note && prefix === 'chart-') note.textContent = pts.length ? `${pts.length} windows, last at ${time(pts[pts.length - 1].ts)}` : 'no windows yet';
  } catch (e) {
    if (note && prefix === 'chart-') note.textContent = `no resource series for ${service}: ${e.message}`;
  }
}

function actionRow(a) {
  const results = state.results.get(a.id) || [];
  const last = results.length ? results[results.length - 1] : null;
  const pending = a.status === 'pending';
  const target = a.kind === 'scale_deployment' ? `${a.target} → ${a.replicas}` : a.target;
  return `<tr data-id="${esc(a.id)}" class="${esc(a.status)}">
    <td>${clock(a.ts)}</td>
    <td>${a.incident_id ? `<a href="#/incidents/${encodeURIComponent(a.incident_id)}">${esc(a.incident_id)}</a>` : '–'}</td>
    <td>${esc(label(a.kind))}</td><td>${esc(a.namespace)}/${esc(target)}</td>
    <td><b class="status ${esc(a.status)}" data-status="${esc(a.status)}">${esc(label(a.status))}</b>${a.dry_run ? ' (dry run)' : ''}</td>
    <td>${esc(a.reason)}${last ? `<br><small>${esc(label(last.status))}: ${esc(last.detail)}</small>` : ''}</td>
    <td>${pending ? `<button class="approve" data-id="${esc(a.id)}">Approve</button> <button class="reject" data-id="${esc(a.id)}">Reject</button>` : ''}</td>
  </tr>`;
}

let actionFilter = null;
const drawnActionRows = new WeakMap(); // element -> the rows' markup it shows

function drawActions(filter) {
  if (filter !== undefined) actionFilter = filter;
  const el = document.getElementById('actions');
  if (!el) return;
  const list = [...state.actions.values()].filter(actionFilter || (() => true)).sort((a, b) => b.ts - a.ts).slice(0, 100);
  if (!list.length) { el.innerHTML = '<p class="note">No actions yet.</p>'; drawnActionRows.delete(el); return; }
  // Redrawn only when a row changed: a table replaced under the pointer swallows a click on Approve.
  const rows = list.map(actionRow).join('');
  if (drawnActionRows.get(el) === rows) return;
  drawnActionRows.set(el, rows);
  el.innerHTML = `<table><thead><tr><th>time</th><th>incident</th><th>action</th><th>target</th><th>status</th><th>why</th><th></th></tr></thead>
    <tbody>${rows}</tbody></table><p id="action-error" class="error"></p>`;
  el.querySelectorAll('button.approve, button.reject').forEach((b) => {
    b.onclick = () => decide(b, b.classList.contains('approve') ? 'approve' : 'reject');
  });
}

async function decide(button, verb) {
  const id = button.dataset.id;
  const row = button.closest('tr');
  row.querySelectorAll('button').forEach((x) => { x.disabled = true; });
  try {
    if (!api.token()) throw new Error('enter the API token (top right) first');
    const updated = await api.post(`/actions/${encodeURIComponent(id)}/${verb}`, { by: 'dashboard' });
    keepAction(updated);
    drawActions();
  } catch (e) {
    row.querySelectorAll('button').forEach((x) => { x.disabled = false; });
    const err = document.getElementById('action-error');
    if (err) err.textContent = `${verb} ${id} failed: ${e.message}`;
  }
}

// The example line the classifier quotes in a log template's evidence text: ..., e.g. "<line>"
function exampleOf(text) {
  const m = /e\.g\. "(.*)"$/.exec(text || '');
  return m ? m[1] : '';
}

function evidenceSections(evidence) {
  const metrics = evidence.filter((e) => e.kind === 'metric');
  const logs = evidence.filter((e) => e.kind === 'log');
  const fired = evidence.filter((e) => e.kind === 'model' || e.kind === 'rule');
  const other = evidence.filter((e) => !['metric', 'log', 'model', 'rule'].includes(e.kind));
  const none = '<p class="note">none</p>';
  return `
    <h3>Metrics that moved</h3>
    ${metrics.length ? `<table class="evidence-metrics"><thead><tr><th>signal</th><th>value</th><th>baseline</th><th>what moved</th><th>since</th></tr></thead><tbody>
      ${metrics.map((e) => `<tr><td>${esc(e.signal)}</td><td>${num(e.value, 3)}</td><td>${num(e.baseline, 3)}</td><td>${esc(e.text)}</td><td>${e.ts ? clock(e.ts) : '–'}</td></tr>`).join('')}
    </tbody></table>` : none}
    <h3>Log templates</h3>
    ${logs.length ? `<table class="evidence-logs"><thead><tr><th>template</th><th>count</th><th>example line</th></tr></thead><tbody>
      ${logs.map((e) => `<tr><td><code>${esc(e.signal)}</code></td><td>${num(e.value, 0)}</td><td><code>${esc(exampleOf(e.text)) || '–'}</code></td></tr>`).join('')}
    </tbody></table>` : none}
    <h3>Models and rules that fired</h3>
    ${fired.length ? `<ul class="evidence-fired">${fired.map((e) => `<li><b>${esc(e.kind)}</b> ${esc(e.signal)}: ${esc(e.text)}</li>`).join('')}</ul>` : none}
    ${other.length ? `<h3>Other</h3><ul>${other.map((e) => `<li>${esc(e.kind)} ${esc(e.signal)}: ${esc(e.text)}</li>`).join('')}</ul>` : ''}`;
}

// The incident page. Rendered once per incident; live events refresh its sections in place, so the
// charts (refreshed on their own timer) are never torn down by an update.
async function incidentPage(id) {
  const app = document.getElementById('app');
  const shown = () => app.querySelector(`[data-incident="${CSS.escape(id)}"]`);
  if (!shown()) {
    destroyCharts();
    app.innerHTML = '<p class="note">Loading…</p>';
  }
  let d;
  try {
    d = await api.get(`/incidents/${encodeURIComponent(id)}`);
  } catch (e) {
    if (currentIncident() === id) app.innerHTML = `<p class="error">${esc(e.message)}</p><p><a href="#/">Back</a></p>`;
    return;
  }
  if (currentIncident() !== id) return;  // the user moved on while it loaded
  const i = d.incident;
  keepIncident(i);
  d.actions.forEach(keepAction);
  d.action_results.forEach(keepResult);
  if (!shown()) {
    app.innerHTML = `
      <p><a href="#/">← all incidents</a></p>
      <section class="card incident" data-incident="${esc(i.id)}">
        <h1 id="incident-title"></h1>
        <p class="facts" id="incident-facts"></p>
        <p class="summary" id="incident-summary"></p>
        <h2>Evidence</h2>
        <div id="evidence"></div>
        <div class="charts">
          <div id="inc-cpu"></div><div id="inc-mem"></div><div id="inc-p95"></div><div id="inc-err"></div>
        </div>
        <h2>Timeline</h2>
        <ul class="events" id="incident-timeline"></ul>
        <h2>Actions</h2><div id="actions"></div>
        <h2 id="anomalies-title"></h2>
        <table><thead><tr><th>time</th><th>series</th><th>score</th><th>value</th><th>expected</th><th>model or rule</th></tr></thead>
          <tbody id="incident-anomalies"></tbody></table>
      </section>`;
    refreshTimer = setInterval(() => drawIncidentCharts(id), CHART_REFRESH_MS);
  }
  const ack = d.acknowledgement;
  document.getElementById('incident-title').textContent = i.title;
  document.getElementById('incident-facts').innerHTML = `<b class="status ${esc(i.status)}" id="incident-status">${esc(label(i.status))}</b>
      ${esc(label(i.type))} · root cause <b>${esc(i.service)}</b>${i.target_pod ? ` (pod ${esc(i.target_pod)})` : ''}
      · ${esc(i.severity)} · opened ${time(i.opened_at)}${i.resolved_at ? ` · resolved after ${duration(i.resolved_at - i.opened_at)}` : ''}
      ${(i.affected_services || []).length ? ` · affects ${i.affected_services.map(esc).join(', ')}` : ''}
      ${ack ? ` · acknowledged by ${esc(ack.by)} at ${time(ack.ts)}` : ''}`;
  document.getElementById('incident-summary').textContent = i.summary;
  document.getElementById('evidence').innerHTML = evidenceSections(i.evidence);
  document.getElementById('incident-timeline').innerHTML =
    i.timeline.map((t) => `<li><span>${time(t.ts)}</span> ${esc(t.text)}</li>`).join('');
  document.getElementById('anomalies-title').textContent = `Anomalies (${d.anomalies.length})`;
  document.getElementById('incident-anomalies').innerHTML = d.anomalies.slice(0, 50).map((a) =>
    `<tr><td>${clock(a.ts)}</td><td>${esc(a.series)}</td><td>${num(a.score)}</td><td>${num(a.value, 3)}</td><td>${num(a.expected, 3)}</td><td>${esc(a.source)} ${esc(a.model)} ${esc(a.model_version)}</td></tr>`).join('');
  drawActions((a) => a.incident_id === i.id);
  drawIncidentCharts(id);
}

// The root service's resources from 10 minutes before the incident to 5 minutes after its end (or now).
function drawIncidentCharts(id) {
  const i = state.incidents.get(id);
  if (!i) return;
  const to = i.resolved_at ? `&to=${i.resolved_at + 5 * 60000}` : '';
  drawResources(i.service, `?from=${i.opened_at - 10 * 60000}${to}`, 'inc-');
}

// ------------------------------------------------------------------------------------ live

function onEvent(type, data) {
  if (type === 'incident') { keepIncident(data); keepService(data.service); }
  else if (type === 'action') keepAction(data);
  else if (type === 'action_result') keepResult(data);
  const id = currentIncident();
  if (id) {
    const mine = (type === 'incident' && data.id === id) || (type === 'action' && data.incident_id === id) ||
                 (type === 'action_result' && data.incident_id === id) || (type === 'acknowledgement' && data.incident_id === id);
    if (mine) scheduleRender();
    return;
  }
  if (type === 'anomaly') { scheduleScores(); return; }
  scheduleRender();
}

// Events come in bursts; redraw at most twice a second.
let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => {
    renderPending = false;
    if (currentIncident()) { route(); return; }
    drawTimeline();
    drawActions();
    if (document.getElementById('service') && document.getElementById('service').options.length !== state.services.length) fillServiceSelect();
  }, 500);
}
let scoresPending = false;
function scheduleScores() {
  if (scoresPending) return;
  scoresPending = true;
  setTimeout(() => { scoresPending = false; drawScores(); }, 1000);
}

function setLive(on) {
  const el = document.getElementById('live');
  el.textContent = on ? 'live' : 'reconnecting';
  el.className = `live ${on ? 'on' : 'off'}`;
}

async function start() {
  const tokenInput = document.getElementById('token');
  tokenInput.value = api.token();
  // A new token: start over with it (the lists, and the event stream when reads are protected).
  tokenInput.onchange = () => {
    api.setToken(tokenInput.value.trim());
    location.reload();
  };
  try {
    await loadAll();
  } catch (e) {
    const notice = document.getElementById('notice');
    notice.textContent = e.status === 401
      ? `The API refused to answer (${e.message}): enter its token top right.`
      : `Cannot reach the API: ${e.message}`;
    notice.hidden = false;
  }
  window.addEventListener('hashchange', route);
  route();
  api.subscribe(onEvent, setLive);
  // The stream can miss events while it reconnects: the lists are re-read now and then too.
  setInterval(async () => {
    try {
      const [inc, act] = await Promise.all([api.get('/incidents?limit=200'), api.get('/actions?limit=500')]);
      inc.items.forEach(keepIncident);
      act.items.forEach(keepAction);
      if (!currentIncident()) { drawTimeline(); drawActions(); }
    } catch {
      // shown by the live indicator
    }
  }, 15000);
}

start();
