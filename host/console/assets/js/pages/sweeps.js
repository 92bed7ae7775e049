// Sweeps: a page of sweeps, newest first.

import { get, query, seg } from '../api.js';
import { h, replace, table, time, pairs, coalesce, heading, problemBox } from '../dom.js';
import { onJobEvent } from '../events.js';
import { can } from '../session.js';

export async function render(view, ctx) {
  document.title = 'Sweeps · reef';
  const q = ctx.query;
  const list = h('div');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  replace(view, heading('Sweeps'),
    can('submit') ? h('p', {}, 'Start a sweep from a runner’s page: ', h('a', { href: '#/runners' }, 'Runners'), '.') : null,
    list, pager);

  async function load() {
    const page = await get(`/v1/sweeps${query({ cursor: q.cursor, limit: 50 })}`, { signal: ctx.signal });
    replace(list, page.sweeps.length
      ? table(['Sweep', 'Runner', 'Matrix', 'Cells', 'Parameters', 'Labels', 'Created'], page.sweeps.map((s) => h('tr', {},
        h('td', {}, h('a', { href: `#/sweeps/${seg(s.id)}`, class: 'mono' }, s.id)),
        h('td', {}, s.runner),
        h('td', {}, Object.entries(s.matrix).map(([k, v]) => `${k} ×${v.length}`).join(', ')),
        h('td', { class: 'num' }, String(s.cells)),
        h('td', {}, pairs(s.params)),
        h('td', {}, pairs(s.labels)),
        h('td', {}, time(s.created_at, true)))))
      : h('p', { class: 'muted' }, 'No sweeps yet.'));
    replace(pager,
      q.cursor ? h('a', { href: '#/sweeps', class: 'button ghost' }, '« Newest') : null,
      page.next_cursor ? h('a', { href: `#/sweeps${query({ cursor: page.next_cursor })}`, class: 'button ghost', rel: 'next' }, 'Older »') : null);
  }

  // A new sweep submits jobs: look again (on the first page only).
  if (!q.cursor) {
    const reload = coalesce(() => load().catch(() => {}), 1000);
    ctx.onCleanup(reload.cancel);
    ctx.onCleanup(onJobEvent((e) => { if (e.transition === 'submit') reload(); }));
  }
  try {
    await load();
  } catch (error) {
    if (!ctx.signal.aborted) list.append(problemBox(error));
  }
}
