/**
 * Stream connections on `node:net` sockets — TCP, UNIX and TLS alike: the
 * transport a protocol talks to, the listening port that accepts
 * connections, and the connector that makes them (Twisted's `tcp.py`,
 * `unix.py` and `abstract.FileDescriptor`).
 *
 * Everything here registers with the reactor (`track`) while open, so
 * stopping the reactor closes ports, abandons attempts and gives every
 * connection `connectionLost`.
 */
import { chmodSync, lstat, unlink } from 'node:fs';
import net from 'node:net';
import type tls from 'node:tls';
import { Deferred } from '../defer/deferred.js';
import { Failure } from '../defer/failure.js';
import type { IDelayedCall, IReactorTime } from '../defer/clock.js';
import { Logger } from '../logger/index.js';
import { ipAddress, IPv4Address, IPv6Address, UNIXAddress, type Address } from './address.js';
import {
  CannotListenError,
  ConnectError,
  ConnectionDone,
  ConnectionLost,
  ConnectionRefusedError,
  DNSLookupError,
  NoProtocol,
  NotConnectingError,
  TCPTimedOutError,
  UserError,
} from './errors.js';
import {
  adoptAccepted,
  copyRead,
  fastReadsEnabled,
  kReadBorrowed,
  onreadOption,
  readsBorrowed,
  type BorrowingReader,
  type ReadCallback,
} from './fastRead.js';
import { canWriteDirect, PENDING, pendingBytes, UNAVAILABLE, WRITTEN, writeDirect, writeError, writevDirect } from './fastWrite.js';
import { assertBytes, deliverConnectionLost, isHalfCloseable, makeConnection } from './glue.js';
import type {
  ConnectTCPOptions,
  IClientFactory,
  IConnector,
  IListeningPort,
  IProducer,
  IProtocol,
  IPushProducer,
  IProtocolFactory,
  ITLSTransport,
  ListenTCPOptions,
  TLSOptions,
} from './interfaces.js';
import { ResourceGroup, type ReactorResource, type ResourceTracker } from './resources.js';
import { connectTLS, createTLSServer, peerCertificate, TLS_CONNECT_EVENT, upgradeToTLS } from './tls.js';
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

// ================================================================ transport

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
let readCallback: ReadCallback;

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
  /** True once `loseConnection`/`abortConnection` was called or the connection ended. */
  disconnecting = false;
  /** True once the protocol got `connectionLost`. */
  disconnected = false;
  readonly protocol: IProtocol;

  private socket: net.Socket;
  private readonly setup: TransportSetup;
  private readonly connections: ResourceGroup<StreamTransport>;
  /** `end()` was called (or the connection is gone): writes are dropped. */
  private writeClosed = false;
  /** `close()` ran: flushing, then lingering until the socket closes. */
  private closing = false;
  private readPaused = false;
  /** The IO_* bits. */
  private io: number;
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

// ================================================================ listening ports

/** How a port listens: the Node server, the address to bind, how to name things. */
export interface PortSpec {
  /** For CannotListenError: the interface (or path) and port asked for. */
  interface: string;
  port: number | string;
  secure: boolean;
  createServer(onSocket: (socket: net.Socket) => void): net.Server;
  listen: net.ListenOptions;
  /** The bound address, once listening. */
  boundAddress(server: net.Server): Address;
  /**
   * The peer and local addresses of an accepted socket; `bound` is the
   * port's own address (see `acceptedTCPAddresses` in this file).
   */
  addresses(socket: net.Socket, bound: Address): { peer: Address; host: Address };
  /** UNIX: the socket file (a stale one is replaced; removed on close) and its mode. */
  unixPath?: string;
  mode?: number;
  /**
   * The server pauses accepted sockets (`pauseOnConnect`) so that they can
   * move to the fast read path (`./fastRead.ts`) before they read anything.
   */
  fastReads?: boolean;
}

/**
 * A listening socket (TCP, UNIX or TLS): an {@link IListeningPort}.
 *
 * Binding is asynchronous: `ready` fires with the port once bound, or fails
 * with CannotListenError (the system error as `cause`). The factory's
 * `doStart` runs once bound and `doStop` once the port is closed.
 * `stopListening` closes the listening socket only; connections already
 * accepted stay open.
 */
export class StreamPort implements IListeningPort, ReactorResource {
  readonly ready = new Deferred<IListeningPort>();
  private readonly server: net.Server;
  private state: 'binding' | 'listening' | 'failed' | 'closed' = 'binding';
  private host: Address | null = null;
  private stopWaiters: Deferred<void>[] | null = null;
  private retriedStale = false;
  private readonly untrack: () => void;

  constructor(
    private readonly reactor: StreamReactor,
    private readonly factory: IProtocolFactory,
    private readonly spec: PortSpec,
  ) {
    this.server = spec.createServer(this.onSocket);
    this.server.on('listening', this.onListening);
    this.server.on('error', this.onServerError);
    this.untrack = reactor.track(this);
    this.server.listen(spec.listen);
  }

  /** @throws Error before the port is bound (see `ready`). */
  getHost(): Address {
    if (this.host === null) throw new Error('the port is not listening (wait for `ready`)');
    return this.host;
  }

  stopListening(): Deferred<void> {
    const d = new Deferred<void>();
    if (this.state === 'failed' || this.state === 'closed') {
      d.callback(undefined);
      return d;
    }
    (this.stopWaiters ??= []).push(d);
    if (this.state === 'listening') this.close();
    return d;
  }

  shutdown(): Deferred<void> {
    return this.stopListening();
  }

  toString(): string {
    return `<${this.spec.secure ? 'TLS ' : ''}port ${this.host ?? `${this.spec.interface}:${this.spec.port}`}>`;
  }

  private readonly onListening = (): void => {
    if (this.spec.mode !== undefined && this.spec.unixPath !== undefined) {
      // Synchronous: no connection is served between binding and doStart.
      try {
        chmodSync(this.spec.unixPath, this.spec.mode);
      } catch (e) {
        this.failed(e as Error);
        return;
      }
    }
    this.bound();
  };

  private bound(): void {
    if (this.state !== 'binding') return;
    this.state = 'listening';
    this.host = this.spec.boundAddress(this.server);
    try {
      this.factory.doStart?.();
    } catch (e) {
      log.failure('Unhandled error in doStart of a factory', e);
    }
    this.ready.callback(this);
    if (this.stopWaiters !== null) this.close();
  }

  private readonly onServerError = (err: NodeJS.ErrnoException): void => {
    if (this.state === 'binding') {
      if (err.code === 'EADDRINUSE' && this.spec.unixPath !== undefined && !this.retriedStale) {
        this.retriedStale = true;
        removeStaleSocket(this.spec.unixPath, (removed) =>
          removed ? this.server.listen(this.spec.listen) : this.failed(err),
        );
        return;
      }
      this.failed(err);
    } else if (this.state === 'listening') {
      log.failure('Error on {port}', err, { port: String(this) }, 'error');
    }
  };

  private failed(err: Error): void {
    if (this.state !== 'binding') return;
    this.state = 'failed';
    this.untrack();
    this.server.close();
    this.ready.errback(new CannotListenError(this.spec.interface, this.spec.port, { cause: err }));
    this.fireStopWaiters();
  }

  private close(): void {
    this.state = 'closed';
    this.untrack();
    // Closes the listening descriptor now; Node's 'close' event would also wait for the connections.
    this.server.close();
    try {
      this.factory.doStop?.();
    } catch (e) {
      log.failure('Unhandled error in doStop of a factory', e);
    }
    this.fireStopWaiters();
  }

  private fireStopWaiters(): void {
    const waiters = this.stopWaiters ?? [];
    this.stopWaiters = null;
    for (const d of waiters) d.callback(undefined);
  }

  private readonly onSocket = (accepted: net.Socket): void => {
    const { peer, host } = this.spec.addresses(accepted, this.host!);
    let protocol: IProtocol | null;
    try {
      protocol = this.factory.buildProtocol(peer);
    } catch (e) {
      log.failure('Unhandled error in buildProtocol of a factory: the connection is dropped', e);
      protocol = null;
    }
    if (protocol === null || protocol === undefined) {
      accepted.on('error', noop);
      accepted.destroy();
      return;
    }
    const socket = this.spec.fastReads === true ? adoptAccepted(accepted, readCallback, ADOPT_OPTIONS) : accepted;
    new StreamTransport(this.reactor, socket, protocol, { server: true, secure: this.spec.secure, peer, host });
  };
}

/**
 * `path` is in use: remove it if it is a socket nobody listens on (a leftover
 * of a process that died). `done(true)` when it was removed.
 */
function removeStaleSocket(path: string, done: (removed: boolean) => void): void {
  lstat(path, (err, stats) => {
    if (err !== null || !stats.isSocket()) return done(err?.code === 'ENOENT');
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      done(false);
    });
    probe.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNREFUSED') return done(false);
      unlink(path, (unlinkErr) => done(unlinkErr === null || unlinkErr.code === 'ENOENT'));
    });
  });
}

// ================================================================ connectors

/** How a connector connects. */
export interface ConnectSpec {
  destination: Address;
  /** Start connecting; the socket emits `connectEvent` once it can carry data. */
  open(): net.Socket;
  connectEvent: 'connect' | typeof TLS_CONNECT_EVENT;
  secure: boolean;
  addresses(socket: net.Socket): { peer: Address; host: Address };
  tlsHost?: string;
}

export type ConnectorState = 'disconnected' | 'connecting' | 'connected';

/**
 * An outgoing connection, reusable for retries: an {@link IConnector}
 * (Twisted's `BaseConnector`).
 *
 * `connect()` calls the factory's `doStart` (once per run of attempts),
 * then `startedConnecting`; then either `buildProtocol` and the protocol's
 * `connectionMade`, or `clientConnectionFailed` with a ConnectError:
 * ConnectionRefusedError, TCPTimedOutError (after `timeout` seconds),
 * DNSLookupError, UserError (`stopConnecting`), NoProtocol (`buildProtocol`
 * returned null) or ConnectError (anything else; the system error as
 * `cause`). A lost connection gives `clientConnectionLost`. Calling
 * `connect()` from either callback retries with this connector; otherwise
 * the factory's `doStop` runs.
 */
export class StreamConnector implements IConnector, ReactorResource {
  private _state: ConnectorState = 'disconnected';
  private attempt: net.Socket | null = null;
  private timeoutCall: IDelayedCall | null = null;
  private untrackAttempt: (() => void) | null = null;
  private detachAttempt: () => void = noop;
  private transport: StreamTransport | null = null;
  private factoryStarted = false;

  constructor(
    private readonly reactor: StreamReactor,
    private readonly factory: IClientFactory,
    private readonly spec: ConnectSpec,
    /** Seconds before an attempt fails with TCPTimedOutError; Infinity for none. */
    readonly timeout: number,
  ) {}

  get state(): ConnectorState {
    return this._state;
  }

  /** @throws Error unless disconnected; what `net.connect` throws for options it refuses. */
  connect(): void {
    if (this._state !== 'disconnected') throw new Error(`can't connect in state ${this._state}`);
    this._state = 'connecting';
    if (!this.factoryStarted) {
      this.factoryStarted = true;
      this.callFactory('doStart');
    }
    let socket: net.Socket;
    try {
      socket = this.spec.open();
    } catch (e) {
      // Options Node refuses outright (a bad local address...): not an attempt.
      this._state = 'disconnected';
      this.stopFactoryUnlessRetrying();
      throw e;
    }
    const event = this.spec.connectEvent;
    const onError = (err: NodeJS.ErrnoException): void => this.attemptFailed(socket, connectError(err));
    const onClose = (): void => this.attemptFailed(socket, new ConnectError('the connection closed while connecting'));
    const onConnect = (): void => this.attemptSucceeded(socket);
    socket.on('error', onError);
    socket.once('close', onClose);
    socket.once(event, onConnect);
    // Only our listeners: Node's own (half-close, TLS) must stay.
    this.detachAttempt = () => {
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off(event, onConnect);
    };
    this.attempt = socket;
    if (Number.isFinite(this.timeout)) {
      this.timeoutCall = this.reactor.callLater(this.timeout, () =>
        this.attemptFailed(socket, new TCPTimedOutError(`connecting took longer than ${this.timeout} s`)),
      );
    }
    this.untrackAttempt = this.reactor.track(this);
    this.callFactory('startedConnecting', this);
  }

  /** Close the connection, or stop connecting if it is not made yet. */
  disconnect(): void {
    if (this._state === 'connecting') this.stopConnecting();
    else if (this._state === 'connected') this.transport?.loseConnection();
  }

  /** @throws NotConnectingError unless connecting. */
  stopConnecting(): void {
    if (this._state !== 'connecting' || this.attempt === null) throw new NotConnectingError();
    this.attemptFailed(this.attempt, new UserError('stopConnecting() was called'));
  }

  getDestination(): Address {
    return this.spec.destination;
  }

  /** The reactor is stopping: abandon an attempt in progress. */
  shutdown(): void {
    if (this.attempt !== null) {
      this.attemptFailed(this.attempt, new ConnectError('the reactor stopped before the connection was made'));
    }
  }

  toString(): string {
    return `<connector to ${this.spec.destination} (${this._state})>`;
  }

  private endAttempt(): void {
    this.attempt = null;
    if (this.timeoutCall !== null && this.timeoutCall.active()) this.timeoutCall.cancel();
    this.timeoutCall = null;
    this.untrackAttempt?.();
    this.untrackAttempt = null;
    this.detachAttempt();
    this.detachAttempt = noop;
  }

  private attemptFailed(socket: net.Socket, reason: Error): void {
    if (this.attempt !== socket) return;
    this.endAttempt();
    socket.on('error', noop);
    socket.destroy();
    this.failed(reason);
  }

  private failed(reason: Error): void {
    this._state = 'disconnected';
    this.callFactory('clientConnectionFailed', this, new Failure(reason));
    this.stopFactoryUnlessRetrying();
  }

  private attemptSucceeded(socket: net.Socket): void {
    if (this.attempt !== socket) return;
    this.endAttempt();
    this._state = 'connected';
    const { peer, host } = this.spec.addresses(socket);
    let protocol: IProtocol | null;
    try {
      protocol = this.factory.buildProtocol(peer);
    } catch (e) {
      log.failure('Unhandled error in buildProtocol of a client factory', e);
      socket.on('error', noop);
      socket.destroy();
      this.failed(e instanceof Error ? e : new ConnectError('buildProtocol failed', { cause: e }));
      return;
    }
    if (protocol === null || protocol === undefined) {
      socket.on('error', noop);
      socket.destroy();
      this.failed(new NoProtocol('buildProtocol returned null'));
      return;
    }
    const setup: TransportSetup = { server: false, secure: this.spec.secure, peer, host, onLost: this.connectionLost };
    if (this.spec.tlsHost !== undefined) setup.tlsHost = this.spec.tlsHost;
    this.transport = new StreamTransport(this.reactor, socket, protocol, setup);
  }

  private readonly connectionLost = (reason: Failure): void => {
    this.transport = null;
    this._state = 'disconnected';
    this.callFactory('clientConnectionLost', this, reason);
    this.stopFactoryUnlessRetrying();
  };

  private stopFactoryUnlessRetrying(): void {
    // The factory may have called connect() again from its callback.
    if (this._state === 'disconnected' && this.factoryStarted) {
      this.factoryStarted = false;
      this.callFactory('doStop');
    }
  }

  private callFactory(name: 'doStart' | 'doStop'): void;
  private callFactory(name: 'startedConnecting', connector: IConnector): void;
  private callFactory(name: 'clientConnectionFailed' | 'clientConnectionLost', connector: IConnector, reason: Failure): void;
  private callFactory(name: keyof IClientFactory, ...args: unknown[]): void {
    const fn = this.factory[name] as ((...a: unknown[]) => unknown) | undefined;
    if (typeof fn !== 'function') return;
    try {
      fn.apply(this.factory, args);
    } catch (e) {
      log.failure('Unhandled error in {method} of a client factory', e, { method: name });
    }
  }
}

/** The ConnectError subclass for a socket error while connecting. */
function connectError(err: NodeJS.ErrnoException): ConnectError {
  const options = { cause: err };
  if (err.code === 'ECONNREFUSED') return new ConnectionRefusedError(err.message, options);
  if (err.code === 'ETIMEDOUT') return new TCPTimedOutError(err.message, options);
  if (err.syscall === 'getaddrinfo' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
    return new DNSLookupError(err.message, options);
  }
  return new ConnectError(err.message, options);
}

// ================================================================ TCP, UNIX, TLS

/** Options of `connectUNIX`. */
export interface ConnectUNIXOptions {
  /** Seconds before giving up (default 30). */
  timeout?: number;
}

/** Options of `listenUNIX`. */
export interface ListenUNIXOptions {
  /** Listen queue length (default 50). */
  backlog?: number;
  /** Permissions of the socket file (chmod); default: as the umask leaves them. */
  mode?: number;
}

const SERVER_OPTIONS: net.ServerOpts = { allowHalfOpen: true, highWaterMark: HIGH_WATER_MARK };
/** A server whose sockets move to the fast read path: they must not start reading on their own. */
const FAST_SERVER_OPTIONS: net.ServerOpts = { ...SERVER_OPTIONS, pauseOnConnect: true };
/** The adopting socket of the fast read path gets what the server would have given the accepted one. */
const ADOPT_OPTIONS = { allowHalfOpen: true, highWaterMark: HIGH_WATER_MARK };

/** A plain (TCP or UNIX) server, ready for the fast read path when it is on. */
function plainServerSpec(): Pick<PortSpec, 'createServer' | 'fastReads'> {
  const fastReads = fastReadsEnabled();
  return {
    fastReads,
    createServer: (onSocket) => net.createServer(fastReads ? FAST_SERVER_OPTIONS : SERVER_OPTIONS, onSocket),
  };
}

/** Plain client sockets read through `onread` (public API for `net.connect`) when the fast path is on. */
function withOnread<O extends net.NetConnectOpts>(options: O): O {
  const onread = onreadOption(readCallback);
  return onread === undefined ? options : Object.assign(options, { onread });
}

/** Client options with our high-water mark (Node passes it on to the stream; its types omit it). */
function withHighWaterMark<O extends net.NetConnectOpts>(options: O): O {
  return Object.assign(options, { highWaterMark: HIGH_WATER_MARK });
}

function tcpAddresses(socket: net.Socket): { peer: Address; host: Address } {
  return {
    peer: ipAddress('TCP', socket.remoteAddress ?? '', socket.remotePort ?? 0),
    host: ipAddress('TCP', socket.localAddress ?? '', socket.localPort ?? 0),
  };
}

/**
 * An accepted TCP socket's addresses. Its local end is the port's own address
 * unless the port listens on every interface ('0.0.0.0', '::'), so that one
 * immutable address object is shared by all the port's connections instead of
 * one built (and Node's cached `getsockname` result kept) per connection.
 */
function acceptedTCPAddresses(socket: net.Socket, bound: Address): { peer: Address; host: Address } {
  const peer = ipAddress('TCP', socket.remoteAddress ?? '', socket.remotePort ?? 0);
  const wildcard =
    (bound instanceof IPv4Address && bound.host === '0.0.0.0') || (bound instanceof IPv6Address && bound.host === '::');
  if (!wildcard && (bound instanceof IPv4Address || bound instanceof IPv6Address)) return { peer, host: bound };
  return { peer, host: ipAddress('TCP', socket.localAddress ?? '', socket.localPort ?? 0) };
}

function tcpBoundAddress(server: net.Server): Address {
  const a = server.address() as net.AddressInfo;
  return ipAddress('TCP', a.address, a.port);
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${what}: the port must be an integer from 0 to 65535, not ${port}`);
  }
}

function checkTimeout(timeout: number): number {
  if (!(timeout > 0)) throw new RangeError(`the connection timeout must be > 0 seconds (Infinity for none), not ${timeout}`);
  return timeout;
}

function tcpPortSpec(port: number, options: ListenTCPOptions, secure: boolean): Omit<PortSpec, 'createServer'> {
  checkPort(port, secure ? 'listenSSL' : 'listenTCP');
  const iface = options.interface ?? '';
  return {
    interface: iface,
    port,
    secure,
    // '' is all IPv4 interfaces (Twisted); Node alone would bind '::' (dual stack).
    listen: { port, host: iface === '' ? '0.0.0.0' : iface, backlog: options.backlog ?? 50 },
    boundAddress: tcpBoundAddress,
    addresses: acceptedTCPAddresses,
  };
}

function localEnd(bindAddress: ConnectTCPOptions['bindAddress']): { localAddress?: string; localPort?: number } {
  if (bindAddress === null || bindAddress === undefined) return {};
  return bindAddress.port !== undefined && bindAddress.port !== 0
    ? { localAddress: bindAddress.host, localPort: bindAddress.port }
    : { localAddress: bindAddress.host };
}

/** `reactor.listenTCP`: see {@link StreamPort}. */
export function listenTCP(
  reactor: StreamReactor,
  port: number,
  factory: IProtocolFactory,
  options: ListenTCPOptions = {},
): StreamPort {
  return new StreamPort(reactor, factory, { ...tcpPortSpec(port, options, false), ...plainServerSpec() });
}

/** `reactor.connectTCP`: starts connecting at once; see {@link StreamConnector}. */
export function connectTCP(
  reactor: StreamReactor,
  host: string,
  port: number,
  factory: IClientFactory,
  options: ConnectTCPOptions = {},
): StreamConnector {
  checkPort(port, 'connectTCP');
  const local = localEnd(options.bindAddress);
  const connector = new StreamConnector(
    reactor,
    factory,
    {
      destination: ipAddress('TCP', host, port),
      open: () => net.connect(withOnread(withHighWaterMark({ host, port, allowHalfOpen: true, ...local }))),
      connectEvent: 'connect',
      secure: false,
      addresses: tcpAddresses,
      tlsHost: host,
    },
    checkTimeout(options.timeout ?? 30),
  );
  connector.connect();
  return connector;
}

/** `reactor.listenSSL`: a TCP port whose connections are TLS; `connectionMade` follows the handshake. */
export function listenSSL(
  reactor: StreamReactor,
  port: number,
  factory: IProtocolFactory,
  tlsOptions: TLSOptions,
  options: ListenTCPOptions = {},
): StreamPort {
  return new StreamPort(reactor, factory, {
    ...tcpPortSpec(port, options, true),
    createServer: (onSocket) => createTLSServer(tlsOptions, SERVER_OPTIONS, onSocket),
  });
}

/**
 * `reactor.connectSSL`: TCP then a TLS handshake, both within `timeout`;
 * the server is verified unless `tlsOptions.rejectUnauthorized` is false
 * (a failed verification is a ConnectError whose `cause` is Node's error).
 */
export function connectSSL(
  reactor: StreamReactor,
  host: string,
  port: number,
  factory: IClientFactory,
  tlsOptions: TLSOptions,
  options: ConnectTCPOptions = {},
): StreamConnector {
  checkPort(port, 'connectSSL');
  const local = localEnd(options.bindAddress);
  const connector = new StreamConnector(
    reactor,
    factory,
    {
      destination: ipAddress('TCP', host, port),
      open: () => connectTLS(host, port, tlsOptions, { ...local, highWaterMark: HIGH_WATER_MARK }),
      connectEvent: TLS_CONNECT_EVENT,
      secure: true,
      addresses: tcpAddresses,
      tlsHost: host,
    },
    checkTimeout(options.timeout ?? 30),
  );
  connector.connect();
  return connector;
}

/**
 * `reactor.listenUNIX`: listen on the socket file `path`. A stale file (a
 * socket nobody listens on) is removed first; a live one gives
 * CannotListenError. `mode` is applied with chmod before `ready` fires. The
 * file is removed when the port stops listening.
 */
export function listenUNIX(
  reactor: StreamReactor,
  path: string,
  factory: IProtocolFactory,
  options: ListenUNIXOptions = {},
): StreamPort {
  if (typeof path !== 'string' || path === '') throw new TypeError('listenUNIX needs a socket path');
  const host = new UNIXAddress(path);
  // Accepted UNIX sockets have no name: one shared (immutable) address for all of them.
  const unnamed = new UNIXAddress(null);
  const spec: PortSpec = {
    interface: path,
    port: 'unix',
    secure: false,
    ...plainServerSpec(),
    listen: { path, backlog: options.backlog ?? 50 },
    boundAddress: () => host,
    addresses: () => ({ peer: unnamed, host }),
  };
  // Linux abstract sockets (a leading NUL) have no file to clean up or chmod.
  if (!path.startsWith('\0')) {
    spec.unixPath = path;
    if (options.mode !== undefined) spec.mode = options.mode;
  }
  return new StreamPort(reactor, factory, spec);
}

/** `reactor.connectUNIX`: connect to the socket file `path`. */
export function connectUNIX(
  reactor: StreamReactor,
  path: string,
  factory: IClientFactory,
  options: ConnectUNIXOptions = {},
): StreamConnector {
  if (typeof path !== 'string' || path === '') throw new TypeError('connectUNIX needs a socket path');
  const peer = new UNIXAddress(path);
  const connector = new StreamConnector(
    reactor,
    factory,
    {
      destination: peer,
      open: () => net.connect(withOnread(withHighWaterMark({ path, allowHalfOpen: true }))),
      connectEvent: 'connect',
      secure: false,
      addresses: () => ({ peer, host: new UNIXAddress(null) }),
    },
    checkTimeout(options.timeout ?? 30),
  );
  connector.connect();
  return connector;
}
