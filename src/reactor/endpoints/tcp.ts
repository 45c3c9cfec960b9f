/**
 * Endpoints over the reactor's TCP, TLS and UNIX calls (Twisted's
 * TCP4ServerEndpoint, TCP4ClientEndpoint, SSL4*, UNIX*), and the wrapping
 * factory that turns a connection attempt into a Deferred of the protocol.
 */
import { Deferred, fail } from '../../defer/deferred.js';
import type { Failure } from '../../defer/failure.js';
import { UNIXAddress, ipAddress, type Address } from '../address.js';
import { ConnectingCancelledError, NoProtocol } from '../errors.js';
import { deliverConnectionLost, deliverData, isHalfCloseable, makeConnection } from '../glue.js';
import type {
  ConnectTCPOptions,
  IClientFactory,
  IConnector,
  IListeningPort,
  IProtocol,
  IProtocolFactory,
  IProtocolFactoryOf,
  IReactorSSL,
  IReactorTCP,
  IReactorUNIX,
  IStreamClientEndpoint,
  IStreamServerEndpoint,
  ITransport,
  TLSOptions,
} from '../interfaces.js';

/** TLS options, or a function giving them when the endpoint listens or connects (e.g. reading PEM files). */
export type TLSOptionsSource = TLSOptions | (() => TLSOptions);

function loadTLS(source: TLSOptionsSource): TLSOptions {
  return typeof source === 'function' ? source() : source;
}

/**
 * A Deferred that follows `port.ready`, so callbacks added by the caller do
 * not change what `ready` holds for the port's other users.
 */
function listening(start: () => IListeningPort): Deferred<IListeningPort> {
  let port: IListeningPort;
  try {
    port = start();
  } catch (e) {
    return fail(e);
  }
  const d = new Deferred<IListeningPort>();
  port.ready.addCallbacks(
    (p) => {
      d.callback(p);
      return p;
    },
    (f: Failure) => {
      // Handed over: the caller of listen() now owns this failure.
      d.errback(f);
      return undefined;
    },
  );
  return d;
}

// ------------------------------------------------------------ wrapping

/**
 * The protocol the reactor sees for an endpoint connection: it connects the
 * caller's protocol in its own `connectionMade`, then fires the Deferred
 * with it, and forwards every other callback.
 */
class WrappingProtocol<P extends IProtocol> implements IProtocol {
  transport: ITransport | null = null;
  readConnectionLost?: () => void;
  writeConnectionLost?: () => void;
  /** Whether the wrapped protocol was connected (and so must hear of the end). */
  private attached = false;

  constructor(
    private readonly onConnection: Deferred<P>,
    readonly wrapped: P,
  ) {
    // Only half-closeable when the wrapped one is: the transport checks for the method.
    if (isHalfCloseable(wrapped)) this.readConnectionLost = () => wrapped.readConnectionLost?.();
    if (typeof wrapped.writeConnectionLost === 'function') this.writeConnectionLost = () => wrapped.writeConnectionLost?.();
  }

  makeConnection(transport: ITransport): void {
    this.transport = transport;
    this.connectionMade();
  }

  connectionMade(): void {
    const transport = this.transport!;
    if (this.onConnection.called) {
      // Cancelled while the connection was being made: nobody wants it.
      transport.abortConnection();
      return;
    }
    this.attached = true;
    try {
      makeConnection(this.wrapped, transport);
    } catch (e) {
      // Without this the connect Deferred would never fire.
      this.onConnection.errback(e);
      transport.abortConnection();
      return;
    }
    this.onConnection.callback(this.wrapped);
  }

  dataReceived(data: Uint8Array): void {
    if (this.attached) deliverData(this.wrapped, data);
  }

  connectionLost(reason: Failure): void {
    if (this.attached) deliverConnectionLost(this.wrapped, reason);
  }
}

/**
 * Twisted's `_WrappingFactory`: the client factory an endpoint hands to the
 * reactor. `onConnection` fires with the caller's protocol once connected,
 * or fails with the connection failure, with NoProtocol when the caller's
 * factory returns null (or whatever it throws), or with
 * ConnectingCancelledError when cancelled (the attempt is then stopped with
 * `connector.stopConnecting()`).
 */
export class WrappingFactory<P extends IProtocol> implements IClientFactory {
  /** Fires with the connected protocol. */
  readonly onConnection: Deferred<P>;
  private connector: IConnector | null = null;

  /**
   * @param wrapped the caller's factory.
   * @param destination the address reported by ConnectingCancelledError
   * when cancelled before the reactor called `startedConnecting`.
   */
  constructor(
    readonly wrapped: IProtocolFactoryOf<P>,
    private readonly destination: Address | null = null,
  ) {
    this.onConnection = new Deferred<P>((d) => {
      const connector = this.connector;
      d.errback(new ConnectingCancelledError(connector?.getDestination() ?? this.destination));
      if (connector !== null && connector.state === 'connecting') connector.stopConnecting();
    });
  }

  startedConnecting(connector: IConnector): void {
    this.connector = connector;
  }

  doStart(): void {
    this.wrapped.doStart?.();
  }

  doStop(): void {
    this.wrapped.doStop?.();
  }

  buildProtocol(addr: Address): IProtocol | null {
    if (this.onConnection.called) return null;
    let proto: P | null;
    try {
      proto = this.wrapped.buildProtocol(addr);
      if (proto === null || proto === undefined) throw new NoProtocol('the factory built no protocol (buildProtocol returned null)');
    } catch (e) {
      this.onConnection.errback(e);
      return null;
    }
    return new WrappingProtocol(this.onConnection, proto);
  }

  clientConnectionFailed(_connector: IConnector, reason: Failure): void {
    if (!this.onConnection.called) this.onConnection.errback(reason);
  }
}

/** Start a connection with a WrappingFactory; a throwing reactor gives a failed Deferred. */
function connecting<P extends IProtocol>(
  factory: IProtocolFactoryOf<P>,
  destination: Address,
  start: (wf: WrappingFactory<P>) => unknown,
): Deferred<P> {
  const wf = new WrappingFactory(factory, destination);
  try {
    start(wf);
  } catch (e) {
    return fail(e);
  }
  return wf.onConnection;
}

// ------------------------------------------------------------ server endpoints

/** Options of the TCP and TLS server endpoints. */
export interface TCPServerEndpointOptions {
  /** Listen queue length (default 50). */
  backlog?: number;
  /** Local address to bind: '' (default) all IPv4 interfaces; '::' all IPv6 (and, on most systems, IPv4) ones. */
  interface?: string;
}

/**
 * Listens on a TCP port with `reactor.listenTCP`.
 *
 * @example
 * ```ts
 * const port = await new TCP4ServerEndpoint(reactor, 8000, { interface: '127.0.0.1' }).listen(factory);
 * console.log(port.getHost().port);
 * ```
 */
export class TCP4ServerEndpoint implements IStreamServerEndpoint {
  readonly backlog: number;
  readonly interface: string;

  /** @param port the port; 0 picks a free one (read it from the port's `getHost()`). */
  constructor(
    readonly reactor: IReactorTCP,
    readonly port: number,
    options: TCPServerEndpointOptions = {},
  ) {
    this.backlog = options.backlog ?? 50;
    this.interface = options.interface ?? this.defaultInterface();
  }

  protected defaultInterface(): string {
    return '';
  }

  /** Fires with the listening port once bound; fails with CannotListenError or what the reactor threw. */
  listen(factory: IProtocolFactory): Deferred<IListeningPort> {
    return listening(() =>
      this.reactor.listenTCP(this.port, factory, { backlog: this.backlog, interface: this.interface }),
    );
  }
}

/** A {@link TCP4ServerEndpoint} whose interface defaults to `::` (every IPv6 address). */
export class TCP6ServerEndpoint extends TCP4ServerEndpoint {
  protected override defaultInterface(): string {
    return '::';
  }
}

/**
 * Listens for TLS on a TCP port with `reactor.listenSSL`. `tls` may be a
 * function: it is called at `listen` time (so a certificate file is read
 * then, and an unreadable one fails the `listen` Deferred).
 */
export class SSL4ServerEndpoint implements IStreamServerEndpoint {
  readonly backlog: number;
  readonly interface: string;

  constructor(
    readonly reactor: IReactorSSL,
    readonly port: number,
    readonly tls: TLSOptionsSource,
    options: TCPServerEndpointOptions = {},
  ) {
    this.backlog = options.backlog ?? 50;
    this.interface = options.interface ?? '';
  }

  listen(factory: IProtocolFactory): Deferred<IListeningPort> {
    return listening(() =>
      this.reactor.listenSSL(this.port, factory, loadTLS(this.tls), { backlog: this.backlog, interface: this.interface }),
    );
  }
}

/** Options of {@link UNIXServerEndpoint}. */
export interface UNIXServerEndpointOptions {
  /** Listen queue length (default 50). */
  backlog?: number;
  /** Permissions of the socket file (default 0o666). */
  mode?: number;
}

/** Listens on a UNIX socket path with `reactor.listenUNIX`. */
export class UNIXServerEndpoint implements IStreamServerEndpoint {
  readonly backlog: number;
  readonly mode: number;

  constructor(
    readonly reactor: IReactorUNIX,
    readonly path: string,
    options: UNIXServerEndpointOptions = {},
  ) {
    this.backlog = options.backlog ?? 50;
    this.mode = options.mode ?? 0o666;
  }

  listen(factory: IProtocolFactory): Deferred<IListeningPort> {
    return listening(() => this.reactor.listenUNIX(this.path, factory, { backlog: this.backlog, mode: this.mode }));
  }
}

// ------------------------------------------------------------ client endpoints

/** Options of the TCP and TLS client endpoints. */
export interface TCPClientEndpointOptions {
  /** Seconds before the attempt fails with TCPTimedOutError (default 30). */
  timeout?: number;
  /** Local address (and port, default any) to connect from. */
  bindAddress?: ConnectTCPOptions['bindAddress'];
}

/**
 * Connects with `reactor.connectTCP`. `host` is an address (IPv4 or IPv6) or
 * a name the reactor resolves; to try every address of a name, happy-eyeballs
 * style, use `HostnameEndpoint`.
 *
 * `connect(factory)` fires with the protocol once its `connectionMade` ran.
 * Cancelling it before then fails it with ConnectingCancelledError and stops
 * the attempt.
 *
 * @example
 * ```ts
 * const proto = await new TCP4ClientEndpoint(reactor, '127.0.0.1', 6379).connect(factory);
 * ```
 */
export class TCP4ClientEndpoint implements IStreamClientEndpoint {
  readonly timeout: number;
  readonly bindAddress: ConnectTCPOptions['bindAddress'];

  constructor(
    readonly reactor: IReactorTCP,
    readonly host: string,
    readonly port: number,
    options: TCPClientEndpointOptions = {},
  ) {
    this.timeout = options.timeout ?? 30;
    this.bindAddress = options.bindAddress ?? null;
  }

  connect<P extends IProtocol>(factory: IProtocolFactoryOf<P>): Deferred<P> {
    return connecting(factory, ipAddress('TCP', this.host, this.port), (wf) =>
      this.reactor.connectTCP(this.host, this.port, wf, { timeout: this.timeout, bindAddress: this.bindAddress }),
    );
  }
}

/**
 * Connects with TLS with `reactor.connectSSL`. `tls` may be a function,
 * called at `connect` time (reading certificate files then); a throw fails
 * the `connect` Deferred.
 */
export class SSL4ClientEndpoint implements IStreamClientEndpoint {
  readonly timeout: number;
  readonly bindAddress: ConnectTCPOptions['bindAddress'];

  constructor(
    readonly reactor: IReactorSSL,
    readonly host: string,
    readonly port: number,
    readonly tls: TLSOptionsSource,
    options: TCPClientEndpointOptions = {},
  ) {
    this.timeout = options.timeout ?? 30;
    this.bindAddress = options.bindAddress ?? null;
  }

  connect<P extends IProtocol>(factory: IProtocolFactoryOf<P>): Deferred<P> {
    return connecting(factory, ipAddress('TCP', this.host, this.port), (wf) =>
      this.reactor.connectSSL(this.host, this.port, wf, loadTLS(this.tls), {
        timeout: this.timeout,
        bindAddress: this.bindAddress,
      }),
    );
  }
}

/** Connects to a UNIX socket path with `reactor.connectUNIX`. */
export class UNIXClientEndpoint implements IStreamClientEndpoint {
  readonly timeout: number;

  constructor(
    readonly reactor: IReactorUNIX,
    readonly path: string,
    options: { timeout?: number } = {},
  ) {
    this.timeout = options.timeout ?? 30;
  }

  connect<P extends IProtocol>(factory: IProtocolFactoryOf<P>): Deferred<P> {
    return connecting(factory, new UNIXAddress(this.path), (wf) =>
      this.reactor.connectUNIX(this.path, wf, { timeout: this.timeout }),
    );
  }
}

/**
 * Connect `protocol` itself through `endpoint`, without writing a factory.
 * Fires with `protocol` once connected.
 *
 * @example
 * ```ts
 * const client = await connectProtocol(clientFromString(reactor, 'tcp:127.0.0.1:6379'), new RedisProtocol());
 * ```
 */
export function connectProtocol<P extends IProtocol>(endpoint: IStreamClientEndpoint, protocol: P): Deferred<P> {
  return endpoint.connect<P>({ buildProtocol: () => protocol });
}

