// Hash routing: `#/jobs?state=failed`, `#/jobs/<id>`, ... Each page is a module exporting
// `render(view, ctx)`; ctx gives it the route's params and query, an AbortSignal and
// `onCleanup`, so a page's timers, streams and requests all end when the user leaves it.

import { h, replace, problemBox } from './dom.js';

const routes = [];

/** Adds a route: a pattern like '/jobs/:id' and the page module rendering it. */
export function route(pattern, page, nav) {
  const names = [];
  const source = pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return '([^/]+)';
  });
  routes.push({ regex: new RegExp(`^${source}$`), names, page, nav });
}

/** Navigates to a route (`#/jobs/ID`). */
export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

/** Replaces the current route's query (a new history entry, so Back restores the old filters). */
export function setQuery(params) {
  const [path] = location.hash.slice(1).split('?');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  go(`#${path}${s ? `?${s}` : ''}`);
}

let cleanups = [];
let controller = null;
let firstRender = true;

async function render() {
  if (location.hash.length > 1 && !location.hash.startsWith('#/')) return;
  for (const fn of cleanups.splice(0)) {
    try { fn(); } catch (error) { console.error(error); }
  }
  controller?.abort();
  controller = new AbortController();

  const hash = location.hash.slice(1) || '/jobs';
  const [path, q = ''] = hash.split('?');
  const found = routes.map((r) => ({ r, m: r.regex.exec(path) })).find((x) => x.m);
  const main = document.getElementById('main');

  // Remember the focused control (a filter field) to put focus back after the page is rebuilt.
  const focusedId = document.activeElement?.id;

  for (const link of document.querySelectorAll('[data-nav]')) {
    if (found && link.dataset.nav === found.r.nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }

  const view = h('div', { class: 'page' });
  replace(main, view);
  if (!found) {
    document.title = 'Not found · reef';
    replace(view, h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, 'No page at ', h('code', {}, hash), '.'));
    return;
  }
  const params = {};
  found.r.names.forEach((name, i) => { params[name] = decodeURIComponent(found.m[i + 1]); });
  const { signal } = controller;
  const ctx = {
    params,
    query: Object.fromEntries(new URLSearchParams(q)),
    signal,
    // A page that registers a cleanup after the user already left gets it run at once.
    onCleanup: (fn) => (signal.aborted ? fn() : cleanups.push(fn)),
  };
  try {
    await found.r.page.render(view, ctx);
  } catch (error) {
    if (error.name === 'AbortError' || ctx.signal.aborted) return;
    console.error(error);
    view.append(problemBox(error));
  }
  if (ctx.signal.aborted) return;
  const again = focusedId && document.getElementById(focusedId);
  if (again && again !== document.body) again.focus();
  else if (!firstRender) view.querySelector('h1')?.focus();
  firstRender = false;
}

/** Starts routing: renders the current hash now and on every change. */
export function startRouter() {
  window.addEventListener('hashchange', render);
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    history.replaceState(null, '', '#/jobs');
  }
  render();
}
