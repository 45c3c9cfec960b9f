/**
 * Twisted-style resource trees: {@link Resource} (children, `isLeaf`,
 * `render_METHOD`), {@link Site} (the factory that walks the tree for each
 * request) and the rules that turn a handler's return value into a
 * response ({@link respondWith}), shared with the `Router`.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { Deferred } from '../defer/deferred.js';
import type { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import { HTTPFactory, type HTTPFactoryOptions } from './channel.js';
import { HttpError, errorPage, type Request } from './request.js';

const log = new Logger('spindle.http');

/**
 * Return this from a render method (or a route handler) to say "I will
 * write and `finish()` the request myself, later".
 *
 * @example
 * ```ts
 * render_GET(request: Request) {
 *   reactor.callLater(1, () => request.finish('late\n'));
 *   return NOT_DONE_YET;
 * }
 * ```
 */
export const NOT_DONE_YET: unique symbol = Symbol('NOT_DONE_YET');

/**
 * What a render method or route handler may return:
 * - a `string` (sent as UTF-8) or bytes: the body; the request is finished
 *   with a Content-Length, and `Content-Type` defaults to the site's
 *   `defaultContentType` (`text/html; charset=utf-8`) when not set;
 * - `undefined`: finish with what was written (an empty body if nothing);
 * - {@link NOT_DONE_YET}: nothing now, the handler finishes the request later;
 * - any other value (objects, arrays, numbers, booleans, `null`): sent as
 *   JSON with `Content-Type: application/json` (unless set);
 * - a Promise or Deferred of any of these; if it fails, the error is the
 *   response (an `HttpError`'s status, else a logged 500).
 */
export type RenderResult = unknown;

/** The Content-Type given to string and byte results when the handler set none. */
export const DEFAULT_CONTENT_TYPE = 'text/html; charset=utf-8';

/**
 * A node of the URL tree (Twisted's `twisted.web.resource.Resource`).
 *
 * Traversal: for a request to `/a/b`, the site asks the root for child
 * `a` (`getChildWithDefault`), then that child for `b`, stopping early at a
 * resource whose `isLeaf` is true (the segments left are in
 * `request.postpath`). A trailing slash is an empty last segment: register
 * the index page with `putChild('', index)`. A root without a `''` child
 * answers 404 for `/`, as in Twisted.
 *
 * Rendering: {@link render} calls `render_<METHOD>(request)` — define
 * `render_GET`, `render_POST`, … in a subclass. HEAD falls back to
 * `render_GET` (the body is dropped, the Content-Length kept). A method
 * without one answers 405 with `Allow` listing the methods defined. See
 * {@link RenderResult} for the return values.
 *
 * @example
 * ```ts
 * class Hello extends Resource {
 *   override isLeaf = true;
 *   render_GET(request: Request) {
 *     return `hello ${request.postpath.join('/')}\n`;
 *   }
 * }
 * const root = new Resource();
 * root.putChild('hello', new Hello());
 * reactor.listenTCP(8080, new Site(root), { interface: '127.0.0.1' });
 * ```
 */
export class Resource {
  /** A leaf is rendered with the rest of the path in `request.postpath`, not traversed further. */
  isLeaf = false;
  /** The static children, by path segment. */
  readonly children = new Map<string, Resource>();

  /**
   * Add a static child under path segment `path` (`''` for the index with a trailing slash).
   * @throws TypeError when `path` is not a string or contains `/`.
   */
  putChild(path: string, child: Resource): void {
    if (typeof path !== 'string' || path.includes('/')) {
      throw new TypeError(`a child path is one segment without '/', not ${JSON.stringify(path)}`);
    }
    this.children.set(path, child);
  }

  /**
   * The child for segment `path` when there is no static one. Override it
   * for dynamic children; the default is a 404 page.
   */
  getChild(path: string, request: Request): Resource {
    return new NoResource();
  }

  /** The static child for `path`, else {@link getChild}. */
  getChildWithDefault(path: string, request: Request): Resource {
    return this.children.get(path) ?? this.getChild(path, request);
  }

  /**
   * Render the request by calling `render_<METHOD>`; HEAD uses `render_GET`
   * when there is no `render_HEAD`.
   * @throws HttpError 405 (with `Allow`) when no render method fits.
   */
  render(request: Request): RenderResult {
    let fn = renderMethod(this, request.method);
    if (fn === undefined && request.method === 'HEAD') fn = renderMethod(this, 'GET');
    if (fn === undefined) {
      throw new HttpError(405, undefined, { headers: [['Allow', this.allowedMethods().join(', ')]] });
    }
    return fn.call(this, request);
  }

  /** The methods this resource renders (its `render_*` methods, plus HEAD when GET is there), sorted. */
  allowedMethods(): string[] {
    const found = new Set<string>();
    for (let o: object | null = this; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const name of Object.getOwnPropertyNames(o)) {
        if (name.startsWith('render_') && name.length > 7 && typeof (this as unknown as Record<string, unknown>)[name] === 'function') {
          found.add(name.slice(7));
        }
      }
    }
    if (found.has('GET')) found.add('HEAD');
    return [...found].sort();
  }
}

// `render_<METHOD>` names, built once per method: a property lookup with a fresh
// concatenated string would flatten and intern it on every request.
const RENDER_NAMES = new Map<string, string>();

function renderMethod(resource: Resource, method: string): ((request: Request) => RenderResult) | undefined {
  let name = RENDER_NAMES.get(method);
  if (name === undefined) {
    name = `render_${method}`;
    // Methods are any token: bound the table against a client inventing one per request.
    if (RENDER_NAMES.size < 64) RENDER_NAMES.set(method, name);
  }
  const fn = (resource as unknown as Record<string, unknown>)[name];
  return typeof fn === 'function' ? (fn as (request: Request) => RenderResult) : undefined;
}

/**
 * A page answering every request with `status` (Twisted's ErrorPage).
 * Texts are HTML-escaped. Its children are itself.
 */
export class ErrorPage extends Resource {
  override isLeaf = true;

  constructor(
    /** The status answered. */
    readonly status: number,
    /** A short title (kept for Twisted compatibility; the page shows the reason phrase). */
    readonly brief?: string,
    /** The explanation shown on the page. */
    readonly detail?: string,
  ) {
    super();
  }

  /** Every child of an error page is the error page. */
  override getChild(): Resource {
    return this;
  }

  /** Answer `status` with a small HTML page, whatever the method. */
  override render(request: Request): RenderResult {
    request.setResponseCode(this.status);
    request.setHeader('Content-Type', 'text/html; charset=utf-8');
    return errorPage(this.status, this.detail);
  }
}

/** 404 Not Found. */
export class NoResource extends ErrorPage {
  constructor(detail = 'Sorry. No luck finding that resource.') {
    super(404, 'No Such Resource', detail);
  }
}

/** 403 Forbidden. */
export class ForbiddenResource extends ErrorPage {
  constructor(detail = 'Sorry, resource is forbidden.') {
    super(403, 'Forbidden Resource', detail);
  }
}

/**
 * Walk from `resource` along `request.postpath`, moving each segment to
 * `request.prepath`, until a leaf or the end of the path (Twisted's
 * `getChildForRequest`).
 */
export function getChildForRequest(resource: Resource, request: Request): Resource {
  // isLeaf first: a leaf root never needs the path split into segments.
  while (!resource.isLeaf && request.postpath.length > 0) {
    const segment = request.postpath.shift()!;
    request.prepath.push(segment);
    resource = resource.getChildWithDefault(segment, request);
  }
  return resource;
}

/**
 * Set `request.prepath`/`postpath` from its path, find the resource under
 * `root`, render it and respond with the result. Errors become the
 * response (an `HttpError`'s status, else a logged 500).
 */
export function renderRequest(root: Resource, request: Request, defaultContentType: string | null = DEFAULT_CONTENT_TYPE): void {
  try {
    setPaths(request);
    const resource = getChildForRequest(root, request);
    respondWith(request, resource.render(request), defaultContentType);
  } catch (e) {
    request.processingFailed(e);
  }
}

/**
 * `prepath = []`, `postpath` = the decoded segments of the path (`['']` for
 * `/`; none for `*` or an authority) — computed when first read.
 */
function setPaths(request: Request): void {
  request._resetPaths();
}

/**
 * Turn a handler's return value into the response, following
 * {@link RenderResult}. A value returned after the handler finished the
 * request itself is ignored (with a warning unless it is `undefined`).
 */
export function respondWith(request: Request, result: RenderResult, defaultContentType: string | null = DEFAULT_CONTENT_TYPE): void {
  if (result === NOT_DONE_YET) return;
  if (result instanceof Deferred) {
    (result as Deferred<unknown>).addCallbacks(
      (value: unknown) => {
        respondWith(request, value, defaultContentType);
        return undefined;
      },
      (f: Failure) => {
        request.processingFailed(f);
        return undefined;
      },
    );
    return;
  }
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    (result as PromiseLike<unknown>).then(
      (value) => respondWith(request, value, defaultContentType),
      (e: unknown) => request.processingFailed(e),
    );
    return;
  }
  if (request.finished) {
    if (result !== undefined && !request.disconnected) {
      log.warn('{method} {uri}: the handler returned a value after finishing the request; ignored', {
        method: request.method,
        uri: request.uri,
      });
    }
    return;
  }
  try {
    if (typeof result === 'string' || result instanceof Uint8Array) {
      if (defaultContentType !== null && !request.startedWriting && request.getResponseHeader('content-type') === undefined) {
        request.setHeader('Content-Type', defaultContentType);
      }
      request.finish(result);
    } else if (result === undefined) {
      request.finish();
    } else {
      const json = JSON.stringify(result);
      if (typeof json !== 'string') throw new TypeError(`a handler returned a value that is not JSON: ${typeof result}`);
      if (!request.startedWriting && request.getResponseHeader('content-type') === undefined) {
        request.setHeader('Content-Type', 'application/json');
      }
      request.finish(Buffer.from(json, 'utf8'));
    }
  } catch (e) {
    request.processingFailed(e);
  }
}

/** Options of a {@link Site}. */
export interface SiteOptions extends HTTPFactoryOptions {
  /** Content-Type of string and byte results that set none; null for none. Default `text/html; charset=utf-8`. */
  defaultContentType?: string | null;
}

/**
 * The HTTP factory serving a resource tree: for each request it walks the
 * tree from `resource` ({@link getChildForRequest}), renders the resource
 * found and responds with the result. Timeouts, limits, the clock and the
 * access log are {@link HTTPFactoryOptions}.
 *
 * @example
 * ```ts
 * const site = new Site(root, { reactor, accessLog: true });
 * reactor.listenTCP(8080, site, { interface: '127.0.0.1' });
 * ```
 */
export class Site extends HTTPFactory {
  /** Content-Type of string and byte results that set none. */
  readonly defaultContentType: string | null;

  constructor(
    /** The root of the tree. */
    readonly resource: Resource,
    options: SiteOptions = {},
  ) {
    super(null, options);
    this.defaultContentType = options.defaultContentType === undefined ? DEFAULT_CONTENT_TYPE : options.defaultContentType;
  }

  /** Render the request from the root resource. */
  override process(request: Request): unknown {
    renderRequest(this.resource, request, this.defaultContentType);
    return undefined;
  }

  /** The resource a request would be rendered by (sets its `prepath`/`postpath`). */
  getResourceFor(request: Request): Resource {
    setPaths(request);
    return getChildForRequest(this.resource, request);
  }
}
