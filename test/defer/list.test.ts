// DeferredList, gatherResults and race, after Twisted's DeferredListTests and RaceTests.
import { describe, expect, test } from 'vitest';
import {
  CancelledError,
  Deferred,
  DeferredList,
  FailureGroup,
  FirstError,
  Failure,
  fail,
  gatherResults,
  race,
  succeed,
} from '../../src/defer/index.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/index.js';

class GenericError extends Error {}

describe('DeferredList', () => {
  test('gathers [success, result] pairs in input order (testDeferredList)', () => {
    const d1 = new Deferred<string>();
    const d2 = new Deferred<string>();
    const d3 = new Deferred<string>();
    const dl = new DeferredList([d1, d2, d3], { consumeErrors: true });
    d1.callback('1');
    assertNoResult(dl);
    const err = new GenericError('2');
    d2.errback(err);
    d3.callback('3');
    const result = successResultOf(dl);
    expect(result[0]).toEqual([true, '1']);
    expect(result[1]![0]).toBe(false);
    expect((result[1]![1] as Failure).value).toBe(err);
    expect(result[2]).toEqual([true, '3']);
  });

  test('an empty list fires [] at once; with fireOnOneCallback it never fires (testEmptyDeferredList)', () => {
    expect(successResultOf(new DeferredList([]))).toEqual([]);
    assertNoResult(new DeferredList([], { fireOnOneCallback: true }));
  });

  test('fireOnOneCallback gives [value, index] of the first success', () => {
    const d1 = new Deferred<string>();
    const d2 = new Deferred<string>();
    const dl = new DeferredList<string, [string, number]>([d1, d2], { fireOnOneCallback: true });
    d2.callback('second');
    expect(successResultOf(dl)).toEqual(['second', 1]);
    d1.callback('late');
  });

  test('fireOnOneCallback with every input failing fails with a FailureGroup (Twisted fires the list)', () => {
    const dl = new DeferredList([fail(new GenericError('a')), fail(new GenericError('b'))], {
      fireOnOneCallback: true,
      consumeErrors: true,
    });
    const f = failureResultOf(dl, FailureGroup);
    expect(f.value.failures.map((x) => x.value.message)).toEqual(['a', 'b']);
  });

  test('fireOnOneErrback fails with FirstError at the first failure (testDeferredListFireOnOneError)', () => {
    const d1 = new Deferred<string>();
    const d2 = new Deferred<string>();
    const dl = new DeferredList([d1, d2], { fireOnOneErrback: true, consumeErrors: true });
    d1.callback('ok');
    assertNoResult(dl);
    d2.errback(new GenericError('from 2'));
    const f = failureResultOf(dl, FirstError);
    expect(f.value.index).toBe(1);
    expect(f.value.subFailure.type).toBe(GenericError);
  });

  test('an already-failed input fails the list at construction (testDeferredListFireOnOneErrorWithAlreadyFiredDeferreds)', () => {
    const dl = new DeferredList([succeed(1), fail<number>(new GenericError())], {
      fireOnOneErrback: true,
      consumeErrors: true,
    });
    failureResultOf(dl, FirstError);
  });

  test('without consumeErrors the input still carries its failure (testDeferredListDontConsumeErrors)', () => {
    const d = new Deferred<string>();
    const dl = new DeferredList([d]);
    d.errback(new GenericError());
    const errors: unknown[] = [];
    d.addErrback((f) => errors.push(f.type));
    expect(errors).toEqual([GenericError]);
    expect(successResultOf(dl)[0]![0]).toBe(false);
  });

  test('with consumeErrors the input no longer has the failure (testDeferredListConsumeErrors)', () => {
    const d = new Deferred<string>();
    const dl = new DeferredList([d], { consumeErrors: true });
    d.errback(new GenericError());
    const errors: unknown[] = [];
    d.addErrback((f) => errors.push(f.type));
    expect(errors).toEqual([]);
    expect(successResultOf(d)).toBeUndefined();
    expect(successResultOf(dl)[0]![0]).toBe(false);
  });

  test('cancelling cancels every input (test_cancelDeferredList)', () => {
    const d1 = new Deferred<string>();
    const d2 = new Deferred<string>();
    const dl = new DeferredList([d1, d2], { consumeErrors: true });
    dl.cancel();
    const result = successResultOf(dl);
    expect(result.map(([ok, v]) => [ok, (v as Failure).type])).toEqual([
      [false, CancelledError],
      [false, CancelledError],
    ]);
  });

  test('an input whose canceller succeeds shows up as a success (test_cancelDeferredListCallback)', () => {
    const d1 = new Deferred<string>((d) => d.callback('Callback Result'));
    const d2 = new Deferred<string>();
    const dl = new DeferredList([d1, d2], { consumeErrors: true });
    dl.cancel();
    const result = successResultOf(dl);
    expect(result[0]).toEqual([true, 'Callback Result']);
    expect((result[1]![1] as Failure).type).toBe(CancelledError);
  });

  test('with fireOnOneCallback a succeeding canceller gives [value, index] (test_cancelDeferredListWithFireOnOneCallback)', () => {
    const d1 = new Deferred<string>((d) => d.callback('Callback Result'));
    const d2 = new Deferred<string>();
    const dl = new DeferredList<string, [string, number]>([d1, d2], { fireOnOneCallback: true, consumeErrors: true });
    dl.cancel();
    expect(successResultOf(dl)).toEqual(['Callback Result', 0]);
  });

  test('after firing on one, cancel leaves the other inputs alone (test_cancelFiredOnOneCallbackDeferredList)', () => {
    const d1 = new Deferred<string>();
    const d2 = new Deferred<string>();
    const dl = new DeferredList<string, [string, number]>([d1, d2], { fireOnOneCallback: true });
    d1.callback('test');
    dl.cancel();
    assertNoResult(d2);
    expect(successResultOf(dl)).toEqual(['test', 0]);
  });

  test('cancels the original inputs, not later changes to the caller list', () => {
    const d1 = new Deferred<string>();
    const inputs = [d1];
    const dl = new DeferredList(inputs, { consumeErrors: true });
    const extra = new Deferred<string>();
    inputs.push(extra);
    dl.cancel();
    assertNoResult(extra);
    expect(successResultOf(dl)).toHaveLength(1);
  });
});

describe('gatherResults', () => {
  test('gives the values (test_gatherResults)', () => {
    expect(successResultOf(gatherResults([succeed(1), succeed(2)]))).toEqual([1, 2]);
  });

  test('an empty list gives [] at once', () => {
    expect(successResultOf(gatherResults([]))).toEqual([]);
  });

  test('a failing input gives FirstError with the original as subFailure', () => {
    const e = new GenericError('bad');
    const d = fail<number>(e);
    const g = gatherResults([succeed(1), d]);
    const f = failureResultOf(g, FirstError);
    expect(f.value.subFailure.value).toBe(e);
    expect(f.value.index).toBe(1);
    // Without consumeErrors the input still holds its failure.
    failureResultOf(d, GenericError);
  });

  test('with consumeErrors the failing input reports nothing later (test_gatherResultsWithConsumeErrors)', () => {
    const d = fail<number>(new GenericError());
    failureResultOf(gatherResults([d], { consumeErrors: true }), FirstError);
    expect(successResultOf(d)).toBeUndefined();
  });

  test('cancelling cancels every input; the gather fails with FirstError(CancelledError) (test_cancelGatherResults)', () => {
    const d1 = new Deferred<number>();
    const d2 = new Deferred<number>();
    const g = gatherResults([d1, d2], { consumeErrors: true });
    g.cancel();
    const f = failureResultOf(g, FirstError);
    expect(f.value.subFailure.type).toBe(CancelledError);
    // Both inputs were cancelled; consumeErrors took their failures.
    expect(successResultOf(d1)).toBeUndefined();
    expect(successResultOf(d2)).toBeUndefined();
  });

  test('if every canceller succeeds, the gather succeeds (test_cancelGatherResultsWithAllDeferredsCallback)', () => {
    const d1 = new Deferred<string>((d) => d.callback('a'));
    const d2 = new Deferred<string>((d) => d.callback('b'));
    const g = gatherResults([d1, d2]);
    g.cancel();
    expect(successResultOf(g)).toEqual(['a', 'b']);
  });
});

describe('race', () => {
  test('the first success wins with [index, value]; the others are cancelled once (RaceTests.test_success)', () => {
    const cancels = [0, 0, 0];
    const ds = cancels.map((_, i) => new Deferred<string>(() => { cancels[i]!++; }));
    const r = race(ds);
    ds[1]!.callback('won');
    expect(successResultOf(r)).toEqual([1, 'won']);
    expect(cancels).toEqual([1, 0, 1]);
  });

  test('all failing gives a FailureGroup in input order (test_failure)', () => {
    const ds = [new Deferred<string>(), new Deferred<string>()];
    const r = race(ds);
    ds[1]!.errback(new GenericError('second'));
    assertNoResult(r);
    ds[0]!.errback(new GenericError('first'));
    const f = failureResultOf(r, FailureGroup);
    expect(f.value.failures.map((x) => x.value.message)).toEqual(['first', 'second']);
  });

  test('cancelling the race cancels every input (test_cancel)', () => {
    const ds = [new Deferred<string>(), new Deferred<string>()];
    const r = race(ds);
    r.cancel();
    failureResultOf(r, CancelledError);
    for (const d of ds) expect(successResultOf(d)).toBeUndefined(); // consumed by the race
  });

  test('a loser firing after it was cancelled logs nothing (test_resultAfterCancel)', () => {
    const ds = [new Deferred<string>(), new Deferred<string>()];
    const r = race(ds);
    ds[0]!.callback('win');
    ds[1]!.callback('late'); // swallowed: the loser had no canceller
    expect(successResultOf(r)).toEqual([0, 'win']);
  });
});
