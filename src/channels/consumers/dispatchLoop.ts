/**
 * The dispatch loop of a consumer: takes messages from the client and from the channel layer and
 * hands each to its handler, one at a time or up to the consumer's concurrency (see
 * `AsyncConsumer#loop` for the rules, and {@link DispatchLoop} for the why of its form).
 */
import { Deferred, isThenable } from '../../defer/deferred.js';
import { CancelledError } from '../../defer/errors.js';
import type { Failure } from '../../defer/failure.js';
import { Logger } from '../../logger/index.js';
import { ASGIConnectionClosed } from '../asgi/errors.js';
import { InMemoryChannelLayer, type ChannelWaiter } from '../layers/inMemory.js';
import type { ASGIEvent, Receive } from '../types.js';
import { resolveHandler } from './dispatch.js';
import { StopConsumer } from './exceptions.js';
import type { TrackedLayer } from './trackedLayer.js';

const log = new Logger('spindle.channels.consumer');

/** What the loop needs of its consumer: handlers to resolve, and `dispatch` when overridden. */
export interface LoopConsumer {
  dispatch(message: ASGIEvent): Promise<void>;
}

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
 * The dispatch loop of one consumer (see `AsyncConsumer#loop` for what it does and why it is a
 * state machine). Its state lives in the fields of one object rather than in variables shared by
 * closures: the state is read and written several times per message, and fields of a known shape
 * compile to plain loads and stores, where closure variables cost a check each (initialised yet?
 * which type of value?) — a broadcast pays that once per member.
 */
export class DispatchLoop {
  /** Settles when the loop has ended: resolved cleanly, rejected with a failed receive or handler. */
  readonly ended: Promise<void>;
  readonly #consumer: LoopConsumer;
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

  /**
   * @param plainDispatch - the consumer's `dispatch` is AsyncConsumer's own (not overridden): the
   *   handler is then called directly
   */
  constructor(consumer: LoopConsumer, receive: Receive, concurrency: number, layer: TrackedLayer | null, plainDispatch: boolean) {
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
    this.#plainDispatch = plainDispatch;
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
