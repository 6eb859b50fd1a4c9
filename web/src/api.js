// Every call the consoles make to the Siaga112 API, in one place, with the bearer token.
const TOKEN_KEY = 'siaga112.token';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.errorId = body?.error_id || 'http-error';
    this.details = body?.details || {};
  }
}

export const paths = {
  token: '/auth/token',
  categories: '/meta/categories',
  tickets: '/tickets',
  ticket: (id) => `/tickets/${id}`,
  classify: (id) => `/tickets/${id}/classification`,
  transition: (id) => `/tickets/${id}/transition`,
  suggested: (id) => `/tickets/${id}/suggested-agencies`,
  dispatch: (id) => `/tickets/${id}/dispatches`,
  dispatches: (id) => `/tickets/${id}/dispatches`,
  recording: (callId) => `/recordings/${callId}`,
  callerHistory: (number) => `/callers/${encodeURIComponent(number)}/history`,
  callbacks: '/callbacks',
  agencies: '/agencies',
  stream: '/events/stream',
  wallboard: '/wallboard/summary',
  map: '/wallboard/map',
  deadLetters: '/deliveries/dead',
  redeliver: (messageId) => `/deliveries/${encodeURIComponent(messageId)}/redeliver`,
  overdue: '/dispatches/overdue',
  agencyDispatches: '/agency/dispatches',
  agencyDispatch: (id) => `/agency/dispatches/${id}`,
  agencyAck: (id) => `/agency/dispatches/${id}/acknowledge`,
  agencyStatus: (id) => `/agency/dispatches/${id}/updates`,
  agencyClose: (id) => `/agency/dispatches/${id}/close`,
};

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The claims of the current token (who is logged in), or null. The server checks them; we only read. */
export function principal() {
  const raw = token();
  if (!raw) return null;
  try {
    const part = raw.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
    if (claims.exp && claims.exp * 1000 < Date.now()) return null;
    return { userId: Number(claims.sub), username: claims.usr, role: claims.role, agencyId: claims.agency, sip: claims.sip };
  } catch {
    return null;
  }
}

let onUnauthenticated = () => {};
export function whenUnauthenticated(fn) {
  onUnauthenticated = fn;
}

export async function request(method, path, body, { raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  const tok = token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  let payload;
  if (body instanceof URLSearchParams) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, { error_id: 'network', message: 'network' });
  }
  if (response.status === 401 && path !== paths.token) onUnauthenticated();
  if (!response.ok) {
    let errBody = null;
    try { errBody = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, errBody);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path) => request('GET', path);
export const post = (path, body = {}) => request('POST', path, body);
export const patch = (path, body) => request('PATCH', path, body);

/** Lists come back either as a bare array or as {items: [...]}: the consoles accept both. */
export function items(result) {
  if (Array.isArray(result)) return result;
  return result?.items ?? result?.results ?? result?.data ?? [];
}

export async function login(username, password) {
  const form = new URLSearchParams({ username, password, grant_type: 'password' });
  const result = await request('POST', paths.token, form);
  setToken(result.access_token);
  return principal();
}

/** An authorised download turned into a blob: URL (for the recording player). */
export async function blobUrl(path) {
  const response = await request('GET', path, undefined, { raw: true });
  return URL.createObjectURL(await response.blob());
}
