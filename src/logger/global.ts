/**
 * Process-wide logging: the publisher every `Logger` reports to by default, the levels that
 * filter its default output, and the switch from that default to the application's observers.
 */
import type { LogObserver } from './event.js';
import { filteringObserver, LogLevelFilterPredicate } from './filter.js';
import { textFileLogObserver } from './observers.js';
import { LogPublisher } from './publisher.js';

/** The publisher `Logger`s report to unless given another observer. */
export const globalLogPublisher: LogPublisher = new LogPublisher();

/**
 * Levels applied to the default stderr output (default level `info`). Observers installed with
 * {@link beginLoggingTo} are not filtered by it unless you wrap them:
 * `filteringObserver(observer, [globalLogLevels])`.
 */
export const globalLogLevels: LogLevelFilterPredicate = new LogLevelFilterPredicate('info');

// `process.stderr` is looked up at each write, so a test that stubs `process.stderr.write`
// (or a program that replaces the stream) is honoured.
const stderr = { write: (chunk: string): unknown => process.stderr.write(chunk) };

/** Text to stderr, filtered by `globalLogLevels`: what a program logs before it chooses. */
const defaultObserver: LogObserver = filteringObserver(textFileLogObserver(stderr), [
  globalLogLevels,
]);

/** Observers added by `beginLoggingTo`, removed again by `resetGlobalLogging`. */
const begun = new Set<LogObserver>();

globalLogPublisher.addObserver(defaultObserver);

/** Options of {@link beginLoggingTo}. */
export interface BeginLoggingOptions {
  /** Remove the default stderr observer. Default `true`. */
  discardDefault?: boolean;
}

/**
 * Sends global log events to `observers` (added to {@link globalLogPublisher}, each once), and,
 * unless `discardDefault` is false, stops the default text-to-stderr output. May be called
 * again to add more observers. Events logged earlier are not replayed (they already went to
 * stderr).
 *
 * @example
 * import { createWriteStream } from 'node:fs';
 * const levels = new LogLevelFilterPredicate('info');
 * beginLoggingTo([
 *   filteringObserver(jsonFileLogObserver(createWriteStream('spindle.log', { flags: 'a' })), [levels]),
 * ]);
 */
export function beginLoggingTo(
  observers: readonly LogObserver[],
  options: BeginLoggingOptions = {},
): void {
  const { discardDefault = true } = options;
  for (const observer of observers) {
    if (observer === defaultObserver) continue;
    begun.add(observer);
    globalLogPublisher.addObserver(observer);
  }
  if (discardDefault) globalLogPublisher.removeObserver(defaultObserver);
}

/**
 * Undoes every {@link beginLoggingTo}: removes the observers it added, reinstalls the default
 * stderr observer, and resets {@link globalLogLevels} (no per-namespace levels, default
 * `info`). Observers added directly to `globalLogPublisher` (e.g. by `captureEvents`) are left
 * alone. Meant for tests.
 */
export function resetGlobalLogging(): void {
  for (const observer of begun) globalLogPublisher.removeObserver(observer);
  begun.clear();
  globalLogPublisher.addObserver(defaultObserver);
  globalLogLevels.clearLogLevels();
  globalLogLevels.defaultLogLevel = 'info';
}
