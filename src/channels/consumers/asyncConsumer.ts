/**
 * AsyncConsumer: Channels' base consumer. One instance per connection; every message — from
 * the client (`receive`) or from the channel layer (the consumer's own channel) — is dispatched
 * by its `type` to a method.
 */
import { Deferred, fail, isThenable, succeed } from '../../defer/deferred.js';
import { CancelledError } from '../../defer/errors.js';
import { Logger } from '../../logger/index.js';
import { senderOf, sentAtOnce, type EventSender } from '../asgi/appRunner.js';
import type { ASGIApplication, ASGIEvent, ChannelLayer, Receive, Scope, Send } from '../types.js';
import { registerFrameworkClass, resolveHandler } from './dispatch.js';
import { InvalidChannelLayerError, StopConsumer } from './exceptions.js';
import { DispatchLoop } from './dispatchLoop.js';
import { TrackedLayer } from './trackedLayer.js';

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

  /** The connection's `send`, as an object (see `senderOf`). */
  #sender: EventSender | null = null;
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
    const sender = this.#sender;
    if (sender === null) return fail<void>(new Error('the consumer is not running: send() has no connection'));
    try {
      const r = sender.sendEvent(message);
      // The server's shared Promise of a send carried out at once: awaiting a native Promise
      // is far cheaper than awaiting a Deferred (which goes through `then()`). Tested first: it
      // is one comparison, where `instanceof` walks the Promise's prototype chain.
      if (sentAtOnce(r) || r instanceof Deferred) return r as PromiseLike<void>;
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
    this.#sender = senderOf(send);
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
   * busy concurrent consumer reads up to HOLD_LIMIT (./dispatchLoop.ts) client messages ahead, to
   * find a disconnect.
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
    const loop = new DispatchLoop(this, receive, concurrency, this.#layer, this.dispatch === AsyncConsumer.prototype.dispatch);
    this.#wake = () => loop.cancel(this.#cancelled!);
    loop.advance();
    return loop.ended;
  }
}

registerFrameworkClass(AsyncConsumer);
