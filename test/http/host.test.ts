/**
 * Host (RFC 9112 §3.2): required in HTTP/1.1, exactly once, and a valid
 * `uri-host [ ":" port ]` (or empty).
 */
import { describe, expect, it } from 'vitest';
import { expectRequestError, expectRequestOk, rawReq, requestOf } from './helpers.js';

describe('Host: valid', () => {
  const hosts = [
    'example.com',
    'example.com:8080',
    'EXAMPLE.com',
    'localhost:1',
    '127.0.0.1',
    '127.0.0.1:65535',
    '[::1]',
    '[::1]:80',
    '[2001:db8::7]:443',
    '[v1.fe80::a+en1]',
    'xn--bcher-kva.example',
    'a_b-c~d.e',
    'caf%C3%A9.example',
    "sub!$&'()*+,;=delims",
    'example.com:', // port = *DIGIT
    '', // an empty Host is how a client says "no authority"
  ];
  it.each(hosts)('Host: %s', (host) => {
    const head = requestOf(expectRequestOk(rawReq('GET / HTTP/1.1', [`Host: ${host}`])));
    expect(head.headers).toEqual(['Host', host]);
  });

  it('HTTP/1.0 may omit Host', () => {
    expectRequestOk(rawReq('GET / HTTP/1.0'));
  });
  it('HTTP/1.0 with a Host is checked too', () => {
    expectRequestError(rawReq('GET / HTTP/1.0', ['Host: a b']), 'HOST_INVALID', 400);
  });
});

describe('Host: invalid', () => {
  it('missing in HTTP/1.1', () => {
    expectRequestError(rawReq('GET / HTTP/1.1'), 'HOST_MISSING', 400);
  });
  it('missing with other fields present', () => {
    expectRequestError(rawReq('GET / HTTP/1.1', ['X-Host: a']), 'HOST_MISSING', 400);
  });
  it('repeated', () => {
    expectRequestError(rawReq('GET / HTTP/1.1', ['Host: a', 'Host: a']), 'HOST_REPEATED', 400);
  });
  it('repeated with different values (host confusion)', () => {
    expectRequestError(rawReq('GET / HTTP/1.1', ['Host: a', 'host: evil']), 'HOST_REPEATED', 400);
  });

  const bad = [
    'a b',
    'user@example.com',
    'example.com:80:80',
    'example.com:port',
    'example.com:123456',
    '[::1',
    '[]',
    '[::1]x',
    ':80',
    'exa%2mple.com',
    'exa%',
    'example.com/path',
    'a,b"',
    'exa\xe9mple.com',
    'a\\b',
  ];
  it.each(bad)('Host: %s', (host) => {
    expectRequestError(rawReq('GET / HTTP/1.1', [`Host: ${host}`]), 'HOST_INVALID', 400);
  });
});
