/**
 * Reading a Deferred's result synchronously in a test (Twisted trial's
 * successResultOf / failureResultOf / assertNoResult).
 */
import { Deferred } from '../defer/deferred.js';
import { Failure, type ErrorType } from '../defer/failure.js';
import { ensureDeferred } from '../defer/inline.js';

/** A test expectation about a Deferred's result was not met. */
export class AssertionFailedError extends Error {
  override name = 'AssertionError';
}

type Outcome = { done: false } | { done: true; result: unknown };

function peek(d: Deferred<unknown>): Outcome {
  let outcome: Outcome = { done: false };
  // Consumes the result, as trial does: afterwards the Deferred holds undefined.
  d.addBoth((r: unknown) => {
    outcome = { done: true, result: r };
    return undefined;
  });
  return outcome;
}

/**
 * The success result `d` already has. Consumes it (`d` then holds undefined).
 * @throws AssertionError when `d` has no result yet or failed (with the traceback).
 *
 * @example
 * ```ts
 * expect(successResultOf(succeed(3))).toBe(3);
 * ```
 */
export function successResultOf<T>(d: Deferred<T> | PromiseLike<T>): T {
  const outcome = peek(ensureDeferred(d) as Deferred<unknown>);
  if (!outcome.done) throw new AssertionFailedError(`Success result expected on ${String(d)}, found no result instead`);
  if (outcome.result instanceof Failure) {
    throw new AssertionFailedError(
      `Success result expected, found a failure instead:\n${outcome.result.getTraceback()}`,
      { cause: outcome.result.value },
    );
  }
  return outcome.result as T;
}

/**
 * The Failure `d` already has, checked against `types` when given. Consumes it.
 * @throws AssertionError when `d` has no result, succeeded, or failed with another type.
 *
 * @example
 * ```ts
 * const f = failureResultOf(d, TimeoutError);
 * expect(f.value.timeout).toBe(10);
 * ```
 */
export function failureResultOf<E extends Error = Error>(
  d: Deferred<unknown> | PromiseLike<unknown>,
  ...types: ErrorType<E>[]
): Failure<E> {
  const outcome = peek(ensureDeferred(d) as Deferred<unknown>);
  if (!outcome.done) throw new AssertionFailedError(`Failure result expected on ${String(d)}, found no result instead`);
  const r = outcome.result;
  if (!(r instanceof Failure)) {
    throw new AssertionFailedError(`Failure result expected, found a success instead: ${String(r)}`);
  }
  if (types.length > 0 && r.check(...types) === null) {
    throw new AssertionFailedError(
      `Failure of type (${types.map((t) => t.name).join(', ')}) expected, found:\n${r.getTraceback()}`,
      { cause: r.value },
    );
  }
  return r as Failure<E>;
}

/**
 * Assert that `d` has no result yet. A failure found is swallowed (so it is not
 * reported twice) and the assertion fails.
 */
export function assertNoResult<T>(d: Deferred<T>): void {
  const seen: unknown[] = [];
  // Observe without consuming: the Deferred may fire later and its result must go on.
  d.addBoth((r: unknown) => {
    seen.push(r);
    return r;
  });
  if (seen.length > 0) {
    const r = seen[0];
    if (r instanceof Failure) d.addErrback(() => undefined);
    throw new AssertionFailedError(
      `No result expected, found ${r instanceof Failure ? `a failure:\n${r.getTraceback()}` : `a result: ${String(r)}`}`,
    );
  }
}
