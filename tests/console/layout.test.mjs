// Layout and themes: every page at desktop size in light, and at phone size in dark, with a
// screenshot of each; the nav stays visible and nothing makes the page scroll sideways.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, startBrowser, open, screenshot, submitJob, jobReaches, until } from './harness.mjs';

let host;
let job;
let sweep;

before(async () => {
  host = await startHost();
  job = await submitJob(host, 'success.yml', { agent: 'flaky' });
  sweep = (await host.api('POST', '/v1/sweeps', {
    runner: 'demo',
    matrix: {
      benchmark: ['success.yml', 'lowscore.yml', 'fail.yml'].map((b) => `tests/fixtures/benchmarks/${b}`),
      agent: ['deterministic', 'flaky'],
    },
  })).id;
  await jobReaches(host, job, 'succeeded');
  await until('the sweep to finish', async () => {
    const s = await host.api('GET', `/v1/sweeps/${sweep}`);
    return s.progress.finished === s.progress.total;
  }, 45000, 200);
});

after(async () => {
  await host?.stop();
});

const PAGES = () => [
  ['jobs', '/jobs', 'tr[data-job]'],
  ['job', `/jobs/${job}`, 'table.events'],
  ['sweeps', '/sweeps', 'main table'],
  ['sweep', `/sweeps/${sweep}`, '#grid a.cell'],
  ['runners', '/runners', '.card'],
  ['runner', '/runners/demo', '#sweep-form'],
  ['policies', '/policies', 'table.versions'],
  ['results', `/results?runner=demo&group_by=param:agent,param:benchmark`, '#results-table'],
  ['host', '/host', '#host-status'],
];

/** Relative luminance of a CSS rgb() colour, 0 (black) to 1 (white). */
const luminance = (rgb) => {
  const [r, g, b] = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};

async function checkPage(page, name) {
  const layout = await page.evaluate(() => {
    const nav = document.querySelector('nav .nav').getBoundingClientRect();
    return {
      navVisible: nav.width > 0 && nav.height > 0 && nav.left >= 0 && nav.right <= window.innerWidth + 1,
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      background: getComputedStyle(document.body).backgroundColor,
    };
  });
  assert.ok(layout.navVisible, `${name}: the nav is visible`);
  assert.ok(layout.overflow <= 0, `${name}: the page does not scroll sideways (${layout.overflow}px too wide)`);
  return layout;
}

test('every page renders at 1280×800 in light mode', async () => {
  const browser = await startBrowser({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  try {
    for (const [name, route, ready] of PAGES()) {
      await open(browser.page, host, route);
      await browser.page.waitForSelector(ready, { timeout: 15000 });
      const { background } = await checkPage(browser.page, name);
      assert.ok(luminance(background) > 0.7, `${name}: light background (${background})`);
      await screenshot(browser.page, `desktop-light-${name}`);
    }
    assert.deepEqual(browser.errors, []);
  } finally {
    await browser.close();
  }
});

test('every page renders at phone size (390×844) in dark mode', async () => {
  const browser = await startBrowser({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
  const { page } = browser;
  try {
    for (const [name, route, ready] of PAGES()) {
      await open(page, host, route);
      await page.waitForSelector(ready, { timeout: 15000 });
      const { background } = await checkPage(page, name);
      assert.ok(luminance(background) < 0.1, `${name}: dark background (${background})`);
      await screenshot(page, `phone-dark-${name}`);
    }
    // The grid and wide tables scroll inside their own boxes.
    await open(page, host, `/sweeps/${sweep}`);
    await page.waitForSelector('#grid a.cell');
    const grid = await page.$eval('.grid-wrap', (el) => ({ overflow: getComputedStyle(el).overflowX, width: el.clientWidth }));
    assert.equal(grid.overflow, 'auto');
    assert.ok(grid.width <= 390);
    assert.deepEqual(browser.errors, []);
  } finally {
    await browser.close();
  }
});

test('the theme toggle overrides the system and is remembered', async () => {
  const browser = await startBrowser({ colorScheme: 'dark' });
  const { page } = browser;
  try {
    await open(page, host, '/jobs');
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.ok(luminance(await bg()) < 0.1, 'dark by default, as the system says');
    await page.click('#theme'); // auto → light
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
    await until('the light background', async () => luminance(await bg()) > 0.7, 5000, 50);
    await page.reload();
    await page.waitForSelector('main h1');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light', 'remembered across loads');
    await page.click('#theme'); // light → dark
    await page.click('#theme'); // dark → auto
    assert.equal(await page.evaluate(() => localStorage.getItem('reef.theme')), null);
  } finally {
    await browser.close();
  }
});

test('the Results page groups jobs and charts their mean score', async () => {
  const browser = await startBrowser();
  const { page } = browser;
  try {
    await open(page, host, '/results');
    await page.selectOption('#r-by1', 'benchmark');
    await page.selectOption('#r-by2', 'agent');
    await page.click('#r-apply');
    await page.waitForSelector('#results-table tbody tr', { timeout: 10000 });
    assert.match(page.url(), /group_by=param%3Abenchmark%2Cparam%3Aagent|group_by=param:benchmark,param:agent/);
    const rows = await page.$$('#results-table tbody tr');
    assert.ok(rows.length >= 6, `one row per benchmark and agent (${rows.length})`);
    const bars = await page.$$eval('#results-chart .bar', (els) => els.map((e) => e.style.getPropertyValue('--v')));
    assert.equal(bars.length, rows.length);
    assert.ok(bars.some((v) => Number(v) > 0), 'some bar has a length');
    await screenshot(page, 'desktop-results');
  } finally {
    await browser.close();
  }
});
