/**
 * URL routing: `urlRouter([...routes])` with Django-style `path()` and `rePath()` routes, nested
 * routers, and a no-match that answers instead of crashing.
 * @module
 */
import { turnAway } from '../deny.js';
import type { ASGIApplication, Receive, Scope, Send } from '../types.js';
import { getConverter, type PathConverter } from './converters.js';

interface RouteMatch {
  /** The rest of the path after the matched part. */
  remaining: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/**
 * One route of a {@link urlRouter}: made by {@link path} or {@link rePath}. Matching is done by
 * the router; the route only knows its pattern, its application and its default kwargs.
 */
export class Route {
  /** @internal use {@link path} or {@link rePath}. */
  constructor(
    /** The pattern as written (for messages). */
    readonly pattern: string,
    /** The application called on a match. */
    readonly app: ASGIApplication,
    /** Extra kwargs merged into `url_route.kwargs` on a match (they win over captured ones). */
    readonly defaults: Readonly<Record<string, unknown>>,
    /** @internal */
    readonly match: (path: string, endpoint: boolean) => RouteMatch | null,
  ) {}

  toString(): string {
    return `Route(${this.pattern})`;
  }
}

function requireApp(app: unknown, what: string): asserts app is ASGIApplication {
  if (typeof app !== 'function') throw new TypeError(`${what}: the application must be a function (scope, receive, send)`);
}

function requireDefaults(kwargs: unknown, what: string): Record<string, unknown> {
  if (kwargs === undefined) return {};
  if (kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs)) {
    throw new TypeError(`${what}: kwargs must be a plain object`);
  }
  return { ...(kwargs as Record<string, unknown>) };
}

const PARAMETER = /<(?:([^>:]+):)?([^>]+)>/g;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * A Django `path()` route: literal text with `<converter:name>` (or `<name>`, a `str`) parameters.
 * Converters: `str` (no `/`), `int` (→ number), `slug`, `uuid`, `path` (may hold `/`), and those
 * added with `registerConverter`. Captured values go to `scope.url_route.kwargs`, with `kwargs`
 * merged on top.
 *
 * The router strips the leading `/` of the path before matching, so a route never starts with
 * `/`. The route matches the whole remaining path, unless `app` is itself a `urlRouter`: then it
 * matches a prefix and the inner router routes the rest.
 *
 * @throws TypeError for a route starting with `/`, an unknown converter, a parameter name that is
 *   not an identifier or appears twice, a stray `<` or `>`, or an `app` that is not a function.
 *
 * @example
 * ```ts
 * urlRouter([
 *   path('ws/chat/<str:room>/', ChatConsumer.asApp()),
 *   path('api/items/<int:id>/', itemApp, { format: 'json' }),
 *   path('rooms/', urlRouter([path('<slug:name>/', roomApp)])),
 * ]);
 * ```
 */
export function path(route: string, app: ASGIApplication, kwargs?: Record<string, unknown>): Route {
  if (typeof route !== 'string') throw new TypeError('path(): the route must be a string');
  const what = `path(${JSON.stringify(route)})`;
  requireApp(app, what);
  const defaults = requireDefaults(kwargs, what);
  if (route.startsWith('/')) {
    throw new TypeError(`${what}: a route must not start with "/" (the router strips the leading "/" before matching)`);
  }
  let source = '';
  let last = 0;
  const converters = new Map<string, PathConverter>();
  const literal = (text: string): void => {
    if (/[<>]/.test(text)) throw new TypeError(`${what}: stray "<" or ">" (parameters are <converter:name> or <name>)`);
    source += escapeRegExp(text);
  };
  for (const m of route.matchAll(PARAMETER)) {
    literal(route.slice(last, m.index));
    last = m.index + m[0].length;
    const converterName = m[1] ?? 'str';
    const name = m[2]!;
    if (!IDENTIFIER.test(name)) throw new TypeError(`${what}: parameter name ${JSON.stringify(name)} is not an identifier`);
    if (converters.has(name)) throw new TypeError(`${what}: parameter ${name} appears twice`);
    const converter = getConverter(converterName);
    if (converter === undefined) throw new TypeError(`${what}: unknown converter ${JSON.stringify(converterName)}`);
    converters.set(name, converter);
    source += `(?<${name}>${converter.regex})`;
  }
  literal(route.slice(last));
  const whole = new RegExp(`^${source}$`);
  const prefix = new RegExp(`^${source}`);
  return new Route(route, app, defaults, (p, endpoint) => {
    const m = (endpoint ? whole : prefix).exec(p);
    if (m === null) return null;
    const values: Record<string, unknown> = {};
    for (const [name, converter] of converters) {
      try {
        values[name] = converter.toValue(m.groups![name]!);
      } catch {
        return null; // Django: a converter's ValueError means "no match"
      }
    }
    return { remaining: p.slice(m[0].length), args: [], kwargs: values };
  });
}

/**
 * A Django `re_path()` route: a regular expression, as a RegExp or a string (Python's
 * `(?P<name>…)` and `(?P=name)` are accepted in strings and mean JavaScript's `(?<name>…)` and
 * `\k<name>`). Named groups go to `url_route.kwargs` (groups that did not take part are left
 * out); when there are none, the unnamed groups go to `url_route.args`, in order.
 *
 * As in Django, the pattern is searched for anywhere in the path unless anchored: start it with
 * `^`. An endpoint pattern ending in `$` must match the whole path. The leading `/` is stripped
 * before matching.
 *
 * @throws TypeError when the pattern does not compile or `app` is not a function.
 *
 * @example
 * ```ts
 * rePath('^ws/(?<room>\\w+)/$', roomApp);
 * rePath(/^archive\/(\d{4})\/$/, archiveApp); // url_route.args = ['2024']
 * ```
 */
export function rePath(regex: string | RegExp, app: ASGIApplication, kwargs?: Record<string, unknown>): Route {
  let source: string;
  let flags = '';
  if (regex instanceof RegExp) {
    source = regex.source;
    flags = regex.flags.replace(/[gy]/g, '');
  } else if (typeof regex === 'string') {
    source = regex.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>');
  } else {
    throw new TypeError('rePath(): the pattern must be a string or a RegExp');
  }
  const what = `rePath(${JSON.stringify(String(regex))})`;
  requireApp(app, what);
  const defaults = requireDefaults(kwargs, what);
  let search: RegExp;
  let whole: RegExp;
  try {
    search = new RegExp(source, flags);
    whole = new RegExp(`^(?:${source})$`, flags);
  } catch (e) {
    throw new TypeError(`${what}: invalid regular expression: ${(e as Error).message}`);
  }
  // Django's RegexPattern: fullmatch for an endpoint ending in "$", search otherwise.
  const fullMatch = source.endsWith('$');
  return new Route(String(regex), app, defaults, (p, endpoint) => {
    const m = (endpoint && fullMatch ? whole : search).exec(p);
    if (m === null) return null;
    const remaining = p.slice(m.index + m[0].length);
    if (m.groups !== undefined) {
      const named: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(m.groups)) if (v !== undefined) named[k] = v;
      return { remaining, args: [], kwargs: named };
    }
    return { remaining, args: m.slice(1), kwargs: {} };
  });
}

/** The routes of the applications made by urlRouter (how a parent spots a nested router). */
const routers = new WeakMap<ASGIApplication, readonly Route[]>();

interface Resolved {
  app: ASGIApplication;
  remaining: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/**
 * The endpoint for `p`: the first route that matches, descending into nested routers; a nested
 * router that matches nothing lets the search go on with the next route (Channels' Resolver404).
 */
function resolve(routes: readonly Route[], p: string, args: unknown[], kwargs: Record<string, unknown>): Resolved | null {
  for (const route of routes) {
    const inner = routers.get(route.app);
    const m = route.match(p, inner === undefined);
    if (m === null) continue;
    const allArgs = m.args.length === 0 ? args : [...args, ...m.args];
    const allKwargs = { ...kwargs, ...m.kwargs, ...route.defaults };
    if (inner === undefined) return { app: route.app, remaining: m.remaining, args: allArgs, kwargs: allKwargs };
    const found = resolve(inner, stripSlashes(m.remaining), allArgs, allKwargs);
    if (found !== null) return found;
  }
  return null;
}

function stripSlashes(p: string): string {
  let i = 0;
  while (p.charCodeAt(i) === 0x2f) i++;
  return i === 0 ? p : p.slice(i);
}

/** Whether `p` is `root` or below it (segment-wise: `/api` holds `/api/x`, not `/apix`). */
function underRoot(p: string, root: string): boolean {
  if (!p.startsWith(root)) return false;
  return p.length === root.length || root.endsWith('/') || p.charCodeAt(root.length) === 0x2f;
}

/**
 * An application that routes on the path, as Channels' `URLRouter`: the first matching route's
 * application is called with `scope.url_route = { args, kwargs }` (merged with an outer router's)
 * and `scope.path_remaining` = what the route left unmatched.
 *
 * The path routed is `scope.path_remaining` when an outer router set it, else `scope.path` minus
 * `scope.root_path` (the path must lie under it); then the leading `/` is stripped. A route whose
 * application is itself a `urlRouter` matches a prefix and the inner router routes the rest; when
 * the inner router matches nothing, the search goes on with the next route.
 *
 * No match: HTTP is answered `404 Not Found` (text/plain), a WebSocket is closed before accept
 * (the server answers 403); other scope types (and scopes without a path, such as `lifespan`) make
 * the application fail with an Error, so a server knows lifespan is unsupported.
 *
 * @throws TypeError when `routes` holds something not made by `path()` or `rePath()`.
 *
 * @example
 * ```ts
 * const app = urlRouter([
 *   path('ws/chat/<str:room>/', ChatConsumer.asApp()),
 *   path('api/', urlRouter([path('items/<int:id>/', itemApp)])),
 * ]);
 * // "/api/items/7/" → itemApp with url_route.kwargs = { id: 7 }, path_remaining = ""
 * ```
 */
export function urlRouter(routes: readonly Route[]): ASGIApplication {
  if (!Array.isArray(routes)) throw new TypeError('urlRouter() takes an array of routes');
  const table = [...routes];
  for (const r of table) {
    if (!(r instanceof Route)) throw new TypeError('urlRouter(): every route must be made by path() or rePath()');
  }
  const app = (scope: Scope, receive: Receive, send: Send): PromiseLike<void> => {
    let p: string;
    if (typeof scope.path_remaining === 'string') {
      p = scope.path_remaining;
    } else {
      if (typeof scope.path !== 'string') {
        return Promise.reject(new Error(`urlRouter cannot route a ${JSON.stringify(scope.type)} scope: it has no path`));
      }
      p = scope.path;
      const root = scope.root_path ?? '';
      if (root !== '') {
        if (!underRoot(p, root)) return noMatch(scope, receive, send, p);
        p = p.slice(root.length);
      }
    }
    p = stripSlashes(p);
    const outer = scope.url_route;
    const found = resolve(table, p, outer?.args ?? [], outer?.kwargs ?? {});
    if (found === null) return noMatch(scope, receive, send, p);
    return found.app(
      { ...scope, path_remaining: found.remaining, url_route: { args: found.args, kwargs: found.kwargs } },
      receive,
      send,
    );
  };
  routers.set(app, table);
  return app;
}

function noMatch(scope: Scope, receive: Receive, send: Send, p: string): Promise<void> {
  return turnAway(scope, receive, send, 404, 'Not Found', () => new Error(`No route found for path ${JSON.stringify(p)}`));
}
