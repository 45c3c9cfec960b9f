/**
 * The Node reactor's timed calls: one binary heap of DelayedCalls driving a
 * single Node timer, re-armed to the soonest call.
 *
 * Scheduling follows Twisted's `runUntilCurrent`: calls scheduled while due
 * calls are running wait in a separate list and join the heap only once the
 * run is over, so `callLater(0, f)` from inside a timed call runs on the
 * *next* turn of the event loop, after I/O, never in the same burst.
 */
import { DelayedCall, type DelayedCallOwner } from './delayedCall.js';
import { Logger } from '../logger/index.js';

const log = new Logger('spindle.reactor');

/** The longest delay a Node timer takes (ms); longer waits re-arm on wake. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A DelayedCall that knows where it sits in the heap (-1: not in it). */
class HeapCall extends DelayedCall {
  index = -1;
}

/**
 * Timed calls on Node timers. `schedule` is the reactor's `callLater`; the
 * reactor `close()`s it when it has stopped (pending calls then never run).
 *
 * The Node timer is unref'd: pending calls alone do not keep the process
 * alive (the running reactor does, and so do open sockets). Calls already
 * due use a ref'd immediate, which lives for one loop turn.
 */
export class TimerQueue implements DelayedCallOwner {
  private readonly heap: HeapCall[] = [];
  /** Calls scheduled by the calls running now: they join the heap after the run. */
  private incoming: HeapCall[] = [];
  private handle: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private handleIsImmediate = false;
  /** When the armed Node timer fires (seconds), Infinity when none is armed. */
  private armedAt = Infinity;
  private closed = false;
  /** True while due calls run: the timer is armed once, after them. */
  private running = false;

  /** @param now the reactor's clock, in seconds. */
  constructor(private readonly now: () => number) {}

  seconds(): number {
    return this.now();
  }

  /**
   * Run `fn(...args)` `delay` seconds from now.
   * @throws RangeError when `delay` is negative or NaN.
   * @throws TypeError when `delay` is not a number or `fn` is not a function.
   */
  schedule(delay: number, fn: (...args: never[]) => unknown, args: readonly unknown[]): DelayedCall {
    if (typeof delay !== 'number') throw new TypeError(`callLater needs a delay in seconds, not ${typeof delay}`);
    if (!(delay >= 0)) throw new RangeError(`callLater needs a delay >= 0 seconds, not ${delay}`);
    if (typeof fn !== 'function') throw new TypeError('callLater needs a function');
    const call = new HeapCall(this, this.now() + delay, fn, args);
    if (this.running) {
      this.incoming.push(call);
    } else {
      this.push(call);
      if (call.time < this.armedAt) this.arm();
    }
    return call;
  }

  /** The active calls, in no particular order. */
  getDelayedCalls(): DelayedCall[] {
    const calls: DelayedCall[] = this.heap.slice();
    for (const c of this.incoming) if (c.active()) calls.push(c);
    return calls;
  }

  /** Stop for good: disarm the Node timer; pending calls never run. */
  close(): void {
    this.closed = true;
    this.disarm();
  }

  // ------------------------------------------------------- DelayedCallOwner

  rescheduled(call: DelayedCall): void {
    const c = call as HeapCall;
    if (c.index !== -1) {
      this.siftUp(c.index);
      this.siftDown(c.index);
    }
    // Only an earlier time needs the timer moved; a later one is found on wake.
    if (!this.running && c.time < this.armedAt) this.arm();
  }

  cancelled(call: DelayedCall): void {
    const c = call as HeapCall;
    if (c.index !== -1) this.removeAt(c.index);
    // A cancelled incoming call is dropped when the run ends; a timer armed
    // for a cancelled call just wakes up early and re-arms.
  }

  // ------------------------------------------------------- running

  private readonly wake = (): void => {
    this.handle = null;
    this.armedAt = Infinity;
    const now = this.now();
    const heap = this.heap;
    this.running = true;
    try {
      while (!this.closed && heap.length > 0 && heap[0]!.time <= now) {
        const call = this.removeAt(0);
        try {
          call.run();
        } catch (e) {
          log.failure('Unhandled error in a delayed call', e);
        }
      }
    } finally {
      this.running = false;
    }
    if (this.incoming.length > 0) {
      const incoming = this.incoming;
      this.incoming = [];
      for (const call of incoming) if (call.active()) this.push(call);
    }
    this.arm();
  };

  /** Arm the Node timer for the soonest call. */
  private arm(): void {
    if (this.closed || this.heap.length === 0) return;
    const next = this.heap[0]!.time;
    if (this.handle !== null && this.armedAt <= next) return;
    this.disarm();
    const ms = (next - this.now()) * 1000;
    if (ms <= 0) {
      // Due now: the next loop turn, after pending I/O (Twisted's next iteration).
      // Left ref'd: Node does not wake an otherwise idle loop for an unref'd
      // immediate, so a due call would wait for unrelated I/O. It lives one turn.
      this.handle = setImmediate(this.wake);
      this.handleIsImmediate = true;
    } else {
      // Rounded up: a timer that fires before the call is due only re-arms.
      // Unref'd: pending calls alone do not keep the process alive.
      this.handle = setTimeout(this.wake, Math.min(Math.ceil(ms), MAX_TIMER_MS));
      this.handle.unref();
      this.handleIsImmediate = false;
    }
    this.armedAt = next;
  }

  private disarm(): void {
    if (this.handle === null) return;
    if (this.handleIsImmediate) clearImmediate(this.handle as NodeJS.Immediate);
    else clearTimeout(this.handle as NodeJS.Timeout);
    this.handle = null;
    this.armedAt = Infinity;
  }

  // ------------------------------------------------------- the heap

  private push(call: HeapCall): void {
    call.index = this.heap.length;
    this.heap.push(call);
    this.siftUp(call.index);
  }

  private removeAt(i: number): HeapCall {
    const heap = this.heap;
    const call = heap[i]!;
    const last = heap.pop()!;
    call.index = -1;
    if (last !== call) {
      heap[i] = last;
      last.index = i;
      this.siftUp(i);
      this.siftDown(last.index);
    }
    return call;
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const call = heap[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!DelayedCall.before(call, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    heap[i] = call;
    call.index = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const call = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && DelayedCall.before(heap[right]!, heap[left]!) ? right : left;
      const smallest = heap[child]!;
      if (!DelayedCall.before(smallest, call)) break;
      heap[i] = smallest;
      smallest.index = i;
      i = child;
    }
    heap[i] = call;
    call.index = i;
  }
}
