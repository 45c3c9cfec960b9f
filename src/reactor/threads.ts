/**
 * A bounded pool of `worker_threads` workers: Node's answer to Twisted's
 * `deferToThread` for CPU-bound work that would otherwise stall the event
 * loop.
 *
 * JavaScript objects cannot be shared between threads, so a job is named,
 * not passed: the function exported as `exportName` by an ES module, with
 * arguments and result copied by the structured clone algorithm.
 */
import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Deferred, fail } from '../defer/deferred.js';
import { CancelledError } from '../defer/errors.js';
import { Logger } from '../logger/index.js';
import { WORKER_SOURCE, type SerializedError } from './threadWorker.js';

/** Options of a {@link ThreadPool}. */
export interface ThreadPoolOptions {
  /** The most workers at once (default: `os.availableParallelism()`, at least 1, at most 4). */
  maxThreads?: number;
  /**
   * Milliseconds a worker may sit idle before it is terminated (default
   * 10 000; `Infinity` keeps workers forever). Idle workers never keep the
   * process alive either way.
   */
  idleTimeoutMs?: number;
}

/** What a {@link ThreadPool} is doing. */
export interface ThreadPoolStats {
  /** Workers alive (busy or idle). */
  workers: number;
  /** Workers running a job. */
  busy: number;
  /** Jobs waiting for a worker. */
  queued: number;
}

/**
 * An argument could not be sent to a worker thread, or a result (or thrown
 * value) could not be sent back: it is not structured-cloneable (a
 * function, a class instance with private state, a socket...).
 */
export class DataCloneError extends TypeError {
  override name = 'DataCloneError';
}

/**
 * The worker running a job exited before answering: it called
 * `process.exit()`, an error was thrown outside the job's own call chain
 * (in a timer, say), or it ran out of memory. `cause` is the uncaught error
 * when there was one.
 */
export class WorkerCrashedError extends Error {
  override name = 'WorkerCrashedError';
  constructor(
    readonly exitCode: number,
    options?: ErrorOptions,
  ) {
    super(
      `the worker thread running the job exited with code ${exitCode}` +
        (options?.cause instanceof Error ? `: ${options.cause.message}` : ''),
      options,
    );
  }
}

/** Built-in error classes recreated as themselves on the main thread. */
const BUILTIN_ERRORS: Record<string, new (message?: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  DataCloneError,
};

const DEFAULT_IDLE_TIMEOUT_MS = 10_000;

const log = new Logger('spindle.reactor.threads');

interface Job {
  readonly id: number;
  readonly url: string;
  readonly exportName: string;
  readonly args: unknown[];
  readonly d: Deferred<unknown>;
}

interface PoolWorker {
  readonly worker: Worker;
  job: Job | null;
  /** Being terminated on purpose (idle or stop): its exit is not a crash. */
  retiring: boolean;
  /** The uncaught error that killed it, reported before its exit. */
  crash: Error | null;
}

/**
 * Runs functions of ES modules in worker threads: at most `maxThreads`
 * workers, reused from job to job; extra jobs wait in a FIFO queue.
 *
 * Idle workers are unref'd, so they never keep the process alive, and are
 * terminated after `idleTimeoutMs`. A worker that crashes fails its job with
 * {@link WorkerCrashedError} and is replaced for the next job. `stop()` is
 * final.
 *
 * @example
 * ```ts
 * // hash.mjs:  export function sha256(text) { ... return hex; }
 * const pool = new ThreadPool({ maxThreads: 2 });
 * const hex = await pool.deferToThread<string>(new URL('./hash.mjs', import.meta.url), 'sha256', 'hello');
 * await pool.stop();
 * ```
 */
export class ThreadPool {
  /** The most workers at once. */
  readonly maxThreads: number;
  /** Milliseconds before an idle worker is terminated. */
  readonly idleTimeoutMs: number;
  private readonly workers = new Set<PoolWorker>();
  private idle: PoolWorker[] = [];
  private queue: Job[] = [];
  private nextId = 1;
  private stopped = false;
  private stopWaiters: Array<Deferred<void>> = [];

  /** @throws RangeError when `maxThreads` is not a positive integer or `idleTimeoutMs` is negative. */
  constructor(options: ThreadPoolOptions = {}) {
    const maxThreads = options.maxThreads ?? Math.min(4, Math.max(1, availableParallelism()));
    if (!Number.isInteger(maxThreads) || maxThreads < 1) {
      throw new RangeError(`ThreadPool: maxThreads must be a positive integer, not ${String(maxThreads)}`);
    }
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    if (typeof idleTimeoutMs !== 'number' || !(idleTimeoutMs >= 0)) {
      throw new RangeError(`ThreadPool: idleTimeoutMs must be a number >= 0, not ${String(idleTimeoutMs)}`);
    }
    this.maxThreads = maxThreads;
    this.idleTimeoutMs = idleTimeoutMs;
  }

  /**
   * Run `exportName(...args)` from the ES module at `moduleUrl` in a worker
   * thread. The function may be async. Its result (structured-cloned) is the
   * Deferred's result; what it throws arrives as a Failure whose value has
   * the original `name`, `message`, `stack`, primitive properties (`code`...)
   * and `cause` — a built-in class (TypeError, RangeError...) is recreated as
   * itself, any other as an `Error` with that `name` (so `instanceof` your own
   * class does not hold on this side: test `name`).
   *
   * The module is imported in the worker, by URL, once per worker: it must be
   * JavaScript (ESM), and it shares nothing with the main thread's copy.
   *
   * Fails with {@link DataCloneError} when an argument or the result cannot be
   * cloned, {@link WorkerCrashedError} when the worker dies, CancelledError
   * when the pool is (or gets) stopped. Cancelling the Deferred of a queued
   * job removes it from the queue; a running job cannot be interrupted (it
   * runs to its end and its result is dropped).
   *
   * @param moduleUrl a `file:` URL (string or URL) or an absolute path (a
   *   `data:` URL of JavaScript source works too).
   * @throws TypeError for a relative path, a non-file URL or an empty `exportName`.
   */
  deferToThread<T = unknown>(moduleUrl: string | URL, exportName: string, ...args: unknown[]): Deferred<T> {
    const url = moduleHref(moduleUrl);
    if (typeof exportName !== 'string' || exportName === '') {
      throw new TypeError('deferToThread: exportName must be a non-empty string');
    }
    if (this.stopped) return fail<T>(new CancelledError('the thread pool is stopped'));
    const d = new Deferred<unknown>((cancelled) => {
      const i = this.queue.findIndex((j) => j.d === cancelled);
      if (i >= 0) this.queue.splice(i, 1);
      // A running job cannot be interrupted: its result will be dropped.
    });
    this.queue.push({ id: this.nextId++, url, exportName, args, d });
    this.pump();
    return d as Deferred<T>;
  }

  /**
   * Terminate every worker. Queued jobs fail with CancelledError, and so do
   * running ones (their workers are terminated mid-job). Later
   * `deferToThread` calls fail with CancelledError. Fires once every worker
   * has exited; idempotent.
   */
  stop(): Deferred<void> {
    const d = new Deferred<void>();
    this.stopped = true;
    const queued = this.queue;
    this.queue = [];
    for (const job of queued) settle(job, new CancelledError('the thread pool was stopped'));
    if (this.workers.size === 0) {
      d.callback(undefined);
      return d;
    }
    this.stopWaiters.push(d);
    for (const w of this.workers) this.retire(w);
    return d;
  }

  /** How many workers there are, how many are busy, and how many jobs wait. */
  stats(): ThreadPoolStats {
    let busy = 0;
    for (const w of this.workers) if (w.job !== null) busy++;
    return { workers: this.workers.size, busy, queued: this.queue.length };
  }

  // ---------------------------------------------------------------- scheduling

  private pump(): void {
    while (this.queue.length > 0 && !this.stopped) {
      let w = this.idle.pop();
      if (w === undefined) {
        if (this.workers.size >= this.maxThreads) return;
        w = this.spawn();
      }
      const job = this.queue.shift()!;
      w.job = job;
      w.worker.ref();
      try {
        w.worker.postMessage({ type: 'run', id: job.id, url: job.url, exportName: job.exportName, args: job.args });
      } catch (e) {
        this.release(w);
        settle(
          job,
          new DataCloneError(
            `an argument of ${job.exportName} cannot be sent to a worker thread: ${e instanceof Error ? e.message : String(e)}`,
            { cause: e },
          ),
        );
      }
    }
  }

  private spawn(): PoolWorker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { idleTimeoutMs: this.idleTimeoutMs } });
    const w: PoolWorker = { worker, job: null, retiring: false, crash: null };
    this.workers.add(w);
    worker.on('message', (msg: WorkerMessage) => this.onMessage(w, msg));
    worker.on('messageerror', (err: Error) => {
      const job = w.job;
      if (job === null) return;
      this.release(w);
      settle(job, new DataCloneError(`the result of ${job.exportName} could not be received: ${err.message}`, { cause: err }));
      this.pump();
    });
    worker.on('error', (err: Error) => {
      w.crash = err;
    });
    worker.on('exit', (code: number) => this.onExit(w, code));
    return w;
  }

  private onMessage(w: PoolWorker, msg: WorkerMessage): void {
    if (msg.type === 'idle') {
      // A job may be on its way to it already; then it stays.
      if (w.job === null && !w.retiring) this.retire(w);
      return;
    }
    const job = w.job;
    if (job === null || job.id !== msg.id) return;
    this.release(w);
    if (msg.ok) {
      if (!job.d.called) job.d.callback(msg.value);
    } else settle(job, deserializeError(msg.error, 0));
    this.pump();
  }

  private onExit(w: PoolWorker, code: number): void {
    this.workers.delete(w);
    this.idle = this.idle.filter((x) => x !== w);
    const job = w.job;
    w.job = null;
    if (job !== null) {
      settle(
        job,
        this.stopped
          ? new CancelledError('the thread pool was stopped while the job ran')
          : new WorkerCrashedError(code, w.crash === null ? undefined : { cause: w.crash }),
      );
    } else if (!w.retiring) {
      log.failure('An idle worker thread exited with code {code}', w.crash ?? new WorkerCrashedError(code), { code }, 'error');
    }
    if (this.stopped) {
      if (this.workers.size === 0) {
        const waiters = this.stopWaiters;
        this.stopWaiters = [];
        for (const d of waiters) d.callback(undefined);
      }
    } else {
      this.pump(); // a replacement, if jobs wait
    }
  }

  private release(w: PoolWorker): void {
    w.job = null;
    w.worker.unref();
    this.idle.push(w);
  }

  private retire(w: PoolWorker): void {
    w.retiring = true;
    this.idle = this.idle.filter((x) => x !== w);
    void w.worker.terminate();
  }
}

type WorkerMessage =
  | { type: 'idle' }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: SerializedError };

/** Fail a job's Deferred unless it was cancelled already. */
function settle(job: Job, error: unknown): void {
  if (!job.d.called) job.d.errback(error);
}

function moduleHref(moduleUrl: string | URL): string {
  if (moduleUrl instanceof URL) {
    if (moduleUrl.protocol !== 'file:' && moduleUrl.protocol !== 'data:') {
      throw new TypeError(`deferToThread: the module must be a file: URL, not ${moduleUrl.protocol}`);
    }
    return moduleUrl.href;
  }
  if (typeof moduleUrl !== 'string') throw new TypeError('deferToThread: moduleUrl must be a URL or a string');
  if (moduleUrl.startsWith('file:') || moduleUrl.startsWith('data:')) return new URL(moduleUrl).href;
  if (isAbsolute(moduleUrl)) return pathToFileURL(moduleUrl).href;
  throw new TypeError(
    `deferToThread: ${JSON.stringify(moduleUrl)} is neither a file: URL nor an absolute path ` +
      "(try new URL('./module.js', import.meta.url))",
  );
}

/** The main thread's copy of an error thrown in a worker. */
function deserializeError(s: SerializedError, depth: number): unknown {
  if (!s.isError) return s.value;
  const Ctor = Object.hasOwn(BUILTIN_ERRORS, s.name) ? BUILTIN_ERRORS[s.name]! : Error;
  const e = new Ctor(s.message);
  if (e.name !== s.name) Object.defineProperty(e, 'name', { value: s.name, writable: true, configurable: true });
  for (const [k, v] of Object.entries(s.props)) {
    Object.defineProperty(e, k, { value: v, writable: true, configurable: true, enumerable: true });
  }
  if (s.stack !== undefined) e.stack = s.stack;
  if (s.cause !== undefined && depth < 8) {
    Object.defineProperty(e, 'cause', { value: deserializeError(s.cause, depth + 1), writable: true, configurable: true });
  }
  return e;
}
