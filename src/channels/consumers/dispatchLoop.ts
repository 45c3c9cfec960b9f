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

/** The bits of the two sources in `DispatchLoop#outstanding`. */
const CLIENT = 1;
const LAYER = 2;

/** Client events that end the connection: dispatched even when every handler slot is busy. */
function isDisconnect(message: ASGIEvent): boolean {
  return message.type === 'websocket.disconnect' || message.type === 'http.disconnect';
}

/**
 * Consumer loops with news to act on, in the order the news came (see {@link later}): the first
 * `laterLength` places of `laterQueue`. Two arrays take turns and keep their size (a run clears
 * its places instead of shortening the array, which V8 would shrink), so a broadcast to a
 * thousand members does not regrow an array from nothing every time.
 */
let laterQueue: Array<DispatchLoop | undefined> = [];
let laterLength = 0;
let spareQueue: Array<DispatchLoop | undefined> = [];
const RESOLVED = Promise.resolve();

/** Run the loops queued so far (those queued meanwhile get the next microtask, as they would alone). */
function runLater(): void {
  const queue = laterQueue;
  const n = laterLength;
  laterQueue = spareQueue;
  laterLength = 0;
  for (let i = 0; i < n; i++) {
    const loop = queue[i]!;
    queue[i] = undefined;
    try {
      loop.runScheduled();
    } catch (e) {
      // A loop catches its own errors; this only keeps one consumer's bug from stopping the rest.
      log.failure('A consumer loop failed', e, undefined, 'error');
    }
  }
  spareQueue = queue;
}

/**
 * Have `loop` act on its news in a microtask. A group send wakes every member's loop at once:
 * they all share one microtask, in the order they were woken (the order separate microtasks would
 * run them in), rather than one `queueMicrotask` each — which Node wraps in an async resource per
 * call. The loops themselves are queued, not callbacks: a callback is two more objects to read
 * (the function and its context) per member woken.
 */
function later(loop: DispatchLoop): void {
  laterQueue[laterLength++] = loop;
  if (laterLength === 1) void RESOLVED.then(runLater);
}

/**
 * One place a loop reads from — the client, or the channel layer — and the state of its receive.
 * A source has at most one receive in flight, so one object holds all of it (and its callbacks,
 * made once for the loop's life): the loop reads and writes it several times per message, and
 * one object's fields cost a load each, where per-source arrays cost an array each.
 */
class Source implements ChannelWaiter {
  // What a message reads comes first (fields are laid out in the order declared).
  readonly loop: DispatchLoop;
  /** Its bit in the loop's `#outstanding`. */
  readonly bit: number;
  /**
   * What to withdraw while its receive is in flight (the receive, or this source itself as the
   * in-memory layer's waiter); null when none is, or once it settled or was withdrawn.
   */
  pending: PromiseLike<ASGIEvent> | ChannelWaiter | null = null;
  /** Its settled receive, not taken yet: whether it succeeded, and the message or the error. */
  ok = false;
  value: unknown = undefined;
  /** The in-memory layer's note of the channel record it waits in (see {@link ChannelWaiter}). */
  spot: unknown = null;
  // `callback`/`errback` bound, for a receive's Deferred (whose callbacks return the next
  // result: undefined) or Promise.
  readonly onMessage = (message: ASGIEvent): undefined => {
    this.callback(message);
    return undefined;
  };
  readonly onFailure = (f: Failure): undefined => {
    this.errback(f.thrown);
    return undefined;
  };
  readonly onRejected = (error: unknown): void => this.errback(error);
  readonly receive: () => PromiseLike<ASGIEvent>;

  constructor(loop: DispatchLoop, bit: number, receive: () => PromiseLike<ASGIEvent>) {
    this.loop = loop;
    this.bit = bit;
    this.receive = receive;
  }

  // Its receive settled: the message, or the error (as the in-memory layer's waiter, the layer's
  // closing).
  callback(message: ASGIEvent): void {
    this.loop.settle(this, true, message);
  }

  errback(error: unknown): void {
    this.loop.settle(this, false, error);
  }
}

/**
 * The dispatch loop of one consumer (see `AsyncConsumer#loop` for what it does and why it is a
 * state machine). Its state lives in the fields of one object rather than in variables shared by
 * closures: the state is read and written several times per message, and fields of a known shape
 * compile to plain loads and stores, where closure variables cost a check each (initialised yet?
 * which type of value?) — a broadcast pays that once per member.
 */
export class DispatchLoop {
  // The fields a message reads come first, in the order declared, which is the order of their
  // places in the object: a broadcast reads them for every member, and together they span fewer
  // memory lines.
  /** `advance` is on the stack: news only asks it to look again. */
  #advancing = false;
  #again = false;
  /** A microtask will call `advance`. */
  #scheduled = false;
  /** Set once the loop has ended (`ended` settled): no more news is acted on. */
  #over = false;
  #running = 0;
  #stopping = false;
  /** Set when the instance is cancelled (the consumer's error): the loop ends at once. */
  #cancelled: Error | null = null;
  #clientGone = false;
  // The sources whose receive settled and was not taken yet, in the order they settled. Two
  // places are enough: there are at most two sources, each with at most one receive outstanding.
  #firstArrived: Source | null = null;
  #secondArrived: Source | null = null;
  readonly #concurrency: number;
  /** The client's receive. */
  readonly #client: Source;
  /** The channel layer's receive, when the consumer has a layer. */
  readonly #layer: Source | null = null;
  // Client messages read while every slot was busy (to see a disconnect behind them); they
  // run first once a slot frees. Bounded: past the limit the client is not read until then.
  // (null when none: nearly always, and then no array is read per message)
  #held: ASGIEvent[] | null = null;
  /**
   * The sources whose last receive is still unconsumed (in flight, or settled and not taken): a
   * bit each. Kept here, not in the sources, so that a message reads no source it does not take.
   */
  #outstanding = 0;
  readonly #consumer: LoopConsumer;
  /** `dispatch` not overridden (the usual case): the handler is called directly. */
  readonly #plainDispatch: boolean;
  /** The in-memory layer taken from directly (the layer source waits in it), when the consumer's layer is one. */
  readonly #direct: InMemoryChannelLayer | null = null;
  readonly #channel: string = '';
  // A Promise's reactions always run in a microtask of their own: the loop goes on right there.
  readonly #promiseDone = (): void => {
    this.#running--;
    this.advance();
  };
  readonly #promiseFailed = (e: unknown): void => {
    this.#handlerFailed(e);
    this.advance();
  };

  /** Settles when the loop has ended: resolved cleanly, rejected with a failed receive or handler. */
  readonly ended: Promise<void>;
  #failure: { error: unknown } | null = null;
  #resolveEnded!: () => void;
  #rejectEnded!: (e: unknown) => void;
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
    this.#client = new Source(this, CLIENT, receive);
    if (layer !== null) {
      const inner = layer.inner;
      const channel = layer.channelName;
      this.#channel = channel;
      this.#layer = new Source(this, LAYER, () => inner.receive(channel));
      // Only a layer whose receive() is the class's own: a subclass that overrides it sees
      // every receive, as it would without this path.
      if (inner instanceof InMemoryChannelLayer && inner.receive === InMemoryChannelLayer.prototype.receive) this.#direct = inner;
    }
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

  /** @internal News from outside the loop's own microtasks, acted on in a microtask (see {@link later}). */
  runScheduled(): void {
    this.#scheduled = false;
    this.advance();
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
      later(this);
    }
  }

  /** @internal A receive of `source` settled (a Source's callbacks call this). */
  settle(source: Source, ok: boolean, value: unknown): void {
    if (source.pending === null) return; // withdrawn as the loop ended
    source.pending = null;
    source.ok = ok;
    source.value = value;
    if (this.#firstArrived === null) this.#firstArrived = source;
    else this.#secondArrived = source;
    this.#news();
  }

  #arm(source: Source): void {
    this.#outstanding |= source.bit;
    const direct = this.#direct;
    if (direct !== null && source === this.#layer) {
      // The source itself waits in the in-memory layer's line.
      source.pending = source;
      let message: ASGIEvent | undefined;
      try {
        message = direct.receiveInto(this.#channel, source);
      } catch (e) {
        this.settle(source, false, e);
        return;
      }
      if (message !== undefined) this.settle(source, true, message);
      return;
    }
    let r: PromiseLike<ASGIEvent>;
    try {
      r = source.receive();
    } catch (e) {
      r = Promise.reject(e);
    }
    source.pending = r;
    // A Deferred is observed without a Promise in between: no allocation, no microtask hop
    // (and one that already has its message fires at once).
    if (r instanceof Deferred) (r as Deferred<ASGIEvent>).addCallbacks(source.onMessage, source.onFailure);
    else r.then(source.onMessage, source.onRejected);
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
    const client = this.#client;
    const layer = this.#layer;
    for (;;) {
      if (this.#cancelled !== null) throw this.#cancelled;
      if (this.#stopping) return this.#failure;
      const full = this.#running >= concurrency;
      const held = this.#held;
      if (!full && held !== null) {
        const next = held.shift()!;
        if (held.length === 0) this.#held = null;
        this.#start(next);
        continue;
      }
      // Sequential consumers keep Channels' order strictly; concurrent ones still watch the
      // client while busy, so that a disconnect never waits behind slow handlers.
      if (full && (concurrency === 1 || (held !== null && held.length >= HOLD_LIMIT))) return undefined;
      // After a disconnect the client has nothing more to say (a receive would answer the
      // disconnect again, at once, for ever).
      if ((this.#outstanding & CLIENT) === 0 && !this.#clientGone) this.#arm(client);
      // When every slot is busy only the client is taken (its layer messages wait their turn).
      if (layer !== null && (this.#outstanding & LAYER) === 0 && !full) this.#arm(layer);
      let source: Source | null = null;
      if (!full || this.#firstArrived === client) {
        source = this.#firstArrived;
        this.#firstArrived = this.#secondArrived;
        this.#secondArrived = null;
      } else if (this.#secondArrived === client) {
        source = client;
        this.#secondArrived = null;
      }
      if (source === null) return undefined; // a receive settles, a handler ends, or the instance is cancelled
      this.#outstanding &= ~source.bit;
      const value = source.value;
      source.value = undefined;
      if (!source.ok) throw value;
      const message = value as ASGIEvent;
      if (source === client && isDisconnect(message)) this.#clientGone = true;
      if (full && !isDisconnect(message)) (this.#held ??= []).push(message);
      else this.#start(message);
    }
  }

  /** Take back `source`'s receive if one is in flight (a late answer is then ignored). */
  #withdraw(source: Source): void {
    const r = source.pending;
    if (r === null) return;
    source.pending = null;
    if (r === source) this.#direct!.cancelReceiveInto(this.#channel, source);
    else if (typeof (r as { cancel?: unknown }).cancel === 'function') (r as unknown as { cancel(): void }).cancel();
  }

  #end(outcome: { error: unknown } | null): void {
    this.#over = true;
    this.#stopping = true;
    // Withdraw the receives still pending: a cancelled layer receive loses no message.
    this.#withdraw(this.#client);
    if (this.#layer !== null) this.#withdraw(this.#layer);
    if (outcome === null) this.#resolveEnded();
    else this.#rejectEnded(outcome.error);
  }
}
