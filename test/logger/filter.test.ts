import { describe, expect, it } from 'vitest';
import {
  filteringObserver,
  LogLevelFilterPredicate,
  type LogEvent,
  type LogLevel,
} from '../../src/logger/index.js';
import { makeEvent } from './helpers.js';

describe('LogLevelFilterPredicate', () => {
  function configured(): LogLevelFilterPredicate {
    const levels = new LogLevelFilterPredicate('warn');
    levels.setLogLevelForNamespace('spindle', 'info');
    levels.setLogLevelForNamespace('spindle.http', 'debug');
    levels.setLogLevelForNamespace('spindle.http.access', 'error');
    return levels;
  }

  it.each([
    ['spindle', 'info'],
    ['spindle.http', 'debug'],
    ['spindle.http.access', 'error'],
    ['spindle.http.access.detail', 'error'],
    ['spindle.http.client', 'debug'],
    ['spindle.redis', 'info'],
    ['spindle.redis.pubsub', 'info'],
    ['other', 'warn'],
    ['spindlex', 'warn'], // a prefix that is not a dotted ancestor
    ['spindle.httpx', 'info'],
    ['', 'warn'],
  ] as Array<[string, LogLevel]>)('level for %j is %s', (namespace, expected) => {
    expect(configured().logLevelForNamespace(namespace)).toBe(expected);
  });

  it('defaults to info', () => {
    expect(new LogLevelFilterPredicate().logLevelForNamespace('anything')).toBe('info');
    expect(new LogLevelFilterPredicate().defaultLogLevel).toBe('info');
  });

  it.each([
    ['debug', 'spindle.http', true],
    ['debug', 'spindle', false],
    ['info', 'spindle', true],
    ['warn', 'spindle.http.access', false],
    ['error', 'spindle.http.access', true],
    ['info', 'other', false],
    ['warn', 'other', true],
    ['critical', 'other', true],
  ] as Array<[LogLevel, string, boolean]>)('shouldLog(%s in %j) is %s', (level, namespace, expected) => {
    expect(configured().shouldLog(makeEvent({ log_level: level, log_namespace: namespace }))).toBe(expected);
  });

  it('judges an event without a namespace by the default level', () => {
    const levels = configured();
    expect(levels.shouldLog(makeEvent({ log_namespace: undefined, log_level: 'info' }))).toBe(false);
    expect(levels.shouldLog(makeEvent({ log_namespace: undefined, log_level: 'warn' }))).toBe(true);
  });

  it('lets an event with no valid level through', () => {
    const levels = configured();
    expect(levels.shouldLog(makeEvent({ log_level: undefined }))).toBe(true);
    expect(levels.shouldLog(makeEvent({ log_level: 'loud' }))).toBe(true);
  });

  it('sees changes made after a lookup was cached', () => {
    const levels = new LogLevelFilterPredicate('info');
    expect(levels.logLevelForNamespace('a.b.c')).toBe('info');
    levels.setLogLevelForNamespace('a', 'error');
    expect(levels.logLevelForNamespace('a.b.c')).toBe('error');
    levels.setLogLevelForNamespace('a.b', 'debug');
    expect(levels.logLevelForNamespace('a.b.c')).toBe('debug');
    levels.clearLogLevels();
    expect(levels.logLevelForNamespace('a.b.c')).toBe('info');
    levels.defaultLogLevel = 'critical';
    expect(levels.logLevelForNamespace('a.b.c')).toBe('critical');
  });

  it('clearLogLevels keeps the default; the empty namespace sets it', () => {
    const levels = new LogLevelFilterPredicate('info');
    levels.setLogLevelForNamespace('', 'error');
    levels.setLogLevelForNamespace('x', 'debug');
    levels.clearLogLevels();
    expect(levels.defaultLogLevel).toBe('error');
    expect(levels.logLevelForNamespace('x')).toBe('error');
  });

  it('rejects invalid levels from untyped callers', () => {
    expect(() => new LogLevelFilterPredicate('loud' as LogLevel)).toThrow(TypeError);
    expect(() => new LogLevelFilterPredicate().setLogLevelForNamespace('x', 'loud' as LogLevel)).toThrow(
      /expected one of: debug, info, warn, error, critical/,
    );
  });

  it('keeps answering correctly past the lookup cache bound', () => {
    const levels = new LogLevelFilterPredicate('info');
    levels.setLogLevelForNamespace('conn', 'debug');
    for (let i = 0; i < 3000; i++) {
      expect(levels.logLevelForNamespace(`conn.${i}`)).toBe('debug');
    }
  });
});

describe('filteringObserver', () => {
  const predicate = (shouldLog: (event: LogEvent) => boolean): { shouldLog: typeof shouldLog } => ({ shouldLog });

  it.each([
    ['no predicates', [], true],
    ['all yes', [true, true], true],
    ['one no', [true, false, true], false],
    ['all no', [false, false], false],
  ] as Array<[string, boolean[], boolean]>)('%s → passed on: %s', (_description, answers, passes) => {
    const seen: LogEvent[] = [];
    const observer = filteringObserver(
      (event) => seen.push(event),
      answers.map((answer) => predicate(() => answer)),
    );
    observer(makeEvent());
    expect(seen).toHaveLength(passes ? 1 : 0);
  });

  it('stops asking at the first no', () => {
    const asked: string[] = [];
    const observer = filteringObserver(() => {}, [
      predicate(() => (asked.push('first'), false)),
      predicate(() => (asked.push('second'), true)),
    ]);
    observer(makeEvent());
    expect(asked).toEqual(['first']);
  });

  it('filters by level and follows later changes to the predicate', () => {
    const levels = new LogLevelFilterPredicate('warn');
    const seen: string[] = [];
    const observer = filteringObserver((event) => seen.push(event.log_level), [levels]);
    for (const level of ['debug', 'info', 'warn', 'error'] as const) observer(makeEvent({ log_level: level }));
    expect(seen).toEqual(['warn', 'error']);
    levels.setLogLevelForNamespace('test', 'debug');
    observer(makeEvent({ log_level: 'debug' }));
    expect(seen).toEqual(['warn', 'error', 'debug']);
  });

  it('copies the predicate list', () => {
    const list = [predicate(() => true)];
    const seen: LogEvent[] = [];
    const observer = filteringObserver((event) => seen.push(event), list);
    list.push(predicate(() => false));
    observer(makeEvent());
    expect(seen).toHaveLength(1);
  });
});
