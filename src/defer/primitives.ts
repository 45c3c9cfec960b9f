/**
 * Coordination with Deferreds: a lock, a semaphore and a queue. Waiters are
 * served first-come first-served, and cancelling a waiting Deferred takes it
 * out of the line.
 */
import { Deferred, maybeDeferred, type MaybeDeferred } from './deferred.js';
import { QueueOverflow, QueueUnderflow } from './errors.js';
import type { Failure } from './failure.js';

abstract class Acquirable<Self> {
  /** The Deferreds waiting for their turn, oldest first. */
  protected readonly waiting: Deferred<Self>[] = [];

  /** A Deferred that fires with this object once it is acquired. */
  abstract acquire(): Deferred<Self>;
  /** Give back what `acquire` gave; the next waiter (if any) gets it. */
  abstract release(): void;

  protected enqueue(): Deferred<Self> {
    const d = new Deferred<Self>((cancelled) => {
      const i = this.waiting.indexOf(cancelled);
      if (i !== -1) this.waiting.splice(i, 1);
    });
    this.waiting.push(d);
    return d;
  }

  /**
   * Acquire, run `fn(...args)`, and release once its result (a value, a
   * Deferred or a Promise) is there, whether it succeeded or failed.
   * @throws TypeError when `fn` is not a function.
   */
  run<T, A extends unknown[]>(fn: (...args: A) => MaybeDeferred<T> | Failure, ...args: A): Deferred<T> {
    if (typeof fn !== 'function') throw new TypeError('run() needs a function to call');
    return this.acquire().addCallback(() =>
      maybeDeferred(fn, ...args).addBoth((r: T | Failure) => {
        this.release();
        return r;
      }),
    ) as Deferred<T>;
  }
}

/**
 * A lock: one holder at a time.
 *
 * @example
 * ```ts
 * const lock = new DeferredLock();
 * lock.run(async () => { await writeRecord(); }); // one writer at a time
 * ```
 */
export class DeferredLock extends Acquirable<DeferredLock> {
  /** Whether someone holds the lock. */
  locked = false;

  acquire(): Deferred<DeferredLock> {
    if (this.locked) return this.enqueue();
    this.locked = true;
    const d = new Deferred<DeferredLock>();
    d.callback(this);
    return d;
  }

  /** @throws Error when the lock is not held. */
  release(): void {
    if (!this.locked) throw new Error('release() of a DeferredLock that is not locked');
    const next = this.waiting.shift();
    // Handed straight to the next waiter: the lock stays locked.
    if (next !== undefined) next.callback(this);
    else this.locked = false;
  }
}

/**
 * A semaphore: at most `tokens` holders at a time.
 *
 * @example
 * ```ts
 * const sem = new DeferredSemaphore(4);
 * const pages = await gatherResults(urls.map((u) => sem.run(() => download(u))));
 * ```
 */
export class DeferredSemaphore extends Acquirable<DeferredSemaphore> {
  /** Tokens left. */
  tokens: number;
  /** Tokens in all. */
  readonly limit: number;

  /** @throws RangeError when `tokens` is not an integer ≥ 1. */
  constructor(tokens: number) {
    super();
    if (!Number.isInteger(tokens) || tokens < 1) throw new RangeError('DeferredSemaphore needs at least one token');
    this.tokens = tokens;
    this.limit = tokens;
  }

  acquire(): Deferred<DeferredSemaphore> {
    if (this.tokens === 0) return this.enqueue();
    this.tokens--;
    const d = new Deferred<DeferredSemaphore>();
    d.callback(this);
    return d;
  }

  /** @throws Error when every token is already back. */
  release(): void {
    if (this.tokens >= this.limit) throw new Error('release() of a DeferredSemaphore with no token out');
    const next = this.waiting.shift();
    if (next !== undefined) next.callback(this);
    else this.tokens++;
  }
}

/**
 * A queue whose `get` is a Deferred. `size` bounds the items buffered and
 * `backlog` the getters waiting; both are unbounded by default.
 *
 * @example
 * ```ts
 * const q = new DeferredQueue<string>(100);
 * q.get().addCallback((job) => handle(job));
 * q.put('first job');
 * ```
 */
export class DeferredQueue<T> {
  /** Getters waiting for an item, oldest first. */
  readonly waiting: Deferred<T>[] = [];
  /** Items waiting for a getter, oldest first. */
  readonly pending: T[] = [];

  constructor(
    readonly size: number = Infinity,
    readonly backlog: number = Infinity,
  ) {}

  /**
   * Hand `item` to the oldest waiting getter, or buffer it.
   * @throws QueueOverflow when no getter waits and `size` items are buffered.
   */
  put(item: T): void {
    const getter = this.waiting.shift();
    if (getter !== undefined) getter.callback(item);
    else if (this.pending.length < this.size) this.pending.push(item);
    else throw new QueueOverflow();
  }

  /**
   * The oldest buffered item, or a Deferred that waits for the next `put`
   * (cancelling it leaves the line).
   * @throws QueueUnderflow when the queue is empty and `backlog` getters already wait.
   */
  get(): Deferred<T> {
    if (this.pending.length > 0) {
      const d = new Deferred<T>();
      d.callback(this.pending.shift() as T);
      return d;
    }
    if (this.waiting.length >= this.backlog) throw new QueueUnderflow();
    const d = new Deferred<T>((cancelled) => {
      const i = this.waiting.indexOf(cancelled);
      if (i !== -1) this.waiting.splice(i, 1);
    });
    this.waiting.push(d);
    return d;
  }
}
