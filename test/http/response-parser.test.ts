/**
 * Response parsing (client side): the status line, body framing per RFC
 * 9112 §6.3 (HEAD, 1xx, 204, 304 → none; chunked; Content-Length; else
 * until EOF), 1xx interim events, 101/CONNECT switches, keep-alive.
 */
import { describe, expect, it } from 'vitest';
import { PAUSED, ResponseParser } from '../../src/http/index.js';
import { errorOf, run, runAllSplits, wire, type RunOptions } from './helpers.js';

function ok(input: string, opts: RunOptions = {}) {
  const log = runAllSplits('response', input, opts);
  expect(errorOf(log)).toBeUndefined();
  return log;
}

describe('status line: valid', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['200 OK', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { status: 200, reason: 'OK', versionMinor: 1 }],
    ['HTTP/1.0', 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', { versionMinor: 0, keepAlive: false }],
    ['reason with spaces and obs-text', 'HTTP/1.1 404 Not \xc9 Found\r\nContent-Length: 0\r\n\r\n', { status: 404, reason: 'Not \xc9 Found' }],
    ['empty reason after SP', 'HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n', { reason: '' }],
    ['no SP and no reason (tolerated)', 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n', { reason: '' }],
    ['unregistered code', 'HTTP/1.1 299 Whatever\r\nContent-Length: 0\r\n\r\n', { status: 299 }],
    ['599', 'HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n', { status: 599 }],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(ok(input)[0]).toMatchObject({ type: 'response', ...expected });
  });
});

describe('status line: invalid', () => {
  const cases: [string, string, string][] = [
    ['two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'INVALID_STATUS'],
    ['four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'INVALID_STATUS_LINE'],
    ['letters in the status', 'HTTP/1.1 2x0 OK\r\n\r\n', 'INVALID_STATUS'],
    ['status below 100', 'HTTP/1.1 099 X\r\n\r\n', 'INVALID_STATUS'],
    ['status above 599', 'HTTP/1.1 600 X\r\n\r\n', 'INVALID_STATUS'],
    ['two spaces', 'HTTP/1.1  200 OK\r\n\r\n', 'INVALID_STATUS'],
    ['lower-case version', 'http/1.1 200 OK\r\n\r\n', 'INVALID_VERSION'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n', 'UNSUPPORTED_VERSION'],
    ['NUL in the reason', 'HTTP/1.1 200 O\x00K\r\n\r\n', 'INVALID_STATUS_LINE'],
    ['bare CR in the reason', 'HTTP/1.1 200 O\rK\r\n\r\n', 'BARE_CR'],
    ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', 'BARE_LF'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', 'OBS_FOLD'],
    ['CL + TE', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 'CL_TE_CONFLICT'],
    ['two Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 'CL_REPEATED'],
    ['bad Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\nabc', 'CL_INVALID'],
    ['TE gzip', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'TE_INVALID'],
    ['TE in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'TE_HTTP10'],
    ['leading empty line (only requests tolerate it)', '\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'INVALID_STATUS_LINE'],
  ];
  it.each(cases)('%s', (_name, input, code) => {
    const log = runAllSplits('response', input);
    expect(errorOf(log)?.code).toBe(code);
  });

  it('a response with no request outstanding → UNSOLICITED_RESPONSE', () => {
    expect(errorOf(run('response', 'HTTP/1.1 408 Request Timeout\r\n\r\n', { methods: [] }))).toEqual({ code: 'UNSOLICITED_RESPONSE', status: 400 });
  });
});

describe('response body framing (RFC 9112 §6.3)', () => {
  it('Content-Length', () => {
    expect(ok('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello').slice(1)).toEqual([{ type: 'data', text: 'hello' }, { type: 'end', trailers: null }]);
  });
  it('chunked with trailers', () => {
    const log = ok('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n');
    expect(log[0]).toMatchObject({ chunked: true, contentLength: -1, keepAlive: true });
    expect(log.slice(1)).toEqual([{ type: 'data', text: 'hello' }, { type: 'end', trailers: ['X-T', '1'] }]);
  });
  it('no length: read until EOF', () => {
    const log = ok('HTTP/1.1 200 OK\r\nX: y\r\n\r\nall of this until close', { eof: true });
    expect(log).toEqual([
      expect.objectContaining({ type: 'response', contentLength: -1, chunked: false, keepAlive: false }),
      { type: 'data', text: 'all of this until close' },
      { type: 'end', trailers: null },
      { type: 'closed' },
    ]);
  });
  it('no length and no EOF yet: data only', () => {
    expect(run('response', 'HTTP/1.1 200 OK\r\n\r\nabc').slice(1)).toEqual([{ type: 'data', text: 'abc' }]);
  });
  it('EOF-delimited body with no bytes', () => {
    expect(ok('HTTP/1.0 200 OK\r\n\r\n', { eof: true }).slice(1)).toEqual([{ type: 'end', trailers: null }, { type: 'closed' }]);
  });

  const noBody: [string, string, string][] = [
    ['HEAD response with Content-Length', 'HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'],
    ['HEAD response with chunked', 'HEAD', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['204', 'GET', 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n'],
    ['304', 'GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'],
    ['204 without length is not read-until-EOF', 'GET', 'HTTP/1.1 204 No Content\r\n\r\n'],
  ];
  it.each(noBody)('%s: no body', (_name, method, input) => {
    const log = ok(input, { methods: [method] });
    expect(log).toEqual([expect.objectContaining({ type: 'response', contentLength: 0, keepAlive: true }), { type: 'end', trailers: null }]);
  });

  it('the method queue: GET, HEAD, GET responses pipelined in one chunk', () => {
    const input =
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi' +
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc';
    const log = ok(input, { methods: ['GET', 'HEAD', 'GET'] });
    expect(log.map((e) => (e.type === 'data' ? e.text : e.type))).toEqual(['response', 'hi', 'end', 'response', 'end', 'response', 'abc', 'end']);
  });
});

describe('1xx and switches', () => {
  it('100 Continue and 103 Early Hints come before the final response', () => {
    const log = ok('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx');
    expect(log).toEqual([
      { type: 'informational', status: 100, reason: 'Continue', headers: [] },
      { type: 'informational', status: 103, reason: 'Early Hints', headers: ['Link', '</s.css>; rel=preload'] },
      expect.objectContaining({ type: 'response', status: 200 }),
      { type: 'data', text: 'x' },
      { type: 'end', trailers: null },
    ]);
  });

  it('101 Switching Protocols: end, then switched with the remaining bytes exposed', () => {
    const p = new ResponseParser();
    p.expectResponse('GET');
    p.receiveData(wire('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi'));
    expect(p.nextEvent()).toMatchObject({ type: 'response', status: 101, upgrade: true, contentLength: 0 });
    expect(p.nextEvent()).toEqual({ type: 'end', trailers: null });
    expect(p.nextEvent()).toBe(PAUSED);
    expect(p.state).toBe('switched');
    expect(Buffer.from(p.unconsumed).toString('latin1')).toBe('\x81\x02hi');
  });

  it('2xx to CONNECT is a tunnel; a 4xx to CONNECT is a normal response', () => {
    const tunnel = run('response', 'HTTP/1.1 200 Connection Established\r\n\r\nTLS...', { methods: ['CONNECT'] });
    expect(tunnel).toEqual([expect.objectContaining({ upgrade: true, contentLength: 0 }), { type: 'end', trailers: null }]);
    const refused = run('response', 'HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\nno', { methods: ['CONNECT'] });
    expect(refused[0]).toMatchObject({ upgrade: false, contentLength: 2 });
  });

  it('Connection: close on a response → must-close after end', () => {
    const p = new ResponseParser();
    p.expectResponse('GET');
    p.receiveData(wire('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'));
    expect(p.nextEvent()).toMatchObject({ keepAlive: false });
    expect(p.nextEvent()).toMatchObject({ type: 'end' });
    expect(p.state).toBe('must-close');
  });

  it('HTTP/1.0 response with keep-alive', () => {
    expect(ok('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n')[0]).toMatchObject({ keepAlive: true });
  });

  it('truncated Content-Length body at EOF → UNEXPECTED_EOF', () => {
    expect(errorOf(run('response', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab', { eof: true }))?.code).toBe('UNEXPECTED_EOF');
  });
});
