/**
 * Stream connections on `node:net` sockets — TCP, UNIX and TLS alike: the
 * reactor's `listenTCP`/`connectTCP`, `listenSSL`/`connectSSL` and
 * `listenUNIX`/`connectUNIX` (Twisted's `tcp.py` and `unix.py`), built on the
 * transport (`./streamTransport.ts`), the listening port
 * (`./streamPort.ts`) and the connector (`./streamConnector.ts`).
 *
 * Everything registers with the reactor (`track`) while open, so stopping the
 * reactor closes ports, abandons attempts and gives every connection
 * `connectionLost`.
 */
import net from 'node:net';
import { ipAddress, IPv4Address, IPv6Address, UNIXAddress, type Address } from './address.js';
import { fastReadsEnabled, onreadOption } from './fastRead.js';
import type { ConnectTCPOptions, IClientFactory, IProtocolFactory, ListenTCPOptions, TLSOptions } from './interfaces.js';
import { StreamConnector } from './streamConnector.js';
import { StreamPort, type PortSpec } from './streamPort.js';
import { HIGH_WATER_MARK, readCallback, type StreamReactor } from './streamTransport.js';
import { connectTLS, createTLSServer, TLS_CONNECT_EVENT } from './tls.js';

export { HIGH_WATER_MARK, LINGER_TIMEOUT, StreamTransport, type StreamReactor, type TransportSetup } from './streamTransport.js';
export { StreamPort, type PortSpec } from './streamPort.js';
export { StreamConnector, type ConnectSpec, type ConnectorState } from './streamConnector.js';

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
