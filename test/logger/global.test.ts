import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  beginLoggingTo,
  captureEvents,
  filteringObserver,
  globalLogLevels,
  globalLogPublisher,
  Logger,
  LogPublisher,
  resetGlobalLogging,
  type LogEvent,
  type LogObserver,
} from '../../src/logger/index.js';
import { makeEvent } from './helpers.js';

/** Stubs process.stderr.write (no output reaches the terminal) and returns what was written. */
function stubStderr(): string[] {
  const written: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  return written;
}

function recorder(): { events: LogEvent[]; observer: LogObserver } {
  const events: LogEvent[] = [];
  return { events, observer: (event) => void events.push(event) };
}

// The test setup silences the default observer; these tests are about that default.
beforeEach(() => {
  resetGlobalLogging();
});

afterEach(() => {
  resetGlobalLogging();
  vi.restoreAllMocks();
});

describe('default global logging', () => {
  it('writes text to stderr, filtered by globalLogLevels (info by default)', () => {
    const written = stubStderr();
    const log = new Logger('spindle.test');
    log.debug('hidden');
    log.info('shown {n}', { n: 1 });
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[spindle\.test#info\] shown 1\n$/);
  });

  it('follows changes to globalLogLevels', () => {
    const written = stubStderr();
    globalLogLevels.setLogLevelForNamespace('spindle.noisy', 'error');
    globalLogLevels.setLogLevelForNamespace('spindle.chatty', 'debug');
    new Logger('spindle.noisy.part').warn('dropped');
    new Logger('spindle.chatty').debug('kept');
    expect(written.map((line) => line.replace(/^\S+ /, ''))).toEqual(['[spindle.chatty#debug] kept\n']);
  });
});

describe('beginLoggingTo / resetGlobalLogging', () => {
  it('replaces the default stderr observer by default', () => {
    const written = stubStderr();
    const { events, observer } = recorder();
    beginLoggingTo([observer]);
    new Logger('x').info('to the new observer only');
    expect(events).toHaveLength(1);
    expect(written).toEqual([]);
  });

  it('adds beside the default when discardDefault is false', () => {
    const written = stubStderr();
    const { events, observer } = recorder();
    beginLoggingTo([observer], { discardDefault: false });
    new Logger('x').info('both');
    expect(events).toHaveLength(1);
    expect(written).toHaveLength(1);
  });

  it('does not level-filter the new observers unless they are wrapped', () => {
    stubStderr();
    const all = recorder();
    const filtered = recorder();
    beginLoggingTo([all.observer, filteringObserver(filtered.observer, [globalLogLevels])]);
    new Logger('x').debug('debug');
    new Logger('x').info('info');
    expect(all.events.map((e) => e.log_format)).toEqual(['debug', 'info']);
    expect(filtered.events.map((e) => e.log_format)).toEqual(['info']);
  });

  it('adds each observer once across calls', () => {
    stubStderr();
    const { events, observer } = recorder();
    beginLoggingTo([observer, observer]);
    beginLoggingTo([observer]);
    new Logger('x').info('once');
    expect(events).toHaveLength(1);
  });

  it('resetGlobalLogging removes begun observers, restores stderr and the levels', () => {
    const written = stubStderr();
    const { events, observer } = recorder();
    const before = globalLogPublisher.observers.length;
    beginLoggingTo([observer]);
    globalLogLevels.setLogLevelForNamespace('x', 'critical');
    globalLogLevels.defaultLogLevel = 'error';
    resetGlobalLogging();
    expect(globalLogPublisher.observers).toHaveLength(before);
    expect(globalLogLevels.defaultLogLevel).toBe('info');
    expect(globalLogLevels.logLevelForNamespace('x')).toBe('info');
    new Logger('x').info('back to stderr');
    expect(events).toEqual([]);
    expect(written).toHaveLength(1);
  });

  it('resetGlobalLogging is idempotent and leaves captures running', () => {
    stubStderr();
    const capture = captureEvents();
    resetGlobalLogging();
    resetGlobalLogging();
    new Logger('x').info('still captured');
    capture.stop();
    expect(capture.events).toHaveLength(1);
  });
});

describe('captureEvents', () => {
  it('records every global event, all levels, until stopped', () => {
    stubStderr();
    const capture = captureEvents();
    const log = new Logger('spindle.cap');
    log.debug('one');
    log.critical('two');
    capture.stop();
    log.info('three');
    capture.stop(); // idempotent
    expect(capture.events.map((e) => [e.log_level, e.log_format])).toEqual([
      ['debug', 'one'],
      ['critical', 'two'],
    ]);
  });

  it('works on any publisher, and other observers still get the events', () => {
    const publisher = new LogPublisher();
    const other = recorder();
    publisher.addObserver(other.observer);
    const capture = captureEvents(publisher);
    const event = makeEvent();
    publisher.publish(event);
    capture.stop();
    expect(capture.events).toEqual([event]);
    expect(other.events).toEqual([event]);
  });

  it('sees the report of an observer that throws', () => {
    // On a private publisher: the repository's test setup fails any test that leaves an error
    // event with a failure on the global one.
    const publisher = new LogPublisher();
    const capture = captureEvents(publisher);
    const broken: LogObserver = () => {
      throw new Error('broken observer');
    };
    publisher.addObserver(broken);
    new Logger('x', { observer: publisher.observer }).info('trigger');
    capture.stop();
    expect(capture.events.map((e) => e.log_namespace)).toEqual(['x', 'spindle.logger']);
    expect(capture.events[1]!.observer).toBe(broken);
  });
});
