/**
 * Deferred: a result that is not there yet, with a chain of callbacks and
 * errbacks that run synchronously, in order, as soon as it arrives.
 *
 * This is Twisted's Deferred. The chain runs on an explicit stack (the
 * trampoline in `runChain`), never by recursion, so a chain of any length and
 * any number of Deferreds each waiting on the next complete without a stack
 * overflow.
 */
import { AlreadyCalledError, CancelledError, TimeoutError } from './errors.js';
import { Failure } from './failure.js';
import { captureStack, describeStacks, getDebugging, type DebugStacks } from './debug.js';
import type { IReactorTime } from './clock.js';
import { markHandled, markUnhandled, reportUnhandled, setFlagClearer } from './unhandled.js';
import { Logger } from '../logger/index.js';

/** A value, or something that will give one: what callbacks may return. */
export type MaybeDeferred<T> = T | PromiseLike<T>;

/** Called by `cancel()` on an unfired Deferred; may fire it itself. */
export type Canceller<T> = (d: Deferred<T>) => void;

type Fn = (result: unknown, ...args: unknown[]) => unknown;
/** Any function: the implementation signature behind the typed add* overloads. */
type AnyFn = (...args: never[]) => unknown;

/**
 * Extra arguments an add* call may pass after the function: at most six.
 * They are declared parameters rather than a rest parameter because
 * allocating a rest array (or touching `arguments`) on every call cost more
 * than the rest of the step put together.
 */
export type ExtraArgs =
  | []
  | [unknown]
  | [unknown, unknown]
  | [unknown, unknown, unknown]
  | [unknown, unknown, unknown, unknown]
  | [unknown, unknown, unknown, unknown, unknown]
  | [unknown, unknown, unknown, unknown, unknown, unknown];

/** Slot value meaning "pass the result on unchanged". */
const PASS: Fn = (r) => r;
/** Marker entry: move this Deferred's result to the waiting Deferred in the next slot. */
const CONTINUE: Fn = (r) => r;
/** Marker entry: fire the Deferred in the next slot with this result (chainDeferred). */
const CHAIN: Fn = (r) => r;

/**
 * One step of the chain that is not a plain callback: an errback, a
 * callback/errback pair, or a CONTINUE/CHAIN marker (then `eb` is the target
 * Deferred). A plain callback, by far the most common step, is stored as the
 * function itself.
 */
class Step {
  constructor(
    readonly cb: Fn,
    readonly eb: Fn,
  ) {}
}

/**
 * Bits of Deferred._flags. A const enum so each use compiles to a literal:
 * a module-level const would cost a context load and a TDZ check per use,
 * on the hottest paths.
 */
const enum Flag {
  CALLED = 1,
  SUPPRESS_ALREADY_CALLED = 2,
  RUNNING = 4,
  UNHANDLED = 8,
  /** The Deferred has an entry in `extras`. */
  EXTRA = 16,
  /**
   * The pause count lives in the bits above the flags, in units of PAUSE:
   * `_flags < PAUSE` means "not paused". One field less per Deferred (they
   * are created by the million), and a plain unfired, unpaused Deferred is
   * exactly `_flags === 0`, the test of addCallback's fast path. (The count
   * stays exact up to 2^26 pauses held at once.)
   */
  PAUSE = 32,
  PAUSE_SHIFT = 5,
}

/**
 * Rarely used state, kept off the Deferred so that every Deferred is a field
 * smaller: it lives in `extras`, and the EXTRA flag says whether there is an
 * entry (so the common case never looks).
 */
interface Extra {
  /** Set by chainDeferred on its target (for debugging). */
  chainedTo: Deferred<unknown> | null;
  /** A failure already seen by `then`/`await`: it does not count as unhandled. */
  observed: Failure | null;
  debug: DebugStacks | null;
}

function newExtra(debug: DebugStacks | null): Extra {
  return { chainedTo: null, observed: null, debug };
}

/** The extra state of the Deferreds whose EXTRA flag is set. */
const extras = new WeakMap<Deferred<unknown>, Extra>();

/** What `_adopt` returns when the chain must wait on an inner Deferred. */
const WAITING = Symbol('waiting');

function bindArgs(fn: Fn, args: readonly unknown[]): Fn {
  return (r) => fn(r, ...args);
}

/**
 * `fn` with the extra arguments of an add* call bound after the result
 * (called only when there are some). Trailing undefined arguments are dropped
 * (a function cannot tell them from absent ones, short of `arguments`).
 */
function withArgs(fn: Fn, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): Fn {
  const args = [a, b, c, d, e, f];
  while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
  return bindArgs(fn, args);
}

/** `withArgs` for an add* call's `arguments` (the function, then the extra arguments). */
function withArgsOf(args: IArguments): Fn {
  return withArgs(args[0], args[1], args[2], args[3], args[4], args[5], args[6]);
}

const log = new Logger('spindle.defer');

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (
    x !== null &&
    (typeof x === 'object' || typeof x === 'function') &&
    typeof (x as { then?: unknown }).then === 'function'
  );
}

/**
 * A result that will arrive later, and the chain of functions that process it.
 *
 * - Callbacks run synchronously as soon as there is a result: `callback()`
 *   runs the whole chain before it returns, and a callback added to a fired
 *   Deferred runs inside `addCallback`.
 * - A callback's return value replaces the result; a throw switches to the
 *   errback track as a {@link Failure}; an errback that returns switches back.
 * - A callback that returns a Deferred (or any PromiseLike) pauses the chain
 *   until that one fires, then the chain continues with its result.
 * - `await d` works: it resolves to the result or rejects with the original
 *   error (never the Failure wrapper), without changing what later callbacks see.
 * - A failure still unhandled when the Deferred is garbage collected is logged
 *   as "Unhandled error in Deferred".
 *
 * @example
 * ```ts
 * const d = new Deferred<number>();
 * d.addCallback((n) => n * 2)
 *  .addCallback((n) => { if (n > 10) throw new RangeError('too big'); return n; })
 *  .addErrback((f) => { f.trap(RangeError); return 10; });
 * d.callback(21);
 * console.log(await d); // 10
 * ```
 */
export class Deferred<T = unknown> implements PromiseLike<T> {
  // The fields are only declared here and all set by the constructor, in
  // one order: construction is then one small body that V8 inlines into the
  // caller (class-field initialisers compile to a separate function), and
  // every Deferred has the same hidden class. Four fields (56 bytes): every
  // field less makes creating and collecting a Deferred cheaper.
  /**
   * Flag bits, and above them the pause count: how many pause() calls (or
   * inner Deferreds waited on) hold the chain (see Flag.PAUSE).
   */
  private declare _flags: number;
  /**
   * Before the Deferred fires: its canceller (undefined or null: none).
   * Once fired: T, a Failure, or (while waiting on another Deferred) that
   * Deferred. The canceller is dropped when the Deferred fires, so the two
   * share a slot.
   */
  private declare _result: unknown;
  /** The entries not run yet start at `_cbIndex`; null when there are none. */
  private declare _cbs: unknown[] | null;
  private declare _cbIndex: number;

  /**
   * @param canceller called by {@link Deferred.cancel} while the Deferred has
   * no result; it may fire the Deferred itself (with a success or another
   * error), otherwise the Deferred fails with {@link CancelledError}.
   */
  constructor(canceller?: Canceller<T> | null) {
    this._flags = 0;
    this._result = canceller;
    this._cbs = null;
    this._cbIndex = 0;
    if (getDebugging()) this._recordCreator();
  }

  /** Whether `callback` or `errback` has been called. */
  get called(): boolean {
    return (this._flags & Flag.CALLED) !== 0;
  }

  /** How many `pause()` calls (or inner Deferreds waited on) hold the chain. */
  get paused(): number {
    return this._flags >> Flag.PAUSE_SHIFT;
  }

  /** The Deferred this one is waiting on (for debugging), or null. */
  get chainedTo(): Deferred<unknown> | null {
    if (this._result instanceof Deferred) return this._result as Deferred<unknown>;
    return this._extraOrNull()?.chainedTo ?? null;
  }

  /**
   * Fire the chain with a success. Passing a Failure is the same as `errback`.
   * @throws AlreadyCalledError when already fired (but see {@link Deferred.cancel}).
   * @throws TypeError when `result` is a Deferred: return it from a callback instead.
   */
  callback(result: T | Failure): void {
    this._start(result);
  }

  /**
   * Fire the chain with a failure: an Error, a {@link Failure}, or any thrown
   * value (wrapped in a Failure).
   * @throws AlreadyCalledError when already fired (but see {@link Deferred.cancel}).
   */
  errback(error?: unknown): void {
    this._start(
      error instanceof Failure
        ? error
        : new Failure(error === undefined ? new Error('Deferred.errback() was called without an error') : error),
    );
  }

  /**
   * Add a callback and an errback as one step of the chain: exactly one of
   * them runs, depending on whether the result at this step is a failure.
   * `null` passes the result (or failure) on unchanged. Extra arguments are
   * passed after the result.
   */
  addCallbacks<U = T, V = never>(
    callback: ((result: T, ...args: never[]) => MaybeDeferred<U> | Failure) | null,
    errback?: ((failure: Failure, ...args: never[]) => MaybeDeferred<V> | Failure) | null,
    callbackArgs?: readonly unknown[],
    errbackArgs?: readonly unknown[],
  ): Deferred<U | V> {
    let cb = (callback as Fn | null) ?? PASS;
    let eb = (errback as Fn | null | undefined) ?? PASS;
    if (callbackArgs !== undefined && callbackArgs.length > 0 && cb !== PASS) cb = bindArgs(cb, callbackArgs);
    if (errbackArgs !== undefined && errbackArgs.length > 0 && eb !== PASS) eb = bindArgs(eb, errbackArgs);
    return this._add(cb, eb);
  }

  /** Add a step that runs `fn(result, ...args)` on success; failures pass by. */
  addCallback<U, A extends ExtraArgs = []>(
    fn: (result: T, ...args: A) => MaybeDeferred<U> | Failure,
    ...args: A
  ): Deferred<U>;
  addCallback(fn: AnyFn): Deferred<unknown> {
    // Not declared parameters as in addErrback/addBoth: testing six of them
    // made this method too big for V8 to inline into callers that add many
    // callbacks, and a call costs several times the append. Optimised code
    // reads `arguments.length` without creating the object; the object is
    // only used (and built) when extra arguments were passed.
    // eslint-disable-next-line prefer-rest-params
    if (arguments.length !== 1) return this._appendWithArgs(arguments);
    // Short on purpose, the usual case first: V8 inlines a method into its
    // caller only while a bytecode budget lasts (shared by everything
    // inlined into that caller), and inlined it costs a fraction of a call.
    // A plain unfired Deferred with entries (`_flags` is 0: not fired, not
    // paused, no extra state): a plain append.
    const cbs = this._cbs;
    if (cbs !== null && !this._flags) cbs.push(fn);
    else this._append(fn as Fn);
    return this as Deferred<unknown>;
  }

  /** Add a step that runs `fn(failure, ...args)` on failure; successes pass by. Returning recovers. */
  addErrback<U = T, A extends ExtraArgs = []>(
    fn: (failure: Failure, ...args: A) => MaybeDeferred<U> | Failure,
    ...args: A
  ): Deferred<T | U>;
  addErrback(fn: AnyFn, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): Deferred<unknown> {
    const entry = a === undefined && b === undefined && c === undefined && d === undefined && e === undefined && f === undefined ? (fn as Fn) : withArgs(fn as Fn, a, b, c, d, e, f);
    return this._add(PASS, entry);
  }

  /** Add a step that runs `fn` on the result whether it is a success or a Failure. */
  addBoth<U, A extends ExtraArgs = []>(
    fn: (result: T | Failure, ...args: A) => MaybeDeferred<U> | Failure,
    ...args: A
  ): Deferred<U>;
  addBoth(fn: AnyFn, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): Deferred<unknown> {
    const both = a === undefined && b === undefined && c === undefined && d === undefined && e === undefined && f === undefined ? (fn as Fn) : withArgs(fn as Fn, a, b, c, d, e, f);
    return this._add(both, both);
  }

  /**
   * Fire `d` with this Deferred's result when it arrives (success or failure).
   * This Deferred's own chain then continues with `undefined`. Stack-safe:
   * long chains of chained Deferreds do not recurse.
   */
  chainDeferred(d: Deferred<T>): Deferred<undefined> {
    d._extraState().chainedTo = this as Deferred<unknown>;
    return this._add(CHAIN, d as unknown as Fn);
  }

  /** Stop the chain from running (counted: each pause needs an unpause). */
  pause(): void {
    this._flags += Flag.PAUSE;
  }

  /** Undo one `pause()`; the chain runs again once none are left. */
  unpause(): void {
    if (this._flags < Flag.PAUSE) return;
    this._flags -= Flag.PAUSE;
    if (this._flags < Flag.PAUSE && (this._flags & Flag.CALLED) !== 0) this._runCallbacks();
  }

  /**
   * Cancel the operation this Deferred stands for.
   *
   * - Not fired yet: the canceller (if any) runs; if that did not fire the
   *   Deferred, it fails with {@link CancelledError}. Without a canceller,
   *   exactly one later `callback`/`errback` (the producer answering late)
   *   is silently ignored; with one, a later fire raises AlreadyCalledError.
   *   A canceller that throws is logged and the Deferred is still cancelled.
   * - Fired, but waiting on an inner Deferred: the inner one is cancelled.
   * - Otherwise nothing happens.
   */
  cancel(): void {
    if ((this._flags & Flag.CALLED) === 0) {
      const canceller = this._result as Canceller<T> | null | undefined;
      if (canceller != null) {
        try {
          canceller(this);
        } catch (e) {
          log.failure('Exception raised by the canceller of a Deferred', e, undefined, 'error');
        }
      } else {
        this._flags |= Flag.SUPPRESS_ALREADY_CALLED;
      }
      if ((this._flags & Flag.CALLED) === 0) this.errback(new CancelledError());
    } else if (this._result instanceof Deferred) {
      this._result.cancel();
    }
  }

  /**
   * Cancel this Deferred when `signal` aborts (at once if it already has).
   * The listener is removed once the Deferred has a result.
   */
  cancelOnAbort(signal: AbortSignal): this {
    if (signal.aborted) {
      this.cancel();
      return this;
    }
    const onAbort = (): void => this.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    const remove = (r: unknown): unknown => {
      signal.removeEventListener('abort', onAbort);
      return r;
    };
    this._add(remove, remove);
    return this;
  }

  /**
   * Cancel this Deferred if it has no result after `seconds` on `clock`; it
   * then fails with {@link TimeoutError} (or whatever `onTimeoutCancel`
   * returns). Only callbacks added *before* this call are covered: once the
   * Deferred has fired, the timer is cancelled.
   *
   * @param onTimeoutCancel called with the result at timeout (usually a
   * CancelledError failure) and the timeout; its return value becomes the result.
   */
  addTimeout(
    seconds: number,
    clock: IReactorTime,
    onTimeoutCancel?: (result: T | Failure, timeout: number) => MaybeDeferred<T> | Failure,
  ): this {
    let timedOut = false;
    const call = clock.callLater(seconds, () => {
      timedOut = true;
      this.cancel();
    });
    const convert = (result: unknown): unknown => {
      if (!timedOut) return result;
      if (onTimeoutCancel !== undefined) return onTimeoutCancel(result as T | Failure, seconds);
      if (result instanceof Failure) {
        result.trap(CancelledError);
        throw new TimeoutError(seconds);
      }
      return result;
    };
    const stopTimer = (result: unknown): unknown => {
      if (call.active()) call.cancel();
      return result;
    };
    this._add(convert, convert);
    this._add(stopTimer, stopTimer);
    return this;
  }

  /**
   * Observe the result as a Promise: it resolves with the result or rejects
   * with the original error. The chain is not changed, and a failure observed
   * this way no longer counts as unhandled.
   */
  asPromise(): Promise<T> {
    // Already settled on a success with nothing left to run (the common `await` of a fired
    // Deferred): adding a step would run it at once and change nothing, so skip the step and
    // the executor closure.
    const flags = this._flags;
    if ((flags & (Flag.CALLED | Flag.RUNNING)) === Flag.CALLED && flags < Flag.PAUSE && this._cbs === null) {
      const r = this._result;
      if (!(typeof r === 'object' && r instanceof Failure)) return Promise.resolve(r as T);
    }
    return new Promise<T>((resolve, reject) => {
      this._add(
        (r) => {
          resolve(r as T);
          return r;
        },
        (f) => {
          this._extraState().observed = f as Failure;
          reject((f as Failure).thrown);
          return f;
        },
      );
    });
  }

  /** PromiseLike: `await d` and `d.then(...)` observe the result (see {@link Deferred.asPromise}). */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.asPromise().then(onfulfilled, onrejected);
  }

  /**
   * A Deferred that follows `p`. Cancelling it fails it with CancelledError
   * and ignores `p`'s later outcome. A Deferred is returned as it is.
   */
  static fromPromise<T>(p: PromiseLike<T>): Deferred<T> {
    if (p instanceof Deferred) return p as Deferred<T>;
    const d = new Deferred<T>();
    p.then(
      (v) => d.callback(v),
      (e: unknown) => d.errback(e),
    );
    return d;
  }

  toString(): string {
    if ((this._flags & Flag.CALLED) === 0) return 'Deferred (no result)';
    if (this._result instanceof Deferred) return 'Deferred (waiting on another Deferred)';
    if (this._result instanceof Failure) return `Deferred (current result: ${String(this._result)})`;
    return `Deferred (current result: ${typeof this._result})`;
  }

  // ---------------------------------------------------------------- internals

  private _add(cb: Fn, eb: Fn): never {
    // The same object, now holding a result of the new type.
    return this._append(eb === PASS ? cb : new Step(cb, eb)) as never;
  }

  /** addCallback with extra arguments: `args` holds the function, then them. */
  private _appendWithArgs(args: IArguments): Deferred<unknown> {
    return this._append(withArgsOf(args));
  }

  /** Append one entry to the chain, and run it at once if there is a result. */
  private _append(entry: Fn | Step): Deferred<unknown> {
    const cbs = this._cbs;
    if (cbs === null) this._cbs = [entry];
    else cbs.push(entry);
    if ((this._flags & Flag.CALLED) !== 0) this._runCallbacks();
    return this as Deferred<unknown>;
  }

  private _extraOrNull(): Extra | null {
    return (this._flags & Flag.EXTRA) !== 0 ? extras.get(this as Deferred<unknown>)! : null;
  }

  /** The extra state, created if there is none yet. */
  private _extraState(): Extra {
    return this._extraOrNull() ?? this._setExtra(newExtra(null));
  }

  /** Debugging is on: record where this Deferred is being created. */
  private _recordCreator(): void {
    // Without this method's own frame: the stack starts at the constructor.
    const stack = captureStack();
    this._setExtra(newExtra({ creator: stack.slice(stack.indexOf('\n') + 1) }));
  }

  private _setExtra(extra: Extra): Extra {
    extras.set(this as Deferred<unknown>, extra);
    this._flags |= Flag.EXTRA;
    return extra;
  }

  /**
   * Fire the chain with `result`. Only the usual case is here, so that this
   * stays small enough to be inlined into its callers (with `callback`): a
   * plain unfired Deferred (no pause, no extra state) fired with a value
   * that is not an object, so neither a Failure nor a Deferred.
   */
  private _start(result: unknown): void {
    if (this._flags !== 0 || typeof result === 'object') {
      this._startGeneral(result);
      return;
    }
    this._flags = Flag.CALLED;
    this._result = result; // (this drops the canceller)
    if (this._cbs !== null) this._runCallbacks();
  }

  /** `_start` for every case. */
  private _startGeneral(result: unknown): void {
    if (typeof result === 'object' && result instanceof Deferred) {
      throw new TypeError('a Deferred cannot be fired with another Deferred: return it from a callback to chain them');
    }
    const flags = this._flags;
    if ((flags & Flag.CALLED) !== 0) {
      this._startAgain();
      return;
    }
    this._flags = flags | Flag.CALLED;
    this._result = result; // (this drops the canceller)
    if ((flags & Flag.EXTRA) !== 0) this._fired();
    if (this._cbs !== null) this._runCallbacks();
    // No entries (a lone Deferred): what _runCallbacks would do, without the
    // call; only a result that may be a Failure needs any book-keeping.
    else if (typeof result === 'object' && flags < Flag.PAUSE) this._settle();
  }

  /**
   * A second callback/errback: ignored once after a cancel without a
   * canceller (the producer answering late), otherwise an error.
   */
  private _startAgain(): void {
    const flags = this._flags;
    if ((flags & Flag.SUPPRESS_ALREADY_CALLED) !== 0) {
      this._flags = flags & ~Flag.SUPPRESS_ALREADY_CALLED;
      return;
    }
    const stacks = describeStacks(this._extraOrNull()?.debug ?? null);
    throw new AlreadyCalledError(
      stacks === '' ? 'the Deferred was already called' : `the Deferred was already called\n${stacks}`,
    );
  }

  /** Debug and chaining book-keeping when a Deferred with extra state fires. */
  private _fired(): void {
    const extra = this._extraOrNull()!;
    if (extra.debug !== null) extra.debug.invoker = captureStack();
    extra.chainedTo = null;
  }

  /**
   * Insert an errback to run before every step already added. Used by
   * inlineCallbacks to intercept its own cancellation.
   * @internal
   */
  _prependErrback(eb: (f: Failure) => unknown): void {
    const rest = this._cbs === null ? [] : this._cbs.slice(this._cbIndex);
    this._cbs = [new Step(PASS, eb as Fn), ...rest];
    this._cbIndex = 0;
  }

  /**
   * Run as much of the chain as can run now. An explicit stack of Deferreds
   * replaces recursion: when a callback returns an unfired Deferred, this one
   * waits (a CONTINUE entry is appended to the inner one) and its loop ends;
   * when the inner one reaches that entry, it hands its result over and the
   * waiting Deferred runs next, on the same stack, with the inner one pushed
   * so it resumes afterwards.
   *
   * The trampoline and the loop over one Deferred's entries are one method on
   * purpose: a method this size is never inlined into its callers, so the
   * small ones that fire or add to a Deferred (`callback`, `_start`,
   * `addCallback`) stay small enough to be inlined into theirs.
   */
  private _runCallbacks(): void {
    if ((this._flags & Flag.RUNNING) !== 0) return; // a callback added this: the running loop will get to it
    if (this._cbs === null) {
      if (this._flags < Flag.PAUSE) this._settle();
      return;
    }
    let stack: Deferred<unknown>[] | null = null;
    let current = this as Deferred<unknown>;
    for (;;) {
      // Run current's own entries until they are exhausted, it starts
      // waiting on an inner Deferred, or another Deferred must run first
      // (then `next` is that one).
      let next: Deferred<unknown> | null = null;
      const cbs = current._cbs;
      const runnable = current._flags < Flag.PAUSE;
      if (runnable && cbs !== null) {
        // RUNNING makes an addCallback from inside a callback a plain append
        // that this loop picks up; the index lives in a local until the loop exits.
        current._flags |= Flag.RUNNING;
        let i = current._cbIndex;
        let result = current._result;
        // Only objects can be Failures: primitives skip the instanceof checks.
        let failed = typeof result === 'object' && result instanceof Failure;
        let waiting = false;
        while (i < cbs.length) {
          const entry = cbs[i++] as Fn | Step;
          let fn: Fn;
          if (typeof entry === 'function') {
            if (failed) continue;
            fn = entry;
          } else {
            const cb = entry.cb;
            const eb = entry.eb;
            if (cb === CONTINUE) {
              const waiter = eb as unknown as Deferred<unknown>;
              waiter._result = result;
              result = undefined;
              failed = false;
              waiter._flags -= Flag.PAUSE;
              next = waiter;
              break;
            }
            if (cb === CHAIN) {
              current._result = result;
              const target = eb as unknown as Deferred<unknown>;
              const runTarget = current._fireChained(target);
              result = current._result;
              failed = typeof result === 'object' && result instanceof Failure;
              if (runTarget) {
                next = target;
                break;
              }
              continue;
            }
            fn = failed ? eb : cb;
            if (fn === PASS) continue;
          }
          let value: unknown;
          try {
            value = fn(result);
            if (typeof value === 'object' && value !== null && !(value instanceof Failure)) {
              value = current._adopt(value);
              if (value === WAITING) {
                waiting = true;
                break;
              }
            }
          } catch (e) {
            value = Failure.from(e);
          }
          result = value;
          failed = typeof value === 'object' && value instanceof Failure;
        }
        current._flags &= ~Flag.RUNNING;
        if (waiting) {
          // _adopt left the inner Deferred in _result.
          current._cbIndex = i;
        } else {
          current._result = result;
          if (next === null && current._cbs === cbs && i >= cbs.length) {
            current._cbs = null;
            current._cbIndex = 0;
          } else {
            current._cbIndex = i;
          }
        }
      }
      if (next !== null) {
        (stack ??= []).push(current);
        current = next;
        continue;
      }
      // Ran as far as it can (or is waiting on an inner Deferred, which
      // _settle sees as a result that is not a failure).
      if (runnable) current._settle();
      if (stack !== null && stack.length > 0) current = stack.pop()!;
      else return;
    }
  }

  /**
   * A callback returned an object: if it is a Deferred or PromiseLike, take
   * its result when it already has one, or start waiting on it (WAITING).
   */
  private _adopt(value: object): unknown {
    if (value === this) {
      return new Failure(new TypeError('a callback returned the Deferred it was added to: it would wait forever'));
    }
    if (!isThenable(value)) return value;
    const inner = value instanceof Deferred ? (value as Deferred<unknown>) : Deferred.fromPromise(value);
    if ((inner._flags & Flag.CALLED) === 0 || inner._flags >= Flag.PAUSE) {
      // Wait for it: its CONTINUE entry will hand its result back to us.
      this._result = inner;
      this._flags += Flag.PAUSE;
      const innerCbs = inner._cbs;
      const link = new Step(CONTINUE, this as unknown as Fn);
      if (innerCbs === null) inner._cbs = [link];
      else innerCbs.push(link);
      return WAITING;
    }
    // Already there: take its result, so it no longer holds a failure to report.
    const taken = inner._result;
    inner._result = undefined;
    if ((inner._flags & Flag.UNHANDLED) !== 0) inner._clearUnhandled();
    return taken;
  }

  /**
   * Fire `target` with our result for chainDeferred, without recursing.
   * Returns true when `target` should be run next on the shared stack.
   */
  private _fireChained(target: Deferred<unknown>): boolean {
    const flags = target._flags;
    if ((flags & Flag.CALLED) !== 0) {
      if ((flags & Flag.SUPPRESS_ALREADY_CALLED) !== 0) {
        target._flags = flags & ~Flag.SUPPRESS_ALREADY_CALLED;
        this._result = undefined;
      } else {
        this._result = new Failure(new AlreadyCalledError('chainDeferred: the target Deferred was already called'));
      }
      return false;
    }
    target._flags = flags | Flag.CALLED;
    target._result = this._result; // (this drops its canceller)
    if ((flags & Flag.EXTRA) !== 0) target._fired();
    this._result = undefined;
    return target._flags < Flag.PAUSE;
  }

  /** Book-keeping when the chain has run as far as it can: track an unhandled failure. */
  private _settle(): void {
    const r = this._result;
    if (typeof r !== 'object' && (this._flags & Flag.UNHANDLED) === 0) return;
    const extra = this._extraOrNull();
    if (r instanceof Failure && (extra === null || r !== extra.observed)) {
      if ((this._flags & Flag.UNHANDLED) === 0) {
        this._flags |= Flag.UNHANDLED;
        r.cleanFailure();
        markUnhandled(this, { failure: r, debug: extra?.debug ?? null });
      }
    } else if ((this._flags & Flag.UNHANDLED) !== 0) {
      this._clearUnhandled();
    }
  }

  private _clearUnhandled(): void {
    this._flags &= ~Flag.UNHANDLED;
    markHandled(this);
  }

  /** @internal Used by the unhandled-failure tracker when a test flushes a failure. */
  static _forgetUnhandled(owner: object): void {
    if (owner instanceof Deferred) owner._flags &= ~Flag.UNHANDLED;
  }
}

setFlagClearer(Deferred._forgetUnhandled);

/** A Deferred that already succeeded with `value`. */
export function succeed<T>(value: T): Deferred<T> {
  const d = new Deferred<T>();
  d.callback(value);
  return d;
}

/** A Deferred that already failed with `error` (an Error, a Failure or any thrown value). */
export function fail<T = never>(error?: unknown): Deferred<T> {
  const d = new Deferred<T>();
  d.errback(error);
  return d;
}

/**
 * Call `fn(...args)` and give its outcome as a Deferred: a thrown error or a
 * returned Failure becomes a failed Deferred, a returned Deferred is returned
 * as it is (same object), a PromiseLike is followed, and any other value is a
 * success.
 */
export function maybeDeferred<T, A extends unknown[]>(
  fn: (...args: A) => MaybeDeferred<T> | Failure,
  ...args: A
): Deferred<T> {
  let r: unknown;
  try {
    r = fn(...args);
  } catch (e) {
    return fail<T>(Failure.from(e));
  }
  if (r instanceof Deferred) return r as Deferred<T>;
  if (r instanceof Failure) return fail<T>(r);
  if (isThenable(r)) return Deferred.fromPromise(r as PromiseLike<T>);
  return succeed(r as T);
}

/** Report an unhandled failure now (used where a failure is dropped on purpose, e.g. by a closed queue). */
export function logUnhandledFailure(failure: Failure): void {
  reportUnhandled({ failure, debug: null });
}

export { isThenable };
