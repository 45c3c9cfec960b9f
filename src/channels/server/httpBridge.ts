/**
 * The HTTP half of the server: one {@link HttpBridge} per request joins Spindle's HTTP
 * `Request` to the sans-IO `HttpCycle` (the ASGI rules) and an `AppRunner` (the application
 * instance). The scope is built here too, for both HTTP and WebSocket connections.
 * @module
 */
import { Deferred } from '../../defer/deferred.js';
import type { IDelayedCall, IReactorTime } from '../../defer/clock.js';
import { Failure } from '../../defer/failure.js';
import type { Request } from '../../http/request.js';
import { Logger } from '../../logger/index.js';
import type { IPushProducer } from '../../reactor/interfaces.js';
import { AppRunner, type AppRunnerOptions } from '../asgi/appRunner.js';
import type { ASGIConnection } from '../asgi/connection.js';
import { ASGIConnectionClosed, ASGIProtocolError } from '../asgi/errors.js';
import { HttpCycle, type HttpAction } from '../asgi/httpCycle.js';
import { plainTextResponse } from '../asgi/validate.js';
import type { ASGIApplication, ASGIEvent, ChannelLayer, Headers, Scope } from '../types.js';
import { connectionEnds, ipPair, serverPair, type TrustedProxies } from './proxy.js';

const log = new Logger('spindle.channels.server');

const EMPTY = new Uint8Array(0);


/** What the server shares with every bridge. */
export interface BridgeContext {
  /** Time for the timeouts. */
  readonly clock: IReactorTime;
  /** `scope.root_path`: where the application is mounted (`""` for the root). */
  readonly rootPath: string;
  /** Peers whose `X-Forwarded-*` fields are honoured, or null (ignored from everyone). */
  readonly proxies: TrustedProxies | null;
  /** Handed to every application instance as `scope.channel_layer` (absent when null). */
  readonly channelLayer: ChannelLayer | null;
  /** Seconds an instance may outlive its connection before it is cancelled. */
  readonly applicationCloseTimeout: number;
  /** Seconds an application has to start its response (then 503), or null for no limit. */
  readonly httpTimeout: number | null;
  /** Largest request body, in bytes (413 beyond). */
  readonly maxBodySize: number;
  /** The lifespan state to copy into each scope, or null when lifespan is not in use. */
  lifespanState(): Record<string, unknown> | null;
  /**
   * The options of every HTTP instance's runner, made once: typically with the server's
   * `closeTimeouts` (the application-close timeouts on one timer). Absent: `clock` and
   * `applicationCloseTimeout`, a timer per instance.
   */
  readonly httpRunnerOptions?: AppRunnerOptions;
  /** Told when an HTTP application instance starts, and again when it has ended (the server counts them). */
  readonly httpInstances?: { started(): void; ended(): void };
}

/** Whether `path` is `root` or below it (`/app` and `/app/x`, not `/application`). */
function underRoot(path: string, root: string): boolean {
  return path === root || (path.startsWith(root) && (root.endsWith('/') || path.charCodeAt(root.length) === 0x2f));
}

/** ASGI wants the method upper-case; the common ones are, and need no new string. */
function upperMethod(method: string): string {
  switch (method) {
    case 'GET':
    case 'POST':
    case 'HEAD':
    case 'PUT':
    case 'DELETE':
    case 'PATCH':
    case 'OPTIONS':
      return method;
    default:
      return method.toUpperCase();
  }
}

/** The request's header fields as ASGI headers: lower-case names, latin1 values, in order. */
function scopeHeaders(request: Request): Headers {
  const list = request.requestHeaders;
  const names = list.names;
  const raw = list.raw;
  const out: Headers = [];
  for (let i = 0; i < names.length; i++) out.push([names[i]!, raw[2 * i + 1]!]);
  return out;
}

/**
 * The scope of the connection `request` opens: ASGI spec 2.5 keys for an `http` request or a
 * `websocket` handshake.
 *
 * - `path` is percent-decoded (UTF-8) and **includes `root_path`**: a proxy that forwards the
 *   whole path (`/app/chat/` under `--root-path /app`) gives it as is; a proxy that strips the
 *   prefix (`/chat/`) gets `root_path` put back in front. So `urlRouter`, which removes
 *   `root_path` before routing, sees `/chat/` either way. `raw_path` is the path as sent.
 * - `query_string` and `raw_path` are latin1 strings, still percent-encoded.
 * - `client`/`server`/`scheme` come from the connection, or from the forwarded fields of a
 *   trusted proxy (see `connectionEnds`).
 * - `state` is a shallow copy of the lifespan state (absent without lifespan);
 *   `channel_layer` the server's layer (absent when it has none).
 */
export function connectionScope(request: Request, type: 'http' | 'websocket', ctx: BridgeContext): Scope {
  const transport = request.transport;
  const proxies = ctx.proxies;
  let client: [string, number] | null;
  let server: [string, number | null] | null;
  let secure: boolean;
  if (proxies === null) {
    // No proxy to believe: the connection's own ends, without connectionEnds' intermediate object.
    client = ipPair(transport.getPeer());
    server = serverPair(transport.getHost());
    secure = request.isSecure();
  } else {
    const ends = connectionEnds(transport.getPeer(), transport.getHost(), request.isSecure(), request.requestHeaders, proxies);
    client = ends.client;
    server = ends.server;
    secure = ends.secure;
  }
  const root = ctx.rootPath;
  let path = request.path;
  if (root !== '' && !underRoot(path, root)) path = root.endsWith('/') && path.startsWith('/') ? root + path.slice(1) : root + path;
  // New objects per scope (`asgi`, `headers`, `client`, `server`), never shared constants: an
  // application may change its scope.
  const asgi = { version: '3.0', spec_version: '2.5' };
  const httpVersion = request.versionMinor === 0 ? '1.0' : '1.1';
  const scheme = type === 'http' ? (secure ? 'https' : 'http') : secure ? 'wss' : 'ws';
  const headers = scopeHeaders(request);
  const state = ctx.lifespanState();
  const layer = ctx.channelLayer;
  if (type === 'http' && state === null && layer !== null) {
    // The usual HTTP scope in one literal (same keys, same order as below): a key added later
    // moves the object to another shape and allocates an out-of-object property store.
    return {
      type,
      asgi,
      http_version: httpVersion,
      scheme,
      path,
      raw_path: request.rawPath,
      query_string: request.rawQuery,
      root_path: root,
      headers,
      client,
      server,
      method: upperMethod(request.method),
      channel_layer: layer,
    };
  }
  const scope: Scope = {
    type,
    asgi,
    http_version: httpVersion,
    scheme,
    path,
    raw_path: request.rawPath,
    query_string: request.rawQuery,
    root_path: root,
    headers,
    client,
    server,
  };
  if (type === 'http') scope.method = upperMethod(request.method);
  if (state !== null) scope.state = { ...state };
  if (layer !== null) scope.channel_layer = layer;
  return scope;
}

/**
 * Answer `request` ourselves (no application involved) with a short plain-text page and
 * `Connection: close`: used for 413, the HTTP timeout's 503, refused handshakes.
 */
export function respondPlain(request: Request, status: number, text: string, close = true): void {
  if (request.disconnected || request.finished || request.startedWriting) return;
  const { headers, body } = plainTextResponse(status, text);
  request.setResponseCode(status);
  for (const [n, v] of headers) request.setHeader(n, v);
  if (close) request.setHeader('Connection', 'close');
  request.finish(body);
}

/**
 * Drop the connection of `request` at once: the response cannot be completed correctly, and the
 * client must not take a truncated one for a whole one. Through the channel, so the complete
 * responses to earlier pipelined requests it still holds for one write go out first.
 */
export function abortRequest(request: Request): void {
  if (request.disconnected) return;
  request.channel._abort();
}

/**
 * One HTTP request run through an application.
 *
 * - The bridge is the `ASGIConnection` the application's runner sees: the cycle, with the
 *   request body attached on the application's first `receive()` — so a client waiting on
 *   `Expect: 100-continue` gets its `100` only when the application reads the body, and an
 *   application that answers without reading it lets the HTTP layer drain or close as it should.
 * - The request body reaches the application as `http.request` chunks as they arrive; when the
 *   application falls behind (the cycle's 64 KiB buffer is full) the request stops reading
 *   (`pauseBody`), which slows the client down. A body over `maxBodySize` is refused with 413
 *   (before the application runs when `Content-Length` says so; as soon as it is exceeded
 *   otherwise, or the connection is aborted if the response has started).
 * - A response whose first body event is also its last goes out with a `Content-Length`; a
 *   streamed one is chunked, and `send` waits while the client's connection pushes back.
 *   App-supplied `transfer-encoding` is dropped (ASGI: the server frames the body).
 * - The cycle's `error-response` (500) is written as it is; its `abort` drops the connection.
 * - The client leaving is `pushDisconnect` on the cycle (`http.disconnect` for the
 *   application, which then has `applicationCloseTimeout` seconds to end).
 * - With `httpTimeout`, an application that has not started its response in time is answered
 *   503 (and one that is mid-response is aborted); it then sees `http.disconnect`.
 */
export class HttpBridge implements IPushProducer, ASGIConnection {
  readonly cycle: HttpCycle;
  readonly runner: AppRunner;
  readonly #request: Request;
  readonly #ctx: BridgeContext;
  #attached = false;
  #whole = false;
  #held: Uint8Array | null = null;
  #bodyBytes = 0;
  #refused = false;
  #timer: IDelayedCall | null = null;
  #paused = false;
  /** Sends waiting for the client's connection to drain; null while there are none. */
  #flowWaiters: Deferred<void>[] | null = null;

  constructor(request: Request, app: ASGIApplication, ctx: BridgeContext) {
    this.#request = request;
    this.#ctx = ctx;
    this.cycle = new HttpCycle((action) => this.#perform(action));
    this.runner = new AppRunner(
      app,
      connectionScope(request, 'http', ctx),
      this,
      ctx.httpRunnerOptions ?? { clock: ctx.clock, applicationCloseTimeout: ctx.applicationCloseTimeout },
    );
  }

  /**
   * Run the application on the request (or refuse a declared body over `maxBodySize` with 413
   * without running it). Returns false when the application was not started.
   */
  start(): boolean {
    const request = this.#request;
    const declared = request.contentLength;
    if (declared !== null && declared > this.#ctx.maxBodySize) {
      respondPlain(request, 413, 'Request Entity Too Large');
      return false;
    }
    // One step for both outcomes: the response was finished, or the client left first.
    request.notifyFinish().addBoth((r: unknown) => {
      if (r instanceof Failure) {
        this.#ended(new ASGIConnectionClosed('the client disconnected'));
        this.cycle.pushDisconnect();
      } else {
        this.#ended(null);
      }
      return undefined;
    });
    const timeout = this.#ctx.httpTimeout;
    if (timeout !== null && timeout !== Infinity) {
      this.#timer = this.#ctx.clock.callLater(timeout, () => this.#timedOut(timeout));
    }
    this.#ctx.httpInstances?.started();
    this.runner.start();
    return true;
  }

  // ------------------------------------------------------------------ ASGIConnection (for the runner)

  get closed(): boolean {
    return this.cycle.closed;
  }

  get onClosed(): (() => void) | null {
    return this.cycle.onClosed;
  }

  set onClosed(fn: (() => void) | null) {
    this.cycle.onClosed = fn;
  }

  receive(): Deferred<ASGIEvent> {
    if (!this.#attached) {
      this.#attached = true;
      if (!this.cycle.closed) this.#attachBody();
    }
    return this.cycle.receive();
  }

  send(event: ASGIEvent): Deferred<void> {
    return this.cycle.send(event);
  }

  trySend(event: ASGIEvent): Deferred<void> | null {
    return this.cycle.trySend(event);
  }

  applicationFinished(failure: Failure | null): void {
    try {
      this.cycle.applicationFinished(failure);
    } finally {
      this.#ctx.httpInstances?.ended();
    }
  }

  // ------------------------------------------------------------------ IPushProducer (response body)

  /** The client's connection is full: hold the application's next `send` until it drains. */
  pauseProducing(): void {
    this.#paused = true;
  }

  resumeProducing(): void {
    this.#paused = false;
    this.#releaseFlow(null);
  }

  stopProducing(): void {
    this.#releaseFlow(new ASGIConnectionClosed('the client disconnected'));
  }

  // ------------------------------------------------------------------ request body

  #attachBody(): void {
    const request = this.#request;
    const cycle = this.cycle;
    if (request.bodyComplete && request.contentLength === 0) {
      cycle.pushBody(EMPTY, false);
      return;
    }
    const max = this.#ctx.maxBodySize;
    request.receiveBody({
      data: (chunk) => {
        if (this.#refused || cycle.closed) return;
        this.#bodyBytes += chunk.length;
        if (this.#bodyBytes > max) {
          this.#tooLarge();
          return;
        }
        if (!cycle.pushBody(chunk, true)) request.pauseBody();
      },
      end: () => {
        if (!this.#refused) cycle.pushBody(EMPTY, false);
      },
      error: () => {
        // Disconnect, invalid body (the HTTP layer answers 400) or body timeout (408).
        cycle.pushDisconnect();
      },
    });
  }

  #tooLarge(): void {
    this.#refused = true;
    const request = this.#request;
    if (this.cycle.responseStarted) abortRequest(request);
    else respondPlain(request, 413, 'Request Entity Too Large');
    this.cycle.pushDisconnect();
  }

  // ------------------------------------------------------------------ actions

  #perform(action: HttpAction): void | Deferred<void> {
    const request = this.#request;
    try {
      switch (action.kind) {
        case 'head':
          request.setResponseCode(action.status);
          const headers = action.headers;
          for (let i = 0; i < headers.length; i++) {
            const [name, value] = headers[i]!;
            if (name !== 'transfer-encoding') request.addHeader(name, value);
          }
          if (action.contentLength !== null) {
            this.#whole = true;
          } else if (!request.disconnected) {
            // Streamed: the transport's flow control reaches the application's send.
            request.registerProducer(this, true);
          }
          return;
        case 'body':
          if (this.#whole) {
            this.#held = action.body;
            return;
          }
          request.write(action.body);
          return this.#paused ? this.#waitForDrain() : undefined;
        case 'finish':
          if (this.#whole) {
            const body = this.#held;
            this.#held = null;
            if (body === null) request.finish();
            else request.finish(body);
          } else {
            request.finish();
          }
          return;
        case 'error-response':
          if (action.error === null) {
            log.warn('{method} {uri}: {reason}; answered {status}', {
              method: request.method,
              uri: request.uri,
              reason: action.reason,
              status: action.status,
            });
          }
          request.setResponseCode(action.status);
          for (const [name, value] of action.headers) request.setHeader(name, value);
          request.finish(action.body);
          return;
        case 'abort':
          if (action.error instanceof ASGIProtocolError) {
            log.warn('{method} {uri}: {error}; the connection is aborted', {
              method: request.method,
              uri: request.uri,
              error: action.error.message,
            });
          }
          this.#releaseFlow(new ASGIConnectionClosed('the response was aborted'));
          abortRequest(request);
          return;
        case 'resume-reading':
          request.resumeBody();
          return;
      }
    } catch (e) {
      // The HTTP layer refused what the application asked for (a body longer than its
      // Content-Length, a 1xx status…): the response cannot be completed.
      abortRequest(request);
      this.cycle.pushDisconnect();
      const message = e instanceof Error ? e.message : String(e);
      throw new ASGIProtocolError(`the response cannot be sent: ${message}`, action.kind === 'head' ? 'http.response.start' : 'http.response.body');
    }
  }

  #waitForDrain(): Deferred<void> {
    const d = new Deferred<void>();
    (this.#flowWaiters ??= []).push(d);
    return d;
  }

  #releaseFlow(error: Error | null): void {
    const waiters = this.#flowWaiters;
    if (waiters === null) return;
    this.#flowWaiters = null;
    for (const d of waiters) {
      if (error === null) d.callback(undefined);
      else d.errback(error);
    }
  }

  // ------------------------------------------------------------------ the end

  /** The response is complete (`error` null), or the client left: no more timeout, no more flow control. */
  #ended(error: Error | null): void {
    const t = this.#timer;
    this.#timer = null;
    if (t !== null && t.active()) t.cancel();
    this.#releaseFlow(error);
  }

  #timedOut(timeout: number): void {
    this.#timer = null;
    const cycle = this.cycle;
    if (cycle.closed) return;
    const request = this.#request;
    log.warn('{method} {uri}: the application did not respond within {timeout} s', {
      method: request.method,
      uri: request.uri,
      timeout,
    });
    if (cycle.responseStarted) abortRequest(request);
    else respondPlain(request, 503, 'Application failed to respond within time limit');
    cycle.pushDisconnect();
  }
}
