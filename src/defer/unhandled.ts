/**
 * Reporting failures that nobody handled.
 *
 * A Deferred whose chain ends holding a Failure is "unhandled" until a later
 * errback (or `then`, or `await`) takes it. Two ways to find the ones left:
 *
 * - in production, a FinalizationRegistry reports each one when its Deferred
 *   is garbage collected, as "Unhandled error in Deferred:" through the logger;
 * - in tests, tracking mode keeps them in a set the test kit inspects at the
 *   end of every test, so the report is deterministic and lands on the test
 *   that caused it.
 */
import { Logger } from '../logger/index.js';
import { describeStacks, type DebugStacks } from './debug.js';
import type { ErrorType, Failure } from './failure.js';

/** What is reported about an unhandled failure. */
export interface UnhandledReport {
  failure: Failure;
  debug: DebugStacks | null;
}

const log = new Logger('spindle.defer');

/** Log one unhandled failure the way Twisted does. */
export function reportUnhandled(report: UnhandledReport): void {
  const stacks = describeStacks(report.debug);
  log.failure(
    stacks === '' ? 'Unhandled error in Deferred:' : 'Unhandled error in Deferred:\n(debug: {debugStacks})',
    report.failure,
    stacks === '' ? undefined : { debugStacks: stacks },
  );
}

const registry = new FinalizationRegistry<UnhandledReport>(reportUnhandled);
let tracked: Map<object, UnhandledReport> | null = null;

/** Record that `owner` (a Deferred) ended its chain holding an unhandled failure. */
export function markUnhandled(owner: object, report: UnhandledReport): void {
  if (tracked !== null) tracked.set(owner, report);
  else registry.register(owner, report, owner);
}

/** `owner`'s failure was handled after all. */
export function markHandled(owner: object): void {
  if (tracked !== null) tracked.delete(owner);
  registry.unregister(owner);
}

/**
 * Start deterministic tracking (the test kit calls this before each test):
 * unhandled failures are kept until {@link stopTracking} instead of waiting
 * for the garbage collector.
 */
export function startTracking(): void {
  tracked = new Map();
}

/** Stop tracking and return the reports still pending, oldest first. */
export function stopTracking(): UnhandledReport[] {
  const left = tracked === null ? [] : [...tracked.values()];
  tracked = null;
  return left;
}

/**
 * Take the tracked unhandled failures whose error is one of `types` (all of
 * them when no type is given); they are no longer reported.
 */
export function takeTracked(types: ErrorType[]): Failure[] {
  const taken: Failure[] = [];
  if (tracked === null) return taken;
  for (const [owner, report] of tracked) {
    if (types.length === 0 || report.failure.check(...types) !== null) {
      taken.push(report.failure);
      tracked.delete(owner);
      clearFlag(owner);
    }
  }
  return taken;
}

let clearFlag: (owner: object) => void = () => {};

/** The Deferred module tells us how to clear its own "unhandled" flag. */
export function setFlagClearer(fn: (owner: object) => void): void {
  clearFlag = fn;
}
