// Forms built from a runner's declared parameters, checked in the browser as the host would
// check them (required, values, pattern, max_len), and the host's refusal shown beside them.

import { h, replace } from './dom.js';

/**
 * A declared pattern as two checks. reef matches the whole value, so it is wrapped as
 * ^(?:p)$. The HTML `pattern` attribute is compiled by browsers with the `v` flag, which refuses
 * some classes that are fine elsewhere (an unescaped `/` or `-`); it is set only when it compiles
 * so, and the JS check (`u` flag, else none) always runs. A pattern JS cannot read at all (Rust
 * regex syntax it lacks) is left to the host.
 */
export function compilePattern(pattern) {
  if (!pattern) return { test: null, html: null };
  const wrapped = `^(?:${pattern})$`;
  let test = null;
  for (const flags of ['u', '']) {
    try { test = new RegExp(wrapped, flags); break; } catch (_) { /* try the next */ }
  }
  let html = null;
  try { new RegExp(wrapped, 'v'); html = pattern; } catch (_) { /* browser would ignore it */ }
  return { test, html };
}

const utf8 = new TextEncoder();

/** Why `value` would be refused for `decl`, or '' when it passes. */
export function checkValue(name, decl, value, check) {
  if (value === '') return decl.required && decl.default == null ? `${name} is required` : '';
  if (decl.values && !decl.values.includes(value)) return `${name} must be one of ${decl.values.join(', ')}`;
  if (check?.test && !check.test.test(value)) return `${name} must match ${decl.pattern}`;
  if (decl.max_len && utf8.encode(value).length > decl.max_len) return `${name} is longer than ${decl.max_len} bytes`;
  return '';
}

/** A labelled field with a hint line (also used for its error). */
export function fieldBox(id, labelText, control, hint, required = false) {
  const hintEl = h('small', { id: `${id}-hint`, class: 'hint' }, hint || '');
  control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' },
    h('label', { for: id }, labelText, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null,
      required ? h('span', { class: 'visually-hidden' }, ' (required)') : null),
    control, hintEl);
}

/** What to say under a parameter's field. */
export function describe(decl) {
  const bits = [];
  if (decl.kind === 'path') bits.push('a path inside the runner’s workdir');
  if (decl.pattern) bits.push(`pattern ${decl.pattern}`);
  if (decl.values_from) bits.push(`values from ${decl.values_from}`);
  if (decl.default != null) bits.push(`default ${decl.default}`);
  return bits.join(' · ');
}

/** `key=value` lines (or commas) as a labels object; throws naming a bad line. */
export function parseLabels(text) {
  const labels = {};
  for (const line of text.split(/\n/).map((l) => l.trim()).filter(Boolean)) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`label “${line}” is not key=value`);
    labels[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return labels;
}

/**
 * Shows the host's problem next to a form and marks the field it names (`params.benchmark`,
 * `matrix.agent`, `labels.team`, ...). `controls` maps field names to their controls.
 */
export function showProblem(box, error, controls) {
  clearProblem(box, controls);
  const detail = error.detail || error.message || String(error);
  replace(box, error.status ? h('strong', {}, `${error.status} `) : null, detail);
  box.hidden = false;
  const field = error.field || '';
  const control = controls[field] || controls[field.replace(/^(params|matrix)\./, 'param.')] || controls[field.split('.')[0]];
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    control.closest('.field, fieldset')?.classList.add('invalid');
    control.focus();
  }
}

export function clearProblem(box, controls) {
  box.hidden = true;
  box.replaceChildren();
  for (const control of Object.values(controls)) {
    control.removeAttribute('aria-invalid');
    control.closest('.field, fieldset')?.classList.remove('invalid');
  }
}
