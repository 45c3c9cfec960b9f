/**
 * ThreadPool with real worker threads running test/fixtures/threadJobs.mjs.
 * Every pool is stopped after its test; every wait is bounded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { threadId } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Deferred } from '../../src/defer/deferred.js';
import { CancelledError } from '../../src/defer/errors.js';
import { Failure, NonErrorThrown } from '../../src/defer/failure.js';
import { DataCloneError, ThreadPool, WorkerCrashedError, type ThreadPoolOptions } from '../../src/reactor/threads.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';

const jobs = new URL('../fixtures/threadJobs.mjs', import.meta.url);

function within<T>(d: PromiseLike<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    d.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The Failure `d` ends with (handling it); rejects if `d` succeeds. */
function failureOf(d: Deferred<unknown>, ms = 5000): Promise<Failure> {
  return within(
    new Promise<Failure>((resolve, reject) => {
      d.addCallbacks(
        (v) => reject(new Error(`expected a failure, got ${String(v)}`)),
        (f: Failure) => resolve(f),
      );
    }),
    ms,
    'the job to fail',
  );
}

const pools: ThreadPool[] = [];
function pool(options: ThreadPoolOptions = {}): ThreadPool {
  const p = new ThreadPool(options);
  pools.push(p);
  return p;
}

afterEach(async () => {
  await within(Promise.all(pools.splice(0).map((p) => p.stop())), 5000, 'pools to stop');
});

describe('ThreadPool.deferToThread', () => {
  it.each([
    ['a URL', jobs],
    ['a file: URL string', jobs.href],
    ['an absolute path', fileURLToPath(jobs)],
  ])('runs an exported function of the module given as %s', async (_what, moduleUrl) => {
    expect(await within(pool().deferToThread<number>(moduleUrl, 'add', 2, 3), 5000, 'add')).toBe(5);
  });

  it('waits for an async function and clones its arguments and result', async () => {
    const p = pool();
    expect(await within(p.deferToThread<number>(jobs, 'double', 21), 5000, 'double')).toBe(42);
    const nested = { list: [1, 2, { deep: new Map([['k', new Date(0)]]) }] };
    expect(await within(p.deferToThread(jobs, 'add', 'x', JSON.stringify(nested)), 5000, 'add')).toBe(
      `x${JSON.stringify(nested)}`,
    );
  });

  it('runs CPU-bound work off the main thread: the main thread stays responsive', async () => {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    try {
      const result = await within(
        pool().deferToThread<{ threadId: number }>(jobs, 'spin', 300),
        5000,
        'spin',
      );
      expect(result.threadId).not.toBe(threadId);
      expect(ticks).toBeGreaterThan(10); // a blocked loop would have ticked about once
    } finally {
      clearInterval(ticker);
    }
  });

  it('reuses its workers', async () => {
    const p = pool({ maxThreads: 1 });
    const first = await within(p.deferToThread<number>(jobs, 'whoAmI'), 5000, 'whoAmI');
    const second = await within(p.deferToThread<number>(jobs, 'whoAmI'), 5000, 'whoAmI');
    expect(second).toBe(first);
    expect(p.stats()).toEqual({ workers: 1, busy: 0, queued: 0 });
  });
});

describe('ThreadPool: errors from the worker', () => {
  it('recreates a built-in error class with its message and stack', async () => {
    const f = await failureOf(pool().deferToThread(jobs, 'throwTypeError', 'not a number'));
    expect(f.value).toBeInstanceOf(TypeError);
    expect(f.value.message).toBe('not a number');
    expect(f.value.stack).toContain('throwTypeError');
    expect(f.value.stack).toContain('threadJobs.mjs');
  });

  it("keeps a custom error's name, message, stack and primitive properties", async () => {
    const f = await failureOf(pool().deferToThread(jobs, 'throwCustom', 'over quota'));
    expect(f.value).toBeInstanceOf(Error);
    expect(f.value).toMatchObject({ name: 'QuotaError', message: 'over quota', code: 'E_QUOTA', limit: 10 });
    expect(f.value.stack).toContain('QuotaError: over quota');
    expect(f.getTraceback()).toContain('throwCustom');
  });

  it('keeps the cause chain', async () => {
    const f = await failureOf(pool().deferToThread(jobs, 'throwWithCause'));
    expect(f.value.message).toBe('outer');
    expect(f.value.cause).toBeInstanceOf(RangeError);
    expect((f.value.cause as Error).message).toBe('inner');
  });

  it('wraps a thrown non-Error value as NonErrorThrown', async () => {
    const f = await failureOf(pool().deferToThread(jobs, 'throwString'));
    expect(f.value).toBeInstanceOf(NonErrorThrown);
    expect(f.thrown).toBe('just a string');
  });

  it.each([
    ['a missing export', 'nope', /no exported function named "nope"/],
    ['an export that is not a function', 'notAFunction', /no exported function named "notAFunction"/],
  ])('fails with TypeError for %s', async (_what, exportName, message) => {
    const f = await failureOf(pool().deferToThread(jobs, exportName));
    expect(f.value).toBeInstanceOf(TypeError);
    expect(f.value.message).toMatch(message);
  });

  it('fails with the import error for a module that does not exist', async () => {
    const f = await failureOf(pool().deferToThread('/nonexistent/spindle/jobs.mjs', 'f'));
    expect(f.value).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
  });

  it('fails with DataCloneError for an argument that cannot be cloned, and carries on', async () => {
    const p = pool({ maxThreads: 1 });
    const f = await failureOf(p.deferToThread(jobs, 'add', () => 1, 2));
    expect(f.value).toBeInstanceOf(DataCloneError);
    expect(f.value.message).toMatch(/an argument of add cannot be sent to a worker thread/);
    expect(await within(p.deferToThread(jobs, 'add', 1, 2), 5000, 'add')).toBe(3);
  });

  it('fails with DataCloneError for a result that cannot be cloned back', async () => {
    const f = await failureOf(pool().deferToThread(jobs, 'returnsFunction'));
    expect(f.value).toBeInstanceOf(DataCloneError);
    expect(f.value.message).toMatch(/the result of returnsFunction cannot be sent back/);
  });
});

describe('ThreadPool: bounds and queueing', () => {
  it('runs at most maxThreads jobs at once and queues the rest in order', async () => {
    const p = pool({ maxThreads: 2 });
    const ds = ['a', 'b', 'c', 'd'].map((label) =>
      p.deferToThread<{ label: string; start: number; end: number; threadId: number }>(jobs, 'timed', 150, label),
    );
    expect(p.stats()).toEqual({ workers: 2, busy: 2, queued: 2 });
    const results = await within(Promise.all(ds), 5000, 'four jobs');
    expect(results.map((r) => r.label)).toEqual(['a', 'b', 'c', 'd']);
    for (const r of results) {
      const running = results.filter((o) => o.start <= r.start && r.start < o.end);
      expect(running.length).toBeLessThanOrEqual(2);
    }
    const firstEnd = Math.min(results[0]!.end, results[1]!.end);
    expect(results[2]!.start).toBeGreaterThanOrEqual(firstEnd - 1);
    expect(results[3]!.start).toBeGreaterThanOrEqual(firstEnd - 1);
    expect(new Set(results.map((r) => r.threadId)).size).toBe(2);
  });

  it('cancelling a queued job removes it from the queue', async () => {
    const p = pool({ maxThreads: 1 });
    type Timed = { label: string; start: number; end: number };
    const running = p.deferToThread<Timed>(jobs, 'timed', 50, 'running');
    const queued = p.deferToThread(jobs, 'timed', 300, 'queued');
    const after = p.deferToThread<Timed>(jobs, 'timed', 1, 'after');
    expect(p.stats().queued).toBe(2);
    queued.cancel();
    expect(p.stats().queued).toBe(1);
    expect((await failureOf(queued, 100)).value).toBeInstanceOf(CancelledError);
    const first = await within(running, 5000, 'running');
    const next = await within(after, 5000, 'after');
    expect(next.start - first.end).toBeLessThan(250); // the cancelled 300 ms job never ran between them
  });

  it('cancelling a running job fails its Deferred at once; the job runs on and its result is dropped', async () => {
    const p = pool({ maxThreads: 1 });
    const running = p.deferToThread(jobs, 'timed', 100, 'running');
    running.cancel();
    expect((await failureOf(running, 100)).value).toBeInstanceOf(CancelledError);
    expect(p.stats().busy).toBe(1);
    expect(await within(p.deferToThread(jobs, 'add', 1, 1), 5000, 'next job')).toBe(2);
  });
});

describe('ThreadPool: crashes, idling and stop', () => {
  it('fails the job of a worker that calls process.exit, and replaces the worker', async () => {
    const p = pool({ maxThreads: 1 });
    const first = await within(p.deferToThread<number>(jobs, 'whoAmI'), 5000, 'whoAmI');
    const f = await failureOf(p.deferToThread(jobs, 'exitWorker', 3));
    expect(f.value).toBeInstanceOf(WorkerCrashedError);
    expect(f.value).toMatchObject({ exitCode: 3 });
    const replacement = await within(p.deferToThread<number>(jobs, 'whoAmI'), 5000, 'whoAmI');
    expect(replacement).not.toBe(first);
  });

  it('fails the job of a worker killed by an uncaught error, with that error as the cause', async () => {
    const p = pool({ maxThreads: 1 });
    const f = await failureOf(p.deferToThread(jobs, 'crashLater', 'uncaught in worker'));
    expect(f.value).toBeInstanceOf(WorkerCrashedError);
    expect((f.value.cause as Error).message).toBe('uncaught in worker');
    expect(f.value.message).toContain('uncaught in worker');
    expect(await within(p.deferToThread(jobs, 'add', 2, 2), 5000, 'next job')).toBe(4);
  });

  it('logs a crash of an idle worker as an error', async () => {
    const p = pool({ maxThreads: 1 });
    expect(await within(p.deferToThread(jobs, 'crashWhenIdle', 'idle boom', 20), 5000, 'job')).toBe('done');
    await until(() => p.stats().workers === 0, 5000, 'the idle worker to crash');
    const logged = flushLoggedErrors();
    expect(logged.map((f) => f.value.message)).toEqual(['idle boom']);
  });

  it('terminates workers idle for idleTimeoutMs, and starts new ones for new jobs', async () => {
    const p = pool({ maxThreads: 2, idleTimeoutMs: 200 });
    await within(Promise.all([p.deferToThread(jobs, 'timed', 20, 'x'), p.deferToThread(jobs, 'timed', 20, 'y')]), 5000, 'jobs');
    expect(p.stats().workers).toBeGreaterThan(0); // the last one to finish has just become idle
    await until(() => p.stats().workers === 0, 5000, 'idle workers to be retired');
    expect(await within(p.deferToThread(jobs, 'add', 5, 5), 5000, 'a new job')).toBe(10);
  });

  it('stop() fails queued and running jobs with CancelledError and fires once every worker has exited', async () => {
    const p = pool({ maxThreads: 1 });
    const running = p.deferToThread(jobs, 'timed', 2000, 'long');
    const queued = [p.deferToThread(jobs, 'add', 1, 2), p.deferToThread(jobs, 'add', 3, 4)];
    await until(() => p.stats().busy === 1, 5000, 'the job to start');
    const stopped = p.stop();
    for (const q of queued) expect((await failureOf(q, 100)).value).toBeInstanceOf(CancelledError);
    await within(stopped, 1500, 'stop'); // well before the 2 s job would end
    expect((await failureOf(running, 100)).value).toBeInstanceOf(CancelledError);
    expect(p.stats()).toEqual({ workers: 0, busy: 0, queued: 0 });
    expect((await failureOf(p.deferToThread(jobs, 'add', 1, 1), 100)).value).toBeInstanceOf(CancelledError);
    await within(p.stop(), 100, 'a second stop');
  });
});
