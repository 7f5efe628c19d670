// Opens pages in Debian's Chromium and measures what it draws.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Without the networking switches Chromium phones home at start, which a closed network
// refuses; they change nothing about how pages render.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: run scripts/setup-test-deps (installs Debian's chromium)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

// Opens `url` and records everything that would make a page untrustworthy: console errors,
// uncaught exceptions, failed loads and any request other than the page itself.
export async function open(browser, url, viewport = { width: 1440, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    if (request.url() !== url) problems.push(`network request: ${request.url()}`);
  });
  page.on('requestfailed', (request) => problems.push(`failed request: ${request.url()}`));
  await page.goto(url, { waitUntil: 'load' });
  return { page, problems };
}

// Every text element of the page's SVG as drawn: its box, and the box the layout gave it
// (data-box, in SVG units), both in page pixels. Then every pair whose boxes intersect and
// every text that leaves its box.
export async function textLayoutProblems(page, tolerance = 1) {
  return page.evaluate((tolerance) => {
    const problems = [];
    const svg = document.querySelector('svg');
    if (!svg) return ['no svg on the page'];
    const origin = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')].map((element) => {
      const drawn = element.getBoundingClientRect();
      const [x, y, w, h] = element.getAttribute('data-box').split(' ').map(Number);
      return {
        label: element.textContent.slice(0, 60),
        drawn: { left: drawn.left, top: drawn.top, right: drawn.right, bottom: drawn.bottom },
        box: { left: origin.left + x, top: origin.top + y, right: origin.left + x + w, bottom: origin.top + y + h },
      };
    });
    if (texts.length === 0) problems.push('no text drawn');
    const overlap = (a, b) =>
      a.left + tolerance < b.right && b.left + tolerance < a.right && a.top + tolerance < b.bottom && b.top + tolerance < a.bottom;
    const inside = (a, b) =>
      a.left >= b.left - tolerance && a.top >= b.top - tolerance && a.right <= b.right + tolerance && a.bottom <= b.bottom + tolerance;
    texts.forEach((a, i) => {
      if (!inside(a.drawn, a.box)) {
        problems.push(`"${a.label}" leaves its box: drawn ${JSON.stringify(a.drawn)}, box ${JSON.stringify(a.box)}`);
      }
      for (const b of texts.slice(i + 1)) {
        if (overlap(a.drawn, b.drawn)) problems.push(`"${a.label}" overlaps "${b.label}"`);
      }
    });
    return problems;
  }, tolerance);
}
