/**
 * The Node reactor's timed calls, on real time with short delays: ordering,
 * cancel/reset/delay and their errors, Twisted's next-iteration rule, errors
 * logged without stopping the loop, and nothing run after the reactor stops.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlreadyCalled, AlreadyCancelled } from '../../src/reactor/errors.js';
import { NodeReactor } from '../../src/reactor/nodeReactor.js';
import type { DelayedCall } from '../../src/reactor/delayedCall.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

/** Resolve after `ms` of real time (test side only). */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(predicate: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

let reactor: NodeReactor;

beforeEach(() => {
  reactor = new NodeReactor();
});

afterEach(() => {
  for (const call of reactor.getDelayedCalls()) call.cancel();
});

describe('NodeReactor time', () => {
  it('tells the time in seconds from performance.timeOrigin + performance.now()', () => {
    const a = reactor.seconds();
    const b = reactor.seconds();
    expect(b).toBeGreaterThanOrEqual(a);
    expect(Math.abs(a - Date.now() / 1000)).toBeLessThan(1);
  });

  it('runs calls in time order, ties in the order they were scheduled', async () => {
    const seen: string[] = [];
    const plan: Array<[number, string]> = [
      [0.03, 'c'],
      [0.01, 'a1'],
      [0.02, 'b'],
      [0, 'now'],
      [0.01, 'a2'],
    ];
    const now = reactor.seconds();
    const calls = plan.map(([delay, name]) => reactor.callLater(delay, () => seen.push(name)));
    for (const [i, call] of calls.entries()) expect(call.getTime()).toBeCloseTo(now + plan[i]![0], 2);
    await until(() => seen.length === plan.length, 'every call');
    expect(seen).toEqual(['now', 'a1', 'a2', 'b', 'c']);
  });

  it('keeps order over many random delays', async () => {
    const seen: number[] = [];
    const delays = Array.from({ length: 200 }, (_, i) => ((i * 7919) % 50) / 1000);
    for (const d of delays) reactor.callLater(d, () => seen.push(d));
    await until(() => seen.length === delays.length, 'every call');
    expect(seen).toEqual([...delays].sort((x, y) => x - y));
  });

  it('passes arguments', async () => {
    let got: unknown[] = [];
    reactor.callLater(0, (a: number, b: string) => (got = [a, b]), 1, 'two');
    await until(() => got.length === 2, 'the call');
    expect(got).toEqual([1, 'two']);
  });

  it('runs a call scheduled from a timed call with delay 0 on a later turn of the loop', async () => {
    const seen: string[] = [];
    reactor.callLater(0, () => {
      seen.push('f1');
      reactor.callLater(0, () => seen.push('g'));
      // An immediate queued now runs before g: g waits for the next iteration.
      setImmediate(() => seen.push('io turn'));
    });
    reactor.callLater(0, () => seen.push('f2'));
    await until(() => seen.length === 4, 'every call');
    expect(seen).toEqual(['f1', 'f2', 'io turn', 'g']);
  });

  it('cancels, resets and delays calls', async () => {
    const seen: string[] = [];
    const cancelled = reactor.callLater(0.01, () => seen.push('cancelled'));
    const reset = reactor.callLater(0.2, () => seen.push('reset'));
    const delayed = reactor.callLater(0.005, () => seen.push('delayed'));
    const marker = reactor.callLater(0.03, () => seen.push('marker'));
    cancelled.cancel();
    reset.reset(0.01);
    delayed.delay(0.045);
    expect(cancelled.active()).toBe(false);
    expect(reset.active()).toBe(true);
    expect(reactor.getDelayedCalls()).not.toContain(cancelled);
    expect(reactor.getDelayedCalls()).toEqual(expect.arrayContaining([reset, delayed, marker]));
    await until(() => seen.length === 3, 'the calls');
    expect(seen).toEqual(['reset', 'marker', 'delayed']);
    expect(reactor.getDelayedCalls()).toEqual([]);
  });

  const misuse: Array<[string, (c: DelayedCall) => void]> = [
    ['cancel', (c) => c.cancel()],
    ['reset', (c) => c.reset(1)],
    ['delay', (c) => c.delay(1)],
  ];
  for (const [name, act] of misuse) {
    it(`${name}() throws AlreadyCancelled / AlreadyCalled`, async () => {
      const cancelled = reactor.callLater(1, () => {});
      cancelled.cancel();
      expect(() => act(cancelled)).toThrow(AlreadyCancelled);
      let ran = false;
      const called = reactor.callLater(0, () => (ran = true));
      await until(() => ran, 'the call');
      expect(called.active()).toBe(false);
      expect(() => act(called)).toThrow(AlreadyCalled);
    });
  }

  it('rejects a negative or non-number delay, and a non-function', () => {
    for (const bad of [-0.001, -1, Number.NaN]) {
      expect(() => reactor.callLater(bad, () => {})).toThrow(RangeError);
    }
    expect(() => reactor.callLater('1' as unknown as number, () => {})).toThrow(TypeError);
    expect(() => reactor.callLater(0, 'nope' as unknown as () => void)).toThrow(TypeError);
  });

  it('logs an exception from a call and goes on with the others', async () => {
    const seen: string[] = [];
    reactor.callLater(0, () => {
      throw new SyntaxError('first call fails');
    });
    reactor.callLater(0, () => seen.push('second'));
    reactor.callLater(0.01, () => seen.push('third'));
    await until(() => seen.length === 2, 'the other calls');
    expect(seen).toEqual(['second', 'third']);
    const logged = flushLoggedErrors(SyntaxError);
    expect(logged).toHaveLength(1);
    expect(logged[0]!.getErrorMessage()).toBe('first call fails');
  });

  it('forgets cancelled calls at once (no pile-up of timeouts that never fire)', () => {
    const calls = Array.from({ length: 10_000 }, (_, i) => reactor.callLater(60 + i / 1000, () => {}));
    const keep = reactor.callLater(30, () => {});
    for (const c of calls) c.cancel();
    expect(reactor.getDelayedCalls()).toEqual([keep]);
  });

  it('re-arms for an earlier call scheduled after a later one', async () => {
    const seen: string[] = [];
    reactor.callLater(10, () => seen.push('late'));
    const start = Date.now();
    reactor.callLater(0.01, () => seen.push('early'));
    await until(() => seen.length === 1, 'the early call');
    expect(seen).toEqual(['early']);
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it('runs nothing once the reactor has stopped', async () => {
    const seen: string[] = [];
    const stopped = reactor.run();
    reactor.callLater(0.05, () => seen.push('after stop'));
    reactor.stop();
    await stopped;
    await sleep(100);
    expect(seen).toEqual([]);
    expect(reactor.getDelayedCalls()).toHaveLength(1);
  });
});
