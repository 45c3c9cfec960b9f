/**
 * The ASGI lifespan protocol (2.0): one application instance per server, told when the server
 * starts and stops, with a `state` dict it fills at startup and every connection scope gets a
 * shallow copy of.
 */
import { Deferred, fail, succeed } from '../../defer/deferred.js';
import { DeferredQueue } from '../../defer/primitives.js';
import type { Failure } from '../../defer/failure.js';
import type { IReactorTime } from '../../defer/clock.js';
import { Logger } from '../../logger/index.js';
import { reactor } from '../../reactor/default.js';
import type { ASGIApplication, ASGIEvent, Scope } from '../types.js';
import { AppRunner } from './appRunner.js';
import type { ASGIConnection } from './connection.js';
import { ASGIConnectionClosed, ASGIProtocolError, LifespanShutdownFailed, LifespanStartupFailed } from './errors.js';
import { checkString, requireEvent } from './validate.js';

const log = new Logger('spindle.channels.lifespan');

/** Options of a {@link Lifespan}. */
export interface LifespanOptions {
  /** Time for the timeouts below. Default: the global reactor. */
  clock?: IReactorTime;
  /** Seconds `startup()` waits for the application's answer; default: no limit. */
  startupTimeout?: number;
  /** Seconds `shutdown()` waits for the application's answer; default: no limit. */
  shutdownTimeout?: number;
}

type Phase = 'idle' | 'startup' | 'started' | 'shutdown' | 'done';

/**
 * Runs an application's lifespan instance.
 *
 * - `startup()` calls the application with a `lifespan` scope (`state` is {@link Lifespan.state})
 *   and sends `lifespan.startup`. It fires when the application answers
 *   `lifespan.startup.complete`; it fails with {@link LifespanStartupFailed} on
 *   `lifespan.startup.failed` (the server must then not serve). An application that raises (or
 *   returns) before answering does not support lifespan (a `protocolTypeRouter` without a
 *   `lifespan` entry, say): `supported` becomes false, this is logged at `info`, and `startup()`
 *   fires anyway — the server serves without lifespan, as the spec asks.
 * - `shutdown()` sends `lifespan.shutdown` and fires on `lifespan.shutdown.complete` (fails with
 *   {@link LifespanShutdownFailed} on `lifespan.shutdown.failed`); at once when lifespan is
 *   unsupported or the instance already ended.
 * - `scope(base)` gives a connection scope with `state` set to a shallow copy of the lifespan
 *   state (unchanged when lifespan is unsupported: `state` is then absent, per the spec).
 *
 * Events the application sends out of turn fail its `send` with `ASGIProtocolError`. An
 * application that crashes after a completed startup is logged (`error`).
 *
 * @example
 * ```ts
 * const lifespan = new Lifespan(app, { clock: reactor });
 * await lifespan.startup();               // fails: do not serve
 * serveWith((scope) => lifespan.scope(scope));
 * // … on SIGTERM, after closing connections:
 * await lifespan.shutdown();
 * ```
 */
export class Lifespan {
  /** The dict the application fills at startup (`scope.state` of the lifespan scope). */
  readonly state: Record<string, unknown> = {};
  readonly #connection: LifespanConnection;
  readonly #runner: AppRunner;
  readonly #options: LifespanOptions;

  constructor(app: ASGIApplication, options: LifespanOptions = {}) {
    this.#options = options;
    this.#connection = new LifespanConnection();
    const scope: Scope = { type: 'lifespan', asgi: { version: '3.0', spec_version: '2.0' }, state: this.state };
    this.#runner = new AppRunner(app, scope, this.#connection, {
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      applicationCloseTimeout: Infinity,
      logErrors: false,
    });
  }

  /** true: the application completed startup; false: it does not support lifespan; null: not known yet. */
  get supported(): boolean | null {
    return this.#connection.supported;
  }

  /**
   * Start the lifespan instance and wait for its startup answer (see the class).
   * @throws Error (synchronously) when called twice.
   */
  startup(): Deferred<void> {
    const c = this.#connection;
    if (c.phase !== 'idle') throw new Error('Lifespan.startup() was already called');
    c.phase = 'startup';
    c.put({ type: 'lifespan.startup' });
    this.#runner.start();
    return this.#bounded(c.startup, this.#options.startupTimeout);
  }

  /** Tell the application the server stops and wait for its answer (see the class). */
  shutdown(): Deferred<void> {
    const c = this.#connection;
    if (c.phase !== 'started') {
      c.phase = 'done';
      return succeed<void>(undefined);
    }
    c.phase = 'shutdown';
    c.put({ type: 'lifespan.shutdown' });
    return this.#bounded(c.shutdown, this.#options.shutdownTimeout);
  }

  /** `base` with `state` set to a shallow copy of {@link Lifespan.state} (when lifespan is supported). */
  scope<S extends Scope>(base: S): S {
    if (this.#connection.supported !== true) return base;
    return { ...base, state: { ...this.state } };
  }

  #bounded(d: Deferred<void>, timeout: number | undefined): Deferred<void> {
    // A fresh Deferred per caller, so a timeout does not cancel the shared one.
    const mine = new Deferred<void>();
    d.addCallbacks(
      () => {
        if (!mine.called) mine.callback(undefined);
      },
      (f: Failure) => {
        if (!mine.called) mine.errback(f);
      },
    );
    if (timeout !== undefined) mine.addTimeout(timeout, this.#options.clock ?? reactor);
    return mine;
  }
}

/** The lifespan instance's side of the protocol. */
class LifespanConnection implements ASGIConnection {
  onClosed: (() => void) | null = null;
  readonly closed = false;
  phase: Phase = 'idle';
  supported: boolean | null = null;
  readonly startup = new Deferred<void>();
  readonly shutdown = new Deferred<void>();
  readonly #input = new DeferredQueue<ASGIEvent>();

  put(event: ASGIEvent): void {
    this.#input.put(event);
  }

  receive(): Deferred<ASGIEvent> {
    return this.#input.get();
  }

  send(event: ASGIEvent): Deferred<void> {
    try {
      requireEvent(event);
      switch (event.type) {
        case 'lifespan.startup.complete':
          this.#expect('startup', event);
          this.phase = 'started';
          this.supported = true;
          this.startup.callback(undefined);
          break;
        case 'lifespan.startup.failed':
          this.#expect('startup', event);
          this.phase = 'done';
          this.supported = true;
          this.startup.errback(new LifespanStartupFailed(checkString(event, 'message', '') || 'lifespan startup failed'));
          break;
        case 'lifespan.shutdown.complete':
          this.#expect('shutdown', event);
          this.phase = 'done';
          this.shutdown.callback(undefined);
          break;
        case 'lifespan.shutdown.failed':
          this.#expect('shutdown', event);
          this.phase = 'done';
          this.shutdown.errback(new LifespanShutdownFailed(checkString(event, 'message', '') || 'lifespan shutdown failed'));
          break;
        default:
          throw new ASGIProtocolError(`unknown event type ${JSON.stringify(event.type)} for the lifespan protocol`, event.type);
      }
    } catch (e) {
      return fail(e);
    }
    return succeed<void>(undefined);
  }

  #expect(phase: 'startup' | 'shutdown', event: ASGIEvent): void {
    if (this.phase === phase) return;
    if (this.phase === 'done') throw new ASGIConnectionClosed(`${event.type}: the lifespan protocol is over`);
    const why =
      phase === 'startup'
        ? this.phase === 'idle'
          ? 'lifespan.startup has not been sent'
          : 'startup is already over'
        : 'lifespan.shutdown has not been sent';
    throw new ASGIProtocolError(`${event.type} out of turn: ${why}`, event.type);
  }

  applicationFinished(failure: Failure | null): void {
    const phase = this.phase;
    this.phase = 'done';
    if (phase === 'startup') {
      this.supported = false;
      log.info('ASGI lifespan unsupported by the application ({why}); serving without it', {
        why: failure === null ? 'it returned before answering lifespan.startup' : failure.getErrorMessage(),
      });
      this.startup.callback(undefined);
    } else if (phase === 'started') {
      if (failure !== null) log.failure('The lifespan application crashed after startup', failure, undefined, 'error');
    } else if (phase === 'shutdown') {
      if (failure !== null) this.shutdown.errback(failure);
      else this.shutdown.callback(undefined);
    }
  }
}
