// The Deferred callback chain, after Twisted's test_defer.py (test names in comments).
import { describe, expect, test } from 'vitest';
import { AlreadyCalledError, Deferred, Failure, fail, maybeDeferred, succeed } from '../../src/defer/index.js';
import { setDebugging } from '../../src/defer/debug.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/index.js';

class GenericError extends Error {}
class KeyErr extends Error {}
class LookupErr extends Error {}
class SubLookup extends LookupErr {}

describe('callbacks and errbacks', () => {
  test('extra arguments follow the result (testCallbackWithArgs)', () => {
    const seen: unknown[][] = [];
    const d = new Deferred<string>();
    d.addCallback((r, w: string, n: number) => seen.push([r, w, n]), 'world', 3);
    d.callback('hello');
    expect(seen).toEqual([['hello', 'world', 3]]);
  });

  test('results thread through the chain (testTwoCallbacks)', () => {
    const d = new Deferred<number>();
    const seen: unknown[] = [];
    d.addCallback((n) => n + 1)
      .addCallback(() => undefined)
      .addCallback((u) => seen.push(u));
    d.callback(1);
    expect(seen).toEqual([undefined]);
  });

  test('a null errback passes the failure on (test_addCallbacksNoneErrback)', () => {
    const d = new Deferred<number>();
    let cbCalled = false;
    const errors: unknown[] = [];
    d.addCallbacks(() => {
      cbCalled = true;
    }, null);
    const e = new GenericError('x');
    d.errback(e);
    d.addErrback((f) => errors.push(f.value));
    expect(cbCalled).toBe(false);
    expect(errors).toEqual([e]);
  });

  test.each([
    ['throws', () => { throw new RangeError('boom'); }],
    ['returns a Failure', () => new Failure(new RangeError('boom'))],
  ])('a callback that %s switches to the errback chain (testCallbackErrors)', (_name, cb) => {
    const d = succeed(1).addCallback(cb as unknown as () => number);
    const f = failureResultOf(d, RangeError);
    expect(f.value.message).toBe('boom');
  });

  test('a thrown Failure keeps its identity', () => {
    const original = new Failure(new KeyErr('k'));
    const d = succeed(1).addCallback(() => {
      throw original;
    });
    expect(failureResultOf(d)).toBe(original);
  });

  test('an errback that returns recovers', () => {
    const log: unknown[] = [];
    const d = new Deferred<string>();
    d.addErrback(() => 'recovered').addCallback((v) => log.push(v));
    d.errback(new GenericError());
    expect(log).toEqual(['recovered']);
  });

  test('returning undefined from an errback recovers with undefined', () => {
    const d = fail<number>(new GenericError()).addErrback(() => undefined);
    expect(successResultOf(d)).toBeUndefined();
  });

  test('trap passes non-matching failures on', () => {
    const log: unknown[] = [];
    const d = new Deferred<string>();
    d.addErrback((f) => f.trap(KeyErr)).addErrback((f) => log.push(f.type));
    d.errback(new GenericError());
    expect(log).toEqual([GenericError]);
  });

  test('check returns the first matching type in argument order', () => {
    const f = new Failure(new SubLookup());
    expect(f.check(GenericError, LookupErr, SubLookup)).toBe(LookupErr);
    expect(f.check(GenericError)).toBeNull();
  });

  test('addBoth sees both results and failures', () => {
    const seen: unknown[] = [];
    succeed(1).addBoth((r) => seen.push(r));
    const err = new GenericError();
    fail(err).addBoth((r) => {
      seen.push((r as Failure).value);
    });
    expect(seen).toEqual([1, err]);
  });

  test('callbacks run synchronously on an already-fired Deferred (testImmediateSuccess/Failure)', () => {
    const log: unknown[] = [];
    succeed('s').addCallback((v) => log.push(v));
    expect(log).toEqual(['s']);
    const e = new GenericError();
    fail(e).addErrback((f) => log.push(f.value));
    expect(log).toEqual(['s', e]);
  });

  test('callback(aFailure) is errback', () => {
    const d = new Deferred<number>();
    d.callback(new Failure(new GenericError('via callback')));
    expect(failureResultOf(d, GenericError).value.message).toBe('via callback');
  });

  test('errback wraps non-Error values', () => {
    const d = new Deferred();
    d.errback('a string');
    const f = failureResultOf(d);
    expect(f.thrown).toBe('a string');
    expect(f.value.message).toContain('a string');
  });

  test('callback(aDeferred) is a TypeError', () => {
    const d = new Deferred<unknown>();
    expect(() => d.callback(new Deferred())).toThrow(TypeError);
    expect(d.called).toBe(false);
  });

  test('a callback returning its own Deferred fails with a TypeError (test_circularChainWarning deadlocks in Twisted)', () => {
    const d = new Deferred<unknown>();
    d.addCallback(() => d);
    const after: unknown[] = [];
    d.addErrback((f) => {
      after.push(f.type);
    });
    d.callback(1);
    expect(after).toEqual([TypeError]);
    expect(d.paused).toBe(0);
  });
});

describe('firing twice (AlreadyCalledTests)', () => {
  test.each([
    ['callback', 'callback'],
    ['callback', 'errback'],
    ['errback', 'errback'],
    ['errback', 'callback'],
  ] as const)('%s then %s throws AlreadyCalledError', (first, second) => {
    const d = new Deferred<number>();
    d.addErrback(() => undefined);
    if (first === 'callback') d.callback(1);
    else d.errback(new GenericError());
    expect(() => (second === 'callback' ? d.callback(2) : d.errback(new GenericError()))).toThrow(AlreadyCalledError);
  });

  test('with debugging on, the message has the creator (C:) and first invoker (I:) stacks', () => {
    setDebugging(true);
    try {
      function creatorFunction(): Deferred<number> {
        return new Deferred<number>();
      }
      function firstInvoker(d: Deferred<number>): void {
        d.callback(1);
      }
      const d = creatorFunction();
      firstInvoker(d);
      let message = '';
      try {
        d.callback(2);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^C: .*creatorFunction/m);
      expect(message).toMatch(/^I: .*firstInvoker/m);
    } finally {
      setDebugging(false);
    }
  });

  test('without debugging the message has no stacks', () => {
    const d = succeed(1);
    expect(() => d.callback(2)).toThrow(/^the Deferred was already called$/);
  });
});

describe('pause and unpause', () => {
  test('a paused failure waits (testPausedFailure)', () => {
    const log: unknown[] = [];
    const d = fail(new GenericError());
    d.pause();
    d.addErrback((f) => log.push(f.type));
    expect(log).toEqual([]);
    d.unpause();
    expect(log).toEqual([GenericError]);
  });

  test('unpause before callback (testUnpauseBeforeCallback)', () => {
    const log: unknown[] = [];
    const d = new Deferred<number>();
    d.pause();
    d.addCallback((v) => log.push(v));
    d.unpause();
    expect(log).toEqual([]);
    d.callback(1);
    expect(log).toEqual([1]);
  });

  test('pauses are counted', () => {
    const log: unknown[] = [];
    const d = succeed(1);
    d.pause();
    d.pause();
    d.addCallback((v) => log.push(v));
    d.unpause();
    expect(log).toEqual([]);
    d.unpause();
    expect(log).toEqual([1]);
    d.unpause(); // an extra unpause is ignored
    expect(d.paused).toBe(0);
  });
});

describe('chaining Deferreds', () => {
  test('a callback returning a paused Deferred waits for it (test_callbackReturnsDeferred)', () => {
    const d1 = new Deferred<number>();
    const d2 = new Deferred<number>();
    d2.pause();
    const log: unknown[] = [];
    d1.addCallback(() => d2);
    d1.addCallback((v) => log.push(v));
    d1.callback(1);
    expect(log).toEqual([]);
    d2.callback(2);
    expect(log).toEqual([]);
    d2.unpause();
    expect(log).toEqual([2]);
  });

  test('an errback returning a Deferred (test_errbackReturnsDeferred)', () => {
    const d = new Deferred<string>();
    const d2 = new Deferred<string>();
    const log: unknown[] = [];
    d.addErrback(() => d2).addCallback((v) => log.push(v));
    d.errback(new GenericError());
    assertNoResult(d);
    d2.callback('result');
    expect(log).toEqual(['result']);
  });

  test('a fired inner Deferred hands its result over synchronously (test_synchronousImplicitChain)', () => {
    const first = succeed('R');
    const second = new Deferred<null>();
    second.addCallback(() => first);
    const results: unknown[] = [];
    second.addCallback((v) => results.push(v));
    second.callback(null);
    expect(results).toEqual(['R']);
    // The result moved: first now holds undefined.
    expect(successResultOf(first)).toBeUndefined();
  });

  test('an unfired inner Deferred hands its result over later (test_asynchronousImplicitChain)', () => {
    const first = new Deferred<string>();
    const second = new Deferred<null>();
    second.addCallback(() => first);
    const results: unknown[] = [];
    second.addCallback((v) => results.push(v));
    second.callback(null);
    expect(results).toEqual([]);
    first.callback('R');
    expect(results).toEqual(['R']);
    expect(successResultOf(first)).toBeUndefined();
  });

  test('a failure moves to the outer Deferred and is not reported on the inner one (test_asynchronousImplicitErrorChain)', () => {
    const first = new Deferred<string>();
    const second = new Deferred<null>();
    second.addCallback(() => first);
    const errors: unknown[] = [];
    second.addErrback((f) => errors.push(f.type));
    second.callback(null);
    first.errback(new GenericError());
    expect(errors).toEqual([GenericError]);
    expect(successResultOf(first)).toBeUndefined();
  });

  test('double asynchronous chaining (test_doubleAsynchronousImplicitChaining)', () => {
    const first = new Deferred<string>();
    const second = new Deferred<null>();
    const third = new Deferred<null>();
    second.addCallback(() => first);
    third.addCallback(() => second);
    const log: unknown[] = [];
    third.addCallback((v) => log.push(v));
    second.callback(null);
    third.callback(null);
    expect(log).toEqual([]);
    first.callback('R');
    expect(log).toEqual(['R']);
  });

  test('nested asynchronous chains run in Twisted order (test_nestedAsynchronousChainedDeferreds)', () => {
    const calls: unknown[] = [];
    const outer = new Deferred<string>();
    const inner = new Deferred<string>();
    const log: unknown[] = [];
    outer.addCallback((result) => {
      calls.push(['start-of-cb', result]);
      const d = succeed('inner');
      d.addCallback((r) => {
        calls.push(['firstCallback', r]);
        return inner.addCallback((r2) => {
          calls.push(['secondCallback', r2]);
          return r2 + r2;
        });
      });
      return d;
    });
    outer.addCallback((r) => log.push(r));
    outer.callback('outer');
    expect(calls).toEqual([
      ['start-of-cb', 'outer'],
      ['firstCallback', 'inner'],
    ]);
    inner.callback('orange');
    expect(calls).toEqual([
      ['start-of-cb', 'outer'],
      ['firstCallback', 'inner'],
      ['secondCallback', 'orange'],
    ]);
    expect(log).toEqual(['orangeorange']);
  });

  test('a callback added after a waiting one runs after the inner chain (test_continueCallbackNotFirst)', () => {
    const results: unknown[] = [];
    const inner = new Deferred<string[]>();
    const outer = new Deferred<string>();
    outer.addCallback(() => inner.addCallback((v) => {
      results.push(['secondCallback', v]);
      return undefined;
    }));
    outer.addBoth((v) => results.push(['final', v]));
    outer.callback('x');
    inner.callback(['withers']);
    expect(results).toEqual([
      ['secondCallback', ['withers']],
      ['final', undefined],
    ]);
  });

  test('result of a Deferred waiting on a fired Deferred (test_resultOfDeferredResultOfDeferredOfFiredDeferredCalled)', () => {
    const first = new Deferred<unknown>();
    const second = new Deferred<unknown>();
    const third = new Deferred<unknown>();
    first.addCallback(() => second);
    second.addCallback(() => third);
    second.callback(null);
    first.callback(null);
    third.callback(null);
    const results: unknown[] = [];
    second.addCallback((v) => results.push(v));
    expect(results).toEqual([undefined]);
  });

  test('a native Promise returned from a callback is waited on', async () => {
    const d = succeed(1).addCallback((n) => Promise.resolve(n + 1));
    expect(await d).toBe(2);
  });

  test('a rejected Promise returned from a callback becomes a failure', async () => {
    const d = succeed(1).addCallback(() => Promise.reject(new KeyErr('nope')));
    await expect(d).rejects.toBeInstanceOf(KeyErr);
  });

  test('chainDeferred fires the target and continues with undefined (test_chainDeferredRecordsExplicitChain)', () => {
    const a = new Deferred<number>();
    const b = new Deferred<number>();
    b.chainDeferred(a);
    expect(a.chainedTo).toBe(b);
    b.callback(5);
    expect(a.chainedTo).toBeNull();
    expect(successResultOf(a)).toBe(5);
    expect(successResultOf(b)).toBeUndefined();
  });

  test('chainDeferred carries failures', () => {
    const a = new Deferred<number>();
    const b = new Deferred<number>();
    b.chainDeferred(a);
    b.errback(new GenericError());
    failureResultOf(a, GenericError);
    expect(successResultOf(b)).toBeUndefined();
  });

  test('chainDeferred to an already-called Deferred fails the source with AlreadyCalledError', () => {
    const a = succeed(1);
    const b = new Deferred<number>();
    b.chainDeferred(a);
    b.callback(2);
    failureResultOf(b, AlreadyCalledError);
    expect(successResultOf(a)).toBe(1);
  });
});

describe('re-entrancy', () => {
  test('a callback added while callbacks run goes to the end (test_reentrantRunCallbacks)', () => {
    const d = new Deferred<null>();
    const called: number[] = [];
    d.addCallback(() => {
      called.push(1);
      d.addCallback(() => {
        called.push(3);
        return null;
      });
      return null;
    });
    d.addCallback(() => {
      called.push(2);
      return null;
    });
    d.callback(null);
    expect(called).toEqual([1, 2, 3]);
  });

  test('a callback added inside a callback has not run when that callback returns (test_nonReentrantCallbacks)', () => {
    const d = new Deferred<null>();
    const called: string[] = [];
    d.addCallback(() => {
      d.addCallback(() => {
        called.push('inner');
        return null;
      });
      expect(called).toEqual([]);
      return null;
    });
    d.callback(null);
    expect(called).toEqual(['inner']);
  });

  test('a re-entrantly added callback that throws ends the chain in failure (test_reentrantRunCallbacksWithFailure)', () => {
    const d = new Deferred<null>();
    d.addCallback(() => {
      d.addCallback(() => {
        throw new GenericError('inner');
      });
      return null;
    });
    d.callback(null);
    expect(failureResultOf(d, GenericError).value.message).toBe('inner');
  });
});

describe('stack safety', () => {
  function depth(): number {
    return (new Error().stack ?? '').split('\n').length;
  }

  test('stack depth does not grow with the number of chained Deferreds (test_boundedStackDepth)', () => {
    const measure = (n: number): number => {
      const ds = Array.from({ length: n + 1 }, () => new Deferred<unknown>());
      let seen = 0;
      for (let i = 0; i < n; i++) {
        const next = ds[i + 1]!;
        ds[i]!.addCallback(() => next);
      }
      ds[0]!.addCallback(() => {
        seen = depth();
      });
      for (let i = 0; i < n; i++) ds[i]!.callback(null);
      ds[n]!.callback(null);
      return seen;
    };
    expect(measure(2)).toBe(measure(1));
    expect(measure(10_000)).toBe(measure(1));
  });

  test('100,000 Deferreds each waiting on the next', () => {
    const n = 100_000;
    const ds = Array.from({ length: n }, () => new Deferred<number>());
    for (let i = 0; i < n - 1; i++) {
      const next = ds[i + 1]!;
      ds[i]!.addCallback(() => next);
    }
    // Fire from the end: each callback then finds its inner Deferred already fired.
    ds[n - 1]!.callback(42);
    for (let i = n - 2; i >= 0; i--) ds[i]!.callback(0);
    expect(successResultOf(ds[0]!)).toBe(42);
  });

  test('100,000 Deferreds each waiting on the next, fired from the inside out', () => {
    const n = 100_000;
    const ds = Array.from({ length: n }, () => new Deferred<number>());
    for (let i = 0; i < n - 1; i++) {
      const next = ds[i + 1]!;
      ds[i]!.addCallback(() => next);
    }
    for (let i = 0; i < n - 1; i++) ds[i]!.callback(0);
    ds[n - 1]!.callback(42);
    expect(successResultOf(ds[0]!)).toBe(42);
  });

  test('1,000,000 callbacks on one Deferred', () => {
    const d = new Deferred<number>();
    for (let i = 0; i < 1_000_000; i++) d.addCallback((x) => x + 1);
    d.callback(0);
    expect(successResultOf(d)).toBe(1_000_000);
  });

  test('a long chainDeferred chain does not recurse', () => {
    const n = 100_000;
    const ds = Array.from({ length: n }, () => new Deferred<number>());
    for (let i = 0; i < n - 1; i++) ds[i]!.chainDeferred(ds[i + 1]!);
    ds[0]!.callback(9);
    expect(successResultOf(ds[n - 1]!)).toBe(9);
  });
});

describe('maybeDeferred (test_maybeDeferred*)', () => {
  test('a sync value succeeds', () => {
    expect(successResultOf(maybeDeferred(() => 10))).toBe(10);
  });
  test('a throw fails', () => {
    failureResultOf(
      maybeDeferred(() => {
        throw new GenericError();
      }),
      GenericError,
    );
  });
  test('a returned Failure is that same Failure', () => {
    const f = new Failure(new GenericError());
    expect(failureResultOf(maybeDeferred(() => f))).toBe(f);
  });
  test('a returned Deferred is returned by identity', () => {
    const d = new Deferred<number>();
    expect(maybeDeferred(() => d)).toBe(d);
  });
  test('arguments are passed', () => {
    expect(successResultOf(maybeDeferred((a: number, b: number) => a + b, 2, 3))).toBe(5);
  });
  test('an async function is followed', async () => {
    expect(await maybeDeferred(async () => 7)).toBe(7);
  });
});

describe('succeed and fail', () => {
  test('succeed matches a manually fired Deferred (test_succeedMatchesManualSuccess)', () => {
    const manual = new Deferred<string>();
    manual.callback('x');
    expect(succeed('x').called).toBe(manual.called);
    expect(successResultOf(succeed('x'))).toBe(successResultOf(manual));
  });
  test('fail wraps an Error into a Failure', () => {
    const e = new GenericError();
    expect(failureResultOf(fail(e)).value).toBe(e);
  });
});

describe('await and then', () => {
  test('await resolves to the result', async () => {
    expect(await succeed(3)).toBe(3);
  });

  test('await rejects with the original error, not the Failure', async () => {
    const e = new GenericError('orig');
    await expect(fail(e)).rejects.toBe(e);
  });

  test('then observes without changing the result later callbacks see', async () => {
    const d = new Deferred<number>();
    const p = d.then((v) => v * 10);
    d.callback(4);
    expect(await p).toBe(40);
    expect(successResultOf(d)).toBe(4);
  });

  test('awaiting a failure counts as handling it', async () => {
    const d = fail(new GenericError());
    await expect(d).rejects.toBeInstanceOf(GenericError);
    // The setup would fail this test if the failure still counted as unhandled.
  });

  test('a failure produced after an observed one is still unhandled', async () => {
    const d = fail<number>(new GenericError());
    await expect(d.asPromise()).rejects.toBeInstanceOf(GenericError);
    d.addErrback(() => {
      throw new KeyErr('later');
    });
    const { flushLoggedErrors } = await import('../../src/testing/index.js');
    expect(flushLoggedErrors(KeyErr)).toHaveLength(1);
  });

  test('fromPromise follows a Promise; fromPromise(d) is d', async () => {
    const d = Deferred.fromPromise(Promise.resolve(5));
    expect(await d).toBe(5);
    const same = new Deferred();
    expect(Deferred.fromPromise(same)).toBe(same);
  });

  test('toString says what the Deferred holds', () => {
    expect(String(new Deferred())).toBe('Deferred (no result)');
    expect(String(succeed(1))).toContain('current result');
    const w = new Deferred();
    w.addCallback(() => new Deferred());
    w.callback(null);
    expect(String(w)).toContain('waiting');
  });
});
