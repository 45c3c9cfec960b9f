/**
 * ApplicationCommunicator: drive one ASGI application instance from a test, event by event,
 * through the same state machines and runner the server uses.
 */
import { Deferred, fail, succeed } from '../../defer/deferred.js';
import { CancelledError, TimeoutError } from '../../defer/errors.js';
import type { Failure } from '../../defer/failure.js';
import type { IDelayedCall, IReactorTime } from '../../defer/clock.js';
import { DeferredQueue } from '../../defer/primitives.js';
import { reactor } from '../../reactor/default.js';
import { AppRunner } from '../asgi/appRunner.js';
import { QueueConnection, type ASGIConnection } from '../asgi/connection.js';
import { HttpCycle, type HttpAction } from '../asgi/httpCycle.js';
import { WebsocketCycle, type WebsocketAction } from '../asgi/websocketCycle.js';
import type { ASGIApplication, ASGIEvent, Scope } from '../types.js';

/** Options shared by the communicators. */
export interface CommunicatorOptions {
  /**
   * Where timeouts run. Default: the global reactor (real time). With a `Clock`, a timeout only
   * expires when the test advances the clock.
   */
  clock?: IReactorTime;
  /** The runner's application-close timeout (seconds after the connection closed). Default 10. */
  applicationCloseTimeout?: number;
  /**
   * Run `http`/`websocket` scopes through the server's state machines (`HttpCycle`,
   * `WebsocketCycle`) so protocol violations fail as in production. Default true; false gives
   * plain queues (anything the application sends is output as it is).
   */
  strict?: boolean;
}

/**
 * `receiveOutput` (or a method built on it) waited for an event, but the application had
 * already returned without sending one.
 */
export class ApplicationExitedError extends Error {
  override name = 'ApplicationExitedError';
  constructor(message = 'the application returned without sending another event') {
    super(message);
  }
}

/** Every action the server side took, for tests that check what a server would have done. */
export type ServerAction = HttpAction | WebsocketAction;

/**
 * Drives one application instance (asgiref's `ApplicationCommunicator`): `sendInput` puts an
 * event in front of the application's `receive()`, `receiveOutput` takes the next event it
 * sent. All methods return Deferreds (`await` them).
 *
 * - For `http` and `websocket` scopes the events go through `HttpCycle` / `WebsocketCycle`, the
 *   state machines of the real server: an event that breaks the protocol fails the
 *   application's `send` exactly as in production, and only accepted events are output.
 *   `sendInput` then takes the input events of that protocol (`http.request`,
 *   `http.disconnect`; `websocket.connect`, `websocket.receive`, `websocket.disconnect`).
 *   Other scope types use plain queues.
 * - The application starts on the first call of any method.
 * - The application's exception is re-raised: by `receiveOutput` once the events it sent before
 *   crashing are taken, by `sendInput`, `receiveNothing`, `wait` and `stop`.
 * - A `receiveOutput` or `wait` that times out cancels the application (as asgiref does) and
 *   fails with `TimeoutError`.
 *
 * @example
 * ```ts
 * const comm = new ApplicationCommunicator(app, { type: 'channel', channel: 'thumbnails' });
 * await comm.sendInput({ type: 'thumbnail.generate', id: 7 });
 * expect(await comm.receiveOutput()).toEqual({ type: 'thumbnail.done', id: 7 });
 * await comm.stop();
 * ```
 */
export class ApplicationCommunicator {
  /** The scope the application is called with (mutable until the application starts). */
  readonly scope: Scope;
  /** What the server side did (`head`, `abort`, `accept`, `deny`…), in order. */
  readonly serverActions: ServerAction[] = [];
  protected readonly clock: IReactorTime;
  protected readonly runner: AppRunner;
  protected readonly httpCycle: HttpCycle | null = null;
  protected readonly websocketCycle: WebsocketCycle | null = null;
  readonly #queue: QueueConnection | null = null;
  readonly #output = new DeferredQueue<ASGIEvent>();
  readonly #arrivals = new Set<() => void>();

  constructor(app: ASGIApplication, scope: Scope, options: CommunicatorOptions = {}) {
    this.scope = scope;
    this.clock = options.clock ?? reactor;
    const strict = options.strict ?? true;
    let connection: ASGIConnection;
    if (strict && scope.type === 'http') {
      const cycle = new HttpCycle((a) => this.#record(a));
      this.httpCycle = cycle;
      connection = observe(cycle, (e) => this.#pushOutput(e));
    } else if (strict && scope.type === 'websocket') {
      const cycle = new WebsocketCycle((a) => this.#record(a), {
        subprotocols: scope.subprotocols ?? [],
        httpResponseExtension: scope.extensions?.['websocket.http.response'] !== undefined,
      });
      this.websocketCycle = cycle;
      connection = observe(cycle, (e) => this.#pushOutput(e));
    } else {
      const queue = new QueueConnection((e) => this.#pushOutput(e));
      this.#queue = queue;
      connection = queue;
    }
    this.runner = new AppRunner(app, scope, connection, {
      clock: this.clock,
      logErrors: false,
      ...(options.applicationCloseTimeout !== undefined ? { applicationCloseTimeout: options.applicationCloseTimeout } : {}),
    });
  }

  /**
   * Give `event` to the application's next `receive()`.
   * Fails with the application's exception when it already crashed; with a TypeError when
   * `event` is not an input event of the scope's protocol.
   */
  sendInput(event: ASGIEvent): Deferred<void> {
    this.runner.start();
    const o = this.runner.outcome;
    if (o !== null && o.kind === 'raised') return fail(o.failure);
    try {
      this.#input(event);
    } catch (e) {
      return fail(e);
    }
    return succeed<void>(undefined);
  }

  /**
   * The next event the application sent, waiting up to `timeout` seconds for it.
   * Fails with the application's exception when it crashed (after the events it sent before);
   * with {@link ApplicationExitedError} when it returned and sent nothing more; with
   * `TimeoutError` after `timeout` (the application is then cancelled).
   */
  receiveOutput(timeout = 1): Deferred<ASGIEvent> {
    this.runner.start();
    if (this.#output.pending.length > 0) return this.#output.get();
    const ended = this.#ended<ASGIEvent>();
    if (ended !== null) return ended;
    const get = this.#output.get();
    return this.#race(get, timeout, 'receiveOutput', () => this.#ended<ASGIEvent>()!);
  }

  /**
   * Whether the application sends nothing within `timeout` seconds: true when nothing arrived,
   * false as soon as something does (it stays queued for `receiveOutput`). Fails with the
   * application's exception when it crashes. `interval` is accepted for compatibility with
   * Channels and unused: arrivals are noticed as they happen.
   */
  receiveNothing(timeout = 0.1, _interval = 0.01): Deferred<boolean> {
    this.runner.start();
    if (this.#output.pending.length > 0) return succeed(false);
    const o = this.runner.outcome;
    if (o !== null) return o.kind === 'raised' ? fail(o.failure) : succeed(true);
    const result = new Deferred<boolean>();
    let timer: IDelayedCall | null = null;
    const finished = this.runner.whenFinished();
    let done = false;
    const settle = (value: boolean | Failure): void => {
      if (done) return;
      done = true;
      this.#arrivals.delete(onArrival);
      if (timer !== null && timer.active()) timer.cancel();
      finished.cancel();
      if (typeof value === 'boolean') result.callback(value);
      else result.errback(value);
    };
    const onArrival = (): void => settle(false);
    this.#arrivals.add(onArrival);
    finished.addCallbacks(
      () => settle(this.#output.pending.length === 0),
      (f: Failure) => settle(this.#output.pending.length > 0 ? false : f.check(CancelledError) ? true : f),
    );
    if (!done) timer = this.clock.callLater(timeout, () => settle(true));
    return result;
  }

  /**
   * Wait up to `timeout` seconds for the application to return. Fails with its exception; with
   * `TimeoutError` after `timeout` (the application is then cancelled).
   */
  wait(timeout = 1): Deferred<void> {
    this.runner.start();
    const ended = this.#finishedResult();
    if (ended !== null) return ended;
    const finished = this.runner.whenFinished().addErrback((f: Failure) => {
      if (f.check(CancelledError) !== null && f.value.constructor === CancelledError) return undefined;
      return f;
    });
    return this.#race(finished, timeout, 'wait', null);
  }

  /**
   * Cancel the application if it still runs. With `exceptions` (default true), fails with the
   * exception it had already crashed with.
   */
  stop(options: { exceptions?: boolean } = {}): Deferred<void> {
    const o = this.runner.outcome;
    if (o === null) {
      if (this.runner.started) this.runner.cancel();
      return succeed<void>(undefined);
    }
    if (o.kind === 'raised' && (options.exceptions ?? true)) return fail(o.failure);
    return succeed<void>(undefined);
  }

  // ------------------------------------------------------------------ for subclasses

  /** Whether an event the application sent waits in the output queue. */
  protected get hasOutput(): boolean {
    return this.#output.pending.length > 0;
  }

  // ------------------------------------------------------------------ internals

  #record(action: ServerAction): void {
    this.serverActions.push(action);
  }

  #pushOutput(event: ASGIEvent): void {
    this.#output.put(event);
    for (const f of [...this.#arrivals]) f();
  }

  /** Turn a test's input event into the connection's server-side input. */
  #input(event: ASGIEvent): void {
    if (typeof event !== 'object' || event === null || typeof event.type !== 'string') {
      throw new TypeError('sendInput needs an event: an object with a string "type"');
    }
    if (this.#queue !== null) {
      this.#queue.put(event);
      return;
    }
    const http = this.httpCycle;
    if (http !== null) {
      if (event.type === 'http.request') {
        const body = event.body ?? new Uint8Array(0);
        if (!(body instanceof Uint8Array)) throw new TypeError('http.request: "body" must be a Uint8Array');
        http.pushBody(body, event.more_body === true);
      } else if (event.type === 'http.disconnect') {
        http.pushDisconnect();
      } else {
        throw new TypeError(`${JSON.stringify(event.type)} is not an input event of HTTP (http.request, http.disconnect)`);
      }
      return;
    }
    const ws = this.websocketCycle!;
    switch (event.type) {
      case 'websocket.connect':
        ws.pushConnect();
        return;
      case 'websocket.receive': {
        const { text, bytes } = event;
        if (typeof text === 'string' && (bytes === undefined || bytes === null)) ws.pushMessage(text);
        else if (bytes instanceof Uint8Array && (text === undefined || text === null)) ws.pushMessage(bytes);
        else throw new TypeError('websocket.receive needs exactly one of "text" (string) and "bytes" (Uint8Array)');
        return;
      }
      case 'websocket.disconnect':
        ws.pushDisconnect(typeof event.code === 'number' ? event.code : 1005, typeof event.reason === 'string' ? event.reason : '');
        return;
      default:
        throw new TypeError(
          `${JSON.stringify(event.type)} is not an input event of WebSocket (websocket.connect, websocket.receive, websocket.disconnect)`,
        );
    }
  }

  /** For an application that has ended: the failure to report (its exception, or "exited"). */
  #ended<T>(): Deferred<T> | null {
    const o = this.runner.outcome;
    if (o === null) return null;
    if (o.kind === 'returned') return fail<T>(new ApplicationExitedError());
    return fail<T>(o.failure);
  }

  #finishedResult(): Deferred<void> | null {
    const o = this.runner.outcome;
    if (o === null) return null;
    if (o.kind === 'returned') return succeed<void>(undefined);
    if (o.kind === 'cancelled' && o.failure.value.constructor === CancelledError) return succeed<void>(undefined);
    return fail(o.failure);
  }

  /**
   * `waited`'s result, unless the application ends first (then `onEnd()`'s, when given) or
   * `timeout` passes first (then the application is cancelled and this fails with TimeoutError).
   */
  #race<T>(waited: Deferred<T>, timeout: number, what: string, onEnd: (() => Deferred<T>) | null): Deferred<T> {
    const result = new Deferred<T>();
    const finished = onEnd === null ? null : this.runner.whenFinished();
    let done = false;
    const settle = (value: T | Failure, isFailure: boolean): void => {
      // Marked first: cancelling the losers below fires their callbacks, which must do nothing.
      if (done) return;
      done = true;
      if (timer.active()) timer.cancel();
      waited.cancel();
      finished?.cancel();
      if (isFailure) result.errback(value);
      else result.callback(value as T);
    };
    const timer = this.clock.callLater(timeout, () => {
      if (done) return;
      settle(new TimeoutError(timeout, what) as unknown as T, true);
      this.runner.cancel();
    });
    waited.addCallbacks(
      (v: T) => settle(v, false),
      (f: Failure) => settle(f as unknown as T, true),
    );
    finished?.addBoth(() => {
      if (done) return;
      onEnd!().addCallbacks(
        (v: T) => settle(v, false),
        (f: Failure) => settle(f as unknown as T, true),
      );
    });
    return result;
  }
}

/**
 * `cycle` as a connection whose accepted `send`s are also reported to `output` (an event the
 * state machine refused is not output: the application's `send` failed instead).
 */
function observe(cycle: ASGIConnection, output: (event: ASGIEvent) => void): ASGIConnection {
  return {
    receive: () => cycle.receive(),
    send: (event) => {
      const d = cycle.send(event);
      let accepted = false;
      d.addCallback(() => {
        accepted = true;
      });
      // Validation is synchronous: an accepted event is output at once, before flow control.
      if (accepted || !d.called) output(event);
      return d;
    },
    applicationFinished: (failure) => cycle.applicationFinished(failure),
    get closed() {
      return cycle.closed;
    },
    get onClosed() {
      return cycle.onClosed;
    },
    set onClosed(fn) {
      cycle.onClosed = fn;
    },
  };
}
