/**
 * The HTTP half of the server: one {@link HttpBridge} per request joins Spindle's HTTP
 * `Request` to the sans-IO `HttpCycle` (the ASGI rules) and an `AppRunner` (the application
 * instance). The scope is built here too, for both HTTP and WebSocket connections.
 * @module
 */
import { Deferred } from '../../defer/deferred.js';
import type { IDelayedCall, IReactorTime } from '../../defer/clock.js';
import type { Failure } from '../../defer/failure.js';
import type { Request } from '../../http/request.js';
import { Logger } from '../../logger/index.js';
import type { IPushProducer } from '../../reactor/interfaces.js';
import { AppRunner } from '../asgi/appRunner.js';
import type { ASGIConnection } from '../asgi/connection.js';
import { ASGIConnectionClosed, ASGIProtocolError } from '../asgi/errors.js';
import { HttpCycle, type HttpAction } from '../asgi/httpCycle.js';
import { plainTextResponse } from '../asgi/validate.js';
import type { ASGIApplication, ASGIEvent, ChannelLayer, Headers, Scope } from '../types.js';
import { connectionEnds, type TrustedProxies } from './proxy.js';

const log = new Logger('spindle.channels.server');

const EMPTY = new Uint8Array(0);

/** The ASGI versions every connection scope carries. */
const ASGI_VERSIONS = Object.freeze({ version: '3.0', spec_version: '2.5' });

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
}

/** Whether `path` is `root` or below it (`/app` and `/app/x`, not `/application`). */
function underRoot(path: string, root: string): boolean {
  return path === root || (path.startsWith(root) && (root.endsWith('/') || path.charCodeAt(root.length) === 0x2f));
}

/** The request's header fields as ASGI headers: lower-case names, latin1 values, in order. */
function scopeHeaders(request: Request): Headers {
  const list = request.requestHeaders;
  const names = list.names;
  const raw = list.raw;
  const out: Headers = new Array<[string, string]>(names.length);
  for (let i = 0; i < names.length; i++) out[i] = [names[i]!, raw[2 * i + 1]!];
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
  const ends = connectionEnds(transport.getPeer(), transport.getHost(), request.isSecure(), request.requestHeaders, ctx.proxies);
  const root = ctx.rootPath;
  let path = request.path;
  if (root !== '' && !underRoot(path, root)) path = root.endsWith('/') && path.startsWith('/') ? root + path.slice(1) : root + path;
  const method = request.method;
  const scope: Scope = {
    type,
    asgi: { ...ASGI_VERSIONS },
    http_version: request.versionMinor === 0 ? '1.0' : '1.1',
    scheme: type === 'http' ? (ends.secure ? 'https' : 'http') : ends.secure ? 'wss' : 'ws',
    path,
    raw_path: request.rawPath,
    query_string: request.rawQuery,
    root_path: root,
    headers: scopeHeaders(request),
    client: ends.client,
    server: ends.server,
  };
  if (type === 'http') scope.method = method === method.toUpperCase() ? method : method.toUpperCase();
  const state = ctx.lifespanState();
  if (state !== null) scope.state = { ...state };
  if (ctx.channelLayer !== null) scope.channel_layer = ctx.channelLayer;
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
 * client must not take a truncated one for a whole one.
 */
export function abortRequest(request: Request): void {
  if (request.disconnected) return;
  request.transport.abortConnection();
}

/**
 * The `ASGIConnection` the application sees: the cycle, with the request body attached on the
 * application's first `receive()` — so a client waiting on `Expect: 100-continue` gets its
 * `100` only when the application reads the body, and an application that answers without
 * reading it lets the HTTP layer drain or close as it should.
 */
class BodyOnDemand implements ASGIConnection {
  #attached = false;
  constructor(
    private readonly cycle: HttpCycle,
    private readonly attach: () => void,
  ) {}
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
      if (!this.cycle.closed) this.attach();
    }
    return this.cycle.receive();
  }
  send(event: ASGIEvent): Deferred<void> {
    return this.cycle.send(event);
  }
  applicationFinished(failure: Failure | null): void {
    this.cycle.applicationFinished(failure);
  }
}

/**
 * One HTTP request run through an application.
 *
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
export class HttpBridge implements IPushProducer {
  readonly cycle: HttpCycle;
  readonly runner: AppRunner;
  readonly #request: Request;
  readonly #ctx: BridgeContext;
  #whole = false;
  #held: Uint8Array | null = null;
  #bodyBytes = 0;
  #refused = false;
  #timer: IDelayedCall | null = null;
  #paused = false;
  #flowWaiters: Deferred<void>[] = [];

  constructor(request: Request, app: ASGIApplication, ctx: BridgeContext) {
    this.#request = request;
    this.#ctx = ctx;
    this.cycle = new HttpCycle((action) => this.#perform(action));
    const connection = new BodyOnDemand(this.cycle, () => this.#attachBody());
    this.runner = new AppRunner(app, connectionScope(request, 'http', ctx), connection, {
      clock: ctx.clock,
      applicationCloseTimeout: ctx.applicationCloseTimeout,
    });
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
    request.notifyFinish().addCallbacks(
      () => this.#ended(null),
      () => {
        this.#ended(new ASGIConnectionClosed('the client disconnected'));
        this.cycle.pushDisconnect();
      },
    );
    const timeout = this.#ctx.httpTimeout;
    if (timeout !== null && timeout !== Infinity) {
      this.#timer = this.#ctx.clock.callLater(timeout, () => this.#timedOut(timeout));
    }
    this.runner.start();
    return true;
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
          for (const [name, value] of action.headers) {
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
    this.#flowWaiters.push(d);
    return d;
  }

  #releaseFlow(error: Error | null): void {
    const waiters = this.#flowWaiters;
    if (waiters.length === 0) return;
    this.#flowWaiters = [];
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
