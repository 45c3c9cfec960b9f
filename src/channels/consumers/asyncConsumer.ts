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
    const loop = new DispatchLoop(this, receive, concurrency, this.#layer);
    this.#wake = () => loop.cancel(this.#cancelled!);
    loop.advance();
    return loop.ended;
  }
}

registerFrameworkClass(AsyncConsumer);

/**
 * The dispatch loop of one consumer (see `AsyncConsumer#loop` for what it does and why it is a
 * state machine). Its state lives in the fields of one object rather than in variables shared by
 * closures: the state is read and written several times per message, and fields of a known shape
 * compile to plain loads and stores, where closure variables cost a check each (initialised yet?
 * which type of value?) — a broadcast pays that once per member.
 */
class DispatchLoop {
  /** Settles when the loop has ended: resolved cleanly, rejected with a failed receive or handler. */
  readonly ended: Promise<void>;
  readonly #consumer: AsyncConsumer;
  readonly #concurrency: number;
  readonly #sources: Array<() => PromiseLike<ASGIEvent>>;
  /** The in-memory layer taken from directly (source 1), when the consumer's layer is one. */
  readonly #direct: InMemoryChannelLayer | null = null;
  readonly #channel: string = '';
  /**
   * What to withdraw per source while its receive is in flight (the receive, or the layer
   * waiter); null when none is, or once it settled or was withdrawn.
   */
  readonly #pending: (PromiseLike<ASGIEvent> | ChannelWaiter | null)[];
  /** Whether a source's last receive is still unconsumed (in flight, or settled and not taken). */
  readonly #outstanding: boolean[];
  /** Per source, its settled receive not taken yet: whether it succeeded, and the message or error. */
  readonly #settledOk: boolean[];
  readonly #settledValue: unknown[];
  // The sources whose receive settled and was not taken yet, in the order they settled (-1:
  // none). Two places are enough: there are at most two sources (the client and the layer),
  // each with at most one receive outstanding.
  #firstArrived = -1;
  #secondArrived = -1;
  // Client messages read while every slot was busy (to see a disconnect behind them); they
  // run first once a slot frees. Bounded: past the limit the client is not read until then.
  readonly #held: ASGIEvent[] = [];
  #clientGone = false;
  #running = 0;
  #stopping = false;
  #failure: { error: unknown } | null = null;
  /** Set when the instance is cancelled (the consumer's error): the loop ends at once. */
  #cancelled: Error | null = null;
  /** Set once the loop has ended (`ended` settled): no more news is acted on. */
  #over = false;
  /** `advance` is on the stack: news only asks it to look again. */
  #advancing = false;
  #again = false;
  /** A microtask will call `advance`. */
  #scheduled = false;
  #resolveEnded!: () => void;
  #rejectEnded!: (e: unknown) => void;
  /** `dispatch` not overridden (the usual case): the handler is called directly. */
  readonly #plainDispatch: boolean;

  // One pair of callbacks per source for the whole life of the loop (a source has at most one
  // receive in flight, so `#pending[source]` tells whether the one settling is still wanted).
  readonly #onMessage: Array<(message: ASGIEvent) => undefined>;
  readonly #onFailure: Array<(f: Failure) => undefined>;
  readonly #onRejected: Array<(error: unknown) => void>;
  /** The one waiter the in-memory layer hands this consumer's messages to (re-armed after each). */
  readonly #layerWaiter: ChannelWaiter = {
    callback: (message) => this.#settle(1, true, message),
    errback: (error) => this.#settle(1, false, error),
    spot: null,
  };
  /** News from outside the loop's own microtasks is acted on in a microtask (see {@link later}). */
  readonly #scheduledAdvance = (): void => {
    this.#scheduled = false;
    this.advance();
  };
  // A Promise's reactions always run in a microtask of their own: the loop goes on right there.
  readonly #promiseDone = (): void => {
    this.#running--;
    this.advance();
  };
  readonly #promiseFailed = (e: unknown): void => {
    this.#handlerFailed(e);
    this.advance();
  };
  // A Deferred (or another thenable) may fire from anywhere, even inside another consumer's
  // send: news.
  readonly #laterDone = (): undefined => {
    this.#running--;
    this.#news();
    return undefined;
  };
  readonly #laterFailed = (e: unknown): void => {
    this.#handlerFailed(e);
    this.#news();
  };
  readonly #deferredFailed = (f: Failure): undefined => {
    this.#laterFailed(f.thrown);
    return undefined;
  };

  constructor(consumer: AsyncConsumer, receive: Receive, concurrency: number, layer: TrackedLayer | null) {
    this.#consumer = consumer;
    this.#concurrency = concurrency;
    const sources: Array<() => PromiseLike<ASGIEvent>> = [receive];
    if (layer !== null) {
      const inner = layer.inner;
      const channel = layer.channelName;
      this.#channel = channel;
      sources.push(() => inner.receive(channel));
      // Only a layer whose receive() is the class's own: a subclass that overrides it sees
      // every receive, as it would without this path.
      if (inner instanceof InMemoryChannelLayer && inner.receive === InMemoryChannelLayer.prototype.receive) this.#direct = inner;
    }
    this.#sources = sources;
    this.#pending = sources.map(() => null);
    this.#outstanding = sources.map(() => false);
    this.#settledOk = sources.map(() => false);
    this.#settledValue = sources.map(() => undefined);
    this.#onMessage = sources.map((_, source) => (message: ASGIEvent): undefined => {
      this.#settle(source, true, message);
      return undefined;
    });
    this.#onFailure = sources.map((_, source) => (f: Failure): undefined => {
      this.#settle(source, false, f.thrown);
      return undefined;
    });
    this.#onRejected = sources.map((_, source) => (error: unknown): void => this.#settle(source, false, error));
    this.#plainDispatch = consumer.dispatch === AsyncConsumer.prototype.dispatch;
    this.ended = new Promise<void>((resolve, reject) => {
      this.#resolveEnded = resolve;
      this.#rejectEnded = reject;
    });
  }

  /** The instance was cancelled with `error`: end the loop (in a microtask, as any news). */
  cancel(error: Error): void {
    if (this.#over) return;
    this.#cancelled = error;
    this.#news();
  }

  /** Look at the state now (or once more, when already looking). */
  advance(): void {
    if (this.#advancing) {
      this.#again = true;
      return;
    }
    if (this.#over) return;
    this.#advancing = true;
    let outcome: { error: unknown } | null | undefined;
    try {
      do {
        this.#again = false;
        outcome = this.#pass();
      } while (outcome === undefined && this.#again);
    } catch (e) {
      outcome = { error: e };
    } finally {
      this.#advancing = false;
    }
    if (outcome !== undefined) this.#end(outcome);
  }

  /** News from outside the loop's own microtasks: act on it in a microtask (see {@link later}). */
  #news(): void {
    if (this.#advancing) this.#again = true;
    else if (!this.#scheduled && !this.#over) {
      this.#scheduled = true;
      later(this.#scheduledAdvance);
    }
  }

  #settle(source: number, ok: boolean, value: unknown): void {
    const pending = this.#pending;
    if (pending[source] === null) return; // withdrawn as the loop ended
    pending[source] = null;
    this.#settledOk[source] = ok;
    this.#settledValue[source] = value;
    if (this.#firstArrived === -1) this.#firstArrived = source;
    else this.#secondArrived = source;
    this.#news();
  }

  #arm(source: number): void {
    this.#outstanding[source] = true;
    const direct = this.#direct;
    if (source === 1 && direct !== null) {
      const waiter = this.#layerWaiter;
      this.#pending[1] = waiter;
      let message: ASGIEvent | undefined;
      try {
        message = direct.receiveInto(this.#channel, waiter);
      } catch (e) {
        this.#settle(1, false, e);
        return;
      }
      if (message !== undefined) this.#settle(1, true, message);
      return;
    }
    let r: PromiseLike<ASGIEvent>;
    try {
      r = this.#sources[source]!();
    } catch (e) {
      r = Promise.reject(e);
    }
    this.#pending[source] = r;
    // A Deferred is observed without a Promise in between: no allocation, no microtask hop
    // (and one that already has its message fires at once).
    if (r instanceof Deferred) (r as Deferred<ASGIEvent>).addCallbacks(this.#onMessage[source]!, this.#onFailure[source]!);
    else r.then(this.#onMessage[source], this.#onRejected[source]);
  }

  #handlerFailed(e: unknown): void {
    this.#running--;
    if (this.#stopping) {
      // The consumer already ended: nobody waits for this handler any more.
      if (!(e instanceof StopConsumer) && !(e instanceof ASGIConnectionClosed) && !(e instanceof CancelledError)) {
        log.failure('A handler of {consumer} failed after the consumer ended', e, { consumer: this.#consumer.constructor.name }, 'error');
      }
    } else if (e instanceof StopConsumer) {
      this.#stopping = true;
    } else {
      this.#stopping = true;
      this.#failure = { error: e };
    }
  }

  #start(message: ASGIEvent): void {
    this.#running++;
    const consumer = this.#consumer;
    let r: unknown;
    try {
      // `dispatch` not overridden: the handler is called directly, and its outcome observed with
      // one reaction instead of through `dispatch`'s own async wrapper.
      r = this.#plainDispatch ? resolveHandler(consumer, message).call(consumer, message) : consumer.dispatch(message);
    } catch (e) {
      this.#handlerFailed(e);
      return;
    }
    if (r instanceof Promise) r.then(this.#promiseDone, this.#promiseFailed);
    else if (r instanceof Deferred) (r as Deferred<unknown>).addCallbacks(this.#laterDone, this.#deferredFailed);
    else if (isThenable(r)) r.then(this.#laterDone, this.#laterFailed);
    else this.#running--; // done already: the next message may start in this same pass
  }

  /**
   * Start what can be started. Returns undefined to wait for news, or how the loop ends
   * (`null`: cleanly; throws for a failed receive or a cancellation).
   */
  #pass(): { error: unknown } | null | undefined {
    const concurrency = this.#concurrency;
    const held = this.#held;
    const outstanding = this.#outstanding;
    const sourceCount = this.#sources.length;
    for (;;) {
      if (this.#cancelled !== null) throw this.#cancelled;
      if (this.#stopping) return this.#failure;
      const full = this.#running >= concurrency;
      if (!full && held.length > 0) {
        this.#start(held.shift()!);
        continue;
      }
      // Sequential consumers keep Channels' order strictly; concurrent ones still watch the
      // client while busy, so that a disconnect never waits behind slow handlers.
      if (full && (concurrency === 1 || held.length >= HOLD_LIMIT)) return undefined;
      for (let i = 0; i < sourceCount; i++) {
        // After a disconnect the client has nothing more to say (a receive would answer the
        // disconnect again, at once, for ever).
        if (!outstanding[i] && !(full && i !== 0) && !(i === 0 && this.#clientGone)) this.#arm(i);
      }
      // When every slot is busy only the client is taken (its layer messages wait their turn).
      let source = -1;
      if (!full || this.#firstArrived === 0) {
        source = this.#firstArrived;
        this.#firstArrived = this.#secondArrived;
        this.#secondArrived = -1;
      } else if (this.#secondArrived === 0) {
        source = 0;
        this.#secondArrived = -1;
      }
      if (source === -1) return undefined; // a receive settles, a handler ends, or the instance is cancelled
      outstanding[source] = false;
      const value = this.#settledValue[source];
      this.#settledValue[source] = undefined;
      if (!this.#settledOk[source]) throw value;
      const message = value as ASGIEvent;
      if (source === 0 && isDisconnect(message)) this.#clientGone = true;
      if (full && !isDisconnect(message)) held.push(message);
      else this.#start(message);
    }
  }

  #end(outcome: { error: unknown } | null): void {
    this.#over = true;
    this.#stopping = true;
    // Withdraw the receives still pending: a cancelled layer receive loses no message.
    const pending = this.#pending;
    for (let i = 0; i < pending.length; i++) {
      const r = pending[i];
      pending[i] = null;
      if (r === null) continue;
      if (r === this.#layerWaiter) this.#direct!.cancelReceiveInto(this.#channel, this.#layerWaiter);
      else if (typeof (r as { cancel?: unknown }).cancel === 'function') (r as unknown as { cancel(): void }).cancel();
    }
    if (outcome === null) this.#resolveEnded();
    else this.#rejectEnded(outcome.error);
  }
}
