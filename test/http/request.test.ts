/**
 * The Request API: target parsing, headers, cookies, addresses; response
 * fields and injection refusal; write/finish rules (write after finish
 * throws, finish after disconnect is a no-op); notifyFinish; the body
 * (content() and its limit, receiveBody, bodyStream); producers.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Failure } from '../../src/defer/failure.js';
import {
  HttpError,
  RequestBodyTooLarge,
  createTestRequest,
  render,
  responseOf,
  serializeCookie,
  parseCookies,
  type Request,
} from '../../src/http/index.js';
import { IPv4Address } from '../../src/reactor/address.js';
import { ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import type { IPullProducer, IPushProducer } from '../../src/reactor/interfaces.js';
import { captureEvents } from '../../src/logger/index.js';
import { failureResultOf, successResultOf, assertNoResult } from '../../src/testing/results.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import type { StringTransport } from '../../src/testing/stringTransport.js';
import { connect, get } from './channel-helpers.js';

function lose(request: Request, clean = false): void {
  request.channel.connectionLost(new Failure(clean ? new ConnectionDone() : new ConnectionLost()));
}

describe('the request target', () => {
  const cases: { target: string; method?: string; rawPath: string; path: string; rawQuery: string; args: Record<string, string[]> }[] = [
    { target: '/', rawPath: '/', path: '/', rawQuery: '', args: {} },
    {
      target: '/a%20b/c?x=1&x=2&y=a+b&z=%E2%98%83',
      rawPath: '/a%20b/c',
      path: '/a b/c',
      rawQuery: 'x=1&x=2&y=a+b&z=%E2%98%83',
      args: { x: ['1', '2'], y: ['a b'], z: ['☃'] },
    },
    { target: '/bad%zz/%41', rawPath: '/bad%zz/%41', path: '/bad%zz/A', rawQuery: '', args: {} },
    { target: '/caf%C3%A9?', rawPath: '/caf%C3%A9', path: '/café', rawQuery: '', args: {} },
    { target: 'http://example.com/p/q?k=v', rawPath: '/p/q', path: '/p/q', rawQuery: 'k=v', args: { k: ['v'] } },
    { target: 'http://example.com', rawPath: '/', path: '/', rawQuery: '', args: {} },
    { target: 'http://example.com?k=v', rawPath: '/', path: '/', rawQuery: 'k=v', args: { k: ['v'] } },
    { target: '*', method: 'OPTIONS', rawPath: '*', path: '*', rawQuery: '', args: {} },
  ];
  for (const c of cases) {
    it(`${c.method ?? 'GET'} ${c.target}`, () => {
      const r = createTestRequest({ method: c.method, path: c.target });
      expect(r.uri).toBe(c.target);
      expect(r.rawPath).toBe(c.rawPath);
      expect(r.path).toBe(c.path);
      expect(r.rawQuery).toBe(c.rawQuery);
      expect({ ...r.args }).toEqual(c.args);
      for (const [k, vs] of Object.entries(c.args)) expect(r.query.getAll(k)).toEqual(vs);
    });
  }
});

describe('request fields and the connection', () => {
  it('keeps every field with its raw name; getHeader ignores case', () => {
    const r = createTestRequest({
      headers: [
        ['X-Thing', 'one'],
        ['x-thing', 'two'],
        ['Accept', 'text/plain'],
      ],
    });
    expect(r.getHeader('X-THING')).toBe('one');
    expect(r.requestHeaders.getAll('x-thing')).toEqual(['one', 'two']);
    expect(r.requestHeaders.raw).toContain('X-Thing');
    expect(r.getHeader('missing')).toBeUndefined();
  });

  it('parses cookies from every Cookie field; the first value of a name wins', () => {
    const r = createTestRequest({ headers: [['Cookie', 'a=1; b="two"'], ['Cookie', 'a=3; c=4; junk']] });
    expect({ ...r.cookies }).toEqual({ a: '1', b: 'two', c: '4' });
    expect(r.getCookie('c')).toBe('4');
    expect(r.getCookie('nope')).toBeUndefined();
    expect(parseCookies(['__proto__=x'])['__proto__']).toBe('x');
  });

  it('knows the client, the server, TLS and the host name asked for', () => {
    const peer = new IPv4Address('TCP', '203.0.113.5', 40000);
    const r = createTestRequest({ peer, secure: true, headers: { Host: 'example.com:8443' } });
    expect(r.getClientAddress()).toBe(peer);
    expect(r.clientAddress).toBe(peer);
    expect(r.getHost()).toMatchObject({ host: '10.0.0.1' });
    expect(r.isSecure()).toBe(true);
    expect(r.getRequestHostname()).toBe('example.com');
    expect(createTestRequest().isSecure()).toBe(false);
    expect(createTestRequest({ headers: { Host: '[::1]:80' } }).getRequestHostname()).toBe('[::1]');
  });

  it('knows the version', () => {
    const r = createTestRequest({ httpVersion: '1.0' });
    expect(r.versionMinor).toBe(0);
    expect(r.clientproto).toBe('HTTP/1.0');
  });

  it('refuses options that do not make a valid request', () => {
    expect(() => createTestRequest({ path: 'no spaces allowed' })).toThrow();
    expect(() => createTestRequest({ headers: { 'X-A': 'a\r\nB: c' } })).toThrow(TypeError);
  });
});

describe('response fields', () => {
  it('setHeader replaces (any case), addHeader appends, removeHeader removes', async () => {
    const r = createTestRequest();
    r.setHeader('X-A', '1');
    r.setHeader('x-a', '2');
    r.addHeader('X-B', 'one');
    r.addHeader('X-B', 'two');
    r.setHeader('X-C', ['p', 'q']);
    r.setHeader('X-D', 42);
    r.addHeader('X-Gone', 'soon');
    r.removeHeader('x-gone');
    expect(r.getResponseHeader('X-A')).toBe('2');
    expect(r.responseHeaders.map(([n]) => n)).toEqual(['x-a', 'X-B', 'X-B', 'X-C', 'X-C', 'X-D']);
    r.finish();
    const res = await responseOf(r);
    expect(res.headers.getAll('x-a')).toEqual(['2']);
    expect(res.headers.getAll('x-b')).toEqual(['one', 'two']);
    expect(res.headers.getAll('x-c')).toEqual(['p', 'q']);
    expect(res.headers.get('x-d')).toBe('42');
    expect(res.headers.has('x-gone')).toBe(false);
  });

  const injections: [string, (r: Request) => void][] = [
    ['CR LF in a value', (r) => r.setHeader('X-A', 'a\r\nSet-Cookie: evil=1')],
    ['LF in a value', (r) => r.addHeader('X-A', 'a\nb')],
    ['NUL in a value', (r) => r.setHeader('X-A', 'a\0b')],
    ['a space in a name', (r) => r.setHeader('Bad Name', 'v')],
    ['a colon in a name', (r) => r.addHeader('X:Y', 'v')],
    ['an empty name', (r) => r.setHeader('', 'v')],
    ['CR LF in a reason phrase', (r) => r.setResponseCode(200, 'OK\r\nX: y')],
    ['a status below 100', (r) => r.setResponseCode(99)],
    ['a status above 599', (r) => r.setResponseCode(600)],
    ['a fractional status', (r) => r.setResponseCode(200.5)],
    ['CR LF in a cookie value', (r) => r.addCookie('a', 'b\r\nX: y')],
  ];
  for (const [name, act] of injections) {
    it(`refuses ${name} with a TypeError`, () => {
      const r = createTestRequest();
      expect(() => act(r)).toThrow(TypeError);
      r.finish('still fine');
      expect((r.transport as StringTransport).value().toString('latin1')).not.toMatch(/evil|X: y/);
    });
  }

  it('refuses to change the status or fields once writing started', () => {
    const r = createTestRequest();
    r.write('x');
    expect(() => r.setResponseCode(404)).toThrow(/already sent/);
    expect(() => r.setHeader('X-A', '1')).toThrow(/already sent/);
    expect(() => r.addCookie('a', 'b')).toThrow(/already sent/);
    r.finish();
  });

  it('uses a custom reason phrase', async () => {
    const r = createTestRequest();
    r.setResponseCode(299, 'Fine Indeed');
    r.finish();
    const res = await responseOf(r);
    expect(res.status).toBe(299);
    expect(res.reason).toBe('Fine Indeed');
  });

  it('drops the body of 204 and 304 responses', async () => {
    for (const code of [204, 304]) {
      const r = createTestRequest();
      r.setResponseCode(code);
      r.write('ignored');
      r.finish('also ignored');
      const res = await responseOf(r);
      expect(res.status).toBe(code);
      expect(res.text).toBe('');
      expect((r.transport as StringTransport).value().toString()).not.toContain('ignored');
    }
  });

  it('sends an interim 103 before the final response', async () => {
    const r = createTestRequest();
    r.sendInformational(103, [['Link', '</style.css>; rel=preload']]);
    r.finish('ok');
    const res = await responseOf(r);
    expect(res.informational).toEqual([103]);
    expect((r.transport as StringTransport).value().toString().startsWith('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n')).toBe(true);
  });

  it('redirects', async () => {
    const r = createTestRequest();
    r.redirect('/else"where', 303);
    const res = await responseOf(r);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/else"where');
    expect(res.text).toContain('/else&quot;where');
  });
});

describe('cookies out', () => {
  it('writes every attribute', async () => {
    const r = createTestRequest();
    r.addCookie('sid', 'abc123', {
      expires: new Date(Date.UTC(2030, 0, 2, 3, 4, 5)),
      maxAge: 3600,
      domain: 'example.com',
      path: '/app',
      secure: true,
      httpOnly: true,
      sameSite: 'lax',
      partitioned: true,
    });
    r.addCookie('plain', '"quoted"');
    r.finish();
    const res = await responseOf(r);
    expect(res.headers.getAll('set-cookie')).toEqual([
      'sid=abc123; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Max-Age=3600; Domain=example.com; Path=/app; Secure; HttpOnly; SameSite=Lax; Partitioned',
      'plain="quoted"',
    ]);
  });

  const bad: [string, () => string][] = [
    ['a value with a semicolon', () => serializeCookie('a', 'b;c')],
    ['a value with a space', () => serializeCookie('a', 'b c')],
    ['a name with a space', () => serializeCookie('a b', 'c')],
    ['an empty name', () => serializeCookie('', 'c')],
    ['a domain with a semicolon', () => serializeCookie('a', 'b', { domain: 'x; Secure' })],
    ['a path with CR LF', () => serializeCookie('a', 'b', { path: '/\r\nX: y' })],
    ['an unknown SameSite', () => serializeCookie('a', 'b', { sameSite: 'bogus' as 'lax' })],
    ['a fractional Max-Age', () => serializeCookie('a', 'b', { maxAge: 1.5 })],
    ['an invalid date', () => serializeCookie('a', 'b', { expires: new Date(NaN) })],
  ];
  for (const [name, fn] of bad) {
    it(`refuses ${name}`, () => {
      expect(fn).toThrow(TypeError);
    });
  }
});

describe('write and finish', () => {
  it('write after finish throws', () => {
    const r = createTestRequest();
    r.finish('done');
    expect(() => r.write('more')).toThrow(/after Request.finish/);
  });

  it('a second finish logs a warning and does nothing', () => {
    const capture = captureEvents();
    try {
      const r = createTestRequest();
      r.finish('once');
      expect(() => r.finish('twice')).not.toThrow();
      expect((r.transport as StringTransport).value().toString()).not.toContain('twice');
    } finally {
      capture.stop();
    }
    expect(capture.events.some((e) => e.log_level === 'warn' && String(e.log_format).includes('twice'))).toBe(true);
  });

  it('finish after a disconnect is a no-op, and write is ignored', () => {
    const r = createTestRequest();
    lose(r);
    expect(r.disconnected).toBe(true);
    expect(() => r.write('x')).not.toThrow();
    expect(() => r.finish('y')).not.toThrow();
    expect(r.finished).toBe(true);
    expect((r.transport as StringTransport).value().length).toBe(0);
  });

  it('counts the body bytes sent', () => {
    const r = createTestRequest();
    r.write('abc');
    r.write(Buffer.from('de'));
    r.finish('f');
    expect(r.sentLength).toBe(6);
  });

  it('throws when the body is shorter than the Content-Length set, and aborts', () => {
    const r = createTestRequest();
    r.setHeader('Content-Length', 10);
    r.write('short');
    expect(() => r.finish()).toThrow(/fewer body bytes/);
    expect((r.transport as StringTransport).disconnected).toBe(true);
  });

  it('throws when more bytes than the Content-Length are written', () => {
    const r = createTestRequest();
    r.setHeader('Content-Length', 2);
    expect(() => r.write('three')).toThrow(/more body bytes/);
  });
});

describe('notifyFinish', () => {
  it('fires when the response is finished', () => {
    const r = createTestRequest();
    const d = r.notifyFinish();
    assertNoResult(d);
    r.finish();
    expect(successResultOf(d)).toBeUndefined();
    expect(successResultOf(r.notifyFinish())).toBeUndefined();
  });

  for (const clean of [false, true]) {
    it(`fails with ConnectionLost when the client disconnects first (${clean ? 'clean close' : 'reset'})`, () => {
      const r = createTestRequest();
      const d = r.notifyFinish();
      lose(r, clean);
      failureResultOf(d, ConnectionLost);
      failureResultOf(r.notifyFinish(), ConnectionLost);
    });
  }

  it('a disconnect after the finish does not touch it', () => {
    const r = createTestRequest();
    const d = r.notifyFinish();
    r.finish();
    lose(r);
    expect(successResultOf(d)).toBeUndefined();
  });

  it('fails when the response is aborted after a late handler failure', () => {
    const r = createTestRequest();
    const d = r.notifyFinish();
    r.write('partial');
    r.processingFailed(new Error('late'));
    failureResultOf(d, ConnectionLost);
    expect((r.transport as StringTransport).disconnected).toBe(true);
    expect(flushLoggedErrors(Error)).toHaveLength(1);
  });
});

describe('the body', () => {
  it('content() buffers the whole body', () => {
    const r = createTestRequest({ method: 'POST', body: 'hello world' });
    expect(r.contentLength).toBe(11);
    expect(successResultOf(r.content()).toString()).toBe('hello world');
    expect(successResultOf(r.content()).toString()).toBe('hello world');
    expect(r.bodyComplete).toBe(true);
  });

  it('content() of a request without a body is empty', () => {
    const r = createTestRequest();
    expect(successResultOf(r.content()).length).toBe(0);
  });

  it('content() collects a chunked body as it arrives, with its trailers', () => {
    const conn = connect();
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
    const r = conn.requests[0]!;
    expect(r.contentLength).toBeNull();
    const d = r.content();
    assertNoResult(d);
    conn.send('2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n', 'bytes');
    expect(successResultOf(d).toString()).toBe('abcde');
    expect(r.trailers?.get('x-sum')).toBe('5');
  });

  it('content() refuses a declared length over maxBodySize before reading: 413', async () => {
    const r = createTestRequest({ method: 'POST', body: 'x'.repeat(20), maxBodySize: 10 });
    const f = failureResultOf(r.content(), RequestBodyTooLarge);
    expect((f.value as HttpError).status).toBe(413);
    r.processingFailed(f);
    const res = await responseOf(r);
    expect(res.status).toBe(413);
    expect(flushLoggedErrors()).toHaveLength(0);
  });

  it('after a 413 a small body is drained and the connection goes on; a large one closes it', () => {
    const small = connect((r) => (r.method === 'POST' ? r.content() : r.finish('next')), { maxBodySize: 10 });
    small.send(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n${'x'.repeat(20)}${get('/n')}`);
    expect(small.responses(['POST', 'GET']).map((r) => r.status)).toEqual([413, 200]);
    const large = connect((r) => r.content(), { maxBodySize: 10 });
    large.send(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`);
    const [res] = large.responses(['POST']);
    expect(res!.status).toBe(413);
    expect(res!.headers.get('connection')).toBe('close');
    expect(large.transport.disconnecting).toBe(true);
  });

  it('content() stops a chunked body that grows over maxBodySize: 413', () => {
    const conn = connect((r) => r.content(), { maxBodySize: 5 });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n');
    const [res] = conn.responses(['POST']);
    expect(res!.status).toBe(413);
    expect(conn.transport.disconnecting).toBe(true);
  });

  it('maxBodySize can be raised for one request before reading', () => {
    const r = createTestRequest({ method: 'POST', body: 'x'.repeat(20), maxBodySize: 10 });
    r.maxBodySize = 100;
    expect(successResultOf(r.content()).length).toBe(20);
  });

  it('content() fails with ConnectionLost when the client goes away', () => {
    const conn = connect();
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
    const d = conn.requests[0]!.content();
    conn.lose(true);
    failureResultOf(d, ConnectionLost);
  });

  it('one reader only', () => {
    const a = createTestRequest({ method: 'POST', body: 'abc' });
    a.content();
    expect(() => a.receiveBody({ data() {}, end() {} })).toThrow(/already/);
    const b = createTestRequest({ method: 'POST', body: 'abc' });
    b.receiveBody({ data() {}, end() {} });
    expect(() => b.content()).toThrow(/already/);
    expect(() => b.receiveBody({ data() {}, end() {} })).toThrow(/already/);
  });

  it('receiveBody gets the chunks as they arrive, then end', () => {
    const conn = connect();
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab');
    const seen: string[] = [];
    conn.requests[0]!.receiveBody({ data: (c) => seen.push(Buffer.from(c).toString()), end: () => seen.push('<end>') });
    expect(seen).toEqual(['ab']);
    conn.send('cd');
    conn.send('ef');
    expect(seen).toEqual(['ab', 'cd', 'ef', '<end>']);
  });

  it('receiveBody hears about a disconnect', () => {
    const conn = connect();
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab');
    const errors: unknown[] = [];
    conn.requests[0]!.receiveBody({ data() {}, end() {}, error: (f) => errors.push(f.value) });
    conn.lose();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConnectionLost);
  });

  it('bodyStream iterates the chunks with backpressure', async () => {
    const conn = connect(undefined, { maxBufferedBytes: 4 });
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n');
    const r = conn.requests[0]!;
    const it = r.bodyStream(8);
    conn.send('0123456789');
    expect(conn.transport.producerState).toBe('producing');
    conn.send('abcdefghij');
    expect(conn.transport.producerState).toBe('paused');
    const chunks: string[] = [];
    const drained = (async () => {
      for await (const c of it) chunks.push(Buffer.from(c).toString());
    })();
    await new Promise((res) => setImmediate(res));
    expect(conn.transport.producerState).toBe('producing');
    conn.send('ABCDEFGHIJ');
    await drained;
    expect(chunks.join('')).toBe('0123456789abcdefghijABCDEFGHIJ');
  });

  it('bodyStream rejects when the body cannot complete; breaking out discards the rest', async () => {
    const conn = connect();
    conn.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nabc');
    const it = conn.requests[0]!.bodyStream();
    expect((await it.next()).value).toBeDefined();
    const pending = it.next();
    conn.lose();
    await expect(pending).rejects.toBeInstanceOf(ConnectionLost);

    const conn2 = connect((r) => {
      void (async () => {
        for await (const _ of r.bodyStream()) break;
        r.finish('stopped');
      })();
    });
    conn2.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab');
    await new Promise((res) => setImmediate(res));
    conn2.send('cdef' + get('/next'));
    await new Promise((res) => setImmediate(res));
    expect(conn2.responses(['POST', 'GET']).map((x) => x.body)).toEqual(['stopped', 'stopped']);
    expect(conn2.requests).toHaveLength(2);
  });
});

describe('producers', () => {
  class Push implements IPushProducer {
    log: string[] = [];
    pauseProducing(): void {
      this.log.push('pause');
    }
    resumeProducing(): void {
      this.log.push('resume');
    }
    stopProducing(): void {
      this.log.push('stop');
    }
  }

  it('a push producer is registered on the transport and unregistered by finish', () => {
    const r = createTestRequest();
    const p = new Push();
    r.registerProducer(p, true);
    const t = r.transport as StringTransport;
    expect(t.producer).toBe(p);
    expect(t.streaming).toBe(true);
    expect(() => r.registerProducer(new Push(), true)).toThrow(/already registered/);
    r.write('chunk');
    r.finish();
    expect(t.producer).toBeNull();
  });

  it('a pull producer writes on demand', async () => {
    const r = createTestRequest();
    let n = 0;
    const pull: IPullProducer = {
      resumeProducing: () => {
        n++;
        if (n <= 3) r.write(`part${n} `);
        else r.finish();
      },
      stopProducing: () => undefined,
    };
    r.registerProducer(pull, false);
    const t = r.transport as StringTransport;
    expect(t.streaming).toBe(false);
    for (let i = 0; i < 4; i++) pull.resumeProducing();
    expect(t.producer).toBeNull();
    expect((await responseOf(r)).text).toBe('part1 part2 part3 ');
  });

  it('unregisterProducer detaches it', () => {
    const r = createTestRequest();
    r.registerProducer(new Push(), true);
    r.unregisterProducer();
    expect((r.transport as StringTransport).producer).toBeNull();
    r.unregisterProducer();
    r.finish();
  });

  it('a producer registered after a disconnect is stopped at once', () => {
    const r = createTestRequest();
    lose(r);
    const p = new Push();
    r.registerProducer(p, true);
    expect(p.log).toEqual(['stop']);
  });
});

describe('errors as responses', () => {
  it('HttpError takes a 4xx or 5xx status only', () => {
    expect(() => new HttpError(200)).toThrow(RangeError);
    expect(new HttpError(404).message).toBe('Not Found');
  });

  it('an HttpError carries extra fields', async () => {
    const res = await render(() => {
      throw new HttpError(503, 'maintenance', { headers: [['Retry-After', '120']] });
    }, createTestRequest());
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('120');
    expect(res.text).toContain('maintenance');
  });

  it('an unexpected error is a 500 without details, logged once', async () => {
    const res = await render(() => {
      throw new Error('secret detail');
    }, createTestRequest());
    expect(res.status).toBe(500);
    expect(res.text).not.toContain('secret');
    expect(flushLoggedErrors(Error)).toHaveLength(1);
  });
});
