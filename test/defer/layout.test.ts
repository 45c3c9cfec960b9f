// The compact Deferred: the canceller shares the result slot until the Deferred fires, the
// pause count shares the flags field, rare state (debug stacks, chainedTo, an observed
// failure) lives off the object, and `callback` has a small inlined path (plain unfired
// Deferred, non-object result) beside the general one. Each test would fail if one of these
// shortcuts mixed up the states it folds together.
import { describe, expect, test } from 'vitest';
import { AlreadyCalledError, CancelledError, Deferred, Failure } from '../../src/defer/index.js';
import { setDebugging } from '../../src/defer/debug.js';
import { failureResultOf, flushLoggedErrors, successResultOf } from '../../src/testing/index.js';

class BoomError extends Error {}

describe('the canceller and the result share a slot', () => {
  test('fired with a value: the value, not the canceller; a later cancel does not call it', () => {
    let calls = 0;
    const d = new Deferred<number>(() => calls++);
    d.callback(3);
    d.cancel();
    expect(calls).toBe(0);
    expect(successResultOf(d)).toBe(3);
    expect(d.chainedTo).toBeNull();
  });

  test('fired with a function value: the function is the result, not a canceller', () => {
    const f = (): number => 1;
    const d = new Deferred<() => number>(() => undefined);
    d.callback(f);
    d.cancel(); // fired: nothing happens
    expect(successResultOf(d)).toBe(f);
  });

  test('cancelled: the canceller is called once, with the Deferred', () => {
    const seen: unknown[] = [];
    const d = new Deferred<number>((x) => seen.push(x));
    d.cancel();
    d.cancel();
    expect(seen).toEqual([d]);
    failureResultOf(d, CancelledError);
    // With a canceller, a late fire is an error (nothing is suppressed).
    expect(() => d.callback(1)).toThrow(AlreadyCalledError);
  });

  test('null and undefined both mean no canceller: one late fire is ignored', () => {
    for (const d of [new Deferred<number>(null), new Deferred<number>(undefined), new Deferred<number>()]) {
      d.cancel();
      d.callback(1); // swallowed
      expect(() => d.callback(2)).toThrow(AlreadyCalledError);
      failureResultOf(d, CancelledError);
    }
  });

  test('chainDeferred drops the target canceller when it fires the target', () => {
    let calls = 0;
    const a = new Deferred<number>();
    const b = new Deferred<number>(() => calls++);
    a.chainDeferred(b);
    a.callback(5);
    b.cancel();
    expect(calls).toBe(0);
    expect(successResultOf(b)).toBe(5);
  });
});

describe('the pause count shares the flags field', () => {
  test('many pauses: each needs its unpause; the chain runs after the last', () => {
    const seen: number[] = [];
    const d = new Deferred<number>();
    for (let i = 0; i < 1000; i++) d.pause();
    expect(d.paused).toBe(1000);
    d.addCallback((n) => (seen.push(n), n)); // unfired and paused: appended
    d.callback(1);
    expect(d.called).toBe(true);
    for (let i = 0; i < 999; i++) d.unpause();
    expect(d.paused).toBe(1);
    expect(seen).toEqual([]);
    d.unpause();
    expect(d.paused).toBe(0);
    expect(seen).toEqual([1]);
    d.unpause(); // extra unpause: no effect
    expect(d.paused).toBe(0);
    expect(d.called).toBe(true);
  });

  test('waiting on an inner Deferred counts as a pause, together with pause()', () => {
    const inner = new Deferred<number>();
    const d = new Deferred<number>();
    d.addCallback(() => inner).addCallback((n: number) => n * 2);
    d.callback(0);
    expect(d.paused).toBe(1);
    d.pause();
    expect(d.paused).toBe(2);
    inner.callback(4);
    expect(d.paused).toBe(1);
    d.unpause();
    expect(d.paused).toBe(0);
    expect(successResultOf(d)).toBe(8);
  });

  test('a paused unfired Deferred fired with a failure: not tracked until unpaused', () => {
    const d = new Deferred<number>();
    d.pause();
    d.pause();
    d.errback(new BoomError('p'));
    d.unpause();
    expect(flushLoggedErrors(BoomError)).toHaveLength(0);
    d.unpause();
    expect(flushLoggedErrors(BoomError)).toHaveLength(1);
  });
});

describe('callback: the small path and the general one', () => {
  test('primitive and object results, with and without entries', () => {
    const values: unknown[] = [0, 'x', true, undefined, Symbol.for('s'), 10n, null, { k: 1 }, [1], () => 2];
    for (const v of values) {
      const lone = new Deferred<unknown>();
      lone.callback(v);
      expect(successResultOf(lone)).toBe(v);
      const chained = new Deferred<unknown>();
      chained.addCallback((r) => [r]);
      chained.callback(v);
      expect(successResultOf(chained)).toEqual([v]);
    }
  });

  test('a Failure passed to callback takes the errback track', () => {
    const d = new Deferred<number>();
    d.addErrback((f: Failure) => (f.trap(BoomError), 9));
    d.callback(new Failure(new BoomError('via callback')));
    expect(successResultOf(d)).toBe(9);
  });

  test('callback(aDeferred) is a TypeError, even on a fired Deferred, and fires nothing', () => {
    const d = new Deferred<unknown>();
    expect(() => d.callback(new Deferred())).toThrow(TypeError);
    expect(d.called).toBe(false);
    d.callback(1);
    expect(() => d.callback(new Deferred())).toThrow(TypeError);
    expect(successResultOf(d)).toBe(1);
  });

  test('a second fire with a primitive is AlreadyCalledError', () => {
    const d = new Deferred<number>();
    d.callback(1);
    expect(() => d.callback(2)).toThrow(AlreadyCalledError);
    expect(successResultOf(d)).toBe(1);
  });

  test('a Deferred with extra state (chainDeferred target) fired directly with a primitive', () => {
    const a = new Deferred<number>();
    const b = new Deferred<number>();
    a.chainDeferred(b);
    expect(b.chainedTo).toBe(a);
    b.callback(7); // general path: clears chainedTo
    expect(b.chainedTo).toBeNull();
    expect(successResultOf(b)).toBe(7);
    a.callback(8); // b already fired: a's chain gets AlreadyCalledError
    failureResultOf(a, AlreadyCalledError);
  });

  test('debugging: a Deferred fired with a primitive records the first-fire stack', () => {
    setDebugging(true);
    try {
      const d = new Deferred<number>();
      d.callback(1);
      let message = '';
      try {
        d.callback(2);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^C: /m);
      expect(message).toMatch(/^I: /m);
    } finally {
      setDebugging(false);
    }
  });
});

describe('addCallback: extra arguments go through the general append', () => {
  test('on an unfired Deferred with entries, on a fired one, and while running', () => {
    const seen: unknown[][] = [];
    const d = new Deferred<number>();
    d.addCallback((n) => n + 1);
    d.addCallback((n: number, a: string) => (seen.push([n, a]), n), 'unfired');
    d.addCallback((n: number) => {
      d.addCallback((m: number, a: string, b: string) => (seen.push([m, a, b]), m), 'running', 'x');
      return n;
    });
    d.callback(1);
    d.addCallback((n: number, a: string) => (seen.push([n, a]), n), 'fired');
    expect(seen).toEqual([
      [2, 'unfired'],
      [2, 'running', 'x'],
      [2, 'fired'],
    ]);
  });
});

describe('rare state kept off the object', () => {
  test('an awaited failure is observed (not unhandled) until a later step changes it', async () => {
    const d = new Deferred<number>();
    d.errback(new BoomError('seen'));
    await expect(d.asPromise()).rejects.toBeInstanceOf(BoomError);
    expect(flushLoggedErrors(BoomError)).toHaveLength(0);
    d.addErrback(() => {
      throw new BoomError('new');
    });
    const left = flushLoggedErrors(BoomError);
    expect(left.map((f) => (f.value as Error).message)).toEqual(['new']);
  });

  test('many Deferreds with and without extra state do not see each other', () => {
    const plain: Deferred<number>[] = [];
    const targets: Deferred<number>[] = [];
    for (let i = 0; i < 50; i++) {
      plain.push(new Deferred<number>());
      const src = new Deferred<number>();
      const t = new Deferred<number>();
      src.chainDeferred(t);
      targets.push(t);
      src.callback(i);
    }
    for (const [i, t] of targets.entries()) {
      expect(t.chainedTo).toBeNull();
      expect(successResultOf(t)).toBe(i);
    }
    for (const p of plain) {
      expect(p.chainedTo).toBeNull();
      expect(p.called).toBe(false);
    }
  });
});
