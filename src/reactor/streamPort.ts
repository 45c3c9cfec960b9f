/**
 * The listening socket of TCP, UNIX and TLS servers (Twisted's `tcp.Port`):
 * binds, accepts, and hands each accepted socket to a new
 * {@link StreamTransport}. Registered with the reactor while open.
 */
import { chmodSync, lstat, unlink } from 'node:fs';
import net from 'node:net';
import { Deferred } from '../defer/deferred.js';
import { Logger } from '../logger/index.js';
import type { Address } from './address.js';
import { CannotListenError } from './errors.js';
import { adoptAccepted } from './fastRead.js';
import type { IListeningPort, IProtocol, IProtocolFactory } from './interfaces.js';
import type { ReactorResource } from './resources.js';
import { HIGH_WATER_MARK, readCallback, StreamTransport, type StreamReactor } from './streamTransport.js';

const log = new Logger('spindle.reactor');
const noop = (): void => {};
/** The adopting socket of the fast read path gets what the server would have given the accepted one. */
const ADOPT_OPTIONS = { allowHalfOpen: true, highWaterMark: HIGH_WATER_MARK };

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
   * port's own address (see `acceptedTCPAddresses` in `./tcp.ts`).
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

