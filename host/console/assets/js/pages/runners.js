// Runners: what the host can run, each linking to its page with the submit and sweep forms.

import { get, seg } from '../api.js';
import { h, replace, facts, heading, problemBox } from '../dom.js';
import { can } from '../session.js';

export async function render(view, ctx) {
  document.title = 'Runners · reef';
  const list = h('div', { class: 'cards' });
  replace(view, heading('Runners'), list);
  let runners;
  try {
    runners = await get('/v1/runners', { signal: ctx.signal });
  } catch (error) {
    if (!ctx.signal.aborted) list.append(problemBox(error));
    return;
  }
  if (!runners.length) list.append(h('p', { class: 'muted' }, 'No runners are configured.'));
  for (const r of runners) {
    list.append(h('article', { class: 'card' },
      h('h2', {}, h('a', { href: `#/runners/${seg(r.name)}` }, r.name)),
      runnerFacts(r),
      can('submit') ? h('p', {}, h('a', { href: `#/runners/${seg(r.name)}`, class: 'button' }, 'Submit a job or a sweep')) : null));
  }
}

/** The settings every runner view shows. */
export function runnerFacts(r) {
  return facts([
    ['Command', h('code', { class: 'wrap' }, r.command.join(' '))],
    ['Parameters', r.params.length ? r.params.join(', ') : 'none'],
    ['Executor', r.executor],
    ['Concurrency', r.max_concurrency == null ? 'host limit' : String(r.max_concurrency)],
    ['Timeout', r.timeout],
    ['Attempts', String(r.max_attempts)],
    ['Resources', r.resources.length ? r.resources.join(', ') : null],
  ]);
}
