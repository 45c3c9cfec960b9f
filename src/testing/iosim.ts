/**
 * Two protocols connected in memory, with a pump that moves their bytes
 * (Twisted's `twisted.test.iosim`): FakeTransport, IOPump, connectedPair,
 * and ConnectionCompleter to finish a MemoryReactor's connection attempts.
 */
import { Failure } from '../defer/failure.js';
import { IPv4Address, UNIXAddress, ipAddress, type Address } from '../reactor/address.js';
import { TCP4ClientEndpoint, TCP4ServerEndpoint } from '../reactor/endpoints/tcp.js';
import { ConnectionDone, ConnectionLost, ConnectionRefusedError } from '../reactor/errors.js';
import { assertBytes, deliverConnectionLost, deliverData, isHalfCloseable, makeConnection } from '../reactor/glue.js';
import type { IProducer, IProtocol, ITCPTransport, TLSOptions } from '../reactor/interfaces.js';
import { MemoryReactorClock, type MemoryConnector, type MemoryListeningPort, type MemoryReactor } from './memoryReactor.js';

/** Something whose time an IOPump moves by 0 on each pump (a Clock or MemoryReactorClock). */
export interface PumpClock {
  advance(seconds: number): void;
}

/** Options of {@link FakeTransport}. */
export interface FakeTransportOptions {
  /** What `getHost()` returns. Default 127.0.0.1:8080 for a server, 127.0.0.1:54321 for a client. */
  hostAddress?: Address;
  /** What `getPeer()` returns. Default: the other side's default. */
  peerAddress?: Address;
  /**
   * Bytes buffered before a streaming producer is paused (default 65536); it
   * is resumed once the pump has moved them.
   */
  writeBufferLimit?: number;
}

const SERVER_ADDRESS = new IPv4Address('TCP', '127.0.0.1', 8080);
const CLIENT_ADDRESS = new IPv4Address('TCP', '127.0.0.1', 54321);

let serial = 0;

/**
 * One end of an in-memory connection. Bytes written wait in an out-buffer
 * until an {@link IOPump} moves them to the other end; closing is carried to
 * the other end by the pump too.
 *
 * - `write` after `loseConnection` (or once disconnected) is dropped;
 * - `loseConnection()` closes once the buffer is moved and no producer is
 *   registered; both protocols then get `connectionLost(ConnectionDone)` (a
 *   half-closeable peer gets `readConnectionLost()` instead, and closes
 *   itself later);
 * - `abortConnection()` drops what is buffered; both get `ConnectionLost`;
 * - `loseWriteConnection()` half-closes: our `writeConnectionLost`, the
 *   peer's `readConnectionLost` (or a full close when it is not
 *   half-closeable);
 * - as a consumer: a pull producer is resumed once at registration and once
 *   per pump; a streaming producer is paused when more than
 *   `writeBufferLimit` bytes are buffered and resumed when the pump drains
 *   them;
 * - as a producer: `pauseProducing()` holds incoming bytes (they stay in the
 *   peer's buffer) until `resumeProducing()`; `stopProducing()` loses the
 *   connection;
 * - `startTLS` only records the options and sets `isSecure` (no handshake).
 */
export class FakeTransport implements ITCPTransport {
  /** A number identifying this transport in messages. */
  readonly serial = serial++;
  readonly hostAddress: Address;
  readonly peerAddress: Address;
  readonly writeBufferLimit: number;
  /** True once closing was asked for (by us or, once carried over, by the peer). */
  disconnecting = false;
  /** True once our protocol got `connectionLost`. */
  disconnected = false;
  /** True once `abortConnection` was called. */
  aborted = false;
  /** True once `loseWriteConnection` was called. */
  writeDisconnected = false;
  /** True once our protocol got `readConnectionLost` (the peer half-closed). */
  readDisconnected = false;
  /** True while our reading is paused (`pauseProducing`). */
  readPaused = false;
  /** The registered producer, or null. */
  producer: IProducer | null = null;
  /** Whether the registered producer is streaming. */
  streamingProducer = false;
  /** True while we have paused a streaming producer for a full buffer. */
  producerPaused = false;
  isSecure = false;
  /** Options given to `startTLS`, or set for a TLS connection. */
  tlsOptions: TLSOptions | null = null;
  tcpNoDelay = false;
  tcpKeepAlive = false;
  /** Called after our protocol's `connectionLost` (a connector listens here). */
  onConnectionLost: ((reason: Failure) => void) | null = null;
  private stream: Buffer[] = [];
  private buffered = 0;
  private writeLostReported = false;

  constructor(
    /** The protocol this transport delivers to. */
    public protocol: IProtocol,
    /** Whether this is the accepting end. */
    readonly isServer: boolean,
    options: FakeTransportOptions = {},
  ) {
    this.hostAddress = options.hostAddress ?? (isServer ? SERVER_ADDRESS : CLIENT_ADDRESS);
    this.peerAddress = options.peerAddress ?? (isServer ? CLIENT_ADDRESS : SERVER_ADDRESS);
    this.writeBufferLimit = options.writeBufferLimit ?? 65536;
  }

  toString(): string {
    return `FakeTransport<${this.isServer ? 'S' : 'C'},${this.serial}>`;
  }

  /** Bytes written and not yet moved by the pump. */
  get bufferSize(): number {
    return this.buffered;
  }

  write(data: Uint8Array): void {
    assertBytes(data);
    if (this.disconnecting || this.writeDisconnected || this.disconnected) return;
    if (data.byteLength === 0) return;
    // Copied: the protocol may reuse its buffer after writing it.
    this.stream.push(Buffer.from(data));
    this.buffered += data.byteLength;
    if (this.producer !== null && this.streamingProducer && !this.producerPaused && this.buffered > this.writeBufferLimit) {
      this.producerPaused = true;
      (this.producer as { pauseProducing(): void }).pauseProducing();
    }
  }

  writeSequence(data: readonly Uint8Array[]): void {
    for (const chunk of data) this.write(chunk);
  }

  loseConnection(): void {
    this.disconnecting = true;
  }

  abortConnection(): void {
    this.disconnecting = true;
    this.aborted = true;
    this.stream = [];
    this.buffered = 0;
  }

  loseWriteConnection(): void {
    this.writeDisconnected = true;
  }

  getPeer(): Address {
    return this.peerAddress;
  }

  getHost(): Address {
    return this.hostAddress;
  }

  /**
   * @throws Error when a producer is already registered. A producer
   * registered on a closed connection is stopped at once.
   */
  registerProducer(producer: IProducer, streaming: boolean): void {
    if (this.producer !== null) throw new Error(`Cannot register producer ${String(producer)}: ${String(this.producer)} is already registered`);
    if (this.disconnected) {
      producer.stopProducing();
      return;
    }
    this.producer = producer;
    this.streamingProducer = streaming;
    this.producerPaused = false;
    if (!streaming) producer.resumeProducing();
  }

  unregisterProducer(): void {
    this.producer = null;
    this.streamingProducer = false;
    this.producerPaused = false;
  }

  pauseProducing(): void {
    this.readPaused = true;
  }

  resumeProducing(): void {
    this.readPaused = false;
  }

  stopProducing(): void {
    this.loseConnection();
  }

  setTcpNoDelay(enabled: boolean): void {
    this.tcpNoDelay = enabled;
  }

  setTcpKeepAlive(enabled: boolean): void {
    this.tcpKeepAlive = enabled;
  }

  startTLS(options: TLSOptions): void {
    this.tlsOptions = options;
    this.isSecure = true;
  }

  /** Take what is buffered (null when nothing is). */
  getOutBuffer(): Buffer | null {
    if (this.stream.length === 0) return null;
    const data = this.stream.length === 1 ? this.stream[0]! : Buffer.concat(this.stream);
    this.stream = [];
    this.buffered = 0;
    return data;
  }

  /** Deliver bytes to our protocol (dropped once disconnected). */
  bufferReceived(data: Uint8Array): void {
    if (!this.disconnected) deliverData(this.protocol, data);
  }

  /**
   * Called by the pump at idle times: resume a pull producer, or a
   * streaming one we paused once the buffer has drained.
   */
  checkProducer(): void {
    const p = this.producer;
    if (p === null) return;
    if (!this.streamingProducer) p.resumeProducing();
    else if (this.producerPaused && this.buffered <= this.writeBufferLimit) {
      this.producerPaused = false;
      p.resumeProducing();
    }
  }

  /** Whether an orderly close may go ahead: buffer moved, no producer left. */
  get readyToClose(): boolean {
    return this.buffered === 0 && this.producer === null;
  }

  /** End the connection for our protocol: `connectionLost(reason)`, once. */
  reportDisconnect(reason: Error): void {
    if (this.disconnected) return;
    this.disconnected = true;
    this.disconnecting = true;
    this.stream = [];
    this.buffered = 0;
    const producer = this.producer;
    this.unregisterProducer();
    producer?.stopProducing();
    const failure = new Failure(reason);
    deliverConnectionLost(this.protocol, failure);
    this.onConnectionLost?.(failure);
  }

  /** Tell our protocol the peer has half-closed; true when it did something. */
  reportReadDisconnect(): boolean {
    if (this.disconnected || this.readDisconnected) return false;
    if (isHalfCloseable(this.protocol) && !this.writeDisconnected) {
      this.readDisconnected = true;
      this.protocol.readConnectionLost!();
    } else {
      this.reportDisconnect(new ConnectionDone());
    }
    return true;
  }

  /** Report our own half-close once (`writeConnectionLost`); true when it did something. */
  reportWriteDisconnect(): boolean {
    if (this.writeLostReported || this.disconnected) return false;
    this.writeLostReported = true;
    this.protocol.writeConnectionLost?.();
    return true;
  }
}

/**
 * Moves bytes between the two ends of an in-memory connection, one round
 * per `pump()`, so a test decides when data arrives.
 */
export class IOPump {
  constructor(
    readonly client: IProtocol,
    readonly server: IProtocol,
    readonly clientIO: FakeTransport,
    readonly serverIO: FakeTransport,
    /** Advanced by 0 at the start of every pump, running calls already due. */
    readonly clock: PumpClock | null = null,
  ) {}

  /**
   * One round: advance the clock by 0; take both out-buffers; give
   * producers their chance (pull producers resumed, paused streaming ones
   * resumed if drained); deliver the bytes taken (unless the receiver paused
   * reading); then, if no bytes moved, carry one pending close or half-close
   * across.
   *
   * @returns whether anything moved (bytes or a disconnect).
   */
  pump(): boolean {
    this.clock?.advance(0);
    const c = this.clientIO;
    const s = this.serverIO;
    const toServer = s.readPaused ? null : c.getOutBuffer();
    const toClient = c.readPaused ? null : s.getOutBuffer();
    c.checkProducer();
    s.checkProducer();
    if (toServer !== null) s.bufferReceived(toServer);
    if (toClient !== null) c.bufferReceived(toClient);
    if (toServer !== null || toClient !== null) return true;
    return this.carryClose(s, c) || this.carryClose(c, s);
  }

  /**
   * Pump until nothing moves.
   * @returns whether anything moved at all.
   * @throws Error "Too long" after `maxRounds` (default 1000) rounds that
   * all moved something: the protocols never go quiet.
   */
  flush(maxRounds = 1000): boolean {
    let moved = false;
    for (let i = 0; i < maxRounds; i++) {
      if (!this.pump()) return moved;
      moved = true;
    }
    throw new Error(`Too long: the connection was still busy after ${maxRounds} pumps`);
  }

  /** Carry `side`'s pending close to `peer`; true when something happened. */
  private carryClose(side: FakeTransport, peer: FakeTransport): boolean {
    if (side.disconnected) return false;
    if (side.aborted) {
      side.reportDisconnect(new ConnectionLost('the connection was aborted'));
      peer.reportDisconnect(new ConnectionLost());
      return true;
    }
    if (side.disconnecting && side.readyToClose) {
      side.reportDisconnect(new ConnectionDone());
      peer.reportReadDisconnect();
      return true;
    }
    if (side.writeDisconnected && side.readyToClose && side.reportWriteDisconnect()) {
      peer.reportReadDisconnect();
      // A peer that is not half-closeable closed the whole connection.
      if (peer.disconnected) side.reportDisconnect(new ConnectionDone());
      return true;
    }
    return false;
  }
}

/** Options of {@link connectedPair}. */
export interface ConnectedPairOptions {
  /** A clock the pump advances by 0 on every round (runs `callLater(0, ...)`). */
  clock?: PumpClock | null;
  /** Flush once after connecting, so greetings are exchanged (default true). */
  greet?: boolean;
  /** The server end's address (its `getHost()`, the client's `getPeer()`); default 127.0.0.1:8080. */
  serverAddress?: Address;
  /** The client end's address; default 127.0.0.1:54321. */
  clientAddress?: Address;
}

/**
 * Connect `serverProtocol` and `clientProtocol` in memory (Twisted's
 * `connectedServerAndClient`): each gets a FakeTransport and
 * `makeConnection` (server first), then, unless `greet` is false, the pump
 * is flushed once.
 *
 * @example
 * ```ts
 * const { client, server, pump } = connectedPair(new Echo(), new LineCollector());
 * client.transport!.write(Buffer.from('ping\r\n'));
 * pump.flush();
 * expect(client.lines).toEqual(['ping']);
 * ```
 */
export function connectedPair<S extends IProtocol, C extends IProtocol>(
  serverProtocol: S,
  clientProtocol: C,
  options: ConnectedPairOptions = {},
): { client: C; server: S; pump: IOPump } {
  const serverAddress = options.serverAddress ?? SERVER_ADDRESS;
  const clientAddress = options.clientAddress ?? CLIENT_ADDRESS;
  const serverIO = new FakeTransport(serverProtocol, true, { hostAddress: serverAddress, peerAddress: clientAddress });
  const clientIO = new FakeTransport(clientProtocol, false, { hostAddress: clientAddress, peerAddress: serverAddress });
  const pump = connectTransports(serverProtocol, serverIO, clientProtocol, clientIO, options.clock ?? null, options.greet ?? true);
  return { client: clientProtocol, server: serverProtocol, pump };
}

function connectTransports(
  server: IProtocol,
  serverIO: FakeTransport,
  client: IProtocol,
  clientIO: FakeTransport,
  clock: PumpClock | null,
  greet: boolean,
): IOPump {
  makeConnection(server, serverIO);
  makeConnection(client, clientIO);
  const pump = new IOPump(client, server, clientIO, serverIO, clock);
  if (greet) pump.flush();
  return pump;
}

/**
 * Completes a MemoryReactor's connection attempts: joins a pending
 * connector to the fake port it would reach, or fails it.
 *
 * @example
 * ```ts
 * const reactor = new MemoryReactorClock();
 * new TCP4ServerEndpoint(reactor, 4321).listen(serverFactory);
 * const d = new TCP4ClientEndpoint(reactor, '127.0.0.1', 4321).connect(clientFactory);
 * const pump = new ConnectionCompleter(reactor).succeedOnce();
 * const client = successResultOf(d);
 * ```
 */
export class ConnectionCompleter {
  constructor(readonly reactor: MemoryReactor) {}

  /**
   * Connect the oldest pending attempt that has a port to reach (TCP to a
   * TCP port of the same number, TLS to a TLS port, UNIX to the same path;
   * ports stopped do not count): both factories build a protocol (each given
   * the other end's address), both get a FakeTransport and
   * `makeConnection`, and the pump is flushed once. A factory that builds
   * null gets a connection that closes at once (as the real reactor does).
   * When the client's connection ends, the connector reports
   * `clientConnectionLost`.
   *
   * @returns the pump between the two protocols (`pump.client` is the
   * protocol the client factory built).
   * @throws Error when no pending attempt has a port to reach.
   */
  succeedOnce(): IOPump {
    const reactor = this.reactor;
    for (const connector of reactor.connectors) {
      if (connector.state !== 'connecting') continue;
      const port = reactor.listeningPorts.find(
        (p) => !p.stopped && p.kind === connector.kind && p.key === connector.key,
      );
      if (port !== undefined) return this.join(connector, port);
    }
    const pending = reactor.connectors.filter((c) => c.state === 'connecting').map(String);
    const listening = reactor.listeningPorts.filter((p) => !p.stopped).map(String);
    throw new Error(
      `no pending connection attempt can reach a listening port (pending: ${pending.join('; ') || 'none'}; listening: ${listening.join('; ') || 'none'})`,
    );
  }

  /**
   * Fail the oldest pending attempt: its factory's
   * `clientConnectionFailed(connector, reason)` (default
   * ConnectionRefusedError).
   * @throws Error when no attempt is pending.
   */
  failOnce(reason: Error | Failure = new ConnectionRefusedError('connection refused')): void {
    const connector = this.reactor.connectors.find((c) => c.state === 'connecting');
    if (connector === undefined) throw new Error('no pending connection attempt to fail');
    connector.connectionFailed(reason);
  }

  private join(connector: MemoryConnector, port: MemoryListeningPort): IOPump {
    const serverAddress = connector.getDestination();
    const clientAddress =
      connector.kind === 'UNIX' ? new UNIXAddress(null) : ipAddress('TCP', '127.0.0.1', this.reactor.allocatePort());
    const clientProtocol = connector.factory.buildProtocol(serverAddress);
    const serverProtocol = port.factory.buildProtocol(clientAddress);
    const clientIO = new FakeTransport(clientProtocol ?? {}, false, { hostAddress: clientAddress, peerAddress: serverAddress });
    const serverIO = new FakeTransport(serverProtocol ?? {}, true, { hostAddress: port.getHost(), peerAddress: clientAddress });
    if (connector.kind === 'SSL') {
      clientIO.isSecure = serverIO.isSecure = true;
      clientIO.tlsOptions = this.reactor.sslClients.find((r) => r.factory === connector.factory)?.tls ?? {};
      serverIO.tlsOptions = this.reactor.sslServers.find((r) => r.factory === port.factory)?.tls ?? {};
    }
    connector.connectionMade(clientIO);
    clientIO.onConnectionLost = (reason) => connector.connectionLost(reason);
    // A refused protocol gets a connection that closes at once, as in the real reactor.
    if (serverProtocol === null) serverIO.loseConnection();
    if (clientProtocol === null) clientIO.loseConnection();
    const clock = this.reactor instanceof MemoryReactorClock ? this.reactor : null;
    return connectTransports(serverIO.protocol, serverIO, clientIO.protocol, clientIO, clock, true);
  }
}

/**
 * A client endpoint whose connections a test completes by hand (Twisted's
 * `connectableEndpoint`): a TCP4ClientEndpoint to port 4321 of a fresh
 * MemoryReactorClock, on which a server listens on 4321 with a factory of
 * empty protocols.
 *
 * @example
 * ```ts
 * const { endpoint, completer } = connectableEndpoint();
 * const d = endpoint.connect(factory);
 * completer.succeedOnce();      // or completer.failOnce(new ConnectionRefusedError())
 * successResultOf(d);
 * ```
 */
export function connectableEndpoint(): {
  endpoint: TCP4ClientEndpoint;
  completer: ConnectionCompleter;
  reactor: MemoryReactorClock;
} {
  const reactor = new MemoryReactorClock();
  const endpoint = new TCP4ClientEndpoint(reactor, '0.0.0.0', 4321);
  void new TCP4ServerEndpoint(reactor, 4321).listen({ buildProtocol: () => ({}) });
  return { endpoint, completer: new ConnectionCompleter(reactor), reactor };
}
