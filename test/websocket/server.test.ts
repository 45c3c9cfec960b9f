// The server protocol over a StringTransport and a Clock: the opening handshake byte for byte
// (and split at every byte), rejections, subprotocols, the onHandshake hook, timeouts, the two
// ways in from an HTTP server (acceptFromRequest, negotiate), the factory and broadcast.
import { describe, expect, it } from 'vitest';
import { Deferred } from '../../src/defer/deferred.js';
import { RequestParser, type RequestHead } from '../../src/http/parser.js';
import { flushLoggedErrors } from '../../src/testing/loggedErrors.js';
import { successResultOf } from '../../src/testing/results.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import {
  ReadyState,
  WebSocketServerFactory,
  WebSocketServerProtocol,
  acceptHandshake,
  broadcast,
  prepareMessage,
  rejectHandshake,
  type HandshakeResult,
  type WebSocket,
  type WebSocketRequest,
} from '../../src/websocket/index.js';
import { ADDR, RFC_KEY, frame, lose, openClient, openServer, pair, record, serverOver, switching, upgradeRequest } from './protocol-helpers.js';

const latin1 = (b: Buffer) => b.toString('latin1');

/** The exact rejection our server writes. */
function rejection(status: string, body: string, extra: string[] = []): string {
  const text = `${body}\n`;
  return [`HTTP/1.1 ${status}`, ...extra, 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(text)}`, 'Connection: close', '', text].join('\r\n');
}

describe('the opening handshake', () => {
  it('answers the RFC 6455 example request with the exact 101', () => {
    const { proto, t, ws } = serverOver();
    proto.dataReceived(upgradeRequest());
    expect(latin1(t.value())).toBe(switching());
    expect(ws.readyState).toBe(ReadyState.OPEN);
    expect(ws.extensions).toBe('');
  });

  it('accepts permessage-deflate by default, and not with perMessageDeflate: false', () => {
    const on = openServer({}, { extra: ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'] });
    expect(on.ws.extensions).toBe('permessage-deflate');
    const { proto, t } = serverOver({ perMessageDeflate: false });
    proto.dataReceived(upgradeRequest({ extra: ['Sec-WebSocket-Extensions: permessage-deflate'] }));
    expect(latin1(t.value())).toBe(switching());
  });

  it('negotiates permessage-deflate parameters from its options', () => {
    const { proto, t, ws } = serverOver({ perMessageDeflate: { serverNoContextTakeover: true, serverMaxWindowBits: 10 } });
    proto.dataReceived(upgradeRequest({ extra: ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'] }));
    const ext = 'permessage-deflate; server_no_context_takeover; server_max_window_bits=10';
    expect(latin1(t.value())).toBe(switching([`Sec-WebSocket-Extensions: ${ext}`]));
    expect(ws.extensions).toBe(ext);
  });

  it('handles the request, then frames, split at every byte', () => {
    const input = Buffer.concat([upgradeRequest(), frame(0x81, 'Hello'), frame(0x89, 'p'), frame(0x88, [0x03, 0xe8, 0x62, 0x79, 0x65])]);
    const expected = switching() + '\x81\x05Hello' + '\x8a\x01p' + '\x88\x02\x03\xe8';
    const run = (chunks: Buffer[]) => {
      const { proto, t, ws } = serverOver({ perMessageDeflate: false });
      ws.onMessage = (d) => void ws.send(d);
      for (const c of chunks) proto.dataReceived(Buffer.from(c));
      expect(latin1(t.value())).toBe(expected);
      expect(t.disconnecting).toBe(true);
    };
    for (let cut = 1; cut < input.length; cut++) run([input.subarray(0, cut), input.subarray(cut)]);
    run([...input].map((b) => Buffer.of(b)));
  });

  it('treats bytes sent right after the request as the first WebSocket bytes', () => {
    const { proto, t } = serverOver({ perMessageDeflate: false, onConnection: (ws) => (ws.onMessage = (d) => void ws.send(d)) });
    proto.dataReceived(Buffer.concat([upgradeRequest(), frame(0x81, 'early')]));
    expect(latin1(t.value())).toBe(switching() + '\x81\x05early');
  });
});

describe('rejections: the status, its headers, a plain-text reason, then close', () => {
  it.each([
    ['a POST', { raw: 'POST /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ' + RFC_KEY + '\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n' }, rejection('400 Bad Request', 'WebSocket upgrade requires GET')],
    ['no Upgrade header', { drop: ['upgrade'] }, rejection('400 Bad Request', 'Upgrade header does not contain "websocket"')],
    ['no Connection: upgrade', { drop: ['connection'] }, rejection('400 Bad Request', 'Connection header does not contain "upgrade"')],
    ['version 8', { version: '8' }, rejection('426 Upgrade Required', 'unsupported or missing Sec-WebSocket-Version', ['Upgrade: websocket', 'Sec-WebSocket-Version: 13'])],
    ['no version', { drop: ['sec-websocket-version'] }, rejection('426 Upgrade Required', 'unsupported or missing Sec-WebSocket-Version', ['Upgrade: websocket', 'Sec-WebSocket-Version: 13'])],
    ['a bad key', { key: 'short' }, rejection('400 Bad Request', 'missing, repeated or invalid Sec-WebSocket-Key')],
    ['no Host', { drop: ['host'] }, rejection('400 Bad Request', 'HTTP/1.1 request without Host')],
    ['a body', { extra: ['Content-Length: 3'] }, rejection('400 Bad Request', 'a WebSocket upgrade request has no body')],
    ['bad subprotocol syntax', { extra: ['Sec-WebSocket-Protocol: a b'] }, rejection('400 Bad Request', 'invalid Sec-WebSocket-Protocol')],
  ] as const)('%s', (_name, req, expected) => {
    const { proto, t, ws, clock } = serverOver();
    const input = 'raw' in req ? Buffer.from(req.raw, 'latin1') : upgradeRequest(req);
    proto.dataReceived(input);
    expect(latin1(t.value())).toBe(expected);
    expect(t.disconnecting).toBe(true);
    expect(ws.readyState).toBe(ReadyState.CONNECTING);
    t.clear();
    proto.dataReceived(frame(0x81, 'ignored'));
    expect(t.value().length).toBe(0);
    clock.advance(5); // the close timeout drops a client that lingers
    expect(t.disconnected).toBe(true);
    lose(proto);
    expect(ws.readyState).toBe(ReadyState.CLOSED);
  });

  it('answers the HTTP parser status: 431 for a head over httpLimits.maxHeadSize', () => {
    const { proto, t } = serverOver({ httpLimits: { maxHeadSize: 100 } });
    proto.dataReceived(upgradeRequest({ extra: ['X-Padding: ' + 'p'.repeat(200)] }));
    expect(latin1(t.value())).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(t.disconnecting).toBe(true);
  });

  it('answers 400 to bytes that are not HTTP', () => {
    const { proto, t } = serverOver();
    proto.dataReceived(Buffer.from('\x16\x03\x01 hello\r\n\r\n', 'latin1'));
    expect(latin1(t.value())).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(t.disconnecting).toBe(true);
  });
});

describe('subprotocols', () => {
  const offer = { extra: ['Sec-WebSocket-Protocol: chat.v2, chat.v1'] };

  it.each([
    ['the first offered that we support', ['chat.v1', 'chat.v2'], 'chat.v2'],
    ['one we support', ['chat.v1'], 'chat.v1'],
    ['none when nothing matches', ['other'], null],
  ] as const)('selects %s', (_name, protocols, chosen) => {
    const { proto, t, ws } = serverOver({ protocols });
    proto.dataReceived(upgradeRequest(offer));
    expect(latin1(t.value())).toBe(switching(chosen === null ? [] : [`Sec-WebSocket-Protocol: ${chosen}`]));
    expect(ws.protocol).toBe(chosen ?? '');
  });

  it('asks a callback, with the offers and the request', () => {
    const seen: Array<[readonly string[], string]> = [];
    const { proto, ws } = serverOver({
      protocols: (offered, request) => {
        seen.push([offered, request.path]);
        return offered[1]!;
      },
    });
    proto.dataReceived(upgradeRequest(offer));
    expect(seen).toEqual([[['chat.v2', 'chat.v1'], '/chat']]);
    expect(ws.protocol).toBe('chat.v1');
  });

  it('answers 500 (and logs) when the callback picks a protocol that was not offered', () => {
    const { proto, t } = serverOver({ protocols: () => 'nope' });
    proto.dataReceived(upgradeRequest(offer));
    expect(latin1(t.value())).toMatch(/^HTTP\/1\.1 500 /);
    expect(flushLoggedErrors(TypeError)).toHaveLength(1);
  });
});

describe('the onHandshake hook', () => {
  it('sees the request: path, query, headers, origin, offers, address', () => {
    let seen: WebSocketRequest | null = null;
    const { proto } = serverOver({
      onHandshake: (r) => {
        seen = r;
      },
    });
    proto.dataReceived(upgradeRequest({ path: '/a%20b?q=1', extra: ['Origin: https://example.com', 'Sec-WebSocket-Protocol: x'] }));
    const r = seen! as WebSocketRequest;
    expect([r.method, r.target, r.rawPath, r.path, r.query, r.origin, r.secure]).toEqual(['GET', '/a%20b?q=1', '/a%20b', '/a b', 'q=1', 'https://example.com', false]);
    expect(r.protocols).toEqual(['x']);
    expect(r.getHeaders('host')).toEqual(['server.example.com']);
    expect(String(r.remoteAddress)).toBe('192.168.1.1:54321');
  });

  it.each<[string, () => HandshakeResult, string]>([
    ['false → 403', () => false, rejection('403 Forbidden', 'Forbidden')],
    ['rejectHandshake(401, headers, body)', () => rejectHandshake(401, [['WWW-Authenticate', 'Bearer']], 'token please'), rejection('401 Unauthorized', 'token please', ['WWW-Authenticate: Bearer'])],
    ['a redirect', () => rejectHandshake(302, [['Location', '/login']]), rejection('302 Found', 'Found', ['Location: /login'])],
  ])('rejects: %s', (_name, hook, expected) => {
    const { proto, t } = serverOver({ onHandshake: hook });
    proto.dataReceived(upgradeRequest());
    expect(latin1(t.value())).toBe(expected);
  });

  it('accepts with a subprotocol and extra headers; static extra headers come first', () => {
    const { proto, t, ws } = serverOver({
      headers: [['X-Server', 'spindle']],
      onHandshake: () => acceptHandshake({ protocol: 'b', headers: [['Set-Cookie', 'a=1']] }),
    });
    proto.dataReceived(upgradeRequest({ extra: ['Sec-WebSocket-Protocol: a, b'] }));
    expect(latin1(t.value())).toBe(switching(['Sec-WebSocket-Protocol: b', 'X-Server: spindle', 'Set-Cookie: a=1']));
    expect(ws.protocol).toBe('b');
  });

  it('headers may be a function of the request', () => {
    const { proto, t } = serverOver({ headers: (r) => [['X-Path', r.path]] });
    proto.dataReceived(upgradeRequest());
    expect(latin1(t.value())).toBe(switching(['X-Path: /chat']));
  });

  it('waits for an asynchronous decision; frames sent meanwhile are kept for after the 101', () => {
    const decision = new Deferred<boolean>();
    const { proto, t, ws } = serverOver({ perMessageDeflate: false, onHandshake: () => decision });
    const got: unknown[] = [];
    proto.dataReceived(upgradeRequest());
    proto.dataReceived(frame(0x81, 'eager'));
    expect(t.value().length).toBe(0);
    ws.onMessage = (d) => got.push(d);
    decision.callback(true);
    expect(latin1(t.value())).toBe(switching());
    expect(got).toEqual(['eager']);
  });

  it('an asynchronous rejection, and a Promise', async () => {
    const later = new Deferred<ReturnType<typeof rejectHandshake>>();
    const a = serverOver({ onHandshake: () => later });
    a.proto.dataReceived(upgradeRequest());
    later.callback(rejectHandshake(429));
    expect(latin1(a.t.value())).toBe(rejection('429 Too Many Requests', 'Too Many Requests'));
    const b = serverOver({ onHandshake: async () => true });
    b.proto.dataReceived(upgradeRequest());
    await new Promise((r) => setTimeout(r, 0));
    expect(latin1(b.t.value())).toBe(switching());
  });

  it('a hook that throws or fails gives 500 and is logged', async () => {
    const a = serverOver({
      onHandshake: () => {
        throw new Error('db down');
      },
    });
    a.proto.dataReceived(upgradeRequest());
    expect(latin1(a.t.value())).toBe(rejection('500 Internal Server Error', 'Internal Server Error'));
    const b = serverOver({ onHandshake: () => Promise.reject(new RangeError('nope')) });
    b.proto.dataReceived(upgradeRequest());
    await new Promise((r) => setTimeout(r, 0));
    expect(latin1(b.t.value())).toMatch(/^HTTP\/1\.1 500 /);
    expect(flushLoggedErrors(Error, RangeError)).toHaveLength(2);
  });

  it('rejectHandshake refuses statuses outside 300–599', () => {
    expect(() => rejectHandshake(200)).toThrow(RangeError);
    expect(() => rejectHandshake(600)).toThrow(RangeError);
  });
});

describe('the handshake timeout', () => {
  it('drops a client that has not completed its request after handshakeTimeout', () => {
    const { proto, t, clock } = serverOver({ handshakeTimeout: 3 });
    proto.dataReceived(upgradeRequest().subarray(0, 20));
    clock.advance(2.9);
    expect(t.disconnected).toBe(false);
    clock.advance(0.1);
    expect(t.disconnected).toBe(true);
    lose(proto, false);
    expect(clock.getDelayedCalls()).toEqual([]);
  });

  it('also while onHandshake has not decided', () => {
    const { proto, t, clock } = serverOver({ onHandshake: () => new Deferred<boolean>() });
    proto.dataReceived(upgradeRequest());
    clock.advance(10);
    expect(t.disconnected).toBe(true);
  });

  it('a decision that comes after the timeout dropped the client opens nothing', () => {
    const late = new Deferred<boolean>();
    const { proto, t, clock, ws } = serverOver({ onHandshake: () => late });
    proto.dataReceived(upgradeRequest());
    clock.advance(10);
    expect(t.disconnected).toBe(true);
    late.callback(true);
    expect(t.value().length).toBe(0);
    expect(ws.readyState).toBe(ReadyState.CONNECTING);
  });

  it('is cancelled by the 101', () => {
    const { clock } = openServer({ pingInterval: null });
    expect(clock.getDelayedCalls()).toEqual([]);
  });
});

describe('coming from an HTTP server', () => {
  function parsed(input: Buffer): { head: RequestHead; rest: Uint8Array } {
    const parser = new RequestParser();
    parser.receiveData(input);
    let head: RequestHead | null = null;
    for (let ev = parser.nextEvent(); typeof ev === 'object'; ev = parser.nextEvent()) {
      if (ev.type === 'request') head = ev;
      if (ev.type === 'end') break;
    }
    return { head: head!, rest: Buffer.from(parser.unconsumed) };
  }

  it('acceptFromRequest: answers itself, then reads the leftover bytes as frames', () => {
    const { head, rest } = parsed(Buffer.concat([upgradeRequest(), frame(0x81, 'left')]));
    const proto = new WebSocketServerProtocol({ perMessageDeflate: false, onConnection: (ws) => (ws.onMessage = (d) => void ws.send(d)) });
    const t = new StringTransport();
    proto.acceptFromRequest(t, head, rest);
    expect(latin1(t.value())).toBe(switching() + '\x81\x04left');
    expect(() => proto.acceptFromRequest(t, head)).toThrow(Error);
  });

  it('acceptFromRequest: rejects an invalid request and closes', () => {
    const { head } = parsed(upgradeRequest({ version: '7' }));
    const proto = new WebSocketServerProtocol();
    const t = new StringTransport();
    proto.acceptFromRequest(t, head);
    expect(latin1(t.value())).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
    expect(t.disconnecting).toBe(true);
  });

  it('negotiate: gives the 101 headers; connected afterwards, the protocol opens at once', () => {
    const { head, rest } = parsed(Buffer.concat([upgradeRequest({ extra: ['Sec-WebSocket-Extensions: permessage-deflate'] }), frame(0x81, 'x')]));
    const proto = new WebSocketServerProtocol({ onConnection: (ws) => (ws.onMessage = (d) => void ws.send(d)) });
    const outcome = successResultOf(proto.negotiate(head, ADDR, true));
    expect(outcome).toEqual({
      ok: true,
      status: 101,
      headers: [
        ['Upgrade', 'websocket'],
        ['Connection', 'Upgrade'],
        ['Sec-WebSocket-Accept', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='],
        ['Sec-WebSocket-Extensions', 'permessage-deflate'],
      ],
    });
    expect(() => proto.negotiate(head)).toThrow(Error);
    const t = new StringTransport();
    proto.makeConnection(t);
    expect(proto.socket.readyState).toBe(ReadyState.OPEN);
    expect(proto.socket.request!.secure).toBe(true);
    proto.dataReceived(rest);
    expect(latin1(t.value())).toBe('\x81\x01x');
  });

  it('negotiate: a rejection outcome', () => {
    const { head } = parsed(upgradeRequest({ drop: ['upgrade'] }));
    const outcome = successResultOf(new WebSocketServerProtocol().negotiate(head));
    expect(outcome).toEqual({ ok: false, status: 400, headers: [], body: 'Upgrade header does not contain "websocket"' });
  });
});

describe('the factory', () => {
  it('tracks open sockets, calls onConnection before onOpen, and closeAll closes them', () => {
    const order: string[] = [];
    const factory = new WebSocketServerFactory({
      perMessageDeflate: false,
      onConnection(ws, request) {
        order.push(`connection ${request.path}`);
        ws.onOpen = () => order.push('open');
      },
    });
    const protos = [0, 1, 2].map(() => factory.buildProtocol(ADDR));
    const transports = protos.map((p) => {
      const t = new StringTransport();
      p.makeConnection(t);
      p.dataReceived(upgradeRequest());
      t.clear();
      return t;
    });
    expect(order).toEqual(['connection /chat', 'open', 'connection /chat', 'open', 'connection /chat', 'open']);
    expect(factory.sockets.size).toBe(3);
    const all = factory.closeAll(1001, 'restart');
    expect(transports.map((t) => latin1(t.value()))).toEqual(Array(3).fill('\x88\x09\x03\xe9restart'));
    protos.forEach((p) => p.dataReceived(frame(0x88, [0x03, 0xe9])));
    protos.forEach((p) => lose(p));
    successResultOf(all);
    expect(factory.sockets.size).toBe(0);
  });

  it('Infinity, null and 0 turn the optional timers off', () => {
    const { clock } = openServer({ pingInterval: Infinity, idleTimeout: null, handshakeTimeout: 0 });
    expect(clock.getDelayedCalls()).toEqual([]);
    const { clock: c2 } = serverOver({ handshakeTimeout: Infinity });
    expect(c2.getDelayedCalls()).toEqual([]);
  });

  it('the request object: headers as pairs, offered extensions, path decoding', () => {
    const { ws } = openServer({}, { path: '/a%E2%9C%93%ZZ?x', extra: ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo'] });
    const r = ws.request!;
    expect(r.headers.slice(0, 2)).toEqual([
      ['host', 'server.example.com'],
      ['upgrade', 'websocket'],
    ]);
    expect(r.extensions.map((e) => e.name)).toEqual(['permessage-deflate', 'x-foo']);
    expect(r.protocols).toEqual([]);
    expect(r.path).toBe('/a%E2%9C%93%ZZ'); // an invalid escape: kept as written
    expect(r.query).toBe('x');
    expect(r.origin).toBeUndefined();
  });

  it('an onConnection that throws is logged and fails the connection with 1011', () => {
    const { proto, t } = serverOver({
      onConnection: () => {
        throw new Error('bug');
      },
    });
    proto.dataReceived(upgradeRequest());
    expect(latin1(t.value())).toBe(switching() + '\x88\x02\x03\xf3');
    expect(t.disconnecting).toBe(true);
    expect(flushLoggedErrors(Error)).toHaveLength(1);
  });

  it.each([
    [{ maxMessageSize: 0 }],
    [{ closeTimeout: 0 }],
    [{ pingTimeout: -1 }],
    [{ maxQueue: 1.5 }],
    [{ closeTimeout: Infinity }],
    [{ handshakeTimeout: Number.NaN }],
    [{ perMessageDeflate: { serverMaxWindowBits: 8 } }],
    [{ perMessageDeflate: { threshold: -1 } }],
  ])('refuses invalid options %j', (options) => {
    expect(() => new WebSocketServerFactory(options)).toThrow(RangeError);
  });
});

describe('broadcast', () => {
  function sockets(n: number, options = {}) {
    const factory = new WebSocketServerFactory({ pingInterval: null, ...options });
    const ends = Array.from({ length: n }, () => {
      const p = factory.buildProtocol(ADDR);
      const t = new StringTransport();
      p.makeConnection(t);
      p.dataReceived(upgradeRequest({ extra: ['Sec-WebSocket-Extensions: permessage-deflate'] }));
      t.clear();
      return { p, t, ws: p.socket };
    });
    return { factory, ends };
  }

  it('writes the identical bytes, framed once, to every open socket, uncompressed', () => {
    const { factory, ends } = sockets(5);
    const big = 'b'.repeat(5000);
    ends[3]!.ws.close();
    ends[3]!.t.clear();
    expect(factory.broadcast(big)).toBe(4);
    const expected = prepareMessage(big).data;
    ends.forEach((e, i) => {
      if (i === 3) expect(e.t.value().length).toBe(0);
      else expect(Buffer.compare(e.t.value(), expected)).toBe(0);
    });
    // RSV1 clear although permessage-deflate was negotiated.
    expect(ends[0]!.t.value()[0]).toBe(0x81);
  });

  it('shares one buffer: the frame is not rebuilt per socket', () => {
    const { factory, ends } = sockets(3);
    const seen: Uint8Array[] = [];
    ends.forEach((e) => {
      const w = e.t.write.bind(e.t);
      e.t.write = (d: Uint8Array) => {
        seen.push(d);
        w(d);
      };
    });
    factory.broadcast(Buffer.from([1, 2, 3]));
    expect(seen).toHaveLength(3);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(seen[0]);
    expect(Buffer.from(seen[0]!).toString('hex')).toBe('8203010203');
  });

  it("queues behind a socket's pending messages, and skips one sending a fragmented message", () => {
    const { ends } = sockets(3, { perMessageDeflate: false });
    ends[0]!.p.pauseProducing();
    ends[0]!.ws.send('first');
    ends[1]!.ws.send('frag', { fin: false });
    ends[1]!.t.clear();
    const all = ends.map((e) => e.ws);
    expect(broadcast(all, 'news', { binary: true })).toBe(2);
    expect(ends[0]!.t.value().length).toBe(0);
    ends[0]!.p.resumeProducing();
    expect(latin1(ends[0]!.t.value())).toBe('\x81\x05first\x82\x04news');
    expect(ends[1]!.t.value().length).toBe(0);
    expect(latin1(ends[2]!.t.value())).toBe('\x82\x04news');
  });

  it('sends to client sockets with a regular (masked) send', () => {
    const c = openClient();
    const p = pair({ perMessageDeflate: false });
    const got: unknown[] = [];
    p.serverWs.onMessage = (d) => got.push(d);
    expect(broadcast([c.ws, p.ws] as WebSocket[], 'hi')).toBe(2);
    p.pump.flush();
    expect(got).toEqual(['hi']);
    expect(c.t.value()[1]! & 0x80).toBe(0x80);
    expect(broadcast([c.ws], prepareMessage('x'))).toBe(0);
  });

  it('records nothing for sockets that closed meanwhile (no unhandled failures)', () => {
    const { factory, ends } = sockets(2, { perMessageDeflate: false });
    ends[0]!.p.pauseProducing();
    factory.broadcast('queued');
    lose(ends[0]!.p, false);
    expect(record(ends[0]!.ws)).toEqual([]);
  });
});
