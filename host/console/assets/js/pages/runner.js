// Runner: its settings and parameters, a form to submit one job and a form to submit a sweep.

import { get, post, seg, ApiError } from '../api.js';
import { h, replace, table, heading, problemBox } from '../dom.js';
import { can } from '../session.js';
import { go } from '../router.js';
import { runnerFacts } from './runners.js';
import {
  compilePattern, checkValue, fieldBox, describe, parseLabels, showProblem, clearProblem,
} from '../forms.js';

export async function render(view, ctx) {
  const name = ctx.params.name;
  document.title = `Runner ${name} · reef`;
  replace(view, heading('Runner ', h('span', { class: 'mono' }, name)));
  let runner;
  try {
    runner = await get(`/v1/runners/${seg(name)}`, { signal: ctx.signal });
  } catch (error) {
    if (!ctx.signal.aborted) view.append(problemBox(error));
    return;
  }
  // Parameters the caller must give come first; the rest keep their (name) order.
  const mustGive = ([, d]) => (d.required && d.default == null ? 0 : 1);
  const params = Object.entries(runner.parameters || {}).sort((a, b) => mustGive(a) - mustGive(b));
  view.append(runnerFacts(runner),
    h('h2', {}, 'Parameters'),
    params.length
      ? table(['Name', 'Required', 'Default', 'Values', 'Pattern', 'Max length', 'Kind'], params.map(([p, d]) => h('tr', {},
        h('th', { scope: 'row' }, p),
        h('td', {}, d.required ? 'yes' : 'no'),
        h('td', {}, d.default ?? '—'),
        h('td', {}, d.values ? d.values.join(', ') : d.values_from ? `from ${d.values_from}` : '—'),
        h('td', {}, d.pattern ? h('code', { class: 'wrap' }, d.pattern) : '—'),
        h('td', { class: 'num' }, `${d.max_len} B`),
        h('td', {}, d.kind))))
      : h('p', { class: 'muted' }, 'This runner declares no parameters.'));
  if (!can('submit')) return;
  view.append(submitForm(runner, params), sweepForm(runner, params));
}

/** Priority, tenant and labels: the same in both forms. */
function extras(prefix, controls) {
  const labels = h('textarea', { id: `${prefix}-labels`, name: 'labels', rows: '2', placeholder: 'team=eval' });
  const priority = h('input', { id: `${prefix}-priority`, name: 'priority', type: 'number', step: '1', placeholder: '0' });
  const tenant = h('input', { id: `${prefix}-tenant`, name: 'tenant', placeholder: 'default', pattern: '[A-Za-z0-9_.\\/\\-]{1,64}' });
  Object.assign(controls, { labels, priority, tenant });
  return h('details', { class: 'more' }, h('summary', {}, 'Labels, priority, tenant'),
    h('div', { class: 'form-grid' },
      fieldBox(labels.id, 'Labels', labels, 'one key=value per line'),
      fieldBox(priority.id, 'Priority', priority, 'higher runs sooner'),
      fieldBox(tenant.id, 'Tenant', tenant, 'for fair share')));
}

function readExtras(controls, body) {
  const labels = parseLabels(controls.labels.value);
  if (Object.keys(labels).length) body.labels = labels;
  if (controls.priority.value !== '') body.priority = Number(controls.priority.value);
  if (controls.tenant.value.trim()) body.tenant = controls.tenant.value.trim();
}

function submitForm(runner, params) {
  const controls = {};
  const checks = {};
  const fields = params.map(([p, d]) => {
    const id = `submit-${p}`;
    let control;
    if (d.values) {
      control = h('select', { id, name: p, required: d.required && d.default == null },
        d.default == null ? h('option', { value: '' }, d.required ? 'choose…' : '(none)') : null,
        d.values.map((v) => h('option', { value: v, selected: v === d.default }, v)));
    } else {
      checks[p] = compilePattern(d.pattern);
      control = h('input', {
        id, name: p, value: d.default ?? '', required: d.required && d.default == null,
        pattern: checks[p].html, maxlength: d.max_len || null, autocomplete: 'off', spellcheck: 'false',
      });
    }
    controls[`param.${p}`] = control;
    return fieldBox(id, p, control, describe(d), d.required && d.default == null);
  });
  const problem = h('div', { class: 'problem', role: 'alert', id: 'submit-problem', hidden: true });
  const button = h('button', { type: 'submit', id: 'submit-job' }, 'Submit job');
  const form = h('form', { class: 'panel', id: 'submit-form', 'aria-labelledby': 'submit-title', novalidate: true },
    h('h2', { id: 'submit-title' }, 'Submit a job'),
    h('div', { class: 'form-grid' }, fields),
    extras('submit', controls),
    problem,
    h('div', { class: 'actions' }, button));

  // A custom message set by the last submit must not outlive the user's next edit.
  form.addEventListener('input', (event) => event.target.setCustomValidity?.(''));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(problem, controls);
    const body = { runner: runner.name, params: {} };
    // The browser's own checks first (required, pattern), then reef's rules as JS.
    for (const [p, d] of params) {
      const control = controls[`param.${p}`];
      const value = control.value.trim();
      control.setCustomValidity(checkValue(p, d, value, checks[p]));
      document.getElementById(`submit-${p}-hint`).textContent = control.validationMessage || describe(d);
      if (value !== '') body.params[p] = value;
    }
    if (!form.reportValidity()) return;
    await send({ path: '/v1/jobs', page: '#/jobs', body, button, problem, controls });
  });
  return form;
}

/**
 * Adds the form's labels, priority and tenant to `body`, POSTs it to `path` and opens what it
 * created (`page/<id>`); a refusal is shown beside the form, its field marked.
 */
async function send({ path, page, body, button, problem, controls }) {
  try {
    readExtras(controls, body);
  } catch (error) {
    showProblem(problem, { detail: error.message, field: 'labels' }, controls);
    return;
  }
  button.disabled = true;
  try {
    const created = await post(path, body);
    go(`${page}/${created.id}`);
  } catch (error) {
    showProblem(problem, error instanceof ApiError ? error : { detail: String(error) }, controls);
  } finally {
    button.disabled = false;
  }
}

/** Beyond this many values a sweep form offers a multiple select instead of checkboxes. */
const MAX_CHECKBOXES = 12;

/** Splits a comma-separated list into distinct, trimmed values. */
const list = (text) => [...new Set(text.split(',').map((s) => s.trim()).filter(Boolean))];

function sweepForm(runner, params) {
  const controls = {};
  const checks = {};
  const readers = {};
  const count = h('output', { id: 'sweep-cells', for: '' });
  const fields = params.map(([p, d]) => {
    if (d.values && d.values.length > MAX_CHECKBOXES) {
      // A long list (a `values_from` glob matching many files): a multiple select.
      const select = h('select', { id: `sweep-${p}`, name: p, multiple: true, size: '8' },
        d.values.map((v) => h('option', { value: v, selected: v === d.default }, v)));
      controls[`param.${p}`] = select;
      readers[p] = () => [...select.selectedOptions].map((o) => o.value);
      return fieldBox(select.id, p, select, `choose one or more (Ctrl or ⌘ for several)${describe(d) ? ` · ${describe(d)}` : ''}`,
        d.required && d.default == null);
    }
    if (d.values) {
      // One checkbox per value; the fieldset stands for the parameter when the host names it.
      const boxes = d.values.map((v, i) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: `sweep-${p}`, value: v, id: `sweep-${p}-${i}`, checked: v === d.default }), v));
      const fieldset = h('fieldset', { class: 'field', tabindex: '-1', id: `sweep-${p}` },
        h('legend', {}, p), h('div', { class: 'checks' }, boxes), h('small', { class: 'hint', id: `sweep-${p}-hint` }, describe(d)));
      controls[`param.${p}`] = fieldset;
      readers[p] = () => boxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => c.value);
      return fieldset;
    }
    checks[p] = compilePattern(d.pattern);
    const input = h('input', { id: `sweep-${p}`, name: p, value: d.default ?? '', autocomplete: 'off', spellcheck: 'false' });
    controls[`param.${p}`] = input;
    readers[p] = () => list(input.value);
    return fieldBox(input.id, p, input, `comma-separated values${describe(d) ? ` · ${describe(d)}` : ''}`, d.required && d.default == null);
  });
  const problem = h('div', { class: 'problem', role: 'alert', id: 'sweep-problem', hidden: true });
  const button = h('button', { type: 'submit', id: 'submit-sweep' }, 'Submit sweep');
  const form = h('form', { class: 'panel', id: 'sweep-form', 'aria-labelledby': 'sweep-title', novalidate: true },
    h('h2', { id: 'sweep-title' }, 'Submit a sweep'),
    h('p', { class: 'muted' }, 'Every combination of the values chosen is one job. A parameter with one value is shared by all of them.'),
    h('div', { class: 'form-grid' }, fields),
    extras('sweep', controls),
    problem,
    h('div', { class: 'actions' }, button, count));

  // The number of cells, as the values are chosen.
  const cells = () => params.reduce((n, [p]) => n * Math.max(1, readers[p]().length), 1);
  const showCount = () => { count.textContent = `${cells()} cell${cells() === 1 ? '' : 's'}`; };
  form.addEventListener('input', showCount);
  showCount();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(problem, controls);
    const body = { runner: runner.name, matrix: {}, params: {} };
    for (const [p, d] of params) {
      const values = readers[p]();
      for (const v of values) {
        const why = checkValue(p, d, v, checks[p]);
        if (why) { showProblem(problem, { detail: why, field: `matrix.${p}` }, controls); return; }
      }
      if (!values.length && d.required && d.default == null) {
        showProblem(problem, { detail: `${p} is required: give at least one value`, field: `matrix.${p}` }, controls);
        return;
      }
      if (values.length > 1) body.matrix[p] = values;
      else if (values.length === 1) body.params[p] = values[0];
    }
    if (!Object.keys(body.matrix).length) {
      // A sweep needs a matrix: a single combination is swept over its first parameter.
      const first = Object.keys(body.params)[0];
      if (!first) { showProblem(problem, { detail: 'Choose values for at least one parameter.' }, controls); return; }
      body.matrix[first] = [body.params[first]];
      delete body.params[first];
    }
    await send({ path: '/v1/sweeps', page: '#/sweeps', body, button, problem, controls });
  });
  return form;
}
