// The boundaries of Deferred's fast paths: addCallback's plain append (an unfired Deferred
// that already has entries, no extra arguments) versus the general append, a fired Deferred
// with no entries (the lone case) versus the run loop, and the one-method run loop's
// hand-offs between Deferreds.
import { describe, expect, test } from 'vitest';
import { Deferred, Failure } from '../../src/defer/index.js';
import { setDebugging } from '../../src/defer/debug.js';
import { flushLoggedErrors, successResultOf } from '../../src/testing/index.js';

class BoomError extends Error {}

describe('addCallback: plain append and general append', () => {
  test('the first, later, and post-fire adds all run in order', () => {
    const seen: unknown[] = [];
    const d = new Deferred<number>();
    d.addCallback((n) => (seen.push(['first', n]), n + 1)); // no entries yet: general append
    d.addCallback((n) => (seen.push(['second', n]), n + 1)); // plain append
    d.callback(1);
    d.addCallback((n) => (seen.push(['after', n]), n + 1)); // fired: runs at once
    expect(seen).toEqual([
      ['first', 1],
      ['second', 2],
      ['after', 3],
    ]);
    expect(successResultOf(d)).toBe(4);
  });

  test('extra arguments, including undefined ones between defined ones, are passed', () => {
    const seen: unknown[][] = [];
    const d = new Deferred<string>();
    d.addCallback((r, ...rest: unknown[]) => (seen.push([r, ...rest]), r));
    d.addCallback((r, a: unknown, b: unknown) => (seen.push([r, a, b]), r), undefined, 2);
    d.addCallback((r, a: unknown) => (seen.push([r, a]), r), null);
    d.addCallback((r, a: number, b: number, c: number, e: number, f: number, g: number) => (seen.push([r, a, b, c, e, f, g]), r), 1, 2, 3, 4, 5, 6);
    d.callback('x');
    expect(seen).toEqual([['x'], ['x', undefined, 2], ['x', null], ['x', 1, 2, 3, 4, 5, 6]]);
  });

  test('trailing undefined extra arguments are dropped', () => {
    const lengths: number[] = [];
    const d = new Deferred<number>();
    d.addCallback(function (this: unknown, ...all: unknown[]) {
      lengths.push(all.length);
      return all[0];
    });
    d.addCallback(
      (...all: unknown[]) => {
        lengths.push(all.length);
        return all[0];
      },
      1,
      undefined,
    );
    d.callback(0);
    expect(lengths).toEqual([1, 2]);
  });

  test('a callback that adds callbacks while the chain runs: they run next, in order', () => {
    const seen: string[] = [];
    const d = new Deferred<number>();
    d.addCallback((n) => {
      seen.push('a');
      d.addCallback((m) => (seen.push('a1'), m)); // running: general append, picked up by the loop
      d.addCallback((m) => (seen.push('a2'), m));
      return n;
    });
    d.addCallback((n) => (seen.push('b'), n));
    d.callback(0);
    expect(seen).toEqual(['a', 'b', 'a1', 'a2']);
  });

  test('adds to a paused fired Deferred wait for unpause', () => {
    const seen: number[] = [];
    const d = new Deferred<number>();
    d.callback(1);
    d.pause();
    d.addCallback((n) => (seen.push(n), n + 1));
    d.addCallback((n) => (seen.push(n), n + 1));
    expect(seen).toEqual([]);
    d.unpause();
    expect(seen).toEqual([1, 2]);
  });
});

describe('firing: lone Deferred and the run loop', () => {
  test('a lone Deferred fired with a primitive or an object keeps it', () => {
    const a = new Deferred<number>();
    a.callback(1);
    expect(successResultOf(a)).toBe(1);
    const o = { k: 1 };
    const b = new Deferred<object>();
    b.callback(o);
    expect(successResultOf(b)).toBe(o);
    const c = new Deferred<null>();
    c.callback(null);
    expect(successResultOf(c)).toBe(null);
  });

  test('a lone failed Deferred is unhandled until an errback takes it', () => {
    const d = new Deferred<number>();
    d.errback(new BoomError('lone'));
    d.addErrback((f) => {
      f.trap(BoomError);
      return 7;
    });
    expect(successResultOf(d)).toBe(7);
    const e = new Deferred<number>();
    e.errback(new BoomError('left'));
    expect(flushLoggedErrors(BoomError)).toHaveLength(1);
  });

  test('a lone paused Deferred with a failure is not tracked until it runs', () => {
    const d = new Deferred<number>();
    d.pause();
    d.errback(new BoomError('paused'));
    expect(flushLoggedErrors(BoomError)).toHaveLength(0);
    d.unpause();
    expect(flushLoggedErrors(BoomError)).toHaveLength(1);
  });

  test('mid-chain: throw, recover, return a fired and an unfired Deferred, then continue', () => {
    const seen: unknown[] = [];
    const inner = new Deferred<number>();
    const d = new Deferred<number>();
    d.addCallback((n) => n + 1)
      .addCallback(() => {
        throw new BoomError('mid');
      })
      .addCallback(() => seen.push('skipped'))
      .addErrback((f: Failure) => {
        f.trap(BoomError);
        return 10;
      })
      .addCallback((n: number) => {
        const fired = new Deferred<number>();
        fired.callback(n + 1);
        return fired;
      })
      .addCallback(() => inner)
      .addCallback((n: number) => (seen.push(n), n * 2));
    d.callback(0);
    expect(seen).toEqual([]);
    inner.callback(5);
    expect(seen).toEqual([5]);
    expect(successResultOf(d)).toBe(10);
  });

  test('a failure left before waiting on an inner Deferred is re-reported with the later failure', () => {
    const d = new Deferred<number>();
    d.errback(new BoomError('first'));
    const inner = new Deferred<number>();
    // The first failure is handled by this errback, which then waits on `inner`.
    d.addErrback(() => inner);
    inner.errback(new BoomError('second'));
    const left = flushLoggedErrors(BoomError);
    // Only the failure the chain ends with is reported: `inner`'s, handed to d.
    expect(left.map((f) => f.value.message)).toEqual(['second']);
  });
});

describe('debugging', () => {
  test('the creator stack starts at the constructor', () => {
    setDebugging(true);
    try {
      function makeIt(): Deferred<number> {
        return new Deferred<number>();
      }
      const d = makeIt();
      d.callback(1);
      let message = '';
      try {
        d.callback(2);
      } catch (e) {
        message = (e as Error).message;
      }
      const creator = message.split('\n').filter((l) => l.startsWith('C: '));
      expect(creator[0]).toMatch(/Deferred/);
      expect(creator[0]).not.toMatch(/debugExtra/);
      expect(creator.some((l) => /makeIt/.test(l))).toBe(true);
    } finally {
      setDebugging(false);
    }
  });
});

describe('asPromise/await: a settled success skips the chain step; everything else takes it', () => {
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

  test('a fired success: the value, and the chain is left as it was', async () => {
    const d = new Deferred<number>();
    d.callback(5);
    const p = d.asPromise();
    d.addCallback((x) => x + 1);
    expect(await p).toBe(5);
    expect(await d).toBe(6);
    expect(successResultOf(d)).toBe(6);
  });

  test('paused: nothing until unpaused', async () => {
    const d = new Deferred<number>();
    d.pause();
    d.callback(1);
    let got: number | null = null;
    void d.then((v) => (got = v));
    await tick();
    expect(got).toBeNull();
    d.unpause();
    await tick();
    expect(got).toBe(1);
  });

  test('waiting on an inner Deferred: the inner result, when it comes', async () => {
    const inner = new Deferred<number>();
    const d = new Deferred<number>();
    d.addCallback(() => inner);
    d.callback(0);
    let got: number | null = null;
    void d.then((v) => (got = v));
    await tick();
    expect(got).toBeNull();
    inner.callback(7);
    await tick();
    expect(got).toBe(7);
  });

  test('a fired failure rejects with the original error and is no longer unhandled', async () => {
    const d = new Deferred<number>();
    d.errback(new BoomError('x'));
    await expect(d.asPromise()).rejects.toBeInstanceOf(BoomError);
    expect(flushLoggedErrors()).toEqual([]);
  });

  test('awaited from inside its own callback (running): resolves after the chain step', async () => {
    const d = new Deferred<number>();
    let p: Promise<number> | null = null;
    d.addCallback((x) => {
      p = d.asPromise();
      return x * 2;
    });
    d.callback(4);
    expect(await p!).toBe(8);
  });
});
