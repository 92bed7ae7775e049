// The console's entry point: theme, token prompt, session, event stream, then the pages.

import { onTokenNeeded, forgetToken, token } from './api.js';
import { loadSession, session } from './session.js';
import { startEvents, onStreamState } from './events.js';
import { route, startRouter } from './router.js';
import { replace, h, problemBox } from './dom.js';
import * as jobs from './pages/jobs.js';
import * as job from './pages/job.js';
import * as sweeps from './pages/sweeps.js';
import * as sweep from './pages/sweep.js';
import * as runners from './pages/runners.js';
import * as runner from './pages/runner.js';
import * as policies from './pages/policies.js';
import * as results from './pages/results.js';
import * as hostPage from './pages/host.js';

// Theme: follows the system unless the user picked one; the choice is kept in localStorage.
const THEMES = ['auto', 'light', 'dark'];
function showTheme() {
  const current = document.documentElement.dataset.theme || 'auto';
  const button = document.getElementById('theme');
  button.textContent = `Theme: ${current}`;
  button.setAttribute('aria-label', `Colour theme: ${current}. Change theme`);
}
document.getElementById('theme').addEventListener('click', () => {
  const current = document.documentElement.dataset.theme || 'auto';
  const next = THEMES[(THEMES.indexOf(current) + 1) % THEMES.length];
  if (next === 'auto') {
    delete document.documentElement.dataset.theme;
    localStorage.removeItem('reef.theme');
  } else {
    document.documentElement.dataset.theme = next;
    localStorage.setItem('reef.theme', next);
  }
  showTheme();
});
showTheme();

// The skip link moves focus to the content without touching the hash (the hash is the route).
document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main').focus();
});

// The token prompt: a modal form; Escape does not dismiss it (nothing works without a token).
const dialog = document.getElementById('token-dialog');
dialog.addEventListener('cancel', (event) => event.preventDefault());
onTokenNeeded((message) => new Promise((resolve) => {
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  document.getElementById('token-message').textContent = message;
  input.value = '';
  form.onsubmit = (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    dialog.close();
    resolve(value);
  };
  if (!dialog.open) dialog.showModal();
  input.focus();
}));

document.getElementById('signout').addEventListener('click', () => {
  forgetToken();
  location.reload();
});

// The stream's state, shown as a small indicator in the header.
onStreamState((state) => {
  const live = document.getElementById('live');
  live.dataset.state = state;
  live.textContent = state === 'live' ? 'live' : state;
});

route('/jobs', jobs, 'jobs');
route('/jobs/:id', job, 'jobs');
route('/sweeps', sweeps, 'sweeps');
route('/sweeps/:id', sweep, 'sweeps');
route('/runners', runners, 'runners');
route('/runners/:name', runner, 'runners');
route('/policies', policies, 'policies');
route('/results', results, 'results');
route('/host', hostPage, 'host');

async function main() {
  try {
    await loadSession();
  } catch (error) {
    replace(document.getElementById('main'), h('h1', {}, 'reef'), problemBox(error));
    return;
  }
  const who = document.getElementById('who');
  who.textContent = session.auth ? `${session.name} · ${session.scope}` : `no auth · ${session.scope}`;
  who.title = session.auth ? `Signed in with token “${session.name}”, scope ${session.scope}` : 'The host requires no token';
  document.body.dataset.scope = session.scope;
  document.getElementById('signout').hidden = !(session.auth && token());
  startEvents();
  startRouter();
}

main();
