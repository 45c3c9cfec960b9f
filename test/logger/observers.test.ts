import { describe, expect, it } from 'vitest';
import {
  eventAsJSON,
  eventFromJSON,
  eventsFromJSONLogFile,
  formatEvent,
  jsonFileLogObserver,
  Logger,
  LogPublisher,
  textFileLogObserver,
  toLoggableFailure,
  type LogEvent,
} from '../../src/logger/index.js';
import { fakeStream, fixedError, makeEvent, T, T_TEXT } from './helpers.js';

describe('textFileLogObserver', () => {
  it('writes one eventAsText line per event, in one write each', () => {
    const stream = fakeStream();
    const observer = textFileLogObserver(stream);
    observer(makeEvent({ log_namespace: 'spindle.http', log_format: 'GET {path} {status}', path: '/', status: 200 }));
    observer(makeEvent({ log_level: 'warn', log_format: 'slow' }));
    expect(stream.chunks).toEqual([
      `${T_TEXT} [spindle.http#info] GET / 200\n`,
      `${T_TEXT} [test#warn] slow\n`,
    ]);
  });

  it('passes its options to eventAsText and keeps the traceback inside the same write', () => {
    const stream = fakeStream();
    const observer = textFileLogObserver(stream, { includeTimestamp: false });
    observer(
      makeEvent({
        log_level: 'critical',
        log_format: 'crash',
        log_failure: toLoggableFailure(fixedError('boom', ['f (a.js:1:1)'], { cause: fixedError('root') })),
      }),
    );
    expect(stream.chunks).toEqual([
      '[test#critical] crash\nError: boom\n    at f (a.js:1:1)\nCaused by: Error: root\n',
    ]);
  });

  it('works end to end from a Logger through a publisher', () => {
    const stream = fakeStream();
    const publisher = new LogPublisher();
    publisher.addObserver(textFileLogObserver(stream, { includeTimestamp: false }));
    new Logger('app', { observer: publisher.observer }).error('{n} failures', { n: 3 });
    expect(stream.chunks).toEqual(['[app#error] 3 failures\n']);
  });
});

describe('jsonFileLogObserver / eventAsJSON', () => {
  class Session {
    constructor(readonly id: number) {}
  }

  it('writes one JSON object per line with log_text added', () => {
    const stream = fakeStream();
    jsonFileLogObserver(stream)(makeEvent({ log_format: 'hi {name}\nsecond line', name: 'ada' }));
    expect(stream.chunks).toHaveLength(1);
    const [line] = stream.chunks;
    expect(line!.endsWith('\n')).toBe(true);
    expect(line!.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line!)).toEqual({
      log_namespace: 'test',
      log_level: 'info',
      log_format: 'hi {name}\nsecond line',
      log_time: T,
      name: 'ada',
      log_text: 'hi ada\nsecond line',
    });
  });

  // [description, field value, how it is stored in JSON]
  const circular: Record<string, unknown> = { name: 'loop' };
  circular.self = circular;
  const shared = { s: 1 };
  const cases: Array<[string, unknown, unknown]> = [
    ['string', 'text', 'text'],
    ['number', 1.5, 1.5],
    ['boolean', true, true],
    ['null', null, null],
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', -Infinity, '-Infinity'],
    ['bigint as string', 2n ** 70n, '1180591620717411303424'],
    ['nested plain object', { a: { b: [1, 'x', null] } }, { a: { b: [1, 'x', null] } }],
    ['undefined inside objects is left out', { a: undefined, b: 1 }, { b: 1 }],
    ['undefined inside arrays becomes null', [undefined, 1], [null, 1]],
    ['Uint8Array as base64', new Uint8Array([0, 1, 255]), { __bytes__: 'AAH/' }],
    ['Buffer slice as base64 of the slice', Buffer.from('xhello').subarray(1), { __bytes__: 'aGVsbG8=' }],
    ['Date via toJSON', new Date(Date.UTC(2026, 0, 2)), '2026-01-02T00:00:00.000Z'],
    ['URL via toJSON', new URL('http://h/p'), 'http://h/p'],
    ['Map as inspect text', new Map([['k', 1]]), "Map(1) { 'k' => 1 }"],
    ['class instance as inspect text', new Session(7), 'Session { id: 7 }'],
    ['Error as inspect text (with stack)', fixedError('e', ['f (a.js:1:1)']), expect.stringMatching(/^Error: e\n {4}at f/)],
    ['function as inspect text', function named(): void {}, '[Function: named]'],
    ['symbol as inspect text', Symbol('s'), 'Symbol(s)'],
    ['cycle', circular, { name: 'loop', self: '[Circular]' }],
    ['shared, non-cyclic references are repeated', { a: shared, b: shared }, { a: { s: 1 }, b: { s: 1 } }],
    ['null-prototype object', Object.assign(Object.create(null) as object, { a: 1 }), { a: 1 }],
  ];

  it.each(cases)('%s', (_description, value, stored) => {
    const record = JSON.parse(eventAsJSON(makeEvent({ value }))) as Record<string, unknown>;
    expect(record.value).toEqual(stored);
  });

  it('leaves undefined fields out', () => {
    const record = JSON.parse(eventAsJSON(makeEvent({ gone: undefined }))) as Record<string, unknown>;
    expect('gone' in record).toBe(false);
  });

  it('stores very deep nesting as inspect text', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 30; i++) deep = { next: deep };
    const text = eventAsJSON(makeEvent({ deep }));
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(text).toContain('[Object]');
  });

  it('keeps a field named __proto__ as a field', () => {
    const event = JSON.parse('{"log_namespace":"t","log_level":"info","log_format":"","log_time":0,"__proto__":{"x":1}}') as LogEvent;
    const record = JSON.parse(eventAsJSON(event)) as Record<string, unknown>;
    expect(Object.keys(record)).toContain('__proto__');
  });

  it('never throws on hostile values', () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys(): never {
          throw new Error('no keys');
        },
        getPrototypeOf(): never {
          throw new Error('no prototype');
        },
      },
    );
    const throwingToJSON = {
      toJSON(): never {
        throw new Error('no json');
      },
    };
    expect(() => eventAsJSON(makeEvent({ hostile, throwingToJSON }))).not.toThrow();
  });

  it('stores a failure as { type, message, traceback }', () => {
    const error = new TypeError('bad', { cause: new Error('root') });
    const record = JSON.parse(eventAsJSON(makeEvent({ log_failure: toLoggableFailure(error) }))) as {
      log_failure: { type: string; message: string; traceback: string };
    };
    expect(record.log_failure.type).toBe('TypeError');
    expect(record.log_failure.message).toBe('bad');
    expect(record.log_failure.traceback).toMatch(/^TypeError: bad\n {4}at [^]*\nCaused by: Error: root\n {4}at /);
  });
});

describe('eventsFromJSONLogFile', () => {
  function writeAll(events: LogEvent[]): string {
    const stream = fakeStream();
    const observer = jsonFileLogObserver(stream);
    for (const event of events) observer(event);
    return stream.chunks.join('');
  }

  it('round-trips events through the JSON lines observer', () => {
    const original = [
      makeEvent({ log_namespace: 'a.b', log_level: 'debug', log_format: '{user.name} x{n}', user: { name: 'ada' }, n: 3 }),
      makeEvent({ log_level: 'warn', log_format: 'bytes {data!r}', data: new Uint8Array([104, 105]) }),
      makeEvent({ log_level: 'info', log_format: 'tags {tags}', tags: ['x', 'y'], flag: false, nothing: null }),
    ];
    const restored = eventsFromJSONLogFile(writeAll(original));
    expect(restored).toHaveLength(3);
    restored.forEach((event, i) => {
      expect(event.log_text).toBe(formatEvent(original[i]!));
      const { log_text: _text, ...rest } = event;
      expect(rest).toEqual(i === 1 ? { ...original[i], data: Buffer.from('hi') } : original[i]);
    });
    expect(Buffer.isBuffer(restored[1]!.data)).toBe(true);
    expect(formatEvent(restored[0]!)).toBe('ada x3');
  });

  it('restores a failure whose traceback is the stored one, cause chain included', () => {
    const failure = toLoggableFailure(
      fixedError('request failed', ['handle (http.js:3:3)'], { cause: fixedError('disk full', ['write (fs.js:1:1)']) }),
    );
    const original = makeEvent({ log_level: 'critical', log_format: 'crash', log_failure: failure });
    const [restored] = eventsFromJSONLogFile(writeAll([original]));
    const expected = 'Error: request failed\n    at handle (http.js:3:3)\nCaused by: Error: disk full\n    at write (fs.js:1:1)';
    expect(restored!.log_failure!.getTraceback()).toBe(expected);
    expect(restored!.log_failure!.value).toBeInstanceOf(Error);
    expect(restored!.log_failure!.value).toMatchObject({ name: 'Error', message: 'request failed', stack: expected });
    // And it serialises again to the same record.
    expect(JSON.parse(eventAsJSON(restored!))).toEqual(JSON.parse(eventAsJSON(original)));
  });

  it('accepts blank lines, CRLF and RFC 7464 record separators', () => {
    const line = eventAsJSON(makeEvent({ log_format: 'x' }));
    const events = eventsFromJSONLogFile(`\n${line}\r\n\n\x1e${line}\n   \n`);
    expect(events.map((e) => e.log_text)).toEqual(['x', 'x']);
  });

  it.each([
    ['truncated JSON', '{"log_format":"x"', SyntaxError],
    ['not an object', '[1,2]', TypeError],
    ['a bare string', '"text"', TypeError],
  ])('throws on an invalid line (%s), naming the line', (_description, bad, causeType) => {
    const good = eventAsJSON(makeEvent());
    let thrown: unknown;
    try {
      eventsFromJSONLogFile(`${good}\n${bad}\n${good}\n`);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SyntaxError);
    expect((thrown as Error).message).toMatch(/^Invalid JSON log record on line 2: /);
    expect((thrown as Error).cause).toBeInstanceOf(causeType);
  });

  it('hands invalid lines to onInvalidLine instead when asked', () => {
    const good = eventAsJSON(makeEvent({ log_format: 'ok' }));
    const bad: Array<[string, number]> = [];
    const events = eventsFromJSONLogFile(`${good}\nnot json\n${good}\n{"cut`, {
      onInvalidLine: (line, lineNumber) => bad.push([line, lineNumber]),
    });
    expect(events).toHaveLength(2);
    expect(bad).toEqual([
      ['not json', 2],
      ['{"cut', 4],
    ]);
  });

  it('eventFromJSON restores a malformed failure record as well as it can', () => {
    const event = eventFromJSON('{"log_format":"x","log_failure":"just text"}');
    expect(event.log_failure!.getTraceback()).toBe('Error: just text');
    const dropped = eventFromJSON('{"log_format":"x","log_failure":null}');
    expect('log_failure' in dropped).toBe(false);
  });
});
