/**
 * Field lines (RFC 9112 §5, RFC 9110 §5): names are tokens, no whitespace
 * before the colon, no obs-fold or whitespace-led lines, no CR/LF/NUL (or
 * other controls) in values, OWS trimmed on both sides; names kept as
 * received plus lower-cased; order and repeats kept.
 */
import { describe, expect, it } from 'vitest';
import { HeaderList, RequestParser, type RequestHead } from '../../src/http/index.js';
import { expectRequestError, expectRequestOk, req, requestOf, wire } from './helpers.js';

describe('field lines: valid', () => {
  const cases: [string, string[], string[]][] = [
    ['no space after the colon', ['X:1'], ['X', '1']],
    ['OWS trimmed both sides (CVE-2019-15606)', ['X: \t v \t '], ['X', 'v']],
    ['inner whitespace kept', ['X: a  b\tc'], ['X', 'a  b\tc']],
    ['empty value', ['X:'], ['X', '']],
    ['whitespace-only value', ['X:   '], ['X', '']],
    ['obs-text in a value is kept as latin1', ['X: caf\xe9 \xa0'], ['X', 'caf\xe9 \xa0']],
    ['colons in the value', ['X: a:b::c'], ['X', 'a:b::c']],
    ['every tchar in a name', ["!#$%&'*+-.^_`|~09AZaz: v"], ["!#$%&'*+-.^_`|~09AZaz", 'v']],
    ['quoted string value passes through', ['X: "a, b"'], ['X', '"a, b"']],
  ];
  it.each(cases)('%s', (_name, lines, expected) => {
    const head = requestOf(expectRequestOk(req(lines)));
    expect(head.headers.slice(2)).toEqual(expected);
  });

  it('keeps order, repeats and names as received, with lower-case names beside them', () => {
    const head = requestOf(
      expectRequestOk(req(['Set-Cookie: a=1', 'X-Custom: 1', 'set-cookie: b=2', 'CONTENT-TYPE: text/plain', 'accept: */*'])),
    );
    expect(head.headers).toEqual([
      'Host', 'example.com',
      'Set-Cookie', 'a=1',
      'X-Custom', '1',
      'set-cookie', 'b=2',
      'CONTENT-TYPE', 'text/plain',
      'accept', '*/*',
    ]);
    expect(head.names).toEqual(['host', 'set-cookie', 'x-custom', 'set-cookie', 'content-type', 'accept']);
  });

  it('interns well-known names (same string object for each spelling)', () => {
    const p = new RequestParser();
    p.receiveData(wire(req(['Content-Type: a', 'content-type: b', 'CoNtEnT-TyPe: c'])));
    const h = (p.nextEvent() as RequestHead).headers;
    expect(h.names.slice(1)).toEqual(['content-type', 'content-type', 'content-type']);
    expect(h.raw[2]).toBe('Content-Type');
    expect(h.raw[4]).toBe('content-type');
    expect(h.raw[6]).toBe('CoNtEnT-TyPe');
  });

  it('HeaderList helpers', () => {
    const p = new RequestParser();
    p.receiveData(wire(req(['Accept: a', 'X-Y: 1', 'accept: b'])));
    const h = (p.nextEvent() as RequestHead).headers;
    expect(h.length).toBe(4);
    expect(h.get('accept')).toBe('a');
    expect(h.getAll('accept')).toEqual(['a', 'b']);
    expect(h.getCombined('accept')).toBe('a, b');
    expect(h.get('missing')).toBeUndefined();
    expect(h.getAll('missing')).toEqual([]);
    expect(h.getCombined('missing')).toBeUndefined();
    expect(h.has('x-y')).toBe(true);
    expect(h.has('X-Y')).toBe(false);
    expect(h.name(1)).toBe('Accept');
    expect(h.value(2)).toBe('1');
    expect([...h]).toEqual([['Host', 'example.com'], ['Accept', 'a'], ['X-Y', '1'], ['accept', 'b']]);
    expect([...h.entries()].map(([n]) => n)).toEqual(['host', 'accept', 'x-y', 'accept']);
  });

  it('HeaderList computes lower-case names when built by hand', () => {
    const h = new HeaderList(['A-B', '1', 'c', '2']);
    expect(h.names).toEqual(['a-b', 'c']);
    expect(h.get('a-b')).toBe('1');
  });
});

describe('field lines: invalid', () => {
  const cases: [string, string, string][] = [
    // whitespace before the colon (RFC 9112 §5.1 MUST 400; CVE-2021-22959; garden #3)
    ['Content-Length : 4 (space before colon)', req(['Content-Length : 4'], 'POST / HTTP/1.1', 'abcd'), 'WHITESPACE_BEFORE_COLON'],
    ['tab before colon', req(['X\t: 1']), 'WHITESPACE_BEFORE_COLON'],
    ['Connection : upgrade', req(['Connection : upgrade']), 'WHITESPACE_BEFORE_COLON'],
    ['smuggler TE\\t:\\tchunked', req(['Transfer-Encoding\t:\tchunked'], 'POST / HTTP/1.1', '0\r\n\r\n'), 'WHITESPACE_BEFORE_COLON'],
    // obs-fold / whitespace-led lines (RFC 9112 §5.2, §2.2; CVE-2022-32215, CVE-2024-27982)
    ['obs-fold continuation', req(['X: a', ' b']), 'OBS_FOLD'],
    ['tab-folded continuation', req(['X: a', '\tb']), 'OBS_FOLD'],
    ['garden #4: \\tContent-Length first', 'GET / HTTP/1.1\r\n\tContent-Length: 1\r\nHost: a\r\n\r\nx', 'OBS_FOLD'],
    ['space-led line right after the start line', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n', 'OBS_FOLD'],
    ['CVE-2024-27982: space before Content-Length', req(['X: y', ' Content-Length: 38']), 'OBS_FOLD'],
    ['folded Transfer-Encoding value', req(['Transfer-Encoding: chunked', '  abc'], 'POST / HTTP/1.1', '0\r\n\r\n'), 'OBS_FOLD'],
    ['folded name (name\\r\\n : value)', req(['X', ' : value']), 'INVALID_HEADER_TOKEN'],
    // names are tokens (RFC 9110 §5.1; garden #14, #18, #27, #28)
    ['llhttp: Fo@: bar', req(['Fo@: bar']), 'INVALID_HEADER_TOKEN'],
    ['llhttp: Foo\\01\\test', req(['Foo\x01\test: bar']), 'INVALID_HEADER_TOKEN'],
    ['garden #18: empty name (: ignored)', req([': ignored']), 'INVALID_HEADER_TOKEN'],
    ['garden #27: colon alone', req([':']), 'INVALID_HEADER_TOKEN'],
    ['garden #28: Content-Length 10 (no colon)', req(['Content-Length 10'], 'POST / HTTP/1.1'), 'WHITESPACE_BEFORE_COLON'],
    ['no colon at all', req(['NoColonHere']), 'INVALID_HEADER_TOKEN'],
    ['separator in a name', req(['X(Y): 1']), 'INVALID_HEADER_TOKEN'],
    ['slash in a name', req(['X/Y: 1']), 'INVALID_HEADER_TOKEN'],
    ['NUL in a name', req(['X\x00Y: 1']), 'INVALID_HEADER_TOKEN'],
    ['DEL in a name', req(['X\x7fY: 1']), 'INVALID_HEADER_TOKEN'],
    ['\\x85 in a name', req(['X\x85Y: 1']), 'INVALID_HEADER_TOKEN'],
    ['\\xa0 before a name', req(['\xa0Content-Length: 1']), 'INVALID_HEADER_TOKEN'],
    ['quote in a name', req(['"X": 1']), 'INVALID_HEADER_TOKEN'],
    // values: no NUL or other controls (garden #35/#43; Twisted 24.10)
    ['garden #35: NUL in a value', req(['X: a\x00b']), 'INVALID_HEADER_VALUE'],
    ['NUL at the end of a value', req(['Content-Length: 0\x00']), 'INVALID_HEADER_VALUE'],
    ['\\x01 in a value', req(['X: a\x01b']), 'INVALID_HEADER_VALUE'],
    ['vertical tab in a value', req(['X: a\x0bb']), 'INVALID_HEADER_VALUE'],
    ['form feed in a value', req(['X: a\x0cb']), 'INVALID_HEADER_VALUE'],
    ['DEL in a value', req(['X: a\x7fb']), 'INVALID_HEADER_VALUE'],
    ['escape in a value', req(['X: \x1b[31m']), 'INVALID_HEADER_VALUE'],
  ];
  it.each(cases)('%s', (_name, input, code) => {
    expectRequestError(input, code, 400);
  });
});
