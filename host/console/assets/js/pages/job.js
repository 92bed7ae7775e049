// Job: its fields, attempts, log (followed live), result and transitions, with cancel and retry.

import { get, post, seg, ApiError } from '../api.js';
import {
  h, replace, table, facts, stateBadge, time, duration, between, bytes, score, digest, pairs,
  coalesce, heading, problemBox, announce, keepFocus,
} from '../dom.js';
import { onJobEvent } from '../events.js';
import { can } from '../session.js';
import { LogView } from '../log.js';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export async function render(view, ctx) {
  const id = ctx.params.id;
  document.title = `Job ${id} · reef`;
  const path = `/v1/jobs/${seg(id)}`;

  const summary = h('section', { 'aria-labelledby': 'job-summary' });
  const controls = h('div', { class: 'actions' });
  const attempts = h('section', { 'aria-labelledby': 'job-attempts' });
  const result = h('section', { 'aria-labelledby': 'job-result' });
  const events = h('section', { 'aria-labelledby': 'job-events' });
  const log = new LogView(path, ctx);

  replace(view, heading('Job ', h('span', { class: 'mono' }, id)), controls, summary,
    attempts, h('section', { 'aria-labelledby': 'job-log' }, h('h2', { id: 'job-log' }, 'Log'), log.element),
    result, events);

  let job = null;
  async function refresh() {
    const [next, evs] = await Promise.all([
      get(path, { signal: ctx.signal }),
      get(`${path}/events`, { signal: ctx.signal }),
    ]);
    job = next;
    showSummary(summary, job);
    keepFocus(controls, () => showControls(controls, job, act));
    showAttempts(attempts, job);
    showResult(result, job);
    showEvents(events, evs.events || []);
    log.update(job);
  }

  // Buttons call this; the event stream then refreshes the page.
  async function act(action) {
    try {
      await post(`${path}/${action}`, undefined, { signal: ctx.signal });
      announce(action === 'cancel' ? 'Cancel requested.' : 'Job queued again.');
      await refresh();
    } catch (error) {
      if (!ctx.signal.aborted) announce(error instanceof ApiError ? error.detail : String(error), 'error');
    }
  }

  const later = coalesce(() => refresh().catch(() => {}), 250);
  ctx.onCleanup(later.cancel);
  ctx.onCleanup(onJobEvent((event) => { if (event.job_id === id) later(); }));

  try {
    await refresh();
  } catch (error) {
    if (ctx.signal.aborted) return;
    replace(view, heading('Job ', h('span', { class: 'mono' }, id)), problemBox(error));
    return;
  }
  // Running durations tick while the page is open.
  const tick = setInterval(() => { if (job && !TERMINAL.has(job.state)) showAttempts(attempts, job); }, 1000);
  ctx.onCleanup(() => clearInterval(tick));
}

function showSummary(section, job) {
  const sweep = job.labels?.['reef.sweep'];
  replace(section, h('h2', { id: 'job-summary', class: 'visually-hidden' }, 'Summary'), facts([
    ['State', h('span', { id: 'job-state', dataset: { state: job.state } }, stateBadge(job.state),
      job.cancel_requested && !TERMINAL.has(job.state) ? ' (cancel requested)' : '')],
    ['Reason', job.reason],
    ['Runner', h('a', { href: `#/runners/${seg(job.runner)}` }, job.runner)],
    ['Parameters', pairs(job.params)],
    ['Labels', pairs(job.labels)],
    ['Sweep', sweep ? h('a', { href: `#/sweeps/${seg(sweep)}`, class: 'mono' }, sweep) : null],
    ['Priority', String(job.priority)],
    ['Tenant', job.tenant],
    ['Created', time(job.created_at)],
    ['Updated', time(job.updated_at)],
    ['Next attempt at', job.next_run_at ? time(job.next_run_at) : null],
    ['Attempts', String(job.attempt_count)],
  ]));
}

function showControls(box, job, act) {
  if (!can('submit')) { box.replaceChildren(); return; }
  replace(box,
    !TERMINAL.has(job.state)
      ? h('button', { type: 'button', class: 'danger', id: 'job-cancel', onclick: () => act('cancel'),
        disabled: job.cancel_requested }, job.cancel_requested ? 'Cancelling…' : 'Cancel job')
      : null,
    job.state === 'failed' || job.state === 'cancelled'
      ? h('button', { type: 'button', id: 'job-retry', onclick: () => act('retry') }, 'Retry job')
      : null);
}

/** How an attempt ended: exit code, signal, timeout, cancel. */
function exitText(a) {
  const parts = [];
  if (a.exit_code !== null && a.exit_code !== undefined) parts.push(`exit ${a.exit_code}`);
  if (a.signal !== null && a.signal !== undefined) parts.push(`signal ${a.signal}`);
  if (a.timed_out) parts.push('timed out');
  if (a.cancelled) parts.push('cancelled');
  return parts.join(', ') || (a.state === 'running' ? 'running' : '—');
}

function placementText(p) {
  if (!p) return '—';
  return [p.executor, p.node, p.id].filter((x) => x !== undefined && x !== null).join('/');
}

function showAttempts(section, job) {
  const rows = job.attempts.slice().reverse().map((a) => h('tr', { dataset: { attempt: a.n } },
    h('td', { class: 'num' }, String(a.n)),
    h('td', {}, stateBadge(a.state)),
    h('td', {}, exitText(a)),
    h('td', {}, [a.reason, a.lost_reason, a.waiting, a.result_error].filter(Boolean).join('; ') || '—'),
    h('td', { class: 'mono' }, placementText(a.placement)),
    h('td', {}, time(a.started_at, true)),
    h('td', { class: 'num' }, duration(between(a.started_at, a.ended_at))),
    h('td', { class: 'num' }, a.peak_rss_kib !== undefined ? bytes(a.peak_rss_kib * 1024) : '—'),
    h('td', { class: 'num' }, a.cpu_ms !== undefined ? duration(a.cpu_ms) : '—'),
    h('td', { class: 'num' }, score(a.score)),
    h('td', {}, a.success === undefined ? '—' : a.success ? 'yes' : 'no')));
  replace(section, h('h2', { id: 'job-attempts' }, 'Attempts'),
    rows.length
      ? table(['#', 'State', 'Exit', 'Reason', 'Placement', 'Started', 'Duration', 'Peak memory', 'CPU', 'Score', 'Success'], rows)
      : h('p', { class: 'muted' }, 'No attempt yet.'));
}

function showResult(section, job) {
  replace(section, h('h2', { id: 'job-result' }, 'Result'),
    job.result === null || job.result === undefined
      ? h('p', { class: 'muted' }, 'No result yet.')
      : h('pre', { class: 'json', tabindex: '0', 'aria-label': 'Result JSON' }, JSON.stringify(job.result, null, 2)));
}

function showEvents(section, events) {
  const rows = events.map((e) => h('tr', {},
    h('td', {}, time(e.at, true)),
    h('td', {}, e.transition),
    h('td', {}, e.from ? stateBadge(e.from) : '—', ' → ', stateBadge(e.to)),
    h('td', { class: 'num' }, e.attempt ?? '—'),
    h('td', {}, e.reason || '—'),
    h('td', {}, e.policy ? (e.policy === 'native' ? 'native' : digest(e.policy)) : '—'),
    h('td', { class: 'mono' }, placementText(e.placement))));
  replace(section, h('h2', { id: 'job-events' }, 'Events'),
    table(['Time', 'Transition', 'State', 'Attempt', 'Reason', 'Decided by', 'Placement'], rows, { class: 'events' }));
}
