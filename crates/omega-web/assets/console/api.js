// The hub's API as the console uses it: bearer tokens (kept in memory and in this tab's
// sessionStorage, never in cookies, so there is no ambient credential to forge requests with),
// refreshed before they expire; JSON calls with the hub's error shape; and the realtime stream
// read with fetch() (EventSource cannot send an Authorization header) and reconnected with
// backoff.

const STORE_KEY = 'omega.console.session';
/** Refresh a minute before the access token expires (a fifth of its life if that is shorter). */
function refreshMargin() {
  return Math.min(60_000, (session?.lifetime || 900_000) / 5);
}

/** A refused call: HTTP status, the hub's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || 'http_' + status;
  }
}

/** Answers that mean the credential itself is no good (anything else is about the request). */
const CREDENTIAL_REFUSED = new Set(['missing_token', 'token_invalid', 'token_expired', 'device_revoked', 'api_key_invalid', 'api_key_revoked']);

let session = null;
let refreshTimer = null;
let refreshing = null;
const endedListeners = new Set();

/** Called with a reason when the session ends (logout, revocation, a refresh refused). */
export function onSessionEnded(fn) {
  endedListeners.add(fn);
  return () => endedListeners.delete(fn);
}

function persist() {
  if (session) sessionStorage.setItem(STORE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORE_KEY);
}

function adopt(tokens, extra = {}) {
  session = {
    ...(session || {}),
    ...extra,
    access: tokens.access_token,
    refresh: tokens.refresh_token,
    expiresAt: Date.now() + tokens.expires_in * 1000,
    lifetime: tokens.expires_in * 1000,
    tenantId: tokens.tenant_id,
    memberId: tokens.member_id,
    deviceId: tokens.device_id,
  };
  persist();
  scheduleRefresh();
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const wait = Math.max(1_000, session.expiresAt - Date.now() - refreshMargin());
  refreshTimer = setTimeout(() => {
    // A refused refresh ends the session (in refresh()); a network failure tries again soon.
    refresh().catch((error) => {
      if (session && !(error instanceof ApiError && error.status === 401)) {
        clearTimeout(refreshTimer);
        refreshTimer = setTimeout(() => scheduleRefresh(), 10_000);
      }
    });
  }, wait);
}

/** Ends the session locally (tokens forgotten) and tells the listeners. */
export function endSession(reason) {
  const had = session !== null;
  session = null;
  clearTimeout(refreshTimer);
  persist();
  if (had) for (const fn of endedListeners) fn(reason);
}

/** The stored session of this tab, if any; refreshes it when its access token is stale. */
export async function restore() {
  const text = sessionStorage.getItem(STORE_KEY);
  if (!text) return null;
  try {
    session = JSON.parse(text);
  } catch {
    session = null;
    persist();
    return null;
  }
  if (Date.now() > session.expiresAt - refreshMargin()) await refresh();
  else scheduleRefresh();
  return session;
}

export function current() {
  return session;
}

async function readError(response) {
  let code;
  let message;
  try {
    const body = await response.json();
    code = body?.error?.code;
    message = body?.error?.message;
  } catch {}
  return new ApiError(response.status, code, message);
}

/** Signs in; throws ApiError (`totp_required`, `invalid_credentials`, …). */
export async function login({ tenant, email, password, totpCode }) {
  const body = { tenant, email, password, device_name: deviceName() };
  if (totpCode) {
    if (/^\d{6}$/.test(totpCode)) body.totp_code = totpCode;
    else body.recovery_code = totpCode;
  }
  const response = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await readError(response);
  adopt(await response.json(), { tenantSlug: tenant, email });
  return session;
}

function deviceName() {
  const agent = navigator.userAgent;
  const browser = /Firefox\//.test(agent) ? 'Firefox' : /Edg\//.test(agent) ? 'Edge' : /Chrom(e|ium)\//.test(agent) ? 'Chromium' : /Safari\//.test(agent) ? 'Safari' : 'Browser';
  const system = /Android/.test(agent) ? 'Android' : /iPhone|iPad/.test(agent) ? 'iOS' : /Mac OS X/.test(agent) ? 'macOS' : /Windows/.test(agent) ? 'Windows' : /Linux/.test(agent) ? 'Linux' : '';
  return `Console · ${browser}${system ? ' on ' + system : ''}`;
}

/** Trades the refresh token for new tokens (one at a time; concurrent callers share it). */
export function refresh() {
  if (refreshing) return refreshing;
  if (!session) return Promise.reject(new ApiError(401, 'missing_token', 'not signed in'));
  refreshing = (async () => {
    try {
      const response = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: session.refresh }),
      });
      if (!response.ok) {
        const error = await readError(response);
        if (response.status === 401 || response.status === 403) endSession(error.code);
        throw error;
      }
      adopt(await response.json());
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Signs out: the hub revokes this device. */
export async function logout() {
  try {
    if (session) await call('POST', '/api/v1/auth/logout');
  } catch {}
  endSession('logout');
}

/**
 * Calls the API. `body` is sent as JSON; answers are parsed as JSON (`null` for 204).
 * An expired access token is refreshed once and the call retried.
 */
export async function call(method, path, { body, headers = {}, raw = false } = {}) {
  for (let attempt = 0; ; attempt++) {
    if (!session) throw new ApiError(401, 'missing_token', 'not signed in');
    const init = { method, headers: { ...headers, Authorization: `Bearer ${session.access}` } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (!response.ok) {
      const error = await readError(response);
      if (response.status === 401 && CREDENTIAL_REFUSED.has(error.code)) {
        if (attempt === 0 && (error.code === 'token_expired' || error.code === 'token_invalid')) {
          await refresh();
          continue;
        }
        endSession(error.code);
      }
      throw error;
    }
    if (raw) return response;
    if (response.status === 204) return null;
    const type = response.headers.get('content-type') || '';
    return type.includes('json') ? response.json() : response.text();
  }
}

export const get = (path) => call('GET', path);
export const post = (path, body, headers) => call('POST', path, { body, headers });
export const put = (path, body) => call('PUT', path, { body });
export const patch = (path, body) => call('PATCH', path, { body });

/**
 * Parses a Server-Sent Events byte stream (the WHATWG `text/event-stream` rules: lines end in
 * LF, CR or CRLF; `event:`, `data:` (joined with LF), `id:`, `retry:`; `:` comments; a blank line
 * dispatches). Feed it chunks of text; it calls `onEvent({ event, data, id })`.
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.reset();
    this.retry = null;
  }

  reset() {
    this.event = '';
    this.data = [];
    this.id = null;
  }

  push(text) {
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone CR at the very end may be the first half of CRLF: wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length) this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'event') this.event = value;
    else if (name === 'data') this.data.push(value);
    else if (name === 'id' && !value.includes('\0')) this.id = value;
    else if (name === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

/**
 * Follows `/api/v1/events`: calls `onEvent(kind, data)` for each event and `onState(state)`
 * with `connecting`, `live` or `offline`; reconnects with exponential backoff (1 s doubling to
 * 30 s, with jitter), refreshing the token when the hub ends the stream. Returns `stop()`.
 */
export function followEvents(onEvent, onState = () => {}) {
  let stopped = false;
  let controller = null;
  let failures = 0;
  let wakeTimer = null;

  const sleep = (ms) =>
    new Promise((resolve) => {
      wakeTimer = setTimeout(resolve, ms);
    });

  async function once() {
    controller = new AbortController();
    onState('connecting');
    const response = await fetch('/api/v1/events', {
      headers: { Authorization: `Bearer ${session.access}`, Accept: 'text/event-stream' },
      signal: controller.signal,
      cache: 'no-store',
    });
    if (response.status === 401) {
      const error = await readError(response);
      if (error.code === 'token_expired' || error.code === 'token_invalid') {
        await refresh();
        return;
      }
      if (CREDENTIAL_REFUSED.has(error.code)) endSession(error.code);
      throw error;
    }
    if (!response.ok || !response.body) throw await readError(response);
    onState('live');
    let ended = false;
    const parser = new SseParser(({ event, data }) => {
      if (event === 'end') {
        ended = true;
        return;
      }
      let parsed = null;
      try {
        parsed = JSON.parse(data);
      } catch {}
      onEvent(event, parsed);
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || stopped) break;
      parser.push(value);
      if (ended) break;
    }
    controller.abort();
    // The hub ended the stream (expired or revoked credential, or stopping): check the
    // credential before reconnecting.
    if (ended && session && Date.now() > session.expiresAt - refreshMargin()) await refresh();
  }

  (async () => {
    while (!stopped && session) {
      const started = Date.now();
      try {
        await once();
        // A stream that stayed up a while was healthy; one that ends at once counts as a failure,
        // so a hub that keeps closing it is not hammered.
        failures = Date.now() - started > 10_000 ? 0 : failures + 1;
      } catch {
        failures++;
      }
      if (stopped || !session) break;
      onState('offline');
      const backoff = Math.min(30_000, 1_000 * 2 ** Math.max(0, failures - 1));
      await sleep(failures ? backoff * (0.5 + Math.random() / 2) : 300);
    }
    onState('offline');
  })();

  return () => {
    stopped = true;
    clearTimeout(wakeTimer);
    controller?.abort();
  };
}
