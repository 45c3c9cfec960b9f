/**
 * The chunked coding (RFC 9112 §7.1): `1*HEXDIG` sizes with an overflow
 * guard and a bounded size line, grammar-checked extensions (BWS allowed,
 * capped at 16 KiB per message → 413), CRLF after chunk data mandatory,
 * trailers exposed as fields (capped at 64 KiB → 431).
 */
import { describe, expect, it } from 'vitest';
import { expectRequestError, expectRequestOk, req, run } from './helpers.js';

const chunked = (body: string) => req(['Transfer-Encoding: chunked'], 'POST / HTTP/1.1', body);

describe('chunked: valid', () => {
  const cases: [string, string, string, string[] | null][] = [
    ['one chunk', '5\r\nhello\r\n0\r\n\r\n', 'hello', null],
    ['several chunks', '1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n', 'abcdef', null],
    ['upper-case hex', 'A\r\n0123456789\r\n0\r\n\r\n', '0123456789', null],
    ['lower-case hex', 'a\r\n0123456789\r\n0\r\n\r\n', '0123456789', null],
    ['llhttp: 000 terminator', '1\r\nx\r\n000\r\n\r\n', 'x', null],
    ['leading zeros in a size', '0005\r\nhello\r\n0\r\n\r\n', 'hello', null],
    ['chunk data containing CRLF', '4\r\n\r\n\r\n\r\n0\r\n\r\n', '\r\n\r\n', null],
    ['empty body', '0\r\n\r\n', '', null],
    ['extension without value', '5;foo\r\nhello\r\n0\r\n\r\n', 'hello', null],
    ['llhttp: several extensions', '5;ilovew3;somuchlove=aretheseparametersfor;another=withvalue\r\nhello\r\n0\r\n\r\n', 'hello', null],
    ['quoted extension value with escapes', '5;a="b \\" c;d=e"\r\nhello\r\n0\r\n\r\n', 'hello', null],
    ['BWS around ; and = (RFC 9112 §7.1.1)', '5 ; a = b\t;\tc\r\nhello\r\n0;last=1\r\n\r\n', 'hello', null],
    ['extension on the last chunk', '0;x=y\r\n\r\n', '', null],
    ['trailers', '5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-More:  1 \r\n\r\n', 'hello', ['X-Checksum', 'abc', 'X-More', '1']],
    ['repeated trailers kept', '0\r\nA: 1\r\na: 2\r\n\r\n', '', ['A', '1', 'a', '2']],
  ];
  it.each(cases)('%s', (_name, body, text, trailers) => {
    const log = expectRequestOk(chunked(body));
    expect(log[0]).toMatchObject({ type: 'request', chunked: true, contentLength: -1 });
    const rest = log.slice(1);
    expect(rest).toEqual(text === '' ? [{ type: 'end', trailers }] : [{ type: 'data', text }, { type: 'end', trailers }]);
  });

  it('sizes up to 13 significant hex digits parse (then wait for data)', () => {
    const log = run('request', chunked('0000FFFFFFFFFFFFF\r\nabc'));
    expect(log).toEqual([expect.objectContaining({ type: 'request' }), { type: 'data', text: 'abc' }]);
  });
});

describe('chunked: invalid', () => {
  const cases: [string, string, string, number][] = [
    ['garden #1/#22: 0_2e', '0_2e\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['sign', '+5\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['negative', '-5\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['garden #17: empty size line', '\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['llhttp: 2 erfrferferf (no ;)', '2 erfrferferf\r\nab\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['llhttp: space after the size (a \\r\\n)', 'a \r\n0123456789\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['leading space', ' 5\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['non-hex letter', '5g\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['llhttp: 3 \\n (bare LF after the size)', '3 \n  \r\nabc\r\n0\r\n\r\n', 'BARE_LF', 400],
    ['bare LF after the size', '5\nhello\r\n0\r\n\r\n', 'BARE_LF', 400],
    ['garden #31: 5\\r\\r;ABCD', '5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n', 'BARE_CR', 400],
    ['overflow: 14 significant hex digits', '10000000000000\r\n', 'CHUNK_SIZE_OVERFLOW', 400],
    ['overflow: 2^64', 'FFFFFFFFFFFFFFFF\r\n', 'CHUNK_SIZE_OVERFLOW', 400],
    ['llhttp: empty extension name (2;)', '2;\r\nab\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['extension name not a token', '2;a@b\r\nab\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['empty extension value', '2;a=\r\nab\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['llhttp: unbalanced quote', '2;a="b\r\nab\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['CVE-2021-22960: control char in an extension', '2;a=b\x01c\r\nab\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['bare CR in an extension', '2;a\rb\r\nab\r\n0\r\n\r\n', 'BARE_CR', 400],
    ['NUL in a quoted extension', '2;a="\x00"\r\nab\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['trailing whitespace after an extension', '2;a=b \r\nab\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['llhttp: data not followed by CRLF (ABCDE0)', '5\r\nABCDE0\r\n\r\n', 'INVALID_CHUNK_DATA_END', 400],
    ['data followed by LF only', '5\r\nhello\n0\r\n\r\n', 'INVALID_CHUNK_DATA_END', 400],
    ['data followed by CR + garbage', '5\r\nhello\rX0\r\n\r\n', 'INVALID_CHUNK_DATA_END', 400],
    ['garden #47: INVALID!!! chunk then a resync attempt', '5\r\nhelloINVALID!!!\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n', 'INVALID_CHUNK_DATA_END', 400],
    ['garden #39: 0\\r\\nX:POST … (trailer with a bad line)', '0\r\nX:POST /evil HTTP/1.1\r\n Host: a\r\n\r\n', 'OBS_FOLD', 400],
    ['trailer with a bare LF', '0\r\nX: 1\n\r\n', 'BARE_LF', 400],
    ['trailer with space before the colon', '0\r\nX : 1\r\n\r\n', 'WHITESPACE_BEFORE_COLON', 400],
    ['trailer with NUL', '0\r\nX: \x00\r\n\r\n', 'INVALID_HEADER_VALUE', 400],
    ['last chunk then \\r\\rX', '0\r\n\r\rX', 'BARE_CR', 400],
  ];
  it.each(cases)('%s', (_name, body, code, status) => {
    expectRequestError(chunked(body), code, status);
  });

  it('missing last chunk at EOF → UNEXPECTED_EOF', () => {
    expectRequestError(chunked('5\r\nhello\r\n'), 'UNEXPECTED_EOF', 400, { eof: true });
  });
  it('truncated chunk data at EOF → UNEXPECTED_EOF', () => {
    expectRequestError(chunked('5\r\nhel'), 'UNEXPECTED_EOF', 400, { eof: true });
  });
  it('truncated trailers at EOF → UNEXPECTED_EOF', () => {
    expectRequestError(chunked('0\r\nX: 1\r\n'), 'UNEXPECTED_EOF', 400, { eof: true });
  });
});

describe('chunked: limits', () => {
  it('extensions summed over the message over 16 KiB → 413', () => {
    const ext = `;${'a'.repeat(1000)}`;
    let body = '';
    for (let i = 0; i < 17; i++) body += `1${ext}\r\nx\r\n`;
    const log = run('request', chunked(`${body}0\r\n\r\n`));
    expect(log[log.length - 1]).toEqual({ type: 'error', code: 'CHUNK_EXTENSIONS_TOO_LARGE', status: 413 });
  });

  it('CVE-2024-22019: one endless extension → 413 before its LF', () => {
    const log = run('request', chunked(`1;a=${'b'.repeat(20000)}`));
    expect(log[log.length - 1]).toEqual({ type: 'error', code: 'CHUNK_EXTENSIONS_TOO_LARGE', status: 413 });
  });

  it('a size line of more than 1 KiB of digits → 400', () => {
    const log = run('request', chunked(`${'0'.repeat(1100)}5\r\nhello\r\n0\r\n\r\n`));
    expect(log[log.length - 1]).toEqual({ type: 'error', code: 'CHUNK_SIZE_LINE_TOO_LONG', status: 400 });
  });

  it('endless zeros without LF → 400 early', () => {
    const log = run('request', chunked('0'.repeat(2000)));
    expect(log[log.length - 1]).toEqual({ type: 'error', code: 'CHUNK_SIZE_LINE_TOO_LONG', status: 400 });
  });

  it('trailers over 64 KiB → 431', () => {
    const lines = Array.from({ length: 70 }, (_, i) => `X-${i}: ${'v'.repeat(1000)}\r\n`).join('');
    const log = run('request', chunked(`0\r\n${lines}\r\n`));
    expect(log[log.length - 1]).toEqual({ type: 'error', code: 'TRAILERS_TOO_LARGE', status: 431 });
  });

  it('trailers limit is configurable', () => {
    const log = run('request', chunked(`0\r\nX: ${'v'.repeat(100)}\r\n\r\n`), { limits: { maxTrailersSize: 50 } });
    expect(log[log.length - 1]).toEqual({ type: 'error', code: 'TRAILERS_TOO_LARGE', status: 431 });
  });

  it('maxBodySize applies to chunked bodies → 413', () => {
    const log = run('request', chunked('5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n'), { limits: { maxBodySize: 10 } });
    expect(log[log.length - 1]).toEqual({ type: 'error', code: 'BODY_TOO_LARGE', status: 413 });
  });
});
