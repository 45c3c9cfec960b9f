/**
 * AsyncConsumer: Channels' base consumer. One instance per connection; every message — from
 * the client (`receive`) or from the channel layer (the consumer's own channel) — is dispatched
 * by its `type` to a method.
 */
import { Deferred, fail, isThenable, succeed } from '../../defer/deferred.js';
import { CancelledError } from '../../defer/errors.js';
import { Failure } from '../../defer/failure.js';
import { Logger } from '../../logger/index.js';
import { sentAtOnce } from '../asgi/appRunner.js';
import { ASGIConnectionClosed } from '../asgi/errors.js';
import type { ASGIApplication, ASGIEvent, ChannelLayer, Receive, Scope, Send } from '../types.js';
import { registerFrameworkClass, resolveHandler } from './dispatch.js';
import { InvalidChannelLayerError, StopConsumer } from './exceptions.js';
import { TrackedLayer } from './trackedLayer.js';
import { InMemoryChannelLayer, type ChannelWaiter } from '../layers/inMemory.js';

const log = new Logger('spindle.channels.consumer');

/** Options of {@link AsyncConsumer.asApp}. */
export interface ConsumerAppOptions {
  /**
   * The channel layer for every instance. Default: `scope.channel_layer` (what the server or the
   * communicator hands over); `null` runs without a layer even when the scope has one.
   */
  channelLayer?: ChannelLayer | null;
}

/** What `asApp()` returns: an ASGI application that knows its consumer class. */
export type ConsumerApplication = ASGIApplication & {
  /** The class instantiated for each connection. */
  readonly consumerClass: abstract new () => AsyncConsumer;
};

/** Client messages a busy concurrent consumer reads ahead, looking for a disconnect. */
const HOLD_LIMIT = 16;

/** Client events that end the connection: dispatched even when every handler slot is busy. */
function isDisconnect(message: ASGIEvent): boolean {
  return message.type === 'websocket.disconnect' || message.type === 'http.disconnect';
}

/** Consumer loops with news to act on, in the order the news came (see {@link later}). */
let laterQueue: Array<() => void> = [];
const RESOLVED = Promise.resolve();

/** Run the loops queued so far (those queued meanwhile get the next microtask, as they would alone). */
function runLater(): void {
  const queue = laterQueue;
  laterQueue = [];
  for (let i = 0; i < queue.length; i++) {
    try {
      queue[i]!();
    } catch (e) {
      // A loop catches its own errors; this only keeps one consumer's bug from stopping the rest.
      log.failure('A consumer loop failed', e, undefined, 'error');
    }
  }
}

/**
 * Call `fn` in a microtask. A group send wakes every member's loop at once: they all share one
 * microtask, in the order they were woken (the order separate microtasks would run them in),
 * rather than one `queueMicrotask` each — which Node wraps in an async resource per call.
 */
function later(fn: () => void): void {
  if (laterQueue.push(fn) === 1) void RESOLVED.then(runLater);
}

/**
 * The base consumer (Channels' `AsyncConsumer`).
 *
 * - `static asApp(options?)` gives the ASGI application: each call (each connection) creates one
 *   instance and runs it.
 * - With a channel layer (from `asApp({ channelLayer })` or `scope.channel_layer`), the instance
 *   gets its own channel (`this.channelName`, from `newChannel()`), joins every group of
 *   `static groups` before taking its first message, and receives the messages sent to its
 *   channel (directly or through `groupSend`) through the same dispatch as client events.
 * - Dispatch: `type` with dots replaced by underscores is the method name (`"chat.message"` →
 *   `chat_message(message)`). A name starting with `_`, an `Object.prototype` member or one of
 *   the consumer API methods is refused, and a missing handler is a {@link DispatchError} naming
 *   the type; either ends the consumer with that error (as in Channels).
 * - Handlers run one at a time, in arrival order, by default (as in Channels); `static
 *   concurrency = N` lets up to N run at once (still started in arrival order), and then a
 *   client disconnect is dispatched at once even when all N are busy (it never waits behind
 *   slow handlers); when the consumer stops, handlers still running are abandoned.
 * - A handler that throws {@link StopConsumer} ends the consumer cleanly; any other exception
 *   ends it with that exception (the server answers 500 / closes 1011). Either way — and also
 *   when the instance is cancelled — **its group memberships are discarded** in a `finally`,
 *   including groups joined later with `this.channelLayer.groupAdd(g, this.channelName)`.
 *
 * @example
 * ```ts
 * class Counter extends AsyncConsumer {
 *   static override groups = ['counters'];
 *   count = 0;
 *   async counter_increment(message: ASGIEvent) {
 *     this.count += Number(message.by ?? 1);
 *   }
 * }
 * const app = Counter.asApp({ channelLayer: layer });
 * ```
 */
export class AsyncConsumer {
  /** Groups every instance joins (with its own channel) before its first message. */
  static groups: string[] = [];
  /** How many handlers may run at once (an integer ≥ 1). Default 1: one at a time. */
  static concurrency = 1;

  /** The connection's scope (set before any handler runs). */
  scope: Scope = { type: '' };

  #send: Send | null = null;
  #layer: TrackedLayer | null = null;
  #options: ConsumerAppOptions = {};
  /** Set when the instance is cancelled: wakes the dispatch loop so it ends at once. */
  #cancelled: Error | null = null;
  #wake: () => void = () => {};

  /**
   * The ASGI application running this consumer class: one new instance per call.
   *
   * @example
   * ```ts
   * const app = protocolTypeRouter({ websocket: urlRouter([path('ws/chat/<str:room>/', ChatConsumer.asApp())]) });
   * ```
   */
  static asApp<C extends AsyncConsumer>(this: new () => C, options: ConsumerAppOptions = {}): ConsumerApplication {
    const Cls = this;
    const app = (scope: Scope, receive: Receive, send: Send): Deferred<void> => {
      const consumer: AsyncConsumer = new Cls();
      consumer.#options = options;
      return consumer.run(scope, receive, send);
    };
    return Object.assign(app, { consumerClass: Cls as unknown as abstract new () => AsyncConsumer });
  }

  /** Whether a channel layer is configured for this instance. */
  get hasChannelLayer(): boolean {
    return this.#layer !== null;
  }

  /**
   * The channel layer (seen through a wrapper that remembers this consumer's group
   * memberships, so they can be discarded when it ends).
   * @throws InvalidChannelLayerError when no layer is configured.
   */
  get channelLayer(): ChannelLayer {
    if (this.#layer === null) throw new InvalidChannelLayerError('no channel layer is configured for this consumer');
    return this.#layer;
  }

  /**
   * This instance's own channel on the layer.
   * @throws InvalidChannelLayerError when no layer is configured.
   */
  get channelName(): string {
    if (this.#layer === null) throw new InvalidChannelLayerError('no channel layer is configured for this consumer');
    return this.#layer.channelName;
  }

  /**
   * Run this instance on one connection (what the application from `asApp` calls). Fires when
   * the consumer ended: after `StopConsumer`, or when a receive fails; fails with a handler's
   * exception. Cancelling the Deferred ends the consumer at once (handlers still running are
   * abandoned) after discarding its memberships.
   */
  run(scope: Scope, receive: Receive, send: Send): Deferred<void> {
    const d = new Deferred<void>(() => {
      this.#cancelled = new CancelledError('the consumer was cancelled');
      this.#wake();
    });
    this.#run(scope, receive, send).then(
      () => {
        if (!d.called) d.callback(undefined);
      },
      (e: unknown) => {
        if (!d.called) d.errback(e);
      },
    );
    return d;
  }

  /**
   * Send one raw ASGI event to the client (the server's `send`), and give what it gave, to
   * await: an already-resolved Promise when the server carried the event out at once (nearly
   * every send), otherwise a Deferred that fires once it is done (or fails, as it would in
   * Channels, with the server's error).
   *
   * A send that fails is never an unhandled rejection: the failure is a Deferred's, reported as
   * "Unhandled error in Deferred" only if nobody awaits it.
   *
   * @example
   * ```ts
   * await this.send({ type: 'websocket.send', text: 'hello' });
   * ```
   */
  send(message: ASGIEvent): PromiseLike<void> {
    const send = this.#send;
    if (send === null) return fail<void>(new Error('the consumer is not running: send() has no connection'));
    try {
      const r = send(message);
      // The server's shared Promise of a send carried out at once: awaiting a native Promise
      // is far cheaper than awaiting a Deferred (which goes through `then()`).
      if (r instanceof Deferred || sentAtOnce(r)) return r as PromiseLike<void>;
      // Anything else (another server's Promise) is followed by a Deferred, so that a failure
      // nobody awaits is logged rather than crashing the process as an unhandled rejection.
      return isThenable(r) ? Deferred.fromPromise(r) : succeed<void>(undefined);
    } catch (e) {
      return fail<void>(e);
    }
  }

  /**
   * Leave every group this instance's channel joined (its `static groups` and any joined since
   * through `this.channelLayer`). Done automatically when the consumer ends; WebSocket consumers
   * also do it before calling `disconnect()`, as Channels does.
   */
  protected discardMemberships(): Deferred<void> {
    if (this.#layer === null) {
      const d = new Deferred<void>();
      d.callback(undefined);
      return d;
    }
    return this.#layer.discardAll();
  }

  /**
   * Call the handler of `message` (see the class for the rules) and wait for it.
   * @throws DispatchError when there is no acceptable handler.
   */
  async dispatch(message: ASGIEvent): Promise<void> {
    const handler = resolveHandler(this, message);
    const r = handler.call(this, message);
    if (isThenable(r)) await r;
  }

  // ------------------------------------------------------------------ internals

  async #run(scope: Scope, receive: Receive, send: Send): Promise<void> {
    this.scope = scope;
    this.#send = send;
    const cls = this.constructor as typeof AsyncConsumer;
    const concurrency = cls.concurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`${cls.name}.concurrency must be an integer >= 1, not ${String(concurrency)}`);
    }
    const configured = this.#options.channelLayer;
    const layer = configured !== undefined ? configured : (scope.channel_layer ?? null);
    try {
      if (layer !== null) {
        const name = await layer.newChannel();
        this.#layer = new TrackedLayer(layer, name);
      }
      const groups = cls.groups;
      if (groups.length > 0) {
        if (this.#layer === null) {
          throw new InvalidChannelLayerError(`${cls.name} has groups (${groups.join(', ')}) but no channel layer is configured`);
        }
        for (const g of groups) await this.#layer.groupAdd(g, this.#layer.channelName);
      }
      this.#checkCancelled();
      await this.#loop(receive, concurrency);
    } finally {
      if (this.#layer !== null) {
        try {
          await this.#layer.discardAll();
        } catch (e) {
          log.failure('Could not discard the group memberships of {consumer}', e, { consumer: cls.name }, 'warn');
        }
      }
    }
  }

  #checkCancelled(): void {
    if (this.#cancelled !== null) throw this.#cancelled;
  }

  /**
   * Take messages from the client and from the layer, one pending receive per source (as
   * Channels' `await_many_dispatch`): a source is read again only once its message has been
   * handed to a handler, so nothing piles up in memory while handlers are busy — except that a
   * busy concurrent consumer reads up to HOLD_LIMIT client messages ahead, to find a disconnect.
   *
   * Event-driven rather than `Promise.race` over the pending receives: a race subscribes to every
   * pending receive each time it is called, so a consumer whose client stays quiet while the layer
   * brings it message after message (a reader in a busy chat room) would pile one reaction per
   * message on the client's receive — memory that grows until the client speaks. Here each receive
   * is observed once (synchronously for a Deferred).
   *
   * The loop is a state machine, `advance()`, run whenever there is news (a receive settled, a
   * handler ended, the instance was cancelled) rather than an async function awaiting a signal:
   * a message costs no Promise of the loop's own, and the messages already queued on a source are
   * taken back to back, synchronously (a Deferred receive that already has its message fires at
   * once), as each handler ends. Handlers still start outside the stack that delivered the
   * message: news from a receive or a Deferred is acted on in a microtask (a handler never runs
   * inside, say, the `groupSend` of another consumer), and the end of a Promise-returning handler
   * is itself a microtask, so the next message is taken right there.
   */
  #loop(receive: Receive, concurrency: number): Promise<void> {
    const layer = this.#layer;
    const sources: Array<() => PromiseLike<ASGIEvent>> = [receive];
    /** The in-memory layer taken from directly (source 1), when the consumer's layer is one. */
    let direct: InMemoryChannelLayer | null = null;
    let channel = '';
    if (layer !== null) {
      const inner = layer.inner;
      channel = layer.channelName;
      sources.push(() => inner.receive(channel));
      // Only a layer whose receive() is the class's own: a subclass that overrides it sees
      // every receive, as it would without this path.
      if (inner instanceof InMemoryChannelLayer && inner.receive === InMemoryChannelLayer.prototype.receive) direct = inner;
    }
    /**
     * What to withdraw per source while its receive is in flight (the receive, or the layer
     * waiter); null when none is, or once it settled or was withdrawn.
     */
    const pending: (PromiseLike<ASGIEvent> | ChannelWaiter | null)[] = sources.map(() => null);
    /** Whether a source's last receive is still unconsumed (in flight, or settled and not taken). */
    const outstanding: boolean[] = sources.map(() => false);
    /** Per source, its settled receive not taken yet: whether it succeeded, and the message or error. */
    const settledOk: boolean[] = sources.map(() => false);
    const settledValue: unknown[] = sources.map(() => undefined);
    // The sources whose receive settled and was not taken yet, in the order they settled (-1:
    // none). Two places are enough: there are at most two sources (the client and the layer),
    // each with at most one receive outstanding.
    let firstArrived = -1;
    let secondArrived = -1;
    // Client messages read while every slot was busy (to see a disconnect behind them); they
    // run first once a slot frees. Bounded: past the limit the client is not read until then.
    const held: ASGIEvent[] = [];
    let clientGone = false;
    let running = 0;
    let stopping = false;
    let failure: { error: unknown } | null = null;
    /** Set once the loop has ended (`ended` settled): no more news is acted on. */
    let over = false;
    /** `advance` is on the stack: news only asks it to look again. */
    let advancing = false;
    let again = false;
    /** A microtask will call `advance`. */
    let scheduled = false;
    let resolveEnded!: () => void;
    let rejectEnded!: (e: unknown) => void;
    const ended = new Promise<void>((resolve, reject) => {
      resolveEnded = resolve;
      rejectEnded = reject;
    });

    /** Look at the state now (or once more, when already looking). */
    const advance = (): void => {
      if (advancing) {
        again = true;
        return;
      }
      if (over) return;
      advancing = true;
      let outcome: { error: unknown } | null | undefined;
      try {
        do {
          again = false;
          outcome = pass();
        } while (outcome === undefined && again);
      } catch (e) {
        outcome = { error: e };
      } finally {
        advancing = false;
      }
      if (outcome !== undefined) end(outcome);
    };
    const scheduledAdvance = (): void => {
      scheduled = false;
      advance();
    };
    /** News from outside the loop's own microtasks: act on it in a microtask (see {@link later}). */
    const news = (): void => {
      if (advancing) again = true;
      else if (!scheduled && !over) {
        scheduled = true;
        later(scheduledAdvance);
      }
    };
    this.#wake = news;

    const settle = (source: number, ok: boolean, value: unknown): void => {
      if (pending[source] === null) return; // withdrawn as the loop ended
      pending[source] = null;
      settledOk[source] = ok;
      settledValue[source] = value;
      if (firstArrived === -1) firstArrived = source;
      else secondArrived = source;
      news();
    };
    // One pair of callbacks per source for the whole life of the loop (a source has at most one
    // receive in flight, so `pending[source]` tells whether the one settling is still wanted).
    const onMessage = sources.map((_, source) => (message: ASGIEvent): undefined => {
      settle(source, true, message);
      return undefined;
    });
    const onFailure = sources.map((_, source) => (f: Failure): undefined => {
      settle(source, false, f.thrown);
      return undefined;
    });
    const onRejected = sources.map((_, source) => (error: unknown): void => settle(source, false, error));
    // The one waiter the in-memory layer hands this consumer's messages to (re-armed after each).
    const layerWaiter: ChannelWaiter = {
      callback: (message) => settle(1, true, message),
      errback: (error) => settle(1, false, error),
      spot: null,
    };
    const arm = (source: number): void => {
      outstanding[source] = true;
      if (source === 1 && direct !== null) {
        pending[1] = layerWaiter;
        let message: ASGIEvent | undefined;
        try {
          message = direct.receiveInto(channel, layerWaiter);
        } catch (e) {
          settle(1, false, e);
          return;
        }
        if (message !== undefined) settle(1, true, message);
        return;
      }
      let r: PromiseLike<ASGIEvent>;
      try {
        r = sources[source]!();
      } catch (e) {
        r = Promise.reject(e);
      }
      pending[source] = r;
      // A Deferred is observed without a Promise in between: no allocation, no microtask hop
      // (and one that already has its message fires at once).
      if (r instanceof Deferred) (r as Deferred<ASGIEvent>).addCallbacks(onMessage[source]!, onFailure[source]!);
      else r.then(onMessage[source], onRejected[source]);
    };

    const handlerFailed = (e: unknown): void => {
      running--;
      if (stopping) {
        // The consumer already ended: nobody waits for this handler any more.
        if (!(e instanceof StopConsumer) && !(e instanceof ASGIConnectionClosed) && !(e instanceof CancelledError)) {
          log.failure('A handler of {consumer} failed after the consumer ended', e, { consumer: this.constructor.name }, 'error');
        }
      } else if (e instanceof StopConsumer) {
        stopping = true;
      } else {
        stopping = true;
        failure = { error: e };
      }
    };
    // A Promise's reactions always run in a microtask of their own: the loop goes on right there.
    const promiseDone = (): void => {
      running--;
      advance();
    };
    const promiseFailed = (e: unknown): void => {
      handlerFailed(e);
      advance();
    };
    // A Deferred (or another thenable) may fire from anywhere, even inside another consumer's
    // send: news.
    const laterDone = (): undefined => {
      running--;
      news();
      return undefined;
    };
    const laterFailed = (e: unknown): void => {
      handlerFailed(e);
      news();
    };
    const deferredFailed = (f: Failure): undefined => {
      laterFailed(f.thrown);
      return undefined;
    };
    // `dispatch` not overridden (the usual case): the handler is called directly, and its
    // outcome observed with one reaction instead of through `dispatch`'s own async wrapper.
    const plainDispatch = this.dispatch === AsyncConsumer.prototype.dispatch;
    const start = (message: ASGIEvent): void => {
      running++;
      let r: unknown;
      try {
        r = plainDispatch ? resolveHandler(this, message).call(this, message) : this.dispatch(message);
      } catch (e) {
        handlerFailed(e);
        return;
      }
      if (r instanceof Promise) r.then(promiseDone, promiseFailed);
      else if (r instanceof Deferred) (r as Deferred<unknown>).addCallbacks(laterDone, deferredFailed);
      else if (isThenable(r)) r.then(laterDone, laterFailed);
      else running--; // done already: the next message may start in this same pass
    };

    /**
     * Start what can be started. Returns undefined to wait for news, or how the loop ends
     * (`null`: cleanly; throws for a failed receive or a cancellation).
     */
    const pass = (): { error: unknown } | null | undefined => {
      for (;;) {
        this.#checkCancelled();
        if (stopping) return failure;
        const full = running >= concurrency;
        if (!full && held.length > 0) {
          start(held.shift()!);
          continue;
        }
        // Sequential consumers keep Channels' order strictly; concurrent ones still watch the
        // client while busy, so that a disconnect never waits behind slow handlers.
        if (full && (concurrency === 1 || held.length >= HOLD_LIMIT)) return undefined;
        for (let i = 0; i < sources.length; i++) {
          // After a disconnect the client has nothing more to say (a receive would answer the
          // disconnect again, at once, for ever).
          if (!outstanding[i] && !(full && i !== 0) && !(i === 0 && clientGone)) arm(i);
        }
        // When every slot is busy only the client is taken (its layer messages wait their turn).
        let source = -1;
        if (!full || firstArrived === 0) {
          source = firstArrived;
          firstArrived = secondArrived;
          secondArrived = -1;
        } else if (secondArrived === 0) {
          source = 0;
          secondArrived = -1;
        }
        if (source === -1) return undefined; // a receive settles, a handler ends, or the instance is cancelled
        outstanding[source] = false;
        const value = settledValue[source];
        settledValue[source] = undefined;
        if (!settledOk[source]) throw value;
        const message = value as ASGIEvent;
        if (source === 0 && isDisconnect(message)) clientGone = true;
        if (full && !isDisconnect(message)) held.push(message);
        else start(message);
      }
    };

    const end = (outcome: { error: unknown } | null): void => {
      over = true;
      stopping = true;
      this.#wake = () => {};
      // Withdraw the receives still pending: a cancelled layer receive loses no message.
      for (let i = 0; i < pending.length; i++) {
        const r = pending[i];
        pending[i] = null;
        if (r === null) continue;
        if (r === layerWaiter) direct!.cancelReceiveInto(channel, layerWaiter);
        else if (typeof (r as { cancel?: unknown }).cancel === 'function') (r as unknown as { cancel(): void }).cancel();
      }
      if (outcome === null) resolveEnded();
      else rejectEnded(outcome.error);
    };

    advance();
    return ended;
  }
}

registerFrameworkClass(AsyncConsumer);
