/**
 * The worker: consume named channels of a channel layer with an application (Channels'
 * `runworker`), one application instance per channel.
 * @module
 */
import { Deferred, fail, succeed } from '../defer/deferred.js';
import type { IDelayedCall, IReactorTime } from '../defer/clock.js';
import { CancelledError } from '../defer/errors.js';
import { Failure } from '../defer/failure.js';
import { DeferredList } from '../defer/list.js';
import { Logger } from '../logger/index.js';
import { reactor as defaultReactor } from '../reactor/default.js';
import { AppRunner } from './asgi/appRunner.js';
import type { ASGIConnection } from './asgi/connection.js';
import { ASGIConnectionClosed, ASGIProtocolError } from './asgi/errors.js';
import { isEvent } from './asgi/validate.js';
import { ChannelLayerClosed } from './layers/errors.js';
import { requireValidChannelName } from './layers/names.js';
import type { ASGIApplication, ASGIEvent, ChannelLayer, Message, Scope } from './types.js';

const log = new Logger('spindle.channels.worker');

/** Options of {@link runWorker}. Times are in seconds. */
export interface WorkerOptions {
  /** The layer to receive from (required). It stays open when the worker stops: it is yours. */
  channelLayer: ChannelLayer;
  /** Time for backoffs and timeouts. Default: the global reactor. */
  reactor?: IReactorTime;
  /**
   * Messages taken from the layer and not yet received by the application, per channel, before
   * the worker stops taking more (they wait in the layer, where its capacity applies). Default 100.
   */
  maxPending?: number;
  /**
   * After `stop()`, how long an instance may take to finish the messages it already has before
   * it is cancelled (and logged). Default 10.
   */
  applicationCloseTimeout?: number;
  /** First delay before an instance that crashed is recreated; doubled per crash in a row. Default 0.1. */
  restartDelay?: number;
  /** Longest delay before recreating a crashing instance. Default 5. */
  maxRestartDelay?: number;
}

/**
 * A running worker (see {@link runWorker}): one listener per channel.
 */
export class Worker {
  /** The channels consumed. */
  readonly channels: readonly string[];
  readonly #listeners: ChannelListener[];
  #stopped: Deferred<void> | null = null;

  /** @internal Use {@link runWorker}. */
  constructor(app: ASGIApplication, channels: readonly string[], options: WorkerOptions) {
    this.channels = [...channels];
    const settings: ListenerSettings = {
      app,
      layer: options.channelLayer,
      clock: options.reactor ?? defaultReactor,
      maxPending: options.maxPending ?? 100,
      closeTimeout: options.applicationCloseTimeout ?? 10,
      restartDelay: options.restartDelay ?? 0.1,
      maxRestartDelay: options.maxRestartDelay ?? 5,
    };
    this.#listeners = this.channels.map((c) => new ChannelListener(c, settings));
  }

  /** Crashes per channel since the worker started (instances recreated after an exception). */
  get crashes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const l of this.#listeners) out[l.channel] = l.crashCount;
    return out;
  }

  /** Whether `stop()` was called. */
  get stopping(): boolean {
    return this.#stopped !== null;
  }

  /** @internal */
  start(): this {
    for (const l of this.#listeners) l.start();
    return this;
  }

  /**
   * Stop receiving (pending receives are cancelled: no message is lost in the layer), let each
   * instance finish the messages it already took, then end it (cancelled when idle; after
   * `applicationCloseTimeout` it is cancelled and logged). Every call returns a Deferred of the
   * same stop; it never fails.
   */
  stop(): Deferred<void> {
    if (this.#stopped === null) {
      this.#stopped = new DeferredList(
        this.#listeners.map((l) => l.stop()),
        { consumeErrors: true },
      ).addCallback((): void => undefined) as Deferred<void>;
    }
    const mine = new Deferred<void>();
    this.#stopped.addCallback(() => {
      mine.callback(undefined);
    });
    return mine;
  }
}

/**
 * Consume `channels` of `options.channelLayer` with `app` (Channels' `runworker`): for each
 * channel, one application instance with the scope `{ type: 'channel', channel, channel_layer }`
 * receives that channel's messages, in order, one `receive()` each. Use a `channelNameRouter`
 * (alone or under `protocolTypeRouter({ channel })`) to give each channel its consumer.
 *
 * - A message without a string `type` is logged and dropped.
 * - An instance that raises is logged ("Exception inside application") and recreated for the
 *   next messages, after a delay that doubles with each crash in a row (`restartDelay` up to
 *   `maxRestartDelay`); it resets once an instance handles a message and asks for the next.
 *   Messages it had not received yet go to the new instance.
 * - `send` is refused (`ASGIProtocolError`): a worker answers through the channel layer.
 * - Delivery is at most once, as in Channels: a message taken by an instance that then crashes
 *   is not retried.
 *
 * @throws TypeError for an invalid channel name, no channels, or no layer.
 *
 * @example
 * ```ts
 * const layer = new InMemoryChannelLayer();
 * const app = channelNameRouter({ 'page-counter': PageCounter.asApp() });
 * const worker = runWorker(app, ['page-counter'], { channelLayer: layer });
 * await layer.send('page-counter', { type: 'page.viewed', path: '/' });
 * // … at shutdown:
 * await worker.stop();
 * ```
 */
export function runWorker(app: ASGIApplication, channels: readonly string[], options: WorkerOptions): Worker {
  if (typeof app !== 'function') throw new TypeError('runWorker(): the application must be a function (scope, receive, send)');
  if (!Array.isArray(channels) || channels.length === 0) throw new TypeError('runWorker(): give at least one channel name');
  if (options === undefined || options.channelLayer === undefined || options.channelLayer === null) {
    throw new TypeError('runWorker(): a channelLayer is required');
  }
  for (const c of channels) {
    requireValidChannelName(c);
    if (c.includes('!')) throw new TypeError(`runWorker(): ${JSON.stringify(c)} is a process-local channel: a worker consumes named channels`);
  }
  if (new Set(channels).size !== channels.length) throw new TypeError('runWorker(): a channel is listed twice');
  return new Worker(app, channels, options).start();
}

interface ListenerSettings {
  readonly app: ASGIApplication;
  readonly layer: ChannelLayer;
  readonly clock: IReactorTime;
  readonly maxPending: number;
  readonly closeTimeout: number;
  readonly restartDelay: number;
  readonly maxRestartDelay: number;
}

/** What one instance sees: messages from its listener's backlog; no sending. */
class ChannelConnection implements ASGIConnection {
  onClosed: (() => void) | null = null;
  #closed = false;
  /** The instance received a message (so it is not crashing on start). */
  took = false;
  /** The instance ended: it takes nothing more. */
  dead = false;

  constructor(private readonly listener: ChannelListener) {}

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClosed?.();
  }

  receive(): Deferred<ASGIEvent> {
    if (this.dead) return fail(new CancelledError('the worker instance has ended'));
    return this.listener.take(this);
  }

  send(event: ASGIEvent): Deferred<void> {
    if (this.dead || this.#closed) return fail(new ASGIConnectionClosed('the worker is stopping'));
    const type = isEvent(event) ? event.type : null;
    return fail(
      new ASGIProtocolError(
        `a worker's channel application cannot send events (${type === null ? 'not an event' : JSON.stringify(type)}): send through the channel layer`,
        type,
      ),
    );
  }

  applicationFinished(_failure: Failure | null): void {
    this.dead = true;
  }
}

/** One channel: a receive loop on the layer, a backlog, and the current instance. */
class ChannelListener {
  crashCount = 0;
  readonly #s: ListenerSettings;
  readonly #scope: Scope;
  #backlog: Message[] = [];
  #receiving: Deferred<Message> | null = null;
  #pumping = false;
  #again = false;
  #runner: AppRunner | null = null;
  #connection: ChannelConnection | null = null;
  #waiter: Deferred<ASGIEvent> | null = null;
  #streak = 0;
  #restartTimer: IDelayedCall | null = null;
  #retryTimer: IDelayedCall | null = null;
  #stopping = false;
  #done: Deferred<void> | null = null;

  constructor(
    readonly channel: string,
    settings: ListenerSettings,
  ) {
    this.#s = settings;
    this.#scope = { type: 'channel', channel, channel_layer: settings.layer };
  }

  start(): void {
    this.#pump();
  }

  stop(): Deferred<void> {
    if (this.#done !== null) return this.#done;
    this.#stopping = true;
    const done = new Deferred<void>();
    this.#done = done;
    const receiving = this.#receiving;
    this.#receiving = null;
    receiving?.cancel();
    this.#restartTimer = cancel(this.#restartTimer);
    this.#retryTimer = cancel(this.#retryTimer);
    const runner = this.#runner;
    if (runner === null || runner.finished) {
      this.#finishStop();
    } else {
      this.#connection!.close(); // starts the application-close timeout
      if (this.#waiter !== null && this.#backlog.length === 0) this.#endIdle(runner);
    }
    return done;
  }

  /** The instance's `receive()`. */
  take(connection: ChannelConnection): Deferred<ASGIEvent> {
    if (connection !== this.#connection) return fail(new CancelledError('the worker instance has ended'));
    const next = this.#backlog.shift();
    if (next !== undefined) {
      connection.took = true;
      this.#pump();
      return succeed<ASGIEvent>(next);
    }
    // Idle after handling a message: the instance is healthy.
    if (connection.took) this.#streak = 0;
    const d = new Deferred<ASGIEvent>((cancelled) => {
      if (this.#waiter === cancelled) this.#waiter = null;
    });
    this.#waiter = d;
    if (this.#stopping && this.#runner !== null) this.#endIdle(this.#runner);
    return d;
  }

  // ------------------------------------------------------------------ receiving

  #pump(): void {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        if (this.#stopping || this.#receiving !== null || this.#retryTimer !== null) break;
        if (this.#backlog.length >= this.#s.maxPending) break;
        let d: Deferred<Message>;
        try {
          d = this.#s.layer.receive(this.channel);
        } catch (e) {
          this.#receiveFailed(Failure.from(e));
          break;
        }
        this.#receiving = d;
        d.addCallbacks(
          (message: Message) => {
            if (this.#receiving === d) this.#receiving = null;
            this.#arrived(message);
            this.#pump();
          },
          (f: Failure) => {
            if (this.#receiving === d) this.#receiving = null;
            if (this.#stopping && f.check(CancelledError) !== null) return;
            this.#receiveFailed(f);
          },
        );
      } while (this.#again);
    } finally {
      this.#pumping = false;
    }
  }

  #receiveFailed(f: Failure): void {
    if (this.#stopping) return;
    if (f.check(ChannelLayerClosed) !== null) {
      log.warn('Worker: the channel layer is closed; no longer consuming {channel}', { channel: this.channel });
      return;
    }
    const delay = this.#s.maxRestartDelay;
    log.failure('Worker: receiving from {channel} failed; retrying in {delay} s', f, { channel: this.channel, delay }, 'error');
    this.#retryTimer = this.#s.clock.callLater(delay, () => {
      this.#retryTimer = null;
      this.#pump();
    });
  }

  #arrived(message: Message): void {
    if (!isEvent(message)) {
      log.warn('Worker: dropped a message without a "type" on {channel}', { channel: this.channel });
      return;
    }
    const waiter = this.#waiter;
    if (waiter !== null && this.#backlog.length === 0 && this.#runner !== null && !this.#runner.finished) {
      this.#waiter = null;
      this.#connection!.took = true;
      waiter.callback(message);
      return;
    }
    this.#backlog.push(message);
    this.#ensureInstance();
  }

  // ------------------------------------------------------------------ instances

  #ensureInstance(): void {
    if (this.#stopping || this.#restartTimer !== null) return;
    if (this.#runner !== null && !this.#runner.finished) return;
    this.#spawn();
  }

  #spawn(): void {
    const connection = new ChannelConnection(this);
    const runner = new AppRunner(this.#s.app, { ...this.#scope }, connection, {
      clock: this.#s.clock,
      applicationCloseTimeout: this.#s.closeTimeout,
    });
    this.#connection = connection;
    this.#runner = runner;
    this.#waiter = null;
    runner.whenFinished().addBoth((r: unknown) => {
      this.#ended(runner, connection, r instanceof Failure ? r : null);
      return undefined;
    });
    runner.start();
  }

  #ended(runner: AppRunner, connection: ChannelConnection, failure: Failure | null): void {
    if (runner !== this.#runner) return;
    this.#runner = null;
    this.#connection = null;
    this.#waiter = null;
    if (this.#stopping) {
      this.#finishStop();
      return;
    }
    const crashed = runner.outcome?.kind === 'raised' || !connection.took;
    if (runner.outcome?.kind === 'raised') this.crashCount++;
    if (!crashed) {
      this.#streak = 0;
      if (this.#backlog.length > 0) this.#spawn();
      return;
    }
    // Back off, so a consumer that fails on every message (or at once) does not spin.
    this.#streak++;
    const delay = Math.min(this.#s.restartDelay * 2 ** (this.#streak - 1), this.#s.maxRestartDelay);
    log.warn('Worker: the instance for {channel} {how}; a new one starts in {delay} s', {
      channel: this.channel,
      how: failure !== null ? 'crashed' : 'returned without taking a message',
      delay,
    });
    this.#restartTimer = this.#s.clock.callLater(delay, () => {
      this.#restartTimer = null;
      if (this.#backlog.length > 0) this.#spawn();
    });
  }

  /** Stopping, and the instance waits for a message that will not come: end it (not an error). */
  #endIdle(runner: AppRunner): void {
    // After the current call returns: the receive() being handed out must first reach the
    // runner, which cancels it. A microtask rather than a timed call, so that no timer
    // granularity delays the stop.
    queueMicrotask(() => {
      if (this.#runner === runner && this.#waiter !== null && this.#backlog.length === 0) runner.cancel();
    });
  }

  #finishStop(): void {
    const done = this.#done;
    if (done !== null && !done.called) done.callback(undefined);
  }
}

function cancel(call: IDelayedCall | null): null {
  if (call !== null && call.active()) call.cancel();
  return null;
}
