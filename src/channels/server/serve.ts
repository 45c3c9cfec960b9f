/**
 * `serve(app, options)`: run an ASGI application on Spindle's HTTP server and WebSocket
 * protocol, on one or more endpoints, with lifespan, a channel layer, and a graceful stop.
 * @module
 */
import { Deferred, succeed } from '../../defer/deferred.js';
import type { IDelayedCall } from '../../defer/clock.js';
import { Failure } from '../../defer/failure.js';
import { DeferredList } from '../../defer/list.js';
import type { AccessLogOption } from '../../http/accessLog.js';
import { HTTPFactory, type HTTPFactoryOptions } from '../../http/channel.js';
import type { Request } from '../../http/request.js';
import { Logger } from '../../logger/index.js';
import type { Address } from '../../reactor/address.js';
import { reactor as defaultReactor } from '../../reactor/default.js';
import { serverFromString } from '../../reactor/endpoints/server.js';
import type { IListeningPort, IReactor, IStreamServerEndpoint } from '../../reactor/interfaces.js';
import type { AppRunner } from '../asgi/appRunner.js';
import { CloseTimeouts } from '../asgi/closeTimeouts.js';
import { Lifespan } from '../asgi/lifespan.js';
import { InMemoryChannelLayer } from '../layers/inMemory.js';
import type { ASGIApplication, ChannelLayer } from '../types.js';
import { HttpBridge, respondPlain, type BridgeContext } from './httpBridge.js';
import { TrustedProxies } from './proxy.js';
import { WebsocketBridge, isWebsocketUpgrade, type WebsocketBridgeOptions } from './wsBridge.js';

const log = new Logger('spindle.channels.server');

/** Options of {@link serve}. Times are in seconds. */
export interface ServeOptions {
  /**
   * Where to listen: endpoint descriptions (`serverFromString`): `tcp:8000:interface=127.0.0.1`,
   * `tcp6:8000:interface=\:\:1`, `unix:/run/app.sock`, `ssl:8443:privateKey=key.pem:certKey=cert.pem`.
   * Default `['tcp:8000:interface=127.0.0.1']`.
   */
  endpoints?: readonly string[];
  /**
   * The channel layer handed to every application instance (`scope.channel_layer`). Default: a
   * new `InMemoryChannelLayer` on the server's reactor, closed by `stop()`; `null`: none.
   * A layer you pass is yours to close.
   */
  channelLayer?: ChannelLayer | null;
  /** The reactor to listen on and take time from. Default: the global reactor. */
  reactor?: IReactor;
  /**
   * `scope.root_path`: the path the application is mounted at behind a proxy (`/app`; no
   * trailing slash). Default `""`.
   */
  rootPath?: string;
  /**
   * Honour `X-Forwarded-For`/`-Proto`/`-Port` from these peers only (IP addresses, IPv4
   * networks such as `10.0.0.0/8`, `"unix"`, `"*"`). Default `false`: ignored from everyone.
   */
  proxyHeaders?: { trusted: readonly string[] } | false;
  /**
   * An application that has not started its response this long after the request arrived is
   * answered 503 (mid-response, the connection is aborted); it then sees `http.disconnect`.
   * Default: no limit.
   */
  httpTimeout?: number | null;
  /**
   * How long an application instance may keep running after its connection closed; then it is
   * cancelled and logged once. Default 10.
   */
  applicationCloseTimeout?: number;
  /** A WebSocket handshake the application has not accepted or refused by then gets 403. Default 5; null: no limit. */
  websocketConnectTimeout?: number | null;
  /** Keepalive ping interval of open WebSockets. Default 20; null or 0: no pings. */
  websocketPingInterval?: number | null;
  /** A keepalive ping not answered within this is a dead connection (dropped, code 1006). Default 20. */
  websocketPingTimeout?: number;
  /** Close WebSockets (1000) this long after they opened. Default: never. */
  websocketMaxLifetime?: number | null;
  /** The HTTP access log (Combined Log Format); see `AccessLogOption`. Default off. */
  accessLog?: AccessLogOption;
  /** Largest request body in bytes (413 beyond). Default 10 MiB; `Infinity` for no limit. */
  maxBodySize?: number;
  /**
   * ASGI lifespan: `'auto'` (default) sends startup/shutdown and serves without them if the
   * application declines; `'on'` makes an application that declines an error; `'off'` never
   * sends them.
   */
  lifespan?: 'auto' | 'on' | 'off';
  /**
   * How long `stop()` waits for in-flight requests and WebSocket close handshakes before
   * aborting what is left, and then for the application's answer to `lifespan.shutdown`.
   * Default 30.
   */
  shutdownTimeout?: number;
  /** More HTTP settings: timeouts and limits of the connections (see `HTTPFactoryOptions`). */
  http?: Omit<HTTPFactoryOptions, 'reactor' | 'accessLog' | 'maxBodySize'>;
  /** More WebSocket settings: `maxMessageSize` (16 MiB → 1009), `perMessageDeflate`, `closeTimeout`, `maxQueue`. */
  websocket?: WebsocketBridgeOptions['protocol'];
}

function seconds(name: string, v: number | null | undefined, dflt: number | null): number | null {
  if (v === undefined) return dflt;
  if (v === null) return null;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new RangeError(`serve(): ${name} must be a number of seconds >= 0`);
  return v;
}

type Phase = 'new' | 'starting' | 'serving' | 'stopping' | 'stopped';

/**
 * A running server: its ports, its layer, and `stop()`. Made by {@link serve}, or by
 * `new SpindleServer(app, options)` and `start()`.
 *
 * What it guarantees:
 * - Each connection (each HTTP request; each WebSocket) runs one application instance through
 *   the sans-IO state machines `HttpCycle`/`WebsocketCycle`, which enforce ASGI's rules
 *   strictly: a protocol violation fails the application's `send` (and aborts an HTTP
 *   connection), a crash before the response is a 500, after it an abort, a WebSocket closed
 *   before accepting a 403. One instance crashing never affects another: each has its own
 *   runner and its own application-close deadline (HTTP instances share one timer armed for
 *   the earliest deadline; there is no reaper loop polling them).
 * - Scopes use ASGI's keys (spec 2.5), with `state` copied from lifespan and the layer as
 *   `channel_layer`.
 * - `stop()` is graceful: stop accepting, close WebSockets with 1001, finish in-flight HTTP
 *   requests (bounded by `shutdownTimeout`), wait for the application instances (each bounded
 *   by `applicationCloseTimeout`), run lifespan shutdown, close the layer it made.
 */
export class SpindleServer {
  /** The layer handed to every instance (null when none). */
  readonly channelLayer: ChannelLayer | null;
  /** The reactor the server runs on. */
  readonly reactor: IReactor;
  readonly #app: ASGIApplication;
  readonly #ownsLayer: boolean;
  readonly #endpoints: IStreamServerEndpoint[];
  readonly #descriptions: readonly string[];
  readonly #lifespanMode: 'auto' | 'on' | 'off';
  readonly #shutdownTimeout: number;
  readonly #ctx: BridgeContext;
  readonly #wsOptions: WebsocketBridgeOptions;
  readonly #factory: HTTPFactory;
  #lifespan: Lifespan | null = null;
  #phase: Phase = 'new';
  #ports: IListeningPort[] = [];
  /** WebSocket instances (HTTP ones are only counted: there are many, and they are short). */
  #runners = new Set<AppRunner>();
  #httpInstances = 0;
  #websockets = new Set<WebsocketBridge>();
  #idleWaiters: Deferred<void>[] = [];
  #stopped: Deferred<void> | null = null;

  /**
   * @throws TypeError when `app` is not a function or an option has the wrong type;
   *   RangeError for a negative time or size; EndpointDescriptionError for a bad endpoint.
   */
  constructor(app: ASGIApplication, options: ServeOptions = {}) {
    if (typeof app !== 'function') throw new TypeError('serve(): the application must be a function (scope, receive, send)');
    this.#app = app;
    this.reactor = options.reactor ?? defaultReactor;
    const layer = options.channelLayer;
    this.#ownsLayer = layer === undefined;
    this.channelLayer = layer === undefined ? new InMemoryChannelLayer({ reactor: this.reactor }) : layer;
    const rootPath = options.rootPath ?? '';
    if (typeof rootPath !== 'string' || (rootPath !== '' && !rootPath.startsWith('/'))) {
      throw new TypeError(`serve(): rootPath must be "" or start with "/", not ${JSON.stringify(rootPath)}`);
    }
    const proxy = options.proxyHeaders ?? false;
    const maxBodySize = options.maxBodySize ?? 10 * 1024 * 1024;
    if (typeof maxBodySize !== 'number' || !(maxBodySize >= 0)) throw new RangeError('serve(): maxBodySize must be a number of bytes >= 0');
    const lifespanState = (): Record<string, unknown> | null => {
      const l = this.#lifespan;
      return l !== null && l.supported === true ? l.state : null;
    };
    const applicationCloseTimeout = seconds('applicationCloseTimeout', options.applicationCloseTimeout, 10)!;
    this.#ctx = {
      clock: this.reactor,
      rootPath: rootPath.length > 1 && rootPath.endsWith('/') ? rootPath.slice(0, -1) : rootPath,
      proxies: proxy === false ? null : new TrustedProxies(proxy.trusted),
      channelLayer: this.channelLayer,
      applicationCloseTimeout,
      httpTimeout: seconds('httpTimeout', options.httpTimeout, null),
      maxBodySize,
      lifespanState,
      httpRunnerOptions: {
        clock: this.reactor,
        applicationCloseTimeout,
        // Most HTTP instances outlive their response by a few microtasks: one timer for all.
        closeTimeouts: new CloseTimeouts(this.reactor, applicationCloseTimeout),
      },
      httpInstances: {
        started: () => {
          this.#httpInstances++;
        },
        ended: () => {
          this.#httpInstances--;
          this.#checkIdle();
        },
      },
    };
    this.#wsOptions = {
      connectTimeout: seconds('websocketConnectTimeout', options.websocketConnectTimeout, 5),
      pingInterval: seconds('websocketPingInterval', options.websocketPingInterval, 20),
      pingTimeout: seconds('websocketPingTimeout', options.websocketPingTimeout, 20)!,
      maxLifetime: seconds('websocketMaxLifetime', options.websocketMaxLifetime, null),
      protocol: options.websocket ?? {},
    };
    this.#shutdownTimeout = seconds('shutdownTimeout', options.shutdownTimeout, 30)!;
    const mode = options.lifespan ?? 'auto';
    if (mode !== 'auto' && mode !== 'on' && mode !== 'off') throw new TypeError(`serve(): lifespan must be 'auto', 'on' or 'off', not ${JSON.stringify(mode)}`);
    this.#lifespanMode = mode;
    this.#descriptions = options.endpoints ?? ['tcp:8000:interface=127.0.0.1'];
    if (!Array.isArray(this.#descriptions) || this.#descriptions.length === 0) {
      throw new TypeError('serve(): endpoints must be a non-empty array of endpoint descriptions');
    }
    this.#endpoints = this.#descriptions.map((d) => serverFromString(this.reactor, d));
    this.#factory = new HTTPFactory((request) => this.#handle(request), {
      ...options.http,
      reactor: this.reactor,
      maxBodySize: maxBodySize === Infinity ? Number.MAX_SAFE_INTEGER : maxBodySize,
      ...(options.accessLog !== undefined ? { accessLog: options.accessLog } : {}),
    });
  }

  /** The listening ports, in the order of `endpoints` (empty until started). */
  get ports(): readonly IListeningPort[] {
    return this.#ports;
  }

  /** The bound addresses, in the order of `endpoints` (with the real port when 0 was asked for). */
  get addresses(): Address[] {
    return this.#ports.map((p) => p.getHost());
  }

  /** The endpoint descriptions listened on. */
  get endpoints(): readonly string[] {
    return this.#descriptions;
  }

  /** The lifespan state (what the application put in `scope.state` at startup); `{}` without lifespan. */
  get state(): Record<string, unknown> {
    return this.#lifespan?.state ?? {};
  }

  /** true: lifespan startup completed; false: the application declined it; null: not used (or not yet). */
  get lifespanSupported(): boolean | null {
    return this.#lifespan?.supported ?? null;
  }

  /** Open HTTP connections (upgraded WebSockets included). */
  get connectionCount(): number {
    return this.#factory.channels.size;
  }

  /** Application instances running (HTTP requests and WebSockets). */
  get instanceCount(): number {
    return this.#runners.size + this.#httpInstances;
  }

  /** The HTTP factory the ports listen with (to listen on more endpoints yourself). */
  get factory(): HTTPFactory {
    return this.#factory;
  }

  /**
   * Run lifespan startup, then listen on every endpoint. Fires with the server once all ports
   * are bound. Fails with `LifespanStartupFailed` (the application refused to start; nothing was
   * listened on), an Error for an application that declines lifespan under `lifespan: 'on'`,
   * or the first listening error (`CannotListenError`…), after closing the ports that did bind
   * and running lifespan shutdown.
   * @throws Error when called twice.
   */
  start(): Deferred<this> {
    if (this.#phase !== 'new') throw new Error('SpindleServer.start() was already called');
    this.#phase = 'starting';
    let startup: Deferred<void>;
    if (this.#lifespanMode === 'off') {
      startup = succeed<void>(undefined);
    } else {
      // Startup may take as long as it takes (migrations, warm-up); shutdown is bounded.
      const lifespan = new Lifespan(this.#app, { clock: this.reactor, shutdownTimeout: this.#shutdownTimeout });
      this.#lifespan = lifespan;
      startup = lifespan.startup().addCallback(() => {
        if (this.#lifespanMode === 'on' && lifespan.supported === false) {
          throw new Error('the application does not support the ASGI lifespan protocol (lifespan: "on")');
        }
      });
    }
    return startup
      .addCallback(() => this.#listen())
      .addCallbacks(
        (): this => {
          this.#phase = 'serving';
          return this;
        },
        (f: Failure) => this.#startFailed(f),
      ) as Deferred<this>;
  }

  /**
   * Stop gracefully (see the class); every call returns a Deferred of the same stop. Never
   * fails: problems (a lifespan shutdown failure, a layer that fails to close) are logged.
   */
  stop(): Deferred<void> {
    const mine = new Deferred<void>();
    if (this.#stopped === null) {
      this.#stopped = new Deferred<void>();
      this.#stop().addBoth((r: unknown) => {
        if (r instanceof Failure) log.failure('Stopping the server failed', r, undefined, 'error');
        this.#phase = 'stopped';
        this.#stopped!.callback(undefined);
        return undefined;
      });
    }
    this.#stopped.addCallback(() => {
      mine.callback(undefined);
    });
    return mine;
  }

  // ------------------------------------------------------------------ starting

  #listen(): Deferred<void> {
    const attempts = this.#endpoints.map((e) => e.listen(this.#factory));
    return new DeferredList(attempts, { consumeErrors: true }).addCallback((results) => {
      const ports: IListeningPort[] = [];
      let failure: Failure | null = null;
      for (const [ok, value] of results) {
        if (ok) ports.push(value as IListeningPort);
        else failure ??= value as Failure;
      }
      this.#ports = ports;
      if (failure !== null) return failure;
      return undefined;
    }) as Deferred<void>;
  }

  #startFailed(f: Failure): Deferred<this> {
    this.#phase = 'stopping';
    const ports = this.#ports;
    this.#ports = [];
    const closing = ports.map((p) => p.stopListening());
    const shutdown = this.#lifespan !== null && this.#lifespan.supported === true ? [this.#lifespan.shutdown()] : [];
    return new DeferredList([...closing, ...shutdown], { consumeErrors: true }).addCallback(() => {
      this.#phase = 'stopped';
      return this.#closeLayer();
    }).addCallback(() => f) as unknown as Deferred<this>;
  }

  // ------------------------------------------------------------------ connections

  #handle(request: Request): void {
    if (isWebsocketUpgrade(request)) {
      if (this.#phase !== 'serving') {
        respondPlain(request, 503, 'Service Unavailable');
        return;
      }
      const bridge = new WebsocketBridge(request, this.#app, this.#ctx, this.#wsOptions, (runner) => this.#track(runner));
      this.#websockets.add(bridge);
      bridge.onGone = () => this.#websockets.delete(bridge);
      bridge.start();
      return;
    }
    // Counted through ctx.httpInstances, which the bridge tells when its instance starts and ends.
    new HttpBridge(request, this.#app, this.#ctx).start();
  }

  #track(runner: AppRunner): void {
    this.#runners.add(runner);
    runner.whenFinished().addBoth(() => {
      this.#runners.delete(runner);
      this.#checkIdle();
      return undefined;
    });
  }

  /** No instance left: wake whoever waits for that (a stop). */
  #checkIdle(): void {
    if (this.#runners.size === 0 && this.#httpInstances === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const d of waiters) d.callback(undefined);
    }
  }

  // ------------------------------------------------------------------ stopping

  #stop(): Deferred<void> {
    this.#phase = 'stopping';
    const ports = this.#ports;
    const stopListening = new DeferredList(
      ports.map((p) => p.stopListening()),
      { consumeErrors: true },
    );
    return stopListening
      .addCallback(() => {
        for (const ws of [...this.#websockets]) ws.shutdown();
        return this.#drain();
      })
      .addCallback(() => this.#instancesDone())
      .addCallback(() => this.#lifespanShutdown())
      .addCallback(() => this.#closeLayer()) as Deferred<void>;
  }

  /** In-flight requests finish and WebSockets close; what is left after `shutdownTimeout` is aborted. */
  #drain(): Deferred<void> {
    const drained = this.#factory.drain();
    if (drained.called) return drained;
    let timer: IDelayedCall | null = this.reactor.callLater(this.#shutdownTimeout, () => {
      timer = null;
      const left = this.#factory.channels.size;
      log.warn('{count} connection(s) still open {timeout} s into the shutdown: aborting them', {
        count: left,
        timeout: this.#shutdownTimeout,
      });
      for (const ch of [...this.#factory.channels]) ch.transport?.abortConnection();
    });
    return drained.addBoth((r: unknown) => {
      if (timer !== null && timer.active()) timer.cancel();
      timer = null;
      return r;
    }) as Deferred<void>;
  }

  /** Every application instance has ended (each is bounded by its application-close timeout). */
  #instancesDone(): Deferred<void> {
    if (this.#runners.size === 0 && this.#httpInstances === 0) return succeed<void>(undefined);
    const d = new Deferred<void>();
    this.#idleWaiters.push(d);
    return d;
  }

  #lifespanShutdown(): Deferred<void> {
    const lifespan = this.#lifespan;
    if (lifespan === null) return succeed<void>(undefined);
    return lifespan.shutdown().addErrback((f: Failure) => {
      log.failure('ASGI lifespan shutdown failed', f, undefined, 'error');
    }) as Deferred<void>;
  }

  #closeLayer(): Deferred<void> {
    const layer = this.channelLayer;
    if (!this.#ownsLayer || layer === null) return succeed<void>(undefined);
    return layer.close().addErrback((f: Failure) => {
      log.failure('Closing the channel layer failed', f, undefined, 'error');
    }) as Deferred<void>;
  }
}

/**
 * Serve `app` (any ASGI application: a function, a router, a consumer's `asApp()`) on
 * `options.endpoints` (default `tcp:8000:interface=127.0.0.1`). Fires with the
 * {@link SpindleServer} once lifespan startup is done and every endpoint listens; see
 * `SpindleServer.start` for how it fails.
 *
 * @throws TypeError, RangeError or EndpointDescriptionError (synchronously) for bad options.
 *
 * @example
 * ```ts
 * import { serve, protocolTypeRouter, urlRouter, path } from 'spindle/channels';
 * const server = await serve(protocolTypeRouter({ http: urlRouter([path('', hello)]) }), {
 *   endpoints: ['tcp:8000:interface=127.0.0.1'],
 * });
 * console.log(`listening on ${server.addresses[0]}`);
 * process.on('SIGTERM', () => server.stop());
 * ```
 */
export function serve(app: ASGIApplication, options: ServeOptions = {}): Deferred<SpindleServer> {
  return new SpindleServer(app, options).start();
}
