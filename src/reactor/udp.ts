/**
 * UDP ports on `node:dgram` (Twisted's `listenUDP` and its `udp.Port`).
 *
 * The Node reactor's `listenUDP` is this function with the reactor passed
 * in; it is exported on its own so a test can bind a port with nothing but a
 * `Clock` and a resource tracker.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { Deferred } from '../defer/deferred.js';
import type { IReactorTime } from '../defer/clock.js';
import { Logger } from '../logger/index.js';
import { ipAddress, type IPv4Address, type IPv6Address } from './address.js';
import { CannotListenError, InvalidAddressError, MessageLengthError } from './errors.js';
import { assertBytes } from './glue.js';
import type { IDatagramProtocol, IUDPTransport } from './interfaces.js';
import type { ReactorResource, ResourceTracker } from './resources.js';

/** Options of {@link listenUDP}. */
export interface ListenUDPOptions {
  /**
   * Local address to bind. '' (the default) binds every IPv4 interface;
   * an address containing ':' ('::', '::1'...) makes an IPv6 port.
   */
  interface?: string;
  /**
   * The largest datagram, in bytes, this port sends or delivers (default
   * {@link DEFAULT_MAX_PACKET_SIZE}). Bigger writes throw
   * {@link MessageLengthError}; bigger incoming datagrams are dropped.
   */
  maxPacketSize?: number;
  /** Set SO_REUSEADDR (several sockets on one port, e.g. for multicast). Default false. */
  reuseAddress?: boolean;
}

/** Twisted's default `maxPacketSize`: 8192 bytes. */
export const DEFAULT_MAX_PACKET_SIZE = 8192;

const log = new Logger('spindle.reactor.udp');

/** Datagrams a connected port holds while its `connect` completes; more are dropped. */
const MAX_QUEUED_WHILE_CONNECTING = 1024;

type PortState = 'binding' | 'listening' | 'closing' | 'closed';

/**
 * Bind a UDP port and attach `protocol` to it.
 *
 * Returns the transport at once; binding is asynchronous, so its `ready`
 * Deferred fires with it once bound, or fails with {@link CannotListenError}
 * (port in use, bad interface...). Once bound, `protocol.transport` is set
 * and `startProtocol()` runs; each datagram then calls
 * `datagramReceived(data, addr)` with an `IPv4Address('UDP', host, port)`
 * (or IPv6Address). `stopListening()` closes the port and `stopProtocol()`
 * runs once it is closed. While open, the port is registered with
 * `reactor.track`, so stopping the reactor closes it.
 *
 * Connected UDP: after `transport.connect(host, port)`, `write(packet)` needs
 * no address, datagrams from anyone else are ignored, and an ICMP "port
 * unreachable" from the peer calls `protocol.connectionRefused()`.
 *
 * Unlike Node's `dgram`, addresses must be IP literals of the port's family
 * (as in Twisted): writing to a host name throws {@link InvalidAddressError}.
 *
 * @throws RangeError when `port` is not an integer in 0..65535 or
 *   `maxPacketSize` is not a positive integer.
 *
 * @example
 * ```ts
 * const port = listenUDP(reactor, 0, {
 *   datagramReceived(data, addr) {
 *     this.transport?.write(data, addr as IPv4Address); // echo
 *   },
 * }, { interface: '127.0.0.1' });
 * await port.ready;
 * console.log('echoing on', port.getHost().toString());
 * ```
 */
export function listenUDP(
  reactor: IReactorTime & ResourceTracker,
  port: number,
  protocol: IDatagramProtocol,
  options: ListenUDPOptions = {},
): IUDPTransport {
  return new UDPPort(reactor, port, protocol, options);
}

/** A bound (or binding) UDP port: the transport of an {@link IDatagramProtocol}. */
class UDPPort implements IUDPTransport, ReactorResource {
  readonly ready = new Deferred<IUDPTransport>();
  private readonly socket: dgram.Socket;
  private readonly iface: string;
  private readonly family: 4 | 6;
  private readonly maxPacketSize: number;
  private state: PortState = 'binding';
  private host: IPv4Address | IPv6Address | null = null;
  private peer: { host: string; port: number } | null = null;
  /** Datagrams written while `connect` is in progress (null when not connecting). */
  private connectQueue: Uint8Array[] | null = null;
  /** Settings asked for before the socket was bound, applied once it is. */
  private pending: Array<() => void> = [];
  private closeWaiters: Array<Deferred<void>> = [];
  private readonly untrack: () => void;

  constructor(
    reactor: ResourceTracker,
    private readonly port: number,
    private readonly protocol: IDatagramProtocol,
    options: ListenUDPOptions,
  ) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`listenUDP: port must be an integer in 0..65535, not ${String(port)}`);
    }
    const maxPacketSize = options.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE;
    if (!Number.isInteger(maxPacketSize) || maxPacketSize <= 0) {
      throw new RangeError(`listenUDP: maxPacketSize must be a positive integer, not ${String(maxPacketSize)}`);
    }
    this.maxPacketSize = maxPacketSize;
    this.iface = options.interface ?? '';
    this.family = this.iface.includes(':') ? 6 : 4;
    this.socket = dgram.createSocket({
      type: this.family === 6 ? 'udp6' : 'udp4',
      reuseAddr: options.reuseAddress ?? false,
    });
    this.socket.on('error', (err) => this.onError(err));
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.untrack = reactor.track(this);
    this.socket.bind({ port, address: this.iface === '' ? undefined : this.iface, exclusive: true }, () =>
      this.onBound(),
    );
  }

  // ---------------------------------------------------------------- IUDPTransport

  /**
   * Send one datagram. On an unconnected port `addr` is required; on a
   * connected one it must be omitted (or be the peer).
   *
   * Sending is asynchronous and UDP is unreliable: a send the system refuses
   * later is logged at `warn`, not thrown. Dropped silently once the port is
   * closed.
   *
   * @throws TypeError when `packet` is not bytes, or `addr` is missing on an
   *   unconnected port.
   * @throws MessageLengthError when `packet` is longer than `maxPacketSize`.
   * @throws InvalidAddressError when `addr.host` is not an IP address of this
   *   port's family, or differs from the connected peer.
   * @throws RangeError when `addr.port` is not in 1..65535.
   */
  write(packet: Uint8Array, addr?: { host: string; port: number }): void {
    assertBytes(packet);
    if (packet.byteLength > this.maxPacketSize) {
      throw new MessageLengthError(
        `datagram of ${packet.byteLength} bytes is larger than this port's maxPacketSize (${this.maxPacketSize})`,
      );
    }
    const peer = this.peer;
    if (peer !== null) {
      if (addr !== undefined && (addr.host !== peer.host || addr.port !== peer.port)) {
        throw new InvalidAddressError(addr.host, `this port is connected to ${peer.host}:${peer.port}: write without an address`);
      }
    } else {
      if (addr === undefined) throw new TypeError('write: an address is required on an unconnected UDP port');
      this.checkAddress(addr.host, addr.port);
    }
    if (this.state === 'closing' || this.state === 'closed') return;
    if (peer === null) {
      this.socket.send(packet, addr!.port, addr!.host, (err) => {
        if (err !== null) this.onSendError(err, addr!);
      });
    } else if (this.connectQueue !== null) {
      // dgram refuses address-less sends until its (asynchronous) connect is done.
      if (this.connectQueue.length < MAX_QUEUED_WHILE_CONNECTING) this.connectQueue.push(packet);
      else log.warn('Dropped a datagram to {host}:{port}: too many queued while connecting', peer);
    } else {
      this.sendConnected(packet);
    }
  }

  /**
   * Talk to `host:port` only (connected UDP): `write` then takes no address,
   * datagrams from anyone else are ignored, and ICMP refusals from the peer
   * call the protocol's `connectionRefused()`.
   *
   * @throws Error when already connected (reconnecting is not supported, as in Twisted).
   * @throws InvalidAddressError when `host` is not an IP address of this port's family.
   */
  connect(host: string, port: number): void {
    if (this.peer !== null) throw new Error('already connected: reconnecting a UDP port is not supported');
    this.checkAddress(host, port);
    if (this.state === 'closing' || this.state === 'closed') throw new Error('connect: the port is closed');
    this.peer = { host, port };
    this.connectQueue = [];
    this.socket.connect(port, host, (err?: Error) => {
      const queued = this.connectQueue ?? [];
      this.connectQueue = null;
      if (err) {
        log.warn('UDP connect to {host}:{port} failed: {error}', { host, port, error: err.message });
        return;
      }
      if (this.state !== 'listening' && this.state !== 'binding') return;
      for (const packet of queued) this.sendConnected(packet);
    });
  }

  /**
   * The local address, with the real port when 0 was asked for.
   * @throws Error before the port is bound (wait for `ready`).
   */
  getHost(): IPv4Address | IPv6Address {
    if (this.host === null) throw new Error('getHost: the UDP port is not bound yet (wait for ready)');
    return this.host;
  }

  /**
   * Close the port; the Deferred fires once it is closed (after the
   * protocol's `stopProtocol`). Idempotent: every call's Deferred fires then.
   * Stopping before the port was bound makes `ready` fail with
   * CannotListenError.
   */
  stopListening(): Deferred<void> {
    const d = new Deferred<void>();
    if (this.state === 'closed') {
      d.callback(undefined);
      return d;
    }
    this.closeWaiters.push(d);
    if (this.state === 'listening') {
      this.state = 'closing';
      this.socket.close(() => this.onClosed(true));
    } else if (this.state === 'binding') {
      this.state = 'closing';
      this.failReady(new Error('stopListening() was called before the port was bound'));
      // dgram defers a close asked for while binding until the bind is done.
      this.socket.close(() => this.onClosed(false));
    }
    return d;
  }

  /** Allow (or forbid) sending to broadcast addresses (SO_BROADCAST). */
  setBroadcastAllowed(enabled: boolean): void {
    this.whenBound(() => this.socket.setBroadcast(enabled));
  }

  /**
   * Join the multicast group `address`, on the interface whose address is
   * `iface` (the system picks one when omitted).
   * @throws Error (from the system) for an address that is not multicast.
   */
  joinGroup(address: string, iface?: string): void {
    this.whenBound(() => this.socket.addMembership(address, iface));
  }

  /** Leave a group joined with {@link joinGroup}. */
  leaveGroup(address: string, iface?: string): void {
    this.whenBound(() => this.socket.dropMembership(address, iface));
  }

  /** The time-to-live of outgoing multicast datagrams (IP_MULTICAST_TTL, 0..255). */
  setTTL(ttl: number): void {
    this.whenBound(() => this.socket.setMulticastTTL(ttl));
  }

  /** Whether our own multicast datagrams are looped back to us (IP_MULTICAST_LOOP). */
  setLoopbackMode(enabled: boolean): void {
    this.whenBound(() => this.socket.setMulticastLoopback(enabled));
  }

  /** ReactorResource: the reactor is stopping. */
  shutdown(): Deferred<void> {
    return this.stopListening();
  }

  toString(): string {
    return `<UDP port ${this.host?.toString() ?? `${this.iface || '*'}:${this.port}`} (${this.state})>`;
  }

  // ---------------------------------------------------------------- socket events

  private onBound(): void {
    if (this.state !== 'binding') return;
    this.state = 'listening';
    const a = this.socket.address();
    this.host = ipAddress('UDP', a.address, a.port);
    const pending = this.pending;
    this.pending = [];
    for (const apply of pending) {
      try {
        apply();
      } catch (e) {
        log.failure('A UDP socket option set before binding failed', e, { port: this.host.port }, 'error');
      }
    }
    this.protocol.transport = this;
    try {
      this.protocol.startProtocol?.();
    } catch (e) {
      log.failure('startProtocol of {protocol} raised', e, { protocol: describe(this.protocol) }, 'error');
    }
    this.ready.callback(this);
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.state !== 'listening') return;
    const peer = this.peer;
    // The kernel filters a connected socket, but datagrams queued before
    // `connect` could still arrive from someone else.
    if (peer !== null && (rinfo.address !== peer.host || rinfo.port !== peer.port)) return;
    if (msg.byteLength > this.maxPacketSize) {
      log.debug('Dropped a {size}-byte datagram from {host}:{port}: larger than maxPacketSize {max}', {
        size: msg.byteLength,
        host: rinfo.address,
        port: rinfo.port,
        max: this.maxPacketSize,
      });
      return;
    }
    try {
      this.protocol.datagramReceived?.(msg, ipAddress('UDP', rinfo.address, rinfo.port));
    } catch (e) {
      log.failure('datagramReceived of {protocol} raised', e, { protocol: describe(this.protocol) }, 'error');
    }
  }

  private onError(err: Error): void {
    if (this.state === 'binding') {
      this.state = 'closing';
      this.failReady(err);
      this.socket.close(() => this.onClosed(false));
      return;
    }
    if (this.state !== 'listening') return;
    if (errorCode(err) === 'ECONNREFUSED') {
      // ICMP port unreachable: meaningful only for a connected port (Twisted ignores it otherwise).
      if (this.peer !== null) this.refused();
      return;
    }
    log.failure('Error on UDP port {port}', err, { port: this.host?.port }, 'error');
  }

  private sendConnected(packet: Uint8Array): void {
    this.socket.send(packet, (err) => {
      if (err !== null) this.onSendError(err, this.peer);
    });
  }

  private onSendError(err: Error, addr: { host: string; port: number } | null): void {
    if (errorCode(err) === 'ECONNREFUSED' && this.peer !== null) {
      this.refused();
      return;
    }
    log.warn('UDP send to {host}:{port} failed: {error}', {
      host: addr?.host,
      port: addr?.port,
      error: err.message,
    });
  }

  private refused(): void {
    try {
      this.protocol.connectionRefused?.();
    } catch (e) {
      log.failure('connectionRefused of {protocol} raised', e, { protocol: describe(this.protocol) }, 'error');
    }
  }

  private onClosed(started: boolean): void {
    this.state = 'closed';
    this.pending = [];
    this.untrack();
    if (started) {
      this.protocol.transport = null;
      try {
        this.protocol.stopProtocol?.();
      } catch (e) {
        log.failure('stopProtocol of {protocol} raised', e, { protocol: describe(this.protocol) }, 'error');
      }
    }
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const d of waiters) d.callback(undefined);
  }

  // ---------------------------------------------------------------- helpers

  private failReady(cause: Error): void {
    if (!this.ready.called) this.ready.errback(new CannotListenError(this.iface, this.port, { cause }));
  }

  private whenBound(apply: () => void): void {
    if (this.state === 'listening') apply();
    else if (this.state === 'binding') this.pending.push(apply);
    else throw new Error('the UDP port is closed');
  }

  private checkAddress(host: string, port: number): void {
    if (typeof host !== 'string' || isIP(host) !== this.family) {
      throw new InvalidAddressError(
        String(host),
        `not an IPv${this.family} address: ${JSON.stringify(host)} (this is an IPv${this.family} port; resolve host names first)`,
      );
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`UDP port must be an integer in 1..65535, not ${String(port)}`);
    }
  }
}

function errorCode(err: Error): unknown {
  return (err as Error & { code?: unknown }).code;
}

function describe(protocol: object): string {
  return protocol.constructor?.name ?? 'protocol';
}
