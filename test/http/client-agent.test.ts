/**
 * Agent and HTTPConnectionPool on a MemoryReactorClock with in-memory
 * connections: validation before anything is sent, the request as sent,
 * connecting (refused, timed out, cancelled), pool reuse (LIFO), the idle
 * limit and idle timeout, the concurrency cap and its FIFO queue, what is
 * not returned to the pool, the one retry on a stale connection, cancel.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { CancelledError } from '../../src/defer/errors.js';
import { Failure } from '../../src/defer/failure.js';
import { Agent } from '../../src/http/client/agent.js';
import {
  RequestNotSent,
  ResponseBodyTooLarge,
  ResponseFailed,
  ResponseNeverReceived,
  SchemeNotSupported,
} from '../../src/http/client/errors.js';
import { HTTPConnectionPool, shouldRetry } from '../../src/http/client/pool.js';
import type { ClientRequest, RequestBody } from '../../src/http/client/protocol.js';
import { readBody } from '../../src/http/client/readBody.js';
import { ConnectionDone, ConnectionLost, ConnectionRefusedError, TCPTimedOutError } from '../../src/reactor/errors.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import { harness, ok, type Harness, type ScriptedServer } from './client-helpers.js';

/** Request `url` on a new connection, answer with `answer`; the body as text, and the server end. */
function fetchText(h: Harness, url: string, answer: string): { text: string; server: ScriptedServer } {
  const d = h.agent.request('GET', url);
  const { server } = h.connect();
  server.send(answer);
  h.flush();
  return { text: successResultOf(readBody(successResultOf(d))).toString('latin1'), server };
}

describe('validation: a TypeError before anything is sent (CVE-2019-12387)', () => {
  const methods: [string, string][] = [
    ['a space', 'GE T'],
    ['CRLF', 'GET\r\nX: y'],
    ['empty', ''],
    ['NUL', 'G\x00'],
    ['non-ASCII', 'GÉT'],
    ['a separator', 'GET/'],
  ];
  it.each(methods)('method with %s', (_name, method) => {
    const h = harness();
    expect(() => h.agent.request(method, 'http://example.com/')).toThrow(TypeError);
    expect(h.reactor.tcpClients).toEqual([]);
  });

  const urls: [string, string, (new (...a: never[]) => Error)?][] = [
    ['a space in the path', 'http://example.com/a b'],
    ['CRLF in the path (request splitting)', 'http://example.com/\r\nX-Injected: 1'],
    ['a bare LF', 'http://example.com/a\nb'],
    ['a bare CR', 'http://example.com/a\rb'],
    ['a TAB (which URL parsing would drop silently)', 'http://example.com/a\tb'],
    ['a space in the host', 'http://exa mple.com/'],
    ['a leading space', ' http://example.com/'],
    ['NUL', 'http://example.com/\x00'],
    ['DEL', 'http://example.com/\x7f'],
    ['not a URL', 'not a url'],
    ['a relative URL', '/relative'],
    ['ftp', 'ftp://example.com/', SchemeNotSupported],
    ['a file URL', 'file:///etc/passwd', SchemeNotSupported],
    ['credentials', 'http://user:secret@example.com/'],
  ];
  it.each(urls)('URL with %s', (_name, url, type) => {
    const h = harness();
    expect(() => h.agent.request('GET', url)).toThrow(type ?? TypeError);
    expect(h.reactor.tcpClients).toEqual([]);
  });

  const headers: [string, unknown][] = [
    ['CRLF in a value (header injection)', [['X-A', 'a\r\nX-B: c']]],
    ['LF in a value', [['X-A', 'a\nb']]],
    ['CR in a value', { 'X-A': 'a\rb' }],
    ['NUL in a value', [['X-A', 'a\x00']]],
    ['a control in a value', [['X-A', 'a\x01']]],
    ['a character above U+00FF', [['X-A', 'euro €']]],
    ['a space in a name', [['X A', 'v']]],
    ['a colon in a name', { 'X:A': 'v' }],
    ['CRLF in a name', [['X\r\nY', 'v']]],
    ['an empty name', [['', 'v']]],
    ['a value that is not a string', [['X-A', {}]]],
    ['Content-Length (the body decides)', [['Content-Length', '5']]],
    ['Transfer-Encoding (the body decides)', { 'Transfer-Encoding': 'chunked' }],
  ];
  it.each(headers)('header with %s', (_name, fields) => {
    const h = harness();
    expect(() => h.agent.request('GET', 'http://example.com/', fields as never)).toThrow(TypeError);
    expect(h.reactor.tcpClients).toEqual([]);
  });

  it('a body of the wrong type', () => {
    const h = harness();
    expect(() => h.agent.request('POST', 'http://example.com/', null, 42 as unknown as RequestBody)).toThrow(TypeError);
    expect(h.reactor.tcpClients).toEqual([]);
  });

  it('accepts TAB and latin1 in values, numbers, records with repeated values and URL objects', () => {
    const h = harness();
    const d = h.agent.request('GET', new URL('http://example.com/é?q=ü'), { 'X-A': 'a\tb \xe9', 'X-N': 3, 'X-R': ['1', '2'] });
    const { server } = h.connect();
    expect(server.text()).toBe(
      'GET /%C3%A9?q=%C3%BC HTTP/1.1\r\nHost: example.com\r\nX-A: a\tb \xe9\r\nX-N: 3\r\nX-R: 1\r\nX-R: 2\r\n\r\n',
    );
    server.send(ok(''));
    h.flush();
    successResultOf(d);
  });
});

describe('the request as sent', () => {
  it('connects to the URL host and port and sends Host from the URL', () => {
    const h = harness();
    const d = h.agent.request('GET', 'http://example.com/path?q=1#fragment');
    expect(h.reactor.tcpClients).toHaveLength(1);
    expect(h.reactor.tcpClients[0]).toMatchObject({ host: 'example.com', port: 80, timeout: 30 });
    const { server } = h.connect();
    expect(server.text()).toBe('GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n');
    server.send(ok('hi'));
    h.flush();
    const r = successResultOf(d);
    expect(r.url).toBe('http://example.com/path?q=1#fragment');
    expect(r.request.headers).toEqual([['Host', 'example.com']]);
  });

  const hosts: [string, string, number, string][] = [
    ['http://Example.COM:8080/', 'example.com', 8080, 'example.com:8080'],
    ['http://example.com:80/', 'example.com', 80, 'example.com'],
    ['http://127.0.0.1:8080/', '127.0.0.1', 8080, '127.0.0.1:8080'],
    ['http://[::1]:8080/', '::1', 8080, '[::1]:8080'],
    ['http://bücher.example/', 'xn--bcher-kva.example', 80, 'xn--bcher-kva.example'],
  ];
  it.each(hosts)('%s → connect to %s:%d with Host %s', (url, host, port, hostHeader) => {
    const h = harness();
    const d = h.agent.request('GET', url);
    expect(h.reactor.tcpClients[0]).toMatchObject({ host, port });
    const { server } = h.connect();
    expect(server.text()).toContain(`\r\nHost: ${hostHeader}\r\n`);
    server.send(ok(''));
    h.flush();
    successResultOf(d);
  });

  it('https connects with TLS (ALPN http/1.1, the agent TLS options) to port 443', () => {
    const h = harness({}, { tls: { rejectUnauthorized: false } });
    const d = h.agent.request('GET', 'https://example.com/');
    expect(h.reactor.tcpClients).toEqual([]);
    expect(h.reactor.sslClients[0]).toMatchObject({ host: 'example.com', port: 443 });
    expect(h.reactor.sslClients[0]!.tls).toEqual({ alpnProtocols: ['http/1.1'], rejectUnauthorized: false });
    const { server } = h.connect();
    expect(server.text()).toBe('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
    server.send(ok('secure'));
    h.flush();
    expect(successResultOf(readBody(successResultOf(d))).toString()).toBe('secure');
  });

  it('a Host given by the caller replaces the one from the URL', () => {
    const h = harness();
    h.agent.request('GET', 'http://127.0.0.1:8080/', [['Host', 'virtual.example']]).addErrback(() => null);
    expect(h.connect().server.text()).toBe('GET / HTTP/1.1\r\nHost: virtual.example\r\n\r\n');
  });

  it('without a pool of its own, an Agent sends Connection: close and does not keep the connection', () => {
    const h = harness();
    const agent = new Agent(h.reactor);
    expect(agent.pool.persistent).toBe(false);
    const d = agent.request('POST', 'http://example.com/', null, 'x');
    const { server } = h.connect();
    expect(server.text()).toBe('POST / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx');
    server.send(ok('done'));
    h.flush();
    expect(successResultOf(readBody(successResultOf(d))).toString()).toBe('done');
    expect(server.lost).not.toBeNull();
    expect(agent.pool.idleCount()).toBe(0);
  });

  it('a streamed body goes chunked through the pump', async () => {
    const h = harness();
    async function* body() {
      yield 'one,';
      yield 'two';
    }
    const d = h.agent.request('PUT', 'http://example.com/up', null, body());
    const { server } = h.connect();
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      h.flush();
    }
    expect(server.text()).toBe('PUT /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n');
    server.send(ok(''));
    h.flush();
    expect(successResultOf(d).status).toBe(200);
  });
});

describe('connecting', () => {
  it('a refused connection fails the request with the connect error', () => {
    const h = harness();
    const d = h.agent.request('GET', 'http://example.com/');
    h.refuse(new ConnectionRefusedError('refused'));
    failureResultOf(d, ConnectionRefusedError);
    expect(h.pool.openCount('http://example.com:80')).toBe(0);
  });

  it('connectTimeout runs on the reactor clock: TCPTimedOutError and the attempt is stopped', () => {
    const h = harness({}, { connectTimeout: 5 });
    const d = h.agent.request('GET', 'http://example.com/');
    expect(h.reactor.tcpClients[0]!.timeout).toBe(5);
    h.reactor.advance(4.9);
    assertNoResult(d);
    h.reactor.advance(0.1);
    failureResultOf(d, TCPTimedOutError);
    expect(h.reactor.connectors[0]!.stoppedConnecting).toBe(true);
    expect(h.pending()).toBe(0);
    expect(h.reactor.getDelayedCalls()).toEqual([]);
  });

  it('a connection made in time cancels the connect timer', () => {
    const h = harness({}, { connectTimeout: 5 });
    h.agent.request('GET', 'http://example.com/').addErrback(() => null);
    h.connect();
    h.reactor.advance(10);
    expect(h.servers[0]!.lost).toBeNull();
  });

  it('cancelling while connecting stops the attempt', () => {
    const h = harness();
    const d = h.agent.request('GET', 'http://example.com/');
    d.cancel();
    failureResultOf(d, CancelledError);
    expect(h.reactor.connectors[0]!.stoppedConnecting).toBe(true);
    expect(h.pool.openCount('http://example.com:80')).toBe(0);
  });

  it('invalid agent options are refused', () => {
    const reactor = new MemoryReactorClock();
    expect(() => new Agent(reactor, { connectTimeout: 0 })).toThrow(RangeError);
    expect(() => new Agent(reactor, { requestTimeout: -1 })).toThrow(RangeError);
    expect(() => new HTTPConnectionPool(reactor, { maxPersistentPerHost: -1 })).toThrow(RangeError);
    expect(() => new HTTPConnectionPool(reactor, { maxConnectionsPerHost: 0 })).toThrow(RangeError);
  });
});

describe('the pool', () => {
  it('reuses a keep-alive connection for the next request to the same host', () => {
    const h = harness();
    expect(fetchText(h, 'http://example.com/1', ok('one')).text).toBe('one');
    expect(h.pool.idleCount('http://example.com:80')).toBe(1);
    const d = h.agent.request('GET', 'http://example.com/2');
    expect(h.pending()).toBe(0);
    h.flush();
    const server = h.servers[0]!;
    expect(server.requestLines()).toEqual(['GET /1 HTTP/1.1', 'GET /2 HTTP/1.1']);
    server.send(ok('two'));
    h.flush();
    expect(successResultOf(readBody(successResultOf(d))).toString()).toBe('two');
    expect(h.reactor.tcpClients).toHaveLength(1);
  });

  it('keys connections by scheme, host and port', () => {
    const h = harness();
    for (const url of ['http://a.example/', 'http://b.example/', 'http://a.example:8080/', 'https://a.example/']) {
      const d = h.agent.request('GET', url);
      const { server } = h.connect();
      server.send(ok(''));
      h.flush();
      successResultOf(readBody(successResultOf(d)));
    }
    expect(h.pool.idleCount()).toBe(4);
    for (const key of ['http://a.example:80', 'http://b.example:80', 'http://a.example:8080', 'https://a.example:443']) {
      expect(h.pool.idleCount(key)).toBe(1);
    }
  });

  it('reuses the most recently idle connection first (LIFO) and closes the oldest beyond maxPersistentPerHost', () => {
    const h = harness({ maxPersistentPerHost: 2 });
    const ds = [0, 1, 2].map((i) => h.agent.request('GET', `http://example.com/${i}`));
    const servers = [0, 1, 2].map(() => h.connect().server);
    for (const [i, server] of servers.entries()) {
      server.send(ok(`${i}`));
      h.flush();
      successResultOf(readBody(successResultOf(ds[i]!)));
    }
    // Idle, oldest first: 0 (closed: one too many), 1, 2.
    expect(servers[0]!.lost).not.toBeNull();
    expect(h.pool.idleCount('http://example.com:80')).toBe(2);
    const d = h.agent.request('GET', 'http://example.com/again');
    h.flush();
    expect(servers[2]!.requestLines()).toEqual(['GET /2 HTTP/1.1', 'GET /again HTTP/1.1']);
    expect(servers[1]!.requestLines()).toEqual(['GET /1 HTTP/1.1']);
    servers[2]!.send(ok(''));
    h.flush();
    successResultOf(d);
  });

  it('maxPersistentPerHost 0 keeps nothing', () => {
    const h = harness({ maxPersistentPerHost: 0 });
    const { server } = fetchText(h, 'http://example.com/', ok('x'));
    expect(h.pool.idleCount()).toBe(0);
    expect(server.lost).not.toBeNull();
  });

  it('closes an idle connection after cachedConnectionTimeout, on the clock; reuse cancels the timer', () => {
    const h = harness({ cachedConnectionTimeout: 240 });
    const { server } = fetchText(h, 'http://example.com/', ok('x'));
    h.reactor.advance(239);
    expect(server.lost).toBeNull();
    // Reused at 239 s: its timer is cancelled while it works.
    const d = h.agent.request('GET', 'http://example.com/b');
    h.flush();
    h.reactor.advance(10);
    expect(server.lost).toBeNull();
    server.send(ok('y'));
    h.flush();
    successResultOf(readBody(successResultOf(d)));
    // Idle again: a new 240 s.
    h.reactor.advance(239);
    h.flush();
    expect(server.lost).toBeNull();
    h.reactor.advance(1);
    h.flush();
    expect(server.lost).not.toBeNull();
    expect(h.pool.idleCount()).toBe(0);
    expect(h.reactor.getDelayedCalls()).toEqual([]);
  });

  it('a cached connection the server closes leaves the pool at once', () => {
    const h = harness();
    const { server } = fetchText(h, 'http://example.com/', ok('x'));
    server.transport!.loseConnection();
    h.flush();
    expect(h.pool.idleCount()).toBe(0);
    expect(h.pool.openCount('http://example.com:80')).toBe(0);
    expect(h.reactor.getDelayedCalls()).toEqual([]);
    h.agent.request('GET', 'http://example.com/').addErrback(() => null);
    expect(h.pending()).toBe(1);
  });

  const notReused: [string, string][] = [
    ['Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx'],
    ['HTTP/1.0 without keep-alive', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx'],
  ];
  it.each(notReused)('a response with %s is not returned to the pool', (_name, answer) => {
    const h = harness();
    const { server } = fetchText(h, 'http://example.com/', answer);
    expect(h.pool.idleCount()).toBe(0);
    expect(server.lost).not.toBeNull();
  });

  it('a body not read completely is not returned to the pool (readBody maxSize aborts)', () => {
    const h = harness();
    const d = h.agent.request('GET', 'http://example.com/');
    const { server } = h.connect();
    server.send('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n');
    h.flush();
    failureResultOf(readBody(successResultOf(d), { maxSize: 3 }), ResponseBodyTooLarge);
    h.flush();
    expect(server.lost).not.toBeNull();
    expect(h.pool.idleCount()).toBe(0);
    expect(h.pool.openCount('http://example.com:80')).toBe(0);
  });

  it('cancelling a request on a cached connection aborts it; the next request gets a new one', () => {
    const h = harness();
    const { server } = fetchText(h, 'http://example.com/', ok('x'));
    const d = h.agent.request('GET', 'http://example.com/slow');
    h.flush();
    d.cancel();
    failureResultOf(d, CancelledError);
    h.flush();
    expect(server.lost).not.toBeNull();
    expect(h.pool.idleCount()).toBe(0);
    h.agent.request('GET', 'http://example.com/').addErrback(() => null);
    expect(h.pending()).toBe(1);
  });

  it('closeCachedConnections closes the idle connections and fires once they are closed', () => {
    const h = harness();
    const a = fetchText(h, 'http://a.example/', ok('x')).server;
    const b = fetchText(h, 'http://b.example/', ok('x')).server;
    const closed = h.pool.closeCachedConnections();
    assertNoResult(closed);
    h.flush();
    successResultOf(closed);
    expect(a.lost).not.toBeNull();
    expect(b.lost).not.toBeNull();
    expect(h.pool.idleCount()).toBe(0);
    expect(h.reactor.getDelayedCalls()).toEqual([]);
  });
});

describe('maxConnectionsPerHost: a cap with a FIFO queue', () => {
  it('requests beyond the cap wait, in order, for a connection to become idle', () => {
    const h = harness({ maxConnectionsPerHost: 1 });
    const d1 = h.agent.request('GET', 'http://example.com/1');
    const d2 = h.agent.request('GET', 'http://example.com/2');
    const d3 = h.agent.request('GET', 'http://example.com/3');
    expect(h.pending()).toBe(1);
    expect(h.pool.waitingCount('http://example.com:80')).toBe(2);
    const { server } = h.connect();
    for (const [i, d] of [d1, d2, d3].entries()) {
      expect(server.requestLines()).toHaveLength(i + 1);
      server.send(ok(`${i + 1}`));
      h.flush();
      expect(successResultOf(readBody(successResultOf(d))).toString()).toBe(`${i + 1}`);
    }
    expect(server.requestLines()).toEqual(['GET /1 HTTP/1.1', 'GET /2 HTTP/1.1', 'GET /3 HTTP/1.1']);
    expect(h.reactor.tcpClients).toHaveLength(1);
  });

  it('a waiting request gets a new connection when one closes', () => {
    const h = harness({ maxConnectionsPerHost: 1 });
    const d1 = h.agent.request('GET', 'http://example.com/1');
    const d2 = h.agent.request('GET', 'http://example.com/2');
    const first = h.connect().server;
    first.send('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    h.flush();
    successResultOf(d1);
    expect(h.pending()).toBe(1);
    const second = h.connect().server;
    expect(second.requestLines()).toEqual(['GET /2 HTTP/1.1']);
    second.send(ok(''));
    h.flush();
    successResultOf(d2);
  });

  it('cancelling a waiting request takes it out of the queue', () => {
    const h = harness({ maxConnectionsPerHost: 1 });
    const d1 = h.agent.request('GET', 'http://example.com/1');
    const d2 = h.agent.request('GET', 'http://example.com/2');
    const d3 = h.agent.request('GET', 'http://example.com/3');
    d2.cancel();
    failureResultOf(d2, CancelledError);
    expect(h.pool.waitingCount('http://example.com:80')).toBe(1);
    const { server } = h.connect();
    server.send(ok(''));
    h.flush();
    successResultOf(readBody(successResultOf(d1)));
    expect(server.requestLines()).toEqual(['GET /1 HTTP/1.1', 'GET /3 HTTP/1.1']);
    server.send(ok(''));
    h.flush();
    successResultOf(d3);
  });

  it('a failed connection attempt frees its slot for the next waiting request', () => {
    const h = harness({ maxConnectionsPerHost: 1 });
    const d1 = h.agent.request('GET', 'http://example.com/1');
    const d2 = h.agent.request('GET', 'http://example.com/2');
    h.refuse();
    failureResultOf(d1, ConnectionRefusedError);
    expect(h.pending()).toBe(1);
    h.connect().server.send(ok(''));
    h.flush();
    successResultOf(d2);
  });
});

describe('one retry of an idempotent request on a stale connection', () => {
  /** A cached connection whose server closes (`how`) as the next request arrives. */
  function staleSetup(how: 'close' | 'reset', poolOptions = {}) {
    const h = harness(poolOptions);
    const { server } = fetchText(h, 'http://example.com/', ok('x'));
    expect(h.pool.idleCount()).toBe(1);
    const kill = () => {
      if (how === 'close') server.transport!.loseConnection();
      else server.transport!.abortConnection();
      h.flush();
    };
    return { h, server, kill };
  }

  const retried: [string, string, RequestBody | null, 'close' | 'reset'][] = [
    ['GET, closed', 'GET', null, 'close'],
    ['GET, reset (ECONNRESET)', 'GET', null, 'reset'],
    ['HEAD', 'HEAD', null, 'close'],
    ['OPTIONS', 'OPTIONS', null, 'close'],
    ['PUT with a bytes body', 'PUT', 'data', 'close'],
    ['DELETE', 'DELETE', null, 'reset'],
    ['TRACE', 'TRACE', null, 'close'],
  ];
  it.each(retried)('%s: retried once on a new connection', (_name, method, body, how) => {
    const { h, server, kill } = staleSetup(how);
    const d = h.agent.request(method, 'http://example.com/again', null, body);
    h.flush();
    expect(server.requestLines()).toHaveLength(2);
    kill();
    assertNoResult(d);
    expect(h.pending()).toBe(1);
    const fresh = h.connect().server;
    expect(fresh.requestLines()).toEqual([`${method} /again HTTP/1.1`]);
    if (body !== null) expect(fresh.text().endsWith('data')).toBe(true);
    fresh.send(method === 'HEAD' ? 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n' : ok('retried'));
    h.flush();
    expect(successResultOf(d).status).toBe(200);
    expect(h.reactor.tcpClients).toHaveLength(2);
  });

  const notRetried: [string, string, () => RequestBody | null][] = [
    ['POST', 'POST', () => 'data'],
    ['PATCH', 'PATCH', () => 'data'],
    [
      'PUT with a streamed body',
      'PUT',
      () =>
        (async function* () {
          yield 'x';
        })(),
    ],
  ];
  it.each(notRetried)('%s is never retried: ResponseNeverReceived', async (_name, method, body) => {
    const { h, kill } = staleSetup('close');
    const d = h.agent.request(method, 'http://example.com/again', null, body());
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      h.flush();
    }
    kill();
    failureResultOf(d, ResponseNeverReceived);
    expect(h.pending()).toBe(0);
  });

  it('only once: a fresh connection that fails the same way is not retried again', () => {
    const { h, kill } = staleSetup('close');
    const d = h.agent.request('GET', 'http://example.com/again');
    h.flush();
    kill();
    const fresh = h.connect().server;
    fresh.transport!.loseConnection();
    h.flush();
    failureResultOf(d, ResponseNeverReceived);
    expect(h.pending()).toBe(0);
    expect(h.reactor.tcpClients).toHaveLength(2);
  });

  it('a response begun before the close is not retried (ResponseFailed)', () => {
    const { h, server } = staleSetup('close');
    const d = h.agent.request('GET', 'http://example.com/again');
    h.flush();
    server.send('HTTP/1.1 200 O');
    server.transport!.loseConnection();
    h.flush();
    const f = failureResultOf(d, ResponseFailed);
    expect(f.value).not.toBeInstanceOf(ResponseNeverReceived);
    expect(h.pending()).toBe(0);
  });

  it('a new (not cached) connection is not retried', () => {
    const h = harness();
    const d = h.agent.request('GET', 'http://example.com/');
    const { server } = h.connect();
    server.transport!.loseConnection();
    h.flush();
    failureResultOf(d, ResponseNeverReceived);
    expect(h.pending()).toBe(0);
  });

  it('retryAutomatically: false turns it off', () => {
    const { h, kill } = staleSetup('close', { retryAutomatically: false });
    const d = h.agent.request('GET', 'http://example.com/again');
    h.flush();
    kill();
    failureResultOf(d, ResponseNeverReceived);
    expect(h.pending()).toBe(0);
  });

  it('the retry goes through the cap: it replaces the stale connection', () => {
    const { h, kill } = staleSetup('close', { maxConnectionsPerHost: 1 });
    const d = h.agent.request('GET', 'http://example.com/again');
    h.flush();
    kill();
    expect(h.pending()).toBe(1);
    h.connect().server.send(ok(''));
    h.flush();
    successResultOf(d);
    expect(h.pool.openCount('http://example.com:80')).toBe(1);
  });

  const rules: [string, Partial<ClientRequest>, Error, boolean][] = [
    ['GET, never received', {}, new ResponseNeverReceived([new Failure(new ConnectionDone())]), true],
    ['GET, not sent', {}, new RequestNotSent(), true],
    ['POST, not sent', { method: 'POST' }, new RequestNotSent(), false],
    ['GET, response failed', {}, new ResponseFailed([new Failure(new ConnectionLost())]), false],
    ['GET, cancelled', {}, new ResponseNeverReceived([new Failure(new CancelledError())]), false],
    ['GET with a producer body', { body: { length: 0, startProducing: () => new Deferred<void>(), stopProducing() {} } }, new RequestNotSent(), false],
    ['DELETE with bytes', { method: 'DELETE', body: Buffer.from('x') }, new RequestNotSent(), true],
  ];
  it.each(rules)('shouldRetry: %s → %s', (_name, over, error, expected) => {
    const request: ClientRequest = { method: 'GET', target: '/', headers: [], body: null, persistent: true, url: 'http://h/', ...over };
    expect(shouldRetry(request, new Failure(error))).toBe(expected);
  });
});
