// A job's log with stdout/stderr tabs, followed while the job runs.
//
// The log API answers the bytes from `offset` and the file's size in X-Reef-Log-Size; the view
// asks again from offset + bytes received while the job is not finished (and once more after it
// finishes, for the tail): soon after output arrived, less and less often while none does. Bytes are decoded as a stream, so a UTF-8 character
// split across two answers is not garbled.

import { authorizedFetch } from './api.js';
import { h, replace, bytes } from './dom.js';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
/** Delay before the next read: short while output flows, growing to the maximum while it does not. */
const POLL_MIN_MS = 250;
const POLL_MAX_MS = 2000;
/** Text kept on screen; older output is dropped (the API still has it all). */
const KEEP_CHARS = 2_000_000;
const STREAMS = ['stdout', 'stderr'];

export class LogView {
  constructor(jobPath, ctx) {
    this.jobPath = jobPath;
    this.ctx = ctx;
    this.stream = 'stdout';
    this.attempt = null; // null: follow the latest attempt
    this.job = null;
    this.reset();

    this.tabs = STREAMS.map((name) => h('button', {
      type: 'button', role: 'tab', id: `log-tab-${name}`, 'aria-controls': 'log-text',
      onclick: () => this.select(name),
      onkeydown: (event) => this.arrowKeys(event),
    }, name));
    this.attemptSelect = h('select', { id: 'log-attempt', onchange: () => this.pick() });
    this.follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
    this.info = h('span', { class: 'muted', id: 'log-info' });
    this.pre = h('pre', { class: 'log', id: 'log-text', role: 'tabpanel', tabindex: '0', 'aria-live': 'off' });
    this.element = h('div', { class: 'logview' },
      h('div', { class: 'logbar' },
        h('div', { role: 'tablist', 'aria-label': 'Log stream', class: 'tabs' }, this.tabs),
        h('label', { for: 'log-attempt' }, 'Attempt'), this.attemptSelect,
        h('label', { class: 'check' }, this.follow, 'Scroll with output'),
        this.info),
      this.pre);
    this.showTabs();
    ctx.onCleanup(() => clearTimeout(this.timer));
  }

  reset() {
    this.offset = 0;
    this.text = '';
    this.delay = POLL_MIN_MS;
    this.decoder = new TextDecoder();
    this.generation = (this.generation || 0) + 1; // answers of an earlier selection are ignored
  }

  /** Called with each fresh copy of the job. */
  update(job) {
    const before = this.job;
    this.job = job;
    const count = job.attempts.length;
    if (this.attemptSelect.options.length !== count + 1) {
      replace(this.attemptSelect, h('option', { value: '' }, 'latest'),
        job.attempts.map((a) => h('option', { value: String(a.n) }, String(a.n))));
      this.attemptSelect.value = this.attempt === null ? '' : String(this.attempt);
    }
    // A new attempt started while following the latest: its log starts from zero.
    if (this.attempt === null && before && before.attempts.length !== count) {
      this.reset();
      this.render();
    }
    // A change of state (the job started, ended, was retried) is worth a read at once.
    if (!before || before.state !== job.state || before.attempts.length !== count) this.kick();
    else if (!this.timer && !this.busy) this.poll();
  }

  select(stream) {
    if (stream === this.stream) return;
    this.stream = stream;
    this.showTabs();
    this.reset();
    this.render();
    this.kick();
  }

  pick() {
    this.attempt = this.attemptSelect.value ? Number(this.attemptSelect.value) : null;
    this.reset();
    this.render();
    this.kick();
  }

  // Left and right arrows move between the tabs, as the tab pattern expects.
  arrowKeys(event) {
    if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
    const next = STREAMS[(STREAMS.indexOf(this.stream) + 1) % STREAMS.length];
    this.select(next);
    this.tabs[STREAMS.indexOf(next)].focus();
  }

  showTabs() {
    this.tabs.forEach((tab, i) => {
      const on = STREAMS[i] === this.stream;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
    });
    this.pre.setAttribute('aria-labelledby', `log-tab-${this.stream}`);
  }

  kick() {
    this.delay = POLL_MIN_MS;
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.busy) this.poll();
  }

  async poll() {
    this.timer = null;
    if (this.ctx.signal.aborted || !this.job) return;
    this.busy = true;
    const generation = this.generation;
    const finished = TERMINAL.has(this.job.state);
    const before = this.offset;
    try {
      await this.fetchMore(generation);
    } catch (error) {
      if (this.ctx.signal.aborted) return;
      this.info.textContent = `Log unavailable: ${error.message}`;
    } finally {
      this.busy = false;
    }
    if (this.ctx.signal.aborted) return;
    // Keep asking while the job may still write; once finished, one last read was enough.
    if (generation !== this.generation) {
      this.timer = setTimeout(() => this.poll(), 0);
    } else if (!finished) {
      this.delay = this.offset > before ? POLL_MIN_MS : Math.min(this.delay * 2, POLL_MAX_MS);
      this.timer = setTimeout(() => this.poll(), this.delay);
    }
  }

  async fetchMore(generation) {
    if (!this.job.attempts.length) {
      this.info.textContent = 'No output yet.';
      return;
    }
    // Read until caught up with the file (answers are capped at 4 MiB each).
    for (;;) {
      // Always name the attempt: "the latest" could change between two reads of one log.
      const attempt = this.attempt ?? this.job.attempts[this.job.attempts.length - 1].n;
      const q = new URLSearchParams({ stream: this.stream, offset: String(this.offset), attempt: String(attempt) });
      const response = await authorizedFetch(`${this.jobPath}/logs?${q}`, { signal: this.ctx.signal, cache: 'no-store' });
      if (generation !== this.generation) { response.body?.cancel().catch(() => {}); return; }
      if (response.status === 404) {
        response.body?.cancel().catch(() => {});
        this.info.textContent = 'No output yet.';
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const size = Number(response.headers.get('X-Reef-Log-Size'));
      const chunk = new Uint8Array(await response.arrayBuffer());
      if (generation !== this.generation) return;
      this.offset += chunk.length;
      if (chunk.length) {
        this.text += this.decoder.decode(chunk, { stream: true });
        if (this.text.length > KEEP_CHARS) this.text = `[… earlier output not shown …]\n${this.text.slice(-KEEP_CHARS)}`;
        this.render();
      }
      this.info.textContent = `${bytes(Number.isFinite(size) ? size : this.offset)}${TERMINAL.has(this.job.state) ? '' : ' · following'}`;
      if (!chunk.length || !Number.isFinite(size) || this.offset >= size) return;
    }
  }

  render() {
    this.pre.textContent = this.text;
    if (this.follow.checked) this.pre.scrollTop = this.pre.scrollHeight;
  }
}
