/**
 * Request line: `method SP request-target SP HTTP-version CRLF`
 * (RFC 9112 §3), single spaces, any token method, visible-ASCII target,
 * HTTP/1.x only (other versions → 505, malformed → 400).
 */
import { describe, expect, it } from 'vitest';
import { expectRequestError, expectRequestOk, rawReq, req, requestOf } from './helpers.js';

describe('request line: valid', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['GET origin-form', req([], 'GET /index.html HTTP/1.1'), { method: 'GET', target: '/index.html', versionMinor: 1 }],
    ['query string kept verbatim', req([], 'GET /a/b?x=1&y=%20z#frag HTTP/1.1'), { target: '/a/b?x=1&y=%20z#frag' }],
    ['HTTP/1.0 without Host', rawReq('GET / HTTP/1.0'), { versionMinor: 0, keepAlive: false }],
    ['HTTP/1.1', req(), { versionMinor: 1, keepAlive: true }],
    ['HTTP/1.9 is treated as 1.x', req([], 'GET / HTTP/1.9'), { versionMinor: 9, keepAlive: true }],
    ['POST', req(['Content-Length: 0'], 'POST /submit HTTP/1.1'), { method: 'POST' }],
    ['PUT', req([], 'PUT /x HTTP/1.1'), { method: 'PUT' }],
    ['DELETE', req([], 'DELETE /x HTTP/1.1'), { method: 'DELETE' }],
    ['HEAD', req([], 'HEAD / HTTP/1.1'), { method: 'HEAD' }],
    ['OPTIONS asterisk-form', req([], 'OPTIONS * HTTP/1.1'), { method: 'OPTIONS', target: '*' }],
    ['PATCH', req([], 'PATCH /p HTTP/1.1'), { method: 'PATCH' }],
    ['TRACE', req([], 'TRACE / HTTP/1.1'), { method: 'TRACE' }],
    ['CONNECT authority-form', req([], 'CONNECT example.com:443 HTTP/1.1'), { method: 'CONNECT', target: 'example.com:443', upgrade: true }],
    ['absolute-form', req([], 'GET http://example.com/x HTTP/1.1'), { target: 'http://example.com/x' }],
    // llhttp request/method.md: any token is a method at this layer; the app decides (501 or 405).
    ['WebDAV MKCOL', req([], 'MKCOL /dir HTTP/1.1'), { method: 'MKCOL' }],
    ['M-SEARCH', req([], 'M-SEARCH * HTTP/1.1'), { method: 'M-SEARCH' }],
    ['PURGE', req([], 'PURGE /cache HTTP/1.1'), { method: 'PURGE' }],
    ['unusual token method', req([], "X!#$%&'*+-.^_`|~9 / HTTP/1.1"), { method: "X!#$%&'*+-.^_`|~9" }],
    ['lower-case method kept as is', req([], 'get / HTTP/1.1'), { method: 'get' }],
    ['every visible ASCII byte in the target', req([], `GET /${'!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~'} HTTP/1.1`), {
      target: `/${'!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~'}`,
    }],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    const head = requestOf(expectRequestOk(input));
    expect(head).toMatchObject(expected);
  });
});

describe('request line: invalid', () => {
  const cases: [string, string, string, number][] = [
    ['two spaces after the method', req([], 'GET  / HTTP/1.1'), 'INVALID_REQUEST_LINE', 400],
    ['two spaces before the version', req([], 'GET /  HTTP/1.1'), 'INVALID_VERSION', 400],
    ['leading space', req([], ' GET / HTTP/1.1'), 'INVALID_REQUEST_LINE', 400],
    ['trailing space', req([], 'GET / HTTP/1.1 '), 'INVALID_VERSION', 400],
    ['tab as separator', req([], 'GET\t/ HTTP/1.1'), 'INVALID_METHOD', 400],
    ['method with a separator (MKCOL@)', req([], 'MKCOL@ / HTTP/1.1'), 'INVALID_METHOD', 400],
    ['method with a high byte', req([], 'G\xc9T / HTTP/1.1'), 'INVALID_METHOD', 400],
    ['HTTP/0.9 request line (no version)', 'GET /\r\n\r\n', 'INVALID_REQUEST_LINE', 400],
    ['only a method', 'GET\r\n\r\n', 'INVALID_METHOD', 400],
    ['empty target', req([], 'GET  HTTP/1.1'), 'INVALID_REQUEST_LINE', 400],
    ['space inside the target', req([], 'GET /a b HTTP/1.1'), 'INVALID_VERSION', 400],
    ['NUL in the target', req([], 'GET /a\x00b HTTP/1.1'), 'INVALID_TARGET', 400],
    ['DEL in the target', req([], 'GET /a\x7fb HTTP/1.1'), 'INVALID_TARGET', 400],
    ['control char in the target', req([], 'GET /a\x01b HTTP/1.1'), 'INVALID_TARGET', 400],
    ['non-ASCII byte in the target', req([], 'GET /caf\xe9 HTTP/1.1'), 'INVALID_TARGET', 400],
    ['tab in the target', req([], 'GET /a\tb HTTP/1.1'), 'INVALID_TARGET', 400],
    ['lower-case http/1.1', req([], 'GET / http/1.1'), 'INVALID_VERSION', 400],
    ['HTTP/1.1 with a letter', req([], 'GET / HTTP/1.x'), 'INVALID_VERSION', 400],
    ['garden #5: HTTP/1.32', req([], 'GET / HTTP/1.32'), 'INVALID_VERSION', 400],
    ['garden #24: HTTP/4294967295.255', req([], 'GET / HTTP/4294967295.255'), 'INVALID_VERSION', 400],
    ['HTTP/1 (no minor)', req([], 'GET / HTTP/1'), 'INVALID_VERSION', 400],
    ['HTTP/11', req([], 'GET / HTTP/11'), 'INVALID_VERSION', 400],
    ['HTTPS/1.1', req([], 'GET / HTTPS/1.1'), 'INVALID_VERSION', 400],
    ['garden #15: HTTP/\\r\\r1.1', 'GET / HTTP/\r\r1.1\r\nHost: a\r\n\r\n', 'BARE_CR', 400],
    ['empty line twice before the request', '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 'INVALID_REQUEST_LINE', 400],
    ['garbage', 'INVALID!!!\r\n\r\n', 'INVALID_METHOD', 400],
  ];
  it.each(cases)('%s', (_name, input, code, status) => {
    expectRequestError(input, code, status);
  });

  const versions: [string, string][] = [
    ['HTTP/2.0', 'GET / HTTP/2.0'],
    ['HTTP/0.9 with a version token', 'GET / HTTP/0.9'],
    ['HTTP/3.0', 'GET / HTTP/3.0'],
    ['llhttp invalid.md: HTTP/5.6', 'GET / HTTP/5.6'],
  ];
  it.each(versions)('%s → 505', (_name, line) => {
    expectRequestError(req([], line), 'UNSUPPORTED_VERSION', 505);
  });
});
