// Sweep: progress, and the grid of its cells (rows × cols chosen among the matrix's parameters),
// coloured by state and score and filled in live from the event stream.

import { get, post, seg, query, authorizedFetch, ApiError } from '../api.js';
import {
  h, replace, table, facts, stateBadge, time, duration, between, score, pairs, coalesce, heading,
  problemBox, announce, shorten, keepFocus,
} from '../dom.js';
import { onJobEvent } from '../events.js';
import { can } from '../session.js';
import { setQuery } from '../router.js';

export async function render(view, ctx) {
  const id = ctx.params.id;
  const path = `/v1/sweeps/${seg(id)}`;
  document.title = `Sweep ${id} · reef`;

  const info = h('section', { 'aria-labelledby': 'sweep-info' });
  const progress = h('section', { 'aria-labelledby': 'sweep-progress' });
  const controls = h('div', { class: 'actions' });
  const axes = h('form', { class: 'filters compact', 'aria-label': 'Grid axes' });
  const grid = h('div', { class: 'grid-area' });
  replace(view, heading('Sweep ', h('span', { class: 'mono' }, id)), controls, info, progress,
    h('section', { 'aria-labelledby': 'sweep-grid' }, h('h2', { id: 'sweep-grid' }, 'Cells'), axes, grid));

  let sweep;
  try {
    sweep = await get(path, { signal: ctx.signal });
  } catch (error) {
    if (!ctx.signal.aborted) replace(view, heading('Sweep ', h('span', { class: 'mono' }, id)), problemBox(error));
    return;
  }
  const params = Object.keys(sweep.matrix).sort();
  // The grid shows two parameters at most; larger matrices are listed job by job instead.
  const gridded = params.length <= 2;
  // By default the parameter with more values goes down the side: grids grow downwards, which
  // suits narrow screens.
  const longest = params.slice().sort((a, b) => sweep.matrix[b].length - sweep.matrix[a].length)[0];
  const rows = params.includes(ctx.query.rows) ? ctx.query.rows : longest;
  const cols = params.length === 2 ? (params.includes(ctx.query.cols) && ctx.query.cols !== rows ? ctx.query.cols : params.find((p) => p !== rows)) : '';
  const gridQuery = { rows, cols };

  showInfo(info, sweep);
  showControls(controls, path, id, gridQuery, gridded, async () => refresh());
  if (gridded && params.length === 2) showAxes(axes, params, rows, cols);

  let jobIds = new Set();
  async function refresh() {
    const [next, cells] = await Promise.all([
      get(path, { signal: ctx.signal }),
      gridded
        ? get(`${path}/grid${query(gridQuery)}`, { signal: ctx.signal })
        : get(`/v1/jobs${query({ label: `reef.sweep=${id}`, limit: 1000 })}`, { signal: ctx.signal }),
    ]);
    sweep = next;
    showProgress(progress, sweep.progress);
    if (gridded) {
      jobIds = new Set(cells.cells.flat().filter(Boolean).map((c) => c.job_id));
      keepFocus(grid, () => showGrid(grid, cells));
    } else {
      jobIds = new Set(cells.jobs.map((j) => j.id));
      keepFocus(grid, () => showJobs(grid, cells.jobs, params));
    }
  }

  // Any event of one of this sweep's jobs: fetch the grid again (at most every half second).
  // Until the first grid arrives its jobs are unknown, so any event counts: one that the first
  // read just missed must not leave a cell stale.
  let first = true;
  const later = coalesce(() => refresh().catch(() => {}), 500);
  ctx.onCleanup(later.cancel);
  ctx.onCleanup(onJobEvent((event) => { if (first || jobIds.has(event.job_id)) later(); }));
  try {
    await refresh();
  } catch (error) {
    if (!ctx.signal.aborted) grid.append(problemBox(error));
  } finally {
    first = false;
  }
}

function showInfo(section, sweep) {
  replace(section, h('h2', { id: 'sweep-info', class: 'visually-hidden' }, 'About'), facts([
    ['Runner', h('a', { href: `#/runners/${seg(sweep.runner)}` }, sweep.runner)],
    ['Matrix', h('span', { class: 'chips' }, Object.entries(sweep.matrix).map(([k, v]) =>
      h('code', { class: 'chip' }, `${k}: ${v.map(String).join(', ')}`)))],
    ['Parameters', pairs(sweep.params)],
    ['Labels', pairs(sweep.labels)],
    ['Created', time(sweep.created_at)],
    ['Jobs', h('a', { href: `#/jobs${query({ label: `reef.sweep=${sweep.id}` })}` }, `${sweep.cells} jobs`)],
  ]));
}

function showProgress(section, p) {
  const elapsed = p.started_at ? between(p.started_at, p.finished_at) : null;
  replace(section, h('h2', { id: 'sweep-progress' }, 'Progress'),
    h('div', { class: 'progress-line' },
      h('progress', { max: String(p.total || 1), value: String(p.finished), id: 'sweep-progressbar', 'aria-label': 'Cells finished' }),
      h('span', { id: 'sweep-count' }, `${p.finished} of ${p.total} finished`),
      elapsed !== null ? h('span', { class: 'muted' }, `${p.finished_at ? 'took' : 'running for'} ${duration(elapsed)}`) : null),
    h('p', { class: 'chips', id: 'sweep-states' }, Object.entries(p.states).map(([state, n]) =>
      h('span', { class: 'count' }, stateBadge(state), ` ${n}`))));
}

function showControls(box, path, id, gridQuery, gridded, refresh) {
  const act = async (action, button) => {
    button.disabled = true;
    try {
      const answer = await post(`${path}/${action}`);
      const n = answer.jobs?.length ?? 0;
      announce(action === 'cancel' ? `Cancelled ${n} job${n === 1 ? '' : 's'}.` : `Retrying ${n} cell${n === 1 ? '' : 's'}.`);
      await refresh();
    } catch (error) {
      announce(error instanceof ApiError ? error.detail : String(error), 'error');
    } finally {
      button.disabled = false;
    }
  };
  const csv = h('button', { type: 'button', class: 'ghost', id: 'sweep-csv', disabled: !gridded }, 'Download CSV');
  csv.addEventListener('click', () => download(`${path}/grid${query({ ...gridQuery, format: 'csv' })}`, `sweep-${id}.csv`));
  replace(box,
    can('submit') ? [
      h('button', { type: 'button', class: 'danger', id: 'sweep-cancel', onclick: (e) => act('cancel', e.currentTarget) }, 'Cancel sweep'),
      h('button', { type: 'button', id: 'sweep-retry', onclick: (e) => act('retry', e.currentTarget) }, 'Retry failed cells'),
    ] : null,
    csv);
}

/** Fetches a file with the token, then hands it to the browser as a download. */
async function download(path, name) {
  try {
    const response = await authorizedFetch(path);
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    const url = URL.createObjectURL(await response.blob());
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    announce(`Download failed: ${error.message}`, 'error');
  }
}

function showAxes(form, params, rows, cols) {
  const select = (name, label, value) => h('div', { class: 'field' },
    h('label', { for: `axis-${name}` }, label),
    h('select', { id: `axis-${name}`, name }, params.map((p) => h('option', { value: p, selected: p === value }, p))));
  replace(form, select('rows', 'Rows', rows), select('cols', 'Columns', cols),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'ghost' }, 'Show'),
      h('button', { type: 'button', class: 'ghost', onclick: () => setQuery({ rows: cols, cols: rows }) }, 'Swap')));
  form.onsubmit = (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const r = data.get('rows');
    const c = data.get('cols');
    setQuery(r === c ? { rows: r, cols: params.find((p) => p !== r) } : { rows: r, cols: c });
  };
}

const label = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

/** The grid: a table whose cells link to their jobs. */
function showGrid(area, g) {
  const colValues = g.cols ? g.cols.values : [null];
  const rowNames = shorten(g.rows.values);
  const colNames = g.cols ? shorten(g.cols.values) : { prefix: '', labels: ['job'] };
  const head = h('tr', {},
    h('th', { scope: 'col', class: 'corner' }, g.cols ? `${g.rows.param} ╲ ${g.cols.param}` : g.rows.param),
    colValues.map((v, c) => h('th', { scope: 'col', title: v === null ? null : label(v) }, colNames.labels[c])));
  const body = g.rows.values.map((rv, r) => h('tr', {},
    h('th', { scope: 'row', title: label(rv) }, rowNames.labels[r]),
    colValues.map((cv, c) => h('td', {}, cell(g, rv, cv, g.cells[r]?.[c])))));
  const left = [[g.rows.param, rowNames.prefix], [g.cols?.param, colNames.prefix]].filter(([, p]) => p);
  replace(area,
    h('div', { class: 'grid-wrap' }, h('table', { class: 'grid', id: 'grid' }, h('thead', {}, head), h('tbody', {}, body))),
    left.length ? h('p', { class: 'muted hint' }, left.map(([param, prefix]) => `Every ${param} starts with ${prefix}. `)) : null,
    legend());
}

function cell(g, rv, cv, c) {
  if (!c) return h('span', { class: 'cell empty' }, '—');
  const where = `${g.rows.param}=${label(rv)}${g.cols ? `, ${g.cols.param}=${label(cv)}` : ''}`;
  const scored = c.state === 'succeeded' && typeof c.score === 'number';
  const text = scored ? score(c.score) : c.state.replace('_', ' ');
  const details = [c.state, scored ? `score ${score(c.score)}` : null,
    c.attempts > 1 ? `${c.attempts} attempts` : null, c.duration_ms !== null && c.duration_ms !== undefined ? duration(c.duration_ms) : null]
    .filter(Boolean).join(', ');
  const el = c.state === 'deleted'
    ? h('span', { class: 'cell state-deleted', title: `${where}: deleted` }, 'deleted')
    : h('a', {
      href: `#/jobs/${c.job_id}`, class: `cell state-${c.state}${scored ? ' scored' : ''}`,
      dataset: { job: c.job_id, state: c.state }, title: `${where}: ${details}`, 'aria-label': `${where}: ${details}`,
    }, h('span', { class: 'cell-main' }, text),
    sub(c, scored) ? h('span', { class: 'cell-sub' }, sub(c, scored)) : null);
  // The score's colour is a CSS custom property (a CSSOM write, which the page's CSP allows).
  if (scored) el.style.setProperty('--score', String(Math.max(0, Math.min(1, c.score))));
  return el;
}

/** A cell's second line: attempts beyond the first, and the score of an unsuccessful one. */
function sub(c, scored) {
  return [!scored && typeof c.score === 'number' ? `score ${score(c.score)}` : null,
    c.attempts > 1 ? `×${c.attempts}` : null].filter(Boolean).join(' ');
}

function legend() {
  return h('p', { class: 'legend chips', 'aria-label': 'Legend' },
    ['queued', 'running', 'retry_wait', 'failed', 'cancelled'].map((s) => h('span', { class: `cell state-${s} mini` }, s.replace('_', ' '))),
    h('span', { class: 'scale' }, h('span', {}, 'score 0'), h('span', { class: 'scale-bar', 'aria-hidden': 'true' }), h('span', {}, '1')));
}

/** A sweep of more than two parameters: its jobs, one row each. */
function showJobs(area, jobs, params) {
  replace(area, h('p', { class: 'muted' }, 'This sweep varies more than two parameters; a grid shows two, so here are its jobs.'),
    table([...params, 'State', 'Job'], jobs.map((j) => h('tr', {},
      params.map((p) => h('td', {}, j.params[p] ?? '—')),
      h('td', {}, stateBadge(j.state)),
      h('td', {}, h('a', { href: `#/jobs/${j.id}`, class: 'mono' }, j.id))))));
}
