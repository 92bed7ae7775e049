// The HTTP API client: adds the bearer token, asks for one when the host answers 401, and turns
// problem documents (RFC 9457) into ApiError with the server's `detail` and `field`.

const TOKEN_KEY = 'reef.token';

/** An answer that was not a success, carrying the problem document's members. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.detail = problem?.detail || `The host answered ${status}.`;
    this.field = problem?.field || null;
    this.type = problem?.type || null;
    this.problem = problem;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// One prompt at a time: every request that met a 401 waits for the same answer.
let tokenPrompt = null;
let promptHandler = null;

/** Installs the UI that asks for a token; it resolves with the token the user gave. */
export function onTokenNeeded(handler) {
  promptHandler = handler;
}

function askForToken(refused) {
  if (!tokenPrompt) {
    const message = refused
      ? 'The host refused that token. Enter another one.'
      : 'This host requires a token. It is kept for this browser tab only.';
    tokenPrompt = promptHandler(message).then((value) => {
      sessionStorage.setItem(TOKEN_KEY, value);
      tokenPrompt = null;
    });
  }
  return tokenPrompt;
}

/**
 * fetch() with the token; on 401 asks for a token and tries again. Answers the Response
 * whatever its status (callers that need problems use `call`).
 */
export async function authorizedFetch(path, init = {}) {
  for (;;) {
    const headers = new Headers(init.headers || {});
    const current = token();
    if (current) headers.set('Authorization', `Bearer ${current}`);
    const response = await fetch(path, { ...init, headers });
    if (response.status !== 401) return response;
    // Let the body go; then ask (saying so if the token we sent was refused).
    response.body?.cancel().catch(() => {});
    await askForToken(Boolean(current));
  }
}

/** Builds `?a=1&b=2` from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Encodes one path segment (a job id, a runner name). */
export const seg = (s) => encodeURIComponent(s);

async function problemOf(response) {
  try {
    return await response.json();
  } catch (_) {
    return null;
  }
}

/** Calls the API: JSON in, JSON out; throws ApiError on any non-2xx answer. */
export async function call(method, path, { body, signal, headers = {} } = {}) {
  const init = { method, signal, headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    if (body instanceof Blob || body instanceof ArrayBuffer) {
      init.body = body;
      init.headers['Content-Type'] = 'application/octet-stream';
    } else {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
  }
  const response = await authorizedFetch(path, init);
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, opts) => call('GET', path, opts);
export const post = (path, body, opts = {}) => call('POST', path, { ...opts, body });
