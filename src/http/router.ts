/**
 * A Klein/Flask-style router: URL patterns with typed parameters mapped to
 * handler functions that return the response.
 *
 * @module
 */
import { Deferred } from '../defer/deferred.js';
import { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import { HttpError, statusOfError, type Request } from './request.js';
import { Resource, Site, type RenderResult, type SiteOptions } from './site.js';

const log = new Logger('spindle.http');

/** A route handler: a plain function of the request, returning a {@link RenderResult}. */
export type RouteHandler = (request: Request) => RenderResult;

/**
 * An error hook: builds the response for an error (404, 405, a thrown
 * `HttpError`, or a 500 wrapping an unexpected error as its `cause`). The
 * status (and fields such as `Allow`) are already set on the request; the
 * return value is rendered like a handler's.
 */
export type ErrorHook = (request: Request, error: HttpError) => RenderResult;

/** Options of {@link Router.route}. */
export interface RouteOptions {
  /** Methods this route answers (HEAD is implied by GET). Default: all. */
  methods?: readonly string[];
  /** A name, for introspection. */
  name?: string;
}

/** A compiled route. */
export interface Route {
  /** The pattern as given, e.g. `/users/<int:id>`. */
  readonly pattern: string;
  /** The name given in {@link RouteOptions}, if any. */
  readonly name: string | undefined;
  /** Upper-case methods, or null for any. */
  readonly methods: ReadonlySet<string> | null;
  /** The handler. */
  readonly handler: RouteHandler;
  /** The compiled pattern, anchored at both ends. */
  readonly regex: RegExp;
  /** The parameters in pattern order, with their converters (a converter returning undefined means no match). */
  readonly params: readonly { readonly name: string; readonly convert: (raw: string) => string | number | undefined }[];
  /** The pattern itself when it has no parameters: matched by string comparison, without the regex. */
  readonly literal: string | null;
}

/** The outcome of {@link Router.match}. */
export type RouteMatch =
  | { readonly kind: 'found'; readonly route: Route; readonly params: Record<string, string | number> }
  | { readonly kind: 'method-not-allowed'; readonly allowed: readonly string[] }
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'not-found' };

interface Converter {
  readonly regex: string;
  readonly convert: (raw: string) => string | number | undefined;
}

const CONVERTERS: Readonly<Record<string, Converter>> = {
  string: { regex: '[^/]+', convert: (s) => s },
  int: {
    regex: '[0-9]+',
    convert: (s) => {
      const n = Number(s);
      return Number.isSafeInteger(n) ? n : undefined;
    },
  },
  float: { regex: '[0-9]+(?:\\.[0-9]+)?', convert: (s) => Number(s) },
  path: { regex: '[\\s\\S]+?', convert: (s) => s },
  uuid: {
    regex: '[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}',
    convert: (s) => s.toLowerCase(),
  },
};

const PARAM_RE = /<(?:([A-Za-z]+):)?([A-Za-z_][A-Za-z0-9_]*)>/g;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Compile a pattern such as `/users/<int:id>/files/<path:rest>`.
 * @throws TypeError for a pattern not starting with `/`, an unknown
 *   converter, a repeated parameter name or a stray `<`/`>`.
 */
export function compilePattern(pattern: string): { regex: RegExp; params: Route['params'] } {
  if (typeof pattern !== 'string' || !pattern.startsWith('/')) {
    throw new TypeError(`a route pattern starts with '/': ${JSON.stringify(pattern)}`);
  }
  let source = '^';
  const params: { name: string; convert: Converter['convert'] }[] = [];
  let last = 0;
  for (const m of pattern.matchAll(PARAM_RE)) {
    const literal = pattern.slice(last, m.index);
    if (/[<>]/.test(literal)) throw new TypeError(`malformed parameter in route pattern ${JSON.stringify(pattern)}`);
    source += escapeRegex(literal);
    const kind = m[1] ?? 'string';
    const converter = CONVERTERS[kind];
    if (converter === undefined) {
      throw new TypeError(`unknown converter <${kind}:…> in ${JSON.stringify(pattern)} (known: ${Object.keys(CONVERTERS).join(', ')})`);
    }
    const name = m[2]!;
    if (params.some((p) => p.name === name)) throw new TypeError(`parameter <${name}> appears twice in ${JSON.stringify(pattern)}`);
    params.push({ name, convert: converter.convert });
    source += `(${converter.regex})`;
    last = m.index + m[0].length;
  }
  const tail = pattern.slice(last);
  if (/[<>]/.test(tail)) throw new TypeError(`malformed parameter in route pattern ${JSON.stringify(pattern)}`);
  source += `${escapeRegex(tail)}$`;
  return { regex: new RegExp(source), params };
}

/**
 * Routes requests by path and method to handler functions, Klein/Flask
 * style.
 *
 * - **Patterns**: literal text and parameters `<name>` (any text without
 *   `/`), `<int:name>` (digits → number), `<float:name>` (`3` or `3.5` →
 *   number), `<path:name>` (text that may contain `/`), `<uuid:name>`
 *   (lower-cased). Captured values are in `request.params`. Patterns match
 *   the percent-decoded path.
 * - **Order**: routes are tried in registration order; the first whose
 *   pattern and method match wins.
 * - **Errors**: no pattern matches → 404; a pattern matches but not the
 *   method → 405 with `Allow`. Hooks set with {@link onError} render them
 *   (and thrown `HttpError`s, and 500s for unexpected errors, which are
 *   logged once).
 * - **Trailing slash** (Flask's rule): a route ending in `/` also answers
 *   the path without it, with a 308 redirect to the slash form; a route
 *   without one does not match a path that has one (404).
 * - **Results**: a handler returns a string or bytes (the body), an object
 *   (JSON), undefined (finish as written), `NOT_DONE_YET`, or a
 *   Promise/Deferred of these — see {@link RenderResult}.
 *
 * Handlers are plain functions of a request, so they can be tested with
 * `createTestRequest` and `render` from `spindle/http` and no I/O.
 *
 * @example
 * ```ts
 * const router = new Router();
 * router.route('/users/<int:id>', async (request) => {
 *   const user = await db.find(request.params.id as number);
 *   if (!user) throw new HttpError(404, 'no such user');
 *   return user; // JSON
 * }, { methods: ['GET'] });
 * router.onError(404, (request) => ({ error: 'not found', path: request.path }));
 * reactor.listenTCP(8080, router.site(), { interface: '127.0.0.1' });
 * ```
 */
export class Router {
  private readonly _routes: Route[] = [];
  private readonly _hooks = new Map<number, ErrorHook>();
  private _anyHook: ErrorHook | null = null;
  private _resource: Resource | null = null;

  /** The routes, in registration order. */
  get routes(): readonly Route[] {
    return this._routes;
  }

  /**
   * Add a route.
   * @throws TypeError for an invalid pattern (see {@link compilePattern}) or a handler that is not a function.
   */
  route(pattern: string, handler: RouteHandler, options: RouteOptions = {}): this {
    if (typeof handler !== 'function') throw new TypeError('a route handler must be a function');
    const { regex, params } = compilePattern(pattern);
    const methods = options.methods === undefined ? null : new Set(options.methods.map((m) => m.toUpperCase()));
    const literal = params.length === 0 ? pattern : null;
    this._routes.push({ pattern, name: options.name, methods, handler, regex, params, literal });
    return this;
  }

  /** `route(pattern, handler, { methods: ['GET'] })` (HEAD included). */
  get(pattern: string, handler: RouteHandler): this {
    return this.route(pattern, handler, { methods: ['GET'] });
  }

  /** `route(pattern, handler, { methods: ['POST'] })`. */
  post(pattern: string, handler: RouteHandler): this {
    return this.route(pattern, handler, { methods: ['POST'] });
  }

  /** `route(pattern, handler, { methods: ['PUT'] })`. */
  put(pattern: string, handler: RouteHandler): this {
    return this.route(pattern, handler, { methods: ['PUT'] });
  }

  /** `route(pattern, handler, { methods: ['PATCH'] })`. */
  patch(pattern: string, handler: RouteHandler): this {
    return this.route(pattern, handler, { methods: ['PATCH'] });
  }

  /** `route(pattern, handler, { methods: ['DELETE'] })`. */
  delete(pattern: string, handler: RouteHandler): this {
    return this.route(pattern, handler, { methods: ['DELETE'] });
  }

  /**
   * Set the error hook for one status (e.g. 404), or, with a function
   * alone, for every status without its own hook. A hook that throws falls
   * back to the default error page (and the error is logged).
   */
  onError(status: number, hook: ErrorHook): this;
  onError(hook: ErrorHook): this;
  onError(a: number | ErrorHook, b?: ErrorHook): this {
    if (typeof a === 'function') this._anyHook = a;
    else {
      if (typeof b !== 'function') throw new TypeError('onError(status, hook) needs a hook function');
      this._hooks.set(a, b);
    }
    return this;
  }

  /**
   * What `method` on `path` (decoded) would do. `query` (without `?`) is
   * kept on a trailing-slash redirect.
   */
  match(method: string, path: string, query = ''): RouteMatch {
    let allowed: Set<string> | null = null;
    for (const route of this._routes) {
      const params = matchRoute(route, path);
      if (params === null) continue;
      const methods = route.methods;
      if (methods === null || methods.has(method) || (method === 'HEAD' && methods.has('GET'))) {
        return { kind: 'found', route, params };
      }
      allowed ??= new Set();
      for (const m of methods) allowed.add(m);
      if (methods.has('GET')) allowed.add('HEAD');
    }
    if (allowed !== null) return { kind: 'method-not-allowed', allowed: [...allowed].sort() };
    if (!path.endsWith('/')) {
      const slashed = `${path}/`;
      for (const route of this._routes) {
        if (route.pattern.endsWith('/') && matchRoute(route, slashed) !== null) {
          return { kind: 'redirect', location: query === '' ? slashed : `${slashed}?${query}` };
        }
      }
    }
    return { kind: 'not-found' };
  }

  /**
   * Route `request` and return what its handler returned (or the error
   * hook's result). The path routed is `'/' + request.postpath.join('/')`
   * when the router is mounted in a resource tree, else `request.path`.
   */
  handle(request: Request): RenderResult {
    // Mounted below the root, route on what is left; at the root that is the whole (decoded) path.
    const prepath = request._prepath;
    const path = prepath !== null && prepath.length > 0 ? `/${request.postpath.join('/')}` : request.path;
    const m = this.match(request.method, path, request.rawQuery);
    switch (m.kind) {
      case 'found':
        request.params = m.params;
        return this._call(m.route.handler, request);
      case 'method-not-allowed':
        return this._failed(request, new HttpError(405, undefined, { headers: [['Allow', m.allowed.join(', ')]] }));
      case 'redirect':
        request.setResponseCode(308);
        request.setHeader('Location', m.location);
        return undefined;
      default:
        return this._failed(request, new HttpError(404));
    }
  }

  /** The router as a leaf resource (mount it with `putChild`, or serve it with {@link site}). */
  asResource(): Resource {
    if (this._resource === null) {
      const router = this;
      const resource = new Resource();
      resource.isLeaf = true;
      resource.render = (request: Request): RenderResult => router.handle(request);
      this._resource = resource;
    }
    return this._resource;
  }

  /** A `Site` serving this router. */
  site(options?: SiteOptions): Site {
    return new Site(this.asResource(), options);
  }

  private _call(handler: RouteHandler, request: Request): RenderResult {
    let result: RenderResult;
    try {
      result = handler(request);
    } catch (e) {
      return this._failed(request, e);
    }
    if (result instanceof Deferred) {
      return (result as Deferred<unknown>).addErrback((f: Failure) => this._failed(request, f.value));
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      return (result as PromiseLike<unknown>).then(undefined, (e: unknown) => this._failed(request, e));
    }
    return result;
  }

  /** Build the error response through a hook, or rethrow for the default page. */
  private _failed(request: Request, error: unknown): RenderResult {
    const err = error instanceof Failure ? error.value : error;
    let httpError: HttpError;
    if (err instanceof HttpError) httpError = err;
    else {
      const status = statusOfError(err);
      if (status === null) {
        log.failure('Unhandled error while processing {method} {uri}', err, { method: request.method, uri: request.uri }, 'error');
      }
      // Logged (if at all) here: as an HttpError it is answered without being logged again.
      httpError = new HttpError(status ?? 500, undefined, { cause: err });
    }
    const hook = this._hooks.get(httpError.status) ?? this._anyHook;
    if (hook === null || request.startedWriting || request.finished || request.disconnected) throw httpError;
    request.setResponseCode(httpError.status);
    const headers = httpError.headers;
    if (Array.isArray(headers)) {
      for (const [n, v] of headers as ReadonlyArray<readonly [string, string | number]>) request.addHeader(n, v);
    } else if (headers !== undefined) {
      for (const [n, v] of Object.entries(headers as Record<string, string | number | ReadonlyArray<string | number>>)) request.setHeader(n, v);
    }
    try {
      return hook(request, httpError);
    } catch (hookError) {
      log.failure('Error hook for status {status} failed', hookError, { status: httpError.status }, 'error');
      throw new HttpError(httpError.status, undefined, { cause: hookError, headers: httpError.headers });
    }
  }
}

const NO_PARAMS: Record<string, string | number> = Object.freeze({}) as Record<string, string | number>;

function matchRoute(route: Route, path: string): Record<string, string | number> | null {
  if (route.literal !== null) return route.literal === path ? NO_PARAMS : null;
  const m = route.regex.exec(path);
  if (m === null) return null;
  const params: Record<string, string | number> = {};
  const specs = route.params;
  for (let i = 0; i < specs.length; i++) {
    const v = specs[i]!.convert(m[i + 1]!);
    if (v === undefined) return null;
    params[specs[i]!.name] = v;
  }
  return params;
}

