/**
 * Deferreds: results that arrive later, with synchronous callback chains,
 * cancellation, timeouts and coordination primitives.
 * @module
 */
export {
  Deferred,
  succeed,
  fail,
  maybeDeferred,
  type MaybeDeferred,
  type Canceller,
  type ExtraArgs,
} from './deferred.js';
export { Failure, NonErrorThrown, type ErrorType } from './failure.js';
export {
  CancelledError,
  AlreadyCalledError,
  TimeoutError,
  FirstError,
  FailureGroup,
  QueueOverflow,
  QueueUnderflow,
  NotACoroutineError,
} from './errors.js';
export {
  DeferredList,
  gatherResults,
  race,
  type DeferredListEntry,
  type DeferredListResult,
  type DeferredListOptions,
  type GatherOptions,
} from './list.js';
export { inlineCallbacks, ensureDeferred, type InlineGenerator } from './inline.js';
export { DeferredLock, DeferredSemaphore, DeferredQueue } from './primitives.js';
export { deferLater, LoopingCall } from './time.js';
export { setDebugging, getDebugging } from './debug.js';
export type { IReactorTime, IDelayedCall } from './clock.js';
