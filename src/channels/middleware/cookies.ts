/**
 * Cookies for ASGI applications: `cookieMiddleware` puts the request's cookies on
 * `scope.cookies`; `setCookie` / `deleteCookie` add `Set-Cookie` to a response start.
 * Parsing is lenient and output strict, both from the HTTP layer's RFC 6265 code.
 * @module
 */
import { parseCookies, serializeCookie, type CookieOptions } from '../../http/cookies.js';
import type { ASGIApplication, ASGIEvent, Headers, Receive, Scope, Send } from '../types.js';

export type { CookieOptions };

/**
 * The cookies of a scope's `cookie` header(s) as a name → value record (null prototype; the first
 * of a repeated name wins, quotes around a value are removed, values are not percent-decoded).
 */
export function cookiesOf(scope: Scope): Record<string, string> {
  const values: string[] = [];
  for (const [name, value] of scope.headers ?? []) if (name === 'cookie') values.push(value);
  return parseCookies(values);
}

/**
 * Put the request's cookies on `scope.cookies` (an empty record when there are none), for HTTP
 * and WebSocket scopes; other scopes pass through untouched. The inner application gets a copy of
 * the scope.
 *
 * @example
 * ```ts
 * const app = cookieMiddleware(async (scope, receive, send) => {
 *   const theme = scope.cookies?.theme ?? 'light';
 *   …
 * });
 * ```
 */
export function cookieMiddleware(app: ASGIApplication): ASGIApplication {
  if (typeof app !== 'function') throw new TypeError('cookieMiddleware(app): app must be a function');
  return (scope: Scope, receive: Receive, send: Send): PromiseLike<void> => {
    if (scope.type !== 'http' && scope.type !== 'websocket') return app(scope, receive, send);
    return app({ ...scope, cookies: cookiesOf(scope) }, receive, send);
  };
}

function headersOf(target: Headers | ASGIEvent): Headers {
  if (Array.isArray(target)) return target;
  if (target === null || typeof target !== 'object') {
    throw new TypeError('setCookie/deleteCookie need a headers array or an http.response.start event');
  }
  if (target.headers === undefined) target.headers = [];
  if (!Array.isArray(target.headers)) throw new TypeError('the event’s headers must be an array of [name, value]');
  return target.headers as Headers;
}

/**
 * Add a `set-cookie` header to `target`: a headers list, or an `http.response.start` (or
 * `websocket.accept`) event whose `headers` it creates if needed. Mutates and returns the list.
 * `path` defaults to `/` and `sameSite` to `Lax` (as Channels' `set_cookie`); pass
 * `sameSite: undefined` to leave it out.
 *
 * The name must be an RFC 6265 token and the value cookie-octets (no space, `"`, `,`, `;` or
 * `\`): encode other values yourself (e.g. `encodeURIComponent`).
 *
 * @throws TypeError for an invalid name, value or attribute (a header can never be injected).
 *
 * @example
 * ```ts
 * const start = { type: 'http.response.start', status: 200, headers: [] };
 * setCookie(start, 'theme', 'dark', { maxAge: 3600, httpOnly: true });
 * await send(start);
 * ```
 */
export function setCookie(target: Headers | ASGIEvent, name: string, value: string, options: CookieOptions = {}): Headers {
  const line = serializeCookie(name, value, { path: '/', sameSite: 'Lax', ...options });
  const headers = headersOf(target);
  headers.push(['set-cookie', line]);
  return headers;
}

/** Where the cookie to delete was set: it must match for the browser to drop it. */
export interface DeleteCookieOptions {
  /** Default `/`. */
  path?: string;
  domain?: string;
  sameSite?: CookieOptions['sameSite'];
  /** Default: true for `__Secure-`/`__Host-` names and for `sameSite: 'None'` (browsers demand it). */
  secure?: boolean;
}

/**
 * Add a `set-cookie` header that deletes cookie `name` (empty value, `Max-Age=0`, an `Expires`
 * in 1970), as Django's `delete_cookie`. Same targets and errors as {@link setCookie}.
 */
export function deleteCookie(target: Headers | ASGIEvent, name: string, options: DeleteCookieOptions = {}): Headers {
  const secure =
    options.secure ??
    (name.startsWith('__Secure-') || name.startsWith('__Host-') || options.sameSite?.toLowerCase() === 'none');
  const line = serializeCookie(name, '', {
    maxAge: 0,
    expires: 0,
    path: options.path ?? '/',
    domain: options.domain,
    secure,
    sameSite: options.sameSite,
  });
  const headers = headersOf(target);
  headers.push(['set-cookie', line]);
  return headers;
}
