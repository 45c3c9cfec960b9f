// inlineCallbacks and ensureDeferred, after Twisted's test_inlinecb.py and EnsureDeferredTests.
import { describe, expect, test } from 'vitest';
import {
  CancelledError,
  Deferred,
  NotACoroutineError,
  ensureDeferred,
  fail,
  inlineCallbacks,
  succeed,
} from '../../src/defer/index.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/index.js';

class GenericError extends Error {}
class TranslatedError extends Error {}

describe('inlineCallbacks', () => {
  test('yields Deferreds and returns the result', () => {
    const d1 = new Deferred<number>();
    const f = inlineCallbacks(function* (base: number) {
      const a = (yield succeed(1)) as number;
      const b = (yield d1) as number;
      return base + a + b;
    });
    const result = f(10);
    assertNoResult(result);
    d1.callback(100);
    expect(successResultOf(result)).toBe(111);
  });

  test('yielding a plain value gives it straight back (testYieldNonDeferred)', () => {
    const f = inlineCallbacks(function* () {
      return (yield 5) as number;
    });
    expect(successResultOf(f())).toBe(5);
  });

  test('falling off the end gives undefined', () => {
    const f = inlineCallbacks(function* () {
      yield succeed(1);
    });
    expect(successResultOf(f())).toBeUndefined();
  });

  test('a failure is thrown into the generator as the original error', () => {
    const e = new GenericError('inside');
    const f = inlineCallbacks(function* () {
      try {
        yield fail(e);
        return 'not reached';
      } catch (caught) {
        return caught;
      }
    });
    expect(successResultOf(f())).toBe(e);
  });

  test('an uncaught throw fails the Deferred', () => {
    const f = inlineCallbacks(function* () {
      yield succeed(1);
      throw new GenericError('out');
    });
    failureResultOf(f(), GenericError);
  });

  test('yields Promises', async () => {
    const f = inlineCallbacks(function* () {
      const v = (yield Promise.resolve(3)) as number;
      return v * 2;
    });
    expect(await f()).toBe(6);
  });

  test('5,000 already-fired yields do not overflow the stack (testStackUsage)', () => {
    const f = inlineCallbacks(function* () {
      let total = 0;
      for (let i = 0; i < 5000; i++) total += (yield succeed(1)) as number;
      return total - 5000;
    });
    expect(successResultOf(f())).toBe(0);
  });

  test('a function that is not a generator function is a TypeError when called', () => {
    const f = inlineCallbacks((() => 3) as unknown as () => Generator<unknown, number, unknown>);
    expect(() => f()).toThrow(TypeError);
  });

  test('cancelling cancels the awaited Deferred; the generator sees CancelledError (test_CascadeCancellingOnCancel)', () => {
    let innerCancelled = false;
    const inner = new Deferred<string>(() => {
      innerCancelled = true;
    });
    const f = inlineCallbacks(function* () {
      yield inner;
      return 'done';
    });
    const d = f();
    d.cancel();
    expect(innerCancelled).toBe(true);
    failureResultOf(d, CancelledError);
  });

  test('the generator may translate a cancellation into another error (test_ErrorToErrorTranslation)', () => {
    const inner = new Deferred<string>();
    const f = inlineCallbacks(function* () {
      try {
        yield inner;
      } catch (e) {
        if (e instanceof CancelledError) throw new TranslatedError();
        throw e;
      }
      return 'x';
    });
    const d = f();
    d.cancel();
    failureResultOf(d, TranslatedError);
  });

  test('the generator may turn a cancellation into a success (test_ErrorToSuccessTranslation)', () => {
    const inner = new Deferred<string>();
    const f = inlineCallbacks(function* () {
      try {
        yield inner;
      } catch {
        return 'recovered';
      }
      return 'x';
    });
    const d = f();
    d.cancel();
    expect(successResultOf(d)).toBe('recovered');
  });

  test('the generator may keep waiting after a cancellation, and finish later', () => {
    const first = new Deferred<string>();
    const second = new Deferred<string>();
    const f = inlineCallbacks(function* () {
      try {
        yield first;
      } catch {
        return (yield second) as string;
      }
      return 'x';
    });
    const d = f();
    d.cancel();
    assertNoResult(d);
    second.callback('late');
    expect(successResultOf(d)).toBe('late');
  });

  test('cancelling twice reaches the second awaited Deferred', () => {
    const first = new Deferred<string>();
    let secondCancelled = false;
    const second = new Deferred<string>(() => {
      secondCancelled = true;
    });
    const f = inlineCallbacks(function* () {
      try {
        yield first;
      } catch {
        /* keep going */
      }
      yield second;
      return 'x';
    });
    const d = f();
    d.cancel();
    d.cancel();
    expect(secondCancelled).toBe(true);
    failureResultOf(d, CancelledError);
  });

  test('callbacks on the returned Deferred run after the generator finishes', () => {
    const inner = new Deferred<number>();
    const f = inlineCallbacks(function* () {
      return ((yield inner) as number) + 1;
    });
    const log: number[] = [];
    f().addCallback((v) => log.push(v));
    inner.callback(1);
    expect(log).toEqual([2]);
  });
});

describe('ensureDeferred', () => {
  test('a Deferred is returned unchanged', () => {
    const d = new Deferred();
    expect(ensureDeferred(d)).toBe(d);
  });

  test('an async function result is followed', async () => {
    const d = ensureDeferred((async () => (await succeed('foo')) + '!')());
    expect(d).toBeInstanceOf(Deferred);
    expect(await d).toBe('foo!');
  });

  test('a generator is run like inlineCallbacks', () => {
    const gen = (function* () {
      return ((yield succeed(2)) as number) * 3;
    })();
    expect(successResultOf(ensureDeferred(gen))).toBe(6);
  });

  test('anything else is a NotACoroutineError', () => {
    expect(() => ensureDeferred('x' as never)).toThrow(NotACoroutineError);
    expect(() => ensureDeferred(3 as never)).toThrow(TypeError);
  });
});
