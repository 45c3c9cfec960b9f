/**
 * Clock: a reactor time you advance by hand, for deterministic tests.
 */
import type { IReactorTime } from '../defer/clock.js';
import { DelayedCall, type DelayedCallOwner } from '../reactor/delayedCall.js';

/**
 * An IReactorTime whose time only moves when the test calls `advance`.
 *
 * Calls due during an `advance` run within it, in time order and, for equal
 * times, in the order they were scheduled, including calls they schedule
 * themselves that are already due. An exception thrown by a call propagates
 * out of `advance` (the call counts as run).
 *
 * @example
 * ```ts
 * const clock = new Clock();
 * const seen: string[] = [];
 * clock.callLater(2, () => seen.push('two'));
 * clock.advance(1);   // nothing yet
 * clock.advance(1);   // seen == ['two']
 * ```
 */
export class Clock implements IReactorTime, DelayedCallOwner {
  /** The current time, in seconds; starts at 0. */
  rightNow = 0;
  /** Pending calls, ordered by (time, insertion). */
  private calls: DelayedCall[] = [];

  seconds(): number {
    return this.rightNow;
  }

  /** Schedule `fn(...args)` `delay` seconds from now (negative delays are allowed, as in Twisted's Clock). */
  callLater<A extends unknown[]>(delay: number, fn: (...args: A) => unknown, ...args: A): DelayedCall {
    if (typeof fn !== 'function') throw new TypeError('callLater needs a function');
    const call = new DelayedCall(this, this.rightNow + delay, fn as (...args: never[]) => unknown, args);
    this.insert(call);
    return call;
  }

  /** The active calls, soonest first. */
  getDelayedCalls(): DelayedCall[] {
    return [...this.calls];
  }

  /** Move time forward by `amount` seconds, running every call that falls due. */
  advance(amount: number): void {
    if (!(amount >= 0)) throw new RangeError('Clock.advance needs a number >= 0');
    this.rightNow += amount;
    while (this.calls.length > 0 && this.calls[0]!.time <= this.rightNow) {
      const call = this.calls.shift()!;
      call.run();
    }
  }

  /** `advance` by each amount in turn. */
  pump(timings: Iterable<number>): void {
    for (const t of timings) this.advance(t);
  }

  rescheduled(call: DelayedCall): void {
    this.remove(call);
    this.insert(call);
  }

  cancelled(call: DelayedCall): void {
    this.remove(call);
  }

  private insert(call: DelayedCall): void {
    // Binary search for the first call due after this one.
    let lo = 0;
    let hi = this.calls.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (DelayedCall.before(this.calls[mid]!, call)) lo = mid + 1;
      else hi = mid;
    }
    this.calls.splice(lo, 0, call);
  }

  private remove(call: DelayedCall): void {
    const i = this.calls.indexOf(call);
    if (i !== -1) this.calls.splice(i, 1);
  }
}
