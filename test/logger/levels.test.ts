import { describe, expect, it } from 'vitest';
import { isLogLevel, levelAtLeast, LogLevels, parseLogLevel, type LogLevel } from '../../src/logger/index.js';

describe('LogLevels', () => {
  it('lists the five levels in increasing severity', () => {
    expect(LogLevels).toEqual(['debug', 'info', 'warn', 'error', 'critical']);
    expect(Object.isFrozen(LogLevels)).toBe(true);
  });
});

describe('levelAtLeast', () => {
  // Every pair: level i is at least level j exactly when i >= j in LogLevels.
  const pairs = LogLevels.flatMap((level, i) =>
    LogLevels.map((min, j) => [level, min, i >= j] as const),
  );
  it.each(pairs)('levelAtLeast(%s, %s) is %s', (level, min, expected) => {
    expect(levelAtLeast(level, min)).toBe(expected);
  });

  it('is false for unknown levels from untyped callers', () => {
    expect(levelAtLeast('verbose' as LogLevel, 'debug')).toBe(false);
    expect(levelAtLeast('critical', 'nope' as LogLevel)).toBe(false);
  });
});

describe('isLogLevel', () => {
  it.each([
    ['debug', true],
    ['critical', true],
    ['DEBUG', false],
    ['warning', false],
    ['', false],
    [undefined, false],
    [3, false],
    ['toString', false],
  ] as const)('isLogLevel(%j) is %s', (value, expected) => {
    expect(isLogLevel(value)).toBe(expected);
  });
});

describe('parseLogLevel', () => {
  it.each([
    ['debug', 'debug'],
    ['info', 'info'],
    ['warn', 'warn'],
    ['error', 'error'],
    ['critical', 'critical'],
    [' INFO ', 'info'],
    ['Warn', 'warn'],
    ['warning', 'warn'],
  ] as const)('parses %j as %s', (text, expected) => {
    expect(parseLogLevel(text)).toBe(expected);
  });

  it.each(['', 'verbose', 'fatal', 'constructor', 'in fo'])('rejects %j naming the valid levels', (text) => {
    expect(() => parseLogLevel(text)).toThrow(TypeError);
    expect(() => parseLogLevel(text)).toThrow(
      `Invalid log level ${JSON.stringify(text)}; expected one of: debug, info, warn, error, critical`,
    );
  });

  it('rejects non-strings from untyped callers with a TypeError', () => {
    expect(() => parseLogLevel(undefined as unknown as string)).toThrow(TypeError);
  });
});
