/**
 * Deferreds over a clock: deferLater and LoopingCall. The clock is passed in
 * (the reactor, or the test kit's Clock), so tests advance time by hand.
 */
import { Deferred, maybeDeferred, type MaybeDeferred } from './deferred.js';
import type { Failure } from './failure.js';
import { getDefaultClock, type IDelayedCall, type IReactorTime } from './clock.js';

/**
 * A Deferred of `fn(...args)` run `delay` seconds from now on `clock` (of
 * `undefined` when no function is given). Cancelling it before then cancels
 * the call and fails it with CancelledError.
 *
 * @example
 * ```ts
 * const clock = new Clock();
 * const d = deferLater(clock, 5, () => 'done');
 * clock.advance(5);
 * successResultOf(d); // 'done'
 * ```
 */
export function deferLater<T = undefined, A extends unknown[] = []>(
  clock: IReactorTime,
  delay: number,
  fn?: (...args: A) => MaybeDeferred<T> | Failure,
  ...args: A
): Deferred<T> {
  let call: IDelayedCall | null = null;
  const d = new Deferred<T>(() => {
    if (call !== null && call.active()) call.cancel();
  });
  call = clock.callLater(delay, () => {
    if (fn === undefined) d.callback(undefined as T);
    else maybeDeferred(fn, ...args).chainDeferred(d);
  });
  return d;
}

/**
 * Call a function every `interval` seconds.
 *
 * `start(interval, now = true)` returns a Deferred that fires with the
 * LoopingCall when `stop()` is called, or fails when the function throws or
 * its Deferred fails (the loop then stops). When the function returns a
 * Deferred or Promise, the next call waits for it. Calls stay aligned to
 * multiples of `interval` from the start; calls missed while the function ran
 * long are skipped.
 *
 * @example
 * ```ts
 * const lc = new LoopingCall(() => console.log('tick'));
 * lc.clock = reactor;          // default: the global reactor
 * lc.start(1.0).addCallback(() => console.log('stopped'));
 * ```
 */
export class LoopingCall<A extends unknown[] = []> {
  /** The clock it runs on; defaults to the global reactor. */
  clock: IReactorTime;
  /** Whether it is started and not stopped. */
  running = false;
  /** The interval in seconds, once started. */
  interval: number | null = null;
  /** Clock time at `start`. */
  startTime = 0;
  private readonly args: A;
  private call: IDelayedCall | null = null;
  private deferred: Deferred<LoopingCall<A>> | null = null;

  constructor(
    readonly fn: (...args: A) => MaybeDeferred<unknown> | Failure,
    ...args: A
  ) {
    this.args = args;
    this.clock = lazyDefaultClock;
  }

  /**
   * Start calling. With `now`, the first call happens at once.
   * @throws Error when already running; RangeError on a negative interval.
   */
  start(interval: number, now = true): Deferred<LoopingCall<A>> {
    if (this.running) throw new Error('LoopingCall is already running');
    if (!(interval >= 0)) throw new RangeError('LoopingCall interval must be a number >= 0');
    this.running = true;
    const d = (this.deferred = new Deferred<LoopingCall<A>>());
    this.startTime = this.clock.seconds();
    this.interval = interval;
    if (now) this.tick();
    else this.scheduleFrom(this.startTime);
    return d;
  }

  /**
   * Stop calling. The Deferred from `start` fires now, or, when a call's
   * Deferred is still pending, once it fires.
   * @throws Error when not running.
   */
  stop(): void {
    if (!this.running) throw new Error('LoopingCall is not running');
    this.running = false;
    if (this.call !== null) {
      this.call.cancel();
      this.call = null;
      this.finish();
    }
  }

  /** Restart the interval count from now (the next call is `interval` from now). */
  reset(): void {
    if (!this.running) throw new Error('LoopingCall is not running');
    if (this.call !== null) {
      this.call.cancel();
      this.call = null;
      this.startTime = this.clock.seconds();
      this.scheduleFrom(this.startTime);
    }
  }

  private tick(): void {
    this.call = null;
    maybeDeferred(this.fn, ...this.args).addCallbacks(
      () => {
        if (this.running) this.scheduleFrom(this.clock.seconds());
        else this.finish();
        return undefined;
      },
      (failure: Failure) => {
        this.running = false;
        const d = this.deferred;
        this.deferred = null;
        d?.errback(failure);
        return undefined;
      },
    );
  }

  private finish(): void {
    const d = this.deferred;
    this.deferred = null;
    d?.callback(this);
  }

  private scheduleFrom(when: number): void {
    const interval = this.interval ?? 0;
    let delay: number;
    if (interval === 0) delay = 0;
    else {
      const runningFor = when - this.startTime;
      const untilNext = interval - (runningFor % interval);
      // Float rounding can leave a "next" that is no later than now.
      delay = when === when + untilNext ? interval : untilNext;
    }
    this.call = this.clock.callLater(delay, () => this.tick());
  }
}

/** Resolves the global reactor only when a LoopingCall without a clock first uses it. */
const lazyDefaultClock: IReactorTime = {
  seconds: () => getDefaultClock().seconds(),
  callLater: (delay, fn, ...args) => getDefaultClock().callLater(delay, fn, ...args),
  getDelayedCalls: () => getDefaultClock().getDelayedCalls(),
};
