// Tokens: the console asks for one, sends it on every call (the event stream included), offers
// only what the token's scope allows, and forgets it on sign-out.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, startBrowser, open, screenshot, submitJob, jobReaches, TOKENS } from './harness.mjs';

let host;
let browser;
let page;
let running;
let failed;
let sweep;

before(async () => {
  host = await startHost({ auth: true });
  browser = await startBrowser();
  page = browser.page;
  running = await submitJob(host, 'hang.yml');
  failed = await submitJob(host, 'exit3.yml');
  sweep = (await host.api('POST', '/v1/sweeps', {
    runner: 'demo', matrix: { benchmark: ['tests/fixtures/benchmarks/success.yml'], agent: ['deterministic', 'flaky'] },
  })).id;
  await jobReaches(host, running, 'running');
  await jobReaches(host, failed, 'failed');
});

after(async () => {
  if (running) await host?.api('POST', `/v1/jobs/${running}/cancel`).catch(() => {});
  await browser?.close();
  await host?.stop();
});

/** Answers the token prompt (waiting for it first). */
async function signIn(token) {
  await page.waitForSelector('#token-dialog[open]', { timeout: 10000 });
  await page.fill('#token-input', token);
  await page.press('#token-input', 'Enter');
}

// What only a token that may change things should ever see.
const MUTATING = [
  '#submit-form', '#sweep-form', '#job-cancel', '#job-retry', '#sweep-cancel', '#sweep-retry',
  '[data-activate]', '[id^="rollback-"]', '[id^="promote-"]', '[id^="abort-"]', '#config-reload', 'input[type="file"]',
];
const MUTATING_TEXT = /submit|cancel|retry|activate|roll back|reload|upload|promote|abort|shadow|canary|delete/i;

async function mutatingControls() {
  const found = [];
  for (const selector of MUTATING) if (await page.$(selector)) found.push(selector);
  const texts = await page.$$eval('main button, main input[type="submit"]', (els) => els.map((e) => e.textContent || e.value));
  return [...found, ...texts.filter((t) => MUTATING_TEXT.test(t))];
}

const PAGES = () => [
  ['jobs', '/jobs', 'tr[data-job]'],
  ['job-running', `/jobs/${running}`, '#job-state'],
  ['job-failed', `/jobs/${failed}`, '#job-state'],
  ['sweep', `/sweeps/${sweep}`, '#grid a.cell'],
  ['runners', '/runners', '.card'],
  ['runner', '/runners/demo', 'table'],
  ['policies', '/policies', 'table.versions'],
  ['host', '/host', '#host-status'],
];

test('the token prompt appears, refuses a wrong token, and the pages work once signed in', async () => {
  await page.goto(`${host.url}/#/jobs`);
  await signIn('not-a-valid-token-at-all');
  await page.waitForFunction(() => /refused/.test(document.getElementById('token-message').textContent), null, { timeout: 10000 });
  assert.ok(await page.$('#token-dialog[open]'), 'the prompt stays while the token is refused');
  await screenshot(page, 'desktop-token-prompt');
  await page.fill('#token-input', TOKENS.submit);
  await page.press('#token-input', 'Enter');
  await page.waitForSelector(`tr[data-job="${running}"]`, { timeout: 10000 });
  assert.equal(await page.$('#token-dialog[open]'), null);
  assert.match(await page.textContent('#who'), /submit-user · submit/);
  // The event stream is authorised too: it goes live.
  await page.waitForSelector('#live[data-state="live"]', { timeout: 10000 });
  // The token is kept for the tab: a reload needs no new prompt.
  await page.reload();
  await page.waitForSelector(`tr[data-job="${running}"]`, { timeout: 10000 });
  assert.equal(await page.$('#token-dialog[open]'), null);
  // A submit token sees job controls but not policy or config ones.
  await open(page, host, `/jobs/${running}`);
  await page.waitForSelector('#job-cancel');
  await open(page, host, '/policies');
  await page.waitForSelector('table.versions');
  assert.equal(await page.$('[id^="rollback-"]'), null);
  await open(page, host, '/host');
  await page.waitForSelector('#host-status');
  assert.equal(await page.$('#config-reload'), null);
  // Sign out forgets the token.
  await page.click('#signout');
  await page.waitForSelector('#token-dialog[open]', { timeout: 10000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('reef.token')), null);
});

test('with a read-only token no page offers a control that changes anything', async () => {
  await page.goto(`${host.url}/#/jobs`);
  await page.evaluate(() => sessionStorage.clear());
  await page.reload();
  await signIn(TOKENS.read);
  await page.waitForSelector('tr[data-job]', { timeout: 10000 });
  assert.match(await page.textContent('#who'), /read/);
  for (const [name, route, ready] of PAGES()) {
    await open(page, host, route);
    await page.waitForSelector(ready, { timeout: 10000 });
    assert.deepEqual(await mutatingControls(), [], `no mutating control on the ${name} page`);
    await screenshot(page, `desktop-read-only-${name}`);
  }
  assert.deepEqual(browser.errors.filter((e) => !/401/.test(e)), []);
});

test('with an admin token every control is offered', async () => {
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(`${host.url}/#/host`);
  await page.reload();
  await signIn(TOKENS.admin);
  await page.waitForSelector('#config-reload', { timeout: 10000 });
  await page.click('#config-reload');
  await page.waitForSelector('#reload-out dl', { timeout: 10000 });
  assert.match(await page.textContent('#reload-out'), /Applied/);
  await screenshot(page, 'desktop-host-reloaded');
  await open(page, host, '/policies');
  await page.waitForSelector('[id^="rollback-"]');
  await open(page, host, `/jobs/${failed}`);
  await page.waitForSelector('#job-retry');
  await open(page, host, '/runners/demo');
  await page.waitForSelector('#submit-form');
  await page.waitForSelector('#sweep-form');
});
