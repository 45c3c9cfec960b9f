/**
 * `Logger`: the emitting side. It stamps events with namespace, level, format, time and source,
 * and hands them to one observer; it never formats anything.
 */
import type { LogEvent, LogFields, LogObserver } from './event.js';
import { isLoggableFailure, toLoggableFailure, type LoggableFailure } from './failure.js';
import { globalLogPublisher } from './global.js';
import { isLogLevel, LogLevels, type LogLevel } from './levels.js';
import { LOGGER_NAMESPACE } from './publisher.js';

/** Options of a {@link Logger}. */
export interface LoggerOptions {
  /** Where events go. Default: `globalLogPublisher.observer`. */
  observer?: LogObserver;
  /** Stored as `log_source` on every event: the object this logger speaks for. */
  source?: unknown;
}

/**
 * Emits structured events. Each call builds one plain event from the caller's `fields` plus
 * `log_namespace`, `log_level`, `log_format`, `log_time` (`Date.now() / 1000`; the logger is
 * the one component that reads the wall clock) and `log_source` (the logger's `source`, possibly
 * `undefined`), and passes it to the observer. Those `log_` keys always win over same-named
 * fields; a `log_failure` field that is not a `LoggableFailure` (a plain `Error`, say) is
 * wrapped into one.
 *
 * Nothing is formatted here: `format` is a template rendered later, by observers that want
 * text (see `formatEvent`), so an event nobody prints costs one object and one call. Emitting
 * never throws as long as the observer does not (a `LogPublisher` never does).
 *
 * @example
 * const log = new Logger('spindle.http');
 * log.info('{method} {path} answered {status}', { method: 'GET', path: '/', status: 200 });
 * try {
 *   handle(request);
 * } catch (err) {
 *   log.failure('Request {path} crashed', err, { path: request.path });
 * }
 * const access = log.child('access'); // namespace 'spindle.http.access'
 */
export class Logger {
  readonly #namespace: string;
  readonly #observer: LogObserver;
  readonly #source: unknown;

  /**
   * @param namespace dotted name used for filtering, e.g. `spindle.redis`.
   * @param options the observer to report to (default: the global publisher) and the source.
   */
  constructor(namespace = 'spindle', options: LoggerOptions = {}) {
    this.#namespace = namespace;
    this.#observer = options.observer ?? globalLogPublisher.observer;
    this.#source = options.source;
  }

  /** The namespace stamped on this logger's events. */
  get namespace(): string {
    return this.#namespace;
  }

  /** The `log_source` stamped on this logger's events. */
  get source(): unknown {
    return this.#source;
  }

  /**
   * A logger for `namespace + '.' + suffix`, with the same observer and, unless `options` says
   * otherwise, the same source.
   *
   * @throws TypeError when `suffix` is empty.
   */
  child(suffix: string, options: LoggerOptions = {}): Logger {
    if (typeof suffix !== 'string' || suffix === '') {
      throw new TypeError('Logger.child() needs a non-empty namespace suffix');
    }
    const namespace = this.#namespace === '' ? suffix : `${this.#namespace}.${suffix}`;
    return new Logger(namespace, {
      observer: options.observer ?? this.#observer,
      source: 'source' in options ? options.source : this.#source,
    });
  }

  /** Emits at `debug`: detail for whoever is diagnosing. */
  debug(format: string, fields?: LogFields): void {
    this.emit('debug', format, fields);
  }

  /** Emits at `info`: normal operation worth a line. */
  info(format: string, fields?: LogFields): void {
    this.emit('info', format, fields);
  }

  /** Emits at `warn`: something unexpected that was handled. */
  warn(format: string, fields?: LogFields): void {
    this.emit('warn', format, fields);
  }

  /** Emits at `error`: something failed. */
  error(format: string, fields?: LogFields): void {
    this.emit('error', format, fields);
  }

  /** Emits at `critical`: the process or a whole service is in trouble. */
  critical(format: string, fields?: LogFields): void {
    this.emit('critical', format, fields);
  }

  /**
   * Emits an event carrying `failure` as `log_failure`, at `level` (default `critical`).
   * `failure` may be a `LoggableFailure` (such as a Deferred `Failure`) or any thrown value,
   * which is wrapped; it is what a `catch` clause received, so `undefined` is wrapped too.
   */
  failure(
    format: string,
    failure?: unknown,
    fields?: LogFields,
    level: LogLevel = 'critical',
  ): void {
    this.#emit(level, format, fields, toLoggableFailure(failure));
  }

  /**
   * Emits an event at `level`. An invalid level (possible only from untyped code) is not
   * emitted; an `error` event `Got invalid log level {invalidLevel!r}.` in namespace
   * `spindle.logger` is emitted instead, as Twisted does.
   */
  emit(level: LogLevel, format: string, fields?: LogFields): void {
    this.#emit(level, format, fields, undefined);
  }

  #emit(
    level: LogLevel,
    format: string,
    fields: LogFields | undefined,
    failure: LoggableFailure | undefined,
  ): void {
    if (!isLogLevel(level)) {
      this.#observer({
        log_namespace: LOGGER_NAMESPACE,
        log_level: 'error',
        log_format: 'Got invalid log level {invalidLevel!r}.',
        log_time: Date.now() / 1000,
        log_source: this.#source,
        log_failure: toLoggableFailure(
          new TypeError(`Invalid log level; expected one of: ${LogLevels.join(', ')}`),
        ),
        invalidLevel: level,
        invalidFormat: format,
      });
      return;
    }
    // A literal, then the fields copied in: object spread followed by more keys is an order of
    // magnitude slower in V8, and this is the path every log call takes, printed or not.
    const event: LogEvent = {
      log_namespace: this.#namespace,
      log_level: level,
      log_format: format,
      log_time: Date.now() / 1000,
      log_source: this.#source,
    };
    if (fields !== undefined) copyFields(event, fields);
    if (failure !== undefined) event.log_failure = failure;
    else if (event.log_failure !== undefined && !isLoggableFailure(event.log_failure)) {
      event.log_failure = toLoggableFailure(event.log_failure);
    }
    this.#observer(event);
  }
}

/** The keys `Logger` stamps itself; same-named fields are ignored. */
const STAMPED: ReadonlySet<string> = new Set([
  'log_namespace',
  'log_level',
  'log_format',
  'log_time',
  'log_source',
]);

function copyFields(event: LogEvent, fields: LogFields): void {
  for (const key of Object.keys(fields)) {
    if (STAMPED.has(key)) continue;
    const value = fields[key];
    // Plain assignment of `__proto__` would change the event's prototype instead.
    if (key === '__proto__') {
      Object.defineProperty(event, key, { value, enumerable: true, writable: true, configurable: true });
    } else {
      event[key] = value;
    }
  }
}
