/**
 * Reading sockets without Node's stream machinery (the transports of
 * `./streamTransport.ts` use this for plain TCP and UNIX sockets; TLS stays
 * on streams).
 *
 * Why: for every read, Node's default path mallocs a 64 KiB buffer, reallocs
 * it down, wraps it in a new ArrayBuffer and Buffer, and pushes it through
 * the Readable machinery (a `process.nextTick` and a `read(0)` per read) —
 * about a quarter of a WebSocket echo server's CPU time. Node's `onread`
 * option instead reads into a buffer we supply and calls us with the byte
 * count: here, one buffer shared by every socket, whose bytes are copied out
 * (a small copy is cheaper than all of the above) before the protocol sees
 * them. A protocol may keep what `dataReceived` gave it (a partial frame, a
 * buffered body), so it never gets a view of the shared buffer, which the
 * next read overwrites. Sharing is safe because a read and its callback run
 * synchronously, one socket at a time, and no per-connection buffer is
 * reserved (an idle connection stays as small as on the stream path).
 *
 * `onread` is public API for `net.connect`, but Node 20's `net.createServer`
 * does not take it. An accepted socket is therefore created paused
 * (`pauseOnConnect`) and its handle adopted by a new `net.Socket` made with
 * `onread`: that relies on Node internals (`socket._handle` and the
 * undocumented `handle` constructor option, both what `net.Server` itself
 * uses), so it is feature-detected per socket, and anything missing leaves
 * the accepted socket on the stream path. Both paths keep a 'data' listener:
 * a socket on `onread` never emits 'data', and one that ignored the option
 * still delivers everything.
 */
import { Buffer } from 'node:buffer';
import net from 'node:net';

/**
 * What Node calls with each read: the bytes are `buffer[0, nread)`; `this`
 * is the socket. Returning false stops reading (as `socket.pause()` would).
 */
export type ReadCallback = (this: net.Socket, nread: number, buffer: Buffer) => boolean;

/**
 * An optional protocol method, under this symbol, that takes the reads of the
 * fast path without the owned copy: `buffer[0, n)` holds the bytes only for
 * the duration of the call (the next read, on any socket, overwrites them),
 * so the method copies whatever it keeps beyond it. For a protocol that
 * mostly decodes what it reads at once (the WebSocket protocol turns a text
 * frame into a string straight from the buffer), the copy and its Buffer
 * are then saved. Internal to Spindle's own protocols: it is not part of
 * `IProtocol`, and a transport that has no fast read path calls
 * `dataReceived` as usual.
 */
export const kReadBorrowed: unique symbol = Symbol('spindle.readBorrowed');

/** A protocol with the {@link kReadBorrowed} method. */
export interface BorrowingReader {
  [kReadBorrowed](buffer: Buffer, n: number): void;
}

/** Whether `protocol` takes borrowed reads (see {@link kReadBorrowed}). */
export function readsBorrowed(protocol: object): protocol is BorrowingReader {
  return typeof (protocol as Partial<BorrowingReader>)[kReadBorrowed] === 'function';
}

/** The size of the shared read buffer: the most one read delivers (Node's own default). */
export const READ_BUFFER_SIZE = 64 * 1024;

let enabled = true;
let shared: Buffer | null = null;

/**
 * Turn the fast read path on or off for sockets made from now on (ports
 * opened and connections started after the call); returns the previous
 * setting. Internal: the tests use it to run the stream path too.
 */
export function setFastReads(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** Whether new sockets use the fast read path. */
export function fastReadsEnabled(): boolean {
  return enabled;
}

/** The `onread` option for a socket whose reads go to `callback`, or undefined when the fast path is off. */
export function onreadOption(callback: ReadCallback): net.OnReadOpts | undefined {
  return enabled ? sharedOnread(callback) : undefined;
}

function sharedOnread(callback: ReadCallback): net.OnReadOpts {
  shared ??= Buffer.allocUnsafe(READ_BUFFER_SIZE);
  // Node calls it as a method of the socket, which ReadCallback declares as `this`.
  return { buffer: shared, callback: callback as unknown as net.OnReadOpts['callback'] };
}

/**
 * An owned copy of `buffer[0, n)`: a Buffer from Node's pool when small (the
 * retention of any small Node Buffer), its own allocation otherwise.
 */
export function copyRead(buffer: Buffer, n: number): Buffer {
  // `Buffer` is imported: the global one is a getter, costly on a hot path.
  const out = Buffer.allocUnsafe(n);
  out.set(n === buffer.length ? buffer : buffer.subarray(0, n));
  return out;
}

/** The parts of a libuv stream handle (TCP or Pipe wrap) that adoption needs. */
interface StreamHandle {
  readStart(): number;
  readStop(): number;
  useUserBuffer(buffer: Uint8Array): void;
}

function isStreamHandle(h: unknown): h is StreamHandle {
  if (typeof h !== 'object' || h === null) return false;
  const o = h as Record<string, unknown>;
  return typeof o['readStart'] === 'function' && typeof o['readStop'] === 'function' && typeof o['useUserBuffer'] === 'function';
}

type InternalSocket = net.Socket & { _handle?: unknown };

/** Options of the adopting socket, as `net.Server` gives its accepted sockets (plus ours). */
export interface AdoptOptions {
  allowHalfOpen: boolean;
  highWaterMark: number;
}

/**
 * Move an accepted socket, created paused (`pauseOnConnect`), to the fast
 * read path: a new socket adopts its handle with `onread`, and the old one
 * is destroyed without its handle (which also takes it off the server's
 * connection count). Returns the socket to use, reading: the new one, or
 * `socket` itself, resumed, when the fast path is unavailable.
 */
export function adoptAccepted(socket: net.Socket, callback: ReadCallback, options: AdoptOptions): net.Socket {
  const handle = (socket as InternalSocket)._handle;
  if (isStreamHandle(handle) && !socket.destroyed) {
    let adopted: net.Socket | null = null;
    try {
      adopted = new net.Socket({
        handle,
        readable: true,
        writable: true,
        allowHalfOpen: options.allowHalfOpen,
        readableHighWaterMark: options.highWaterMark,
        writableHighWaterMark: options.highWaterMark,
        onread: sharedOnread(callback),
      } as net.SocketConstructorOpts);
    } catch {
      // Options this Node refuses (validated before the handle is taken): the stream path.
    }
    if (adopted !== null && (adopted as InternalSocket)._handle === handle) {
      // The new socket owns the handle (and reads: its constructor started reading).
      (socket as InternalSocket)._handle = null;
      socket.destroy();
      return adopted;
    }
    // The option was not honoured: the handle still belongs to `socket`.
    adopted?.destroy();
  }
  socket.resume();
  return socket;
}
