/**
 * RedirectAgent over an Agent on a MemoryReactorClock: which statuses are
 * followed and how the method and body change (303 → GET, 301/302 POST →
 * GET, 307/308 keep them), relative Locations, credentials dropped on
 * cross-origin redirects and kept on same-origin ones (CVE-2022-21712),
 * the redirect limit with its history, the previousResponse chain.
 */
import { describe, expect, it } from 'vitest';
import type { Deferred } from '../../src/defer/deferred.js';
import {
  InfiniteRedirection,
  RedirectBodyNotReplayable,
  SchemeNotSupported,
} from '../../src/http/client/errors.js';
import type { RequestBody } from '../../src/http/client/protocol.js';
import { readBody } from '../../src/http/client/readBody.js';
import { RedirectAgent } from '../../src/http/client/redirect.js';
import type { Response } from '../../src/http/client/response.js';
import { failureResultOf, successResultOf } from '../../src/testing/results.js';
import { harness, ok, type Harness, type ScriptedServer } from './client-helpers.js';

/** Drives the scripted servers: answers the next unanswered request, wherever it went. */
class Driver {
  readonly h: Harness;
  readonly agent: RedirectAgent;
  private readonly consumed = new Map<ScriptedServer, number>();
  /** The raw requests received, in order. */
  readonly requests: string[] = [];

  constructor(maxRedirects?: number) {
    this.h = harness();
    this.agent = new RedirectAgent(this.h.agent, maxRedirects === undefined ? {} : { maxRedirects });
  }

  /** Answer the request waiting now (connecting first if needed); returns the raw request. */
  answer(response: string): string {
    const h = this.h;
    if (h.pending() > 0) h.connect();
    h.flush();
    const server = h.servers.find((s) => s.text().length > (this.consumed.get(s) ?? 0));
    if (server === undefined) throw new Error('no request is waiting for an answer');
    // One request at a time per connection: everything since the last answer is this request.
    const text = server.text();
    const raw = text.slice(this.consumed.get(server) ?? 0);
    this.consumed.set(server, text.length);
    this.requests.push(raw);
    server.send(response);
    h.flush();
    return raw;
  }
}

function redirect(status: number, location: string, body = 'moved'): string {
  return `HTTP/1.1 ${status} Moved\r\nLocation: ${location}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

function requestLine(raw: string): string {
  return raw.slice(0, raw.indexOf('\r\n'));
}

function field(raw: string, name: string): string | undefined {
  const m = new RegExp(`\\r\\n${name}: ([^\\r]*)\\r\\n`, 'i').exec(raw);
  return m === null ? undefined : m[1];
}

function bodyOf(raw: string): string {
  return raw.slice(raw.indexOf('\r\n\r\n') + 4);
}

describe('which redirects are followed, and how', () => {
  const cases: [string, string, number, string | null, string, string | null][] = [
    // [name, method, status, body, next method, next body]
    ['301 GET', 'GET', 301, null, 'GET', null],
    ['302 GET', 'GET', 302, null, 'GET', null],
    ['303 GET', 'GET', 303, null, 'GET', null],
    ['307 GET', 'GET', 307, null, 'GET', null],
    ['308 GET', 'GET', 308, null, 'GET', null],
    ['303 HEAD stays HEAD', 'HEAD', 303, null, 'HEAD', null],
    ['303 POST becomes GET without a body', 'POST', 303, 'data', 'GET', null],
    ['303 PUT becomes GET without a body', 'PUT', 303, 'data', 'GET', null],
    ['301 POST becomes GET (as browsers do)', 'POST', 301, 'data', 'GET', null],
    ['302 POST becomes GET (as browsers do)', 'POST', 302, 'data', 'GET', null],
    ['302 PUT keeps method and body', 'PUT', 302, 'data', 'PUT', 'data'],
    ['307 POST keeps method and body', 'POST', 307, 'data', 'POST', 'data'],
    ['308 POST keeps method and body', 'POST', 308, 'data', 'POST', 'data'],
    ['307 DELETE keeps the method', 'DELETE', 307, null, 'DELETE', null],
  ];
  it.each(cases)('%s', (_name, method, status, body, nextMethod, nextBody) => {
    const drv = new Driver();
    const headers = [
      ['Content-Type', 'text/plain'],
      ['X-Keep', 'yes'],
    ] as [string, string][];
    const d = drv.agent.request(method, 'http://example.com/old', headers, body);
    drv.answer(redirect(status, '/new', method === 'HEAD' ? '' : 'moved'));
    const raw = drv.answer(nextMethod === 'HEAD' ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n' : ok('final'));
    expect(requestLine(raw)).toBe(`${nextMethod} /new HTTP/1.1`);
    expect(field(raw, 'X-Keep')).toBe('yes');
    if (nextBody === null) {
      expect(field(raw, 'Content-Length')).toBeUndefined();
      expect(bodyOf(raw)).toBe('');
    } else {
      expect(field(raw, 'Content-Length')).toBe(String(nextBody.length));
      expect(bodyOf(raw)).toBe(nextBody);
    }
    // The body's description goes with the body.
    expect(field(raw, 'Content-Type')).toBe(nextBody === null && body !== null ? undefined : 'text/plain');
    const response = successResultOf(d);
    expect(response.status).toBe(200);
    expect(response.url).toBe('http://example.com/new');
    expect(response.previousResponse!.status).toBe(status);
    expect(response.previousResponse!.url).toBe('http://example.com/old');
    expect(response.previousResponse!.previousResponse).toBeNull();
  });

  const notFollowed: [string, string][] = [
    ['300 Multiple Choices', 'HTTP/1.1 300 Multiple Choices\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n'],
    ['304 Not Modified', 'HTTP/1.1 304 Not Modified\r\nLocation: /x\r\n\r\n'],
    ['a 302 without Location', 'HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n'],
    ['200 with a Location', 'HTTP/1.1 200 OK\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n'],
  ];
  it.each(notFollowed)('%s is returned as it is', (_name, answer) => {
    const drv = new Driver();
    const d = drv.agent.request('GET', 'http://example.com/');
    drv.answer(answer);
    const response = successResultOf(d);
    expect(response.previousResponse).toBeNull();
    expect(drv.requests).toHaveLength(1);
  });

  it('a 307 of a streamed body fails with RedirectBodyNotReplayable, carrying the response', async () => {
    const drv = new Driver();
    async function* body() {
      yield 'stream';
    }
    const d = drv.agent.request('POST', 'http://example.com/up', null, body() as RequestBody);
    drv.h.connect();
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      drv.h.flush();
    }
    drv.answer(redirect(307, '/elsewhere'));
    const f = failureResultOf(d, RedirectBodyNotReplayable);
    expect(f.value.response.status).toBe(307);
    expect(f.value.history.map((r) => r.status)).toEqual([307]);
  });

  it('a 303 of a streamed body is followed (as a GET)', async () => {
    const drv = new Driver();
    async function* body() {
      yield 'stream';
    }
    const d = drv.agent.request('POST', 'http://example.com/up', null, body() as RequestBody);
    drv.h.connect();
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      drv.h.flush();
    }
    drv.answer(redirect(303, '/result'));
    expect(requestLine(drv.answer(ok('')))).toBe('GET /result HTTP/1.1');
    successResultOf(d);
  });
});

describe('Location', () => {
  const cases: [string, string, string][] = [
    ['relative to the path', 'next', 'http://example.com/a/next'],
    ['absolute path', '/root?q=1', 'http://example.com/root?q=1'],
    ['dot segments', '../up', 'http://example.com/up'],
    ['query only', '?page=2', 'http://example.com/a/b?page=2'],
    ['scheme-relative', '//example.com:8080/x', 'http://example.com:8080/x'],
    ['absolute', 'http://example.com/abs', 'http://example.com/abs'],
    ['with spaces to encode', '/with space', 'http://example.com/with%20space'],
  ];
  it.each(cases)('%s: %s', (_name, location, expected) => {
    const drv = new Driver();
    const d = drv.agent.request('GET', 'http://example.com/a/b');
    drv.answer(redirect(302, location));
    drv.answer(ok(''));
    expect(successResultOf(d).url).toBe(expected);
  });

  it('a Location with another scheme fails with SchemeNotSupported', () => {
    const drv = new Driver();
    const d = drv.agent.request('GET', 'http://example.com/');
    drv.answer(redirect(302, 'ftp://example.com/file'));
    failureResultOf(d, SchemeNotSupported);
  });

  it('an invalid Location fails with a TypeError', () => {
    const drv = new Driver();
    const d = drv.agent.request('GET', 'http://example.com/');
    drv.answer(redirect(302, 'http://exa mple.com/'));
    failureResultOf(d, TypeError);
  });
});

describe('credentials and cross-origin redirects (CVE-2022-21712)', () => {
  const sensitive: [string, string][] = [
    ['Authorization', 'Bearer secret'],
    ['Cookie', 'session=secret'],
    ['Proxy-Authorization', 'Basic c2VjcmV0'],
  ];
  const headers = (): [string, string][] => [...sensitive, ['X-Other', 'kept']];

  const crossOrigin: [string, string][] = [
    ['another host', 'http://other.example/x'],
    ['another port', 'http://example.com:8080/x'],
    ['another scheme', 'https://example.com/x'],
  ];
  it.each(crossOrigin)('to %s: Authorization, Cookie and Proxy-Authorization are dropped', (_name, location) => {
    const drv = new Driver();
    const d = drv.agent.request('GET', 'http://example.com/start', headers());
    const first = drv.answer(redirect(301, location));
    for (const [name, value] of sensitive) expect(field(first, name)).toBe(value);
    const second = drv.answer(ok('there'));
    for (const [name] of sensitive) expect(field(second, name)).toBeUndefined();
    expect(field(second, 'X-Other')).toBe('kept');
    expect(field(second, 'Host')).toBe(new URL(location).host);
    expect(successResultOf(d).url).toBe(location);
  });

  it('same origin: they are kept, and the connection is reused', () => {
    const drv = new Driver();
    const d = drv.agent.request('GET', 'http://example.com/start', headers());
    drv.answer(redirect(302, 'http://EXAMPLE.com:80/same'));
    const second = drv.answer(ok(''));
    for (const [name, value] of sensitive) expect(field(second, name)).toBe(value);
    successResultOf(d);
    expect(drv.h.reactor.tcpClients).toHaveLength(1);
  });

  it('once dropped they stay dropped, even back on the first origin', () => {
    const drv = new Driver();
    const d = drv.agent.request('GET', 'http://example.com/start', headers());
    drv.answer(redirect(302, 'http://other.example/hop'));
    drv.answer(redirect(302, 'http://example.com/back'));
    const last = drv.answer(ok(''));
    expect(requestLine(last)).toBe('GET /back HTTP/1.1');
    for (const [name] of sensitive) expect(field(last, name)).toBeUndefined();
    successResultOf(d);
  });

  it('a Host of the caller is not sent to another origin', () => {
    const drv = new Driver();
    const d = drv.agent.request('GET', 'http://example.com/', [['Host', 'virtual.example']]);
    expect(field(drv.answer(redirect(302, 'http://other.example/')), 'Host')).toBe('virtual.example');
    expect(field(drv.answer(ok('')), 'Host')).toBe('other.example');
    successResultOf(d);
  });
});

describe('limits and history', () => {
  it('more than maxRedirects fails with InfiniteRedirection carrying every response', () => {
    const drv = new Driver(2);
    const d = drv.agent.request('GET', 'http://example.com/0');
    drv.answer(redirect(302, '/1'));
    drv.answer(redirect(302, '/2'));
    drv.answer(redirect(302, '/3'));
    const f = failureResultOf(d, InfiniteRedirection);
    expect(f.value.history.map((r) => r.url)).toEqual(['http://example.com/0', 'http://example.com/1', 'http://example.com/2']);
    expect(f.value.response.url).toBe('http://example.com/2');
    expect(drv.requests).toHaveLength(3);
  });

  it('maxRedirects redirects are fine; previousResponse links the whole chain', () => {
    const drv = new Driver(3);
    const d = drv.agent.request('GET', 'http://example.com/0');
    for (let i = 1; i <= 3; i++) drv.answer(redirect(i === 2 ? 307 : 301, `/${i}`));
    drv.answer(ok('end'));
    const chain: number[] = [];
    for (let r: Response | null = successResultOf(d); r !== null; r = r.previousResponse) chain.push(r.status);
    expect(chain).toEqual([200, 301, 307, 301]);
  });

  it('a loop is stopped by the limit (default 20)', () => {
    const drv = new Driver();
    const d: Deferred<Response> = drv.agent.request('GET', 'http://example.com/loop');
    for (let i = 0; i <= 20; i++) drv.answer(redirect(302, '/loop'));
    expect(failureResultOf(d, InfiniteRedirection).value.history).toHaveLength(21);
  });

  it('redirect bodies are discarded so the connection is reused', () => {
    const drv = new Driver();
    const d = drv.agent.request('GET', 'http://example.com/a');
    drv.answer(redirect(302, '/b', 'x'.repeat(1000)));
    drv.answer(ok('done'));
    const response = successResultOf(d);
    expect(response.previousResponse!.bodyUsed).toBe(true);
    expect(successResultOf(readBody(response)).toString()).toBe('done');
    expect(drv.h.reactor.tcpClients).toHaveLength(1);
  });

  it('refuses a negative maxRedirects', () => {
    expect(() => new RedirectAgent(harness().agent, { maxRedirects: -1 })).toThrow(RangeError);
  });
});
