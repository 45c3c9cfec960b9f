// Cancellation and timeouts, after Twisted's DeferredCancellerTests and DeferredAddTimeoutTests.
import { describe, expect, test } from 'vitest';
import {
  AlreadyCalledError,
  CancelledError,
  Deferred,
  TimeoutError,
  type Failure,
} from '../../src/defer/index.js';
import { Clock, failureResultOf, flushLoggedErrors, successResultOf, assertNoResult } from '../../src/testing/index.js';

class GenericError extends Error {}

describe('cancel()', () => {
  test('without a canceller the errback gets CancelledError (test_noCanceller)', () => {
    const d = new Deferred<number>();
    const seen: unknown[] = [];
    d.addCallbacks(
      () => seen.push('cb'),
      (f) => seen.push(f.type),
    );
    d.cancel();
    expect(seen).toEqual([CancelledError]);
  });

  test('without a canceller exactly one later fire is ignored (test_raisesAfterCancelAndCallback)', () => {
    const d = new Deferred<null>();
    d.addErrback(() => null);
    d.cancel();
    d.callback(null); // the producer answering late: swallowed
    expect(() => d.callback(null)).toThrow(AlreadyCalledError);
    expect(() => d.errback(new GenericError())).toThrow(AlreadyCalledError);
  });

  test('the swallowed errback leaves CancelledError, and later cancels do nothing (test_noCancellerMultipleCancelsAfterCancelAndErrback)', () => {
    const d = new Deferred<null>();
    d.cancel();
    d.errback(new GenericError());
    d.cancel();
    d.cancel();
    failureResultOf(d, CancelledError);
  });

  test('a canceller that does not fire: called once, then CancelledError, later fires raise (test_simpleCanceller, test_cancellerMultipleCancel)', () => {
    let calls = 0;
    const d = new Deferred<null>(() => {
      calls++;
    });
    d.cancel();
    d.cancel();
    expect(calls).toBe(1);
    expect(() => d.callback(null)).toThrow(AlreadyCalledError);
    failureResultOf(d, CancelledError);
  });

  test('the canceller receives the Deferred', () => {
    let got: unknown = null;
    const d = new Deferred<null>((x) => {
      got = x;
    });
    d.cancel();
    expect(got).toBe(d);
    failureResultOf(d, CancelledError);
  });

  test('a canceller may succeed the Deferred (test_cancellerThatCallbacks)', () => {
    const d = new Deferred<string>((x) => x.callback('hello!'));
    d.cancel();
    expect(successResultOf(d)).toBe('hello!');
  });

  test('a canceller may fail it with another error (test_cancellerThatErrbacks)', () => {
    const d = new Deferred<string>((x) => x.errback(new GenericError()));
    d.cancel();
    failureResultOf(d, GenericError);
  });

  test('a canceller that throws is logged and the Deferred is still cancelled', () => {
    const d = new Deferred<string>(() => {
      throw new GenericError('canceller broke');
    });
    d.cancel();
    failureResultOf(d, CancelledError);
    const logged = flushLoggedErrors(GenericError);
    expect(logged).toHaveLength(1);
    expect(logged[0]!.value.message).toBe('canceller broke');
  });

  test('cancel after callback does nothing (test_cancelAfterCallback)', () => {
    let called = false;
    const d = new Deferred<string>(() => {
      called = true;
    });
    d.callback('biff!');
    d.cancel();
    expect(called).toBe(false);
    expect(successResultOf(d)).toBe('biff!');
  });

  test('cancel after errback does nothing (test_cancelAfterErrback)', () => {
    let called = false;
    const d = new Deferred<string>(() => {
      called = true;
    });
    d.errback(new GenericError());
    d.cancel();
    expect(called).toBe(false);
    failureResultOf(d, GenericError);
  });

  test('cancelling a Deferred that waits on another cancels the inner one (test_cancelNestedDeferred)', () => {
    let innerCalls = 0;
    let outerCalls = 0;
    const b = new Deferred<unknown>(() => {
      innerCalls++;
    });
    const a = new Deferred<unknown>(() => {
      outerCalls++;
    });
    a.callback(null);
    a.addCallback(() => b);
    a.cancel();
    expect(innerCalls).toBe(1);
    expect(outerCalls).toBe(0);
    failureResultOf(a, CancelledError);
  });

  test('an AbortSignal cancels the Deferred', () => {
    const controller = new AbortController();
    const d = new Deferred<number>().cancelOnAbort(controller.signal);
    assertNoResult(d);
    controller.abort();
    failureResultOf(d, CancelledError);
  });

  test('an already-aborted signal cancels at once', () => {
    const d = new Deferred<number>().cancelOnAbort(AbortSignal.abort());
    failureResultOf(d, CancelledError);
  });

  test('the abort listener is removed once the Deferred fires', () => {
    const controller = new AbortController();
    const d = new Deferred<number>().cancelOnAbort(controller.signal);
    d.callback(1);
    controller.abort(); // no effect
    expect(successResultOf(d)).toBe(1);
  });
});

describe('addTimeout()', () => {
  test('times out with TimeoutError (test_timedOut)', () => {
    const clock = new Clock();
    const d = new Deferred<number>();
    d.addTimeout(10, clock);
    assertNoResult(d);
    clock.advance(15);
    const f = failureResultOf(d, TimeoutError);
    expect(f.value.timeout).toBe(10);
  });

  test('onTimeoutCancel replaces the result (test_timedOutCustom)', () => {
    const clock = new Clock();
    const d = new Deferred<string>();
    const seen: unknown[] = [];
    d.addTimeout(10, clock, (value, timeout) => {
      seen.push([(value as Failure).type, timeout]);
      return 'OVERRIDDEN';
    });
    clock.advance(15);
    expect(successResultOf(d)).toBe('OVERRIDDEN');
    expect(seen).toEqual([[CancelledError, 10]]);
  });

  test('a canceller that succeeds wins over the timeout (test_timedOutProvidedCancelSuccess)', () => {
    const clock = new Clock();
    const d = new Deferred<string>((x) => x.callback('I was cancelled!'));
    d.addTimeout(10, clock);
    clock.advance(15);
    expect(successResultOf(d)).toBe('I was cancelled!');
  });

  test('a canceller that fails with another error keeps that error', () => {
    const clock = new Clock();
    const d = new Deferred<string>((x) => x.errback(new GenericError()));
    d.addTimeout(10, clock);
    clock.advance(15);
    failureResultOf(d, GenericError);
  });

  test('is chainable (test_timeoutChainable)', () => {
    const d = new Deferred();
    expect(d.addTimeout(1, new Clock())).toBe(d);
    d.callback(null);
  });

  test('a result before the timeout cancels the timer; later inner Deferreds are not cancelled (test_successResultBeforeTimeout)', () => {
    const clock = new Clock();
    const d = new Deferred<string>();
    d.addTimeout(10, clock);
    let innerCancelled = false;
    const inner = new Deferred<string>(() => {
      innerCancelled = true;
    });
    d.callback('result');
    expect(clock.getDelayedCalls()).toHaveLength(0);
    d.addCallback(() => inner);
    clock.advance(15);
    expect(innerCancelled).toBe(false);
    inner.callback('done');
    expect(successResultOf(d)).toBe('done');
  });

  test('a failure before the timeout is kept (test_failureBeforeTimeout)', () => {
    const clock = new Clock();
    const d = new Deferred<string>();
    d.addTimeout(10, clock);
    d.errback(new GenericError());
    clock.advance(15);
    failureResultOf(d, GenericError);
  });

  test('an errback added before the timeout sees CancelledError (test_errbackAddedBeforeTimeout)', () => {
    const clock = new Clock();
    const d = new Deferred<string>();
    const seen: unknown[] = [];
    d.addErrback((f) => {
      seen.push(f.type);
      throw f;
    });
    d.addTimeout(10, clock);
    clock.advance(15);
    expect(seen).toEqual([CancelledError]);
    failureResultOf(d, TimeoutError);
  });

  test('an errback added before the timeout may suppress the cancellation (test_errbackAddedBeforeTimeoutSuppressesCancellation)', () => {
    const clock = new Clock();
    const d = new Deferred<string>();
    d.addErrback((f) => {
      f.trap(CancelledError);
      return 'suppressed';
    });
    d.addTimeout(10, clock);
    clock.advance(15);
    expect(successResultOf(d)).toBe('suppressed');
  });

  test('a manual cancel before the timeout gives CancelledError and does not call onTimeoutCancel (test_cancelBeforeTimeout)', () => {
    const clock = new Clock();
    const d = new Deferred<string>();
    let custom = false;
    d.addTimeout(10, clock, () => {
      custom = true;
      return 'x';
    });
    d.cancel();
    failureResultOf(d, CancelledError);
    expect(custom).toBe(false);
    expect(clock.getDelayedCalls()).toHaveLength(0);
  });
});
