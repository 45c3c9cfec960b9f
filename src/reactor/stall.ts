/**
 * Watching the event loop for stalls: a callback that runs so long that
 * every other connection, timer and Deferred waits (Twisted's "blocking
 * calls freeze everything"; in Node, CPU-bound work and sync fs/crypto).
 *
 * This module is allowed real timers: it watches the real loop, so a test
 * `Clock` would tell it nothing.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { Logger } from '../logger/index.js';

/** Options of a {@link StallMonitor}. */
export interface StallMonitorOptions {
  /** A callback blocking the loop longer than this many ms is reported (default 100). */
  thresholdMs?: number;
  /** Where events go (default: a Logger in namespace `spindle.reactor.stall`). */
  logger?: Logger;
  /**
   * How often, in ms, the monitor's timer runs (default: thresholdMs / 5,
   * between 1 and 20). Smaller measures stalls more closely and costs more
   * wake-ups.
   */
  intervalMs?: number;
}

/** Event-loop delay statistics since `start()` or the last `resetStats()`, in milliseconds. */
export interface EventLoopStats {
  /** Delay samples taken (by `perf_hooks.monitorEventLoopDelay`). */
  samples: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
  stddevMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** Stalls over the threshold that were reported. */
  stalls: number;
  /** The longest stall measured (reported or not). */
  longestStallMs: number;
}

const NS_PER_MS = 1e6;

/**
 * Logs a `warn` event — `'The event loop was blocked for {blockedMs} ms'`,
 * fields `{ blockedMs, thresholdMs }`, namespace `spindle.reactor.stall` —
 * each time one callback blocks the event loop longer than `thresholdMs`.
 *
 * It runs a repeating timer and measures how late the timer fires: a
 * callback that blocked the loop for B ms makes it late by between
 * B − intervalMs and B, so `blockedMs` may be up to `intervalMs` short of the
 * real stall. One stall gives one event. The timer is unref'd: the monitor
 * never keeps the process alive. Garbage-collection pauses count as stalls
 * too (they block the loop just the same).
 *
 * `stats()` adds the delay distribution from
 * `perf_hooks.monitorEventLoopDelay`.
 *
 * @example
 * ```ts
 * const monitor = new StallMonitor({ thresholdMs: 50 });
 * monitor.start();
 * // ... later, e.g. on a status page:
 * const { p99Ms, stalls } = monitor.stats();
 * monitor.stop();
 * ```
 */
export class StallMonitor {
  /** Blocks longer than this many ms are reported. */
  readonly thresholdMs: number;
  /** The period of the monitor's timer, in ms. */
  readonly intervalMs: number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private histogram: IntervalHistogram | null = null;
  private lastTick = 0;
  private stalls = 0;
  private longestStallMs = 0;

  /** @throws RangeError when `thresholdMs` or `intervalMs` is not a positive number. */
  constructor(options: StallMonitorOptions = {}) {
    const thresholdMs = options.thresholdMs ?? 100;
    if (!(thresholdMs > 0) || !Number.isFinite(thresholdMs)) {
      throw new RangeError(`StallMonitor: thresholdMs must be a positive number, not ${String(thresholdMs)}`);
    }
    const intervalMs = options.intervalMs ?? Math.max(1, Math.min(20, Math.floor(thresholdMs / 5)));
    if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) {
      throw new RangeError(`StallMonitor: intervalMs must be a positive number, not ${String(intervalMs)}`);
    }
    this.thresholdMs = thresholdMs;
    this.intervalMs = intervalMs;
    this.log = options.logger ?? new Logger('spindle.reactor.stall');
  }

  /** Whether the monitor is watching. */
  get running(): boolean {
    return this.timer !== null;
  }

  /** Start watching (idempotent). Statistics start afresh. */
  start(): void {
    if (this.timer !== null) return;
    this.resetStats();
    this.histogram = monitorEventLoopDelay({ resolution: Math.max(1, Math.min(10, Math.round(this.intervalMs))) });
    this.histogram.enable();
    this.lastTick = performance.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Stop watching (idempotent). `stats()` keeps what was measured. */
  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    this.histogram?.disable();
  }

  /** The delay distribution and the stalls seen; all zero before `start()`. */
  stats(): EventLoopStats {
    const h = this.histogram;
    const count = h?.count ?? 0;
    const ms = (ns: number): number => (count > 0 ? ns / NS_PER_MS : 0);
    return {
      samples: count,
      minMs: ms(h?.min ?? 0),
      maxMs: ms(h?.max ?? 0),
      meanMs: ms(h?.mean ?? 0),
      stddevMs: ms(h?.stddev ?? 0),
      p50Ms: ms(h?.percentile(50) ?? 0),
      p90Ms: ms(h?.percentile(90) ?? 0),
      p99Ms: ms(h?.percentile(99) ?? 0),
      stalls: this.stalls,
      longestStallMs: this.longestStallMs,
    };
  }

  /** Forget the statistics gathered so far. */
  resetStats(): void {
    this.histogram?.reset();
    this.stalls = 0;
    this.longestStallMs = 0;
  }

  private tick(): void {
    const now = performance.now();
    const blocked = now - this.lastTick - this.intervalMs;
    this.lastTick = now;
    if (blocked > this.longestStallMs) this.longestStallMs = blocked;
    if (blocked > this.thresholdMs) {
      this.stalls++;
      this.log.warn('The event loop was blocked for {blockedMs} ms', {
        blockedMs: Math.round(blocked),
        thresholdMs: this.thresholdMs,
      });
    }
  }
}
