// The HTML report of `parcours demo` as a browser draws it: no console error, no page
// error, no network request; the measured map's text stays in its boxes; the numbers on
// the page are those of `parcours analyze --format json` on the same store; every
// opportunity and every chart is there. With SCREENSHOT_DIR set, a screenshot is written
// there (docs/screenshots is refreshed this way by scripts/screenshots).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { launch, open, textLayoutProblems } from './chromium.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = process.env.PARCOURS_BIN ?? join(ROOT, 'target/debug/parcours');
const WORK = mkdtempSync(join(tmpdir(), 'parcours-report-'));

const parcours = (...args) => execFileSync(BIN, args, { encoding: 'utf8', cwd: WORK });

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('the demo report opens cleanly and shows the analysis numbers', async () => {
  const data = join(WORK, 'data');
  const html = join(WORK, 'report.html');
  parcours('demo', '--customers', '8000', '--data', data, '--report', html, '--format', 'json');
  parcours('init', '--template', 'digital', join(WORK, 'journey'));
  const report = JSON.parse(
    parcours('analyze', '-j', join(WORK, 'journey', 'journey.toml'), '--data', data, '--format', 'json'),
  );
  const url = pathToFileURL(html).href;
  const { page, problems } = await open(browser, url, { width: 1280, height: 900 });
  problems.push(...(await textLayoutProblems(page)));

  const seen = await page.evaluate(() => ({
    opportunities: document.querySelectorAll('#opportunities li').length,
    charts: [...document.querySelectorAll('svg.chart')].map((s) => s.getAttribute('aria-label')),
    mapText: [...document.querySelector('#map svg').querySelectorAll('text')].map((t) => t.textContent),
    funnel: [...document.querySelectorAll('#funnel text.value')].map((t) => t.textContent),
    kpiRows: document.querySelectorAll('#kpis tbody tr').length,
    width: document.documentElement.scrollWidth,
  }));
  assert.ok(report.opportunities.length > 0, 'the demo analysis finds opportunities');
  assert.equal(seen.opportunities, report.opportunities.length);
  assert.deepEqual(seen.charts, ['funnel', 'trend', 'sankey']);
  const digits = (text) => text.replace(/[^0-9]/g, '');
  // The measured lane of the map and the funnel carry each stage's reached count.
  const mapNumbers = seen.mapText.map(digits);
  report.stages.forEach((stage, i) => {
    if (!mapNumbers.some((n) => n === String(stage.reached))) {
      problems.push(`map lacks ${stage.id} reached ${stage.reached}`);
    }
    const funnel = seen.funnel[i] ?? '';
    if (!digits(funnel.split('·')[0]).startsWith(String(stage.reached))) {
      problems.push(`funnel bar ${i} says "${funnel}", analysis ${stage.reached}`);
    }
  });
  assert.equal(seen.kpiRows, report.stages.reduce((n, s) => n + s.kpis.length, 0));
  // Only the map scrolls sideways, inside its own box.
  assert.ok(seen.width <= 1280, `page is ${seen.width}px wide`);

  if (process.env.SCREENSHOT_DIR) {
    mkdirSync(process.env.SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: join(process.env.SCREENSHOT_DIR, 'report-demo.png'), fullPage: true });
  }
  await page.close();
  assert.deepEqual(problems, [], `${problems.length} problem(s)`);
});
