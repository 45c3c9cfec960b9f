/**
 * The WebSocket half of the server: one {@link WebsocketBridge} per upgrade request joins the
 * HTTP `Request` (the handshake), Spindle's `WebSocketServerProtocol` (the connection once
 * upgraded) and the sans-IO `WebsocketCycle` (the ASGI rules) run by an `AppRunner`.
 * @module
 */
import { Deferred } from '../../defer/deferred.js';
import type { IDelayedCall } from '../../defer/clock.js';
import type { Failure } from '../../defer/failure.js';
import type { Request } from '../../http/request.js';
import { Logger } from '../../logger/index.js';
import {
  WebSocketServerProtocol,
  acceptHandshake,
  type HandshakeDecision,
  type UpgradeOutcome,
  type WebSocketServerOptions,
} from '../../websocket/server.js';
import type { WebSocket, WebSocketData } from '../../websocket/socket.js';
import { prepareMessage, type PreparedMessage } from '../../websocket/frame-serializer.js';
import { AppRunner } from '../asgi/appRunner.js';
import { ASGIConnectionClosed } from '../asgi/errors.js';
import { WebsocketCycle, type ImmediateSender, type WebsocketAction } from '../asgi/websocketCycle.js';
import type { ASGIApplication } from '../types.js';
import { connectionScope, type BridgeContext } from './httpBridge.js';

const log = new Logger('spindle.channels.server');

/** WebSocket settings of the server (seconds; null disables). */
export interface WebsocketBridgeOptions {
  /** Refuse the handshake with 403 when the application has not accepted or closed by then. */
  connectTimeout: number | null;
  /** Keepalive ping after this long (see `WebSocketOptions.pingInterval`). */
  pingInterval: number | null;
  /** Drop a connection whose keepalive ping is not answered in time (close code 1006). */
  pingTimeout: number;
  /** Close an open connection (1000) after this long, whatever it is doing. */
  maxLifetime: number | null;
  /** More settings of the WebSocket protocol (message size, compression, close timeout). */
  protocol: Pick<WebSocketServerOptions, 'maxMessageSize' | 'perMessageDeflate' | 'closeTimeout' | 'maxQueue'>;
}

type Deny = Extract<WebsocketAction, { kind: 'deny' }>;

/** Whether `request` asks to upgrade to a WebSocket (rather than, say, `h2c`). */
export function isWebsocketUpgrade(request: Request): boolean {
  if (!request.upgradeRequested) return false;
  const upgrade = request.requestHeaders.getCombined('upgrade');
  return upgrade !== undefined && /(^|,)\s*websocket\s*(,|$)/i.test(upgrade);
}

/**
 * One WebSocket connection run through an application.
 *
 * - The upgrade request is checked by the WebSocket protocol first (a malformed one is answered
 *   400, a wrong version 426, without calling the application). Then the application is called
 *   with a `websocket` scope (with `subprotocols` and the `websocket.http.response` extension)
 *   and gets `websocket.connect`; the handshake waits for its decision.
 * - `websocket.accept` → 101 with the chosen subprotocol and the application's headers;
 *   `websocket.close` before accepting → 403; a denial response (the extension) is written as
 *   the application gave it; an application that raises or returns first → 500 (the cycle's
 *   rules). No decision within `connectTimeout` → 403, and the application sees
 *   `websocket.disconnect`.
 * - Messages go both ways (`send` waits while the client's connection pushes back; reading
 *   pauses while the application lags); the close handshake and the disconnect carry the
 *   peer's code and reason. Keepalive pings and the maximum lifetime run on the reactor.
 */
export class WebsocketBridge implements ImmediateSender {
  // Read by every message sent, so first (fields are laid out in the order declared: see
  // `WebSocketProtocol`).
  #open = false;
  /** Whether text messages may go out as the shared frame (see {@link sharedFrame}). */
  #sharedFrames = false;
  /** The protocol's socket (kept here: one object fewer to go through per message). */
  readonly #socket: WebSocket;
  /** The cycle and runner, once the upgrade request was found valid (null before, or when not). */
  cycle: WebsocketCycle | null = null;
  runner: AppRunner | null = null;
  /** Called once when the connection is over (closed, refused, or lost during the handshake). */
  onGone: (() => void) | null = null;
  readonly #request: Request;
  readonly #app: ASGIApplication;
  readonly #ctx: BridgeContext;
  readonly #options: WebsocketBridgeOptions;
  readonly #track: (runner: AppRunner) => void;
  readonly #protocol: WebSocketServerProtocol;
  #decision: Deferred<HandshakeDecision> | null = null;
  #deny: Deny | null = null;
  #gone = false;
  /** What the application asked for between its accept and the socket opening. */
  #pending: Array<() => void> = [];
  #connectTimer: IDelayedCall | null = null;
  #lifetimeTimer: IDelayedCall | null = null;

  /**
   * @param track called with the runner once the application is started (the server keeps it
   *   until it ends, to wait for it when stopping).
   */
  constructor(
    request: Request,
    app: ASGIApplication,
    ctx: BridgeContext,
    options: WebsocketBridgeOptions,
    track: (runner: AppRunner) => void,
  ) {
    this.#request = request;
    this.#app = app;
    this.#ctx = ctx;
    this.#options = options;
    this.#track = track;
    this.#protocol = new WebSocketServerProtocol({
      ...options.protocol,
      reactor: ctx.clock,
      pingInterval: options.pingInterval ?? 0,
      pingTimeout: options.pingTimeout,
      onHandshake: (wsRequest) => this.#handshake(wsRequest.protocols),
    });
    const ws = this.#protocol.socket;
    this.#socket = ws;
    ws.onOpen = () => this.#opened();
    ws.onMessage = (data) => this.#message(data);
    ws.onClose = (code, reason) => this.#closed(code, reason);
  }

  /** Whether the socket is open (accepted, upgraded, not closed yet). */
  get open(): boolean {
    return this.#open;
  }

  /** Validate the upgrade and, when valid, start the application (see the class). */
  start(): void {
    const request = this.#request;
    request.notifyFinish().addErrback(() => this.#handshakeLost());
    this.#protocol
      .negotiate(
        { method: request.method, target: request.uri, versionMinor: request.versionMinor, headers: request.requestHeaders },
        request.getClientAddress(),
        request.isSecure(),
      )
      .addCallback((outcome: UpgradeOutcome) => this.#answer(outcome));
  }

  /**
   * The server is stopping: an open socket is closed with 1001 (going away); a handshake still
   * waiting for the application is refused with 503, and the application sees
   * `websocket.disconnect` with 1001.
   */
  shutdown(): void {
    if (this.#gone) return;
    if (this.#open) {
      this.#socket.close(1001, 'server shutting down');
      return;
    }
    const cycle = this.cycle;
    if (cycle !== null && (cycle.state === 'connecting' || cycle.state === 'denying')) {
      cycle.pushDisconnect(1001, 'server shutting down');
      this.#decide({ accept: false, status: 503 });
    }
  }

  // ------------------------------------------------------------------ the handshake

  /** The upgrade request is valid: run the application and wait for its decision. */
  #handshake(protocols: readonly string[]): Deferred<HandshakeDecision> {
    const request = this.#request;
    const offered = [...protocols];
    const scope = connectionScope(request, 'websocket', this.#ctx);
    scope.subprotocols = offered;
    scope.extensions = { 'websocket.http.response': {} };
    const cycle = new WebsocketCycle((action) => this.#perform(action), {
      subprotocols: offered,
      httpResponseExtension: true,
      sendNow: this,
    });
    this.cycle = cycle;
    const decision = new Deferred<HandshakeDecision>();
    this.#decision = decision;
    const runner = new AppRunner(this.#app, scope, cycle, {
      clock: this.#ctx.clock,
      applicationCloseTimeout: this.#ctx.applicationCloseTimeout,
    });
    this.runner = runner;
    const timeout = this.#options.connectTimeout;
    if (timeout !== null && timeout !== Infinity) {
      this.#connectTimer = this.#ctx.clock.callLater(timeout, () => this.#connectTimedOut(timeout));
    }
    cycle.pushConnect();
    this.#track(runner);
    runner.start();
    return decision;
  }

  /** Settle the handshake (once). */
  #decide(decision: HandshakeDecision): void {
    this.#cancelConnectTimer();
    const d = this.#decision;
    if (d !== null && !d.called) d.callback(decision);
  }

  /** The handshake's answer: the 101 (the socket opens), or a refusal written as HTTP. */
  #answer(outcome: UpgradeOutcome): void {
    const request = this.#request;
    if (request.disconnected) return;
    if (outcome.ok) {
      request.upgrade(this.#protocol, { headers: outcome.headers });
      return;
    }
    this.#setGone();
    const deny = this.#deny;
    if (deny !== null) {
      request.setResponseCode(deny.status);
      for (const [name, value] of deny.headers) request.addHeader(name, value);
      request.finish(deny.body);
      return;
    }
    // Refused before the application could decide (invalid request, timeout, shutdown), or
    // the 101 could not be written: the application, if started, learns it is over.
    const cycle = this.cycle;
    if (cycle !== null && !cycle.closed) cycle.pushDisconnect(1006, '');
    request.setResponseCode(outcome.status);
    const hasUpgrade = outcome.headers.some(([n]) => n.toLowerCase() === 'upgrade');
    if (outcome.status === 426 && !hasUpgrade) request.addHeader('Upgrade', 'websocket');
    for (const [name, value] of outcome.headers) request.addHeader(name, value);
    request.setHeader('Content-Type', 'text/plain; charset=utf-8');
    request.finish(`${outcome.body}\n`);
  }

  #connectTimedOut(timeout: number): void {
    this.#connectTimer = null;
    const cycle = this.cycle;
    if (cycle === null || (cycle.state !== 'connecting' && cycle.state !== 'denying')) return;
    log.warn('WebSocket {path}: the application did not accept or refuse within {timeout} s; answered 403', {
      path: this.#request.path,
      timeout,
    });
    cycle.pushDisconnect(1006, '');
    this.#decide({ accept: false, status: 403 });
  }

  /** The client went away before the handshake completed. */
  #handshakeLost(): void {
    if (this.#open || this.#gone) return;
    this.#setGone();
    this.#cancelConnectTimer();
    this.cycle?.pushDisconnect(1006, '');
    this.#decide({ accept: false, status: 400 });
  }

  // ------------------------------------------------------------------ the application's actions

  #perform(action: WebsocketAction): void | Deferred<void> {
    switch (action.kind) {
      case 'accept':
        this.#decide(acceptHandshake({ protocol: action.subprotocol, headers: action.headers }));
        return;
      case 'deny':
        if (action.status === 500 && action.error === null) {
          log.warn('WebSocket {path}: {reason}; answered 500', { path: this.#request.path, reason: action.reason });
        }
        this.#deny = action;
        this.#decide({ accept: false, status: action.status });
        return;
      case 'message': {
        const data = action.data;
        // Open (nearly always): straight to the socket, no closure for #whenOpen.
        return this.#open ? this.#send(data) : this.#whenOpen(() => this.#send(data));
      }
      case 'close': {
        const { code, reason } = action;
        return this.#whenOpen(() => {
          this.#socket.close(code, reason);
          return undefined;
        });
      }
      case 'resume-reading':
        this.#socket.resumeProducing();
        return;
    }
  }

  /**
   * The `message` action: the socket's send (written at once when it can be, queued otherwise).
   * The hot path, a message that can go out at once, is `sendNow`, which `trySend` calls first.
   */
  #send(data: string | Uint8Array): Deferred<void> {
    const socket = this.#socket;
    if (this.#shareable(data)) return socket.sendPrepared(sharedFrame(data)).addErrback(sendFailed);
    return socket.send(data).addErrback(sendFailed);
  }

  /**
   * @internal The cycle's {@link ImmediateSender}: write `data` to the open socket at once if
   * nothing stands in its way; false: nothing done.
   */
  sendNow(data: string | Uint8Array): boolean {
    if (this.#open !== true) return false; // (!== true: see #shareable)
    const socket = this.#socket;
    if (this.#shareable(data)) return socket._sendPreparedNow(sharedFrame(data));
    return socket._sendNow(data);
  }

  /** Whether `data` goes out as the frame shared by every connection sending the same text. */
  #shareable(data: string | Uint8Array): data is string {
    // `=== true`: a boolean field read is of unknown type to the compiler, and testing its
    // truth otherwise takes the generic sequence (false? empty string? number? ...) per send.
    return typeof data === 'string' && this.#sharedFrames === true && data.length <= SHARED_FRAME_MAX;
  }

  /**
   * Run `fn` now if the socket is open; else once it opens (the accept is answered, the 101 is
   * on its way: an application may send right after accepting). Fails with
   * `ASGIConnectionClosed` if the connection ends first.
   */
  #whenOpen(fn: () => Deferred<void> | undefined): Deferred<void> | undefined {
    if (this.#open) return fn();
    if (this.#gone) return failClosed();
    const d = new Deferred<void>();
    this.#pending.push(() => {
      if (!this.#open) {
        d.errback(new ASGIConnectionClosed('the WebSocket closed before it opened'));
        return;
      }
      const r = fn();
      if (r === undefined) d.callback(undefined);
      else r.chainDeferred(d);
    });
    return d;
  }

  // ------------------------------------------------------------------ the socket

  #opened(): void {
    this.#open = true;
    // A prepared frame is exactly what `send` would write unless an extension (compression)
    // transforms this connection's messages.
    this.#sharedFrames = this.#socket.extensions === '';
    const lifetime = this.#options.maxLifetime;
    if (lifetime !== null && lifetime !== Infinity) {
      this.#lifetimeTimer = this.#ctx.clock.callLater(lifetime, () => {
        this.#lifetimeTimer = null;
        this.#socket.close(1000, 'maximum lifetime reached');
      });
    }
    this.#runPending();
  }

  #message(data: WebSocketData): void {
    const cycle = this.cycle;
    if (cycle === null) return;
    if (!cycle.pushMessage(data)) this.#socket.pauseProducing();
  }

  #closed(code: number, reason: string): void {
    const wasOpen = this.#open;
    this.#open = false;
    this.#setGone();
    const t = this.#lifetimeTimer;
    this.#lifetimeTimer = null;
    if (t !== null && t.active()) t.cancel();
    this.#runPending();
    this.cycle?.pushDisconnect(wasOpen ? code : 1006, wasOpen ? reason : '');
  }

  #setGone(): void {
    if (this.#gone) return;
    this.#gone = true;
    const cb = this.onGone;
    this.onGone = null;
    cb?.();
  }

  #runPending(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const fn of pending) fn();
  }

  #cancelConnectTimer(): void {
    const t = this.#connectTimer;
    this.#connectTimer = null;
    if (t !== null && t.active()) t.cancel();
  }
}

function sendFailed(f: Failure): never {
  throw new ASGIConnectionClosed(`websocket.send: ${f.getErrorMessage()}`);
}

/** Texts up to this length (UTF-16 units) are framed once for every socket; longer ones, per socket. */
const SHARED_FRAME_MAX = 64 * 1024;
let lastText: string | null = null;
let lastFrame: PreparedMessage | null = null;

/**
 * The frame of `text`, made once for consecutive sends of the same text by any connection: a
 * group broadcast hands one text to every member, whose consumers each send it on, so the
 * broadcast is framed (and UTF-8 encoded) once and the same bytes are written to every socket.
 * A text compares equal (`===`, by content) only to itself, so a frame is never reused for
 * another text; server frames are unmasked, so the bytes are the same for every peer. Only the
 * last text is kept, and only a short one (no large buffer held after its broadcast).
 */
function sharedFrame(text: string): PreparedMessage {
  if (text !== lastText || lastFrame === null) {
    lastFrame = prepareMessage(text);
    lastText = text;
  }
  return lastFrame;
}

function failClosed(): Deferred<void> {
  const d = new Deferred<void>();
  d.errback(new ASGIConnectionClosed('the WebSocket is closed'));
  return d;
}
