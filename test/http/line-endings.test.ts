/**
 * CRLF only (RFC 9112 §2.2): a bare CR or a bare LF anywhere in a head is
 * 400; the head ends with exactly CRLF CRLF; one empty line before a
 * request line is tolerated, not two.
 */
import { describe, expect, it } from 'vitest';
import { expectRequestError, expectRequestOk, requestOf } from './helpers.js';

describe('line endings: valid', () => {
  it('one CRLF before the request line is skipped', () => {
    const head = requestOf(expectRequestOk('\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    expect(head).toMatchObject({ method: 'GET', target: '/' });
  });

  it('a CR at the end of the input before its LF waits for more data', () => {
    expectRequestOk('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  });
});

describe('line endings: invalid', () => {
  const cases: [string, string, string][] = [
    // bare LF
    ['LF-only request line (llhttp: Expected CRLF after version)', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'BARE_LF'],
    ['LF-only field line', 'GET / HTTP/1.1\r\nHost: a\n\r\n', 'BARE_LF'],
    ['LF-only messages', 'GET / HTTP/1.1\nHost: a\n\n', 'BARE_LF'],
    ['LF-only terminator', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 'BARE_LF'],
    ['LF at the start', '\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 'BARE_LF'],
    ['garden #9: GET /\\nHTTP/1.1', 'GET /\nHTTP/1.1\r\nHost: a\r\n\r\n', 'BARE_LF'],
    ['llhttp #877: HTTP/0.9 path with bare LF', 'GET /x\nHost: a\r\n\r\n', 'BARE_LF'],
    ['llhttp invalid.md: x:x\\nTransfer-Encoding: chunked', 'GET / HTTP/1.1\r\nHost: a\r\nx:x\nTransfer-Encoding: chunked\r\n\r\n', 'BARE_LF'],
    ['llhttp invalid.md: x:\\nTransfer-Encoding', 'GET / HTTP/1.1\r\nHost: a\r\nx:\nTransfer-Encoding: chunked\r\n\r\n', 'BARE_LF'],
    // bare CR
    ['llhttp: GET / HTTP/1.1\\rLine: 1', 'GET / HTTP/1.1\rLine: 1\r\nHost: a\r\n\r\n', 'BARE_CR'],
    ['llhttp: Foo: 1\\rBar: 2', 'GET / HTTP/1.1\r\nHost: a\r\nFoo: 1\rBar: 2\r\n\r\n', 'BARE_CR'],
    ['CVE-2023-30589: X-Abc: \\rxTransfer-Encoding', 'GET / HTTP/1.1\r\nHost: a\r\nX-Abc: \rxTransfer-Encoding: chunked\r\n\r\n', 'BARE_CR'],
    ['garden #13: Visible: :/\\rSmuggled: :)', 'GET / HTTP/1.1\r\nHost: a\r\nVisible: :/\rSmuggled: :)\r\n\r\n', 'BARE_CR'],
    ['garden #34: CR in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n', 'BARE_CR'],
    ['CR in a field name', 'GET / HTTP/1.1\r\nHost: a\r\nContent\rLength: 3\r\n\r\nabc', 'BARE_CR'],
    ['CR inside the method', 'GE\rT / HTTP/1.1\r\nHost: a\r\n\r\n', 'BARE_CR'],
    ['CR inside the target', 'GET /\r/ HTTP/1.1\r\nHost: a\r\n\r\n', 'BARE_CR'],
    ['CR CR LF', 'GET / HTTP/1.1\r\r\nHost: a\r\n\r\n', 'BARE_CR'],
    ['llhttp: x:\\rTransfer-Encoding', 'GET / HTTP/1.1\r\nHost: a\r\nx:\rTransfer-Encoding: chunked\r\n\r\n', 'BARE_CR'],
    // terminator
    ['garden #30 / CVE-2025-23167: \\r\\n\\rZGET /evil', 'GET / HTTP/1.1\r\nHost: a\r\n\rZGET /evil: HTTP/1.1\r\nHost: a\r\n\r\n', 'BARE_CR'],
    ['\\r\\n\\r then more head', 'GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n\r\n', 'BARE_CR'],
    ['CR LF CR CR LF', 'GET / HTTP/1.1\r\nHost: a\r\n\r\r\n', 'BARE_CR'],
  ];
  it.each(cases)('%s', (_name, input, code) => {
    expectRequestError(input, code, 400);
  });
});
