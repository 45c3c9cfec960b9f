// The server's HTTP fast paths pinned against the general ones: sends carried out at once give a
// shared resolved Promise, the application-close timeouts share one timer, scopes and header
// lists are never shared between requests or with the application.
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { ApplicationCloseTimeoutError } from '../../src/channels/asgi/errors.js';
import type { ASGIApplication, ASGIEvent, Headers, Scope } from '../../src/channels/types.js';
import { IPv4Address, IPv6Address } from '../../src/reactor/address.js';
import { enc, parseResponses, request, settle, settleMany, startServer } from './serverHelpers.js';

const body = (text: string): ASGIEvent => ({ type: 'http.response.body', body: enc(text) });
const start = (headers: Headers = [['content-type', 'text/plain']]): ASGIEvent => ({ type: 'http.response.start', status: 200, headers });

describe('serve(): how an application answers', () => {
  // The same response, however the application gets to it: synchronously (no await at all),
  // after awaiting each send, after reading the body, after a timer.
  const apps: Array<[string, (clock: { callLater(s: number, f: () => void): unknown }) => ASGIApplication]> = [
    ['synchronously, returning undefined', () => ((_s: Scope, _r: unknown, send: (e: ASGIEvent) => PromiseLike<void>) => {
      void send(start());
      void send(body('hi'));
    }) as unknown as ASGIApplication],
    ['synchronously, returning a Deferred', () => (_s, _r, send) => {
      void send(start());
      void send(body('hi'));
      const d = new Deferred<void>();
      d.callback(undefined);
      return d;
    }],
    ['awaiting each send', () => async (_s, _r, send) => {
      await send(start());
      await send(body('hi'));
    }],
    ['after reading the body', () => async (_s, receive, send) => {
      const ev = await receive();
      expect(ev).toEqual({ type: 'http.request', body: new Uint8Array(0), more_body: false });
      await send(start());
      await send(body('hi'));
    }],
    ['after a timer', (clock) => (_s, _r, send) => {
      const d = new Deferred<void>();
      clock.callLater(1, () => {
        void send(start()).then(() => send(body('hi'))).then(() => d.callback(undefined));
      });
      return d;
    }],
  ];
  for (const [how, make] of apps) {
    it(`${how}: the response, the instance counted and ended, nothing left armed but the shared timer`, async () => {
      let clockRef!: { callLater(s: number, f: () => void): unknown };
      const lazyClock = { callLater: (s: number, f: () => void) => clockRef.callLater(s, f) };
      const { connect, reactor, server } = await startServer(make(lazyClock));
      clockRef = reactor;
      const c = connect();
      c.send(request('GET', '/') + request('GET', '/'));
      await settleMany(3);
      reactor.advance(1);
      await settleMany(3);
      reactor.advance(1);
      await settleMany(3);
      const rs = c.responses();
      expect(rs.map((r) => [r.status, r.body, r.complete])).toEqual([
        [200, 'hi', true],
        [200, 'hi', true],
      ]);
      expect(rs[0]!.headers.get('content-length')).toBe('2');
      expect(server.instanceCount).toBe(0);
      // At most the close-timeout timer, left to wake once for nothing; it kills no one.
      expect(reactor.getDelayedCalls().filter((d) => d.active()).length).toBeLessThanOrEqual(2);
      reactor.advance(60);
      expect(flushLoggedErrors()).toEqual([]);
    });
  }
});

describe('serve(): application-close timeouts on one timer', () => {
  it('each lingering instance is killed applicationCloseTimeout after its own response ended; the quick ones are not', async () => {
    const app: ASGIApplication = async (scope, _receive, send) => {
      await send(start());
      await send(body('done'));
      if (scope.path === '/quick') return;
      // Background work that never ends, after a complete response.
      await new Deferred<void>();
    };
    const { connect, reactor, server } = await startServer(app, { applicationCloseTimeout: 5 });
    const killed = (): string[] => flushLoggedErrors(ApplicationCloseTimeoutError).map((f) => String(f.value.message));
    const a = connect();
    a.send(request('GET', '/a'));
    await settle();
    reactor.advance(2);
    const q = connect();
    q.send(request('GET', '/quick'));
    const b = connect();
    b.send(request('GET', '/b'));
    await settle();
    expect(server.instanceCount).toBe(2);
    expect(a.responses()[0]!.body).toBe('done');
    expect(b.responses()[0]!.body).toBe('done');
    reactor.advance(2.9); // t = 4.9
    expect(server.instanceCount).toBe(2);
    reactor.advance(0.1); // t = 5: /a's deadline
    expect(server.instanceCount).toBe(1);
    expect(killed()).toHaveLength(1);
    reactor.advance(1.9); // t = 6.9
    expect(server.instanceCount).toBe(1);
    reactor.advance(0.1); // t = 7: /b's
    expect(server.instanceCount).toBe(0);
    expect(killed()).toHaveLength(1);
    reactor.advance(60);
    expect(killed()).toEqual([]);
  });

  it('a client leaving mid-request starts the countdown; stop() waits for it', async () => {
    let cancelled = 0;
    const app: ASGIApplication = (_s, receive) => {
      void receive();
      return new Deferred<void>(() => cancelled++);
    };
    const t = await startServer(app, { applicationCloseTimeout: 3 });
    const c = t.connect();
    c.send(request('GET', '/'));
    await settle();
    c.lose();
    const stopped = t.server.stop();
    await settle();
    expect(stopped.called).toBe(false);
    t.reactor.advance(3);
    await settleMany(3);
    expect(cancelled).toBe(1);
    expect(stopped.called).toBe(true);
    expect(flushLoggedErrors(ApplicationCloseTimeoutError)).toHaveLength(1);
  });
});

describe('serve(): nothing is shared between requests', () => {
  it('an application that changes its scope does not change the next one', async () => {
    const scopes: Scope[] = [];
    const app: ASGIApplication = async (scope, _receive, send) => {
      scopes.push(structuredClone({ ...scope, channel_layer: undefined }));
      scope.asgi!.version = '9.9';
      scope.headers!.push(['x-injected', '1']);
      scope.headers![0]![1] = 'changed';
      scope.client![0] = '6.6.6.6';
      scope.server![1] = 1;
      scope.method = 'PUT';
      await send(start());
      await send(body('ok'));
    };
    const { connect } = await startServer(app);
    const c = connect(new IPv4Address('TCP', '192.168.1.1', 54321));
    c.send(request('GET', '/') + request('GET', '/'));
    await settleMany(5);
    expect(c.responses().map((r) => r.body)).toEqual(['ok', 'ok']);
    expect(scopes).toHaveLength(2);
    expect(scopes[1]).toEqual(scopes[0]);
    expect(scopes[1]).toMatchObject({
      asgi: { version: '3.0', spec_version: '2.5' },
      method: 'GET',
      client: ['192.168.1.1', 54321],
      server: ['10.0.0.1', 8000],
      headers: [['host', 'testserver']],
    });
  });

  it('the response has the headers as sent: changing the list after http.response.start changes nothing', async () => {
    const app: ASGIApplication = async (_scope, _receive, send) => {
      const headers: Headers = [['Content-Type', 'text/plain'], ['x-a', '1']];
      await send(start(headers));
      headers[1]![1] = 'evil\r\nx-injected: 1';
      headers.push(['x-b', '2']);
      await send(body('ok'));
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send(request('GET', '/'));
    await settleMany(3);
    const [r] = c.responses();
    expect(r).toMatchObject({ status: 200, body: 'ok', complete: true });
    expect(r!.headers.get('x-a')).toBe('1');
    expect(r!.headers.get('content-type')).toBe('text/plain');
    expect(r!.headers.get('x-b')).toBeUndefined();
    expect(r!.headers.get('x-injected')).toBeUndefined();
  });

  it('a shared, reused start event (a module constant) serves every request', async () => {
    const START = Object.freeze({ type: 'http.response.start', status: 200, headers: [['content-type', 'text/plain']] });
    const app: ASGIApplication = async (scope, _receive, send) => {
      await send(START as unknown as ASGIEvent);
      await send(body(scope.path as string));
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send(request('GET', '/1') + request('GET', '/2') + request('GET', '/3'));
    await settleMany(5);
    expect(c.responses().map((r) => [r.status, r.body, r.headers.get('content-type')])).toEqual([
      [200, '/1', 'text/plain'],
      [200, '/2', 'text/plain'],
      [200, '/3', 'text/plain'],
    ]);
  });
});

describe('serve(): client and server ends without proxy headers', () => {
  // Hosts are lower-cased only when they need it (they nearly always come lower-case already).
  const cases: Array<[string, string]> = [
    ['192.168.1.7', '192.168.1.7'],
    ['::ffff:192.168.1.7', '192.168.1.7'],
    ['::FFFF:192.168.1.7', '192.168.1.7'],
    ['FE80::1', 'fe80::1'],
    ['fe80::1', 'fe80::1'],
  ];
  for (const [host, want] of cases) {
    it(`a peer at ${host} is the client ${want}`, async () => {
      const scopes: Scope[] = [];
      const app: ASGIApplication = async (scope, _receive, send) => {
        scopes.push(scope);
        await send(start());
        await send(body('ok'));
      };
      const { connect } = await startServer(app);
      const peer = host.includes(':') ? new IPv6Address('TCP', host, 4242) : new IPv4Address('TCP', host, 4242);
      const c = connect(peer);
      c.send(request('GET', '/'));
      await settleMany(3);
      expect(scopes[0]!.client).toEqual([want, 4242]);
      expect(scopes[0]!.server).toEqual(['10.0.0.1', 8000]);
    });
  }
});

describe('serve(): an abort behind pipelined responses held for one write', () => {
  it('the complete earlier response still reaches the client before the connection drops', async () => {
    const app: ASGIApplication = async (scope, _receive, send) => {
      if (scope.path === '/a') {
        await send({ type: 'http.response.start', status: 200, headers: [['content-length', '2']] });
        await send(body('ok'));
        return;
      }
      await send({ type: 'http.response.start', status: 200, headers: [['content-length', '5']] });
      throw new Error('the application failed after starting its response');
    };
    const { connect } = await startServer(app);
    const c = connect();
    // What had reached the transport when the connection was dropped (a socket drops later writes).
    let atAbort: string | null = null;
    const abort = c.transport.abortConnection.bind(c.transport);
    c.transport.abortConnection = () => {
      atAbort ??= c.out();
      abort();
    };
    c.send(request('GET', '/a') + request('GET', '/b'));
    await settleMany(5);
    expect(c.transport.disconnected).toBe(true);
    expect(atAbort).not.toBeNull();
    const rs = parseResponses(Buffer.from(atAbort!, 'latin1'));
    expect(rs.map((r) => [r.status, r.body, r.complete])).toEqual([[200, 'ok', true]]);
    expect(atAbort).not.toContain('content-length: 5');
    flushLoggedErrors();
  });
});
