// Unhandled failures: the garbage-collector report (Twisted's LogTests) and the deterministic test path.
import { describe, expect, test } from 'vitest';
import { Deferred, Failure, fail, setDebugging } from '../../src/defer/index.js';
import { startTracking, stopTracking } from '../../src/defer/unhandled.js';
import { captureEvents, formatEvent, type LogEvent } from '../../src/logger/index.js';
import { beginErrorTracking, endErrorTracking, flushLoggedErrors } from '../../src/testing/index.js';

class LostError extends Error {}

const gc = (globalThis as { gc?: () => void }).gc;

/** Run `make` with tracking off, collect garbage until a report for LostError arrives (bounded). */
async function collectReports(make: () => void): Promise<LogEvent[]> {
  if (gc === undefined) throw new Error('these tests need node --expose-gc (set in vitest.config.ts)');
  const capture = captureEvents();
  stopTracking(); // the production path: reports come from the FinalizationRegistry
  try {
    make();
    for (let i = 0; i < 50; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 5));
      if (capture.events.some((e) => e.log_failure !== undefined)) break;
    }
    // A few more rounds, so that a report that should NOT come has had its chance.
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    startTracking();
    capture.stop();
  }
  return capture.events.filter((e) => e.log_namespace === 'spindle.defer');
}

describe('reported by the garbage collector', () => {
  test('a failed Deferred nobody handled is logged when collected (test_errorLog)', async () => {
    const events = await collectReports(() => {
      const d = new Deferred<number>();
      d.addCallback(() => {
        throw new LostError('nobody caught me');
      });
      d.callback(1);
    });
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e.log_level).toBe('critical');
    expect(formatEvent(e)).toBe('Unhandled error in Deferred:');
    expect(e.log_failure!.getTraceback()).toContain('nobody caught me');
    expect(flushLoggedErrors(LostError)).toHaveLength(1);
  });

  test('a failure handed on by chaining is not logged (test_errorClearedByChaining)', async () => {
    const events = await collectReports(() => {
      const d = fail(new LostError('handed on'));
      d.addErrback(() => new Deferred());
    });
    expect(events).toHaveLength(0);
  });

  test('a handled failure is not logged', async () => {
    const events = await collectReports(() => {
      fail(new LostError()).addErrback(() => undefined);
    });
    expect(events).toHaveLength(0);
  });

  test('with debugging on, the report has the creator and invoker stacks', async () => {
    setDebugging(true);
    let events: LogEvent[];
    try {
      events = await collectReports(function makeTheDeferred() {
        const d = new Deferred();
        d.errback(new LostError('debug me'));
      });
    } finally {
      setDebugging(false);
    }
    expect(events).toHaveLength(1);
    const text = formatEvent(events[0]!);
    expect(text).toMatch(/C: .*makeTheDeferred/);
    expect(text).toMatch(/I: .*makeTheDeferred/);
    flushLoggedErrors(LostError);
  });
});

describe('the deterministic path for tests', () => {
  test('a failure left unhandled is what endErrorTracking returns', () => {
    fail(new LostError('left behind'));
    const left = endErrorTracking();
    beginErrorTracking(); // give the setup's afterEach a fresh, empty tracking
    expect(left).toHaveLength(1);
    expect(left[0]!.value).toBeInstanceOf(LostError);
  });

  test('flushLoggedErrors takes only the given types', () => {
    class Other extends Error {}
    fail(new LostError());
    fail(new Other());
    expect(flushLoggedErrors(LostError)).toHaveLength(1);
    expect(flushLoggedErrors()).toHaveLength(1);
    expect(flushLoggedErrors()).toHaveLength(0);
  });

  test('a failure handled later is no longer pending', () => {
    const d = fail(new LostError());
    d.addErrback(() => undefined);
    expect(flushLoggedErrors()).toHaveLength(0);
  });

  test('a failure moved into a waiting Deferred is pending only there', () => {
    const inner = fail<number>(new LostError());
    const outer = new Deferred<null>();
    outer.addCallback(() => inner);
    outer.callback(null);
    const taken = flushLoggedErrors(LostError);
    expect(taken).toHaveLength(1);
  });
});

describe('Failure', () => {
  test('getTraceback follows cause chains', () => {
    const root = new TypeError('root cause');
    const mid = new RangeError('middle', { cause: root });
    const top = new LostError('top', { cause: mid });
    const text = new Failure(top).getTraceback();
    expect(text).toMatch(/^Error: top|LostError: top/);
    expect(text).toContain('Caused by: RangeError: middle');
    expect(text).toContain('Caused by: TypeError: root cause');
  });

  test('getTraceback survives a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    const text = new Failure(a).getTraceback();
    expect(text.match(/Caused by/g)).toHaveLength(1);
  });

  test('type, getErrorMessage, raiseException, from', () => {
    const e = new LostError('msg');
    const f = new Failure(e);
    expect(f.type).toBe(LostError);
    expect(f.getErrorMessage()).toBe('msg');
    expect(() => f.raiseException()).toThrow(e);
    expect(Failure.from(f)).toBe(f);
    expect(Failure.from(e).value).toBe(e);
  });

  test('a non-Error thrown value is kept as thrown', () => {
    const f = new Failure(42);
    expect(f.thrown).toBe(42);
    expect(f.value).toBeInstanceOf(Error);
    expect(() => f.raiseException()).toThrow();
  });
});
