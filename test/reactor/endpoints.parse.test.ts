import { describe, expect, it } from 'vitest';
import {
  EndpointDescriptionError,
  _parse,
  bindArguments,
  parseDescription,
  quoteStringArgument,
} from '../../src/reactor/endpoints/parse.js';

describe('parseDescription (Twisted _parse)', () => {
  const cases: Array<[string, string[], Record<string, string>]> = [
    ['a:b:d=1:c', ['a', 'b', 'c'], { d: '1' }],
    ['tcp:80', ['tcp', '80'], {}],
    ['tcp:8080:interface=127.0.0.1', ['tcp', '8080'], { interface: '127.0.0.1' }],
    ['tcp:host=example.com:port=80:timeout=5', ['tcp'], { host: 'example.com', port: '80', timeout: '5' }],
    // Escapes: `\` makes the next character literal.
    ['unix:C\\:/x\\:y', ['unix', 'C:/x:y'], {}],
    ['ssl:443:privateKey=C\\:/key.pem:certKey=C\\:/cert.pem', ['ssl', '443'], { privateKey: 'C:/key.pem', certKey: 'C:/cert.pem' }],
    ['a:b\\\\c', ['a', 'b\\c'], {}],
    ['a:k\\=ey=v', ['a'], { 'k=ey': 'v' }],
    ['a:\\x', ['a', 'x'], {}],
    // After a key's `=`, only `:` ends the value.
    ['a:k=v=w', ['a'], { k: 'v=w' }],
    ['a:k=', ['a'], { k: '' }],
    ['a:=v', ['a'], { '': 'v' }],
    // Empty arguments are kept.
    ['', [''], {}],
    ['a::b', ['a', '', 'b'], {}],
    ['a:', ['a', ''], {}],
    // A repeated key keeps the last value.
    ['a:k=1:k=2', ['a'], { k: '2' }],
  ];
  it.each(cases)('%j', (description, args, kwargs) => {
    expect(parseDescription(description)).toEqual({ args, kwargs });
  });

  it('is also exported under Twisted\'s name', () => {
    expect(_parse('a:b:d=1:c')).toEqual({ args: ['a', 'b', 'c'], kwargs: { d: '1' } });
  });

  it('rejects a description ending with a lone backslash', () => {
    expect(() => parseDescription('tcp:80\\')).toThrow(EndpointDescriptionError);
    expect(() => parseDescription('tcp:80\\')).toThrow(/escaping backslash/);
  });

  it('keeps "__proto__" as an ordinary key', () => {
    const { kwargs } = parseDescription('a:__proto__=x');
    expect(Object.keys(kwargs)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(kwargs)).toBe(Object.prototype);
  });
});

describe('quoteStringArgument', () => {
  it("quotes colons and backslashes (Twisted's example)", () => {
    expect(quoteStringArgument('C:/x:y')).toBe('C\\:/x\\:y');
    expect(quoteStringArgument('a\\b')).toBe('a\\\\b');
  });

  it.each(['C:/x:y', 'plain', 'a\\b:c', '::', '\\', 'k=v=w', ''])('round-trips %j as a keyword value', (s) => {
    expect(parseDescription(`x:k=${quoteStringArgument(s)}:y`).kwargs.k).toBe(s);
  });

  it.each(['C:/x:y', 'a\\b:c', '\\'])('round-trips %j as a positional argument', (s) => {
    expect(parseDescription(`x:${quoteStringArgument(s)}`).args[1]).toBe(s);
  });
});

describe('bindArguments', () => {
  const bind = (description: string) => {
    const { args, kwargs } = parseDescription(description);
    return bindArguments('tcp', description, { args: args.slice(1), kwargs }, ['port', 'interface', 'backlog'], ['port']);
  };

  it('fills positional parameters in order, then keywords', () => {
    expect(bind('tcp:80:127.0.0.1:backlog=5')).toEqual({ port: '80', interface: '127.0.0.1', backlog: '5' });
  });

  it.each([
    ['tcp:80:a:1:extra', /at most 3 positional/],
    ['tcp:80:nope=1', /unknown argument 'nope'/],
    ['tcp:80:127.0.0.1:interface=\\:\\:1', /'interface' is given twice/],
    ['tcp:interface=x', /missing 'port'/],
    ['tcp', /missing 'port'/],
  ])('%j fails: %s', (description, message) => {
    expect(() => bind(description)).toThrow(EndpointDescriptionError);
    expect(() => bind(description)).toThrow(message);
  });
});
