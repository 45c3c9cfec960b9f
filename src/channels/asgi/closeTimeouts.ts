/**
 * Application-close timeouts for a server's many instances, on one timer.
 */
import type { IDelayedCall, IReactorTime } from '../../defer/clock.js';
import { Logger } from '../../logger/index.js';

const log = new Logger('spindle.channels');

/** One instance's countdown in a {@link CloseTimeouts} list. */
export class CloseTimeout {
  /** @internal */ prev: CloseTimeout | null = null;
  /** @internal */ next: CloseTimeout | null = null;
  /** @internal */ linked = true;

  /** @internal made by {@link CloseTimeouts.start} */
  constructor(
    /** Clock time (seconds) at which `expire` is called. */
    readonly deadline: number,
    /** @internal */ readonly expire: () => void,
    private readonly owner: CloseTimeouts,
  ) {}

  /** Whether the countdown still runs (neither expired nor cancelled). */
  active(): boolean {
    return this.linked;
  }

  /** Stop the countdown (a no-op once expired or cancelled). */
  cancel(): void {
    if (this.linked) this.owner._unlink(this);
  }
}

/**
 * The application-close timeouts of many instances: each instance that outlives its connection
 * is given `timeout` seconds on `clock` (see `AppRunnerOptions.closeTimeouts`), and one
 * DelayedCall, armed for the earliest deadline, serves them all.
 *
 * Why: an HTTP request's connection closes while its application is still running in nearly
 * every request — the response completes inside the application's last `send`, and the
 * application returns a few microtasks later — so a timer of its own per instance meant a
 * DelayedCall armed and cancelled per request. Here, since every instance has the same timeout,
 * deadlines come in the order instances are added: the list is a FIFO, adding and cancelling
 * are O(1) and allocate one small node, and no timer is armed while one already is. The timer is
 * not cancelled when the list empties (it wakes once for nothing and is not re-armed); a timer
 * that finds the earliest deadline still ahead re-arms for it. Each deadline is kept exactly:
 * an instance is cancelled `timeout` seconds after it was added, as with a timer of its own.
 * (The FIFO order relies on the clock never going back, which holds for the reactors' clocks
 * and for `Clock`.)
 */
export class CloseTimeouts {
  readonly #clock: IReactorTime;
  #head: CloseTimeout | null = null;
  #tail: CloseTimeout | null = null;
  #timer: IDelayedCall | null = null;
  #count = 0;
  /** Inside the timer's call: it arms the next timer itself, once it is done. */
  #waking = false;

  /** @throws RangeError when `timeout` is not a number of seconds >= 0. */
  constructor(
    clock: IReactorTime,
    /** Seconds between {@link CloseTimeouts.start} and the call of its `expire`; `Infinity`: never. */
    readonly timeout: number,
  ) {
    if (!(timeout >= 0)) throw new RangeError('CloseTimeouts: timeout must be a number of seconds >= 0');
    this.#clock = clock;
  }

  /** Countdowns running. */
  get size(): number {
    return this.#count;
  }

  /**
   * Call `expire` in `timeout` seconds unless the returned countdown is cancelled first. An
   * exception `expire` throws is logged; the other countdowns go on.
   */
  start(expire: () => void): CloseTimeout {
    const entry = new CloseTimeout(this.#clock.seconds() + this.timeout, expire, this);
    const tail = this.#tail;
    if (tail === null) this.#head = entry;
    else {
      tail.next = entry;
      entry.prev = tail;
    }
    this.#tail = entry;
    this.#count++;
    if (this.#timer === null && !this.#waking && this.timeout !== Infinity) this.#timer = this.#clock.callLater(this.timeout, this.#wake);
    return entry;
  }

  /** @internal */
  _unlink(entry: CloseTimeout): void {
    entry.linked = false;
    this.#count--;
    const { prev, next } = entry;
    if (prev === null) this.#head = next;
    else prev.next = next;
    if (next === null) this.#tail = prev;
    else next.prev = prev;
    entry.prev = entry.next = null;
  }

  readonly #wake = (): void => {
    this.#timer = null;
    const now = this.#clock.seconds();
    let entry = this.#head;
    this.#waking = true;
    try {
      while (entry !== null && entry.deadline <= now) {
        this._unlink(entry);
        try {
          entry.expire();
        } catch (e) {
          log.failure('An application-close timeout failed', e, undefined, 'error');
        }
        entry = this.#head;
      }
    } finally {
      this.#waking = false;
    }
    if (entry !== null) this.#timer = this.#clock.callLater(entry.deadline - now, this.#wake);
  };
}
