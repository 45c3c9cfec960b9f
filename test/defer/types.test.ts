// Types that follow a result through the chain (checked by tsc in `npm test`, and at run time
// by expectTypeOf's no-op calls).
import { describe, expectTypeOf, test } from 'vitest';
import {
  Deferred,
  DeferredList,
  Failure,
  gatherResults,
  inlineCallbacks,
  maybeDeferred,
  race,
  succeed,
  type DeferredListResult,
  type MaybeDeferred,
} from '../../src/defer/index.js';

describe('chain types', () => {
  test('addCallback gives a Deferred of the callback result, unwrapping Deferreds and Promises', () => {
    const d = new Deferred<number>();
    expectTypeOf(d.addCallback((n) => String(n))).toEqualTypeOf<Deferred<string>>();
    expectTypeOf(d.addCallback((n) => succeed(n > 0))).toEqualTypeOf<Deferred<boolean>>();
    expectTypeOf(d.addCallback(async (n) => [n])).toEqualTypeOf<Deferred<number[]>>();
    d.callback(1);
  });

  test('extra arguments are typed', () => {
    const d = succeed(1);
    d.addCallback((n: number, suffix: string) => `${n}${suffix}`, '!');
    // @ts-expect-error the extra argument must be a string
    d.addCallback((n: number, suffix: string) => `${n}${suffix}`, 2);
  });

  test('errbacks receive a Failure and widen the result type', () => {
    const d = new Deferred<number>();
    expectTypeOf(d.addErrback((f) => {
      expectTypeOf(f).toEqualTypeOf<Failure>();
      return 'fallback';
    })).toEqualTypeOf<Deferred<number | string>>();
    d.callback(1);
  });

  test('addBoth sees T | Failure', () => {
    succeed(1).addBoth((r) => {
      expectTypeOf(r).toEqualTypeOf<number | Failure>();
      return null;
    });
  });

  test('await gives T', async () => {
    const v = await succeed({ a: 1 });
    expectTypeOf(v).toEqualTypeOf<{ a: number }>();
  });

  test('helpers keep their types', () => {
    expectTypeOf(gatherResults([succeed(1), succeed(2)])).toEqualTypeOf<Deferred<number[]>>();
    expectTypeOf(race([succeed('a')])).toEqualTypeOf<Deferred<[index: number, value: string]>>();
    expectTypeOf(new DeferredList([succeed(1)])).toMatchTypeOf<Deferred<DeferredListResult<number>>>();
    expectTypeOf(maybeDeferred(() => 3)).toEqualTypeOf<Deferred<number>>();
    const f = inlineCallbacks(function* (x: number) {
      yield succeed(1);
      return x * 2;
    });
    expectTypeOf(f).toEqualTypeOf<(x: number) => Deferred<number>>();
    const m: MaybeDeferred<number> = succeed(1);
    expectTypeOf(m).toMatchTypeOf<number | PromiseLike<number>>();
  });
});
