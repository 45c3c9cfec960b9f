// The server's WebSocket side: the handshake decided by the application, messages both ways,
// close codes and reasons, and the timers — serve() on a MemoryReactorClock, raw frames on a
// StringTransport.
import { describe, expect, it } from 'vitest';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { ASGIProtocolError } from '../../src/channels/asgi/errors.js';
import type { ASGIApplication, ASGIEvent } from '../../src/channels/types.js';
import {
  SPLITS,
  WS_ACCEPT,
  clientClose,
  clientFrame,
  closeOf,
  enc,
  parseResponses,
  recordingApp,
  serverFrames,
  settle,
  settleMany,
  startServer,
  upgrade,
} from './serverHelpers.js';

/** An application that accepts (with `accept`'s keys), then echoes, recording every event. */
function echo(events: ASGIEvent[], accept: Partial<ASGIEvent> = {}): ASGIApplication {
  return async (scope, receive, send) => {
    if (scope.type !== 'websocket') throw new Error('websocket only');
    for (;;) {
      const ev = await receive();
      events.push(ev);
      if (ev.type === 'websocket.connect') await send({ type: 'websocket.accept', ...accept });
      else if (ev.type === 'websocket.receive') {
        await send(ev.text !== undefined ? { type: 'websocket.send', text: `echo ${String(ev.text)}` } : { type: 'websocket.send', bytes: ev.bytes });
      } else return;
    }
  };
}

describe('serve(): the WebSocket handshake', () => {
  it('accepts with the chosen subprotocol and the application headers; the scope is a websocket scope', async () => {
    const events: ASGIEvent[] = [];
    const app = recordingApp(echo(events, { subprotocol: 'chat', headers: [['x-accept', '1'], ['set-cookie', 'a=b']] }));
    const { connect } = await startServer(app);
    const c = connect();
    c.send(upgrade('/ws/room/?x=1', { 'Sec-WebSocket-Protocol': 'superchat, chat' }));
    await settleMany(3);
    const head = c.out().split('\r\n\r\n')[0]!;
    expect(head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(head).toContain(`Sec-WebSocket-Accept: ${WS_ACCEPT}`);
    expect(head).toContain('Sec-WebSocket-Protocol: chat');
    expect(head).toContain('x-accept: 1');
    expect(head).toContain('set-cookie: a=b');
    expect(app.scopes[0]).toMatchObject({
      type: 'websocket',
      asgi: { version: '3.0', spec_version: '2.5' },
      scheme: 'ws',
      path: '/ws/room/',
      query_string: 'x=1',
      subprotocols: ['superchat', 'chat'],
      extensions: { 'websocket.http.response': {} },
    });
    expect(app.scopes[0]!.method).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['websocket.connect']);
  });

  it('websocket.close before accept is answered 403', async () => {
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'websocket.close', code: 4003 });
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send(upgrade());
    await settleMany(3);
    expect(c.responses()[0]).toMatchObject({ status: 403, body: 'Forbidden' });
  });

  it('send before accept fails with ASGIProtocolError; the application dying then gives 500', async () => {
    let error: unknown = null;
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      try {
        await send({ type: 'websocket.send', text: 'too early' });
      } catch (e) {
        error = e;
        throw e;
      }
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send(upgrade());
    await settleMany(3);
    expect(error).toBeInstanceOf(ASGIProtocolError);
    expect(c.responses()[0]!.status).toBe(500);
    expect(flushLoggedErrors(ASGIProtocolError)).toHaveLength(1);
  });

  it('the websocket.http.response extension sends the application own denial', async () => {
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'websocket.http.response.start', status: 401, headers: [['www-authenticate', 'Bearer']] });
      await send({ type: 'websocket.http.response.body', body: enc('log in '), more_body: true });
      await send({ type: 'websocket.http.response.body', body: enc('first') });
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send(upgrade());
    await settleMany(3);
    const [r] = c.responses();
    expect(r).toMatchObject({ status: 401, body: 'log in first' });
    expect(r!.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('an application that raises before deciding gives 500', async () => {
    const app: ASGIApplication = async (_scope, receive) => {
      await receive();
      throw new RangeError('nope');
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send(upgrade());
    await settleMany(3);
    expect(c.responses()[0]!.status).toBe(500);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });

  it('an invalid upgrade request is answered by the protocol without calling the application', async () => {
    const app = recordingApp(echo([]));
    const { connect } = await startServer(app);
    const c = connect();
    c.send(upgrade('/ws/', { 'Sec-WebSocket-Version': '8' }));
    await settle();
    const [r] = c.responses();
    expect(r!.status).toBe(426);
    expect(r!.headers.get('sec-websocket-version')).toBe('13');
    expect(app.scopes).toHaveLength(0);
  });

  it('the connect timeout refuses a handshake the application has not decided with 403', async () => {
    const events: ASGIEvent[] = [];
    const app: ASGIApplication = async (_scope, receive) => {
      events.push(await receive());
      events.push(await receive());
    };
    const { connect, reactor } = await startServer(app, { websocketConnectTimeout: 5 });
    const c = connect();
    c.send(upgrade());
    await settle();
    reactor.advance(4.9);
    expect(c.out()).toBe('');
    reactor.advance(0.1);
    await settle();
    expect(c.responses()[0]!.status).toBe(403);
    expect(events).toEqual([{ type: 'websocket.connect' }, { type: 'websocket.disconnect', code: 1006, reason: '' }]);
  });

  it('messages sent right after a synchronous accept wait for the 101', async () => {
    const app: ASGIApplication = (_scope, _receive, send) => {
      void send({ type: 'websocket.accept' });
      return send({ type: 'websocket.send', text: 'early' }).then(() => new Promise<void>(() => undefined));
    };
    const { connect } = await startServer(app);
    const c = connect();
    c.send(upgrade());
    await settleMany(3);
    expect(c.out()).toMatch(/^HTTP\/1\.1 101 /);
    const frames = serverFrames(c.transport.value());
    expect(frames.map((f) => f.payload.toString())).toEqual(['early']);
  });
});

describe('serve(): an open WebSocket', () => {
  async function opened(app: ASGIApplication, options = {}) {
    const t = await startServer(app, options);
    const c = t.connect();
    c.send(upgrade());
    await settleMany(3);
    expect(c.out()).toMatch(/^HTTP\/1\.1 101 /);
    return { ...t, c };
  }

  it.each(SPLITS)('carries text and binary messages both ways (client frames split %s)', async (split) => {
    const events: ASGIEvent[] = [];
    const { c } = await opened(echo(events));
    c.send(Buffer.concat([clientFrame(0x1, 'héllo'), clientFrame(0x2, Buffer.from([0, 1, 2, 255]))]), split);
    await settleMany(5);
    expect(events.slice(1)).toEqual([
      { type: 'websocket.receive', text: 'héllo' },
      { type: 'websocket.receive', bytes: Buffer.from([0, 1, 2, 255]) },
    ]);
    const frames = serverFrames(c.transport.value());
    expect(frames.map((f) => [f.opcode, f.payload.toString('latin1')])).toEqual([
      [0x1, Buffer.from('echo héllo').toString('latin1')],
      [0x2, '\x00\x01\x02\xff'],
    ]);
  });

  it('reassembles fragmented messages', async () => {
    const events: ASGIEvent[] = [];
    const { c } = await opened(echo(events));
    c.send(Buffer.concat([clientFrame(0x1, 'frag', false), clientFrame(0x0, 'ment', false), clientFrame(0x0, 'ed')]));
    await settleMany(3);
    expect(events[1]).toEqual({ type: 'websocket.receive', text: 'fragmented' });
  });

  it('the disconnect carries the peer close code and reason', async () => {
    const events: ASGIEvent[] = [];
    const { c } = await opened(echo(events));
    c.send(clientClose(4000, 'done here'));
    await settle();
    // The server answers the close frame and closes the TCP connection.
    expect(closeOf(serverFrames(c.transport.value()).at(-1)!)).toEqual({ code: 4000, reason: '' });
    expect(c.transport.disconnecting).toBe(true);
    c.lose(true);
    await settleMany(3);
    expect(events.at(-1)).toEqual({ type: 'websocket.disconnect', code: 4000, reason: 'done here' });
  });

  it('an abrupt loss is a disconnect with 1006', async () => {
    const events: ASGIEvent[] = [];
    const { c } = await opened(echo(events));
    c.lose();
    await settleMany(3);
    expect(events.at(-1)).toEqual({ type: 'websocket.disconnect', code: 1006, reason: '' });
  });

  it('websocket.close sends the close code and reason; the peer answer ends it', async () => {
    const events: ASGIEvent[] = [];
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'websocket.accept' });
      await send({ type: 'websocket.close', code: 4321, reason: 'bye' });
      events.push(await receive());
    };
    const { c } = await opened(app);
    expect(closeOf(serverFrames(c.transport.value()).at(-1)!)).toEqual({ code: 4321, reason: 'bye' });
    c.send(clientClose(4321, 'bye'));
    await settle();
    c.lose(true);
    await settleMany(3);
    expect(events).toEqual([{ type: 'websocket.disconnect', code: 4321, reason: 'bye' }]);
  });

  it('an application that raises after accepting closes with 1011', async () => {
    const app: ASGIApplication = async (_scope, receive, send) => {
      await receive();
      await send({ type: 'websocket.accept' });
      await receive();
      throw new RangeError('handler bug');
    };
    const { c } = await opened(app);
    c.send(clientFrame(0x1, 'boom'));
    await settleMany(3);
    expect(closeOf(serverFrames(c.transport.value()).at(-1)!).code).toBe(1011);
    expect(flushLoggedErrors(RangeError)).toHaveLength(1);
  });

  it('pings after the ping interval and drops a peer that does not answer within the ping timeout', async () => {
    const events: ASGIEvent[] = [];
    const { c, reactor } = await opened(echo(events), { websocketPingInterval: 20, websocketPingTimeout: 10 });
    reactor.advance(20);
    expect(serverFrames(c.transport.value()).map((f) => f.opcode)).toEqual([0x9]);
    reactor.advance(10);
    expect(c.transport.disconnecting).toBe(true);
    c.lose();
    await settleMany(3);
    expect(events.at(-1)).toMatchObject({ type: 'websocket.disconnect', code: 1006 });
  });

  it('a peer that answers pings stays connected', async () => {
    const { c, reactor } = await opened(echo([]), { websocketPingInterval: 20, websocketPingTimeout: 10 });
    for (let i = 0; i < 3; i++) {
      reactor.advance(20);
      const ping = serverFrames(c.transport.value()).at(-1)!;
      expect(ping.opcode).toBe(0x9);
      c.send(clientFrame(0xa, ping.payload));
    }
    expect(c.transport.disconnecting).toBe(false);
  });

  it('closes a connection at its maximum lifetime with 1000', async () => {
    const { c, reactor } = await opened(echo([]), { websocketMaxLifetime: 60, websocketPingInterval: null });
    reactor.advance(59);
    expect(serverFrames(c.transport.value())).toEqual([]);
    reactor.advance(1);
    expect(closeOf(serverFrames(c.transport.value())[0]!).code).toBe(1000);
  });

  it('a message too large for maxMessageSize closes with 1009', async () => {
    const events: ASGIEvent[] = [];
    const { c } = await opened(echo(events), { websocket: { maxMessageSize: 100 } });
    c.send(clientFrame(0x1, 'x'.repeat(200)));
    await settle();
    expect(closeOf(serverFrames(c.transport.value()).at(-1)!).code).toBe(1009);
    c.lose(true);
    await settleMany(3);
    expect(events.at(-1)).toMatchObject({ type: 'websocket.disconnect', code: 1009 });
  });
});

describe('serve(): stopping with WebSockets', () => {
  it('closes open WebSockets with 1001 and refuses pending handshakes with 503', async () => {
    const events: ASGIEvent[] = [];
    const pending: ASGIEvent[] = [];
    const app: ASGIApplication = async (scope, receive, send) => {
      if (scope.path === '/slow/') {
        pending.push(await receive());
        pending.push(await receive());
        return;
      }
      return echo(events)(scope, receive, send);
    };
    const t = await startServer(app);
    const open = t.connect();
    open.send(upgrade('/ws/'));
    const waiting = t.connect();
    waiting.send(upgrade('/slow/'));
    await settleMany(3);
    const stopped = t.server.stop();
    await settle();
    expect(closeOf(serverFrames(open.transport.value()).at(-1)!)).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(parseResponses(waiting.transport.value())[0]!.status).toBe(503);
    expect(pending.at(-1)).toEqual({ type: 'websocket.disconnect', code: 1001, reason: 'server shutting down' });
    expect(stopped.called).toBe(false);
    open.send(clientClose(1001));
    await settle();
    open.lose(true);
    waiting.lose(true);
    await settleMany(3);
    expect(events.at(-1)).toEqual({ type: 'websocket.disconnect', code: 1001, reason: '' });
    expect(stopped.called).toBe(true);
  });
});
