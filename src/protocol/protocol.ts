/**
 * Base classes for protocols: streams (`Protocol`), child processes
 * (`ProcessProtocol`) and datagrams (`DatagramProtocol`), as in Twisted's
 * twisted.internet.protocol. Subclass them and override the callbacks you
 * need; every callback has a do-nothing default.
 *
 * Protocols do not have to be classes: the reactor calls the optional
 * callbacks of any object satisfying `IProtocol` (see `src/reactor/glue.ts`).
 */
import type { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import type {
  IDatagramProtocol,
  IProcessProtocol,
  IProcessTransport,
  IProtocol,
  IProtocolFactory,
  ITransport,
  IUDPTransport,
} from '../reactor/interfaces.js';
import type { Address } from '../reactor/address.js';

const log = new Logger('spindle.protocol');

/**
 * A stream protocol: the callbacks of one connection.
 *
 * Lifecycle: the factory builds it (`buildProtocol` sets `factory`), the
 * reactor calls `makeConnection(transport)` (sets `transport`, `connected`,
 * then calls `connectionMade`), then `dataReceived` for every chunk read, then
 * `connectionLost(reason)` exactly once.
 *
 * `dataReceived` gets arbitrary fragments of the byte stream: one message may
 * arrive split over several calls, and several messages in one call. Use a
 * framing base class (`LineReceiver`, `NetstringReceiver`,
 * `Int32StringReceiver`) rather than assuming chunks are messages.
 *
 * @example
 * ```ts
 * class Echo extends Protocol {
 *   override dataReceived(data: Uint8Array): void {
 *     this.transport.write(data);
 *   }
 * }
 * reactor.listenTCP(8000, Factory.forProtocol(Echo), { interface: '127.0.0.1' });
 * ```
 */
export class Protocol implements IProtocol {
  /**
   * The connection's transport. Set by `makeConnection`; undefined before
   * (do not use it in a constructor).
   */
  transport!: ITransport;
  /** The factory that built this protocol (set by `Factory.buildProtocol`), or null. */
  factory: IProtocolFactory | null = null;
  /** True from `makeConnection` until `connectionLost`. */
  connected = false;

  /**
   * Attach to `transport` and call `connectionMade`. Called by the reactor
   * (or by a test with a `StringTransport`); not meant to be overridden —
   * override `connectionMade` instead.
   */
  makeConnection(transport: ITransport): void {
    this.connected = true;
    this.transport = transport;
    this.connectionMade();
  }

  /** The connection is up and `transport` is set: greet the peer, start timers... */
  connectionMade(): void {}

  /** Bytes arrived: any fragment of the stream, possibly a single byte. */
  dataReceived(data: Uint8Array): void {}

  /**
   * The connection is gone. `reason` is a Failure of `ConnectionDone` (closed
   * cleanly) or `ConnectionLost` (reset, aborted, reactor stopped). An
   * override that relies on `connected` should call `super.connectionLost`.
   */
  connectionLost(reason: Failure): void {
    this.connected = false;
  }

  /** A short name for log lines about this protocol (the class name by default). */
  logPrefix(): string {
    return this.constructor.name;
  }
}

/**
 * The callbacks of a child process started with `spawnProcess`.
 *
 * `childDataReceived(fd, data)` dispatches fd 1 to `outReceived` and fd 2 to
 * `errReceived`; `childConnectionLost(fd)` dispatches fds 0/1/2 to
 * `inConnectionLost`/`outConnectionLost`/`errConnectionLost`. Override
 * `childDataReceived` itself for other fds (`childFDs`). `processExited`
 * comes when the process exits (its pipes may still be open);
 * `processEnded` when it has exited and every pipe is closed.
 *
 * @example
 * ```ts
 * class Collect extends ProcessProtocol {
 *   out: Buffer[] = [];
 *   override outReceived(data: Uint8Array): void { this.out.push(Buffer.from(data)); }
 *   override processEnded(reason: Failure): void { console.log(Buffer.concat(this.out).toString()); }
 * }
 * reactor.spawnProcess(new Collect(), 'ls', ['-l'], { env: null }); // args follow the executable, as in Node
 * ```
 */
export class ProcessProtocol implements IProcessProtocol {
  /** The process transport. Set by `makeConnection`; undefined before. */
  transport!: IProcessTransport;
  /** True once `makeConnection` ran. */
  connected = false;

  /** Attach to the process and call `connectionMade`. */
  makeConnection(transport: IProcessTransport): void {
    this.connected = true;
    this.transport = transport;
    this.connectionMade();
  }

  /** The process started: `transport.write` feeds its stdin. */
  connectionMade(): void {}

  /** Bytes from the child's `fd`: 1 goes to `outReceived`, 2 to `errReceived`, others are ignored. */
  childDataReceived(fd: number, data: Uint8Array): void {
    if (fd === 1) this.outReceived(data);
    else if (fd === 2) this.errReceived(data);
  }

  /** Bytes from the child's stdout. */
  outReceived(data: Uint8Array): void {}

  /** Bytes from the child's stderr. */
  errReceived(data: Uint8Array): void {}

  /** The child's `fd` closed: 0/1/2 go to `in`/`out`/`errConnectionLost`. */
  childConnectionLost(fd: number): void {
    if (fd === 0) this.inConnectionLost();
    else if (fd === 1) this.outConnectionLost();
    else if (fd === 2) this.errConnectionLost();
  }

  /** The child's stdin closed. */
  inConnectionLost(): void {}

  /** The child's stdout closed. */
  outConnectionLost(): void {}

  /** The child's stderr closed. */
  errConnectionLost(): void {}

  /** The process exited: a Failure of ProcessDone (exit code 0) or ProcessTerminated. */
  processExited(reason: Failure): void {}

  /** The process exited and all its pipes are closed: ProcessDone or ProcessTerminated. */
  processEnded(reason: Failure): void {
    this.connected = false;
  }

  /** A short name for log lines (the class name by default). */
  logPrefix(): string {
    return this.constructor.name;
  }
}

/**
 * A UDP protocol: one instance per bound port, `datagramReceived` per packet.
 *
 * `doStart`/`doStop` count the ports using the protocol (as a Factory does),
 * so `startProtocol` runs when the first port starts and `stopProtocol` after
 * the last one stops. With `noisy` (the default) both are logged at info
 * level on `spindle.protocol`.
 *
 * @example
 * ```ts
 * class EchoUDP extends DatagramProtocol {
 *   override datagramReceived(data: Uint8Array, addr: Address): void {
 *     if (addr instanceof IPv4Address) this.transport.write(data, addr);
 *   }
 * }
 * reactor.listenUDP(9999, new EchoUDP(), { interface: '127.0.0.1' });
 * ```
 */
export class DatagramProtocol implements IDatagramProtocol {
  /** The UDP port. Set by the reactor (or `makeConnection`); undefined before. */
  transport!: IUDPTransport;
  /** How many ports currently use this protocol. */
  numPorts = 0;
  /** Log start and stop. */
  noisy = true;

  /** Attach to `transport` and `doStart`. */
  makeConnection(transport: IUDPTransport): void {
    this.transport = transport;
    this.doStart();
  }

  /** A port starts using this protocol: the first one calls `startProtocol`. */
  doStart(): void {
    if (this.numPorts === 0) {
      if (this.noisy) log.info('Starting protocol {protocol}', { protocol: this.logPrefix() });
      this.startProtocol();
    }
    this.numPorts += 1;
  }

  /** A port stops using this protocol: the last one calls `stopProtocol`. Extra calls are ignored. */
  doStop(): void {
    if (this.numPorts === 0) return;
    this.numPorts -= 1;
    if (this.numPorts === 0) {
      if (this.noisy) log.info('Stopping protocol {protocol}', { protocol: this.logPrefix() });
      this.stopProtocol();
    }
  }

  /** The port is bound and `transport` is usable. */
  startProtocol(): void {}

  /** The port is closed. */
  stopProtocol(): void {}

  /** A datagram arrived from `addr`. */
  datagramReceived(data: Uint8Array, addr: Address): void {}

  /** Connected UDP only: the peer's port is closed (ICMP port unreachable). */
  connectionRefused(): void {}

  /** A short name for log lines (the class name by default). */
  logPrefix(): string {
    return this.constructor.name;
  }
}
