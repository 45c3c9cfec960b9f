/**
 * `spindle/logger`: structured log events with lazy formatting, observers (text, JSON lines),
 * per-namespace level filtering, and the global publisher.
 *
 * This layer imports nothing from the rest of Spindle (the Deferred core imports it), only
 * Node built-ins.
 *
 * @module
 */
export { isLogLevel, levelAtLeast, LogLevels, parseLogLevel, type LogLevel } from './levels.js';
export type { LogEvent, LogFields, LogObserver } from './event.js';
export {
  describeFailure,
  isLoggableFailure,
  renderTraceback,
  toLoggableFailure,
  type FailureDescription,
  type LoggableFailure,
} from './failure.js';
export { eventAsText, formatEvent, type EventAsTextOptions } from './format.js';
export { LOGGER_NAMESPACE, LogPublisher, OBSERVER_DISABLED } from './publisher.js';
export {
  filteringObserver,
  LogLevelFilterPredicate,
  type LogFilterPredicate,
} from './filter.js';
export {
  BYTES_KEY,
  eventAsJSON,
  eventFromJSON,
  eventsFromJSONLogFile,
  type JSONLogFileOptions,
} from './json.js';
export { jsonFileLogObserver, textFileLogObserver, type LogTextStream } from './observers.js';
export {
  beginLoggingTo,
  globalLogLevels,
  globalLogPublisher,
  resetGlobalLogging,
  type BeginLoggingOptions,
} from './global.js';
export { captureEvents, type EventCapture } from './capture.js';
export { Logger, type LoggerOptions } from './logger.js';
