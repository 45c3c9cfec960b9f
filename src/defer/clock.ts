/**
 * The time interfaces the Deferred layer needs (`addTimeout`, `deferLater`,
 * `LoopingCall`). The reactor implements them on real timers and the test
 * kit's `Clock` implements them on a time you advance by hand; the Deferred
 * layer itself never touches a timer.
 */

/** A call scheduled with `callLater`. */
export interface IDelayedCall {
  /** When it is due, in the clock's seconds. */
  getTime(): number;
  /** Do not run it. Throws `AlreadyCalled`/`AlreadyCancelled` when it ran or was cancelled. */
  cancel(): void;
  /** Move it `secondsLater` after its current due time. Same errors as `cancel`. */
  delay(secondsLater: number): void;
  /** Make it due `secondsFromNow` from now. Same errors as `cancel`. */
  reset(secondsFromNow: number): void;
  /** Neither run nor cancelled yet. */
  active(): boolean;
}

/** Something that tells the time and runs functions later: Twisted's IReactorTime. */
export interface IReactorTime {
  /** The current time in seconds (a float). */
  seconds(): number;
  /** Run `fn(...args)` after `delay` seconds. */
  callLater<A extends unknown[]>(delay: number, fn: (...args: A) => unknown, ...args: A): IDelayedCall;
  /** The calls scheduled and still active. */
  getDelayedCalls(): IDelayedCall[];
}

let defaultClock: (() => IReactorTime) | null = null;

/** The reactor module registers how to get the default clock (the lazily created reactor). */
export function setDefaultClockProvider(provider: () => IReactorTime): void {
  defaultClock = provider;
}

/** The default clock: the global reactor. Throws when no reactor module is loaded. */
export function getDefaultClock(): IReactorTime {
  if (defaultClock === null) {
    throw new TypeError('no clock given and no default reactor is available: pass a clock (e.g. the reactor)');
  }
  return defaultClock();
}
