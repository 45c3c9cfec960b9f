// A lean WebSocket client for broadcast benchmarks: it opens many connections and only counts the
// data frames they receive, so that one client process can keep up with a fast server and the
// server stays the thing being measured. `ws`'s client (or socket.io-client) spends several µs of
// its own per message — decoding, events, Buffers — which caps what one client core can receive
// below what a good server sends.
//
// Every server gets exactly the same work per frame: read into one static buffer (net's `onread`,
// no allocation per read), walk the frame headers, skip the payloads. The only difference is the
// handshake each protocol needs: a plain WebSocket upgrade, or Socket.IO's (Engine.IO v4 over a
// WebSocket: the server's OPEN packet "0{…}", our CONNECT "40", its CONNECT reply "40{…}"; a PING
// "2" is answered with PONG "3"). For Socket.IO only EVENT packets ("42[…]") count as deliveries.
// (The leading underscore keeps bench/run.js from taking this file for a benchmark.)
import { randomBytes } from 'node:crypto';
import net from 'node:net';

const READ_BUFFER = Buffer.alloc(256 * 1024);

/**
 * A masked client frame (FIN set) carrying `payload`: text (opcode 1) or binary (2). A benchmark
 * may send the same masked frame again and again: the server unmasks it all the same.
 */
export function clientFrame(payload, binary = false) {
  const n = payload.length;
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const frame = Buffer.alloc(2 + lengthBytes + 4 + n);
  frame[0] = binary ? 0x82 : 0x81;
  if (lengthBytes === 0) frame[1] = 0x80 | n;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  const at = 2 + lengthBytes;
  randomBytes(4).copy(frame, at);
  for (let i = 0; i < n; i++) frame[at + 4 + i] = payload[i] ^ frame[at + (i & 3)];
  return frame;
}

const SIO_CONNECT = clientFrame(Buffer.from('40'));
const SIO_PONG = clientFrame(Buffer.from('3'));
const CHAR_0 = 0x30;
const CHAR_2 = 0x32;
const CHAR_4 = 0x34;

/**
 * One connection's frame reader. It keeps only a few numbers between reads: bytes of payload
 * still to skip, and a partial header (rare: a header split across reads) in a small buffer.
 */
class FrameCounter {
  constructor(kind, onDelivery, onOpen, socket) {
    this.kind = kind;
    this.onDelivery = onDelivery;
    this.onOpen = onOpen;
    this.socket = socket;
    this.upgraded = false;
    this.head = ''; // the HTTP response head, until the blank line
    this.skip = 0; // payload bytes of the current frame still to come
    this.partial = null; // the start of a header split across reads
    this.first = -1; // the current frame's first two payload bytes (Socket.IO's packet type), or -1
    this.opcode = 0;
    this.length = 0; // the current frame's payload length
    this.pending = 0; // payload bytes still unseen of the first two
  }

  feed(buf, start, end) {
    if (!this.upgraded) {
      const text = buf.latin1Slice(start, end);
      const at = (this.head + text).indexOf('\r\n\r\n');
      if (at === -1) {
        this.head += text;
        return;
      }
      const head = this.head + text;
      if (!head.startsWith('HTTP/1.1 101')) throw new Error(`no upgrade: ${head.slice(0, head.indexOf('\r\n'))}`);
      this.upgraded = true;
      start = end - (head.length - at - 4);
      this.head = '';
      if (this.kind === 'spindle') this.onOpen();
    }
    if (this.partial !== null) {
      buf = Buffer.concat([this.partial, buf.subarray(start, end)]);
      start = 0;
      end = buf.length;
      this.partial = null;
    }
    let i = start;
    while (i < end) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - i);
        if (this.pending > 0) this.peek(buf, i, Math.min(n, this.pending));
        this.skip -= n;
        i += n;
        if (this.skip === 0) this.frameDone();
        continue;
      }
      // A frame header: 2 bytes, then 2 or 8 bytes of extended length (servers do not mask).
      if (end - i < 2) break;
      const b1 = buf[i + 1] & 0x7f;
      const headerLength = b1 === 126 ? 4 : b1 === 127 ? 10 : 2;
      if (end - i < headerLength) break;
      this.opcode = buf[i] & 0x0f;
      const length = b1 === 126 ? buf.readUInt16BE(i + 2) : b1 === 127 ? Number(buf.readBigUInt64BE(i + 2)) : b1;
      this.length = length;
      i += headerLength;
      this.first = 0;
      this.pending = Math.min(2, length);
      this.skip = length;
      if (length === 0) this.frameDone();
    }
    if (i < end) this.partial = Buffer.from(buf.subarray(i, end));
  }

  /** Note up to the first two payload bytes (Socket.IO's packet type is in them). */
  peek(buf, i, n) {
    for (let k = 0; k < n; k++) this.first = (this.first << 8) | buf[i + k];
    this.pending -= n;
  }

  frameDone() {
    const opcode = this.opcode;
    if (opcode !== 1 && opcode !== 2) return; // control frames (and continuations) are not deliveries
    if (this.kind === 'spindle') {
      this.onDelivery(this.socket, this.length);
      return;
    }
    const first = this.first;
    if (first === ((CHAR_4 << 8) | CHAR_2)) this.onDelivery(this.socket, this.length); // "42": EVENT
    else if (first === CHAR_2) this.socket.write(SIO_PONG); // "2": PING
    else if (first === ((CHAR_4 << 8) | CHAR_0)) this.onOpen(); // "40": CONNECT accepted
    else if (first >> 8 === CHAR_0 || first === CHAR_0) this.socket.write(SIO_CONNECT); // "0{…}": OPEN
  }
}

/**
 * Open one client to `port` and resolve once it is ready to receive (upgraded; for Socket.IO,
 * connected to the default namespace) with `{ send, close }`. `onDelivery(socket, length)` is
 * called for every data frame it counts, with the socket (to answer on) and the payload length.
 * `kind` is 'spindle' for any plain WebSocket server (`ws` too), or 'socketio'.
 */
export function openCountingClient(kind, port, onDelivery) {
  return new Promise((resolve, reject) => {
    const path = kind === 'spindle' ? '/' : '/socket.io/?EIO=4&transport=websocket';
    let counter = null;
    const socket = net.connect({
      port,
      host: '127.0.0.1',
      onread: {
        buffer: READ_BUFFER,
        callback: (n, buf) => {
          try {
            counter.feed(buf, 0, n);
          } catch (e) {
            socket.destroy(e);
          }
        },
      },
    });
    const client = { send: (bytes) => socket.write(bytes), close: () => socket.destroy() };
    counter = new FrameCounter(kind, onDelivery, () => resolve(client), socket);
    socket.setNoDelay(true);
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}
