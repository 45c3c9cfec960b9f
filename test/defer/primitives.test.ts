// DeferredLock, DeferredSemaphore, DeferredQueue, after Twisted's OtherPrimitivesTests.
import { describe, expect, test } from 'vitest';
import {
  CancelledError,
  Deferred,
  DeferredLock,
  DeferredQueue,
  DeferredSemaphore,
  QueueOverflow,
  QueueUnderflow,
} from '../../src/defer/index.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/index.js';

class GenericError extends Error {}

describe('DeferredLock (testLock)', () => {
  test('acquire, wait, release hands the lock over', () => {
    const lock = new DeferredLock();
    const order: string[] = [];
    lock.acquire().addCallback(() => order.push('first'));
    expect(lock.locked).toBe(true);
    const second = lock.acquire().addCallback(() => order.push('second'));
    expect(order).toEqual(['first']);
    assertNoResult(second);
    lock.release();
    expect(order).toEqual(['first', 'second']);
    expect(lock.locked).toBe(true);
    lock.release();
    expect(lock.locked).toBe(false);
  });

  test('run keeps the lock until the returned Deferred fires, on success and on failure', () => {
    const lock = new DeferredLock();
    const pending = new Deferred<string>();
    const r = lock.run(() => pending);
    expect(lock.locked).toBe(true);
    pending.callback('done');
    expect(successResultOf(r)).toBe('done');
    expect(lock.locked).toBe(false);
    const r2 = lock.run(() => {
      throw new GenericError();
    });
    failureResultOf(r2, GenericError);
    expect(lock.locked).toBe(false);
  });

  test('run passes arguments', () => {
    const lock = new DeferredLock();
    expect(successResultOf(lock.run((a: number, b: number) => a * b, 6, 7))).toBe(42);
  });

  test('run without a function is a TypeError', () => {
    expect(() => new DeferredLock().run(undefined as never)).toThrow(TypeError);
  });

  test('cancelling a waiting acquire removes it (test_cancelLockBeforeAcquired)', () => {
    const lock = new DeferredLock();
    lock.acquire();
    const waiting = lock.acquire();
    waiting.cancel();
    failureResultOf(waiting, CancelledError);
    lock.release();
    expect(lock.locked).toBe(false);
  });

  test('cancelling after acquisition has no effect (test_cancelLockAfterAcquired)', () => {
    const lock = new DeferredLock();
    const d = lock.acquire();
    d.cancel();
    expect(successResultOf(d)).toBe(lock);
  });

  test('release of an unlocked lock throws', () => {
    expect(() => new DeferredLock().release()).toThrow();
  });
});

describe('DeferredSemaphore (testSemaphore)', () => {
  test('N acquires succeed, the next waits, release wakes it', () => {
    const sem = new DeferredSemaphore(2);
    const a = sem.acquire();
    const b = sem.acquire();
    successResultOf(a);
    successResultOf(b);
    expect(sem.tokens).toBe(0);
    const c = sem.acquire();
    assertNoResult(c);
    sem.release();
    expect(successResultOf(c)).toBe(sem);
    expect(sem.tokens).toBe(0);
    sem.release();
    sem.release();
    expect(sem.tokens).toBe(2);
    expect(() => sem.release()).toThrow();
  });

  test('cancelling a waiter runs its errback and leaves the line', () => {
    const sem = new DeferredSemaphore(1);
    sem.acquire();
    const w = sem.acquire();
    w.cancel();
    failureResultOf(w, CancelledError);
    sem.release();
    expect(sem.tokens).toBe(1);
  });

  test.each([0, -1, 1.5, Number.NaN])('tokens %s is refused (test_semaphoreInvalidTokens)', (n) => {
    expect(() => new DeferredSemaphore(n)).toThrow(RangeError);
  });

  test('run limits concurrency', () => {
    const sem = new DeferredSemaphore(2);
    const jobs = [new Deferred<void>(), new Deferred<void>(), new Deferred<void>()];
    let active = 0;
    let peak = 0;
    const results = jobs.map((job) =>
      sem.run(() => {
        active++;
        peak = Math.max(peak, active);
        return job.addCallback(() => {
          active--;
        });
      }),
    );
    expect(active).toBe(2);
    jobs[0]!.callback();
    expect(active).toBe(2);
    jobs[1]!.callback();
    jobs[2]!.callback();
    expect(peak).toBe(2);
    for (const r of results) successResultOf(r);
  });
});

describe('DeferredQueue (testQueue)', () => {
  test('waiters are served in order, then items buffer, then overflow', () => {
    const q = new DeferredQueue<number>(2, 2);
    const got: number[] = [];
    q.get().addCallback((v) => got.push(v));
    q.get().addCallback((v) => got.push(v));
    expect(() => q.get()).toThrow(QueueUnderflow);
    q.put(1);
    q.put(2);
    expect(got).toEqual([1, 2]);
    q.put(3);
    q.put(4);
    expect(q.pending).toEqual([3, 4]);
    expect(() => q.put(5)).toThrow(QueueOverflow);
    expect(successResultOf(q.get())).toBe(3);
    expect(successResultOf(q.get())).toBe(4);
  });

  test('size 0 overflows on every put without a waiter; backlog 0 underflows every get on empty', () => {
    expect(() => new DeferredQueue<number>(0).put(1)).toThrow(QueueOverflow);
    expect(() => new DeferredQueue<number>(Infinity, 0).get()).toThrow(QueueUnderflow);
  });

  test('a cancelled get leaves the line; a later put does not fire it (test_cancelQueueAfterGet)', () => {
    const q = new DeferredQueue<string>();
    const d = q.get();
    d.cancel();
    failureResultOf(d, CancelledError);
    q.put('x');
    expect(q.pending).toEqual(['x']);
  });
});
