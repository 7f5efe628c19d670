// `parcours serve`'s web UI as a browser uses it: the admin password chosen through the
// setup link the server prints, a wrong password refused, logging in, the map with the
// numbers of `parcours analyze --format json` on the same store, a stage's customers now
// and a segment exported as CSV equal to `parcours customers --stage` and `--segment`, a
// customer found and their timeline opened, a form post without its CSRF token refused, a
// viewer's read-only session, the password replaced by `parcours admin password`, and every
// page laid out for a laptop and a phone without asking anything of another site.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { launch } from './chromium.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = process.env.PARCOURS_BIN ?? join(ROOT, 'target/debug/parcours');
const WORK = mkdtempSync(join(tmpdir(), 'parcours-serve-ui-'));
const PASSWORD = 'un mot de passe solide';

const parcours = (...args) => execFileSync(BIN, args, { encoding: 'utf8', cwd: WORK });

const freePort = () =>
  new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });

let browser;
let server;
let base;
let setupLink;

before(async () => {
  parcours('demo', '--customers', '3000', '--data', 'data', '--format', 'json');
  parcours('init', '--template', 'digital', 'journey');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(
    BIN,
    ['serve', '--data', 'data', '-j', 'journey/journey.toml', '--write-key', 'wk_browser', '--listen', `127.0.0.1:${port}`],
    { cwd: WORK, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // The setup link is in the log, once the server listens.
  setupLink = await new Promise((found, failed) => {
    let log = '';
    const timer = setTimeout(() => failed(new Error(`no setup link in the log:\n${log}`)), 60_000);
    server.stderr.on('data', (chunk) => {
      log += chunk;
      const link = log.match(/http:\/\/\S+\/setup\?token=[0-9a-f]{64}/);
      if (link && log.includes('listening')) {
        clearTimeout(timer);
        found(link[0]);
      }
    });
    server.on('exit', (code) => failed(new Error(`the server stopped (${code}):\n${log}`)));
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

// A browser context recording every request that leaves the server and every page error.
async function context(viewport) {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true });
  const problems = [];
  ctx.on('request', (request) => {
    if (!request.url().startsWith(base)) problems.push(`request to another site: ${request.url()}`);
  });
  ctx.on('page', (page) => {
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    // The refusals this test provokes (400, 401) are logged as failed loads; their
    // statuses are checked where they happen.
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push(`console error: ${message.text()}`);
      }
    });
  });
  return { ctx, problems };
}

const digits = (text) => text.replace(/[^0-9]/g, '');

// With SCREENSHOT_DIR set (scripts/screenshots), the page as it is now, for docs/screenshots.
async function screenshot(page, name) {
  if (!process.env.SCREENSHOT_DIR) return;
  mkdirSync(process.env.SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(process.env.SCREENSHOT_DIR, name) });
}

test('the web UI: setup, login, live map, timeline, segment export, CSRF', async () => {
  const report = JSON.parse(parcours('analyze', '-j', 'journey/journey.toml', '--data', 'data', '--format', 'json'));
  const places = parcours('customers', '-j', 'journey/journey.toml', '--data', 'data', '--format', 'json')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  const { ctx, problems } = await context({ width: 1366, height: 860 });
  const page = await ctx.newPage();

  // Not logged in: sent to the login page, which says no admin password exists yet.
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/login');

  // The setup link: a short password is refused, then the password is chosen.
  await page.goto(setupLink);
  await page.fill('input[name=password]', 'court');
  await page.fill('input[name=confirm]', 'court');
  await page.evaluate(() => document.querySelectorAll('input[minlength]').forEach((i) => i.removeAttribute('minlength')));
  const short = await Promise.all([page.waitForNavigation(), page.click('button')]);
  assert.equal(short[0].status(), 400);
  assert.match(await page.textContent('.alert'), /10/);
  await page.fill('input[name=password]', PASSWORD);
  await page.fill('input[name=confirm]', PASSWORD);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button')]);
  // The link works once.
  const again = await page.request.get(setupLink);
  assert.equal(again.status(), 410);

  // Log out, then a wrong password is refused and opens nothing.
  await Promise.all([page.waitForURL(/\/login$/), page.click('nav form button')]);
  await page.fill('input[name=secret]', 'pas le bon mot de passe');
  const wrong = await Promise.all([page.waitForNavigation(), page.click('form.stack button')]);
  assert.equal(wrong[0].status(), 401);
  assert.match(await page.textContent('.alert'), /incorrect/);
  assert.equal((await ctx.cookies()).filter((c) => c.name === 'parcours_session' && c.value).length, 0);
  assert.equal((await page.request.get(`${base}/segments`, { maxRedirects: 0 })).status(), 303);

  // The right one opens a session: an HttpOnly, SameSite cookie.
  await page.fill('input[name=secret]', PASSWORD);
  await Promise.all([page.waitForURL(`${base}/`), page.click('form.stack button')]);
  const session = (await ctx.cookies()).find((c) => c.name === 'parcours_session');
  assert.ok(session?.value, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');

  // The map carries the numbers of `parcours analyze` (the first analysis may still run:
  // the page reloads itself until it is there).
  await page.waitForSelector('#map svg', { timeout: 60_000 });
  const seen = await page.evaluate(() => ({
    header: document.querySelector('header p').textContent,
    mapText: [...document.querySelectorAll('#map svg text')].map((t) => t.textContent),
    funnel: [...document.querySelectorAll('#funnel text.value')].map((t) => t.textContent),
    opportunities: document.querySelectorAll('#opportunities li').length,
    kpiRows: document.querySelectorAll('#kpis tbody tr').length,
  }));
  const mapNumbers = seen.mapText.map(digits);
  for (const [i, stage] of report.stages.entries()) {
    assert.ok(mapNumbers.includes(String(stage.reached)), `map shows ${stage.id} reached ${stage.reached}`);
    assert.ok(digits(seen.funnel[i].split('·')[0]).startsWith(String(stage.reached)), `funnel bar ${i}: ${seen.funnel[i]}`);
  }
  assert.ok(digits(seen.header).includes(`${report.customers}`), seen.header);
  await screenshot(page, 'serve-top.png');
  assert.ok(digits(seen.header).includes(`${report.events}`), seen.header);
  assert.equal(seen.opportunities, report.opportunities.length);
  assert.equal(seen.kpiRows, report.stages.reduce((n, s) => n + s.kpis.length, 0));
  await page.evaluate(() => document.querySelector('#map').scrollIntoView());
  await screenshot(page, 'serve-map.png');

  // Who is where now: a stage's customers, linked from the map, as `parcours customers
  // --stage` lists them.
  const busiest = [...report.stages].sort((a, b) => b.current - a.current)[0];
  await Promise.all([page.waitForURL(`${base}/stages/${busiest.id}`), page.click(`#now a[href="/stages/${busiest.id}"]`)]);
  assert.equal(digits(await page.textContent('#member-count')), String(busiest.current));
  const atStage = parcours('customers', '-j', 'journey/journey.toml', '--data', 'data', '--stage', busiest.id, '--format', 'json')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).customer)
    .sort((a, b) => a - b);
  const [stageCsv] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  assert.equal(stageCsv.suggestedFilename(), `${busiest.id}.csv`);
  const stageIds = readFileSync(await stageCsv.path(), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[0]));
  assert.deepEqual(stageIds.sort((a, b) => a - b), atStage);
  await page.goto(`${base}/`);

  // The breakdown picker: the groups of `parcours analyze --by channel`.
  const byChannel = JSON.parse(
    parcours('analyze', '-j', 'journey/journey.toml', '--data', 'data', '--format', 'json', '--by', 'channel'),
  );
  await page.fill('input[name=by]', 'channel');
  await Promise.all([page.waitForURL(/by=channel/), page.click('form.pickers button')]);
  const groups = await page.$$eval('#breakdown tbody tr td:first-child', (cells) => cells.map((c) => c.textContent));
  assert.deepEqual(groups, byChannel.breakdown.groups.map((g) => g.value));
  await page.fill('input[name=by]', 'pointure');
  const unknown = await Promise.all([page.waitForNavigation(), page.click('form.pickers button')]);
  assert.equal(unknown[0].status(), 400);
  assert.match(await page.textContent('.alert'), /unknown breakdown `pointure`/);

  // A quick period: the last 30 days with events, as `parcours analyze --from --to` measures
  // them.
  await page.goto(`${base}/`);
  await Promise.all([page.waitForURL(/from=/), page.click('#quick a >> nth=1')]);
  const period = new URL(page.url()).searchParams;
  const lastMonth = JSON.parse(
    parcours('analyze', '-j', 'journey/journey.toml', '--data', 'data', '--format', 'json', '--from', period.get('from'), '--to', period.get('to')),
  );
  assert.equal(period.get('to'), new Date(Date.parse(report.period.to) + 86_400_000).toISOString().slice(0, 10));
  const monthFunnel = await page.$$eval('#funnel text.value', (texts) => texts.map((t) => t.textContent));
  for (const [i, stage] of lastMonth.stages.entries()) {
    assert.ok(digits(monthFunnel[i].split('·')[0]).startsWith(String(stage.reached)), `last 30 days, bar ${i}: ${monthFunnel[i]}`);
  }
  assert.notEqual(lastMonth.stages[0].reached, report.stages[0].reached, 'a shorter period, other numbers');

  // A customer found by part of their user id; their timeline has their stage and events.
  const known = places.find((p) => p.user_id && p.email && p.stage && p.segments.length > 0);
  await page.click('nav a[href="/customers"]');
  await page.fill('input[name=q]', known.user_id.slice(2));
  await Promise.all([page.waitForURL(/\/customers\?q=/), page.click('form.inline button')]);
  await Promise.all([page.waitForURL(`${base}/customers/${known.customer}`), page.click(`#results a[href="/customers/${known.customer}"] >> nth=0`)]);
  const stageName = report.stages.find((s) => s.id === known.stage).name;
  assert.equal(await page.textContent('#stage'), stageName);
  assert.equal(await page.locator('#timeline li.event').count(), known.events);
  assert.equal(
    await page.locator('#timeline li.stage').count(),
    known.first_met.filter((at) => at !== null).length,
  );
  await screenshot(page, 'serve-customer.png');
  // Their whole email address leads straight to their page.
  await page.click('nav a[href="/customers"]');
  await page.fill('input[name=q]', known.email.toUpperCase());
  await Promise.all([page.waitForURL(`${base}/customers/${known.customer}`), page.click('form.inline button')]);

  // A segment exported from its page: the members `parcours customers --segment` lists.
  const segment = known.segments[0];
  const expected = parcours('customers', '-j', 'journey/journey.toml', '--data', 'data', '--segment', segment, '--format', 'json')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line).customer)
    .sort((a, b) => a - b);
  await page.click('nav a[href="/segments"]');
  await Promise.all([page.waitForURL(`${base}/segments/${segment}`), page.click(`a[href="/segments/${segment}"]`)]);
  assert.equal(digits(await page.textContent('#member-count')), String(expected.length));
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  assert.equal(download.suggestedFilename(), `${segment}.csv`);
  const lines = readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.equal(lines[0], 'customer,user_id,email');
  const exported = lines.slice(1).map((line) => Number(line.split(',')[0])).sort((a, b) => a - b);
  assert.deepEqual(exported, expected);

  // A form post without the session's CSRF token, or with another, is refused and changes
  // nothing; with it, a view key is created.
  const keysBefore = parcours('keys', 'list', '--data', 'data');
  for (const form of [{ name: 'sans jeton', kind: 'view' }, { name: 'faux jeton', kind: 'view', csrf: 'f'.repeat(64) }]) {
    const refused = await page.request.post(`${base}/keys`, { form, maxRedirects: 0 });
    assert.equal(refused.status(), 403, JSON.stringify(form));
  }
  assert.equal(parcours('keys', 'list', '--data', 'data'), keysBefore);
  await page.click('nav a[href="/keys"]');
  await page.fill('input[name=name]', 'Camille (support)');
  await Promise.all([page.waitForNavigation(), page.click('form.inline button')]);
  const viewKey = (await page.textContent('#created code')).trim();
  assert.match(viewKey, /^vk_[0-9a-f]{32}$/);
  assert.match(parcours('keys', 'list', '--data', 'data'), /Camille \(support\)/);

  // A teammate with that view key sees the map, read-only: no keys page.
  const teammate = await context({ width: 390, height: 844 });
  const phone = await teammate.ctx.newPage();
  await phone.goto(`${base}/login`);
  await phone.fill('input[name=secret]', viewKey);
  await Promise.all([phone.waitForURL(`${base}/`), phone.click('form.stack button')]);
  assert.equal(await phone.locator('nav a[href="/keys"]').count(), 0);
  assert.equal((await phone.request.get(`${base}/keys`)).status(), 403);
  // On a phone nothing but the map scrolls sideways.
  for (const path of ['/', '/segments', `/segments/${segment}`, `/stages/${known.stage}`, `/customers/${known.customer}`, '/customers?q=client']) {
    await phone.goto(`${base}${path}`);
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${path} is ${width}px wide on a 390px phone`);
    if (path === '/') await screenshot(phone, 'serve-phone.png');
  }
  await teammate.ctx.close();

  // `parcours admin password` replaces the password: the admin's session ends, the old
  // password no longer opens one, the new one does.
  const replaced = 'un autre mot de passe';
  execFileSync(BIN, ['admin', 'password', '--data', 'data'], { cwd: WORK, input: `${replaced}\n` });
  await page.goto(`${base}/keys`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.fill('input[name=secret]', PASSWORD);
  const old = await Promise.all([page.waitForNavigation(), page.click('form.stack button')]);
  assert.equal(old[0].status(), 401);
  await page.fill('input[name=secret]', replaced);
  await Promise.all([page.waitForURL(`${base}/keys`), page.click('form.stack button')]);
  await ctx.close();
  assert.deepEqual([...problems, ...teammate.problems], []);
});
