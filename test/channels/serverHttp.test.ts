// The server's HTTP side: scopes, responses, and each ASGI server rule, with serve() on a
// MemoryReactorClock and connections on StringTransports.
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { ApplicationCloseTimeoutError, ASGIConnectionClosed, ASGIProtocolError } from '../../src/channels/asgi/errors.js';
import { InMemoryChannelLayer } from '../../src/channels/layers/inMemory.js';
import { path, urlRouter } from '../../src/channels/routing/urlRouter.js';
import type { ASGIApplication, ASGIEvent, Scope } from '../../src/channels/types.js';
import { IPv4Address } from '../../src/reactor/address.js';
import type { IPushProducer } from '../../src/reactor/interfaces.js';
import { SPLITS, enc, hello, recordingApp, request, settle, settleMany, startServer } from './serverHelpers.js';

describe('serve(): HTTP scopes', () => {
  it('builds an ASGI 2.5 scope with the server layer, decoded path and latin1 headers', async () => {
    const layer = new InMemoryChannelLayer();
    const app = recordingApp(hello);
    const { connect } = await startServer(app, { channelLayer: layer });
    const c = connect();
    c.send(request('post', '/a%20b/caf%C3%A9?x=1&y=%20', { 'X-Thing': 'caf\xe9', Cookie: 'a=1' }, 'hi'));
    await settle();
    const scope = app.scopes[0]!;
    expect(scope).toMatchObject({
      type: 'http',
      asgi: { version: '3.0', spec_version: '2.5' },
      http_version: '1.1',
      method: 'POST',
      scheme: 'http',
      path: '/a b/café',
      raw_path: '/a%20b/caf%C3%A9',
      query_string: 'x=1&y=%20',
      root_path: '',
      client: ['192.168.1.1', 54321],
      server: ['10.0.0.1', 8000],
    });
    expect(scope.headers).toEqual([
      ['host', 'testserver'],
      ['x-thing', 'caf\xe9'],
      ['cookie', 'a=1'],
      ['content-length', '2'],
    ]);
    expect(scope.channel_layer).toBe(layer);
    expect('state' in scope).toBe(false);
    expect(c.responses()[0]).toMatchObject({ status: 200, body: 'hello 2' });
  });

  it('gives HTTP/1.0 requests http_version 1.0', async () => {
    const app = recordingApp(hello);
    const { connect } = await startServer(app);
    const c = connect();
    c.send('GET / HTTP/1.0\r\n\r\n');
    await settle();
    expect(app.scopes[0]!.http_version).toBe('1.0');
    expect(c.responses()[0]).toMatchObject({ status: 200, body: 'hello 0' });
  });

  it.each(SPLITS)('answers with a Content-Length when the body is one event (input split %s)', async (split) => {
    const { connect } = await startServer(hello);
    const c = connect();
    c.send(request('POST', '/', {}, 'x'.repeat(100)), split);
    await settleMany(3);
    const [r] = c.responses();
    expect(r).toMatchObject({ status: 200, body: 'hello 100', complete: true });
    expect(r!.headers.get('content-length')).toBe('9');
    expect(r!.headers.get('content-type')).toBe('text/plain');
  });

  it('streams a response in chunks (chunked) and drops an app-supplied transfer-encoding', async () => {
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'http.response.start', status: 201, headers: [['transfer-encoding', 'gzip'], ['x-a', '1']] });
      for (const part of ['one ', 'two ', 'three']) await send({ type: 'http.response.body', body: enc(part), more_body: true });
      await send({ type: 'http.response.body', body: new Uint8Array(0) });
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send(request('GET', '/'));
    await settleMany(3);
    const [r] = c.responses();
    expect(r).toMatchObject({ status: 201, body: 'one two three', complete: true });
    expect(r!.headers.get('transfer-encoding')).toBe('chunked');
    expect(r!.headers.get('x-a')).toBe('1');
  });

  it('a streamed response waits in send while the client connection pushes back', async () => {
    const done: number[] = [];
    const gate = new Deferred<void>();
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'http.response.start', status: 200 });
      for (let i = 0; i < 4; i++) {
        await send({ type: 'http.response.body', body: enc(`chunk${i};`), more_body: true });
        done.push(i);
        if (i === 0) await gate;
      }
      await send({ type: 'http.response.body' });
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send(request('GET', '/'));
    await settleMany(3);
    const producer = c.transport.producer as IPushProducer | null;
    expect(c.transport.streaming).toBe(true);
    producer!.pauseProducing();
    gate.callback(undefined);
    await settleMany(3);
    // chunk1 was handed to the transport, and its send waits for the transport to drain.
    expect(done).toEqual([0]);
    expect(c.out()).toContain('chunk1;');
    producer!.resumeProducing();
    await settleMany(5);
    expect(done).toEqual([0, 1, 2, 3]);
    expect(c.responses()[0]).toMatchObject({ body: 'chunk0;chunk1;chunk2;chunk3;', complete: true });
    expect(c.transport.producer).toBeNull();
  });

  it('serves keep-alive and pipelined requests in order, one instance each', async () => {
    const app = recordingApp(async (scope, receive, send) => {
      await receive();
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc(scope.path as string) });
    });
    const { connect } = await startServer(app);
    const c = connect();
    c.send(request('GET', '/one') + request('GET', '/two') + request('GET', '/three'));
    await settleMany(10);
    expect(c.responses().map((r) => r.body)).toEqual(['/one', '/two', '/three']);
    expect(app.scopes).toHaveLength(3);
  });
});

describe('serve(): the HTTP rules', () => {
  /** Run `app` on one GET; the outcome of each send, the output, the connection state. */
  async function exchange(app: ASGIApplication, req = request('GET', '/')) {
    const t = await startServer(app);
    const c = t.connect();
    c.send(req);
    await settleMany(5);
    return { ...t, c };
  }

  it.each([
    [
      'a second http.response.start',
      [
        { type: 'http.response.start', status: 200 },
        { type: 'http.response.start', status: 200 },
      ],
      /sent twice/,
    ],
    ['a body before the start', [{ type: 'http.response.body', body: enc('x') }], /before http\.response\.start/],
    [
      'a Uint8Array header',
      [{ type: 'http.response.start', status: 200, headers: [[enc('x-a'), enc('1')]] }],
      /must hold strings/,
    ],
    ['an unknown event type', [{ type: 'http.response.push', path: '/x' }], /unknown event type/],
  ])('%s: send fails and the connection is aborted with no response', async (_name, events, message) => {
    const errors: unknown[] = [];
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      for (const ev of events as ASGIEvent[]) {
        try {
          await send(ev);
        } catch (e) {
          errors.push(e);
          return;
        }
      }
    };
    const { c } = await exchange(app);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ASGIProtocolError);
    expect((errors[0] as Error).message).toMatch(message);
    expect(c.transport.disconnected).toBe(true);
    expect(c.out()).toBe('');
  });

  it('an application that raises before the response start gets a 500, logged once', async () => {
    const app: ASGIApplication = async (_scope, receive) => {
      await receive();
      throw new RangeError('boom');
    };
    const { c } = await exchange(app);
    const [r] = c.responses();
    expect(r).toMatchObject({ status: 500, body: 'Internal Server Error', complete: true });
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
    expect(c.transport.disconnected).toBe(false);
  });

  it('an application that raises after the response start: the connection is aborted', async () => {
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc('partial'), more_body: true });
      throw new RangeError('boom');
    };
    const { c } = await exchange(app);
    expect(c.out()).toContain('partial');
    expect(c.transport.disconnected).toBe(true);
    expect(c.responses()[0]!.complete).toBe(false);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });

  it('an application that returns without responding gets a 500 at once', async () => {
    const app: ASGIApplication = async (_scope, receive) => {
      await receive();
    };
    const { c, reactor } = await exchange(app);
    expect(reactor.getDelayedCalls().filter((d) => d.active()).length).toBeGreaterThanOrEqual(0);
    expect(c.responses()[0]).toMatchObject({ status: 500, complete: true });
  });

  it('an application that returns in the middle of its response: the connection is aborted', async () => {
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc('half'), more_body: true });
    };
    const { c } = await exchange(app);
    expect(c.transport.disconnected).toBe(true);
  });

  it('a response body longer than its Content-Length: send fails, the connection is aborted', async () => {
    const errors: unknown[] = [];
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'http.response.start', status: 200, headers: [['content-length', '2']] });
      await send({ type: 'http.response.body', body: enc('too long') }).then(undefined, (e: unknown) => errors.push(e));
    };
    const { c } = await exchange(app);
    expect(errors[0]).toBeInstanceOf(ASGIProtocolError);
    expect(c.transport.disconnected).toBe(true);
  });

  it('receive() after the response is complete gives http.disconnect', async () => {
    const got: ASGIEvent[] = [];
    const app: ASGIApplication = async (_scope, receive, send) => {
      got.push(await receive());
      await send({ type: 'http.response.start', status: 204 });
      await send({ type: 'http.response.body' });
      got.push(await receive());
      got.push(await receive());
    };
    const { c } = await exchange(app);
    expect(got.map((e) => e.type)).toEqual(['http.request', 'http.disconnect', 'http.disconnect']);
    expect(c.responses()[0]!.status).toBe(204);
  });

  it('receive() after the client left gives http.disconnect, and send fails with ASGIConnectionClosed', async () => {
    const got: ASGIEvent[] = [];
    let sendError: unknown = null;
    const gate = new Deferred<void>();
    const app: ASGIApplication = async (_scope, receive, send) => {
      got.push(await receive());
      await gate;
      got.push(await receive());
      await send({ type: 'http.response.start', status: 200 }).then(undefined, (e: unknown) => (sendError = e));
    };
    const { c } = await exchange(app);
    c.lose();
    gate.callback(undefined);
    await settleMany(3);
    expect(got.map((e) => e.type)).toEqual(['http.request', 'http.disconnect']);
    expect(sendError).toBeInstanceOf(ASGIConnectionClosed);
  });

  it('a pending receive() hears http.disconnect when the client leaves (long poll)', async () => {
    const got: ASGIEvent[] = [];
    const app: ASGIApplication = async (_scope, receive) => {
      got.push(await receive());
      got.push(await receive());
    };
    const { c } = await exchange(app);
    expect(got).toHaveLength(1);
    c.lose();
    await settle();
    expect(got[1]!.type).toBe('http.disconnect');
  });

  it('streams the request body in chunks with backpressure, never buffering it whole', async () => {
    const sizes: number[] = [];
    const gate = new Deferred<void>();
    const app: ASGIApplication = async (_scope, receive, send) => {
      let ev = await receive();
      sizes.push((ev.body as Uint8Array).length);
      await gate;
      while (ev.more_body === true) {
        ev = await receive();
        sizes.push((ev.body as Uint8Array).length);
      }
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc(String(sizes.reduce((a, b) => a + b, 0))) });
    };
    const total = 1024 * 1024;
    const { connect } = await startServer(app);
    const c = connect();
    c.send(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${total}\r\n\r\n`);
    const chunk = 'z'.repeat(16 * 1024);
    let sent = 0;
    // Play a socket: deliver only while the connection reads.
    const feed = (): void => {
      while (sent < total && c.transport.producerState === 'producing') {
        c.send(chunk);
        sent += chunk.length;
      }
    };
    feed();
    await settleMany(3);
    // The application is not reading: the connection stopped reading from the client.
    expect(c.transport.producerState).toBe('paused');
    expect(sent).toBeLessThan(total / 2);
    gate.callback(undefined);
    for (let i = 0; i < 500 && c.responses().length === 0; i++) {
      feed();
      await settle();
    }
    expect(c.responses()[0]!.body).toBe(String(total));
    expect(sizes.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(total / 4);
    expect(c.transport.producerState).toBe('producing');
  });

  it('reads the body only when the application asks: 100-continue is sent on the first receive()', async () => {
    const gate = new Deferred<void>();
    const app: ASGIApplication = async (_scope, receive, send) => {
      await gate;
      const ev = await receive();
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: ev.body as Uint8Array });
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n');
    await settle();
    expect(c.out()).toBe('');
    gate.callback(undefined);
    await settle();
    expect(c.out()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    c.send('abc');
    await settleMany(3);
    expect(c.out()).toMatch(/\r\n\r\nabc$/);
  });

  it('refuses a declared body over maxBodySize with 413 without running the application', async () => {
    const app = recordingApp(hello);
    const { connect } = await startServer(app, { maxBodySize: 10 });
    const c = connect();
    c.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n');
    await settle();
    expect(c.responses()[0]!.status).toBe(413);
    expect(app.scopes).toHaveLength(0);
  });

  it('refuses a chunked body that grows over maxBodySize with 413; the application sees http.disconnect', async () => {
    const got: string[] = [];
    const app: ASGIApplication = async (_scope, receive) => {
      for (;;) {
        const ev = await receive();
        got.push(ev.type);
        if (ev.type === 'http.disconnect') return;
      }
    };
    const { connect } = await startServer(app, { maxBodySize: 10 });
    const c = connect();
    c.send('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n');
    await settle();
    c.send('8\r\n12345678\r\n');
    await settleMany(3);
    expect(c.responses()[0]!.status).toBe(413);
    expect(got).toEqual(['http.request', 'http.disconnect']);
    expect(c.transport.disconnecting).toBe(true);
  });

  it('httpTimeout: an application that has not started its response gets a 503', async () => {
    const got: string[] = [];
    const app: ASGIApplication = async (_scope, receive) => {
      got.push((await receive()).type);
      got.push((await receive()).type);
    };
    const { connect, reactor } = await startServer(app, { httpTimeout: 3 });
    const c = connect();
    c.send(request('GET', '/'));
    await settle();
    reactor.advance(2.9);
    expect(c.out()).toBe('');
    reactor.advance(0.1);
    await settle();
    expect(c.responses()[0]!.status).toBe(503);
    expect(got).toEqual(['http.request', 'http.disconnect']);
  });

  it('kills an instance that outlives its connection by applicationCloseTimeout, logging it once', async () => {
    let cancelled = false;
    const app: ASGIApplication = (_scope, receive) => {
      void receive();
      const d = new Deferred<void>(() => {
        cancelled = true;
      });
      return d;
    };
    const { connect, reactor, server } = await startServer(app, { applicationCloseTimeout: 4 });
    const c = connect();
    c.send(request('GET', '/'));
    await settle();
    expect(server.instanceCount).toBe(1);
    c.lose();
    reactor.advance(3.9);
    expect(cancelled).toBe(false);
    reactor.advance(0.1);
    expect(cancelled).toBe(true);
    expect(server.instanceCount).toBe(0);
    reactor.advance(100);
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
  });

  it('one crashing instance does not affect another (not even after a protocol violation)', async () => {
    const app: ASGIApplication = async (scope, receive, send) => {
      await receive();
      if (scope.path === '/twice') {
        await send({ type: 'http.response.start', status: 200 });
        await send({ type: 'http.response.start', status: 200 });
      }
      if (scope.path === '/raise') throw new RangeError('boom');
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc('fine') });
    };
    const { connect } = await startServer(app);
    const a = connect();
    a.send(request('GET', '/twice'));
    await settleMany(3);
    expect(a.transport.disconnected).toBe(true);
    expect(flushLoggedErrors(ASGIProtocolError)).toHaveLength(1);
    const b = connect();
    b.send(request('GET', '/raise'));
    const d = connect();
    d.send(request('GET', '/ok'));
    await settleMany(3);
    expect(b.responses()[0]!.status).toBe(500);
    expect(d.responses()[0]).toMatchObject({ status: 200, body: 'fine' });
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });
});

describe('serve(): root_path and proxy headers', () => {
  it.each([
    ['a proxy that strips the prefix', '/chat/'],
    ['a proxy that forwards the whole path', '/app/chat/'],
  ])('rootPath with %s: path includes root_path and urlRouter routes it', async (_name, target) => {
    const seen: Scope[] = [];
    const chat: ASGIApplication = async (scope, receive, send) => {
      seen.push(scope);
      await receive();
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc('chat') });
    };
    const { connect } = await startServer(urlRouter([path('chat/', chat)]), { rootPath: '/app' });
    const c = connect();
    c.send(request('GET', target));
    await settleMany(3);
    expect(c.responses()[0]).toMatchObject({ status: 200, body: 'chat' });
    expect(seen[0]).toMatchObject({ path: '/app/chat/', root_path: '/app' });
  });

  const forwarded = { 'X-Forwarded-For': '203.0.113.7, 10.0.0.2', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Port': '443' };

  it.each([
    ['a trusted peer', ['192.168.1.1', '10.0.0.0/8'], { client: ['203.0.113.7', 0], scheme: 'https', server: ['10.0.0.1', 443] }],
    ['an untrusted peer', ['127.0.0.1'], { client: ['192.168.1.1', 54321], scheme: 'http', server: ['10.0.0.1', 8000] }],
  ])('X-Forwarded-* from %s', async (_name, trusted, expected) => {
    const app = recordingApp(hello);
    const { connect } = await startServer(app, { proxyHeaders: { trusted } });
    connect().send(request('GET', '/', forwarded));
    await settle();
    expect(app.scopes[0]).toMatchObject(expected);
  });

  it('ignores forwarded fields when proxy headers are off', async () => {
    const app = recordingApp(hello);
    const { connect } = await startServer(app);
    connect(new IPv4Address('TCP', '127.0.0.1', 1234)).send(request('GET', '/', forwarded));
    await settle();
    expect(app.scopes[0]).toMatchObject({ client: ['127.0.0.1', 1234], scheme: 'http' });
  });
});

describe('serve(): lifespan', () => {
  function lifespanApp(log: string[]): ASGIApplication {
    return async (scope, receive, send) => {
      if (scope.type === 'lifespan') {
        for (;;) {
          const ev = await receive();
          log.push(ev.type);
          if (ev.type === 'lifespan.startup') {
            scope.state!.pool = 'db-pool';
            scope.state!.counter = { n: 0 };
            await send({ type: 'lifespan.startup.complete' });
          } else {
            await send({ type: 'lifespan.shutdown.complete' });
            return;
          }
        }
      }
      await receive();
      log.push(`request with ${String(scope.state?.pool)}`);
      scope.state!.pool = 'changed by a request';
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc('ok') });
    };
  }

  it('runs startup before listening, copies state into every scope, and shutdown on stop()', async () => {
    const log: string[] = [];
    const { connect, server, reactor, stop } = await startServer(lifespanApp(log), { lifespan: 'auto' });
    expect(log).toEqual(['lifespan.startup']);
    expect(reactor.tcpServers).toHaveLength(1);
    expect(server.lifespanSupported).toBe(true);
    for (let i = 0; i < 2; i++) {
      connect().send(request('GET', '/'));
      await settleMany(3);
    }
    // Each scope got a shallow copy: one request's change does not reach the next.
    expect(log).toEqual(['lifespan.startup', 'request with db-pool', 'request with db-pool']);
    expect(server.state.pool).toBe('db-pool');
    await stop();
    expect(log.at(-1)).toBe('lifespan.shutdown');
  });

  it('an application that refuses lifespan is still served', async () => {
    const app = recordingApp(hello); // raises on the lifespan scope
    const { connect, server, stop } = await startServer(app, { lifespan: 'auto' });
    expect(server.lifespanSupported).toBe(false);
    const c = connect();
    c.send(request('GET', '/'));
    await settle();
    expect(c.responses()[0]!.status).toBe(200);
    expect('state' in app.scopes[1]!).toBe(false);
    await stop();
  });

  it("lifespan 'on': an application that refuses lifespan fails serve()", async () => {
    await expect(startServer(hello, { lifespan: 'on' })).rejects.toThrow(/does not support the ASGI lifespan/);
  });

  it('lifespan.startup.failed fails serve() and nothing listens', async () => {
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'lifespan.startup.failed', message: 'no database' });
    };
    await expect(startServer(app, { lifespan: 'auto' })).rejects.toThrow(/no database/);
  });
});

describe('serve(): stop()', () => {
  it('stops listening, closes idle connections, lets an in-flight request finish with Connection: close', async () => {
    const gate = new Deferred<void>();
    const app: ASGIApplication = async (scope, receive, send) => {
      await receive();
      if (scope.path === '/slow') await gate;
      await send({ type: 'http.response.start', status: 200 });
      await send({ type: 'http.response.body', body: enc(`done ${String(scope.path)}`) });
    };
    const t = await startServer(app);
    const idle = t.connect();
    idle.send(request('GET', '/fast'));
    const busy = t.connect();
    busy.send(request('GET', '/slow'));
    await settleMany(3);
    expect(idle.responses()[0]!.body).toBe('done /fast');
    const stopped = t.server.stop();
    await settle();
    expect(t.reactor.listeningPorts[0]!.stopped).toBe(true);
    expect(idle.transport.disconnecting).toBe(true);
    expect(busy.transport.disconnecting).toBe(false);
    idle.lose(true);
    gate.callback(undefined);
    await settleMany(3);
    const [r] = busy.responses();
    expect(r).toMatchObject({ status: 200, body: 'done /slow' });
    expect(r!.headers.get('connection')).toBe('close');
    expect(busy.transport.disconnecting).toBe(true);
    expect(stopped.called).toBe(false);
    busy.lose(true);
    await settleMany(2);
    expect(stopped.called).toBe(true);
  });

  it('aborts what is still open after shutdownTimeout; an instance that ignores it is killed after its close timeout', async () => {
    const app: ASGIApplication = async (_scope, receive) => {
      await receive();
      await new Promise(() => undefined);
    };
    const t = await startServer(app, { shutdownTimeout: 30, applicationCloseTimeout: 10 });
    const c = t.connect();
    c.send(request('GET', '/forever'));
    await settle();
    const stopped = t.server.stop();
    t.reactor.advance(29.9);
    expect(c.transport.disconnected).toBe(false);
    t.reactor.advance(0.1);
    expect(c.transport.disconnected).toBe(true);
    c.lose();
    await settle();
    expect(stopped.called).toBe(false);
    t.reactor.advance(10);
    await settleMany(2);
    expect(stopped.called).toBe(true);
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
  });

  it('bounds a lifespan shutdown the application never answers', async () => {
    const app: ASGIApplication = async (scope, receive, send) => {
      if (scope.type !== 'lifespan') throw new Error('lifespan only');
      await receive();
      await send({ type: 'lifespan.startup.complete' });
      await receive();
      await new Promise(() => undefined); // never answers lifespan.shutdown
    };
    const t = await startServer(app, { lifespan: 'on', shutdownTimeout: 5 });
    const stopped = t.server.stop();
    await settleMany(2);
    expect(stopped.called).toBe(false);
    t.reactor.advance(5);
    await settleMany(2);
    expect(stopped.called).toBe(true);
    expect(flushLoggedErrors()).toHaveLength(1);
  });
});
