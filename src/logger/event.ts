/**
 * The shape of a log event. Events are plain objects keyed like Twisted's (`log_format`,
 * `log_level`, …) plus any structured fields the caller adds; they are formatted lazily, only
 * when an observer wants text.
 */
import type { LoggableFailure } from './failure.js';
import type { LogLevel } from './levels.js';

/**
 * One structured log event.
 *
 * The `log_`-prefixed keys are reserved for the logging system; every other key is a field
 * the event's `log_format` may refer to (`"{user} logged in"` reads `event.user`).
 */
export interface LogEvent {
  /** Dotted name of the emitter, e.g. `spindle.http.access`; levels are filtered per namespace. */
  log_namespace: string;
  /** Severity. */
  log_level: LogLevel;
  /** A template rendered by `formatEvent` from the event's own fields. */
  log_format: string;
  /** When the event was emitted, in seconds since the Unix epoch (fractional). */
  log_time: number;
  /** The failure being reported, if any. */
  log_failure?: LoggableFailure;
  /** The object the event is about (the instance that owns the logger), if any. */
  log_source?: unknown;
  /** Pre-rendered text, used by `formatEvent` when there is no `log_format`. */
  log_text?: string;
  /** Structured fields. */
  [field: string]: unknown;
}

/** The structured fields passed to a `Logger` method alongside the format. */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * Receives every event it is subscribed to. Observers should not throw; a `LogPublisher`
 * contains those that do.
 */
export type LogObserver = (event: LogEvent) => void;
