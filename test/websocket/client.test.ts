// The client protocol over a StringTransport and a Clock (the request byte for byte, the
// response split at every byte, every way the server's answer can be wrong, timeouts) and
// connectWebSocket over a MemoryReactorClock (ws:// and wss://, cancellation, failures).
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { CancelledError, TimeoutError } from '../../src/defer/errors.js';
import { ConnectionRefusedError } from '../../src/reactor/errors.js';
import { ConnectionCompleter } from '../../src/testing/iosim.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { assertNoResult, failureResultOf, successResultOf } from '../../src/testing/results.js';
import {
  FrameParser,
  ReadyState,
  WebSocketHandshakeError,
  WebSocketServerFactory,
  connectWebSocket,
  parseWebSocketUrl,
  type WebSocketData,
} from '../../src/websocket/index.js';
import { RFC_ACCEPT, RFC_KEY, clientOver, frame, lose, openClient, switching } from './protocol-helpers.js';

const latin1 = (b: Buffer) => b.toString('latin1');

/** Decode what a client wrote (masked frames) as a server would. */
function decode(bytes: Buffer): string[] {
  const out: string[] = [];
  const parser = new FrameParser(
    { role: 'server' },
    {
      onMessage: (d, isText) => out.push(isText ? `text:${d.toString()}` : `binary:${d.toString('hex')}`),
      onPing: (p) => out.push(`ping:${p.toString()}`),
      onPong: (p) => out.push(`pong:${p.toString()}`),
      onClose: (code, reason) => out.push(`close:${code}:${reason}`),
      onError: (e) => out.push(`error:${e.closeCode}`),
    },
  );
  parser.receiveData(Buffer.from(bytes));
  return out;
}

function response(lines: string[], body = ''): Buffer {
  return Buffer.from([...lines, '', body].join('\r\n'), 'latin1');
}

describe('the upgrade request', () => {
  it('is exactly the RFC 6455 shape, with permessage-deflate offered by default', () => {
    const { t } = clientOver({ perMessageDeflate: undefined });
    expect(latin1(t.value())).toBe(
      [
        'GET /chat HTTP/1.1',
        'Host: server.example.com',
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${RFC_KEY}`,
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
        '',
        '',
      ].join('\r\n'),
    );
  });

  it('carries subprotocols, Origin and extra headers (a list or a record); no offer with perMessageDeflate: false', () => {
    const a = clientOver({ protocols: ['chat', 'superchat'], origin: 'http://example.com', headers: [['Cookie', 'a=1']] });
    expect(latin1(a.t.value())).toBe(
      [
        'GET /chat HTTP/1.1',
        'Host: server.example.com',
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${RFC_KEY}`,
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: chat, superchat',
        'Origin: http://example.com',
        'Cookie: a=1',
        '',
        '',
      ].join('\r\n'),
    );
    const b = clientOver({ headers: { Authorization: 'Bearer x' } });
    expect(latin1(b.t.value())).toContain('\r\nAuthorization: Bearer x\r\n');
  });

  it('refuses invalid subprotocols and options at construction', () => {
    expect(() => clientOver({ protocols: ['a b'] })).toThrow(RangeError);
    expect(() => clientOver({ protocols: ['a', 'a'] })).toThrow(RangeError);
    expect(() => clientOver({ perMessageDeflate: { clientMaxWindowBits: 8 } })).toThrow(RangeError);
    expect(() => clientOver({ closeTimeout: 0 })).toThrow(RangeError);
  });
});

describe('the server response', () => {
  it('opens on a valid 101 and reads frames that follow, split at every byte', () => {
    const input = Buffer.concat([Buffer.from(switching(), 'latin1'), frame(0x81, 'welcome', null), frame(0x89, 'p', null), frame(0x88, [0x03, 0xe8], null)]);
    const run = (chunks: Buffer[]) => {
      const { proto, t, ws } = clientOver();
      const got: WebSocketData[] = [];
      const opened = proto.whenOpen();
      ws.onMessage = (d) => got.push(d);
      t.clear();
      for (const c of chunks) proto.dataReceived(Buffer.from(c));
      expect(successResultOf(opened)).toBe(ws);
      expect(got).toEqual(['welcome']);
      expect(decode(t.value())).toEqual(['pong:p', 'close:1000:']);
      // The client waits for the server to close TCP.
      expect(t.disconnecting).toBe(false);
    };
    for (let cut = 1; cut < input.length; cut++) run([input.subarray(0, cut), input.subarray(cut)]);
    run([...input].map((b) => Buffer.of(b)));
  });

  it('records the subprotocol and extensions the server chose', () => {
    const { proto, ws } = clientOver({ protocols: ['a', 'b'], perMessageDeflate: true });
    proto.dataReceived(Buffer.from(switching(['Sec-WebSocket-Protocol: b', 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover']), 'latin1'));
    expect(ws.readyState).toBe(ReadyState.OPEN);
    expect(ws.protocol).toBe('b');
    expect(ws.extensions).toBe('permessage-deflate; server_no_context_takeover');
    expect(ws.url).toBe('ws://server.example.com/chat');
  });

  it('skips 1xx interim responses', () => {
    const { proto, ws } = clientOver();
    proto.dataReceived(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n' + switching(), 'latin1'));
    expect(ws.readyState).toBe(ReadyState.OPEN);
  });

  it.each([
    ['a 400', response(['HTTP/1.1 400 Bad Request', 'Content-Length: 4', ''], 'nope'), 400, /answered 400 Bad Request instead of 101/],
    ['a 426', response(['HTTP/1.1 426 Upgrade Required', 'Sec-WebSocket-Version: 13', 'Content-Length: 0', '']), 426, /426/],
    ['a wrong accept key', response(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=', '']), 101, /Sec-WebSocket-Accept/],
    ['no Upgrade header', response(['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`, '']), 101, /Upgrade/],
    ['an unrequested subprotocol', response(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`, 'Sec-WebSocket-Protocol: x', '']), 101, /not requested/],
    ['an unoffered extension', response(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`, 'Sec-WebSocket-Extensions: permessage-deflate', '']), 101, /not offered/],
    ['not HTTP at all', Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'), 0, /invalid HTTP response/],
  ] as const)('fails whenOpen with WebSocketHandshakeError for %s, and closes', (_name, input, status, message) => {
    const { proto, t, ws } = clientOver();
    const opened = proto.whenOpen();
    proto.dataReceived(input);
    const err = failureResultOf(opened, WebSocketHandshakeError).value as WebSocketHandshakeError;
    expect(err.status).toBe(status);
    expect(err.message).toMatch(message);
    expect(t.disconnecting).toBe(true);
    expect(failureResultOf(proto.whenOpen(), WebSocketHandshakeError).value).toBe(err);
    lose(proto);
    expect(ws.closeInfo).toEqual({ code: 1006, reason: '', wasClean: false });
  });

  it('fails with TimeoutError when no answer comes within handshakeTimeout, and drops the connection', () => {
    const { proto, t, clock } = clientOver({ handshakeTimeout: 2 });
    const opened = proto.whenOpen();
    clock.advance(1.9);
    assertNoResult(opened);
    clock.advance(0.1);
    failureResultOf(opened, TimeoutError);
    expect(t.disconnected).toBe(true);
  });

  it('fails with WebSocketHandshakeError when the connection closes first', () => {
    const { proto } = clientOver();
    const opened = proto.whenOpen();
    lose(proto, false);
    expect(failureResultOf(opened, WebSocketHandshakeError).value.message).toMatch(/closed before the opening handshake/);
  });

  it('masks every frame it sends', () => {
    const { ws, t } = openClient();
    ws.send('abc');
    ws.send(Buffer.alloc(300));
    ws.ping('x');
    expect(decode(t.value())).toEqual(['text:abc', `binary:${'00'.repeat(300)}`, 'ping:x']);
  });

  it('calls the handlers given in the options', () => {
    const seen: unknown[] = [];
    const { proto } = clientOver({
      onOpen: (ws) => seen.push(['open', ws.readyState]),
      onMessage: (d) => seen.push(['message', d]),
      onClose: (code) => seen.push(['close', code]),
    });
    proto.dataReceived(Buffer.concat([Buffer.from(switching(), 'latin1'), frame(0x81, 'm', null)]));
    lose(proto, false);
    expect(seen).toEqual([
      ['open', ReadyState.OPEN],
      ['message', 'm'],
      ['close', 1006],
    ]);
  });
});

describe('parseWebSocketUrl', () => {
  it.each([
    ['ws://example.com', { secure: false, host: 'example.com', port: 80, hostHeader: 'example.com', path: '/', href: 'ws://example.com/' }],
    ['wss://example.com:8443/a/b?c=d', { secure: true, host: 'example.com', port: 8443, hostHeader: 'example.com:8443', path: '/a/b?c=d', href: 'wss://example.com:8443/a/b?c=d' }],
    ['ws://example.com:80/x', { secure: false, host: 'example.com', port: 80, hostHeader: 'example.com', path: '/x', href: 'ws://example.com/x' }],
    ['https://example.com/', { secure: true, host: 'example.com', port: 443, hostHeader: 'example.com', path: '/', href: 'wss://example.com/' }],
    ['ws://[::1]:9000/', { secure: false, host: '::1', port: 9000, hostHeader: '[::1]:9000', path: '/', href: 'ws://[::1]:9000/' }],
    ['ws://127.0.0.1:1234/path with space', { secure: false, host: '127.0.0.1', port: 1234, hostHeader: '127.0.0.1:1234', path: '/path%20with%20space', href: 'ws://127.0.0.1:1234/path%20with%20space' }],
  ])('%s', (url, expected) => {
    expect(parseWebSocketUrl(url)).toEqual(expected);
  });

  it.each(['ftp://example.com', 'ws://example.com/#frag', 'ws://user:pw@example.com/', 'not a url'])('refuses %s', (url) => {
    expect(() => parseWebSocketUrl(url)).toThrow(TypeError);
  });
});

describe('connectWebSocket over a MemoryReactorClock', () => {
  function serve(reactor: MemoryReactorClock, port: number, secure = false) {
    const factory = new WebSocketServerFactory({ reactor, onConnection: (ws) => (ws.onMessage = (d) => void ws.send(d)) });
    if (secure) reactor.listenSSL(port, factory, {});
    else reactor.listenTCP(port, factory);
    return factory;
  }

  it('ws://: connects with connectTCP and fires with the open socket', async () => {
    const reactor = new MemoryReactorClock();
    serve(reactor, 8080);
    const d = connectWebSocket(reactor, 'ws://127.0.0.1:8080/echo', { connectTimeout: 7, protocols: ['p'] });
    expect(reactor.tcpClients.map((c) => [c.host, c.port, c.timeout])).toEqual([['127.0.0.1', 8080, 7]]);
    assertNoResult(d);
    const pump = new ConnectionCompleter(reactor).succeedOnce();
    const ws = successResultOf(d);
    expect(ws.url).toBe('ws://127.0.0.1:8080/echo');
    const got: WebSocketData[] = [];
    ws.onMessage = (m) => got.push(m);
    ws.send('ping?');
    pump.flush();
    expect(got).toEqual(['ping?']);
    ws.close();
    pump.flush();
    expect(ws.readyState).toBe(ReadyState.CLOSED);
  });

  it('wss://: connects with connectSSL, verifying the host name', () => {
    const reactor = new MemoryReactorClock();
    serve(reactor, 443, true);
    const d = connectWebSocket(reactor, 'wss://chat.example.com/', { tls: { ca: 'PEM' } });
    expect(reactor.sslClients.map((c) => [c.host, c.port, c.tls])).toEqual([['chat.example.com', 443, { ca: 'PEM', servername: 'chat.example.com' }]]);
    new ConnectionCompleter(reactor).succeedOnce();
    expect(successResultOf(d).readyState).toBe(ReadyState.OPEN);
    connectWebSocket(reactor, 'wss://127.0.0.1:9443/');
    expect(reactor.sslClients[1]!.tls).toEqual({});
  });

  it('fails with the connection error', () => {
    const reactor = new MemoryReactorClock();
    const d = connectWebSocket(reactor, 'ws://127.0.0.1:1/');
    new ConnectionCompleter(reactor).failOnce(new ConnectionRefusedError('refused'));
    failureResultOf(d, ConnectionRefusedError);
  });

  it('fails with WebSocketHandshakeError when the server refuses the upgrade', () => {
    const reactor = new MemoryReactorClock();
    const factory = new WebSocketServerFactory({ reactor, onHandshake: () => false });
    reactor.listenTCP(80, factory);
    const d = connectWebSocket(reactor, 'ws://127.0.0.1/');
    new ConnectionCompleter(reactor).succeedOnce();
    expect((failureResultOf(d, WebSocketHandshakeError).value as WebSocketHandshakeError).status).toBe(403);
  });

  it('cancelling while connecting stops the attempt', () => {
    const reactor = new MemoryReactorClock();
    const d = connectWebSocket(reactor, 'ws://127.0.0.1:8080/');
    d.cancel();
    failureResultOf(d, CancelledError);
    expect(reactor.connectors[0]!.state).toBe('disconnected');
  });

  it('cancelling during the opening handshake drops the connection', () => {
    const reactor = new MemoryReactorClock();
    const factory = new WebSocketServerFactory({ reactor, onHandshake: () => new Deferred<boolean>() });
    reactor.listenTCP(8080, factory);
    const d = connectWebSocket(reactor, 'ws://127.0.0.1:8080/');
    const pump = new ConnectionCompleter(reactor).succeedOnce();
    assertNoResult(d);
    d.cancel();
    failureResultOf(d, CancelledError);
    pump.flush();
    expect(pump.clientIO.disconnected).toBe(true);
  });

  it('throws at once for an invalid URL', () => {
    expect(() => connectWebSocket(new MemoryReactorClock(), 'http//nope')).toThrow(TypeError);
  });
});
