// Helpers for the WebSocket protocol tests: upgrade requests and responses as bytes, a server
// or client protocol over a StringTransport, a connected client/server pair, and a way to wait
// for zlib (which runs in the thread pool) while pumping an in-memory connection.
import { Failure } from '../../src/defer/failure.js';
import { IPv4Address } from '../../src/reactor/address.js';
import { ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import { Clock } from '../../src/testing/clock.js';
import { connectedPair, type FakeTransport, type IOPump } from '../../src/testing/iosim.js';
import { successResultOf } from '../../src/testing/results.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import {
  WebSocketClientProtocol,
  WebSocketServerFactory,
  WebSocketServerProtocol,
  type WebSocket,
  type WebSocketClientProtocolOptions,
  type WebSocketServerOptions,
} from '../../src/websocket/index.js';

export { frame, hex, M } from './helpers.js';

/** RFC 6455 §1.3's example key and its accept value. */
export const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

export const ADDR = new IPv4Address('TCP', '127.0.0.1', 50000);

/** An upgrade request; `extra` lines are appended, `drop` removes lines by lowercase name. */
export function upgradeRequest(options: { path?: string; extra?: readonly string[]; drop?: readonly string[]; key?: string; version?: string } = {}): Buffer {
  const lines = [
    `GET ${options.path ?? '/chat'} HTTP/1.1`,
    'Host: server.example.com',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${options.key ?? RFC_KEY}`,
    `Sec-WebSocket-Version: ${options.version ?? '13'}`,
  ].filter((l) => !(options.drop ?? []).includes(l.split(':')[0]!.toLowerCase()));
  return Buffer.from([...lines, ...(options.extra ?? []), '', ''].join('\r\n'), 'latin1');
}

/** The exact 101 our server sends for `RFC_KEY`, with optional extra lines. */
export function switching(extra: string[] = []): string {
  return ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`, ...extra, '', ''].join('\r\n');
}

/** A server protocol over a StringTransport, not yet fed. */
export function serverOver(options: WebSocketServerOptions = {}) {
  const clock = (options.reactor as Clock | undefined) ?? new Clock();
  const factory = new WebSocketServerFactory({ ...options, reactor: clock });
  const proto = factory.buildProtocol(ADDR);
  const t = new StringTransport();
  proto.makeConnection(t);
  return { clock, factory, proto, t, ws: proto.socket };
}

/** A server protocol that has accepted `upgradeRequest(request)`; the 101 is cleared from `t`. */
export function openServer(options: WebSocketServerOptions = {}, request: Parameters<typeof upgradeRequest>[0] = {}) {
  const s = serverOver(options);
  s.proto.dataReceived(upgradeRequest(request));
  if (s.ws.readyState !== 1) throw new Error(`the server did not open: ${s.t.value().toString('latin1')}`);
  s.t.clear();
  return s;
}

/** A client protocol (fixed key) over a StringTransport, its request written. */
export function clientOver(options: Partial<WebSocketClientProtocolOptions> = {}) {
  const clock = (options.reactor as Clock | undefined) ?? new Clock();
  const proto = new WebSocketClientProtocol({ host: 'server.example.com', path: '/chat', key: RFC_KEY, perMessageDeflate: false, ...options, reactor: clock });
  const t = new StringTransport();
  proto.makeConnection(t);
  return { clock, proto, t, ws: proto.socket };
}

/** A client that has received a plain 101 (no subprotocol, no extension). */
export function openClient(options: Partial<WebSocketClientProtocolOptions> = {}) {
  const c = clientOver(options);
  c.proto.dataReceived(Buffer.from(switching(), 'latin1'));
  if (c.ws.readyState !== 1) throw new Error('the client did not open');
  c.t.clear();
  return c;
}

/** Report the transport gone to `proto` (clean by default). */
export function lose(proto: { connectionLost(reason: Failure): void }, clean = true): void {
  proto.connectionLost(new Failure(clean ? new ConnectionDone() : new ConnectionLost()));
}

/** Our client and our server joined in memory by a pump that also advances `clock` by 0. */
export function pair(serverOptions: WebSocketServerOptions = {}, clientOptions: Partial<WebSocketClientProtocolOptions> = {}) {
  const clock = new Clock();
  const factory = new WebSocketServerFactory({ ...serverOptions, reactor: clock });
  const server = factory.buildProtocol(ADDR);
  const client = new WebSocketClientProtocol({ host: 'localhost', path: '/', ...clientOptions, reactor: clock });
  const { pump } = connectedPair<WebSocketServerProtocol, WebSocketClientProtocol>(server, client, { clock });
  const ws = successResultOf(client.whenOpen());
  const serverWs = server.socket;
  return {
    clock,
    factory,
    server,
    client,
    pump,
    ws,
    serverWs,
    serverIO: server.transport as FakeTransport,
    clientIO: client.transport as FakeTransport,
  };
}

/** Pump until `done()` holds, giving zlib's thread pool real time between rounds. */
export async function pumpUntil(pump: IOPump, done: () => boolean, what = 'the condition', ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    pump.flush();
    if (done()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Wait (real time) for `done()`, without pumping: for StringTransport tests with zlib. */
export async function until(done: () => boolean, what = 'the condition', ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Collects what a socket reports. */
export function record(ws: WebSocket) {
  const log: Array<[string, ...unknown[]]> = [];
  ws.onMessage = (data, isBinary) => log.push(['message', isBinary ? `bin:${(data as Buffer).toString('hex')}` : data]);
  ws.onPing = (p) => log.push(['ping', p.toString()]);
  ws.onPong = (p) => log.push(['pong', p.toString()]);
  ws.onClose = (code, reason, wasClean) => log.push(['close', code, reason, wasClean]);
  return log;
}
