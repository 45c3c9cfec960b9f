/**
 * inlineCallbacks: write a Deferred chain as a generator that yields the
 * Deferreds it waits on. And ensureDeferred, which turns Promises, awaitables
 * and generators into Deferreds.
 */
import { Deferred, isThenable } from './deferred.js';
import { NotACoroutineError } from './errors.js';
import { Failure } from './failure.js';

/** The generator an inlineCallbacks function returns. */
export type InlineGenerator<R> = Generator<unknown, R, unknown>;

/** Marks our own cancellation as it travels to the interceptor below. */
class InlineCancelled extends Error {}

interface Status<R> {
  /** The Deferred the caller holds (replaced after each cancellation). */
  deferred: Deferred<R>;
  /** The Deferred the generator is waiting on, if any. */
  waitingOn: Deferred<unknown> | null;
}

/**
 * Run `gen` to completion: each yielded Deferred (or PromiseLike) is waited
 * on and its result sent back in (a failure is thrown in, as the original
 * error); any other yielded value is sent straight back. The generator's
 * return value is the result.
 *
 * A trampoline, not recursion: yielding thousands of already-fired Deferreds
 * does not grow the stack.
 */
export function runGenerator<R>(gen: InlineGenerator<R>): Deferred<R> {
  const status: Status<R> = { deferred: null as unknown as Deferred<R>, waitingOn: null };
  status.deferred = new Deferred<R>((d) => interceptCancel(d, status));
  step(gen, undefined, false, status);
  return status.deferred;
}

/**
 * Cancelling the caller's Deferred cancels what the generator waits on; the
 * generator sees CancelledError at its `yield` and may recover. So that the
 * outer Deferred does not fail with CancelledError regardless, it is fired
 * with an internal marker that an interceptor (put first in its chain) turns
 * into "wait on a fresh Deferred that the generator will fire".
 */
function interceptCancel<R>(outer: Deferred<R>, status: Status<R>): void {
  outer._prependErrback((f: Failure) => {
    f.trap(InlineCancelled);
    status.deferred = new Deferred<R>((d) => interceptCancel(d, status));
    const awaited = status.waitingOn;
    if (awaited !== null) awaited.cancel();
    return status.deferred;
  });
  outer.errback(new InlineCancelled());
}

function step<R>(gen: InlineGenerator<R>, input: unknown, isFailure: boolean, status: Status<R>): void {
  for (;;) {
    let it: IteratorResult<unknown, R>;
    try {
      it = isFailure ? gen.throw((input as Failure).thrown) : gen.next(input);
    } catch (e) {
      status.waitingOn = null;
      status.deferred.errback(Failure.from(e));
      return;
    }
    if (it.done) {
      status.waitingOn = null;
      const value = it.value;
      if (isThenable(value)) {
        Deferred.fromPromise(value).addCallbacks(
          (v) => status.deferred.callback(v as R),
          (f) => status.deferred.errback(f),
        );
      } else {
        status.deferred.callback(value);
      }
      return;
    }
    const yielded = it.value;
    if (!isThenable(yielded) || yielded instanceof Failure) {
      input = yielded;
      isFailure = false;
      continue;
    }
    const d = yielded instanceof Deferred ? (yielded as Deferred<unknown>) : Deferred.fromPromise(yielded);
    // If d fires while we add the callback, we loop instead of recursing.
    let synchronous = true;
    let syncResult: unknown;
    let gotSync = false;
    status.waitingOn = d;
    d.addBoth((r: unknown) => {
      if (synchronous) {
        syncResult = r;
        gotSync = true;
      } else {
        status.waitingOn = null;
        step(gen, r, r instanceof Failure, status);
      }
      return undefined;
    });
    synchronous = false;
    if (!gotSync) return;
    status.waitingOn = null;
    input = syncResult;
    isFailure = syncResult instanceof Failure;
  }
}

/**
 * Decorate a generator function so that calling it returns a Deferred of its
 * return value. Inside, `yield` a Deferred or PromiseLike to wait for it.
 *
 * @example
 * ```ts
 * const fetchBoth = inlineCallbacks(function* (id: number) {
 *   const user = (yield getUser(id)) as User;
 *   const posts = (yield getPosts(user)) as Post[];
 *   return { user, posts };
 * });
 * fetchBoth(7).addCallback(console.log);
 * ```
 */
export function inlineCallbacks<A extends unknown[], R>(
  genFn: (...args: A) => InlineGenerator<R>,
): (...args: A) => Deferred<R> {
  if (typeof genFn !== 'function') throw new TypeError('inlineCallbacks needs a generator function');
  return function (this: unknown, ...args: A): Deferred<R> {
    let gen: unknown;
    try {
      gen = genFn.apply(this, args);
    } catch (e) {
      const d = new Deferred<R>();
      d.errback(e);
      return d;
    }
    if (!isGenerator(gen)) {
      throw new TypeError('inlineCallbacks requires a generator function (function*) that returns a generator');
    }
    return runGenerator(gen as InlineGenerator<R>);
  };
}

function isGenerator(x: unknown): boolean {
  return (
    x !== null &&
    typeof x === 'object' &&
    typeof (x as Generator).next === 'function' &&
    typeof (x as Generator).throw === 'function'
  );
}

/**
 * A Deferred for `x`: a Deferred is returned unchanged, a PromiseLike (an
 * async function's result) is followed, a generator is run as with
 * inlineCallbacks.
 * @throws NotACoroutineError for anything else.
 *
 * @example
 * ```ts
 * const d = ensureDeferred((async () => (await succeed('foo')) + '!')());
 * ```
 */
export function ensureDeferred<T>(x: PromiseLike<T> | Deferred<T> | InlineGenerator<T>): Deferred<T> {
  if (x instanceof Deferred) return x;
  if (isThenable(x)) return Deferred.fromPromise(x);
  if (isGenerator(x)) return runGenerator(x as InlineGenerator<T>);
  throw new NotACoroutineError(`ensureDeferred expects a Deferred, a PromiseLike or a generator, not ${typeof x}`);
}
