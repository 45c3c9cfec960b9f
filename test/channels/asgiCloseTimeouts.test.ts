// CloseTimeouts: the server's application-close timeouts on one timer. Each countdown must end
// exactly `timeout` seconds after it started, as a timer of its own would.
import { describe, expect, it } from 'vitest';
import { CloseTimeouts } from '../../src/channels/asgi/closeTimeouts.js';
import { Clock } from '../../src/testing/clock.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

describe('CloseTimeouts', () => {
  it('calls each expire exactly timeout seconds after its start, in order', () => {
    const clock = new Clock();
    const list = new CloseTimeouts(clock, 10);
    const fired: string[] = [];
    list.start(() => fired.push('a'));
    clock.advance(1);
    list.start(() => fired.push('b'));
    clock.advance(2.5);
    list.start(() => fired.push('c'));
    expect(list.size).toBe(3);
    clock.advance(6.4); // t = 9.9
    expect(fired).toEqual([]);
    clock.advance(0.1); // t = 10
    expect(fired).toEqual(['a']);
    clock.advance(0.9); // t = 10.9
    expect(fired).toEqual(['a']);
    clock.advance(0.1); // t = 11
    expect(fired).toEqual(['a', 'b']);
    clock.advance(2.4); // t = 13.4
    expect(fired).toEqual(['a', 'b']);
    clock.advance(0.1); // t = 13.5
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(list.size).toBe(0);
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('a cancelled countdown never fires; the others keep their deadlines', () => {
    const clock = new Clock();
    const list = new CloseTimeouts(clock, 5);
    const fired: string[] = [];
    const a = list.start(() => fired.push('a'));
    clock.advance(1);
    const b = list.start(() => fired.push('b'));
    clock.advance(1);
    const c = list.start(() => fired.push('c'));
    expect(a.active()).toBe(true);
    a.cancel();
    c.cancel();
    c.cancel(); // idempotent
    expect(a.active()).toBe(false);
    expect(list.size).toBe(1);
    clock.advance(3); // t = 5: a's deadline, a is gone
    expect(fired).toEqual([]);
    clock.advance(0.999); // t = 5.999
    expect(fired).toEqual([]);
    clock.advance(0.001); // t = 6: b's deadline
    expect(fired).toEqual(['b']);
    expect(b.active()).toBe(false);
    b.cancel(); // a no-op once expired
    clock.advance(100);
    expect(fired).toEqual(['b']);
  });

  it('arms one timer for many countdowns, and none while one is armed', () => {
    const clock = new Clock();
    const list = new CloseTimeouts(clock, 10);
    const entries = [];
    for (let i = 0; i < 100; i++) entries.push(list.start(() => undefined));
    expect(clock.getDelayedCalls()).toHaveLength(1);
    for (const e of entries) e.cancel();
    // The empty list leaves its timer to wake once for nothing (no cancel per instance)...
    expect(clock.getDelayedCalls()).toHaveLength(1);
    list.start(() => undefined).cancel();
    expect(clock.getDelayedCalls()).toHaveLength(1);
    clock.advance(10);
    // ...and then arms nothing until a countdown starts.
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('re-arms for a countdown that started after the armed one was cancelled', () => {
    const clock = new Clock();
    const list = new CloseTimeouts(clock, 10);
    const fired: number[] = [];
    list.start(() => fired.push(clock.seconds())).cancel();
    clock.advance(4);
    list.start(() => fired.push(clock.seconds()));
    clock.advance(6); // t = 10: the early timer wakes and re-arms for t = 14
    expect(fired).toEqual([]);
    clock.advance(3.9);
    expect(fired).toEqual([]);
    clock.advance(0.1);
    expect(fired).toEqual([14]);
  });

  it('logs an expire that throws and goes on with the others', () => {
    const clock = new Clock();
    const list = new CloseTimeouts(clock, 1);
    const fired: string[] = [];
    list.start(() => {
      throw new RangeError('broken expire');
    });
    list.start(() => fired.push('second'));
    clock.advance(1);
    expect(fired).toEqual(['second']);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });

  it('a countdown started by an expire keeps its own deadline', () => {
    const clock = new Clock();
    const list = new CloseTimeouts(clock, 2);
    const fired: number[] = [];
    list.start(() => {
      fired.push(clock.seconds());
      list.start(() => fired.push(clock.seconds()));
    });
    clock.advance(1);
    list.start(() => fired.push(clock.seconds()));
    clock.advance(1); // t = 2: the first, which starts one due at t = 4
    clock.advance(1); // t = 3: the one started at t = 1
    clock.advance(1); // t = 4
    expect(fired).toEqual([2, 3, 4]);
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('never fires with timeout Infinity, and refuses a negative timeout', () => {
    const clock = new Clock();
    const list = new CloseTimeouts(clock, Infinity);
    let fired = false;
    const e = list.start(() => (fired = true));
    expect(clock.getDelayedCalls()).toEqual([]);
    clock.advance(1e9);
    expect(fired).toBe(false);
    e.cancel();
    expect(() => new CloseTimeouts(clock, -1)).toThrow(RangeError);
    expect(() => new CloseTimeouts(clock, Number.NaN)).toThrow(RangeError);
  });
});
