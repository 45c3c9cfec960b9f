// The CLI's own argument parser: spellings, repeatable options, errors with suggestions.
import { describe, expect, it } from 'vitest';
import { UsageError, formatOptions, integerValue, parseArgs, secondsValue, type OptionSpec } from '../../src/cli/args.js';

const SPECS: OptionSpec[] = [
  { name: 'port', short: 'p', kind: 'value', metavar: 'PORT', help: 'the port' },
  { name: 'endpoint', short: 'e', kind: 'list', metavar: 'ENDPOINT', help: 'an endpoint' },
  { name: 'proxy-headers', kind: 'flag', help: 'trust proxies' },
  { name: 'verbose', short: 'V', kind: 'flag', help: 'more' },
  { name: 'quiet', short: 'q', kind: 'flag', help: 'less' },
];

describe('parseArgs', () => {
  it.each([
    [['app.mjs', '-p', '8000'], { port: '8000' }, ['app.mjs']],
    [['app.mjs', '-p8000'], { port: '8000' }, ['app.mjs']],
    [['--port', '1', 'app.mjs', '--port=2'], { port: '2' }, ['app.mjs']],
    [['-e', 'tcp:1', '--endpoint=unix:/a\\:b', '-e', 'tcp:2'], { endpoint: ['tcp:1', 'unix:/a\\:b', 'tcp:2'] }, []],
    [['--proxy-headers', 'a', 'b'], { 'proxy-headers': true }, ['a', 'b']],
    [['-Vq', 'x'], { verbose: true, quiet: true }, ['x']],
    [['a', '--', '-p', '--port'], {}, ['a', '-p', '--port']],
    [['-', 'x'], {}, ['-', 'x']],
    [['--port', '-1'], { port: '-1' }, []],
  ])('%j', (argv, options, positionals) => {
    expect(parseArgs(argv, SPECS)).toEqual({ options, positionals });
  });

  it.each([
    [['--prot', '1'], /unknown option --prot \(did you mean --port\?\)/],
    [['-x'], /unknown option -x$/],
    [['--port'], /option --port needs a value \(PORT\)/],
    [['-p'], /option -p needs a value/],
    [['--proxy-headers=yes'], /takes no value/],
    [['--totally-different-thing'], /^unknown option --totally-different-thing$/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseArgs(argv, SPECS)).toThrow(UsageError);
    expect(() => parseArgs(argv, SPECS)).toThrow(message);
  });

  it('formats the options as aligned help lines', () => {
    const text = formatOptions(SPECS);
    expect(text.split('\n')).toHaveLength(SPECS.length);
    expect(text).toContain('  -p, --port PORT');
    expect(text).toContain('      --proxy-headers');
    const column = text.split('\n').map((l) => l.search(/(the port|an endpoint|trust proxies|more|less)$/));
    expect(new Set(column).size).toBe(1);
  });
});

describe('value checks', () => {
  it.each([
    ['10', 10],
    ['2.5', 2.5],
    ['0', 0],
  ])('seconds %s', (v, n) => expect(secondsValue('--t', v)).toBe(n));

  it.each(['', '-1', 'ten', 'Infinity', 'NaN'])('refuses seconds %j', (v) => {
    expect(() => secondsValue('--t', v)).toThrow(UsageError);
  });

  it.each([
    ['0', 0],
    ['65535', 65535],
  ])('integer %s', (v, n) => expect(integerValue('-p', v, 0, 65535)).toBe(n));

  it.each(['65536', '-1', '1.5', 'http', ''])('refuses integer %j', (v) => {
    expect(() => integerValue('-p', v, 0, 65535)).toThrow(/-p takes an integer from 0 to 65535/);
  });
});
