/**
 * The contract between an application instance's runner and the protocol state machine behind
 * its `receive`/`send`: `HttpCycle`, `WebsocketCycle`, the lifespan connection, or the plain
 * queues of {@link QueueConnection}.
 */
import { Deferred, isThenable, succeed, fail } from '../../defer/deferred.js';
import { DeferredQueue } from '../../defer/primitives.js';
import type { Failure } from '../../defer/failure.js';
import type { ASGIEvent } from '../types.js';
import { ASGIConnectionClosed } from './errors.js';
import { requireEvent } from './validate.js';

/**
 * One connection as an application instance sees it. `AppRunner` calls `receive`/`send` on the
 * application's behalf and `applicationFinished` when the application's coroutine ends; the
 * connection tells the runner when it is over through `onClosed` (which starts the
 * application-close timeout).
 */
export interface ASGIConnection {
  /**
   * The next event for the application. Cancelling the Deferred withdraws the request without
   * losing an event.
   */
  receive(): Deferred<ASGIEvent>;
  /**
   * Check and carry out an event from the application. Fails with `ASGIProtocolError` when the
   * event breaks the protocol, `ASGIConnectionClosed` when the connection is over.
   */
  send(event: ASGIEvent): Deferred<void>;
  /**
   * Optional fast form of {@link ASGIConnection.send}, for connections that usually carry an
   * event out at once: `null` when it was carried out synchronously and succeeded (no flow
   * control to wait for), otherwise exactly the Deferred `send` would give. The runner then hands
   * the application one shared, already-resolved Promise instead of a new Deferred per event:
   * `await send(...)` is the hot path of every response, and awaiting a native Promise costs a
   * fraction of awaiting a Deferred (which goes through `then()`).
   */
  trySend?(event: ASGIEvent): Deferred<void> | null;
  /** The application's coroutine ended: it returned (`null`) or raised (`failure`). Called once. */
  applicationFinished(failure: Failure | null): void;
  /** Whether the connection is over (peer gone, response complete, handshake refused…). */
  readonly closed: boolean;
  /** Called once when `closed` turns true; set by the runner. */
  onClosed: (() => void) | null;
}

/**
 * Call `handler` for each action in order and give one Deferred that fires once every thenable
 * the handler returned (its flow control) has fired. A handler that throws fails the Deferred.
 */
export function emitActions<A>(handler: (action: A) => void | PromiseLike<void>, actions: readonly A[]): Deferred<void> {
  const waits: PromiseLike<void>[] = [];
  try {
    for (const a of actions) {
      const r = handler(a);
      if (isThenable(r)) waits.push(r);
    }
  } catch (e) {
    return fail(e);
  }
  if (waits.length === 0) return succeed<void>(undefined);
  if (waits.length === 1) return Deferred.fromPromise(waits[0]!).addCallback((): void => undefined);
  return Deferred.fromPromise(Promise.all(waits)).addCallback((): void => undefined);
}

/**
 * The flow-control waits of several actions as one: `prev` joined with what the handler of the
 * next action returned (`next`), or `prev` when that is not a thenable. {@link emitActions}
 * without its arrays, for state machines that emit a fixed few actions on their hot path.
 */
export function joinWaits(prev: PromiseLike<void> | null, next: unknown): PromiseLike<void> | null {
  if (!isThenable(next)) return prev;
  const wait = next as PromiseLike<void>;
  if (prev === null) return wait;
  return Promise.all([prev, wait]).then((): void => undefined);
}

/** What {@link joinWaits} gathered as the Deferred a `send` returns (fires with nothing, or fails with the first error). */
export function waitFor(wait: PromiseLike<void>): Deferred<void> {
  return Deferred.fromPromise(wait).addCallback((): void => undefined);
}

/**
 * A connection without protocol rules: what is put in comes out of `receive`, what the
 * application sends goes to `output` (any event with a string `type` is accepted). Used for
 * scope types that have no state machine (`channel` scopes of workers, custom types) and by
 * `ApplicationCommunicator` for them.
 */
export class QueueConnection implements ASGIConnection {
  /** Events waiting for the application. */
  readonly input = new DeferredQueue<ASGIEvent>();
  onClosed: (() => void) | null = null;
  #closed = false;

  /** @param output receives every event the application sends, in order. */
  constructor(private readonly output: (event: ASGIEvent) => void) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** Hand `event` to the application's next `receive()`. */
  put(event: ASGIEvent): void {
    this.input.put(event);
  }

  /** Mark the connection over (starts the runner's application-close timeout). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClosed?.();
  }

  receive(): Deferred<ASGIEvent> {
    return this.input.get();
  }

  send(event: ASGIEvent): Deferred<void> {
    try {
      requireEvent(event);
    } catch (e) {
      return fail(e);
    }
    if (this.#closed) return fail(new ASGIConnectionClosed());
    this.output(event);
    return succeed<void>(undefined);
  }

  /** Nothing to do: plain queues have no protocol to finish. */
  applicationFinished(_failure: Failure | null): void {}
}
