// webSocketHandler: WebSocket upgrades served from Spindle's HTTP server (HTTPFactory), through
// its upgrade hook (`request.upgrade`), in memory.
import { describe, expect, it } from 'vitest';
import { HTTPFactory } from '../../src/http/channel.js';
import { Router } from '../../src/http/router.js';
import { Resource, Site } from '../../src/http/site.js';
import { Clock } from '../../src/testing/clock.js';
import { connectedPair } from '../../src/testing/iosim.js';
import { successResultOf } from '../../src/testing/results.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import {
  WebSocketClientProtocol,
  WebSocketResource,
  WebSocketServerFactory,
  rejectHandshake,
  webSocketHandler,
  type WebSocketData,
} from '../../src/websocket/index.js';
import { ADDR, frame, switching, upgradeRequest } from './protocol-helpers.js';

function setup(options = {}) {
  const clock = new Clock();
  const ws = new WebSocketServerFactory({
    reactor: clock,
    onConnection: (s) => (s.onMessage = (d) => void s.send(d)),
    ...options,
  });
  const http = new HTTPFactory(webSocketHandler(ws), { reactor: clock });
  return { clock, ws, http };
}

describe('webSocketHandler on HTTPFactory', () => {
  it('upgrades, then our client and the server exchange messages and close cleanly', async () => {
    const { clock, ws, http } = setup();
    const client = new WebSocketClientProtocol({ host: 'localhost', path: '/ws?x=1', reactor: clock });
    const { pump } = connectedPair(http.buildProtocol(ADDR), client, { clock });
    const sock = successResultOf(client.whenOpen());
    expect(sock.extensions).toBe('permessage-deflate');
    expect(ws.sockets.size).toBe(1);
    expect([...ws.sockets][0]!.request!.query).toBe('x=1');
    const got: WebSocketData[] = [];
    sock.onMessage = (d) => got.push(d);
    sock.send('through HTTP');
    sock.send('y'.repeat(4000));
    for (let i = 0; i < 500 && got.length < 2; i++) {
      pump.flush();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(got).toEqual(['through HTTP', 'y'.repeat(4000)]);
    sock.close(1000);
    pump.flush();
    expect(successResultOf(sock.whenClosed())).toEqual({ code: 1000, reason: '', wasClean: true });
    expect(ws.sockets.size).toBe(0);
  });

  it('writes the 101 through the HTTP layer and hands the leftover bytes over', () => {
    const { http } = setup({ perMessageDeflate: false });
    const channel = http.buildProtocol(ADDR);
    const t = new StringTransport();
    channel.makeConnection(t);
    channel.dataReceived(Buffer.concat([upgradeRequest(), frame(0x81, 'hi')]));
    const out = t.value().toString('latin1');
    // The HTTP layer may add its own fields (Date); the WebSocket ones are all there.
    for (const line of switching().split('\r\n').filter((l) => l !== '')) expect(out).toContain(line + '\r\n');
    expect(out.endsWith('\r\n\r\n\x81\x02hi')).toBe(true);
  });

  it.each([
    ['a plain GET', Buffer.from('GET /ws HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Upgrade header does not contain "websocket"\n$/],
    ['an unsupported version', upgradeRequest({ version: '8' }), /^HTTP\/1\.1 426 Upgrade Required\r\n[\s\S]*Upgrade: websocket\r\n[\s\S]*Sec-WebSocket-Version: 13\r\n/],
  ])('answers %s with the rejection as a normal HTTP response', (_name, input, expected) => {
    const { http } = setup();
    const channel = http.buildProtocol(ADDR);
    const t = new StringTransport();
    channel.makeConnection(t);
    channel.dataReceived(input);
    expect(t.value().toString('latin1')).toMatch(expected);
  });

  it('an onHandshake rejection keeps the HTTP connection usable', () => {
    const { http } = setup({ onHandshake: () => rejectHandshake(403, [], 'go away') });
    const channel = http.buildProtocol(ADDR);
    const t = new StringTransport();
    channel.makeConnection(t);
    channel.dataReceived(upgradeRequest());
    expect(t.value().toString('latin1')).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*\r\n\r\ngo away\n$/);
  });
});

describe('in a resource tree and behind a Router', () => {
  function echoFactory(clock: Clock) {
    return new WebSocketServerFactory({ reactor: clock, perMessageDeflate: false, onConnection: (s) => (s.onMessage = (d) => void s.send(`${s.request!.path} ${String(d)}`)) });
  }

  it('a WebSocketResource leaf serves upgrades under its path; other paths are untouched', () => {
    const clock = new Clock();
    const root = new Resource();
    root.putChild('live', new WebSocketResource(echoFactory(clock)));
    const site = new Site(root, { reactor: clock });
    const client = new WebSocketClientProtocol({ host: 'h', path: '/live/room/7', reactor: clock });
    const { pump } = connectedPair(site.buildProtocol(ADDR), client, { clock });
    const ws = successResultOf(client.whenOpen());
    const got: WebSocketData[] = [];
    ws.onMessage = (d) => got.push(d);
    ws.send('hi');
    pump.flush();
    expect(got).toEqual(['/live/room/7 hi']);

    const channel = site.buildProtocol(ADDR);
    const t = new StringTransport();
    channel.makeConnection(t);
    channel.dataReceived(upgradeRequest({ path: '/other' }));
    expect(t.value().toString('latin1')).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('a WebSocketResource answers a plain GET with the 400 and other methods with 405', () => {
    const clock = new Clock();
    const root = new Resource();
    root.putChild('live', new WebSocketResource(echoFactory(clock)));
    const site = new Site(root, { reactor: clock });
    for (const [input, status] of [
      ['GET /live HTTP/1.1\r\nHost: x\r\n\r\n', '400'],
      ['POST /live HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', '405'],
    ] as const) {
      const channel = site.buildProtocol(ADDR);
      const t = new StringTransport();
      channel.makeConnection(t);
      channel.dataReceived(Buffer.from(input));
      expect(t.value().toString('latin1')).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    }
  });

  it('webSocketHandler as a Router route', () => {
    const clock = new Clock();
    const router = new Router();
    router.get('/chat/<room>', webSocketHandler(echoFactory(clock)));
    const client = new WebSocketClientProtocol({ host: 'h', path: '/chat/lobby', reactor: clock });
    const { pump } = connectedPair(router.site({ reactor: clock }).buildProtocol(ADDR), client, { clock });
    const ws = successResultOf(client.whenOpen());
    const got: WebSocketData[] = [];
    ws.onMessage = (d) => got.push(d);
    ws.send('yo');
    pump.flush();
    expect(got).toEqual(['/chat/lobby yo']);
    ws.close();
    pump.flush();
    expect(ws.closeInfo).toEqual({ code: 1000, reason: '', wasClean: true });
  });
});
