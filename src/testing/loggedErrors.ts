/**
 * Errors a test left behind: failures still unhandled in Deferreds and error
 * events logged with a failure. The test setup fails a test that leaves any,
 * unless the test takes them with `flushLoggedErrors`.
 */
import { globalLogPublisher, type LogEvent, type LogObserver } from '../logger/index.js';
import { Failure, type ErrorType } from '../defer/failure.js';
import { startTracking, stopTracking, takeTracked } from '../defer/unhandled.js';

let logged: Failure[] | null = null;
let observer: LogObserver | null = null;

function loggedFailure(event: LogEvent): Failure | null {
  if (event.log_level !== 'error' && event.log_level !== 'critical') return null;
  const f = event.log_failure;
  if (f === undefined) return null;
  return f instanceof Failure ? f : Failure.from(f.value);
}

/**
 * Begin collecting the errors of one test: unhandled Deferred failures are
 * kept (not left to the garbage collector) and logged failures are recorded.
 * The vitest setup of this repository calls it before each test.
 */
export function beginErrorTracking(): void {
  endErrorTracking();
  startTracking();
  logged = [];
  const sink = logged;
  observer = (event) => {
    const f = loggedFailure(event);
    if (f !== null) sink.push(f);
  };
  globalLogPublisher.addObserver(observer);
}

/**
 * Stop collecting and return what is left: failures logged and not flushed,
 * then failures still unhandled in Deferreds.
 */
export function endErrorTracking(): Failure[] {
  if (observer !== null) globalLogPublisher.removeObserver(observer);
  observer = null;
  const left = [...(logged ?? []), ...stopTracking().map((r) => r.failure)];
  logged = null;
  return left;
}

/**
 * Take (and so forgive) the errors of `types` logged during this test or
 * still unhandled in Deferreds; all of them when no type is given.
 *
 * @example
 * ```ts
 * fail(new ValueError('boom'));          // left unhandled on purpose
 * expect(flushLoggedErrors(ValueError)).toHaveLength(1);
 * ```
 */
export function flushLoggedErrors(...types: ErrorType[]): Failure[] {
  const taken: Failure[] = [];
  if (logged !== null) {
    for (let i = 0; i < logged.length; ) {
      const f = logged[i]!;
      if (types.length === 0 || f.check(...types) !== null) {
        taken.push(f);
        logged.splice(i, 1);
      } else i++;
    }
  }
  // A failure reported by the garbage collector arrives as a log event: the
  // tracked ones are those not reported yet.
  for (const f of takeTracked(types)) if (!taken.includes(f)) taken.push(f);
  return taken;
}
