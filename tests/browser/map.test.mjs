// `parcours map` output as a browser draws it: for every template and a 12-stage stress
// journey, the HTML opens without console errors or network requests, and no text box
// overlaps another or leaves its box. With SCREENSHOT_DIR set, a screenshot of each map
// is written there (docs/screenshots is refreshed this way by scripts/screenshots).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { launch, open, textLayoutProblems } from './chromium.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = process.env.PARCOURS_BIN ?? join(ROOT, 'target/debug/parcours');
const WORK = mkdtempSync(join(tmpdir(), 'parcours-map-'));

const parcours = (...args) => execFileSync(BIN, args, { encoding: 'utf8' });

// The `name` of each [[stage]] table, in order (the files are written with one key per line).
function stageNames(toml) {
  const names = [];
  let inStage = false;
  for (const line of toml.split('\n')) {
    if (line.startsWith('[')) inStage = line.trim() === '[[stage]]';
    const name = inStage && line.match(/^name = "(.*)"$/);
    if (name) names.push(JSON.parse(`"${name[1]}"`));
  }
  return names;
}

const templates = parcours('init', '--list', '--format', 'json');
const cases = JSON.parse(templates).map(({ name }) => {
  const dir = join(WORK, name);
  parcours('init', '--template', name, dir);
  return { name, journey: join(dir, 'journey.toml') };
});
cases.push({ name: 'twelve-stages', journey: join(ROOT, 'crates/map/tests/fixtures/twelve-stages.toml') });

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

for (const { name, journey } of cases) {
  test(`map of ${name} opens cleanly and no text overlaps`, async () => {
    const output = join(WORK, `${name}.html`);
    parcours('map', journey, '-o', output);
    const url = pathToFileURL(output).href;
    const { page, problems } = await open(browser, url);

    problems.push(...(await textLayoutProblems(page)));
    // Stage headers wrap over several tspans, which textContent joins without spaces:
    // compare without white space.
    const squeeze = (text) => text.replace(/[\s\u00a0\u202f]+/g, '');
    const drawn = (await page.evaluate(() => [...document.querySelectorAll('svg text')].map((t) => t.textContent))).map(squeeze);
    const stages = stageNames(readFileSync(journey, 'utf8'));
    assert.ok(stages.length > 0, 'the journey has stages');
    stages.forEach((stage, i) => {
      if (!drawn.includes(squeeze(`${i + 1}. ${stage}`))) problems.push(`stage "${stage}" is not drawn`);
    });

    if (process.env.SCREENSHOT_DIR) {
      mkdirSync(process.env.SCREENSHOT_DIR, { recursive: true });
      const size = await page.evaluate(() => {
        const svg = document.querySelector('svg').getBoundingClientRect();
        return { width: Math.ceil(svg.right + 16), height: Math.ceil(svg.bottom + 16) };
      });
      await page.setViewportSize(size);
      await page.screenshot({ path: join(process.env.SCREENSHOT_DIR, `map-${name}.png`), fullPage: true });
    }
    await page.close();
    assert.deepEqual(problems, [], `${name}: ${problems.length} problem(s)`);
  });
}
