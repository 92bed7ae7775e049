// Policies: each slot's active version and counters, its trial (shadow or canary), history,
// quarantines and stored versions with their validation reports; admins activate, roll back,
// start and end trials and upload versions.

import { get, post, call, seg, ApiError } from '../api.js';
import { h, replace, table, facts, time, bytes, digest, heading, problemBox, announce } from '../dom.js';
import { can } from '../session.js';

export async function render(view, ctx) {
  document.title = 'Policies · reef';
  replace(view, heading('Policies'));
  let list;
  try {
    list = await get('/v1/policies', { signal: ctx.signal });
  } catch (error) {
    if (!ctx.signal.aborted) view.append(problemBox(error));
    return;
  }
  for (const slot of list.policies) {
    const section = h('section', { class: 'slot', 'aria-labelledby': `slot-${slot.name}` });
    view.append(section);
    const path = `/v1/policies/${seg(slot.name)}`;
    const refresh = async () => showSlot(section, await get(path, { signal: ctx.signal }), path, refresh);
    // The slot's own document (the list holds the same view; this one is always current).
    try {
      await refresh();
    } catch (error) {
      if (ctx.signal.aborted) return;
      showSlot(section, slot, path, refresh);
    }
  }
  if (!list.policies.length) view.append(h('p', { class: 'muted' }, 'No policy slots.'));
}

/** Runs an admin action, says how it went, then redraws the slot. */
async function act(button, what, fn, refresh) {
  button.disabled = true;
  try {
    await fn();
    announce(what);
    await refresh();
  } catch (error) {
    announce(error instanceof ApiError ? error.detail : String(error), 'error');
    button.disabled = false;
  }
}

function showSlot(section, slot, path, refresh) {
  const admin = can('admin');
  const a = slot.active;
  const st = slot.state;
  const byDigest = new Map(slot.versions.map((v) => [v.digest, v]));
  const labelOf = (d) => byDigest.get(d)?.label;

  const rollback = admin ? h('button', {
    type: 'button', id: `rollback-${slot.name}`, class: 'danger', disabled: !st.history.length,
    title: st.history.length ? `Back to ${st.history[st.history.length - 1]}` : 'No earlier version to go back to',
  }, 'Roll back') : null;
  rollback?.addEventListener('click', () => act(rollback, 'Rolled back.', () => post(`${path}/rollback`), refresh));

  replace(section,
    h('h2', { id: `slot-${slot.name}` }, `Slot ${slot.name}`),
    h('h3', {}, 'Active version'),
    facts([
      ['Digest', a.digest ? h('code', { class: 'wrap', id: `active-${slot.name}` }, a.digest) : 'native'],
      ['Label', labelOf(a.digest)],
      ['Source', a.source],
      ['Interface', a.wit],
      ['Size', a.size != null ? bytes(a.size) : null],
      ['Compiled from cache', a.compiled_from_cache == null ? null : a.compiled_from_cache ? 'yes' : 'no'],
      ['Calls', String(a.calls)],
      ['Faults', h('span', { class: a.faults ? 'warn' : '' }, String(a.faults))],
      ['Limits', a.limits ? `${bytes(a.limits.max_memory_bytes)} memory, ${a.limits.max_cpu_ms} ms CPU, ${a.limits.call_timeout_ms} ms per call` : null],
      ['Activated', st.activated_at ? h('span', {}, time(st.activated_at), st.activated_by ? ` by ${st.activated_by}` : '') : null],
      ['Decision times', slot.decisions.count
        ? `${slot.decisions.count} recent: p50 ${slot.decisions.p50_micros} µs, p99 ${slot.decisions.p99_micros} µs, max ${slot.decisions.max_micros} µs`
        : 'none yet'],
    ]),
    rollback ? h('div', { class: 'actions' }, rollback) : null,
    candidate(slot, path, refresh, admin, labelOf),
    history(st, labelOf),
    quarantines(st),
    h('h3', {}, 'Versions'),
    versions(slot, path, refresh, admin),
    admin ? upload(slot, path, refresh) : null);
}

function candidate(slot, path, refresh, admin, labelOf) {
  const c = slot.candidate;
  const box = h('div', { class: 'candidate' }, h('h3', {}, 'Trial'));
  if (!c) {
    box.append(h('p', { class: 'muted' }, 'No version on trial.'));
    return box;
  }
  const agreement = c.compared ? `${(((c.compared - c.disagreements) / c.compared) * 100).toFixed(1)} % agree` : null;
  box.append(facts([
    ['Mode', c.mode === 'canary' ? `canary, ${c.percent} % of jobs` : 'shadow (compared, never applied)'],
    ['Digest', c.digest ? h('code', { class: 'wrap' }, c.digest) : null],
    ['Label', labelOf(c.digest)],
    ['Started by', slot.state.candidate?.by],
    ['Compared', c.mode === 'shadow' ? `${c.compared} decisions, ${c.disagreements} differed${agreement ? ` (${agreement})` : ''}` : null],
    ['Decided', c.mode === 'canary' ? `${c.decided} decisions` : null],
  ]));
  if (admin) {
    const promote = h('button', { type: 'button', id: `promote-${slot.name}` }, 'Promote');
    const abort = h('button', { type: 'button', id: `abort-${slot.name}`, class: 'danger' }, 'Abort trial');
    promote.addEventListener('click', () => act(promote, 'Candidate promoted.', () => post(`${path}/promote`), refresh));
    abort.addEventListener('click', () => act(abort, 'Trial aborted.', () => post(`${path}/abort`), refresh));
    box.append(h('div', { class: 'actions' }, promote, abort));
  }
  return box;
}

function history(st, labelOf) {
  if (!st.history.length) return null;
  return h('details', {}, h('summary', {}, `Activation history (${st.history.length})`),
    h('ol', { class: 'history', reversed: true }, st.history.slice().reverse().map((d) =>
      h('li', {}, digest(d), labelOf(d) ? ` ${labelOf(d)}` : ''))));
}

function quarantines(st) {
  if (!st.quarantined?.length) return null;
  return h('div', {}, h('h3', {}, 'Quarantined'),
    table(['Version', 'When', 'Faults', 'Restored'], st.quarantined.map((q) => h('tr', {},
      h('td', {}, digest(q.digest)), h('td', {}, time(q.at, true)), h('td', { class: 'num' }, String(q.faults)), h('td', {}, digest(q.restored))))));
}

function versions(slot, path, refresh, admin) {
  const active = slot.active.digest;
  const trial = slot.candidate?.digest;
  const rows = slot.versions.slice().reverse().map((v) => {
    const tags = [v.digest === active ? 'active' : null, v.digest === trial ? 'on trial' : null,
      slot.state.quarantined?.some((q) => q.digest === v.digest) ? 'quarantined' : null].filter(Boolean);
    const actions = h('div', { class: 'actions tight' });
    if (admin && v.report.valid && v.digest !== active) {
      const activate = h('button', { type: 'button', class: 'small', dataset: { activate: v.digest } }, 'Activate');
      activate.addEventListener('click', () => act(activate, `Activated ${v.label || v.digest}.`,
        () => post(`${path}/activate`, { digest: v.digest }), refresh));
      actions.append(activate);
      if (!trial) {
        const shadow = h('button', { type: 'button', class: 'small ghost' }, 'Shadow');
        shadow.addEventListener('click', () => act(shadow, 'Shadow trial started.',
          () => post(`${path}/shadow`, { digest: v.digest }), refresh));
        const percent = h('input', { type: 'number', min: '0', max: '100', value: '10', class: 'percent', 'aria-label': 'Canary percent of jobs' });
        const canary = h('button', { type: 'button', class: 'small ghost' }, 'Canary');
        canary.addEventListener('click', () => act(canary, 'Canary started.',
          () => post(`${path}/canary`, { digest: v.digest, percent: Number(percent.value) }), refresh));
        actions.append(shadow, percent, canary);
      }
    }
    return h('tr', { dataset: { digest: v.digest } },
      h('td', {}, v.label || '—', tags.map((t) => h('span', { class: `tag tag-${t.replace(' ', '-')}` }, t))),
      h('td', {}, digest(v.digest)),
      h('td', {}, report(v.report)),
      h('td', { class: 'num' }, bytes(v.size)),
      h('td', {}, v.uploader),
      h('td', {}, time(v.uploaded_at, true)),
      h('td', {}, actions));
  });
  return table(['Label', 'Digest', 'Validation', 'Size', 'Uploader', 'Uploaded', ''], rows, { class: 'versions' });
}

function report(r) {
  const summary = h('summary', {}, h('span', { class: `badge ${r.valid ? 'state-succeeded' : 'state-failed'}` }, r.valid ? 'valid' : 'invalid'),
    r.self_test.length ? ` ${r.self_test.filter((c) => c.ok).length}/${r.self_test.length} self-tests` : '');
  return h('details', { class: 'report' }, summary,
    r.wit ? h('p', {}, 'Interface ', h('code', {}, r.wit)) : null,
    r.errors.length ? h('ul', { class: 'errors' }, r.errors.map((e) => h('li', {}, e))) : null,
    r.self_test.length ? table(['Case', 'Hook', 'OK', 'Time', 'Error'], r.self_test.map((c) => h('tr', {},
      h('td', {}, c.case), h('td', {}, c.hook), h('td', {}, c.ok ? 'yes' : 'no'),
      h('td', { class: 'num' }, `${c.micros} µs`), h('td', {}, c.error || '')))) : null);
}

function upload(slot, path, refresh) {
  const file = h('input', { type: 'file', id: `upload-file-${slot.name}`, accept: '.wasm,application/wasm', required: true });
  const label = h('input', { id: `upload-label-${slot.name}`, placeholder: 'v2' });
  const problem = h('div', { class: 'problem', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit' }, 'Upload');
  const form = h('form', { class: 'panel', 'aria-labelledby': `upload-${slot.name}` },
    h('h3', { id: `upload-${slot.name}` }, 'Upload a version'),
    h('div', { class: 'form-grid' },
      h('div', { class: 'field' }, h('label', { for: file.id }, 'Component (.wasm)'), file),
      h('div', { class: 'field' }, h('label', { for: label.id }, 'Label'), label)),
    problem, h('div', { class: 'actions' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!file.files[0]) return;
    problem.hidden = true;
    button.disabled = true;
    try {
      const q = label.value.trim() ? `?label=${encodeURIComponent(label.value.trim())}` : '';
      const v = await call('PUT', `${path}${q}`, { body: file.files[0] });
      announce(`Uploaded ${v.label || v.digest}: ${v.report?.valid ? 'valid' : 'invalid'}.`);
      await refresh();
    } catch (error) {
      // A rejected upload answers 422 with the report; its errors say why.
      const errors = error.problem?.version?.report?.errors || error.problem?.report?.errors || [];
      replace(problem, h('strong', {}, `${error.status || ''} `), error.detail || String(error),
        errors.length ? h('ul', {}, errors.map((e) => h('li', {}, e))) : null);
      problem.hidden = false;
      button.disabled = false;
    }
  });
  return form;
}
