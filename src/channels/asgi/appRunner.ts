/**
 * Running one ASGI application instance: calling `app(scope, receive, send)` over a connection,
 * isolating whatever it throws, and killing it when it outlives its connection.
 */
import { Deferred, fail, isThenable, succeed } from '../../defer/deferred.js';
import { CancelledError } from '../../defer/errors.js';
import { Failure } from '../../defer/failure.js';
import type { IReactorTime } from '../../defer/clock.js';
import { reactor } from '../../reactor/default.js';
import { Logger } from '../../logger/index.js';
import type { ASGIApplication, ASGIEvent, Scope, Send } from '../types.js';
import type { ASGIConnection } from './connection.js';
import type { CloseTimeouts } from './closeTimeouts.js';
import { ApplicationCloseTimeoutError, ASGIConnectionClosed } from './errors.js';

const log = new Logger('spindle.channels');

/**
 * What the application's `send` gives when the connection carried the event out at once (see
 * `ASGIConnection.trySend`): one resolved Promise for every such send. Sharing it is safe: a
 * Promise's outcome cannot be changed from outside, and it is frozen against expando keys.
 */
const SENT: Promise<void> = Object.freeze(Promise.resolve()) as Promise<void>;

/**
 * Whether `result` (what an application's `send` gave) is the shared Promise of a send carried
 * out at once: code that wants a Deferred for it (a consumer's `send`) can then use
 * `succeed(undefined)` instead of following the Promise (a microtask, two closures).
 */
export function sentAtOnce(result: unknown): boolean {
  return result === SENT;
}

/** What an application's `send` does, as a method of an object (see {@link senderOf}). */
export interface EventSender {
  sendEvent(event: ASGIEvent): PromiseLike<void>;
}

/**
 * Where a `send` function an AppRunner handed out keeps its runner. A property of the function
 * rather than a WeakMap entry: an HTTP server starts a runner per request, and a WeakMap that
 * large costs the garbage collector on every young-generation collection.
 */
const kRunner = Symbol('spindle.appRunner');
type RunnerSend = Send & { [kRunner]?: unknown };

/**
 * @internal `send` as an object: for an AppRunner's own `send`, the runner itself (its
 * `sendEvent` is what `send` does); any other function is wrapped. A consumer keeps this instead
 * of the function: it sends once per group member a broadcast reaches, and calling the runner
 * directly reads one object where the function reads two more (itself and its context).
 */
export function senderOf(send: Send): EventSender {
  const runner = (send as RunnerSend)[kRunner];
  return runner instanceof AppRunner ? runner : { sendEvent: (event) => send(event) };
}

/** A rejection as the Failure `Deferred.errback` would make of it. */
function rejection(e: unknown): Failure {
  if (e instanceof Failure) return e;
  return new Failure(e === undefined ? new Error('Deferred.errback() was called without an error') : e);
}

/** A close-timeout countdown: a DelayedCall of its own, or a place in a shared {@link CloseTimeouts}. */
interface Countdown {
  active(): boolean;
  cancel(): void;
}

/** Options of an {@link AppRunner}. */
export interface AppRunnerOptions {
  /** Time for the application-close timeout. Default: the global reactor. */
  clock?: IReactorTime;
  /**
   * Seconds an instance may keep running after its connection closed before it is cancelled
   * and logged (once). Default 10 (Daphne's `--application-close-timeout`); `Infinity`: never.
   */
  applicationCloseTimeout?: number;
  /**
   * Log an exception the application raises (level `error`, "Exception inside application").
   * Default true, as a server does; the communicators turn it off and re-raise it in the test.
   */
  logErrors?: boolean;
  /**
   * Take the application-close timeout from this shared list instead (its clock and timeout
   * replace `clock` and `applicationCloseTimeout`): a server running many instances arms one
   * timer for all of them rather than one per instance.
   */
  closeTimeouts?: CloseTimeouts;
}

/** How an instance ended. */
export type AppOutcome =
  | { kind: 'returned' }
  | { kind: 'raised'; failure: Failure }
  | { kind: 'cancelled'; failure: Failure };

/** The outcome of every instance that returned (it carries nothing, so it is shared; frozen). */
const RETURNED: AppOutcome = Object.freeze({ kind: 'returned' });

/**
 * Runs one application instance on one {@link ASGIConnection}.
 *
 * - `receive`/`send` given to the application are the connection's, refused once the instance
 *   was cancelled (`CancelledError`). A `send` the connection carries out at once (see
 *   `ASGIConnection.trySend`) gives an already-resolved Promise rather than a Deferred.
 * - Whatever the application does — throw synchronously, reject, return a non-promise — ends up
 *   in {@link AppRunner.outcome} and in `connection.applicationFinished`, never in the caller:
 *   one crashing instance cannot affect another. An `ASGIConnectionClosed` that escapes the
 *   application counts as a normal return (ASGI: the server swallows it). Other exceptions are
 *   logged once when `logErrors`.
 * - When the connection closes while the application still runs, a timer of
 *   `applicationCloseTimeout` seconds starts on the clock (one per instance, no shared reaper
 *   loop); when it fires, the instance is cancelled — its pending `receive()` fails with
 *   `CancelledError`, a Deferred it returned is cancelled — and an
 *   {@link ApplicationCloseTimeoutError} is logged once. Its later outcome is ignored.
 *
 * @example
 * ```ts
 * const cycle = new HttpCycle(perform);
 * const runner = new AppRunner(app, scope, cycle, { clock: reactor });
 * runner.start();
 * runner.whenFinished().addErrback(() => undefined); // the cycle already answered 500/abort
 * ```
 */
export class AppRunner {
  // Read by every event sent, so first (fields are laid out in the order declared: see
  // `WebSocketProtocol`).
  #outcome: AppOutcome | null = null;
  readonly #connection: ASGIConnection;
  readonly #app: ASGIApplication;
  readonly #scope: Scope;
  readonly #clock: IReactorTime | null;
  readonly #closeTimeout: number;
  readonly #logErrors: boolean;
  readonly #closeTimeouts: CloseTimeouts | null;
  #started = false;
  #returned: Deferred<unknown> | null = null;
  /** receive() calls not answered yet (made on first use: most instances never wait). */
  #pending: Set<Deferred<ASGIEvent>> | null = null;
  #timer: Countdown | null = null;
  #watchers: Deferred<void>[] | null = null;

  /** @throws RangeError when `applicationCloseTimeout` is negative or not a number. */
  constructor(app: ASGIApplication, scope: Scope, connection: ASGIConnection, options: AppRunnerOptions = {}) {
    this.#app = app;
    this.#scope = scope;
    this.#connection = connection;
    const shared = options.closeTimeouts ?? null;
    this.#closeTimeouts = shared;
    this.#clock = options.clock ?? null;
    const timeout = shared !== null ? shared.timeout : (options.applicationCloseTimeout ?? 10);
    if (!(timeout >= 0)) throw new RangeError('AppRunner: applicationCloseTimeout must be a number of seconds >= 0');
    this.#closeTimeout = timeout;
    this.#logErrors = options.logErrors ?? true;
  }

  /** The scope the application is called with. */
  get scope(): Scope {
    return this.#scope;
  }

  /** Whether `start` was called. */
  get started(): boolean {
    return this.#started;
  }

  /** Whether the instance has ended (returned, raised or cancelled). */
  get finished(): boolean {
    return this.#outcome !== null;
  }

  /** How the instance ended, or null while it runs. */
  get outcome(): AppOutcome | null {
    return this.#outcome;
  }

  /**
   * Call the application (once; later calls do nothing). Never throws: a synchronous throw is
   * the instance's outcome.
   */
  start(): this {
    if (this.#started) return this;
    this.#started = true;
    const connection = this.#connection;
    connection.onClosed = () => this.#connectionClosed();
    let result: unknown;
    try {
      const send: RunnerSend = (event) => this.#send(event);
      send[kRunner] = this;
      result = this.#app(this.#scope, () => this.#receive(), send);
    } catch (e) {
      this.#end(e);
      return this;
    }
    if (result instanceof Promise) {
      // Every async function: followed directly, without a Deferred (there is nothing to cancel
      // in a native Promise; a killed instance's late outcome is ignored by #end anyway).
      result.then(
        () => this.#end(undefined, true),
        (e: unknown) => this.#end(rejection(e)),
      );
    } else if (isThenable(result)) {
      const d = result instanceof Deferred ? (result as Deferred<unknown>) : Deferred.fromPromise(result);
      this.#returned = d;
      d.addCallbacks(
        () => this.#end(undefined, true),
        (f: Failure) => this.#end(f),
      );
    } else {
      this.#end(undefined, true);
    }
    if (this.#outcome === null && connection.closed) this.#connectionClosed();
    return this;
  }

  /**
   * A Deferred that fires when the instance has ended: with nothing when it returned, with its
   * failure when it raised or was cancelled. Each call gives a new Deferred.
   */
  whenFinished(): Deferred<void> {
    const o = this.#outcome;
    if (o !== null) return o.kind === 'returned' ? succeed<void>(undefined) : fail(o.failure);
    const d = new Deferred<void>((cancelled) => {
      const watchers = this.#watchers;
      const i = watchers === null ? -1 : watchers.indexOf(cancelled);
      if (i !== -1) watchers!.splice(i, 1);
    });
    (this.#watchers ??= []).push(d);
    return d;
  }

  /**
   * Cancel the instance now (a no-op when it has ended): its pending `receive()` calls fail with
   * `CancelledError`, later `receive`/`send` calls too, and a Deferred it returned is cancelled.
   * The outcome is `cancelled` with `error` (default a `CancelledError`).
   */
  cancel(error: Error = new CancelledError('the application instance was cancelled')): void {
    if (this.#outcome !== null) return;
    this.#outcome = { kind: 'cancelled', failure: new Failure(error) };
    this.#stopTimer();
    const waiting = this.#pending;
    this.#pending = null;
    if (waiting !== null) for (const d of [...waiting]) d.cancel();
    const returned = this.#returned;
    if (returned !== null) {
      returned.cancel();
    }
    this.#notify();
    this.#finishConnection(this.#outcome.failure);
  }

  /** @internal What the application's `send` does (see {@link senderOf}). */
  sendEvent(event: ASGIEvent): PromiseLike<void> {
    return this.#send(event);
  }

  // ------------------------------------------------------------------ internals

  #receive(): Deferred<ASGIEvent> {
    if (this.#outcome?.kind === 'cancelled') return fail(new CancelledError('the application instance was cancelled'));
    let d: Deferred<ASGIEvent>;
    try {
      d = this.#connection.receive();
    } catch (e) {
      return fail(e);
    }
    if (!d.called) {
      const pending = (this.#pending ??= new Set());
      pending.add(d);
      d.addBoth((r: ASGIEvent | Failure) => {
        pending.delete(d);
        return r;
      });
    }
    return d;
  }

  #send(event: ASGIEvent): PromiseLike<void> {
    if (this.#outcome?.kind === 'cancelled') return fail(new CancelledError('the application instance was cancelled'));
    const connection = this.#connection;
    try {
      if (connection.trySend === undefined) return connection.send(event);
      // Carried out at once (nearly every send): the shared resolved Promise, no Deferred.
      return connection.trySend(event) ?? SENT;
    } catch (e) {
      return fail(e);
    }
  }

  /** The application's coroutine ended (`ok`) or raised (`error`). */
  #end(error: unknown, ok = false): undefined {
    if (this.#outcome !== null) return undefined; // cancelled earlier: its late outcome is ignored
    this.#stopTimer();
    let failure: Failure | null = null;
    if (ok) {
      this.#outcome = RETURNED;
    } else {
      failure = Failure.from(error);
      if (failure.check(ASGIConnectionClosed) !== null) {
        // ASGI: a send on a closed connection may raise; the server swallows it, unlogged.
        failure = null;
        this.#outcome = RETURNED;
      } else {
        this.#outcome = { kind: 'raised', failure };
        if (this.#logErrors) {
          log.failure('Exception inside application ({scopeType} {path})', failure, this.#fields(), 'error');
        }
      }
    }
    this.#notify();
    this.#finishConnection(failure);
    return undefined;
  }

  #finishConnection(failure: Failure | null): void {
    try {
      this.#connection.applicationFinished(failure);
    } catch (e) {
      log.failure('The connection failed to handle the end of its application ({scopeType} {path})', e, this.#fields(), 'error');
    }
  }

  #notify(): void {
    const o = this.#outcome!;
    const watchers = this.#watchers;
    if (watchers === null) return;
    this.#watchers = null;
    for (const w of watchers) {
      if (o.kind === 'returned') w.callback(undefined);
      else w.errback(o.failure);
    }
  }

  #connectionClosed(): void {
    if (this.#outcome !== null || this.#timer !== null || !this.#started) return;
    if (this.#closeTimeout === Infinity) return;
    const shared = this.#closeTimeouts;
    if (shared !== null) {
      this.#timer = shared.start(() => {
        this.#timer = null;
        this.#kill();
      });
      return;
    }
    const clock = this.#clock ?? reactor;
    this.#timer = clock.callLater(this.#closeTimeout, () => {
      this.#timer = null;
      this.#kill();
    });
  }

  #kill(): void {
    if (this.#outcome !== null) return;
    const error = new ApplicationCloseTimeoutError(this.#closeTimeout);
    log.failure(
      'Application instance ({scopeType} {path}) took too long to shut down and was killed',
      error,
      { ...this.#fields(), timeout: this.#closeTimeout },
      'error',
    );
    this.cancel(error);
  }

  #stopTimer(): void {
    const t = this.#timer;
    this.#timer = null;
    if (t !== null && t.active()) t.cancel();
  }

  #fields(): Record<string, unknown> {
    return { scopeType: this.#scope.type, path: this.#scope.path ?? this.#scope.channel ?? '' };
  }
}
