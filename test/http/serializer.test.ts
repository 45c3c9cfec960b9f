/**
 * Serializer invariants: no body for HEAD/1xx/204/304, never CL with TE,
 * chunked only to HTTP/1.1 peers (close-delimited for 1.0), header
 * injection refused with TypeError, token names, status line cache,
 * request serialisation with method/target validation. Round trips go
 * through our own parsers.
 */
import { describe, expect, it } from 'vitest';
import {
  HttpStateError,
  RequestSerializer,
  ResponseSerializer,
  cachedStatusLine,
  reasonPhrase,
  type OutgoingHeaders,
  type RequestInfo,
} from '../../src/http/index.js';
import { run } from './helpers.js';

const text = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
const GET11: RequestInfo = { method: 'GET', versionMinor: 1, keepAlive: true };
const GET10: RequestInfo = { method: 'GET', versionMinor: 0, keepAlive: false };
const GET10KA: RequestInfo = { method: 'GET', versionMinor: 0, keepAlive: true };
const HEAD11: RequestInfo = { method: 'HEAD', versionMinor: 1, keepAlive: true };

function respond(req: RequestInfo, ...events: Parameters<ResponseSerializer['send']>[0][]): { wire: string; ser: ResponseSerializer } {
  const ser = new ResponseSerializer();
  ser.respondTo(req);
  return { wire: events.map((e) => text(ser.send(e))).join(''), ser };
}

describe('responses: one-shot', () => {
  const cases: [string, RequestInfo, number, OutgoingHeaders | undefined, string, string, string][] = [
    ['200 with a body gets Content-Length', GET11, 200, [['Content-Type', 'text/plain']], 'hello',
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello', 'idle'],
    ['UTF-8 string body is measured in bytes', GET11, 200, undefined, 'h\u00e9',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nh\xc3\xa9', 'idle'],
    ['empty body', GET11, 200, undefined, '', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'idle'],
    ['record headers with repeated values', GET11, 200, { 'Set-Cookie': ['a=1', 'b=2'], 'X-N': 5 }, '',
      'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-N: 5\r\nContent-Length: 0\r\n\r\n', 'idle'],
    ['caller Date is written as given', GET11, 200, [['Date', 'Sun, 06 Nov 1994 08:49:37 GMT']], '',
      'HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n', 'idle'],
    ['request wanted close', { method: 'GET', versionMinor: 1, keepAlive: false }, 200, undefined, 'x',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx', 'must-close'],
    ['app says Connection: close', GET11, 200, [['Connection', 'close']], 'x',
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx', 'must-close'],
    ['HTTP/1.0 peer without keep-alive', GET10, 200, undefined, 'x',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx', 'must-close'],
    ['HTTP/1.0 peer with keep-alive', GET10KA, 200, undefined, 'x',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx', 'idle'],
    ['HEAD: body dropped, Content-Length kept', HEAD11, 200, undefined, 'hello',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'idle'],
    ['204: no framing headers', GET11, 204, undefined, '', 'HTTP/1.1 204 No Content\r\n\r\n', 'idle'],
    ['304: no body', GET11, 304, [['ETag', '"x"']], '', 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', 'idle'],
    ['unregistered status, empty reason', GET11, 299, undefined, '', 'HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n', 'idle'],
    ['chunked declared with a one-shot body', GET11, 200, [['Transfer-Encoding', 'chunked']], 'abc',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'idle'],
    ['chunked declared for a 1.0 peer: close-delimited instead', GET10KA, 200, [['Transfer-Encoding', 'chunked']], 'abc',
      'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc', 'must-close'],
    ['101 switches', GET11, 101, [['Upgrade', 'websocket'], ['Connection', 'Upgrade']], '',
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 'switched'],
  ];
  it.each(cases)('%s', (_name, req, status, headers, body, expected, state) => {
    const { wire, ser } = respond(req, { type: 'response', status, headers, body });
    expect(wire).toBe(expected);
    expect(ser.state).toBe(state);
  });

  it('custom reason phrase', () => {
    expect(respond(GET11, { type: 'response', status: 200, reason: 'Fine', body: '' }).wire).toBe('HTTP/1.1 200 Fine\r\nContent-Length: 0\r\n\r\n');
  });

  it('a 2xx to CONNECT switches without framing headers', () => {
    const { wire, ser } = respond({ method: 'CONNECT', versionMinor: 1, keepAlive: true }, { type: 'response', status: 200 });
    expect(wire).toBe('HTTP/1.1 200 OK\r\n\r\n');
    expect(ser.state).toBe('switched');
  });
});

describe('responses: streaming', () => {
  it('HTTP/1.1 peer without a length: chunked, empty data writes nothing, trailers at the end', () => {
    const { wire, ser } = respond(
      GET11,
      { type: 'response', status: 200 },
      { type: 'data', data: 'hello' },
      { type: 'data', data: '' },
      { type: 'data', data: new Uint8Array(16).fill(0x61) },
      { type: 'end', trailers: [['X-Sum', 'abc']] },
    );
    expect(wire).toBe(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\n${'a'.repeat(16)}\r\n0\r\nX-Sum: abc\r\n\r\n`);
    expect(ser.state).toBe('idle');
    expect(ser.framing).toBe('chunked');
  });

  it('HTTP/1.0 peer without a length: close-delimited, trailers dropped', () => {
    const { wire, ser } = respond(GET10KA, { type: 'response', status: 200 }, { type: 'data', data: 'abc' }, { type: 'end', trailers: [['X', '1']] });
    expect(wire).toBe('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc');
    expect(ser.state).toBe('must-close');
    expect(ser.framing).toBe('close');
  });

  it('declared Content-Length is enforced', () => {
    const ser = new ResponseSerializer();
    ser.send({ type: 'response', status: 200, headers: [['Content-Length', '5']] });
    expect(text(ser.send({ type: 'data', data: 'abc' }))).toBe('abc');
    expect(() => ser.send({ type: 'data', data: 'def' })).toThrow(expect.objectContaining({ code: 'TOO_MUCH_DATA' }));
    expect(text(ser.send({ type: 'data', data: 'de' }))).toBe('de');
    expect(ser.send({ type: 'end' }).length).toBe(0);
    expect(ser.state).toBe('idle');
  });

  it('too little data at end → TOO_LITTLE_DATA and must-close', () => {
    const ser = new ResponseSerializer();
    ser.send({ type: 'response', status: 200, headers: { 'content-length': 5 } });
    ser.send({ type: 'data', data: 'abc' });
    expect(() => ser.send({ type: 'end' })).toThrow(expect.objectContaining({ code: 'TOO_LITTLE_DATA' }));
    expect(ser.state).toBe('must-close');
  });

  it('data of a Uint8Array body with a length is passed through without a copy', () => {
    const ser = new ResponseSerializer();
    ser.send({ type: 'response', status: 200, headers: [['Content-Length', '3']] });
    const data = new Uint8Array([1, 2, 3]);
    expect(ser.send({ type: 'data', data })).toBe(data);
  });

  it('HEAD streaming: data dropped', () => {
    const { wire } = respond(HEAD11, { type: 'response', status: 200, headers: [['Content-Length', '3']] }, { type: 'data', data: 'abc' }, { type: 'end' });
    expect(wire).toBe('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n');
  });

  it('informational responses before the final one', () => {
    const { wire } = respond(
      GET11,
      { type: 'informational', status: 100 },
      { type: 'informational', status: 103, headers: [['Link', '</a.css>; rel=preload']] },
      { type: 'response', status: 200, body: '' },
    );
    expect(wire).toBe('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });

  it('keep-alive: respond to several requests in turn', () => {
    const ser = new ResponseSerializer();
    for (let i = 0; i < 3; i++) {
      ser.respondTo(GET11);
      expect(text(ser.send({ type: 'response', status: 200, body: `${i}` }))).toBe(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${i}`);
    }
  });
});

describe('responses: refused', () => {
  const state: [string, RequestInfo, () => Parameters<ResponseSerializer['send']>[0][], string][] = [
    ['body on 204', GET11, () => [{ type: 'response', status: 204, body: 'x' }], 'BODY_NOT_ALLOWED'],
    ['body on 304', GET11, () => [{ type: 'response', status: 304, body: 'x' }], 'BODY_NOT_ALLOWED'],
    ['streamed body on 204', GET11, () => [{ type: 'response', status: 204 }, { type: 'data', data: 'x' }], 'BODY_NOT_ALLOWED'],
    ['Content-Length on 204', GET11, () => [{ type: 'response', status: 204, headers: [['Content-Length', '0']] }], 'FRAMING_CONFLICT'],
    ['Transfer-Encoding on 101', GET11, () => [{ type: 'response', status: 101, headers: [['Transfer-Encoding', 'chunked']] }], 'FRAMING_CONFLICT'],
    ['CL and TE together', GET11, () => [{ type: 'response', status: 200, headers: [['Content-Length', '1'], ['Transfer-Encoding', 'chunked']] }], 'FRAMING_CONFLICT'],
    ['two Content-Lengths', GET11, () => [{ type: 'response', status: 200, headers: [['Content-Length', '1'], ['content-length', '1']] }], 'FRAMING_CONFLICT'],
    ['TE other than chunked', GET11, () => [{ type: 'response', status: 200, headers: [['Transfer-Encoding', 'gzip, chunked']] }], 'UNSUPPORTED_TRANSFER_ENCODING'],
    ['invalid Content-Length', GET11, () => [{ type: 'response', status: 200, headers: [['Content-Length', '-1']] }], 'INVALID_CONTENT_LENGTH'],
    ['Content-Length differs from the one-shot body', GET11, () => [{ type: 'response', status: 200, headers: [['Content-Length', '3']], body: 'ab' }], 'TOO_LITTLE_DATA'],
    ['1xx to an HTTP/1.0 client', GET10, () => [{ type: 'informational', status: 100 }], 'WRONG_STATE'],
    ['101 as informational', GET11, () => [{ type: 'informational', status: 101 }], 'INVALID_STATUS'],
    ['1xx as a final response', GET11, () => [{ type: 'response', status: 100 }], 'INVALID_STATUS'],
    ['a second head before end', GET11, () => [{ type: 'response', status: 200 }, { type: 'response', status: 200 }], 'WRONG_STATE'],
    ['data before a head', GET11, () => [{ type: 'data', data: 'x' }], 'WRONG_STATE'],
    ['end before a head', GET11, () => [{ type: 'end' }], 'WRONG_STATE'],
    ['anything after must-close', GET10, () => [{ type: 'response', status: 200, body: '' }, { type: 'response', status: 200, body: '' }], 'WRONG_STATE'],
  ];
  it.each(state)('%s → HttpStateError', (_name, req, events, code) => {
    const ser = new ResponseSerializer();
    ser.respondTo(req);
    const evs = events();
    for (const e of evs.slice(0, -1)) ser.send(e);
    let caught: unknown;
    try {
      ser.send(evs[evs.length - 1]!);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HttpStateError);
    expect((caught as HttpStateError).code).toBe(code);
  });

  const injection: [string, OutgoingHeaders][] = [
    ['CRLF in a value', [['X', 'a\r\nSet-Cookie: evil']]],
    ['LF in a value', [['X', 'a\nb']]],
    ['CR in a value', [['X', 'a\rb']]],
    ['NUL in a value', [['X', 'a\x00b']]],
    ['other control in a value', [['X', 'a\x01b']]],
    ['DEL in a value', [['X', 'a\x7fb']]],
    ['U+010A in a value (would become LF in latin1)', [['X', 'a\u010ab']]],
    ['emoji in a value', [['X', '\u{1F600}']]],
    ['CRLF in a name', [['X\r\nY', 'a']]],
    ['space in a name', [['X Y', 'a']]],
    ['colon in a name', [['X:', 'a']]],
    ['empty name', [['', 'a']]],
    ['non-ASCII name', [['X\u00e9', 'a']]],
    ['CRLF in a record value', { X: 'a\r\nb' }],
    ['CRLF in a repeated record value', { X: ['ok', 'a\r\nb'] }],
  ];
  it.each(injection)('%s → TypeError', (_name, headers) => {
    const ser = new ResponseSerializer();
    expect(() => ser.send({ type: 'response', status: 200, headers, body: '' })).toThrow(TypeError);
    expect(ser.state).toBe('idle');
  });

  it('trailers are checked too', () => {
    const ser = new ResponseSerializer();
    ser.send({ type: 'response', status: 200 });
    expect(() => ser.send({ type: 'end', trailers: [['X', 'a\r\nb']] })).toThrow(TypeError);
  });

  it.each([['CR in the reason', 'OK\r\nX: y'], ['NUL in the reason', 'O\x00K']])('%s → TypeError', (_name, reason) => {
    expect(() => new ResponseSerializer().send({ type: 'response', status: 200, reason, body: '' })).toThrow(TypeError);
  });
  it.each([99, 600, 200.5, Number.NaN])('status %s → TypeError', (status) => {
    expect(() => new ResponseSerializer().send({ type: 'response', status, body: '' })).toThrow(TypeError);
  });
});

describe('status lines', () => {
  it('the cache holds the registered codes', () => {
    expect(cachedStatusLine(200)).toBe('HTTP/1.1 200 OK\r\n');
    expect(cachedStatusLine(404)).toBe('HTTP/1.1 404 Not Found\r\n');
    expect(cachedStatusLine(431)).toBe('HTTP/1.1 431 Request Header Fields Too Large\r\n');
    expect(cachedStatusLine(299)).toBeUndefined();
    expect(reasonPhrase(503)).toBe('Service Unavailable');
    expect(reasonPhrase(299)).toBe('');
  });
});

describe('requests', () => {
  const ok: [string, Parameters<RequestSerializer['send']>[0], string][] = [
    ['GET with an empty one-shot body: no Content-Length', { type: 'request', method: 'GET', target: '/', headers: [['Host', 'a']], body: '' },
      'GET / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['POST with a body', { type: 'request', method: 'POST', target: '/f?x=1', headers: { Host: 'a' }, body: 'abc' },
      'POST /f?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc'],
    ['POST with an empty body gets Content-Length: 0', { type: 'request', method: 'POST', target: '/', headers: [['Host', 'a']], body: '' },
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['extension method', { type: 'request', method: 'PROPFIND', target: '*', headers: [['host', 'a']], body: '' },
      'PROPFIND * HTTP/1.1\r\nhost: a\r\n\r\n'],
  ];
  it.each(ok)('%s', (_name, ev, expected) => {
    const ser = new RequestSerializer();
    expect(text(ser.send(ev))).toBe(expected);
    expect(ser.state).toBe('idle');
  });

  it('streaming upload with chunked, then a pipelined request', () => {
    const ser = new RequestSerializer();
    let w = text(ser.send({ type: 'request', method: 'PUT', target: '/up', headers: [['Host', 'a'], ['Transfer-Encoding', 'chunked']] }));
    w += text(ser.send({ type: 'data', data: 'abc' }));
    w += text(ser.send({ type: 'end' }));
    w += text(ser.send({ type: 'request', method: 'GET', target: '/next', headers: [['Host', 'a']] }));
    w += text(ser.send({ type: 'end' }));
    expect(w).toBe('PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n');
    // …and our own parser reads it back.
    const log = run('request', w);
    expect(log.map((e) => (e.type === 'request' ? e.target : e.type === 'data' ? e.text : e.type))).toEqual(['/up', 'abc', 'end', '/next', 'end']);
  });

  it('a request without body framing cannot carry data', () => {
    const ser = new RequestSerializer();
    ser.send({ type: 'request', method: 'GET', target: '/', headers: [['Host', 'a']] });
    expect(() => ser.send({ type: 'data', data: 'x' })).toThrow(expect.objectContaining({ code: 'BODY_NOT_ALLOWED' }));
  });

  it('Connection: close → must-close after end', () => {
    const ser = new RequestSerializer();
    ser.send({ type: 'request', method: 'GET', target: '/', headers: [['Host', 'a'], ['Connection', 'close']], body: '' });
    expect(ser.state).toBe('must-close');
  });

  it('Host is required', () => {
    expect(() => new RequestSerializer().send({ type: 'request', method: 'GET', target: '/', body: '' })).toThrow(
      expect.objectContaining({ code: 'HOST_MISSING' }),
    );
  });

  const badMethod = ['GET /', 'G\r\nET', '', 'GÉT', 'GET\x00', 'GET\t'];
  it.each(badMethod)('method %j → TypeError (CVE-2019-12387)', (method) => {
    expect(() => new RequestSerializer().send({ type: 'request', method, target: '/', headers: [['Host', 'a']], body: '' })).toThrow(TypeError);
  });
  const badTarget = ['/a b', '/a\r\nHost: evil', '/a\nb', '/\x00', '', '/caf\u00e9', '/\x7f'];
  it.each(badTarget)('target %j → TypeError', (target) => {
    expect(() => new RequestSerializer().send({ type: 'request', method: 'GET', target, headers: [['Host', 'a']], body: '' })).toThrow(TypeError);
  });
});

describe('round trips through our parsers', () => {
  it('a streamed chunked response with trailers parses back identically', () => {
    const { wire } = respond(GET11, { type: 'response', status: 200, headers: [['X-A', '1']] }, { type: 'data', data: 'hello ' }, { type: 'data', data: 'world' }, { type: 'end', trailers: [['X-T', 'v']] });
    expect(run('response', wire)).toEqual([
      expect.objectContaining({ type: 'response', status: 200, chunked: true, headers: ['X-A', '1', 'Transfer-Encoding', 'chunked'] }),
      { type: 'data', text: 'hello world' },
      { type: 'end', trailers: ['X-T', 'v'] },
    ]);
  });
});
