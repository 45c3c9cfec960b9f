/**
 * The contracts between reactors, transports, protocols and factories
 * (Twisted's twisted.internet.interfaces). The Node reactor and the test
 * doubles implement them; protocols and factories are written against them.
 *
 * Protocols and factories may be classes (subclass `Protocol`/`Factory` from
 * the protocol layer) or plain objects: every callback is optional and the
 * reactor calls only those that exist (see `connectProtocol` helpers in
 * `./glue.ts`).
 */
import type { Deferred } from '../defer/deferred.js';
import type { Failure } from '../defer/failure.js';
import type { IReactorTime } from '../defer/clock.js';
import type { Address } from './address.js';

export type { IReactorTime, IDelayedCall } from '../defer/clock.js';

// ------------------------------------------------------------ producers

/** A producer that writes whenever it likes, until paused (streaming). */
export interface IPushProducer {
  /** Stop producing until `resumeProducing` (the consumer's buffer is full). */
  pauseProducing(): void;
  /** Produce again, balancing an earlier `pauseProducing`. */
  resumeProducing(): void;
  /** Stop for good: the consumer is gone. */
  stopProducing(): void;
}

/** A producer asked for one chunk at a time (non-streaming). */
export interface IPullProducer {
  /** Write exactly one chunk now, synchronously. */
  resumeProducing(): void;
  /** Stop for good: the consumer is gone. */
  stopProducing(): void;
}

export type IProducer = IPushProducer | IPullProducer;

/** Something producers write into. */
export interface IConsumer {
  /**
   * Attach a producer. `streaming` true for an IPushProducer (paused when the
   * buffer is full), false for an IPullProducer (resumed once per chunk
   * wanted, starting at once).
   * @throws Error when a producer is already registered.
   */
  registerProducer(producer: IProducer, streaming: boolean): void;
  /** Detach the producer (a pending `loseConnection` may then complete). */
  unregisterProducer(): void;
  write(data: Uint8Array): void;
}

// ------------------------------------------------------------ transports

/**
 * One end of a connection, as a protocol sees it. A transport is also a push
 * producer of the bytes it reads: pausing it stops reading.
 */
export interface ITransport extends IConsumer, IPushProducer {
  /** True once `loseConnection`/`abortConnection` was called. */
  readonly disconnecting: boolean;
  /**
   * Queue bytes for sending. Never blocks. Dropped silently once the
   * connection is gone.
   * @throws TypeError when `data` is not a Uint8Array.
   */
  write(data: Uint8Array): void;
  /**
   * Queue a string, encoded as `encoding` — the same bytes as `write(Buffer.from(data, encoding))`,
   * without building that Buffer first where the transport can (a socket encodes it on its own).
   * Optional: callers check for it and fall back to `write`.
   */
  writeString?(data: string, encoding: 'latin1' | 'utf8'): void;
  /** Write several buffers at once (one system call where possible). */
  writeSequence(data: readonly Uint8Array[]): void;
  /**
   * Close once everything queued is written (and any registered producer has
   * been unregistered). Idempotent.
   */
  loseConnection(): void;
  /** Close at once, discarding what is queued (RST where possible). */
  abortConnection(): void;
  /** The remote address. */
  getPeer(): Address;
  /** The local address. */
  getHost(): Address;
}

/** A TCP (or TLS-over-TCP) transport. */
export interface ITCPTransport extends ITransport {
  /** Half-close: send FIN after the queued bytes; reading goes on. */
  loseWriteConnection(): void;
  setTcpNoDelay(enabled: boolean): void;
  setTcpKeepAlive(enabled: boolean, initialDelaySeconds?: number): void;
  /** Switch this connection to TLS now (STARTTLS). */
  startTLS(options: TLSOptions): void;
  /** Whether TLS is in use on this connection. */
  readonly isSecure: boolean;
}

/** A TLS transport: the peer certificate and the negotiated ALPN protocol. */
export interface ITLSTransport extends ITCPTransport {
  /** The peer's certificate (Node's `tls` shape), or null when it sent none. */
  getPeerCertificate(): object | null;
  /** The ALPN protocol agreed on, or null. */
  readonly alpnProtocol: string | null;
}

/** TLS settings: Node's `tls` options, as file contents (PEM), not paths. */
export interface TLSOptions {
  key?: string | Uint8Array;
  cert?: string | Uint8Array;
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Server: ask clients for a certificate. */
  requestCert?: boolean;
  /** Verify the peer (default true for clients). */
  rejectUnauthorized?: boolean;
  /** Client: the server name to send (SNI) and verify. */
  servername?: string;
  /** ALPN protocols, most preferred first. */
  alpnProtocols?: string[];
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

// ------------------------------------------------------------ protocols

/**
 * A stream protocol. Every member is optional so plain objects work; the
 * `Protocol` base class implements them all.
 */
export interface IProtocol {
  /** Set by the reactor (or `makeConnection`) before `connectionMade`. */
  transport?: ITransport | null;
  /** Attach to `transport` and call `connectionMade`. */
  makeConnection?(transport: ITransport): void;
  /** The connection is up. */
  connectionMade?(): void;
  /** Bytes arrived: any fragment of the stream, possibly one byte. */
  dataReceived?(data: Uint8Array): void;
  /** The connection is gone: a Failure of ConnectionDone (clean) or ConnectionLost. */
  connectionLost?(reason: Failure): void;
  /**
   * Half-close support (IHalfCloseableProtocol): when defined, a peer EOF
   * calls this instead of closing; the protocol calls `loseConnection` itself.
   */
  readConnectionLost?(): void;
  /** Our own `loseWriteConnection` completed. */
  writeConnectionLost?(): void;
}

/** Builds a protocol for each connection. Plain objects with `buildProtocol` work. */
export interface IProtocolFactory {
  /** A protocol for a connection from/to `addr`; null refuses the connection. */
  buildProtocol(addr: Address): IProtocol | null;
  /** Called when a port or connector starts using the factory (counted). */
  doStart?(): void;
  /** Called when a port or connector stops using the factory (counted). */
  doStop?(): void;
}

/** A factory for outgoing connections. */
export interface IClientFactory extends IProtocolFactory {
  startedConnecting?(connector: IConnector): void;
  clientConnectionFailed?(connector: IConnector, reason: Failure): void;
  clientConnectionLost?(connector: IConnector, reason: Failure): void;
}

/** An outgoing connection attempt, reusable for retries. */
export interface IConnector {
  /** Try (again) to connect. */
  connect(): void;
  /** Close the connection, or stop connecting if not connected yet. */
  disconnect(): void;
  /** Abandon the attempt in progress (the factory gets `clientConnectionFailed` with UserError). */
  stopConnecting(): void;
  /** Where it connects to. */
  getDestination(): Address;
  /** 'disconnected' | 'connecting' | 'connected'. */
  readonly state: 'disconnected' | 'connecting' | 'connected';
}

/**
 * A listening socket. `listen*` return it at once; binding completes
 * asynchronously, so `ready` fires with the port once it is bound (and fails
 * with CannotListenError when binding fails: port in use, bad interface...).
 */
export interface IListeningPort {
  /** Fires with this port once bound; fails with CannotListenError. */
  readonly ready: Deferred<IListeningPort>;
  /** The local address (with the real port when 0 was asked for). @throws Error before `ready` fired. */
  getHost(): Address;
  /** Stop accepting; fires once the socket is closed. Existing connections are not closed. */
  stopListening(): Deferred<void>;
}

// ------------------------------------------------------------ datagrams

/** A UDP protocol: `datagramReceived` per packet. */
export interface IDatagramProtocol {
  transport?: IUDPTransport | null;
  /** Called once the port is bound. */
  startProtocol?(): void;
  /** Called once the port is closed. */
  stopProtocol?(): void;
  datagramReceived?(data: Uint8Array, addr: Address): void;
  /** Connected UDP only: the peer's port is closed (ICMP refused). */
  connectionRefused?(): void;
}

/** A bound UDP port, as its protocol sees it. */
export interface IUDPTransport {
  /** Send a datagram; `addr` is required unless the transport is connected. */
  write(packet: Uint8Array, addr?: { host: string; port: number }): void;
  /** Connected UDP: only this peer is talked to. */
  connect(host: string, port: number): void;
  getHost(): Address;
  /** Fires with this transport once bound; fails with CannotListenError. */
  readonly ready: Deferred<IUDPTransport>;
  stopListening(): Deferred<void>;
  setBroadcastAllowed(enabled: boolean): void;
  joinGroup(address: string, iface?: string): void;
  leaveGroup(address: string, iface?: string): void;
  setTTL(ttl: number): void;
  setLoopbackMode(enabled: boolean): void;
}

// ------------------------------------------------------------ processes

/** The callbacks of a child process's protocol (all optional). */
export interface IProcessProtocol {
  transport?: IProcessTransport | null;
  makeConnection?(transport: IProcessTransport): void;
  connectionMade?(): void;
  /** Bytes from the child's fd (1: stdout, 2: stderr, others with childFDs). */
  childDataReceived?(fd: number, data: Uint8Array): void;
  outReceived?(data: Uint8Array): void;
  errReceived?(data: Uint8Array): void;
  childConnectionLost?(fd: number): void;
  inConnectionLost?(): void;
  outConnectionLost?(): void;
  errConnectionLost?(): void;
  /** The process exited (its pipes may still be open): ProcessDone or ProcessTerminated. */
  processExited?(reason: Failure): void;
  /** The process exited and every pipe is closed. */
  processEnded?(reason: Failure): void;
}

/** A running child process, as its protocol sees it. */
export interface IProcessTransport {
  readonly pid: number | undefined;
  /** Write to the child's stdin. */
  write(data: Uint8Array): void;
  writeToChild(fd: number, data: Uint8Array): void;
  closeStdin(): void;
  closeStdout(): void;
  closeStderr(): void;
  closeChildFD(fd: number): void;
  /** 'TERM', 'KILL', 'INT', 'HUP'... or a signal number. */
  signalProcess(signal: string | number): void;
  /** Close every pipe to the child. */
  loseConnection(): void;
}

/** Options of `spawnProcess`. */
export interface SpawnOptions {
  /**
   * The child's whole environment. Twisted's rule: the default `{}` gives an
   * EMPTY environment (nothing inherited); pass `null` to inherit ours
   * (`process.env`) unchanged.
   */
  env?: Record<string, string> | null;
  /** Working directory. */
  path?: string;
  uid?: number;
  gid?: number;
  /** Child fd → 'r' (we read) | 'w' (we write) | a parent fd number. Default {0:'w',1:'r',2:'r'}. */
  childFDs?: Record<number, 'r' | 'w' | number>;
}

// ------------------------------------------------------------ reactor

/** Phases of a system event. */
export type TriggerPhase = 'before' | 'during' | 'after';

/** The reactor's own lifecycle (Twisted's IReactorCore). */
export interface IReactorCore {
  /** True from "during startup" to "during shutdown". */
  readonly running: boolean;
  /**
   * Fire startup triggers and run until `stop()`. The Deferred fires once the
   * shutdown triggers have all run.
   * @throws ReactorAlreadyRunning, ReactorNotRestartable
   */
  run(): Deferred<void>;
  /**
   * Shut down: 'before' shutdown triggers (which may return Deferreds that
   * are waited for), then 'during' (listening ports closed, connections lost),
   * then 'after'.
   * @throws ReactorNotRunning
   */
  stop(): void;
  /** Call `fn` once the reactor is running (at once if it is). */
  callWhenRunning<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): unknown;
  /** Add a trigger for `event` ('startup', 'shutdown' or your own); returns an id for removal. */
  addSystemEventTrigger<A extends unknown[]>(
    phase: TriggerPhase,
    event: string,
    fn: (...args: A) => unknown,
    ...args: A
  ): unknown;
  removeSystemEventTrigger(id: unknown): void;
  /** Fire the three phases of `event`. */
  fireSystemEvent(event: string): Deferred<void>;
}

/** Options of `listenTCP`. */
export interface ListenTCPOptions {
  /** Listen queue length (default 50). */
  backlog?: number;
  /** Local address to bind ('' = all IPv4 interfaces, '::' = all IPv6). */
  interface?: string;
}

/** Options of `connectTCP`. */
export interface ConnectTCPOptions {
  /** Seconds before giving up (default 30). */
  timeout?: number;
  /** Local address (and port) to connect from. */
  bindAddress?: { host: string; port?: number } | null;
}

export interface IReactorTCP {
  /** Listen on `port` (0: any free port); see {@link IListeningPort.ready}. */
  listenTCP(port: number, factory: IProtocolFactory, options?: ListenTCPOptions): IListeningPort;
  connectTCP(host: string, port: number, factory: IClientFactory, options?: ConnectTCPOptions): IConnector;
}

export interface IReactorUNIX {
  listenUNIX(path: string, factory: IProtocolFactory, options?: { backlog?: number; mode?: number }): IListeningPort;
  connectUNIX(path: string, factory: IClientFactory, options?: { timeout?: number }): IConnector;
}

export interface IReactorSSL {
  listenSSL(port: number, factory: IProtocolFactory, tls: TLSOptions, options?: ListenTCPOptions): IListeningPort;
  connectSSL(host: string, port: number, factory: IClientFactory, tls: TLSOptions, options?: ConnectTCPOptions): IConnector;
}

export interface IReactorUDP {
  listenUDP(
    port: number,
    protocol: IDatagramProtocol,
    options?: { interface?: string; maxPacketSize?: number; reuseAddress?: boolean },
  ): IUDPTransport;
}

export interface IReactorProcess {
  spawnProcess(
    protocol: IProcessProtocol,
    executable: string,
    args?: readonly string[],
    options?: SpawnOptions,
  ): IProcessTransport;
}

export interface IReactorThreads {
  /**
   * Run the function exported as `exportName` by the ES module at
   * `moduleUrl` (a file URL or path) in a worker thread of a bounded pool,
   * with structured-cloned arguments. Its result (or thrown error, as a
   * Failure) arrives on the reactor's thread.
   */
  deferToThread<T = unknown>(moduleUrl: string | URL, exportName: string, ...args: unknown[]): Deferred<T>;
}

/** Everything the Node reactor provides. */
export interface IReactor
  extends IReactorTime,
    IReactorCore,
    IReactorTCP,
    IReactorUNIX,
    IReactorSSL,
    IReactorUDP,
    IReactorProcess,
    IReactorThreads {}

// ------------------------------------------------------------ endpoints

/**
 * A factory whose protocols are of type `P`: what client endpoints take, so
 * the Deferred of `connect` carries the protocol's own type.
 */
export interface IProtocolFactoryOf<P extends IProtocol> extends IProtocolFactory {
  buildProtocol(addr: Address): P | null;
}

/**
 * Somewhere to listen for stream connections (Twisted's
 * IStreamServerEndpoint): a TCP port, a UNIX socket, a TLS port... Build one
 * from a string with `serverFromString`.
 */
export interface IStreamServerEndpoint {
  /**
   * Listen with `factory`. Fires with the port once it is bound; fails with
   * CannotListenError (port in use, bad interface...) or the reactor's error.
   */
  listen(factory: IProtocolFactory): Deferred<IListeningPort>;
}

/**
 * Somewhere to connect a stream to (Twisted's IStreamClientEndpoint). Build
 * one from a string with `clientFromString`.
 */
export interface IStreamClientEndpoint {
  /**
   * Connect, building one protocol with `factory`. Fires with that protocol
   * once its `connectionMade` has run; fails with the connection error
   * (ConnectError family), NoProtocol when `buildProtocol` returned null, or
   * ConnectingCancelledError when cancelled before the connection was made.
   */
  connect<P extends IProtocol>(factory: IProtocolFactoryOf<P>): Deferred<P>;
}
