// Sweeps: a 3×2 sweep from the sweep form whose grid fills in live, opens its cells' jobs, and
// downloads as CSV; cancelling a sweep and retrying its cells.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startHost, startBrowser, open, screenshot, until } from './harness.mjs';

let host;
let browser;
let page;

before(async () => {
  host = await startHost();
  browser = await startBrowser();
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await host?.stop();
});

const BENCHMARKS = ['success.yml', 'slow.yml', 'lowscore.yml'].map((b) => `tests/fixtures/benchmarks/${b}`);

test('a 3×2 sweep from the sweep form fills its grid in live, and a cell opens its job', async () => {
  await open(page, host, '/runners/demo');
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.fill('#sweep-benchmark', BENCHMARKS.join(', '));
  // `deterministic` (the default) is checked already; add `flaky`.
  await page.check('#sweep-agent input[value="flaky"]');
  assert.equal(await page.textContent('#sweep-cells'), '6 cells');
  await page.click('#submit-sweep');
  await page.waitForURL(/#\/sweeps\/[0-9A-Za-z]{26}$/, { timeout: 10000 });
  const id = page.url().split('/').pop();

  // Record the states every cell is shown in, as the grid is redrawn.
  await page.waitForSelector('#grid a.cell');
  await page.evaluate(() => {
    window.__cellStates = new Set();
    const note = () => document.querySelectorAll('#grid a.cell').forEach((c) => window.__cellStates.add(c.dataset.state));
    note();
    new MutationObserver(note).observe(document.querySelector('.grid-area'), { childList: true, subtree: true });
  });
  assert.equal((await page.$$('#grid tbody tr')).length, 3, 'three rows: the benchmarks');
  assert.equal((await page.$$('#grid thead th')).length, 3, 'a corner and two columns: the agents');
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll('#grid a.cell')];
    return cells.length === 6 && cells.every((c) => c.dataset.state === 'succeeded');
  }, null, { timeout: 45000 });
  const seen = await page.evaluate(() => [...window.__cellStates]);
  assert.ok(seen.some((s) => s !== 'succeeded'), `cells were shown before they finished (${seen})`);
  await page.waitForFunction(() => document.getElementById('sweep-count')?.textContent === '6 of 6 finished', null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was never reloaded');

  // Scores colour the cells: lowscore's row shows 0.5, the others 1.
  const scores = await page.$$eval('#grid tbody tr', (rows) => rows.map((r) => [r.querySelector('th').textContent,
    [...r.querySelectorAll('a.cell')].map((c) => [c.querySelector('.cell-main').textContent, c.style.getPropertyValue('--score')])]));
  const low = scores.find(([b]) => b.includes('lowscore'));
  assert.deepEqual(low[1].map(([text]) => text), ['0.5', '0.5']);
  assert.ok(low[1].every(([, v]) => v === '0.5'), 'the score is the cell colour\'s input');
  // The flaky agent's cells needed a second attempt.
  assert.ok((await page.$$('#grid a.cell .cell-sub')).length >= 1);
  await screenshot(page, 'desktop-sweep');

  // The CSV download (fetched with the token, handed over as a file).
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#sweep-csv')]);
  const csv = await readFile(await download.path(), 'utf8');
  const lines = csv.trim().split('\n');
  assert.equal(lines.length, 7, 'a header and six cells');
  assert.match(lines[0], /^benchmark,agent,job_id,state/);

  // A cell is a link: focus it, press Enter, and its job opens.
  const cell = await page.$('#grid a.cell');
  const job = await cell.getAttribute('data-job');
  await cell.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`#/jobs/${job}$`), { timeout: 10000 });
  await page.waitForSelector('#job-state');
  assert.match(await page.textContent('main h1'), new RegExp(job));

  // The Sweeps list has it; the Jobs page filters by it.
  await open(page, host, '/sweeps');
  await page.waitForSelector(`a[href="#/sweeps/${id}"]`, { timeout: 10000 });
  await screenshot(page, 'desktop-sweeps');
  await open(page, host, `/jobs?label=reef.sweep=${id}`);
  await until('the sweep\'s six jobs', async () => (await page.$$('tr[data-job]')).length === 6, 10000);
  assert.equal(await page.inputValue('#f-sweep'), id);
});

test('a sweep is cancelled, then its cancelled cells are retried', async () => {
  const sweep = await host.api('POST', '/v1/sweeps', {
    runner: 'demo',
    matrix: { benchmark: ['tests/fixtures/benchmarks/hang.yml'], agent: ['deterministic', 'flaky'] },
  });
  await open(page, host, `/sweeps/${sweep.id}`);
  const allIn = (state) => page.waitForFunction((s) => {
    const cells = [...document.querySelectorAll('#grid a.cell')];
    return cells.length === 2 && cells.every((c) => c.dataset.state === s);
  }, state, { timeout: 30000 });
  await allIn('running');
  await page.click('#sweep-cancel');
  await allIn('cancelled');
  const after1 = await host.api('GET', `/v1/sweeps/${sweep.id}`);
  assert.equal(after1.progress.states.cancelled, 2);

  await page.click('#sweep-retry');
  await allIn('running');
  // Leave nothing running.
  await page.click('#sweep-cancel');
  await allIn('cancelled');
});
