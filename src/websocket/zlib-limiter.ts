/**
 * The process-wide cap on concurrent zlib operations used by permessage-deflate.
 *
 * Node runs every asynchronous zlib call on the libuv thread pool, and each one allocates
 * large native buffers. With thousands of connections compressing at once, glibc's allocator
 * fragments memory beyond recovery (websockets/ws#1202, nodejs/node#8871: hundreds of MB of RSS
 * instead of tens). Bounding how many operations run at the same time keeps that in check,
 * which is why the limit is global rather than per connection: it is the shared thread pool
 * and heap that suffer.
 *
 * @module
 */
import { DeferredSemaphore } from '../defer/primitives.js';

/** Default number of zlib operations allowed to run at the same time in the process: 10. */
export const DEFAULT_ZLIB_CONCURRENCY = 10;

let semaphore = new DeferredSemaphore(DEFAULT_ZLIB_CONCURRENCY);

/**
 * Set how many permessage-deflate zlib operations (one compress or decompress call each) may
 * run at the same time across the whole process. Meant to be called once at startup: the new
 * limit applies to operations that ask for a slot from now on, while those already running or
 * waiting finish under the previous one.
 *
 * @throws RangeError unless `n` is an integer ≥ 1.
 *
 * @example
 * ```ts
 * setZlibConcurrency(4); // a small box: keep the thread pool free for file I/O
 * ```
 */
export function setZlibConcurrency(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('zlib concurrency must be an integer ≥ 1');
  if (n !== semaphore.limit) semaphore = new DeferredSemaphore(n);
}

/** The current process-wide limit on concurrent zlib operations (see {@link setZlibConcurrency}). */
export function getZlibConcurrency(): number {
  return semaphore.limit;
}

/**
 * The semaphore operations acquire a slot from. Release to the semaphore the acquisition fired
 * with (not to a later call of this function): the limit may have been replaced meanwhile.
 *
 * @internal
 */
export function zlibSemaphore(): DeferredSemaphore {
  return semaphore;
}
