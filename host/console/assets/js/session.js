// Who the console acts as. The host refuses what a token may not do anyway; knowing the scope
// up front lets the pages leave out the controls that would only be refused.

import { get, ApiError } from './api.js';

const ORDER = ['read', 'submit', 'admin'];

export const session = { name: 'anonymous', scope: 'read', auth: false };

/** Asks the host who the token belongs to (prompting for a token if one is needed). */
export async function loadSession() {
  try {
    Object.assign(session, await get('/v1/whoami'));
  } catch (error) {
    // A host without the endpoint still enforces scopes itself: show everything and let it refuse.
    if (error instanceof ApiError && error.status === 404) {
      Object.assign(session, { name: 'unknown', scope: 'admin', auth: false });
    } else {
      throw error;
    }
  }
  return session;
}

/** Whether the session's scope covers `scope` (admin ⊃ submit ⊃ read). */
export function can(scope) {
  return ORDER.indexOf(session.scope) >= ORDER.indexOf(scope);
}
