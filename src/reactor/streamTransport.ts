/**
 * One connection over a `node:net` socket — TCP, UNIX and TLS alike — as its
 * protocol sees it (Twisted's `abstract.FileDescriptor` and `tcp.Connection`):
 * writes (straight to the socket's handle when it can, `./fastWrite.ts`),
 * reads (the fast read path, `./fastRead.ts`), flow control, STARTTLS and the
 * lingering close. Ports (`./streamPort.ts`) and connectors
 * (`./streamConnector.ts`) make them; `./tcp.ts` has the entry points.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { Failure } from '../defer/failure.js';
import type { IReactorTime } from '../defer/clock.js';
import { Logger } from '../logger/index.js';
import type { Address } from './address.js';
import { ConnectionDone, ConnectionLost } from './errors.js';
import {
  copyRead,
  kReadBorrowed,
  readsBorrowed,
  type BorrowingReader,
  type ReadCallback,
} from './fastRead.js';
import { canWriteDirect, PENDING, pendingBytes, UNAVAILABLE, WRITTEN, writeDirect, writeError, writevDirect } from './fastWrite.js';
import { assertBytes, deliverConnectionLost, isHalfCloseable, makeConnection } from './glue.js';
import type { IProducer, IProtocol, IPushProducer, ITLSTransport, ITransport, TLSOptions } from './interfaces.js';
import { ResourceGroup, type ReactorResource, type ResourceTracker } from './resources.js';
import { peerCertificate, upgradeToTLS } from './tls.js';
import { assertWritableString, type WriteStringEncoding } from './writeString.js';

const log = new Logger('spindle.reactor');

/** What ports, connectors and transports need from their reactor. */
export type StreamReactor = IReactorTime & ResourceTracker;

/**
 * Bytes queued in a socket before a streaming producer is paused (Twisted's
 * `bufferSize`, 64 KiB): `socket.write` returns false past it.
 */
export const HIGH_WATER_MARK = 64 * 1024;

const noop = (): void => {};

/**
 * Seconds a closed connection keeps reading (and dropping) what the peer
 * still sends, waiting for its FIN, before the socket is destroyed: the
 * bound of the lingering close (see {@link StreamTransport}).
 */
export const LINGER_TIMEOUT = 2;

/** How a transport was made: which side, its addresses, and who to tell when it ends. */
export interface TransportSetup {
  /** Accepted by a port (TLS server side for startTLS) rather than connected out. */
  server: boolean;
  secure: boolean;
  peer: Address;
  host: Address;
  /** The host name a client checks the server's certificate against on startTLS. */
  tlsHost?: string;
  /** Called after the protocol's `connectionLost` (the connector's hook). */
  onLost?: (reason: Failure) => void;
}

/**
 * The transport that owns a socket, stored on the socket itself: the socket
 * listeners are shared functions (Node calls them with the socket as `this`)
 * that find their transport here, instead of five bound closures per
 * connection.
 */
const kTransport = Symbol('spindle.transport');

type OwnedSocket = net.Socket & { [kTransport]: StreamTransport };

function transportOf(socket: net.Socket): StreamTransport {
  return (socket as OwnedSocket)[kTransport];
}

/**
 * Node's `onread` callback of sockets on the fast read path (see
 * `./fastRead.ts`): the stream path's `'data'` listener without the streams.
 * Set by {@link StreamTransport}'s static block, as it reaches private
 * members.
 */
export let readCallback: ReadCallback;

/**
 * The open connections of each reactor, tracked as one resource (no
 * unregister closure per connection).
 */
const connectionGroups = new WeakMap<ResourceTracker, ResourceGroup<StreamTransport>>();

function connectionGroup(reactor: ResourceTracker): ResourceGroup<StreamTransport> {
  let group = connectionGroups.get(reactor);
  if (group === undefined) {
    group = new ResourceGroup<StreamTransport>(reactor);
    connectionGroups.set(reactor, group);
  }
  return group;
}

/**
 * A transport's state that most connections never need — flow control,
 * STARTTLS, failure reasons, the lingering close — created on first use so
 * that an idle connection stays small.
 */
class RareState {
  /** The plain socket under a STARTTLS upgrade, closed with the TLS one. */
  rawSocket: net.Socket | null = null;
  producer: IProducer | null = null;
  streamingProducer = false;
  producerPaused = false;
  pullScheduled = false;
  /** `loseConnection` waits for the producer to be unregistered. */
  closeAfterProducer = false;
  /** Our 'drain' listener is on the socket (added with the first producer: only producers need it). */
  drainListened = false;
  /** Why we closed (abort, protocol error, reactor stop), reported over the socket's own view. */
  closeReason: Error | null = null;
  socketError: Error | null = null;
  /** Set while lingering (our FIN is out): destroys the socket if the peer's FIN does not come. */
  lingerTimer: NodeJS.Timeout | null = null;
  /** Fast read path: bytes read while reading was paused, delivered on resume (see the read callback). */
  heldReads: Buffer[] | null = null;
  /** A direct write that did not complete at once paused the producer (as a full socket buffer would). */
  directFull = false;
}

// How a transport writes and reads (bits of `StreamTransport.io`).
/**
 * Writes go straight to the socket's handle whenever the socket has nothing
 * queued (`./fastWrite.ts`); without it (TLS, or direct writes unavailable),
 * through `socket.write`.
 */
const IO_WRITE_DIRECT = 1;
/** A direct write is still in progress: `socket.write` (queued behind it) until it is done. */
const IO_WRITE_WAITING = 2;
/** The protocol takes the fast read path's bytes without a copy (`kReadBorrowed`, `./fastRead.ts`). */
const IO_READ_BORROWED = 4;

/**
 * One connection over a `net.Socket` (or `tls.TLSSocket`), as its protocol
 * sees it: an {@link ITLSTransport}.
 *
 * - `write` passes bytes straight to the socket (no copy: do not modify a
 *   buffer after writing it); `writeString` lets the socket encode a string
 *   itself; writes after the connection is closed for writing are dropped
 *   silently.
 * - `loseConnection` flushes, waits for a registered producer to be
 *   unregistered, then closes; no data is delivered after it.
 * - Lingering close: after `loseConnection` has sent our FIN, the transport
 *   keeps reading (and dropping) until the peer's FIN, for at most
 *   {@link LINGER_TIMEOUT} seconds, and only then closes the socket. Closing
 *   at once would make our kernel answer anything the peer still sends (a
 *   pipelined request, a body we did not read) with an RST, and an RST can
 *   make the peer's kernel discard response bytes it has received but its
 *   application has not read yet (nginx's `lingering_close`).
 *   `abortConnection` and reactor shutdown close at once.
 * - `connectionLost` is called exactly once, when the socket has closed:
 *   ConnectionDone for a clean close, ConnectionLost otherwise (the socket's
 *   error as `cause`).
 * - Flow control: a streaming producer is paused when the socket's buffer
 *   passes {@link HIGH_WATER_MARK} and resumed on `'drain'`; a pull producer
 *   is asked for a chunk whenever the buffer has room.
 * - An exception thrown by a protocol callback is logged and the connection
 *   is dropped (ConnectionLost, the exception as `cause`).
 */
export class StreamTransport implements ITLSTransport, ReactorResource {
  // Read by every write, so first (fields are laid out in the order declared: a server writing to
  // many connections reads fewer memory lines of each).
  /** `end()` was called (or the connection is gone): writes are dropped. */
  private writeClosed = false;
  /** The IO_* bits. */
  private io: number;
  private socket: net.Socket;
  /** True once `loseConnection`/`abortConnection` was called or the connection ended. */
  disconnecting = false;
  /** True once the protocol got `connectionLost`. */
  disconnected = false;
  readonly protocol: IProtocol;

  private readonly setup: TransportSetup;
  private readonly connections: ResourceGroup<StreamTransport>;
  /** `close()` ran: flushing, then lingering until the socket closes. */
  private closing = false;
  private readPaused = false;
  private rare: RareState | null = null;

  constructor(reactor: ResourceTracker, socket: net.Socket, protocol: IProtocol, setup: TransportSetup) {
    this.protocol = protocol;
    this.socket = socket;
    this.setup = setup;
    this.connections = connectionGroup(reactor);
    // Plain TCP and UNIX sockets skip Node's Writable bookkeeping when nothing is queued (./fastWrite.ts).
    this.io = (!setup.secure && canWriteDirect(socket) ? IO_WRITE_DIRECT : 0) | (readsBorrowed(protocol) ? IO_READ_BORROWED : 0);
    this.attach(socket);
    this.connections.add(this);
    try {
      makeConnection(protocol, this);
    } catch (e) {
      this.protocolFailed(e, 'connectionMade');
    }
  }

  // ------------------------------------------------------------ socket events

  private attach(socket: net.Socket): void {
    (socket as OwnedSocket)[kTransport] = this;
    socket.on('data', StreamTransport.onData);
    socket.on('end', StreamTransport.onEnd);
    socket.on('error', StreamTransport.onError);
    socket.on('close', StreamTransport.onClose);
    if (this.rare?.drainListened === true) socket.on('drain', StreamTransport.onDrain);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', StreamTransport.onData);
    socket.off('end', StreamTransport.onEnd);
    socket.off('error', StreamTransport.onError);
    socket.off('close', StreamTransport.onClose);
    socket.off('drain', StreamTransport.onDrain);
  }

  // The listeners below are shared by every connection: `this` is the socket.

  private static onData(this: net.Socket, data: Buffer): void {
    const t = transportOf(this);
    // After loseConnection (and while lingering) input is read and dropped.
    if (t.disconnecting) return;
    try {
      t.protocol.dataReceived?.(data);
    } catch (e) {
      t.protocolFailed(e, 'dataReceived');
    }
  }

  static {
    readCallback = function onRead(this: net.Socket, nread: number, buffer: Buffer): boolean {
      const t = transportOf(this);
      if (t.disconnecting) return true;
      if (t.readPaused) {
        // Node's stream bookkeeping can restart a paused handle (a `read(0)` scheduled by an earlier
        // `resume()`): hold the bytes for resumeProducing and stop reading again (`false`).
        (t.more().heldReads ??= []).push(copyRead(buffer, nread));
        return false;
      }
      try {
        // `buffer` is shared by every socket and overwritten by the next read: a protocol gets an
        // owned copy, or borrows the bytes for the call if it says it copies what it keeps.
        if ((t.io & IO_READ_BORROWED) !== 0) (t.protocol as IProtocol & BorrowingReader)[kReadBorrowed](buffer, nread);
        else t.protocol.dataReceived?.(copyRead(buffer, nread));
      } catch (e) {
        t.protocolFailed(e, 'dataReceived');
      }
      return true;
    };
  }

  /** The peer sent EOF. */
  private static onEnd(this: net.Socket): void {
    const t = transportOf(this);
    if (t.disconnected) return;
    if (isHalfCloseable(t.protocol)) {
      try {
        t.protocol.readConnectionLost!();
      } catch (e) {
        t.protocolFailed(e, 'readConnectionLost');
      }
    } else {
      // Twisted closes outright; flushing what the protocol wrote first is kinder.
      t.disconnecting = true;
      t.close();
    }
  }

  private static onDrain(this: net.Socket): void {
    const t = transportOf(this);
    const rare = t.rare;
    const producer = rare?.producer ?? null;
    if (rare === null || producer === null) return;
    if (!rare.streamingProducer) {
      t.pull();
    } else if (rare.producerPaused) {
      rare.producerPaused = false;
      try {
        producer.resumeProducing();
      } catch (e) {
        t.protocolFailed(e, 'resumeProducing');
      }
    }
  }

  private static onError(this: net.Socket, err: Error): void {
    const t = transportOf(this);
    // Our close was complete (everything flushed, FIN sent): what the peer does while we
    // linger (an RST) does not make it unclean.
    if (t.lingering) return;
    t.more().socketError ??= err;
  }

  private static onClose(this: net.Socket): void {
    const t = transportOf(this);
    const rare = t.rare;
    if (rare === null) {
      t.connectionLost(new ConnectionDone());
      return;
    }
    rare.rawSocket?.destroy();
    const err = rare.socketError;
    t.connectionLost(
      rare.closeReason ?? (err !== null ? new ConnectionLost(err.message, { cause: err }) : new ConnectionDone()),
    );
  }

  // ------------------------------------------------------------ ITransport

  write(data: Uint8Array): void {
    assertBytes(data);
    this.writeBytes(data);
  }

  /**
   * @internal `write` for bytes the caller made itself (a protocol's frames): the same rules,
   * without the argument check. Reached through {@link bytesWriter}, which refuses a subclass
   * whose `write` would be skipped.
   */
  writeBytes(data: Uint8Array): void {
    if (this.writeClosed || data.byteLength === 0) return;
    const socket = this.socket;
    if (this.writesDirect() && this.tookDirect(writeDirect(socket, data, null, socket, StreamTransport.directWriteDone))) return;
    if (!socket.write(data)) this.bufferFull();
  }

  /**
   * Queue `data` encoded as `encoding`: the socket encodes the string straight
   * into its write request, so no Buffer is built for it first. Same rules as
   * `write` (dropped once closed for writing; empty strings ignored).
   * @throws TypeError when `data` is not a string or `encoding` is neither 'latin1' nor 'utf8'.
   */
  writeString(data: string, encoding: WriteStringEncoding): void {
    assertWritableString(data, encoding);
    if (this.writeClosed || data.length === 0) return;
    const socket = this.socket;
    if (this.writesDirect() && this.tookDirect(writeDirect(socket, data, encoding, socket, StreamTransport.directWriteDone))) return;
    if (!socket.write(data, encoding)) this.bufferFull();
  }

  /** Writes every buffer in one batch (`cork`/`uncork`: one system call where possible). */
  writeSequence(data: readonly Uint8Array[]): void {
    let empty = false;
    for (const chunk of data) {
      assertBytes(chunk);
      if (chunk.byteLength === 0) empty = true;
    }
    if (this.writeClosed) return;
    const socket = this.socket;
    if (this.writesDirect() && !empty && data.length > 0) {
      const r =
        data.length === 1
          ? writeDirect(socket, data[0]!, null, socket, StreamTransport.directWriteDone)
          : writevDirect(socket, data, socket, StreamTransport.directWriteDone);
      if (this.tookDirect(r)) return;
    }
    let full = false;
    socket.cork();
    for (const chunk of data) if (chunk.byteLength > 0 && !socket.write(chunk)) full = true;
    socket.uncork();
    if (full) this.bufferFull();
  }

  loseConnection(): void {
    if (this.disconnecting) return;
    this.disconnecting = true;
    const rare = this.rare;
    if (rare !== null && rare.producer !== null) rare.closeAfterProducer = true;
    else this.close();
  }

  abortConnection(): void {
    if (this.disconnected) return;
    this.disconnecting = true;
    this.writeClosed = true;
    this.more().closeReason ??= new ConnectionLost('the connection was aborted');
    const socket = this.socket;
    // An RST where the socket is plain TCP; TLS and UNIX sockets just close.
    if (!this.isSecure && socket.remotePort !== undefined) {
      try {
        socket.resetAndDestroy();
        return;
      } catch {
        // not a TCP handle after all
      }
    }
    socket.destroy();
  }

  getPeer(): Address {
    return this.setup.peer;
  }

  getHost(): Address {
    return this.setup.host;
  }

  // ------------------------------------------------------------ ITCPTransport

  /** Send FIN once the queued bytes are written; reading goes on. `writeConnectionLost` follows. */
  loseWriteConnection(): void {
    if (this.writeClosed) return;
    this.writeClosed = true;
    this.socket.once('finish', StreamTransport.onWriteClosed);
    this.socket.end();
  }

  private static onWriteClosed(this: net.Socket): void {
    const t = transportOf(this);
    if (t.disconnected) return;
    try {
      t.protocol.writeConnectionLost?.();
    } catch (e) {
      t.protocolFailed(e, 'writeConnectionLost');
    }
  }

  setTcpNoDelay(enabled: boolean): void {
    this.socket.setNoDelay(enabled);
  }

  setTcpKeepAlive(enabled: boolean, initialDelaySeconds = 0): void {
    this.socket.setKeepAlive(enabled, initialDelaySeconds * 1000);
  }

  /**
   * Switch to TLS now (STARTTLS): a connection accepted by a port becomes
   * the TLS server, an outgoing one the client (verifying the server unless
   * `options.rejectUnauthorized` is false). Bytes written before the call
   * go out in clear; bytes written after, encrypted.
   * @throws Error when TLS is already on or the connection is closed.
   */
  startTLS(options: TLSOptions): void {
    if (this.isSecure) throw new Error('TLS is already started on this connection');
    if (this.disconnecting || this.writeClosed) throw new Error('cannot start TLS on a closing connection');
    const raw = this.socket;
    // Paused, the plain socket keeps what it reads for the TLS layer.
    raw.pause();
    this.detach(raw);
    // Its errors surface on the TLS socket, which owns the connection now.
    raw.on('error', noop);
    // TLS writes go through the TLS socket's stream (a direct write still pending on `raw` is
    // ahead of them in the same libuv queue).
    this.io &= ~IO_WRITE_DIRECT;
    const secure = upgradeToTLS(raw, options, this.setup.server, this.setup.tlsHost);
    this.more().rawSocket = raw;
    this.socket = secure;
    this.attach(secure);
    if (this.readPaused) secure.pause();
  }

  get isSecure(): boolean {
    return this.setup.secure || (this.rare !== null && this.rare.rawSocket !== null);
  }

  // ------------------------------------------------------------ ITLSTransport

  getPeerCertificate(): object | null {
    return this.isSecure ? peerCertificate(this.socket as tls.TLSSocket) : null;
  }

  get alpnProtocol(): string | null {
    if (!this.isSecure) return null;
    const p = (this.socket as tls.TLSSocket).alpnProtocol;
    return typeof p === 'string' ? p : null;
  }

  // ------------------------------------------------------------ consumer

  /**
   * Attach a producer: a streaming one is paused while the socket's buffer
   * is full; a pull one is asked for a chunk at once and whenever there is
   * room again. On a closed connection the producer is stopped at once.
   * @throws Error when a producer is already registered.
   */
  registerProducer(producer: IProducer, streaming: boolean): void {
    if (this.rare !== null && this.rare.producer !== null) {
      throw new Error('Cannot register a producer: another one is registered and was never unregistered');
    }
    if (this.disconnected) {
      producer.stopProducing();
      return;
    }
    const rare = this.more();
    rare.producer = producer;
    rare.streamingProducer = streaming;
    rare.producerPaused = false;
    if (!rare.drainListened) {
      rare.drainListened = true;
      this.socket.on('drain', StreamTransport.onDrain);
    }
    if (!streaming) this.pull();
  }

  unregisterProducer(): void {
    const rare = this.rare;
    if (rare === null) return;
    rare.producer = null;
    rare.producerPaused = false;
    if (rare.closeAfterProducer && !this.disconnected) this.close();
  }

  // ------------------------------------------------------------ push producer (reading)

  /** Stop reading (the peer is slowed down by TCP flow control). */
  pauseProducing(): void {
    this.readPaused = true;
    // A closing connection reads on (dropping it all) until the peer's FIN: see close().
    if (!this.closing) this.socket.pause();
  }

  /** Read again. */
  resumeProducing(): void {
    if (this.disconnected) return;
    this.readPaused = false;
    const held = this.rare?.heldReads;
    if (held !== undefined && held !== null && held.length > 0 && !this.deliverHeld(held)) return;
    this.socket.resume();
  }

  /** Same as `loseConnection`. */
  stopProducing(): void {
    this.loseConnection();
  }

  // ------------------------------------------------------------ ReactorResource

  /** The reactor is stopping: close now and give the protocol ConnectionLost (ConnectionDone when only lingering). */
  shutdown(): void {
    if (this.disconnected) return;
    // A lingering connection was closed cleanly already; the reactor only cuts the wait short.
    const reason = this.lingering ? new ConnectionDone() : new ConnectionLost('the reactor stopped');
    this.more().closeReason = reason;
    this.socket.destroy();
    this.connectionLost(reason);
  }

  // ------------------------------------------------------------ internals

  /**
   * Deliver the reads held while paused (fast read path), oldest first, one at
   * a time: the protocol may pause again (the rest stays held) or resume from
   * `dataReceived`. Dropped once disconnecting, like any input. False when
   * reading must stay stopped (paused again, or the connection failed).
   */
  private deliverHeld(held: Buffer[]): boolean {
    while (held.length > 0 && !this.disconnecting) {
      if (this.readPaused) return false;
      const data = held.shift()!;
      try {
        this.protocol.dataReceived?.(data);
      } catch (e) {
        this.protocolFailed(e, 'dataReceived');
        return false;
      }
    }
    held.length = 0;
    return !this.readPaused && !this.disconnected;
  }

  private more(): RareState {
    return (this.rare ??= new RareState());
  }

  /** Our FIN is out and we wait for the peer's (see close()). */
  private get lingering(): boolean {
    return this.rare !== null && this.rare.lingerTimer !== null;
  }

  /** Writes may go straight to the handle now (direct writes on, none pending). */
  private writesDirect(): boolean {
    return (this.io & (IO_WRITE_DIRECT | IO_WRITE_WAITING)) === IO_WRITE_DIRECT;
  }

  /**
   * What a direct write's result `r` means for the caller: true when the write
   * was taken (written, or pending / failed and handled here), false when it
   * was UNAVAILABLE and the caller must use `socket.write`.
   */
  private tookDirect(r: number): boolean {
    if (r === WRITTEN) return true;
    if (r === UNAVAILABLE) return false;
    this.directWriteNotDone(r);
    return true;
  }

  /**
   * A direct write that did not complete at once: PENDING (the rest is
   * queued in libuv: later writes take `socket.write`, behind it, until it is
   * done; one of HIGH_WATER_MARK bytes or more pauses a streaming producer,
   * as `socket.write` returning false would), or a negative errno (the
   * socket is destroyed with the error, as Node does for a failed write).
   */
  private directWriteNotDone(r: number): void {
    if (r === PENDING) {
      this.io |= IO_WRITE_WAITING;
      if (pendingBytes() >= HIGH_WATER_MARK) {
        this.more().directFull = true;
        this.bufferFull();
      }
      return;
    }
    this.socket.destroy(writeError(r));
  }

  /** A direct write that was PENDING is done (`socket` is the one it was made on). */
  private static directWriteDone(owner: object, status: number): void {
    const socket = owner as net.Socket;
    const t = transportOf(socket);
    t.io &= ~IO_WRITE_WAITING;
    if (status < 0) {
      // Node ignores the failure of a write to a socket already destroyed; so do we.
      if (!socket.destroyed) socket.destroy(writeError(status));
      return;
    }
    const rare = t.rare;
    if (rare !== null && rare.directFull) {
      rare.directFull = false;
      // Stream writes queued behind ours have their own 'drain' to come.
      if (t.socket === socket && !socket.writableNeedDrain) StreamTransport.onDrain.call(socket);
    }
  }

  private bufferFull(): void {
    const rare = this.rare;
    if (rare === null) return;
    const producer = rare.producer;
    if (producer !== null && rare.streamingProducer && !rare.producerPaused) {
      rare.producerPaused = true;
      (producer as IPushProducer).pauseProducing();
    }
  }

  /** Ask a pull producer for one chunk; again at the next turn while it writes and there is room. */
  private pull(): void {
    const rare = this.rare;
    const producer = rare?.producer ?? null;
    if (rare === null || producer === null || rare.streamingProducer) return;
    const socket = this.socket;
    const before = socket.bytesWritten;
    try {
      producer.resumeProducing();
    } catch (e) {
      this.protocolFailed(e, 'resumeProducing');
      return;
    }
    // A producer that wrote nothing waits to be resumed by someone else (as in Twisted).
    if (
      rare.producer === producer &&
      !socket.writableNeedDrain &&
      !rare.directFull &&
      socket.bytesWritten !== before &&
      !rare.pullScheduled
    ) {
      rare.pullScheduled = true;
      setImmediate(StreamTransport.pullAgain, this);
    }
  }

  private static pullAgain(t: StreamTransport): void {
    t.rare!.pullScheduled = false;
    if (!t.disconnected && !t.socket.writableNeedDrain && !t.rare!.directFull) t.pull();
  }

  /**
   * Flush, send FIN, then linger: keep reading (and dropping) until the
   * peer's FIN, when Node closes the socket by itself (both directions are
   * done), or for at most LINGER_TIMEOUT seconds.
   */
  private close(): void {
    if (this.rare !== null) this.rare.closeAfterProducer = false;
    if (this.closing) return;
    this.closing = true;
    const socket = this.socket;
    // Keep reading (and dropping) so unread input does not turn the close into an RST.
    if (this.readPaused) socket.resume();
    if (!this.writeClosed) {
      this.writeClosed = true;
      socket.end();
    }
    if (socket.writableFinished) this.linger();
    else socket.once('finish', StreamTransport.onCloseFlushed);
  }

  private static onCloseFlushed(this: net.Socket): void {
    transportOf(this).linger();
  }

  /** Everything is written and our FIN is out: wait for the peer's, within the bound. */
  private linger(): void {
    const socket = this.socket;
    // The peer's FIN came first: Node destroys the socket now that both directions are done.
    if (this.disconnected || socket.destroyed || socket.readableEnded) return;
    const timer = setTimeout(StreamTransport.lingerExpired, LINGER_TIMEOUT * 1000, this);
    // Never what keeps the process alive.
    timer.unref();
    this.more().lingerTimer = timer;
  }

  private static lingerExpired(t: StreamTransport): void {
    if (!t.disconnected) t.socket.destroy();
  }

  private protocolFailed(e: unknown, where: string): void {
    log.failure('Unhandled error in {callback} of a protocol: the connection is dropped', e, { callback: where });
    if (this.disconnected) return;
    this.more().closeReason ??= new ConnectionLost(`the protocol raised an exception in ${where}`, { cause: e });
    this.abortConnection();
  }

  private connectionLost(reason: Error): void {
    if (this.disconnected) return;
    this.disconnected = true;
    this.disconnecting = true;
    this.writeClosed = true;
    this.connections.delete(this);
    const rare = this.rare;
    let producer: IProducer | null = null;
    if (rare !== null) {
      if (rare.lingerTimer !== null) clearTimeout(rare.lingerTimer);
      producer = rare.producer;
      rare.producer = null;
    }
    if (producer !== null) {
      try {
        producer.stopProducing();
      } catch (e) {
        log.failure('Unhandled error in stopProducing of a producer', e);
      }
    }
    const failure = new Failure(reason);
    try {
      deliverConnectionLost(this.protocol, failure);
    } catch (e) {
      log.failure('Unhandled error in connectionLost of a protocol', e);
    }
    this.setup.onLost?.(failure);
  }
}

/**
 * @internal The transport to give a protocol's own frames to through `writeBytes` (past the
 * argument check of `write`), or null when `transport` is not a StreamTransport or overrides
 * `write` (whatever it does there must see every write): callers then use `write`.
 */
export function bytesWriter(transport: ITransport): StreamTransport | null {
  return transport instanceof StreamTransport && transport.write === StreamTransport.prototype.write ? transport : null;
}
