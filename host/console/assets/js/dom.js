// Building DOM safely: every piece of text goes in through textContent or a text node, never
// innerHTML, so nothing the API returns can become markup.

/**
 * h('a', {href: '#/jobs', class: 'x', onclick: fn}, 'text', child, [more]) → element.
 * Attributes named on* become listeners; `text` sets textContent; false/null values are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'text') {
      el.textContent = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value' || key === 'checked' || key === 'selected') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends strings (as text), nodes and nested arrays; skips null, undefined and false. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces an element's children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/**
 * Runs `redraw()`, which rebuilds part of `container`, and puts keyboard focus back on the
 * matching new element (same id, job or link) if it was inside: live updates must not throw a
 * keyboard user back to the top of the page.
 */
export function keepFocus(container, redraw) {
  const el = document.activeElement;
  const inside = el && el !== document.body && container.contains(el);
  const key = inside && (el.id ? `#${CSS.escape(el.id)}`
    : el.dataset.job ? `[data-job="${CSS.escape(el.dataset.job)}"]`
      : el.getAttribute('href') ? `[href="${CSS.escape(el.getAttribute('href'))}"]` : null);
  redraw();
  if (key) container.querySelector(key)?.focus();
}

/** A table inside a horizontally scrolling wrapper (narrow screens scroll the table, not the page). */
export function table(headers, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
}

/** A definition list from [term, value] pairs, skipping empty values. */
export function facts(pairs) {
  const dl = h('dl', { class: 'facts' });
  for (const [term, value] of pairs) {
    if (value === null || value === undefined || value === '') continue;
    dl.append(h('div', {}, h('dt', {}, term), h('dd', {}, value)));
  }
  return dl;
}

/** A job state as a coloured badge. */
export function stateBadge(state) {
  return h('span', { class: `badge state-${state}` }, String(state).replace('_', ' '));
}

/**
 * A timestamp in local time, with the exact value in the markup and its title. `short`: only
 * the time of day for today, a short date and time otherwise (for table columns).
 */
export function time(ts, short = false) {
  if (!ts) return '—';
  const date = new Date(ts);
  let text = date.toLocaleString();
  if (short) {
    text = date.toDateString() === new Date().toDateString()
      ? date.toLocaleTimeString()
      : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
  }
  return h('time', { datetime: ts, title: date.toLocaleString() }, text);
}

/** Milliseconds as a short human duration: 350 ms, 12.3 s, 4 min 05 s, 2 h 03 min, 3 d 4 h. */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const pad = (n) => String(n).padStart(2, '0');
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${pad(Math.floor(s % 60))} s`;
  const hr = Math.floor(m / 60);
  if (hr < 24) return `${hr} h ${pad(m % 60)} min`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

/** Milliseconds between two timestamps (the second defaults to now). */
export function between(start, end) {
  if (!start) return null;
  return (end ? Date.parse(end) : Date.now()) - Date.parse(start);
}

/** Bytes as B, KiB, MiB, GiB. */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A score with at most three decimals. */
export function score(s) {
  return s === null || s === undefined ? '—' : String(Math.round(s * 1000) / 1000);
}

/** A digest shortened for display; the whole one stays in the title and in copies. */
export function digest(d) {
  if (!d) return '—';
  const short = d.startsWith('sha256:') ? `${d.slice(0, 19)}…` : d;
  return h('code', { class: 'digest', title: d }, short);
}

/** `k=v` pairs of an object, as a compact list of code chips. */
export function pairs(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return '—';
  return h('span', { class: 'chips' },
    entries.map(([k, v]) => h('code', { class: 'chip' }, `${k}=${v}`)));
}

/**
 * Display labels for a list of values: a directory prefix they all share is left out (it is
 * said once instead), so `tests/fixtures/a.yml, tests/fixtures/b.yml` read `a.yml, b.yml`.
 * Answers {prefix, labels}.
 */
export function shorten(values) {
  const texts = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  if (texts.length < 2) return { prefix: '', labels: texts };
  let prefix = texts[0].slice(0, texts[0].lastIndexOf('/') + 1);
  while (prefix && !texts.every((t) => t.startsWith(prefix) && t.length > prefix.length)) {
    prefix = prefix.slice(0, prefix.lastIndexOf('/', prefix.length - 2) + 1);
  }
  return { prefix, labels: texts.map((t) => t.slice(prefix.length)) };
}

/**
 * Calls `fn` once, `ms` after the first of a burst of calls; calls during the wait join it.
 * Unlike a debounce, a steady stream of calls cannot postpone `fn` forever.
 */
export function coalesce(fn, ms) {
  let timer = null;
  const run = () => {
    if (timer !== null) return;
    timer = setTimeout(() => { timer = null; fn(); }, ms);
  };
  run.cancel = () => { clearTimeout(timer); timer = null; };
  return run;
}

/** A message in the page-wide live region (read out by screen readers). */
export function announce(message, kind = 'info') {
  const status = document.getElementById('status');
  status.dataset.kind = kind;
  status.textContent = message;
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { status.textContent = ''; }, kind === 'error' ? 12000 : 5000);
}

/** A box that shows an API problem (its detail) where a page or form needs it. */
export function problemBox(error) {
  const detail = error?.detail || error?.message || String(error);
  return h('div', { class: 'problem', role: 'alert' },
    error?.status ? h('strong', {}, `${error.status} `) : null, detail);
}

/** A page heading, focusable so a route change can move focus to it. */
export function heading(text, ...extra) {
  return h('h1', { tabindex: '-1' }, text, ...extra);
}
