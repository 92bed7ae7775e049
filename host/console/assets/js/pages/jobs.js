// Jobs: a filtered, paged list that follows state changes from the event stream.

import { get, query } from '../api.js';
import { h, replace, stateBadge, time, pairs, coalesce, heading, problemBox, keepFocus } from '../dom.js';
import { onJobEvent } from '../events.js';
import { setQuery } from '../router.js';

const STATES = ['queued', 'running', 'retry_wait', 'succeeded', 'failed', 'cancelled'];
const SWEEP_LABEL = 'reef.sweep=';

export async function render(view, ctx) {
  const q = ctx.query;
  const sweepId = q.label?.startsWith(SWEEP_LABEL) ? q.label.slice(SWEEP_LABEL.length) : '';
  document.title = 'Jobs · reef';

  const runnerSelect = h('select', { id: 'f-runner', name: 'runner' }, h('option', { value: '' }, 'any'));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter jobs' },
    field('State', h('select', { id: 'f-state', name: 'state' },
      h('option', { value: '' }, 'any'),
      STATES.map((s) => h('option', { value: s, selected: q.state === s }, s.replace('_', ' '))))),
    field('Runner', runnerSelect),
    field('Label', h('input', { id: 'f-label', name: 'label', placeholder: 'key=value',
      value: sweepId ? '' : q.label || '', pattern: '[^=]+=.*', title: 'key=value' })),
    field('Sweep', h('input', { id: 'f-sweep', name: 'sweep', placeholder: 'sweep id', value: sweepId,
      title: 'Jobs of this sweep (the label reef.sweep=<id>); replaces the label filter' })),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', id: 'f-apply' }, 'Filter'),
      h('a', { href: '#/jobs', class: 'button ghost' }, 'Clear')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const sweep = data.get('sweep').trim();
    setQuery({
      state: data.get('state'),
      runner: data.get('runner'),
      label: sweep ? `${SWEEP_LABEL}${sweep}` : data.get('label').trim(),
    });
  });

  const body = h('tbody');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const note = h('p', { class: 'muted', 'aria-live': 'polite' });
  replace(view, heading('Jobs'), form, note,
    h('div', { class: 'table-wrap' }, h('table', { class: 'jobs' },
      h('thead', {}, h('tr', {}, ['Job', 'State', 'Runner', 'Parameters', 'Labels', 'Attempts', 'Created', 'Updated']
        .map((t) => h('th', { scope: 'col' }, t)))),
      body)),
    pager);

  // Runners for the filter, without holding up the list.
  get('/v1/runners', { signal: ctx.signal }).then((runners) => {
    for (const r of runners) runnerSelect.append(h('option', { value: r.name, selected: q.runner === r.name }, r.name));
  }).catch(() => {});

  const rows = new Map(); // job id → its row's parts, for live updates
  let loading = true; // while the list is read, any event may concern a job about to be shown
  async function load() {
    const page = await get(`/v1/jobs${query({ state: q.state, runner: q.runner, label: q.label, cursor: q.cursor, limit: 50 })}`,
      { signal: ctx.signal });
    rows.clear();
    keepFocus(body, () => replace(body, page.jobs.map((job) => row(job, rows))));
    note.textContent = page.jobs.length ? '' : 'No jobs match.';
    replace(pager,
      q.cursor ? h('a', { href: `#/jobs${query({ ...q, cursor: '' })}`, class: 'button ghost' }, '« Newest') : null,
      page.next_cursor ? h('a', { href: `#/jobs${query({ ...q, cursor: page.next_cursor })}`, class: 'button ghost', rel: 'next' }, 'Older »') : null);
  }

  // Listed jobs change state in place. The first page is read again when a job may have joined
  // it: one was submitted, or one entered the state filtered on.
  const reload = coalesce(() => load().catch(() => {}), 500);
  ctx.onCleanup(reload.cancel);
  ctx.onCleanup(onJobEvent((event) => {
    const known = rows.get(event.job_id);
    if (known) {
      replace(known.state, stateBadge(event.to));
      known.tr.dataset.state = event.to;
      if (event.attempt) known.attempts.textContent = String(event.attempt);
      replace(known.updated, time(event.at, true));
    } else if (loading || (!q.cursor && (q.state ? event.to === q.state : event.transition === 'submit'))) {
      reload();
    }
  }));

  try {
    await load();
  } catch (error) {
    if (ctx.signal.aborted) return;
    view.append(problemBox(error));
  } finally {
    loading = false;
  }
}

function field(label, control) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}

function row(job, rows) {
  const state = h('td', {}, stateBadge(job.state));
  const attempts = h('td', { class: 'num' }, String(job.attempt_count));
  const updated = h('td', {}, time(job.updated_at, true));
  const tr = h('tr', { dataset: { job: job.id, state: job.state } },
    h('td', {}, h('a', { href: `#/jobs/${job.id}`, class: 'mono' }, job.id)),
    state,
    h('td', {}, h('a', { href: `#/runners/${encodeURIComponent(job.runner)}` }, job.runner)),
    h('td', {}, pairs(job.params)),
    h('td', {}, labels(job.labels)),
    attempts,
    h('td', {}, time(job.created_at, true)),
    updated);
  rows.set(job.id, { tr, state, attempts, updated });
  return tr;
}

/** Labels as chips; a sweep's label links to the sweep. */
function labels(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return '—';
  return h('span', { class: 'chips' }, entries.map(([k, v]) => (k === 'reef.sweep'
    ? h('a', { class: 'chip', href: `#/sweeps/${encodeURIComponent(v)}`, title: `sweep ${v}` }, `sweep ${v.slice(-6)}`)
    : h('code', { class: 'chip' }, `${k}=${v}`))));
}
