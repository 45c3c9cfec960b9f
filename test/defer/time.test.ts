// deferLater, LoopingCall and the test Clock, after Twisted's test_task.py.
import { describe, expect, test } from 'vitest';
import { CancelledError, Deferred, LoopingCall, deferLater } from '../../src/defer/index.js';
import { AlreadyCalled, AlreadyCancelled } from '../../src/reactor/errors.js';
import { Clock, assertNoResult, failureResultOf, successResultOf } from '../../src/testing/index.js';

class GenericError extends Error {}

describe('Clock', () => {
  test('runs due calls in time order, ties in insertion order', () => {
    const clock = new Clock();
    const log: string[] = [];
    clock.callLater(2, () => log.push('b'));
    clock.callLater(1, () => log.push('a'));
    clock.callLater(2, () => log.push('c'));
    clock.advance(1);
    expect(log).toEqual(['a']);
    clock.advance(1);
    expect(log).toEqual(['a', 'b', 'c']);
    expect(clock.seconds()).toBe(2);
  });

  test('calls scheduled during advance that are due run in the same advance', () => {
    const clock = new Clock();
    const log: string[] = [];
    clock.callLater(0, () => {
      log.push('f');
      clock.callLater(0, () => log.push('g'));
    });
    clock.advance(0);
    expect(log).toEqual(['f', 'g']);
  });

  test('exceptions propagate out of advance', () => {
    const clock = new Clock();
    clock.callLater(1, () => {
      throw new GenericError('from call');
    });
    expect(() => clock.advance(1)).toThrow(GenericError);
    expect(clock.getDelayedCalls()).toHaveLength(0);
  });

  test('arguments are passed', () => {
    const clock = new Clock();
    const seen: unknown[] = [];
    clock.callLater(1, (a: number, b: string) => seen.push(a, b), 7, 'x');
    clock.advance(1);
    expect(seen).toEqual([7, 'x']);
  });

  test('cancel, reset and delay; errors once run or cancelled', () => {
    const clock = new Clock();
    const log: string[] = [];
    const a = clock.callLater(5, () => log.push('a'));
    const b = clock.callLater(5, () => log.push('b'));
    const c = clock.callLater(5, () => log.push('c'));
    a.cancel();
    expect(a.active()).toBe(false);
    expect(() => a.cancel()).toThrow(AlreadyCancelled);
    expect(() => a.reset(1)).toThrow(AlreadyCancelled);
    clock.advance(1);
    b.reset(1); // now due at 2
    c.delay(3); // now due at 8
    expect(b.getTime()).toBe(2);
    expect(c.getTime()).toBe(8);
    clock.advance(1);
    expect(log).toEqual(['b']);
    expect(() => b.cancel()).toThrow(AlreadyCalled);
    expect(() => b.delay(1)).toThrow(AlreadyCalled);
    clock.advance(6);
    expect(log).toEqual(['b', 'c']);
  });

  test('getDelayedCalls lists the active calls; pump advances in steps', () => {
    const clock = new Clock();
    const log: number[] = [];
    clock.callLater(1, () => log.push(clock.seconds()));
    clock.callLater(3, () => log.push(clock.seconds()));
    expect(clock.getDelayedCalls()).toHaveLength(2);
    clock.pump([1, 1, 1]);
    expect(log).toEqual([1, 3]);
    expect(clock.getDelayedCalls()).toHaveLength(0);
  });

  test('advance refuses a negative amount', () => {
    expect(() => new Clock().advance(-1)).toThrow(RangeError);
  });
});

describe('deferLater', () => {
  test('fires with the function result after the delay', () => {
    const clock = new Clock();
    const d = deferLater(clock, 3, (x: number) => x * 2, 21);
    clock.advance(2);
    assertNoResult(d);
    clock.advance(1);
    expect(successResultOf(d)).toBe(42);
  });

  test('without a function fires undefined', () => {
    const clock = new Clock();
    const d = deferLater(clock, 1);
    clock.advance(1);
    expect(successResultOf(d)).toBeUndefined();
  });

  test('a throwing function fails it', () => {
    const clock = new Clock();
    const d = deferLater(clock, 1, () => {
      throw new GenericError();
    });
    clock.advance(1);
    failureResultOf(d, GenericError);
  });

  test('cancel cancels the delayed call and fails with CancelledError', () => {
    const clock = new Clock();
    let ran = false;
    const d = deferLater(clock, 1, () => {
      ran = true;
    });
    d.cancel();
    failureResultOf(d, CancelledError);
    expect(clock.getDelayedCalls()).toHaveLength(0);
    clock.advance(2);
    expect(ran).toBe(false);
  });
});

describe('LoopingCall', () => {
  test('calls at once and then every interval; stop fires the Deferred with the LoopingCall', () => {
    const clock = new Clock();
    const times: number[] = [];
    const lc = new LoopingCall(() => {
      times.push(clock.seconds());
    });
    lc.clock = clock;
    const d = lc.start(1);
    clock.pump([1, 1, 1]);
    expect(times).toEqual([0, 1, 2, 3]);
    lc.stop();
    expect(successResultOf(d)).toBe(lc);
    expect(clock.getDelayedCalls()).toHaveLength(0);
  });

  test('now = false waits one interval first', () => {
    const clock = new Clock();
    const times: number[] = [];
    const lc = new LoopingCall(() => {
      times.push(clock.seconds());
    });
    lc.clock = clock;
    lc.start(2, false);
    clock.advance(1);
    expect(times).toEqual([]);
    clock.advance(1);
    expect(times).toEqual([2]);
    lc.stop();
  });

  test('stays aligned to the interval and skips missed calls', () => {
    const clock = new Clock();
    const times: number[] = [];
    const lc = new LoopingCall(() => {
      times.push(clock.seconds());
    });
    lc.clock = clock;
    lc.start(1);
    clock.advance(3.5); // one late call at 3.5, the next is aligned to 4
    clock.advance(0.5);
    expect(times).toEqual([0, 3.5, 4]);
    lc.stop();
  });

  test('waits for a Deferred the function returns', () => {
    const clock = new Clock();
    const pending: Deferred<void>[] = [];
    const lc = new LoopingCall(() => {
      const d = new Deferred<void>();
      pending.push(d);
      return d;
    });
    lc.clock = clock;
    lc.start(1);
    clock.advance(5);
    expect(pending).toHaveLength(1); // still waiting for the first
    pending[0]!.callback();
    clock.advance(1);
    expect(pending).toHaveLength(2);
    lc.stop(); // the call in progress finishes the Deferred when it fires
    pending[1]!.callback();
  });

  test('stop while a call is pending fires the Deferred once the call finishes', () => {
    const clock = new Clock();
    const inner = new Deferred<void>();
    const lc = new LoopingCall(() => inner);
    lc.clock = clock;
    const d = lc.start(1);
    lc.stop();
    assertNoResult(d);
    inner.callback();
    expect(successResultOf(d)).toBe(lc);
  });

  test('a throwing function stops the loop and fails its Deferred', () => {
    const clock = new Clock();
    let n = 0;
    const lc = new LoopingCall(() => {
      if (++n === 2) throw new GenericError('second call');
    });
    lc.clock = clock;
    const d = lc.start(1);
    clock.advance(1);
    failureResultOf(d, GenericError);
    expect(lc.running).toBe(false);
    expect(clock.getDelayedCalls()).toHaveLength(0);
  });

  test('start twice, stop when not running, negative interval', () => {
    const clock = new Clock();
    const lc = new LoopingCall(() => undefined);
    lc.clock = clock;
    expect(() => lc.stop()).toThrow();
    expect(() => lc.start(-1)).toThrow(RangeError);
    lc.start(1);
    expect(() => lc.start(1)).toThrow();
    lc.stop();
  });

  test('reset restarts the interval from now', () => {
    const clock = new Clock();
    const times: number[] = [];
    const lc = new LoopingCall(() => {
      times.push(clock.seconds());
    });
    lc.clock = clock;
    lc.start(2);
    clock.advance(1.5);
    lc.reset();
    clock.advance(1);
    expect(times).toEqual([0]);
    clock.advance(1);
    expect(times).toEqual([0, 3.5]);
    lc.stop();
  });
});
