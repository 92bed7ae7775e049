// Host: readiness checks (refreshed every few seconds), the session, the configured runners
// (the API has no endpoint showing the whole configuration) and, for admins, config reload.

import { get, post, ApiError } from '../api.js';
import { h, replace, table, facts, digest, heading, problemBox, announce } from '../dom.js';
import { can, session } from '../session.js';
import { runnerFacts } from './runners.js';

const REFRESH_MS = 5000;

export async function render(view, ctx) {
  document.title = 'Host · reef';
  const ready = h('section', { 'aria-labelledby': 'host-ready' });
  const reload = can('admin') ? reloadPanel() : null;
  const runners = h('section', { 'aria-labelledby': 'host-runners' });
  replace(view, heading('Host'), ready,
    h('section', { 'aria-labelledby': 'host-session' }, h('h2', { id: 'host-session' }, 'Session'), facts([
      ['Token', session.auth ? session.name : 'none needed (the host has no tokens)'],
      ['Scope', session.scope],
    ])),
    reload, runners,
    h('p', {}, 'Also: ', h('a', { href: '/metrics' }, 'metrics'), ' · ', h('a', { href: '/openapi.json' }, 'OpenAPI description')));

  const check = async () => {
    try {
      // /readyz answers 503 with the same document when the host is not ready.
      const response = await fetch('/readyz', { signal: ctx.signal, cache: 'no-store' });
      showReady(ready, await response.json(), response.status);
    } catch (error) {
      if (!ctx.signal.aborted) replace(ready, h('h2', { id: 'host-ready' }, 'Readiness'), problemBox(error));
    }
  };
  const timer = setInterval(check, REFRESH_MS);
  ctx.onCleanup(() => clearInterval(timer));
  await check();

  try {
    const list = await get('/v1/runners', { signal: ctx.signal });
    replace(runners, h('h2', { id: 'host-runners' }, 'Configured runners'),
      list.map((r) => h('div', { class: 'card' }, h('h3', {}, h('a', { href: `#/runners/${encodeURIComponent(r.name)}` }, r.name)), runnerFacts(r))));
  } catch (error) {
    if (!ctx.signal.aborted) runners.append(problemBox(error));
  }
}

const ok = (passed) => h('span', { class: `badge ${passed ? 'state-succeeded' : 'state-failed'}` }, passed ? 'ok' : 'failing');

function showReady(section, r, status) {
  const c = r.checks || {};
  const rows = [
    ['State store', c.state_store?.ok, ''],
    ['Scheduler', c.scheduler?.ok, c.scheduler ? `last tick ${c.scheduler.last_tick_ms_ago} ms ago` : ''],
    ['Accepting work', c.accepting?.ok, ''],
    ['Policy', c.policy?.ok, c.policy?.digest ? digest(c.policy.digest) : 'none active'],
    ['Data directory', c.data_dir?.ok, c.data_dir?.error || ''],
    ...Object.entries(c.executors || {}).map(([name, e]) => [`Executor ${name}`, e.ok, e.error || '']),
  ];
  replace(section, h('h2', { id: 'host-ready' }, 'Readiness'),
    h('p', { id: 'host-status' }, h('span', { class: `badge ${r.status === 'ready' ? 'state-succeeded' : r.status === 'degraded' ? 'state-retry_wait' : 'state-failed'}` }, r.status),
      ` HTTP ${status} · ${r.queued} queued · ${r.running} running`),
    table(['Check', 'Result', 'Details'], rows.map(([name, passed, detail]) => h('tr', {},
      h('th', { scope: 'row' }, name), h('td', {}, ok(passed)), h('td', {}, detail)))));
}

function reloadPanel() {
  const out = h('div', { id: 'reload-out', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', id: 'config-reload' }, 'Reload config');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const r = await post('/v1/config/reload');
      const list = (items) => (items.length ? h('ul', {}, items.map((i) => h('li', {}, h('code', { class: 'wrap' }, i)))) : 'none');
      replace(out, facts([
        ['Source', h('code', { class: 'wrap' }, r.source)],
        ['Applied', list(r.applied)],
        ['Needs a restart', list(r.restart_required)],
        ['Warnings', list(r.warnings)],
      ]));
      announce('Configuration reloaded.');
    } catch (error) {
      replace(out, problemBox(error), error instanceof ApiError && error.field ? h('p', {}, 'Key: ', h('code', {}, error.field)) : null);
    } finally {
      button.disabled = false;
    }
  });
  return h('section', { 'aria-labelledby': 'host-config' }, h('h2', { id: 'host-config' }, 'Configuration'),
    h('p', { class: 'muted' }, 'Reads the config file again and applies what can change while the host runs.'),
    h('div', { class: 'actions' }, button), out);
}
