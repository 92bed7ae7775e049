// Jobs: submitting from the runner form, following a job and its log live, cancelling, and
// doing it all from the keyboard.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, startBrowser, open, screenshot, submitJob, jobReaches } from './harness.mjs';

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

const jobIdFromUrl = (url) => /#\/jobs\/([0-9A-Za-z]{26})$/.exec(url)?.[1];

/** Waits until the job page shows `state`. */
async function pageShowsState(state, timeout = 30000) {
  await page.waitForFunction((s) => document.querySelector('#job-state')?.dataset.state === s, state, { timeout });
}

test('a job submitted from the runner form reaches succeeded in the Job and Jobs pages without a reload', async () => {
  await open(page, host, '/runners/demo');
  await screenshot(page, 'desktop-runner');
  // A marker that a page reload would wipe out.
  await page.evaluate(() => { window.__sameDocument = true; });

  await page.fill('#submit-benchmark', 'tests/fixtures/benchmarks/success.yml');
  await page.selectOption('#submit-agent', 'deterministic');
  await page.click('#submit-job');
  await page.waitForURL(/#\/jobs\/[0-9A-Za-z]{26}$/, { timeout: 10000 });
  const id = jobIdFromUrl(page.url());
  assert.ok(id, `the console went to the new job's page (${page.url()})`);

  await pageShowsState('succeeded');
  await page.waitForSelector('#job-result pre, section pre.json', { timeout: 10000 });
  const result = await page.textContent('pre.json');
  assert.match(result, /"success": true/);
  assert.match(await page.textContent('main'), /exit 0/, 'the attempt shows its exit status');
  assert.match(await page.textContent('main'), /local\//, 'the attempt shows its placement');
  assert.ok((await page.$$('table.events tbody tr')).length >= 3, 'the events are listed');
  await screenshot(page, 'desktop-job-succeeded');

  // The Jobs page lists it as succeeded; a job submitted meanwhile appears and finishes live.
  await page.click('nav a[data-nav="jobs"]');
  await page.waitForSelector(`tr[data-job="${id}"][data-state="succeeded"]`, { timeout: 10000 });
  const second = await submitJob(host, 'success.yml');
  await page.waitForSelector(`tr[data-job="${second}"]`, { timeout: 10000 });
  await page.waitForSelector(`tr[data-job="${second}"][data-state="succeeded"]`, { timeout: 30000 });
  await screenshot(page, 'desktop-jobs');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was never reloaded');
  assert.deepEqual(browser.errors, []);
});

test('the Jobs filters narrow the list', async () => {
  const failed = await submitJob(host, 'exit3.yml');
  await jobReaches(host, failed, 'failed');
  await open(page, host, '/jobs');
  await page.selectOption('#f-state', 'failed');
  await page.click('#f-apply');
  await page.waitForSelector(`tr[data-job="${failed}"]`, { timeout: 10000 });
  const states = await page.$$eval('tr[data-job]', (rows) => rows.map((r) => r.dataset.state));
  assert.ok(states.length >= 1 && states.every((s) => s === 'failed'), `only failed jobs are listed: ${states}`);
  assert.match(page.url(), /state=failed/);
});

test('a running job\'s log is followed as it grows', async () => {
  await open(page, host, '/runners/demo');
  await page.fill('#submit-benchmark', 'tests/fixtures/benchmarks/slow.yml');
  await page.click('#submit-job');
  await page.waitForURL(/#\/jobs\/[0-9A-Za-z]{26}$/, { timeout: 10000 });
  const id = jobIdFromUrl(page.url());
  // Record every text the log view shows, as it shows it.
  await page.waitForSelector('#log-text');
  await page.evaluate(() => {
    window.__logTexts = [];
    const pre = document.getElementById('log-text');
    new MutationObserver(() => window.__logTexts.push(pre.textContent))
      .observe(pre, { childList: true, characterData: true, subtree: true });
  });
  await pageShowsState('succeeded');
  await page.waitForFunction(() => document.getElementById('log-text').textContent.includes('done success=true'), null, { timeout: 10000 });
  const texts = await page.evaluate(() => window.__logTexts);
  const partial = texts.filter((t) => t.includes('step 1/5') && !t.includes('done success'));
  assert.ok(partial.length >= 1, `the log showed output before the job ended (saw ${texts.length} versions)`);
  const final = texts[texts.length - 1];
  for (let step = 1; step <= 5; step += 1) assert.ok(final.includes(`step ${step}/5`), `step ${step} is in the log`);
  // Each version extends the previous one: nothing read twice, nothing lost.
  for (let i = 1; i < texts.length; i += 1) {
    if (texts[i]) assert.ok(texts[i].startsWith(texts[i - 1]), 'the log only grows');
  }
  await screenshot(page, 'desktop-job-log');

  // The other tab shows stderr.
  await page.click('#log-tab-stderr');
  await page.waitForFunction(() => document.getElementById('log-text').textContent.includes('starting demo-slow'), null, { timeout: 10000 });
  const api = await host.api('GET', `/v1/jobs/${id}`);
  assert.equal(api.state, 'succeeded');
});

test('a running job is cancelled from its page', async () => {
  const id = await submitJob(host, 'hang.yml');
  await open(page, host, `/jobs/${id}`);
  await pageShowsState('running');
  await page.waitForFunction(() => document.getElementById('log-text').textContent.includes('demo-hang'), null, { timeout: 10000 });
  await screenshot(page, 'desktop-job-running');
  await page.click('#job-cancel');
  await pageShowsState('cancelled');
  const job = await jobReaches(host, id, 'cancelled', 10000);
  assert.equal(job.reason, 'cancelled');
  assert.ok(job.attempts[0].cancelled, 'the attempt says it was cancelled');
  // Retry is offered for a cancelled job; the cancel button is gone.
  assert.ok(await page.$('#job-retry'));
  assert.equal(await page.$('#job-cancel'), null);
});

test('the keyboard reaches the skip link, the form, and submits it', async () => {
  // A fresh load, so focus starts at the top of the document.
  await page.goto('about:blank');
  await page.goto(`${host.url}/#/runners/demo`);
  await page.waitForSelector('#submit-benchmark');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'skip-link', 'the first Tab reaches the skip link');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main', 'the skip link moves focus to the content');
  let reached = false;
  for (let i = 0; i < 40 && !reached; i += 1) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement.id === 'submit-benchmark');
  }
  assert.ok(reached, 'Tab reaches the benchmark field');
  // The focused control shows a visible outline.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  await page.keyboard.type('tests/fixtures/benchmarks/success.yml');
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/jobs\/[0-9A-Za-z]{26}$/, { timeout: 10000 });
  await pageShowsState('succeeded');
});

test('a refused submit shows the host\'s problem next to the form and marks the field', async () => {
  await open(page, host, '/runners/demo');
  // The browser's own check: a value outside the pattern never reaches the host.
  await page.fill('#submit-benchmark', 'not a benchmark');
  await page.click('#submit-job');
  assert.match(await page.evaluate(() => document.getElementById('submit-benchmark').validationMessage), /match/);
  assert.match(page.url(), /#\/runners\/demo$/);
  // The host's check: a path leaving the workdir matches the pattern but is refused (422).
  await page.fill('#submit-benchmark', '../outside.yml');
  await page.click('#submit-job');
  await page.waitForSelector('#submit-problem:not([hidden])', { timeout: 10000 });
  assert.match(await page.textContent('#submit-problem'), /422/);
  assert.equal(await page.getAttribute('#submit-benchmark', 'aria-invalid'), 'true');
  await screenshot(page, 'desktop-runner-refused');
});
