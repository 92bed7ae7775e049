// Test harness of the console's browser tests: a reef host of its own per test file (temporary
// directory, free loopback port, generated config) and a headless Chromium driving the console.
//
// Everything it starts is stopped by pid and everything it creates is removed, on failure too:
// callers register `stop()`/`close()` with the test's `after` hook.

import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, readdir, copyFile, rm, readFile, readlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, openSync, closeSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where reef, reef-shim and demo-runner are: REEF_BIN_DIR, else the cargo target's debug dir. */
export function binDir() {
  if (process.env.REEF_BIN_DIR) return resolve(process.env.REEF_BIN_DIR);
  const target = process.env.CARGO_TARGET_DIR || 'target';
  return join(isAbsolute(target) ? target : join(REPO, target), 'debug');
}

export const SCREENSHOTS = resolve(process.env.REEF_CONSOLE_SCREENSHOTS || join(REPO, 'target', 'console-screenshots'));

/** Tokens of hosts started with `auth: true`. */
export const TOKENS = {
  read: 'console-test-read-token-0001',
  submit: 'console-test-submit-token-0002',
  admin: 'console-test-admin-token-0003',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value, or fails after `timeout` ms saying `what`. */
export async function until(what, fn, timeout = 20000, every = 100) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(every);
  }
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

const toml = (s) => JSON.stringify(s); // a TOML basic string is a JSON string for these values

function config({ port, dataDir, workdir, bin, auth }) {
  let text = `
[server]
listen = "127.0.0.1:${port}"
watch_config = false

[storage]
data_dir = ${toml(dataDir)}

[scheduler]
max_concurrency = 4

[runners.demo]
command = [${toml(join(bin, 'demo-runner'))}, "{benchmark}", "--agent", "{agent}", "--execution-id", "{job_id}"]
workdir = ${toml(workdir)}
max_concurrency = 4
timeout = "60s"
kill_grace = "1s"
max_attempts = 3
backoff = "200ms"
env = { RUST_LOG = "info" }

[runners.demo.params]
benchmark = { required = true, kind = "path", pattern = "^[a-z0-9_./-]+\\\\.ya?ml$" }
agent = { default = "deterministic", values = ["deterministic", "flaky"] }

[runners.demo.result]
file = "logs/sessions/session_{job_id}.json"
success = "/final_result/success"
score = "/final_result/score"
`;
  if (auth) {
    for (const [scope, token] of Object.entries(TOKENS)) {
      text += `\n[[auth.tokens]]\nname = "${scope}-user"\ntoken = "${token}"\nscopes = ["${scope}"]\n`;
    }
  }
  return text;
}

/**
 * Starts a reef host: `{url, api, stop}`. `api(method, path, body?, {token, raw})` calls it
 * (with the admin token when the host has tokens).
 */
export async function startHost({ auth = false } = {}) {
  const bin = binDir();
  for (const name of ['reef', 'reef-shim', 'demo-runner']) {
    if (!existsSync(join(bin, name))) throw new Error(`${join(bin, name)} is missing: build the workspace or set REEF_BIN_DIR`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'reef-console-'));
  // The runner's workdir holds copies of the sample benchmarks, so session files stay in here.
  const workdir = join(dir, 'work');
  const benchmarks = join(workdir, 'tests', 'fixtures', 'benchmarks');
  await mkdir(benchmarks, { recursive: true });
  const source = join(REPO, 'tests', 'fixtures', 'benchmarks');
  for (const file of await readdir(source)) await copyFile(join(source, file), join(benchmarks, file));

  const port = await freePort();
  const configPath = join(dir, 'reef.toml');
  await writeFile(configPath, config({ port, dataDir: join(dir, 'data'), workdir, bin, auth }));
  const logPath = join(dir, 'reef.log');
  const logFd = openSync(logPath, 'w');
  const child = spawn(join(bin, 'reef'), ['serve', '--config', configPath], {
    cwd: dir,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, REEF_LOG: process.env.REEF_LOG || 'warn' },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });

  const url = `http://127.0.0.1:${port}`;
  const host = {
    url,
    dir,
    pid: child.pid,
    async api(method, path, body, { token = auth ? TOKENS.admin : null, raw = false, headers = {} } = {}) {
      const init = { method, headers: { ...headers } };
      if (token) init.headers.Authorization = `Bearer ${token}`;
      if (body instanceof Uint8Array || Buffer.isBuffer(body)) {
        init.body = body;
      } else if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers['Content-Type'] = 'application/json';
      }
      const response = await fetch(`${url}${path}`, init);
      if (raw) return response;
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    async log() {
      return readFile(logPath, 'utf8').catch(() => '');
    },
    async stop() {
      if (exited === null) {
        child.kill('SIGTERM');
        const deadline = Date.now() + 5000;
        while (exited === null && Date.now() < deadline) await sleep(50);
        if (exited === null) child.kill('SIGKILL');
        while (exited === null) await sleep(20);
      }
      // Attempts still running (a hung benchmark) outlive the host under their shims: end them.
      await killShimsUnder(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await until('the host to be ready', async () => {
      if (exited) throw new Error(`reef exited (${JSON.stringify(exited)}):\n${await host.log()}`);
      const r = await fetch(`${url}/readyz`).catch(() => null);
      return r?.status === 200;
    }, 30000, 100);
  } catch (error) {
    await host.stop();
    throw error;
  }
  return host;
}

/**
 * Kills what the host left running under `dir`: reef-shim processes whose command line names it
 * and runners whose working directory is inside it (an attempt outlives its host by design).
 */
async function killShimsUnder(dir) {
  let entries = [];
  try { entries = await readdir('/proc'); } catch (_) { return; }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let cmdline = '';
    let cwd = '';
    try { cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' '); } catch (_) { continue; }
    try { cwd = await readlink(`/proc/${entry}/cwd`); } catch (_) { /* not ours to read */ }
    if ((cmdline.includes('reef-shim') && cmdline.includes(dir)) || cwd.startsWith(`${dir}/`)) {
      try { process.kill(pid, 'SIGKILL'); } catch (_) { /* already gone */ }
    }
  }
}

/** A fresh headless Chromium (Debian's), its own temporary profile. */
export async function startBrowser({ viewport = { width: 1280, height: 800 }, colorScheme = 'light' } = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'reef-console-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.REEF_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport,
    colorScheme,
    acceptDownloads: true,
    // Chromium's crash-report database and caches go under the temporary profile, not $HOME.
    env: { ...process.env, XDG_CONFIG_HOME: join(profile, 'config'), XDG_CACHE_HOME: join(profile, 'cache') },
  });
  const errors = [];
  context.on('weberror', (e) => errors.push(String(e.error())));
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as `<name>.png` in the screenshot directory. */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Opens a console route (`/jobs/ID`) and waits for its page heading. */
export async function open(page, host, route) {
  const target = `${host.url}/#${route}`;
  if (page.url().startsWith(host.url)) {
    await page.evaluate((hash) => { location.hash = hash; }, route);
  } else {
    await page.goto(target);
  }
  await page.waitForSelector('main h1', { timeout: 10000 });
}

/** Submits a job through the API and answers its id. */
export async function submitJob(host, benchmark, extra = {}) {
  const job = await host.api('POST', '/v1/jobs', {
    runner: 'demo', params: { benchmark: `tests/fixtures/benchmarks/${benchmark}`, ...extra },
  });
  return job.id;
}

/** Waits until the API says the job is in `state`. */
export async function jobReaches(host, id, state, timeout = 30000) {
  return until(`job ${id} to be ${state}`, async () => {
    const job = await host.api('GET', `/v1/jobs/${id}`);
    return job.state === state ? job : null;
  }, timeout, 150);
}
