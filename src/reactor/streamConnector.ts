/**
 * Outgoing stream connections — TCP, UNIX and TLS alike — (Twisted's
 * `BaseConnector`): the client factory is told of each attempt, failure and
 * loss, and may retry with the same connector. Registered with the reactor
 * while connecting or connected.
 */
import net from 'node:net';
import { Failure } from '../defer/failure.js';
import type { IDelayedCall } from '../defer/clock.js';
import { Logger } from '../logger/index.js';
import type { Address } from './address.js';
import {
  ConnectError,
  ConnectionRefusedError,
  DNSLookupError,
  NoProtocol,
  NotConnectingError,
  TCPTimedOutError,
  UserError,
} from './errors.js';
import type { IClientFactory, IConnector, IProtocol } from './interfaces.js';
import type { ReactorResource } from './resources.js';
import { TLS_CONNECT_EVENT } from './tls.js';
import { StreamTransport, type StreamReactor, type TransportSetup } from './streamTransport.js';

const log = new Logger('spindle.reactor');
const noop = (): void => {};

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

