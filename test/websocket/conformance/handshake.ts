/**
 * The checker's opening handshakes over raw `net` sockets (RFC 6455 §4), both ends, written
 * without `src/`: a client that sends the upgrade request and validates the 101 (status, tokens,
 * the accept hash), and a fake server that reads a request and answers it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HEAD = 64 * 1024;

/** `Sec-WebSocket-Accept` for `key`. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** An HTTP head as read off a socket: the start line, lower-cased headers, and the bytes after it. */
export interface Head {
  readonly startLine: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly rest: Buffer;
}

/**
 * Read one HTTP head from `socket` (up to `\r\n\r\n`), then stop reading (the socket is paused,
 * listeners removed) and hand back what came after it.
 */
export function readHead(socket: Socket, timeoutMs: number): Promise<Head> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no HTTP head within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err: Error | null, head?: Head): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.pause();
      if (err !== null) reject(err);
      else resolve(head!);
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > MAX_HEAD) finish(new Error('HTTP head too large'));
        return;
      }
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) return finish(new Error(`malformed header line ${JSON.stringify(line)}`));
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
      }
      finish(null, { startLine: lines[0]!, headers, rest: buf.subarray(end + 4) });
    };
    const onEnd = (): void => finish(new Error('connection closed during the opening handshake'));
    const onError = (e: Error): void => finish(e);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
  });
}

function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.split(',').some((t) => t.trim().toLowerCase() === token);
}

/** What the client end of the handshake learnt. */
export interface ClientHandshakeResult {
  /** The server's `Sec-WebSocket-Extensions`, if any. */
  readonly extensions: string | undefined;
  /** Bytes that came after the 101 (the first frames). */
  readonly rest: Buffer;
}

/**
 * Send an upgrade request for `path` (with `extensions` as `Sec-WebSocket-Extensions` when
 * given) and check the answer: 101, `Upgrade: websocket`, `Connection: upgrade`, and the right
 * `Sec-WebSocket-Accept`.
 *
 * @throws Error (rejects) describing what was wrong with the answer.
 */
export async function clientHandshake(socket: Socket, host: string, path: string, extensions: string | null, timeoutMs = 5000): Promise<ClientHandshakeResult> {
  const key = randomBytes(16).toString('base64');
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
  ];
  if (extensions !== null) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  const reading = readHead(socket, timeoutMs);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  const head = await reading;
  const status = /^HTTP\/1\.1 (\d{3})/.exec(head.startLine);
  if (status === null || status[1] !== '101') throw new Error(`expected 101, got ${JSON.stringify(head.startLine)}`);
  if (head.headers.get('upgrade')?.toLowerCase() !== 'websocket') throw new Error('101 without Upgrade: websocket');
  if (!hasToken(head.headers.get('connection'), 'upgrade')) throw new Error('101 without Connection: upgrade');
  if (head.headers.get('sec-websocket-accept') !== acceptFor(key)) throw new Error('wrong Sec-WebSocket-Accept');
  return { extensions: head.headers.get('sec-websocket-extensions'), rest: head.rest };
}

/** An upgrade request as the fake server read it. */
export interface UpgradeRequest {
  readonly path: string;
  readonly key: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly rest: Buffer;
}

/**
 * Read an upgrade request and check it as RFC 6455 §4.1 wants a client to send it (GET over
 * HTTP/1.1, `Host`, the tokens, a 16-byte key, version 13).
 *
 * @throws Error (rejects) describing what was wrong with it.
 */
export async function readUpgradeRequest(socket: Socket, timeoutMs = 5000): Promise<UpgradeRequest> {
  const head = await readHead(socket, timeoutMs);
  const m = /^GET (\S+) HTTP\/1\.1$/.exec(head.startLine);
  if (m === null) throw new Error(`not a GET over HTTP/1.1: ${JSON.stringify(head.startLine)}`);
  const h = head.headers;
  if (!h.has('host')) throw new Error('no Host header');
  if (!hasToken(h.get('upgrade'), 'websocket')) throw new Error('no Upgrade: websocket');
  if (!hasToken(h.get('connection'), 'upgrade')) throw new Error('no Connection: upgrade');
  if (h.get('sec-websocket-version') !== '13') throw new Error('Sec-WebSocket-Version is not 13');
  const key = h.get('sec-websocket-key') ?? '';
  if (Buffer.from(key, 'base64').length !== 16 || !/^[A-Za-z0-9+/]{22}==$/.test(key)) throw new Error(`bad Sec-WebSocket-Key ${key}`);
  return { path: m[1]!, key, headers: h, rest: head.rest };
}

/** Answer an upgrade request with a 101 (and `extensions` when given). */
export function write101(socket: Socket, key: string, extensions: string | null): void {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`];
  if (extensions !== null) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
}
