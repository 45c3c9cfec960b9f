/**
 * Filtering events before they reach an observer: per-namespace minimum levels, inherited down
 * the dotted namespace tree.
 */
import type { LogEvent, LogObserver } from './event.js';
import { isLogLevel, levelAtLeast, LogLevels, type LogLevel } from './levels.js';

/** Decides whether an event goes through a {@link filteringObserver}. Must not throw. */
export interface LogFilterPredicate {
  /** True to let `event` through. */
  shouldLog(event: LogEvent): boolean;
}

/** Lookups are cached per namespace; the cache is dropped when it grows past this. */
const MAX_CACHED_NAMESPACES = 1024;

/**
 * Minimum levels per namespace. A namespace without its own level inherits its parent's
 * (`spindle.http.access` → `spindle.http` → `spindle`), and the root of the tree inherits the
 * default level. The empty namespace `''` *is* the default: setting it sets the default.
 *
 * Lookups are cached, so {@link LogLevelFilterPredicate.shouldLog} costs a map read and a
 * comparison.
 *
 * @example
 * const levels = new LogLevelFilterPredicate('warn');
 * levels.setLogLevelForNamespace('spindle.http', 'debug');
 * levels.logLevelForNamespace('spindle.http.access'); // 'debug' (inherited)
 * levels.logLevelForNamespace('spindle.redis');       // 'warn'  (the default)
 * publisher.addObserver(filteringObserver(textFileLogObserver(process.stdout), [levels]));
 */
export class LogLevelFilterPredicate implements LogFilterPredicate {
  #defaultLevel: LogLevel;
  readonly #levels = new Map<string, LogLevel>();
  readonly #resolved = new Map<string, LogLevel>();

  /** @param defaultLevel the minimum level of namespaces with no level of their own or above. */
  constructor(defaultLevel: LogLevel = 'info') {
    this.#defaultLevel = checked(defaultLevel);
  }

  /** The minimum level of namespaces with no level set on them or on an ancestor. */
  get defaultLogLevel(): LogLevel {
    return this.#defaultLevel;
  }

  /** Changes the default level. @throws TypeError when `level` is not a {@link LogLevel}. */
  set defaultLogLevel(level: LogLevel) {
    this.#defaultLevel = checked(level);
    this.#resolved.clear();
  }

  /**
   * Sets the minimum level of `namespace` and of its descendants that have none of their own.
   * `''` sets the default level.
   *
   * @throws TypeError when `level` is not a {@link LogLevel}.
   */
  setLogLevelForNamespace(namespace: string, level: LogLevel): void {
    if (namespace === '') this.#defaultLevel = checked(level);
    else this.#levels.set(namespace, checked(level));
    this.#resolved.clear();
  }

  /** The effective minimum level of `namespace`: its own, else its nearest ancestor's, else the default. */
  logLevelForNamespace(namespace: string): LogLevel {
    const cached = this.#resolved.get(namespace);
    if (cached !== undefined) return cached;
    const level = this.#resolve(namespace);
    if (this.#resolved.size >= MAX_CACHED_NAMESPACES) this.#resolved.clear();
    this.#resolved.set(namespace, level);
    return level;
  }

  /** Forgets every per-namespace level; the default level stays. */
  clearLogLevels(): void {
    this.#levels.clear();
    this.#resolved.clear();
  }

  /**
   * True when the event's level is at least its namespace's level. An event with no namespace
   * is judged by the default level; an event with no valid level is let through (a malformed
   * event should be seen, not silently dropped).
   */
  shouldLog(event: LogEvent): boolean {
    const level: unknown = event.log_level;
    if (!isLogLevel(level)) return true;
    const namespace: unknown = event.log_namespace;
    const min =
      typeof namespace === 'string' ? this.logLevelForNamespace(namespace) : this.#defaultLevel;
    return levelAtLeast(level, min);
  }

  #resolve(namespace: string): LogLevel {
    let name = namespace;
    while (name !== '') {
      const own = this.#levels.get(name);
      if (own !== undefined) return own;
      const dot = name.lastIndexOf('.');
      name = dot < 0 ? '' : name.slice(0, dot);
    }
    return this.#defaultLevel;
  }
}

/**
 * An observer that passes an event on to `observer` only when every predicate's `shouldLog`
 * returns true (predicates are asked in order, and asking stops at the first `false`). The
 * predicate list is copied; the predicates themselves are live, so changing a
 * {@link LogLevelFilterPredicate} later takes effect at once.
 */
export function filteringObserver(
  observer: LogObserver,
  predicates: ReadonlyArray<LogFilterPredicate>,
): LogObserver {
  const list = [...predicates];
  return (event) => {
    for (const predicate of list) {
      if (!predicate.shouldLog(event)) return;
    }
    observer(event);
  };
}

function checked(level: LogLevel): LogLevel {
  if (!isLogLevel(level)) {
    throw new TypeError(`Invalid log level ${String(level)}; expected one of: ${LogLevels.join(', ')}`);
  }
  return level;
}
