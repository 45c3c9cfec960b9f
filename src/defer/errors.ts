/**
 * The errors the Deferred layer raises. Each is a plain `Error` subclass so
 * `instanceof`, `Failure.check` and `Failure.trap` work on them.
 */
import type { Failure } from './failure.js';

/** Fired into a Deferred's errback chain when it is cancelled. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor(message = 'the Deferred was cancelled') {
    super(message);
  }
}

/** Raised by `callback`/`errback` on a Deferred that already has a result. */
export class AlreadyCalledError extends Error {
  override name = 'AlreadyCalledError';
  constructor(message = 'the Deferred was already called') {
    super(message);
  }
}

/** What a Deferred fails with when `addTimeout` runs out. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
  constructor(
    /** The timeout, in seconds, that ran out. */
    readonly timeout: number,
    what = 'Deferred',
  ) {
    super(`${what} timed out after ${timeout} seconds`);
  }
}

/**
 * The failure of a `gatherResults` or a `DeferredList({ fireOnOneErrback })`:
 * which input failed first, and how.
 */
export class FirstError extends Error {
  override name = 'FirstError';
  constructor(
    /** The failure of the input that failed first. */
    readonly subFailure: Failure,
    /** The position of that input in the list. */
    readonly index: number,
  ) {
    super(`input ${index} failed: ${subFailure.getErrorMessage()}`, { cause: subFailure.value });
  }
}

/** Every input of a `race` failed; `failures` are in input order. */
export class FailureGroup extends AggregateError {
  override name = 'FailureGroup';
  constructor(readonly failures: Failure[]) {
    super(
      failures.map((f) => f.value),
      `all ${failures.length} inputs failed`,
    );
  }
}

/** `DeferredQueue.put` on a full queue. */
export class QueueOverflow extends Error {
  override name = 'QueueOverflow';
  constructor(message = 'the queue is full') {
    super(message);
  }
}

/** `DeferredQueue.get` when the backlog of waiting getters is full. */
export class QueueUnderflow extends Error {
  override name = 'QueueUnderflow';
  constructor(message = 'too many getters are already waiting') {
    super(message);
  }
}

/** `ensureDeferred` was given something that is neither a Deferred, a PromiseLike nor a generator. */
export class NotACoroutineError extends TypeError {
  override name = 'NotACoroutineError';
}
