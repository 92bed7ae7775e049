// One shared stream of job state changes (GET /v1/events) for every page.
//
// EventSource cannot send an Authorization header, so the stream is read with fetch() and a
// streaming body reader, and the server-sent-events format is parsed here. After a drop the
// stream is opened again with Last-Event-ID (the host replays what was missed), backing off
// from 1 s to 30 s while the host stays away.

import { authorizedFetch } from './api.js';

const listeners = new Set();
const stateListeners = new Set();
let lastEventId = null;
let started = false;

/** Calls `fn(event)` for every job event; returns the unsubscribe function. */
export function onJobEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Calls `fn(state)` with 'connecting', 'live' or 'reconnecting' as the stream's state changes. */
export function onStreamState(fn) {
  stateListeners.add(fn);
  return () => stateListeners.delete(fn);
}

function setState(state) {
  for (const fn of stateListeners) fn(state);
}

function dispatch(message) {
  if (message.id !== undefined) lastEventId = message.id;
  if (!message.data) return;
  let event;
  try {
    event = JSON.parse(message.data);
  } catch (_) {
    return; // not a job event (the host only sends JSON; ignore anything else)
  }
  for (const fn of [...listeners]) {
    try {
      fn(event);
    } catch (error) {
      console.error('event listener failed', error);
    }
  }
}

/** Reads one connection until it ends, dispatching each complete event. */
async function consume(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let message = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    // Lines end with \r\n, \n or \r; the last piece may be incomplete, so it waits for more.
    const lines = buffer.split(/\r\n|\n|\r(?!$)/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === '') {
        dispatch(message);
        message = {};
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let data = colon < 0 ? '' : line.slice(colon + 1);
        if (data.startsWith(' ')) data = data.slice(1);
        if (field === 'data') message.data = message.data === undefined ? data : `${message.data}\n${data}`;
        else if (field === 'id' && !data.includes('\0')) message.id = data;
        else if (field === 'event') message.event = data;
      }
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens the stream and keeps it open for the life of the page. */
export async function startEvents() {
  if (started) return;
  started = true;
  let backoff = 1000;
  setState('connecting');
  for (;;) {
    try {
      const headers = { Accept: 'text/event-stream' };
      if (lastEventId !== null) headers['Last-Event-ID'] = lastEventId;
      const response = await authorizedFetch('/v1/events', { headers, cache: 'no-store' });
      if (!response.ok || !response.body) throw new Error(`event stream answered ${response.status}`);
      setState('live');
      backoff = 1000;
      await consume(response.body);
    } catch (error) {
      console.warn('event stream dropped', error);
    }
    setState('reconnecting');
    await sleep(backoff + Math.random() * 500);
    backoff = Math.min(backoff * 2, 30000);
  }
}
