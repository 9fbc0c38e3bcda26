// The selfheal dashboard: incident timeline, anomaly scores, CPU/memory per service, remediation
// history with approve/reject, and an incident page with its evidence. Live through the API's
// event stream; everything it shows comes from /api/v1.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import * as api from './api.js';
import { clock, duration, esc, label, num, time } from './format.js';

const state = {
  incidents: new Map(),  // id -> latest snapshot
  actions: new Map(),    // id -> latest decision
  results: new Map(),    // action id -> [results]
  anomalies: [],         // newest last, capped
  services: [],
  selected: '',
};
const MAX_ANOMALIES = 5000;
let charts = [];
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
function keepAnomaly(a) {
  state.anomalies.push(a);
  if (state.anomalies.length > MAX_ANOMALIES) state.anomalies.splice(0, state.anomalies.length - MAX_ANOMALIES);
}

async function loadAll() {
  const [inc, act, ano, svc] = await Promise.all([
    api.get('/incidents?limit=200'),
    api.get('/actions?limit=500'),
    api.get('/anomalies?limit=1000'),
    api.get('/services').catch(() => ({ items: [] })),
  ]);
  inc.items.forEach(keepIncident);
  act.items.forEach(keepAction);
  ano.items.slice().reverse().forEach(keepAnomaly);
  state.services = (svc.items || []).map((s) => s.service || s.name).filter(Boolean);
  for (const a of state.anomalies) if (!state.services.includes(a.service)) state.services.push(a.service);
  state.services.sort();
  if (!state.selected) state.selected = state.services[0] || '';
}

// ------------------------------------------------------------------------------------ views

function route() {
  const m = location.hash.match(/^#\/incidents\/(.+)$/);
  if (m) return incidentPage(decodeURIComponent(m[1]));
  return overview();
}

function destroyCharts() {
  charts.forEach((c) => c.destroy());
  charts = [];
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

function overview() {
  destroyCharts();
  const app = document.getElementById('app');
  app.innerHTML = `
    <section class="card"><h2>Incident timeline</h2><div id="timeline" class="timeline"></div></section>
    <section class="card"><h2>Anomaly scores <small>max score per minute and service</small></h2><div id="scores"></div></section>
    <section class="card"><h2>CPU and memory <select id="service"></select></h2>
      <div id="resources" class="charts"></div><p id="resources-note" class="note"></p></section>
    <section class="card"><h2>Remediation history</h2><div id="actions"></div></section>`;
  const select = document.getElementById('service');
  select.innerHTML = state.services.map((s) => `<option ${s === state.selected ? 'selected' : ''}>${esc(s)}</option>`).join('');
  select.onchange = () => { state.selected = select.value; drawResources(); };
  drawTimeline();
  drawScores();
  drawActions();
  drawResources();
  refreshTimer = setInterval(drawResources, 5000);
}

function drawTimeline() {
  const el = document.getElementById('timeline');
  if (!el) return;
  const list = [...state.incidents.values()].sort((a, b) => b.opened_at - a.opened_at).slice(0, 25);
  if (!list.length) { el.innerHTML = '<p class="note">No incidents yet.</p>'; return; }
  const now = Math.max(...list.map((i) => i.updated_at || i.opened_at));
  const start = Math.min(...list.map((i) => i.opened_at));
  const span = Math.max(now - start, 60000);
  el.innerHTML = list.map((i) => {
    const end = i.resolved_at || now;
    const left = ((i.opened_at - start) / span) * 100;
    const width = Math.max(((end - i.opened_at) / span) * 100, 0.8);
    return `<a class="row" href="#/incidents/${encodeURIComponent(i.id)}" data-id="${esc(i.id)}">
      <span class="what"><b class="status ${esc(i.status)}">${esc(label(i.status))}</b> ${esc(label(i.type))} · ${esc(i.service)}</span>
      <span class="track"><span class="bar ${esc(i.status)}" style="left:${left}%;width:${width}%"></span></span>
      <span class="when">${clock(i.opened_at)} · ${duration(end - i.opened_at)}</span></a>`;
  }).join('');
}

function bucketed(series, valueOf, services) {
  // One x per minute; per service the max value in that minute (null when none).
  const minute = 60000;
  const xs = [...new Set(series.map((p) => Math.floor(p.ts / minute) * minute))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = services.map(() => xs.map(() => null));
  for (const p of series) {
    const s = services.indexOf(p.service);
    if (s < 0) continue;
    const i = index.get(Math.floor(p.ts / minute) * minute);
    const v = valueOf(p);
    if (v !== null && isFinite(v)) ys[s][i] = ys[s][i] === null ? v : Math.max(ys[s][i], v);
  }
  return [xs.map((x) => x / 1000), ...ys];
}

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324', '#469990'];

function chart(el, title, data, names, yRange) {
  const width = Math.max(el.clientWidth || 600, 300);
  const opts = {
    title, width, height: 220,
    scales: { x: { time: true }, y: yRange ? { range: yRange } : {} },
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false }))],
  };
  const c = new uPlot(opts, data, el);
  charts.push(c);
  return c;
}

function drawScores() {
  const el = document.getElementById('scores');
  if (!el) return;
  el.innerHTML = '';
  if (!state.anomalies.length) { el.innerHTML = '<p class="note">No anomalies yet.</p>'; return; }
  const services = [...new Set(state.anomalies.map((a) => a.service))].sort();
  chart(el, '', bucketed(state.anomalies, (a) => a.score, services), services, [0, 1]);
}

async function drawResources() {
  const el = document.getElementById('resources');
  const note = document.getElementById('resources-note');
  if (!el || !state.selected) return;
  try {
    const data = await api.get(`/services/${encodeURIComponent(state.selected)}/metrics`);
    const pts = data.points || [];
    el.innerHTML = '<div id="cpu"></div><div id="mem"></div>';
    charts.forEach((c) => c.destroy());
    charts = [];
    const xs = pts.map((p) => p.ts / 1000);
    chart(document.getElementById('cpu'), 'CPU, share of limit', [xs, pts.map((p) => p.cpu_utilization_mean ?? null), pts.map((p) => p.cpu_utilization_max ?? null)], ['mean', 'max'], [0, 1.1]);
    chart(document.getElementById('mem'), 'Memory, share of limit', [xs, pts.map((p) => p.memory_utilization_max ?? null)], ['max pod'], [0, 1.1]);
    note.textContent = pts.length ? `${pts.length} windows, last at ${time(pts[pts.length - 1].ts)}` : 'No windows yet.';
    drawScores();
  } catch (e) {
    note.textContent = `No resource series for ${state.selected}: ${e.message}`;
  }
}

function actionRow(a) {
  const results = state.results.get(a.id) || [];
  const last = results.length ? results[results.length - 1] : null;
  const pending = a.status === 'pending';
  const target = a.kind === 'scale_deployment' ? `${a.target} → ${a.replicas}` : a.target;
  return `<tr data-id="${esc(a.id)}" class="${esc(a.status)}">
    <td>${clock(a.ts)}</td>
    <td><a href="#/incidents/${encodeURIComponent(a.incident_id)}">${esc(a.incident_id)}</a></td>
    <td>${esc(label(a.kind))}</td><td>${esc(a.namespace)}/${esc(target)}</td>
    <td><b class="status ${esc(a.status)}">${esc(label(a.status))}</b>${a.dry_run ? ' (dry run)' : ''}</td>
    <td>${esc(a.reason)}${last ? `<br><small>${esc(label(last.status))}: ${esc(last.detail)}</small>` : ''}</td>
    <td>${pending ? `<button class="approve" data-id="${esc(a.id)}">Approve</button> <button class="reject" data-id="${esc(a.id)}">Reject</button>` : ''}</td>
  </tr>`;
}

function drawActions(filter) {
  const el = document.getElementById('actions');
  if (!el) return;
  const list = [...state.actions.values()].filter(filter || (() => true)).sort((a, b) => b.ts - a.ts).slice(0, 100);
  if (!list.length) { el.innerHTML = '<p class="note">No actions yet.</p>'; return; }
  el.innerHTML = `<table><thead><tr><th>time</th><th>incident</th><th>action</th><th>target</th><th>status</th><th>why</th><th></th></tr></thead>
    <tbody>${list.map(actionRow).join('')}</tbody></table><p id="action-error" class="error"></p>`;
  el.querySelectorAll('button.approve, button.reject').forEach((b) => {
    b.onclick = async () => {
      const verb = b.classList.contains('approve') ? 'approve' : 'reject';
      try {
        await api.post(`/actions/${encodeURIComponent(b.dataset.id)}/${verb}`, {});
        b.closest('tr').querySelector('.status').textContent = verb === 'approve' ? 'approved' : 'rejected';
        b.parentElement.innerHTML = '';
      } catch (e) {
        document.getElementById('action-error').textContent = `${verb} failed: ${e.message}`;
      }
    };
  });
}

async function incidentPage(id) {
  destroyCharts();
  const app = document.getElementById('app');
  app.innerHTML = '<p class="note">Loading…</p>';
  let d;
  try {
    d = await api.get(`/incidents/${encodeURIComponent(id)}`);
  } catch (e) {
    app.innerHTML = `<p class="error">${esc(e.message)}</p><p><a href="#/">Back</a></p>`;
    return;
  }
  const i = d.incident;
  keepIncident(i);
  d.actions.forEach(keepAction);
  d.action_results.forEach(keepResult);
  app.innerHTML = `
    <p><a href="#/">← all incidents</a></p>
    <section class="card incident">
      <h1 id="incident-title">${esc(i.title)}</h1>
      <p class="facts"><b class="status ${esc(i.status)}">${esc(label(i.status))}</b>
        ${esc(label(i.type))} · root cause <b>${esc(i.service)}</b>${i.target_pod ? ` (pod ${esc(i.target_pod)})` : ''}
        · ${esc(i.severity)} · opened ${time(i.opened_at)}${i.resolved_at ? ` · resolved after ${duration(i.resolved_at - i.opened_at)}` : ''}
        ${i.affected_services.length ? ` · affects ${i.affected_services.map(esc).join(', ')}` : ''}</p>
      <p class="summary">${esc(i.summary)}</p>
      <h2>Evidence</h2>
      <table id="evidence"><thead><tr><th>kind</th><th>signal</th><th>what moved</th><th>value</th><th>baseline</th></tr></thead><tbody>
        ${i.evidence.map((e) => `<tr><td>${esc(e.kind)}</td><td>${esc(e.signal)}</td><td>${esc(e.text)}</td><td>${num(e.value, 3)}</td><td>${num(e.baseline, 3)}</td></tr>`).join('')}
      </tbody></table>
      <h2>Timeline</h2>
      <ul class="events">${i.timeline.map((t) => `<li><span>${time(t.ts)}</span> ${esc(t.text)}</li>`).join('')}</ul>
      <h2>Actions</h2><div id="actions"></div>
      <h2>Anomalies (${d.anomalies.length})</h2>
      <table><thead><tr><th>time</th><th>series</th><th>score</th><th>value</th><th>expected</th><th>model</th></tr></thead><tbody>
        ${d.anomalies.slice(0, 50).map((a) => `<tr><td>${clock(a.ts)}</td><td>${esc(a.series)}</td><td>${num(a.score)}</td><td>${num(a.value, 3)}</td><td>${num(a.expected, 3)}</td><td>${esc(a.model)} ${esc(a.model_version)}</td></tr>`).join('')}
      </tbody></table>
    </section>`;
  drawActions((a) => a.incident_id === i.id);
}

// ------------------------------------------------------------------------------------ live

function onEvent(type, data) {
  if (type === 'incident') keepIncident(data);
  else if (type === 'action') keepAction(data);
  else if (type === 'action_result') keepResult(data);
  else if (type === 'anomaly') keepAnomaly(data);
  if (location.hash.startsWith('#/incidents/')) {
    const id = decodeURIComponent(location.hash.slice('#/incidents/'.length));
    if ((type === 'action' && data.incident_id === id) || (type === 'incident' && data.id === id)) scheduleRender();
    return;
  }
  scheduleRender();
}

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => {
    renderPending = false;
    if (location.hash.startsWith('#/incidents/')) { route(); return; }
    drawTimeline();
    drawActions();
  }, 500);
}

function setLive(on) {
  const el = document.getElementById('live');
  el.textContent = on ? 'live' : 'reconnecting';
  el.className = `live ${on ? 'on' : 'off'}`;
}

async function start() {
  const tokenInput = document.getElementById('token');
  tokenInput.value = api.token();
  tokenInput.onchange = () => api.setToken(tokenInput.value);
  try {
    await loadAll();
  } catch (e) {
    document.getElementById('app').innerHTML = `<p class="error">Cannot reach the API: ${esc(e.message)}</p>`;
  }
  window.addEventListener('hashchange', route);
  route();
  api.subscribe(onEvent, setLive);
  setInterval(() => { if (!location.hash.startsWith('#/incidents/')) drawScores(); }, 10000);
}

start();
