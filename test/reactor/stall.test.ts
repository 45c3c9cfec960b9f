/**
 * StallMonitor on the real event loop: it watches real time, so these tests
 * block the loop for real (briefly, a bounded number of times).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { captureEvents, type EventCapture, Logger } from '../../src/logger/index.js';
import { StallMonitor } from '../../src/reactor/stall.js';

function blockFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: nothing else runs
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let capture: EventCapture | null = null;
let monitor: StallMonitor | null = null;

afterEach(() => {
  monitor?.stop();
  monitor = null;
  capture?.stop();
  capture = null;
});

function stallEvents(c: EventCapture): Array<Record<string, unknown>> {
  return c.events.filter((e) => e.log_namespace === 'spindle.reactor.stall');
}

describe('StallMonitor', () => {
  it('logs one warn event for one callback that blocks the loop longer than the threshold', async () => {
    capture = captureEvents();
    monitor = new StallMonitor({ thresholdMs: 100 });
    monitor.start();
    await sleep(60); // let the timer settle into its rhythm
    // Count from here: a machine under load may have stalled before.
    const before = stallEvents(capture).length;
    blockFor(150);
    await sleep(100); // a few ticks: the late one, then normal ones
    const events = stallEvents(capture).slice(before);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      log_level: 'warn',
      log_format: 'The event loop was blocked for {blockedMs} ms',
      thresholdMs: 100,
    });
    const blockedMs = events[0]!.blockedMs as number;
    expect(blockedMs).toBeGreaterThan(100);
    expect(blockedMs).toBeLessThan(1000);
    expect(monitor.stats().stalls).toBe(before + 1);
    expect(monitor.stats().longestStallMs).toBeGreaterThan(100);
  });

  it('logs nothing for blocks under the threshold', async () => {
    capture = captureEvents();
    monitor = new StallMonitor({ thresholdMs: 200 });
    monitor.start();
    await sleep(30);
    blockFor(40);
    await sleep(60);
    expect(stallEvents(capture)).toEqual([]);
    expect(monitor.stats().stalls).toBe(0);
  });

  it('reports through the logger it is given', async () => {
    capture = captureEvents();
    monitor = new StallMonitor({ thresholdMs: 50, intervalMs: 5, logger: new Logger('app.health') });
    monitor.start();
    await sleep(20);
    blockFor(120);
    await sleep(30);
    const mine = capture.events.filter((e) => e.log_namespace === 'app.health');
    expect(mine).toHaveLength(1);
    expect(mine[0]!.blockedMs as number).toBeGreaterThan(50);
  });

  it('stops reporting after stop(), and start/stop are idempotent', async () => {
    capture = captureEvents();
    monitor = new StallMonitor({ thresholdMs: 50 });
    monitor.start();
    monitor.start();
    expect(monitor.running).toBe(true);
    monitor.stop();
    monitor.stop();
    expect(monitor.running).toBe(false);
    blockFor(80);
    await sleep(40);
    expect(stallEvents(capture)).toEqual([]);
  });

  it('exposes the event-loop delay distribution from monitorEventLoopDelay', async () => {
    monitor = new StallMonitor({ thresholdMs: 1000, intervalMs: 5 });
    expect(monitor.stats()).toEqual({
      samples: 0,
      minMs: 0,
      maxMs: 0,
      meanMs: 0,
      stddevMs: 0,
      p50Ms: 0,
      p90Ms: 0,
      p99Ms: 0,
      stalls: 0,
      longestStallMs: 0,
    });
    monitor.start();
    await sleep(50);
    blockFor(60);
    await sleep(50);
    const s = monitor.stats();
    expect(s.samples).toBeGreaterThan(0);
    expect(s.maxMs).toBeGreaterThanOrEqual(40);
    expect(s.minMs).toBeLessThanOrEqual(s.p50Ms);
    expect(s.p50Ms).toBeLessThanOrEqual(s.p90Ms);
    expect(s.p90Ms).toBeLessThanOrEqual(s.p99Ms);
    expect(s.p99Ms).toBeLessThanOrEqual(s.maxMs);
    monitor.resetStats();
    expect(monitor.stats()).toMatchObject({ stalls: 0, longestStallMs: 0 });
  });

  it.each([
    ['a zero threshold', { thresholdMs: 0 }],
    ['a negative threshold', { thresholdMs: -1 }],
    ['an infinite threshold', { thresholdMs: Infinity }],
    ['a zero interval', { intervalMs: 0 }],
  ])('throws RangeError for %s', (_what, options) => {
    expect(() => new StallMonitor(options)).toThrow(RangeError);
  });

  it('defaults: 100 ms threshold, a 20 ms timer; the timer follows small thresholds', () => {
    expect(new StallMonitor()).toMatchObject({ thresholdMs: 100, intervalMs: 20 });
    expect(new StallMonitor({ thresholdMs: 10 })).toMatchObject({ intervalMs: 2 });
    expect(new StallMonitor({ thresholdMs: 2 })).toMatchObject({ intervalMs: 1 });
  });
});
