import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  captureEvents,
  formatEvent,
  isLoggableFailure,
  LogLevels,
  Logger,
  type LogEvent,
  type LoggableFailure,
  type LogLevel,
} from '../../src/logger/index.js';

function recorder(): { events: LogEvent[]; observer: (event: LogEvent) => void } {
  const events: LogEvent[] = [];
  return { events, observer: (event) => void events.push(event) };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Logger', () => {
  it.each(LogLevels.map((level) => [level]))('%s() emits a stamped event at that level', (level) => {
    vi.spyOn(Date, 'now').mockReturnValue(1_795_778_553_123);
    const { events, observer } = recorder();
    const source = { id: 'conn-1' };
    const log = new Logger('spindle.test', { observer, source });
    log[level]('hello {who}', { who: 'ada' });
    expect(events).toEqual([
      {
        who: 'ada',
        log_namespace: 'spindle.test',
        log_level: level,
        log_format: 'hello {who}',
        log_time: 1_795_778_553.123,
        log_source: source,
      },
    ]);
  });

  it('emit() takes the level as an argument', () => {
    const { events, observer } = recorder();
    new Logger('x', { observer }).emit('warn', 'w');
    expect(events[0]).toMatchObject({ log_level: 'warn', log_format: 'w', log_namespace: 'x' });
  });

  it('defaults to namespace "spindle", no source, and the global publisher', () => {
    const capture = captureEvents();
    try {
      const log = new Logger();
      expect(log.namespace).toBe('spindle');
      expect(log.source).toBeUndefined();
      log.debug('to the global publisher');
    } finally {
      capture.stop();
    }
    expect(capture.events).toHaveLength(1);
    expect(capture.events[0]).toMatchObject({ log_namespace: 'spindle', log_level: 'debug' });
    expect('log_source' in capture.events[0]!).toBe(true);
  });

  it('reserved keys win over same-named fields', () => {
    const { events, observer } = recorder();
    new Logger('real', { observer }).info('real format', {
      log_namespace: 'fake',
      log_level: 'critical',
      log_format: 'fake',
      log_time: 1,
    });
    expect(events[0]).toMatchObject({ log_namespace: 'real', log_level: 'info', log_format: 'real format' });
    expect(events[0]!.log_time).not.toBe(1);
  });

  it('keeps a field named __proto__ as a field, not as the event prototype', () => {
    const { events, observer } = recorder();
    const fields = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    new Logger('x', { observer }).info('{a}', fields);
    const event = events[0]!;
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
    expect(Object.hasOwn(event, '__proto__')).toBe(true);
    expect((event as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('does not format at emit time', () => {
    const { events, observer } = recorder();
    const toString = vi.fn(() => 'lazy');
    new Logger('x', { observer }).info('{value}', { value: { toString } });
    expect(toString).not.toHaveBeenCalled();
    expect(formatEvent(events[0]!)).toBe('lazy');
    expect(toString).toHaveBeenCalledTimes(1);
  });

  it('does not throw at emit time for fields that cannot be formatted', () => {
    const { events, observer } = recorder();
    const bad = {
      toString(): string {
        throw new Error('nope');
      },
    };
    expect(() => new Logger('x', { observer }).info('{bad} {unclosed', { bad })).not.toThrow();
    expect(events).toHaveLength(1);
  });

  it('does not copy or touch the caller’s fields object', () => {
    const { events, observer } = recorder();
    const fields = Object.freeze({ a: 1 });
    new Logger('x', { observer }).info('{a}', fields);
    expect(events[0]).not.toBe(fields);
    expect(fields).toEqual({ a: 1 });
  });

  describe('failure()', () => {
    it('wraps a thrown Error, at critical by default', () => {
      const { events, observer } = recorder();
      const error = new Error('boom');
      new Logger('x', { observer }).failure('it broke: {what}', error, { what: 'parser' });
      const event = events[0]!;
      expect(event).toMatchObject({ log_level: 'critical', log_format: 'it broke: {what}', what: 'parser' });
      expect(isLoggableFailure(event.log_failure)).toBe(true);
      expect(event.log_failure!.value).toBe(error);
      expect(event.log_failure!.getTraceback()).toMatch(/^Error: boom\n/);
    });

    it('keeps a LoggableFailure as it is, at the given level', () => {
      const { events, observer } = recorder();
      const failure: LoggableFailure = { value: 'v', getTraceback: () => 'tb' };
      new Logger('x', { observer }).failure('f', failure, undefined, 'warn');
      expect(events[0]!.log_failure).toBe(failure);
      expect(events[0]!.log_level).toBe('warn');
    });

    it.each([['a string'], [undefined], [null], [7]])('wraps a non-Error thrown value %j', (thrown) => {
      const { events, observer } = recorder();
      new Logger('x', { observer }).failure('f', thrown);
      expect(events[0]!.log_failure!.value).toBe(thrown);
    });

    it('wraps a raw Error given as the log_failure field of any method', () => {
      const { events, observer } = recorder();
      const error = new Error('raw');
      new Logger('x', { observer }).error('e', { log_failure: error });
      expect(isLoggableFailure(events[0]!.log_failure)).toBe(true);
      expect(events[0]!.log_failure!.value).toBe(error);
    });
  });

  it('reports an invalid level from untyped code instead of emitting it', () => {
    const { events, observer } = recorder();
    new Logger('x', { observer }).emit('loud' as LogLevel, 'message');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      log_namespace: 'spindle.logger',
      log_level: 'error',
      invalidLevel: 'loud',
      invalidFormat: 'message',
    });
    expect(formatEvent(events[0]!)).toBe("Got invalid log level 'loud'.");
  });

  describe('child()', () => {
    it.each([
      ['spindle', 'http', 'spindle.http'],
      ['spindle.http', 'access', 'spindle.http.access'],
      ['', 'root', 'root'],
    ])('%j + %j → %j', (parent, suffix, expected) => {
      expect(new Logger(parent).child(suffix).namespace).toBe(expected);
    });

    it('shares the observer and source unless told otherwise', () => {
      const first = recorder();
      const second = recorder();
      const parent = new Logger('p', { observer: first.observer, source: 'src' });
      parent.child('c').info('one');
      parent.child('d', { observer: second.observer, source: undefined }).info('two');
      expect(first.events[0]).toMatchObject({ log_namespace: 'p.c', log_source: 'src' });
      expect(second.events[0]).toMatchObject({ log_namespace: 'p.d', log_source: undefined });
    });

    it('rejects an empty suffix', () => {
      expect(() => new Logger('p').child('')).toThrow(TypeError);
    });
  });
});
