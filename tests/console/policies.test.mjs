// Policies: a second version uploaded through the API is activated from the console, then
// rolled back, and the API agrees each time.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startHost, startBrowser, open, screenshot, REPO } from './harness.mjs';

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

// A component other than the embedded default: one of the example plugins, built by scripts/test.
const RELEASE = join(REPO, 'plugins', 'target', 'wasm32-wasip2', 'release');
const CANDIDATES = ['reef_policy_backoff.wasm', 'reef_policy_fair_share.wasm', 'reef_policy_strict_priority.wasm']
  .map((f) => join(RELEASE, f));
const second = CANDIDATES.find((f) => existsSync(f));

const activeDigest = async () => (await host.api('GET', '/v1/policies/default')).active.digest;

test('a policy version is activated and rolled back from the console', { skip: second ? false : `no example plugin in ${RELEASE} (scripts/build-plugins.sh builds them)` }, async () => {
  const original = await activeDigest();
  const version = await host.api('PUT', '/v1/policies/default?label=console-test', await readFile(second), {
    headers: { 'Content-Type': 'application/wasm' },
  });
  assert.ok(version.report.valid, 'the example plugin is valid');
  assert.notEqual(version.digest, original);

  await open(page, host, '/policies');
  await page.waitForSelector(`tr[data-digest="${version.digest}"]`);
  await screenshot(page, 'desktop-policies');
  await page.click(`button[data-activate="${version.digest}"]`);
  await page.waitForFunction((d) => document.getElementById('active-default')?.textContent === d, version.digest, { timeout: 10000 });
  assert.equal(await activeDigest(), version.digest, 'the API says the new version is active');

  await page.click('#rollback-default');
  await page.waitForFunction((d) => document.getElementById('active-default')?.textContent === d, original, { timeout: 10000 });
  assert.equal(await activeDigest(), original, 'the API says the original version is active again');
  await screenshot(page, 'desktop-policies-rolled-back');
  assert.deepEqual(browser.errors, []);
});

test('the validation report of each version is shown', async () => {
  await open(page, host, '/policies');
  await page.waitForSelector('table.versions details.report');
  await page.click('table.versions details.report summary');
  assert.match(await page.textContent('table.versions details.report'), /self-tests/);
  assert.match(await page.textContent('main'), /Decision times/);
});
