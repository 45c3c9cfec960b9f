import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { eventAsText, formatEvent, toLoggableFailure } from '../../src/logger/index.js';
import { fixedError, makeEvent, T_TEXT } from './helpers.js';

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  toString(): string {
    return `(${this.x}, ${this.y})`;
  }
}

const throwingToString = {
  toString(): string {
    throw new Error('nope');
  },
};
const throwingInspect = {
  [inspect.custom](): string {
    throw new RangeError('no inspect');
  },
};
const throwingGetter = {
  get boom(): unknown {
    throw new Error('getter exploded');
  },
};
function namedFunction(): void {}

describe('formatEvent', () => {
  // [description, log_format, fields, expected]
  const cases: Array<[string, string, Record<string, unknown>, string]> = [
    ['plain text', 'hello world', {}, 'hello world'],
    ['empty format', '', {}, ''],
    ['string field as is', 'hi {name}', { name: 'ada' }, 'hi ada'],
    ['several fields', '{a}-{b}-{a}', { a: 1, b: 2 }, '1-2-1'],
    ['number', '{n}', { n: 42.5 }, '42.5'],
    ['negative zero', '{n}', { n: -0 }, '-0'],
    ['bigint', '{n}', { n: 10n }, '10n'],
    ['boolean', '{b}', { b: false }, 'false'],
    ['null', '{x}', { x: null }, 'null'],
    ['present but undefined', '{x}', { x: undefined }, 'undefined'],
    ['symbol', '{s}', { s: Symbol('tag') }, 'Symbol(tag)'],
    ['plain object, one line', '{o}', { o: { a: 1, b: [1, 2], c: 'x' } }, "{ a: 1, b: [ 1, 2 ], c: 'x' }"],
    ['depth 2', '{o}', { o: { a: { b: { c: { d: 1 } } } } }, '{ a: { b: { c: [Object] } } }'],
    ['array', '{xs}', { xs: [1, 'two'] }, "[ 1, 'two' ]"],
    ['Map', '{m}', { m: new Map([['a', 1]]) }, "Map(1) { 'a' => 1 }"],
    ['Buffer (not decoded)', '{buf}', { buf: Buffer.from('hi') }, '<Buffer 68 69>'],
    ['Date as ISO', '{d}', { d: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)) }, '2026-01-02T03:04:05.006Z'],
    ['function', '{f}', { f: namedFunction }, '[Function: namedFunction]'],
    ['Error via its toString', '{e}', { e: new TypeError('bad input') }, 'TypeError: bad input'],
    ['URL via its toString', '{u}', { u: new URL('http://example.com/a?b') }, 'http://example.com/a?b'],
    ['class with toString', 'at {p}', { p: new Point(1, 2) }, 'at (1, 2)'],
    ['!r quotes strings', '{s!r}', { s: 'ada' }, "'ada'"],
    ['!r on numbers', '{n!r}', { n: 42 }, '42'],
    ['!r ignores toString', '{p!r}', { p: new Point(1, 2) }, 'Point { x: 1, y: 2 }'],
    ['!s is the default', '{s!s}', { s: 'ada' }, 'ada'],
    ['dotted path', '{user.name}', { user: { name: 'ada' } }, 'ada'],
    ['deep dotted path', '{a.b.c}', { a: { b: { c: 'deep' } } }, 'deep'],
    ['dotted with !r', '{a.b!r}', { a: { b: 'x' } }, "'x'"],
    ['array index', '{items.1}', { items: ['x', 'y'] }, 'y'],
    ['property of a primitive', '{s.length}', { s: 'abc' }, '3'],
    ['getter on a class', '{p.x}', { p: new Point(3, 4) }, '3'],
    ['escaped braces', '{{literal}}', {}, '{literal}'],
    ['escaped around a field', '{{{name}}}', { name: 'ada' }, '{ada}'],
    ['lone escaped closing', 'a }} b', {}, 'a } b'],
    ['missing field', 'hi {who}', {}, 'hi <missing: who>'],
    ['missing nested field', '{user.age}', { user: { name: 'ada' } }, '<missing: user.age>'],
    ['path through null', '{x.y}', { x: null }, '<missing: x.y>'],
    ['path through undefined', '{x.y}', { x: undefined }, '<missing: x.y>'],
    ['prototype keys are not fields', '{toString} {constructor}', {}, '<missing: toString> <missing: constructor>'],
    ['log_ keys are fields too', '{log_namespace}/{log_level}', {}, 'test/info'],
    [
      'unclosed brace',
      'Hello {name',
      { name: 'ada' },
      'Unable to format event: unclosed \'{\' at position 6; raw format: "Hello {name"',
    ],
    ['single closing brace', 'a } b', {}, 'Unable to format event: single \'}\' at position 2; raw format: "a } b"'],
    [
      'positional field',
      'x {} y',
      {},
      'Unable to format event: empty field name at position 2 (positional fields are not supported); raw format: "x {} y"',
    ],
    [
      'format spec',
      '{n:>5}',
      { n: 1 },
      'Unable to format event: format specs are not supported (\'{n:>5}\'); raw format: "{n:>5}"',
    ],
    [
      'unknown conversion',
      '{n!a}',
      { n: 1 },
      'Unable to format event: unknown conversion \'!a\' in \'{n!a}\'; raw format: "{n!a}"',
    ],
    ['empty path segment', '{a..b}', {}, 'Unable to format event: invalid field name \'a..b\'; raw format: "{a..b}"'],
    ['brace inside a field', '{a{b}', {}, 'Unable to format event: \'{\' inside the field at position 0; raw format: "{a{b}"'],
    ['throwing toString', 'x={bad}', { bad: throwingToString }, 'Unable to format event: Error: nope; raw format: "x={bad}"'],
    [
      'throwing inspect hook',
      '{bad!r}',
      { bad: throwingInspect },
      'Unable to format event: RangeError: no inspect; raw format: "{bad!r}"',
    ],
    [
      'throwing getter on the path',
      '{o.boom}',
      { o: throwingGetter },
      'Unable to format event: Error: getter exploded; raw format: "{o.boom}"',
    ],
  ];

  it.each(cases)('%s', (_description, format, fields, expected) => {
    expect(formatEvent(makeEvent({ ...fields, log_format: format }))).toBe(expected);
  });

  it('uses log_text when there is no log_format', () => {
    const event = makeEvent({ log_text: 'pre-rendered' });
    delete (event as Partial<typeof event>).log_format;
    expect(formatEvent(event)).toBe('pre-rendered');
  });

  it('renders "" when there is neither log_format nor log_text', () => {
    const event = makeEvent();
    delete (event as Partial<typeof event>).log_format;
    expect(formatEvent(event)).toBe('');
  });

  it('never throws, even when reading log_format throws', () => {
    const event = makeEvent();
    Object.defineProperty(event, 'log_format', {
      get(): never {
        throw new Error('no format for you');
      },
    });
    expect(formatEvent(event)).toBe('Unable to format event: Error: no format for you; raw format: undefined');
  });

  it('gives the same answer for a cached format with other fields', () => {
    expect(formatEvent(makeEvent({ log_format: 'n={n}', n: 1 }))).toBe('n=1');
    expect(formatEvent(makeEvent({ log_format: 'n={n}', n: 2 }))).toBe('n=2');
  });
});

describe('eventAsText', () => {
  const failure = toLoggableFailure(fixedError('boom', ['f (a.js:1:1)', 'g (b.js:2:2)']));

  const cases: Array<[string, Record<string, unknown>, Parameters<typeof eventAsText>[1], string]> = [
    [
      'timestamp, namespace, level, message',
      { log_namespace: 'spindle.http', log_level: 'warn', log_format: 'slow {ms}ms', ms: 1500 },
      undefined,
      `${T_TEXT} [spindle.http#warn] slow 1500ms`,
    ],
    [
      'without timestamp',
      { log_format: 'hi' },
      { includeTimestamp: false },
      '[test#info] hi',
    ],
    [
      'failure traceback follows, as is',
      { log_level: 'critical', log_format: 'crashed', log_failure: failure },
      undefined,
      `${T_TEXT} [test#critical] crashed\nError: boom\n    at f (a.js:1:1)\n    at g (b.js:2:2)`,
    ],
    [
      'traceback left out on request',
      { log_level: 'error', log_format: 'crashed', log_failure: failure },
      { includeTraceback: false },
      `${T_TEXT} [test#error] crashed`,
    ],
    [
      'a raw Error in log_failure is wrapped',
      { log_format: 'x', log_failure: fixedError('raw', ['h (c.js:3:3)']) },
      { includeTimestamp: false },
      '[test#info] x\nError: raw\n    at h (c.js:3:3)',
    ],
    [
      'missing namespace, level and time show as -',
      { log_namespace: undefined, log_level: undefined, log_time: undefined, log_format: 'x' },
      undefined,
      '- [-#-] x',
    ],
    ['invalid time shows as -', { log_time: Number.NaN, log_format: 'x' }, undefined, '- [test#info] x'],
    ['out-of-range time shows as -', { log_time: 1e20, log_format: 'x' }, undefined, '- [test#info] x'],
    [
      'millisecond rounding, not truncation',
      { log_time: 1.001, log_format: 'x' },
      undefined,
      '1970-01-01T00:00:01.001Z [test#info] x',
    ],
    [
      'broken format still gives a line',
      { log_format: '{oops' },
      { includeTimestamp: false },
      '[test#info] Unable to format event: unclosed \'{\' at position 0; raw format: "{oops"',
    ],
  ];

  it.each(cases)('%s', (_description, fields, options, expected) => {
    expect(eventAsText(makeEvent(fields), options)).toBe(expected);
  });

  it('drops trailing newlines of a traceback and survives a throwing getTraceback', () => {
    const trailing = { value: 1, getTraceback: () => 'tb line\n\n' };
    expect(eventAsText(makeEvent({ log_format: 'x', log_failure: trailing }), { includeTimestamp: false })).toBe(
      '[test#info] x\ntb line',
    );
    const throwing = {
      value: 1,
      getTraceback(): string {
        throw new Error('cannot');
      },
    };
    expect(eventAsText(makeEvent({ log_format: 'x', log_failure: throwing }), { includeTimestamp: false })).toBe(
      '[test#info] x\n<unable to render traceback: Error: cannot>',
    );
  });
});
