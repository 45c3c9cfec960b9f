/**
 * ThreadPool without running jobs: option and argument checks, stop() on an
 * idle pool, and what a stopped pool answers. Jobs in real worker threads
 * are in test/integration/threads.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { CancelledError } from '../../src/defer/errors.js';
import { DataCloneError, ThreadPool, WorkerCrashedError } from '../../src/reactor/threads.js';
import { failureResultOf, successResultOf } from '../../src/testing/results.js';

describe('ThreadPool options', () => {
  it('defaults maxThreads to the available parallelism, between 1 and 4, and idleTimeoutMs to 10 s', () => {
    const pool = new ThreadPool();
    expect(pool.maxThreads).toBe(Math.min(4, Math.max(1, availableParallelism())));
    expect(pool.idleTimeoutMs).toBe(10_000);
  });

  it.each([
    ['maxThreads 0', { maxThreads: 0 }],
    ['a fractional maxThreads', { maxThreads: 1.5 }],
    ['a negative idleTimeoutMs', { idleTimeoutMs: -1 }],
    ['NaN as idleTimeoutMs', { idleTimeoutMs: Number.NaN }],
  ])('throws RangeError for %s', (_what, options) => {
    expect(() => new ThreadPool(options)).toThrow(RangeError);
  });

  it('accepts Infinity as idleTimeoutMs (workers are kept)', () => {
    expect(new ThreadPool({ idleTimeoutMs: Infinity }).idleTimeoutMs).toBe(Infinity);
  });
});

describe('ThreadPool.deferToThread argument checks', () => {
  it.each([
    ['a relative path', './jobs.mjs', 'add'],
    ['a bare specifier', 'some-package', 'add'],
    ['an http URL', new URL('http://example.com/jobs.mjs'), 'add'],
    ['an empty export name', '/tmp/jobs.mjs', ''],
  ])('throws TypeError for %s, before starting a worker', (_what, moduleUrl, exportName) => {
    const pool = new ThreadPool();
    expect(() => pool.deferToThread(moduleUrl, exportName)).toThrow(TypeError);
    expect(pool.stats()).toEqual({ workers: 0, busy: 0, queued: 0 });
  });
});

describe('ThreadPool.stop', () => {
  it('fires at once when no worker was ever started, and again when called twice', () => {
    const pool = new ThreadPool();
    expect(successResultOf(pool.stop())).toBeUndefined();
    expect(successResultOf(pool.stop())).toBeUndefined();
  });

  it('is final: later jobs fail with CancelledError without starting a worker', () => {
    const pool = new ThreadPool();
    pool.stop();
    const f = failureResultOf(pool.deferToThread('/tmp/never.mjs', 'f'), CancelledError);
    expect(f.value.message).toBe('the thread pool is stopped');
    expect(pool.stats().workers).toBe(0);
  });
});

describe('thread errors', () => {
  it('DataCloneError is a TypeError named DataCloneError', () => {
    const e = new DataCloneError('cannot clone');
    expect(e).toBeInstanceOf(TypeError);
    expect(e.name).toBe('DataCloneError');
  });

  it('WorkerCrashedError carries the exit code and the uncaught error', () => {
    const cause = new Error('boom');
    const e = new WorkerCrashedError(1, { cause });
    expect(e.exitCode).toBe(1);
    expect(e.cause).toBe(cause);
    expect(e.message).toBe('the worker thread running the job exited with code 1: boom');
    expect(new WorkerCrashedError(7).message).toBe('the worker thread running the job exited with code 7');
  });
});
