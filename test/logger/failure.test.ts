import { describe, expect, it } from 'vitest';
import {
  describeFailure,
  isLoggableFailure,
  renderTraceback,
  toLoggableFailure,
} from '../../src/logger/index.js';
import { fixedError } from './helpers.js';

describe('renderTraceback', () => {
  const inner = fixedError('disk full', ['write (fs.js:1:1)']);
  const middle = fixedError('save failed', ['save (store.js:2:2)'], { cause: inner });
  const outer = fixedError('request failed', ['handle (http.js:3:3)'], { cause: middle });

  const circularA = fixedError('a');
  const circularB = fixedError('b', [], { cause: circularA });
  (circularA as { cause?: unknown }).cause = circularB;

  const noStack = new RangeError('stackless');
  noStack.stack = undefined;

  const cases: Array<[string, unknown, string]> = [
    ['an error is its stack', inner, 'Error: disk full\n    at write (fs.js:1:1)'],
    [
      'a cause chain adds "Caused by:" lines, outermost first',
      outer,
      [
        'Error: request failed',
        '    at handle (http.js:3:3)',
        'Caused by: Error: save failed',
        '    at save (store.js:2:2)',
        'Caused by: Error: disk full',
        '    at write (fs.js:1:1)',
      ].join('\n'),
    ],
    [
      'a non-Error cause',
      fixedError('wrapped', [], { cause: 'just a string' }),
      "Error: wrapped\nCaused by: Non-Error value: 'just a string'",
    ],
    ['an undefined cause is no cause', fixedError('x', [], { cause: undefined }), 'Error: x'],
    ['a circular chain stops', circularA, 'Error: a\nCaused by: Error: b\nCaused by: [circular cause]'],
    ['an error without a stack', noStack, 'RangeError: stackless'],
    ['a thrown string', 'oops', "Non-Error value: 'oops'"],
    ['a thrown undefined', undefined, 'Non-Error value: undefined'],
    ['a thrown object', { code: 7 }, 'Non-Error value: { code: 7 }'],
    [
      'an AggregateError lists its members',
      Object.assign(new AggregateError([fixedError('one'), 'two'], 'all failed'), {
        stack: 'AggregateError: all failed\n    at gather (x.js:1:1)',
      }),
      [
        'AggregateError: all failed',
        '    at gather (x.js:1:1)',
        '  [1/2] Error: one',
        "  [2/2] Non-Error value: 'two'",
      ].join('\n'),
    ],
  ];

  it.each(cases)('%s', (_description, value, expected) => {
    expect(renderTraceback(value)).toBe(expected);
  });

  it('cuts a very long cause chain short', () => {
    let error = fixedError('e0');
    for (let i = 1; i <= 40; i++) error = fixedError(`e${i}`, [], { cause: error });
    const lines = renderTraceback(error).split('\n');
    expect(lines).toHaveLength(1 + 16 + 1);
    expect(lines.at(-1)).toBe('Caused by: [cause chain truncated]');
  });

  it('uses the real V8 stack of a thrown error', () => {
    const error = new Error('real', { cause: new TypeError('root') });
    const text = renderTraceback(error);
    expect(text).toMatch(/^Error: real\n {4}at /);
    expect(text).toMatch(/\nCaused by: TypeError: root\n {4}at /);
  });
});

describe('toLoggableFailure', () => {
  it('returns a LoggableFailure unchanged', () => {
    const failure = { value: new Error('x'), getTraceback: () => 'custom traceback' };
    expect(toLoggableFailure(failure)).toBe(failure);
    expect(isLoggableFailure(failure)).toBe(true);
  });

  it.each([new Error('x'), 'text', undefined, null, 42, { value: 1 }])('wraps %j', (value) => {
    const failure = toLoggableFailure(value);
    expect(isLoggableFailure(failure)).toBe(true);
    expect(failure.value).toBe(value);
    expect(failure.getTraceback()).toBe(renderTraceback(value));
  });

  it('renders the traceback lazily, from the current state of the error', () => {
    const error = fixedError('first');
    const failure = toLoggableFailure(error);
    error.stack = 'Error: changed';
    expect(failure.getTraceback()).toBe('Error: changed');
  });
});

describe('describeFailure', () => {
  class CustomError extends Error {
    override name = 'CustomError';
  }
  class Thing {}
  it.each([
    [new TypeError('bad'), { type: 'TypeError', message: 'bad' }],
    [new CustomError('custom'), { type: 'CustomError', message: 'custom' }],
    ['text', { type: 'string', message: 'text' }],
    [42, { type: 'number', message: '42' }],
    [null, { type: 'null', message: 'null' }],
    [undefined, { type: 'undefined', message: 'undefined' }],
    [{ a: 1 }, { type: 'Object', message: '{ a: 1 }' }],
    [new Thing(), { type: 'Thing', message: 'Thing {}' }],
  ] as Array<[unknown, { type: string; message: string }]>)('describes %j', (value, expected) => {
    expect(describeFailure(toLoggableFailure(value))).toEqual(expected);
  });
});
