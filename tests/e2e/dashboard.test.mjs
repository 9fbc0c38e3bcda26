// End-to-end test of the dashboard in headless Chromium (playwright-core, Debian's /usr/bin/chromium):
//
//   1. start `selfheal all --speed 60` with the remediator in approval mode (every action waits as
//      pending), the API on a free port with a token that protects reads too
//      (api.read_requires_token), all files in a temp dir;
//   2. open the dashboard: without the token it shows nothing; enter the token (kept in
//      sessionStorage), the lists and the live stream come up; wait for an incident to appear;
//   3. open it: its evidence (metrics that moved, models/rules that fired) is shown;
//   4. approve its pending action in the page; see the status change in the page and through
//      GET /api/v1/actions/{id};
//   5. save screenshots under $SELFHEAL_TEST_ARTIFACTS (printed).
//
// Exit 0 pass, 1 fail, 77 skip (only when chromium or the npm packages are missing). Bounded: the
// whole run is cut at 85 s, every wait has its own deadline, and selfheal and the browser are
// stopped in every case.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, createWriteStream, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'e2e-' + Math.random().toString(36).slice(2);
const TOTAL_BUDGET_MS = 85_000;

function skip(why) {
  console.log(`SKIP: ${why}`);
  process.exit(77);
}

if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing (apt-get install chromium; see scripts/bootstrap.sh)`);
if (!existsSync(join(HERE, 'node_modules', 'playwright-core'))) skip('tests/e2e/node_modules is missing (run scripts/bootstrap.sh)');
const { chromium } = await import('playwright-core');

const binary = resolve(process.env.SELFHEAL_BINARY || join(REPO, 'build', 'release', 'bin', 'selfheal'));
const webRoot = join(REPO, 'web', 'dist');
const artifacts = process.env.SELFHEAL_TEST_ARTIFACTS || join(REPO, 'build', 'test-artifacts');
if (!existsSync(binary)) fail(`no selfheal binary at ${binary} (set SELFHEAL_BINARY)`);
if (!existsSync(join(webRoot, 'index.html'))) fail(`${webRoot}/index.html is missing: build the CMake target 'web'`);

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const step = (what) => console.log(`[${elapsed()}] ${what}`);

function fail(why) {
  console.error(`FAIL: ${why}`);
  process.exitCode = 1;
  throw new Error(why);
}

// Polls `probe` until it returns a truthy value or the deadline passes.
async function until(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'selfheal-e2e-'));
mkdirSync(artifacts, { recursive: true });
const logPath = join(dir, 'selfheal.log');
let selfheal = null;
let browser = null;
let page = null;
const budget = setTimeout(() => {
  console.error(`FAIL: over the ${TOTAL_BUDGET_MS / 1000}s budget`);
  cleanup().finally(() => process.exit(1));
}, TOTAL_BUDGET_MS);

async function cleanup() {
  clearTimeout(budget);
  if (browser) await browser.close().catch(() => {});
  browser = null;
  if (selfheal && selfheal.exitCode === null) {
    const exited = new Promise((r) => selfheal.once('exit', r));
    selfheal.kill('SIGTERM');
    const hard = setTimeout(() => selfheal.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(hard);
  }
  if (process.exitCode) {
    try {
      const log = readFileSync(logPath, 'utf8').split('\n');
      console.error(`--- last lines of selfheal's output (${logPath}):\n${log.slice(-40).join('\n')}`);
    } catch { /* no log */ }
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function screenshot(name) {
  if (!page) return;
  const path = join(artifacts, name);
  await page.screenshot({ path, fullPage: true }).catch(() => {});
  console.log(`screenshot: ${path}`);
}

try {
  // 1. The pipeline, paced, with every action held for approval.
  step('starting selfheal all --speed 60 (approval mode)');
  const log = createWriteStream(logPath);
  selfheal = spawn(binary, ['all', '--speed', '60',
    '--set', 'admin.listen=127.0.0.1:0',
    '--set', 'api.listen=127.0.0.1:0',
    '--set', `api.web_root=${webRoot}`,
    '--set', 'cluster_sim.listen=127.0.0.1:0',
    '--set', `cluster_sim.kubeconfig_out=${dir}/kubeconfig`,
    '--set', `cluster_sim.cert_dir=${dir}/tls`,
    '--set', `cluster_sim.truth_out=${dir}/truth.jsonl`,
    '--set', `remediator.kubeconfig=${dir}/kubeconfig`,
    '--set', `remediator.kill_switch_file=${dir}/remediator.kill`,
    '--set', 'api.read_requires_token=true',
    '--set', 'remediator.approval.required=true',
    '--set', 'remediator.approval.timeout=2h',
    '--set', 'store.backend=sqlite',
    '--set', `store.sqlite_path=${dir}/selfheal.db`,
    '--set', 'ui.color=never'], {
    cwd: dir,
    env: { ...process.env, SELFHEAL_API_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let spawnError = null;
  selfheal.on('error', (e) => { spawnError = e; });
  selfheal.stdout.on('data', (d) => { out += d; log.write(d); });
  selfheal.stderr.on('data', (d) => log.write(d));
  const exitedEarly = new Promise((r) => selfheal.once('exit', (code) => r(code)));
  const base = await until('the api endpoint in selfheal\'s output', 20_000, async () => {
    if (spawnError) fail(`cannot start ${binary}: ${spawnError.message}`);
    if (selfheal.exitCode !== null) fail(`selfheal exited with ${selfheal.exitCode} before serving`);
    const m = /^\s+api\s+(http:\/\/127\.0\.0\.1:\d+)\s*$/m.exec(out);
    return m && m[1];
  });
  exitedEarly.then((code) => { if (!process.exitCode && browser) console.error(`selfheal exited early (${code})`); });
  step(`api at ${base}`);

  // 2. The dashboard.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  await page.goto(base + '/', { timeout: 15_000 });
  await page.waitForSelector('#notice:not([hidden])', { timeout: 15_000 });
  const refused = await page.textContent('#notice');
  if (!/unauthorized/.test(refused)) fail(`without a token the page should say the API refused it, says: ${refused}`);
  await page.fill('#token', TOKEN);
  await Promise.all([page.waitForNavigation({ timeout: 15_000 }), page.locator('#token').dispatchEvent('change')]);
  const stored = await page.evaluate(() => sessionStorage.getItem('selfheal.token'));
  if (stored !== TOKEN) fail('the token typed into the page is not kept in sessionStorage');
  await page.waitForSelector('#live.on', { timeout: 15_000 });
  step('dashboard open, event stream live');

  const row = await page.waitForSelector('#timeline a.row', { timeout: 60_000 });
  const incidentId = await row.getAttribute('data-id');
  step(`incident ${incidentId} appeared in the timeline`);
  // The charts of the overview have data by now (the windows started before the incident).
  await page.waitForSelector('#chart-cpu .uplot', { timeout: 15_000 });
  await page.waitForSelector('#scores .uplot', { timeout: 15_000 });
  // ... and keep moving without a reload (periodic refresh of the windows).
  const windowsBefore = await page.textContent('#resources-note');
  await until('the resource charts to update live', 15_000, async () => {
    const now = await page.textContent('#resources-note');
    return now !== windowsBefore && /windows, last at/.test(now) ? now : null;
  });
  step(`resource charts updated live: "${windowsBefore}" -> "${await page.textContent('#resources-note')}"`);
  await screenshot('e2e-dashboard-overview.png');

  // 3. Its page and evidence.
  // A locator, not the handle: live events redraw the timeline, and a locator finds the new row.
  await page.locator(`#timeline a.row[data-id="${incidentId}"]`).click({ timeout: 10_000 });
  // Two steps, so a failure says which: the click routed (the row took it), then the page loaded.
  await until(`the click on ${incidentId}'s row to open its page (#/incidents/${incidentId})`, 5_000,
    async () => (await page.evaluate(() => location.hash)).endsWith(encodeURIComponent(incidentId)));
  await page.waitForSelector(`[data-incident="${incidentId}"] #evidence`, { timeout: 15_000 });
  const metricRows = await page.locator('#evidence .evidence-metrics tbody tr').count();
  const fired = await page.locator('#evidence .evidence-fired li').count();
  const logRows = await page.locator('#evidence .evidence-logs tbody tr').count();
  const example = logRows ? (await page.textContent('#evidence .evidence-logs tbody tr td:nth-child(3)')).trim() : '';
  const title = await page.textContent('#incident-title');
  step(`incident page "${title}": ${metricRows} metric(s) that moved, ${logRows} log template(s), ${fired} model/rule(s) fired`);
  if (metricRows < 1) fail('the incident page shows no metric evidence');
  if (logRows < 1 || example.length < 10) fail(`the incident page shows no log template with an example line (${logRows} rows, example "${example}")`);
  if (fired < 1) fail('the incident page names no model or rule that fired');
  if ((await page.locator('#incident-timeline li').count()) < 1) fail('the incident page shows no timeline');

  // 4. Approve its pending action in the page.
  const button = await page.waitForSelector('#actions tr.pending button.approve', { timeout: 30_000 });
  const actionId = await button.getAttribute('data-id');
  const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };
  const before = await (await fetch(`${base}/api/v1/actions/${encodeURIComponent(actionId)}`, auth)).json();
  if (before.action.status !== 'pending') fail(`action ${actionId} is ${before.action.status} before approval`);
  step(`approving pending action ${actionId} (${before.action.kind} ${before.action.target})`);
  await page.click(`#actions button.approve[data-id="${actionId}"]`);
  const shown = await until(`action ${actionId} to leave 'pending' in the page`, 10_000, async () => {
    const s = await page.getAttribute(`#actions tr[data-id="${actionId}"] .status`, 'data-status', { timeout: 1000 });
    return s && s !== 'pending' ? s : null;
  });
  step(`the page shows ${actionId} as ${shown}`);
  const viaApi = await until(`GET /api/v1/actions?incident=${incidentId} to show ${actionId} decided`, 10_000, async () => {
    const res = await fetch(`${base}/api/v1/actions?incident=${encodeURIComponent(incidentId)}`, auth);
    const body = await res.json();
    const a = body.items.find((x) => x.id === actionId);
    return a && a.status !== 'pending' ? a.status : null;
  });
  step(`GET /api/v1/actions shows ${actionId} as ${viaApi}`);
  // The remediator carries it out: the page follows through the event stream.
  const final = await until(`the page to show ${actionId} carried out`, 20_000, async () => {
    const s = await page.getAttribute(`#actions tr[data-id="${actionId}"] .status`, 'data-status', { timeout: 1000 });
    return ['succeeded', 'verified', 'failed', 'not_recovered', 'skipped'].includes(s) ? s : null;
  });
  step(`the page shows ${actionId} as ${final}`);
  if (final !== 'succeeded' && final !== 'verified') fail(`approved action ended ${final}`);
  // The root service's charts on the incident page survive the live updates.
  await page.waitForSelector('#inc-cpu .uplot', { timeout: 10_000 });
  await page.waitForSelector('#inc-mem .uplot', { timeout: 10_000 });
  await screenshot('e2e-dashboard-incident.png');

  if (external.length) fail(`the page fetched from outside the API: ${external.slice(0, 3).join(', ')}`);
  if (pageErrors.length) fail(`JavaScript errors in the page: ${pageErrors.join(' | ')}`);
  step('PASS');
} catch (e) {
  if (!process.exitCode) {
    console.error(`FAIL: ${e.stack || e}`);
    process.exitCode = 1;
  }
  await screenshot('e2e-dashboard-failure.png');
} finally {
  await cleanup();
}
process.exit(process.exitCode || 0);
