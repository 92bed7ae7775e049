// Results: jobs of a runner grouped by one or two parameters, with success rates, scores and
// durations, and a bar chart of the mean score of each group.

import { get, query, seg } from '../api.js';
import { h, replace, table, duration, score, heading, problemBox, shorten } from '../dom.js';
import { setQuery } from '../router.js';

export async function render(view, ctx) {
  document.title = 'Results · reef';
  const q = ctx.query;
  const out = h('div', { id: 'results-out' });
  replace(view, heading('Results'));

  let runners;
  try {
    runners = await get('/v1/runners', { signal: ctx.signal });
  } catch (error) {
    if (!ctx.signal.aborted) view.append(problemBox(error));
    return;
  }
  if (!runners.length) {
    view.append(h('p', { class: 'muted' }, 'No runners are configured.'));
    return;
  }
  const runnerName = runners.some((r) => r.name === q.runner) ? q.runner : runners[0].name;
  const runner = runners.find((r) => r.name === runnerName);
  const [first, second] = (q.group_by || '').split(',').map((k) => k.replace(/^param:/, ''));
  const by1 = runner.params.includes(first) ? first : runner.params[0] || '';
  const by2 = runner.params.includes(second) && second !== by1 ? second : '';

  const options = (selected, none) => [none ? h('option', { value: '' }, none) : null,
    runner.params.map((p) => h('option', { value: p, selected: p === selected }, p))];
  const runnerSelect = h('select', { id: 'r-runner', name: 'runner' },
    runners.map((r) => h('option', { value: r.name, selected: r.name === runnerName }, r.name)));
  // Another runner has other parameters: show its form at once.
  runnerSelect.addEventListener('change', () => setQuery({ runner: runnerSelect.value }));
  const since = h('input', { id: 'r-since', name: 'since', type: 'datetime-local', value: q.since ? localInput(q.since) : '' });
  const form = h('form', { class: 'filters', 'aria-label': 'Results query' },
    field('Runner', runnerSelect),
    field('Group by', h('select', { id: 'r-by1', name: 'by1', required: true }, options(by1))),
    field('Then by', h('select', { id: 'r-by2', name: 'by2' }, options(by2, '(nothing)'))),
    field('Label', h('input', { id: 'r-label', name: 'label', placeholder: 'key=value', value: q.label || '' })),
    field('Since', since),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'r-apply' }, 'Show')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const keys = [data.get('by1'), data.get('by2')].filter((k, i, all) => k && all.indexOf(k) === i);
    setQuery({
      runner: data.get('runner'),
      group_by: keys.map((k) => `param:${k}`).join(','),
      label: data.get('label').trim(),
      since: data.get('since') ? new Date(data.get('since')).toISOString() : '',
    });
  });
  view.append(form, out);

  if (!by1) {
    out.append(h('p', { class: 'muted' }, 'This runner declares no parameters to group by.'));
    return;
  }
  const groupBy = [by1, by2].filter(Boolean).map((k) => `param:${k}`);
  try {
    const res = await get(`/v1/results${query({ runner: runnerName, group_by: groupBy.join(','), label: q.label, since: q.since })}`,
      { signal: ctx.signal });
    showResults(out, res);
  } catch (error) {
    if (!ctx.signal.aborted) out.append(problemBox(error));
  }
}

function field(label, control) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}

/** An RFC 3339 time as the value of a datetime-local input (local time, minutes). */
function localInput(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const pct = (r) => (r === null || r === undefined ? '—' : `${Math.round(r * 1000) / 10} %`);

function showResults(out, res) {
  // Bar labels leave out a directory prefix every value of a key shares.
  const short = Object.fromEntries(res.group_by.map((k) => {
    const values = [...new Set(res.groups.map((g) => g.key[k] ?? '(none)'))];
    const { labels } = shorten(values);
    return [k, new Map(values.map((v, i) => [v, labels[i]]))];
  }));
  const keyText = (g) => res.group_by.map((k) => short[k].get(g.key[k] ?? '(none)')).join(' · ');
  replace(out,
    h('p', { id: 'results-summary' }, `${res.jobs} job${res.jobs === 1 ? '' : 's'} of `,
      h('a', { href: `#/runners/${seg(res.runner)}` }, res.runner), `, in ${res.groups.length} group${res.groups.length === 1 ? '' : 's'}.`));
  if (!res.groups.length) return;

  // Bars are scaled to 1 (scores are usually 0..1) or to the largest mean if that is larger.
  const top = Math.max(1, ...res.groups.map((g) => g.score?.mean ?? 0));
  out.append(h('h2', {}, 'Mean score'),
    h('ul', { class: 'bars', id: 'results-chart', 'aria-label': 'Mean score per group' }, res.groups.map((g) => {
      const bar = h('span', { class: 'bar', 'aria-hidden': 'true' });
      const mean = g.score?.mean;
      bar.style.setProperty('--v', String(mean == null ? 0 : Math.max(0, mean) / top));
      return h('li', {}, h('span', { class: 'bar-label', title: res.group_by.map((k) => g.key[k] ?? '(none)').join(' · ') }, keyText(g)),
        h('span', { class: 'bar-track' }, bar),
        h('span', { class: 'bar-value' }, mean == null ? 'no score' : score(mean)));
    })));

  out.append(h('h2', {}, 'Groups'),
    table([...res.group_by.map((k) => k.replace(/^param:/, '')), 'Jobs', 'Finished', 'Succeeded', 'Success rate',
      'Mean score', 'Min', 'Max', 'Scored', 'p50 duration', 'p95 duration'],
    res.groups.map((g) => h('tr', {},
      res.group_by.map((k) => h('th', { scope: 'row' }, g.key[k] ?? '(none)')),
      [g.jobs, g.finished, g.succeeded].map((n) => h('td', { class: 'num' }, String(n))),
      h('td', { class: 'num' }, pct(g.success_rate)),
      h('td', { class: 'num' }, score(g.score?.mean)),
      h('td', { class: 'num' }, score(g.score?.min)),
      h('td', { class: 'num' }, score(g.score?.max)),
      h('td', { class: 'num' }, String(g.score?.count ?? 0)),
      h('td', { class: 'num' }, g.duration_ms ? duration(g.duration_ms.p50) : '—'),
      h('td', { class: 'num' }, g.duration_ms ? duration(g.duration_ms.p95) : '—'))),
    { id: 'results-table' }));
}
