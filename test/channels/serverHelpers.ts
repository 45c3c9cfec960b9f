/**
 * Drivers for the server tests: `serve()` on a MemoryReactorClock, connections on
 * StringTransports fed whole or in pieces, the output parsed back into responses and WebSocket
 * frames.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { Failure } from '../../src/defer/failure.js';
import { ResponseParser, type HeaderList } from '../../src/http/index.js';
import type { HTTPChannel } from '../../src/http/channel.js';
import { IPv4Address, type Address } from '../../src/reactor/address.js';
import { ConnectionDone, ConnectionLost } from '../../src/reactor/errors.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { serve, type ServeOptions, type SpindleServer } from '../../src/channels/server/serve.js';
import type { ASGIApplication, ASGIEvent, Scope } from '../../src/channels/types.js';

/** Let promise-based applications run: every pending microtask (and one macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Settle `n` times (applications that await several times between events). */
export async function settleMany(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await settle();
}

export type Split = 'whole' | 'halves' | 'bytes';
export const SPLITS: Split[] = ['whole', 'halves', 'bytes'];

export interface TestServer {
  reactor: MemoryReactorClock;
  server: SpindleServer;
  connect(peer?: Address): Conn;
  /** `server.stop()`, playing the clients: connections the server closes are lost (cleanly). */
  stop(): Promise<void>;
}

export interface Conn {
  lost: boolean;
  channel: HTTPChannel;
  transport: StringTransport;
  send(data: string | Uint8Array, split?: Split): void;
  out(): string;
  responses(methods?: string[]): ParsedResponse[];
  lose(clean?: boolean): void;
}

/** `serve()` on a MemoryReactorClock (lifespan off unless asked). */
export async function startServer(app: ASGIApplication, options: ServeOptions = {}): Promise<TestServer> {
  const reactor = new MemoryReactorClock();
  const server = await serve(app, { lifespan: 'off', ...options, reactor, endpoints: options.endpoints ?? ['tcp:8000:interface=127.0.0.1'] });
  const conns: Conn[] = [];
  return {
    reactor,
    server,
    async stop() {
      const d = server.stop();
      for (let i = 0; i < 10 && !d.called; i++) {
        for (const c of conns) if (c.transport.disconnecting && !c.lost) c.lose(true);
        await settle();
      }
      await d;
    },
    connect(peer = new IPv4Address('TCP', '192.168.1.1', 54321)) {
      const transport = new StringTransport(new IPv4Address('TCP', '10.0.0.1', 8000), peer);
      const channel = server.factory.buildProtocol(peer);
      channel.makeConnection(transport);
      const conn: Conn = {
        lost: false,
        channel,
        transport,
        send(data, split = 'whole') {
          const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
          if (split === 'whole') channel.dataReceived(bytes);
          else if (split === 'halves') {
            const mid = bytes.length >> 1;
            channel.dataReceived(bytes.subarray(0, mid));
            channel.dataReceived(bytes.subarray(mid));
          } else for (let i = 0; i < bytes.length; i++) channel.dataReceived(bytes.subarray(i, i + 1));
        },
        out: () => transport.value().toString('latin1'),
        responses: (methods) => parseResponses(transport.value(), methods),
        lose(clean = false) {
          conn.lost = true;
          channel.connectionLost(new Failure(clean ? new ConnectionDone() : new ConnectionLost()));
        },
      };
      conns.push(conn);
      return conn;
    },
  };
}

export interface ParsedResponse {
  status: number;
  headers: HeaderList;
  body: string;
  complete: boolean;
}

/** Every response in `bytes` (framing by method, default GET). */
export function parseResponses(bytes: Uint8Array, methods: string[] = []): ParsedResponse[] {
  const parser = new ResponseParser();
  for (let i = 0; i < 100; i++) parser.expectResponse(methods[i] ?? 'GET');
  const out: ParsedResponse[] = [];
  let cur: ParsedResponse | null = null;
  try {
    parser.feed(bytes, {
      onHead(h: { status: number; headers: HeaderList }) {
        cur = { status: h.status, headers: h.headers, body: '', complete: false };
        out.push(cur);
      },
      onData(d: Uint8Array) {
        cur!.body += Buffer.from(d).toString('latin1');
      },
      onEnd() {
        cur!.complete = true;
      },
    });
  } catch {
    // A 101 switches protocols: what follows is not HTTP.
  }
  return out;
}

/** A request head (and body) on the wire. */
export function request(method: string, target: string, headers: Record<string, string> = {}, body = ''): string {
  let head = `${method} ${target} HTTP/1.1\r\nHost: testserver\r\n`;
  for (const [n, v] of Object.entries(headers)) head += `${n}: ${v}\r\n`;
  if (body !== '' && headers['Content-Length'] === undefined && headers['Transfer-Encoding'] === undefined) {
    head += `Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n`;
  }
  return `${head}\r\n${body}`;
}

export const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const WS_ACCEPT = createHash('sha1').update(`${WS_KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

/** A WebSocket upgrade request. */
export function upgrade(target = '/ws/', extra: Record<string, string> = {}): string {
  return request('GET', target, {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': WS_KEY,
    'Sec-WebSocket-Version': '13',
    ...extra,
  });
}

/** A masked client frame. */
export function clientFrame(opcode: number, payload: string | Uint8Array, fin = true): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  const mask = Buffer.from([1, 2, 3, 4]);
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  if (data.length < 126) head.push(0x80 | data.length);
  else head.push(0x80 | 126, data.length >> 8, data.length & 0xff);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i]! ^ mask[i & 3]!;
  return Buffer.concat([Buffer.from(head), mask, masked]);
}

/** A close frame from the client with `code` and `reason`. */
export function clientClose(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return clientFrame(0x8, payload);
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** The (unmasked, uncompressed) frames the server wrote after its 101 response. */
export function serverFrames(out: Buffer): ServerFrame[] {
  const end = out.indexOf('\r\n\r\n');
  let at = end === -1 ? 0 : end + 4;
  const frames: ServerFrame[] = [];
  while (at + 2 <= out.length) {
    const opcode = out[at]! & 0x0f;
    let len = out[at + 1]! & 0x7f;
    let p = at + 2;
    if (len === 126) {
      len = out.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      len = Number(out.readBigUInt64BE(p));
      p += 8;
    }
    if (p + len > out.length) break;
    frames.push({ opcode, payload: out.subarray(p, p + len) });
    at = p + len;
  }
  return frames;
}

/** A close frame's code and reason. */
export function closeOf(frame: ServerFrame): { code: number; reason: string } {
  return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString('utf8') };
}

/** An application that records the scopes it is called with and runs `body`. */
export function recordingApp(body: ASGIApplication): ASGIApplication & { scopes: Scope[] } {
  const scopes: Scope[] = [];
  const app: ASGIApplication = (scope, receive, send) => {
    scopes.push(scope);
    return body(scope, receive, send);
  };
  return Object.assign(app, { scopes });
}

/** `text/plain` hello: reads the whole body, answers `hello <n bytes>`. */
export const hello: ASGIApplication = async (scope, receive, send) => {
  if (scope.type !== 'http') throw new Error(`unsupported scope ${scope.type}`);
  let n = 0;
  for (;;) {
    const ev: ASGIEvent = await receive();
    if (ev.type !== 'http.request') return;
    n += (ev.body as Uint8Array).length;
    if (ev.more_body !== true) break;
  }
  const body = new TextEncoder().encode(`hello ${n}`);
  await send({ type: 'http.response.start', status: 200, headers: [['content-type', 'text/plain']] });
  await send({ type: 'http.response.body', body });
};

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
