/**
 * The conveniences (get, post, getJSON, postJSON) on a MemoryReactorClock:
 * what they send, what they give back, errors; the default agent per
 * reactor follows redirects and decodes.
 */
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { HTTPStatusError } from '../../src/http/client/errors.js';
import { defaultAgent, get, getJSON, post, postJSON } from '../../src/http/client/json.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { failureResultOf, successResultOf } from '../../src/testing/results.js';
import { harness, ok } from './client-helpers.js';

describe('get and post', () => {
  it('get: the whole response, whatever the status', () => {
    const h = harness();
    const d = get('http://example.com/missing', { reactor: h.reactor, headers: { 'X-A': '1' } });
    const { server } = h.connect();
    expect(server.text()).toBe(
      'GET /missing HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nAccept-Encoding: gzip, deflate\r\nConnection: close\r\n\r\n',
    );
    server.send('HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope');
    h.flush();
    const r = successResultOf(d);
    expect(r.status).toBe(404);
    expect(r.statusText).toBe('Not Found');
    expect(r.body.toString()).toBe('nope');
    expect(r.url).toBe('http://example.com/missing');
    expect(r.headers.get('content-length')).toBe('4');
  });

  const bodies: [string, unknown, string, string | undefined][] = [
    ['an object, as JSON', { a: [1, 'two'] }, '{"a":[1,"two"]}', 'application/json'],
    ['null, as JSON', null, 'null', 'application/json'],
    ['a number, as JSON', 42, '42', 'application/json'],
    ['a string, as it is', 'a=1&b=2', 'a=1&b=2', undefined],
    ['bytes, as they are', Buffer.from([1, 2, 3]), '\x01\x02\x03', undefined],
  ];
  it.each(bodies)('post %s', (_name, value, sent, contentType) => {
    const h = harness();
    const d = post('http://example.com/items', value, { reactor: h.reactor });
    const { server } = h.connect();
    const raw = server.text();
    expect(raw.endsWith(`\r\n\r\n${sent}`)).toBe(true);
    expect(raw).toContain(`\r\nContent-Length: ${sent.length}\r\n`);
    if (contentType === undefined) expect(raw).not.toContain('Content-Type');
    else expect(raw).toContain(`\r\nContent-Type: ${contentType}\r\n`);
    server.send(ok('created'));
    h.flush();
    expect(successResultOf(d).body.toString()).toBe('created');
  });

  it('post keeps a Content-Type given by the caller', () => {
    const h = harness();
    post('http://example.com/', { a: 1 }, { reactor: h.reactor, headers: [['content-type', 'application/vnd.x+json']] }).addErrback(() => null);
    const raw = h.connect().server.text();
    expect(raw).toContain('\r\ncontent-type: application/vnd.x+json\r\n');
    expect(raw).not.toContain('application/json');
  });

  it('post refuses what JSON cannot encode', () => {
    expect(() => post('http://example.com/', undefined, { reactor: new MemoryReactorClock() })).toThrow(TypeError);
    expect(() => postJSON('http://example.com/', () => 1, { reactor: new MemoryReactorClock() })).toThrow(TypeError);
  });

  it('validation errors are thrown before anything is sent', () => {
    const reactor = new MemoryReactorClock();
    expect(() => get('http://example.com/a b', { reactor })).toThrow(TypeError);
    expect(() => get('http://example.com/', { reactor, headers: [['X', 'a\r\nb']] })).toThrow(TypeError);
    expect(reactor.tcpClients).toEqual([]);
  });

  it('maxSize bounds the body', () => {
    const h = harness();
    const d = get('http://example.com/', { reactor: h.reactor, maxSize: 3 });
    h.connect().server.send(ok('too long'));
    h.flush();
    failureResultOf(d, Error);
  });
});

describe('getJSON and postJSON', () => {
  it('getJSON sends Accept and parses the body', () => {
    const h = harness();
    const d = getJSON<{ name: string }>('http://example.com/user', { reactor: h.reactor });
    const { server } = h.connect();
    expect(server.text()).toContain('\r\nAccept: application/json\r\n');
    server.send(ok('{"name":"spindle"}', 'Content-Type: application/json\r\n'));
    h.flush();
    expect(successResultOf(d)).toEqual({ name: 'spindle' });
  });

  it('getJSON fails with HTTPStatusError (status, headers and body) unless 2xx', () => {
    const h = harness();
    const d = getJSON('http://example.com/user', { reactor: h.reactor });
    h.connect().server.send('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!');
    h.flush();
    const f = failureResultOf(d, HTTPStatusError);
    expect(f.value.status).toBe(500);
    expect(f.value.body.toString()).toBe('oops!');
    expect(f.value.message).toBe('http://example.com/user answered 500 Internal Server Error');
  });

  it('getJSON fails with SyntaxError on a body that is not JSON', () => {
    const h = harness();
    const d = getJSON('http://example.com/', { reactor: h.reactor });
    h.connect().server.send(ok('<html>'));
    h.flush();
    failureResultOf(d, SyntaxError);
  });

  it('postJSON sends JSON and parses the answer', () => {
    const h = harness();
    const d = postJSON<number[]>('http://example.com/sum', 'text', { reactor: h.reactor });
    const raw = h.connect().server.text();
    expect(raw.endsWith('\r\n\r\n"text"')).toBe(true);
    expect(raw).toContain('\r\nContent-Type: application/json\r\n');
    expect(raw).toContain('\r\nAccept: application/json\r\n');
    h.servers[0]!.send(ok('[1,2]'));
    h.flush();
    expect(successResultOf(d)).toEqual([1, 2]);
  });
});

describe('the default agent', () => {
  it('is one per reactor, follows redirects and decodes gzip', async () => {
    const h = harness();
    expect(defaultAgent(h.reactor)).toBe(defaultAgent(h.reactor));
    expect(defaultAgent(h.reactor)).not.toBe(defaultAgent(new MemoryReactorClock()));
    const d = get('http://example.com/old', { reactor: h.reactor });
    h.connect().server.send('HTTP/1.1 301 Moved\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n');
    h.flush();
    const gz = zlib.gzipSync(Buffer.from('moved and zipped'));
    const second = h.connect().server;
    expect(second.text()).toMatch(/^GET \/new HTTP\/1\.1\r\n/);
    second.send(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`);
    second.send(gz);
    h.flush();
    const r = await d;
    expect(r.body.toString()).toBe('moved and zipped');
    expect(r.url).toBe('http://example.com/new');
  });
});
