/**
 * Log levels: a closed, ordered set of five names, lowest first.
 *
 * Levels are plain strings (not an enum) so that events stay plain, JSON-friendly objects.
 */

/** The severity of a log event. Ordered `debug < info < warn < error < critical`. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'critical';

/** Every {@link LogLevel}, in increasing order of severity. */
export const LogLevels: readonly LogLevel[] = Object.freeze([
  'debug',
  'info',
  'warn',
  'error',
  'critical',
] as const);

const RANK: Readonly<Record<LogLevel, number>> = Object.freeze({
  debug: 0,
  info: 1,
  warn: 2,
  error: 3,
  critical: 4,
});

/** Accepted by {@link parseLogLevel} besides the level names themselves. */
const ALIASES: Readonly<Record<string, LogLevel>> = Object.freeze({ warning: 'warn' });

/** True when `value` is one of the five level names (exact, case-sensitive). */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.hasOwn(RANK, value);
}

/**
 * True when `level` is at least as severe as `min`.
 *
 * An unknown level (only possible from untyped callers) is never "at least" anything, and
 * nothing is at least an unknown minimum.
 */
export function levelAtLeast(level: LogLevel, min: LogLevel): boolean {
  if (!isLogLevel(level) || !isLogLevel(min)) return false;
  return RANK[level] >= RANK[min];
}

/**
 * Parses a level name as typed by a person (a CLI flag, an environment variable).
 *
 * Surrounding whitespace and case are ignored, and `warning` is accepted for `warn`.
 *
 * @throws TypeError naming the valid levels when `text` is not one of them.
 */
export function parseLogLevel(text: string): LogLevel {
  const key = typeof text === 'string' ? text.trim().toLowerCase() : undefined;
  if (key !== undefined) {
    if (isLogLevel(key)) return key;
    if (Object.hasOwn(ALIASES, key)) return ALIASES[key]!;
  }
  const shown = typeof text === 'string' ? JSON.stringify(text) : String(text);
  throw new TypeError(`Invalid log level ${shown}; expected one of: ${LogLevels.join(', ')}`);
}
