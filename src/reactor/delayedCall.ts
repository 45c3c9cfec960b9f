/**
 * DelayedCall: a function scheduled to run later. One class serves the test
 * Clock and the Node reactor, so the two behave identically.
 */
import type { IDelayedCall } from '../defer/clock.js';
import { AlreadyCalled, AlreadyCancelled } from './errors.js';

/** The scheduler a DelayedCall belongs to: it keeps calls ordered by time. */
export interface DelayedCallOwner {
  seconds(): number;
  /** The call's time changed (reset/delay): re-order it. */
  rescheduled(call: DelayedCall): void;
  /** The call was cancelled: drop it. */
  cancelled(call: DelayedCall): void;
}

let sequence = 0;

/**
 * A call scheduled by `callLater`. `cancel`, `reset` and `delay` throw
 * {@link AlreadyCalled} once it has run and {@link AlreadyCancelled} once it
 * was cancelled.
 */
export class DelayedCall implements IDelayedCall {
  /** Clock time at which it is due. */
  time: number;
  /** Insertion order, breaking ties between calls due at the same time. */
  readonly seq: number;
  cancelled = false;
  called = false;

  constructor(
    private readonly owner: DelayedCallOwner,
    time: number,
    readonly fn: (...args: never[]) => unknown,
    readonly args: readonly unknown[],
  ) {
    this.time = time;
    this.seq = sequence++;
  }

  getTime(): number {
    return this.time;
  }

  active(): boolean {
    return !(this.cancelled || this.called);
  }

  cancel(): void {
    this.check();
    this.cancelled = true;
    this.owner.cancelled(this);
  }

  reset(secondsFromNow: number): void {
    this.check();
    this.time = this.owner.seconds() + secondsFromNow;
    this.owner.rescheduled(this);
  }

  delay(secondsLater: number): void {
    this.check();
    this.time += secondsLater;
    this.owner.rescheduled(this);
  }

  /** Mark it run and call the function; its exceptions propagate to the caller. */
  run(): unknown {
    this.called = true;
    return (this.fn as (...args: unknown[]) => unknown)(...this.args);
  }

  /** Whether `a` is due before `b` (time, then insertion order). */
  static before(a: DelayedCall, b: DelayedCall): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private check(): void {
    if (this.cancelled) throw new AlreadyCancelled();
    if (this.called) throw new AlreadyCalled();
  }
}
