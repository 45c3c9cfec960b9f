/**
 * ProtocolWrapper and WrappingFactory: the basis of every policy. A wrapper
 * sits between a transport and a protocol, being the protocol of the one and
 * the transport of the other, so it sees (and may change) every byte and
 * every call in both directions.
 */
import type { Failure } from '../defer/failure.js';
import type { Address } from '../reactor/address.js';
import { deliverConnectionLost, deliverData, isHalfCloseable, makeConnection } from '../reactor/glue.js';
import { assertWritableString } from '../reactor/writeString.js';
import type {
  IClientFactory,
  IConnector,
  IProducer,
  IProtocol,
  IProtocolFactory,
  ITransport,
} from '../reactor/interfaces.js';
import { ClientFactory } from './factory.js';
import { Protocol } from './protocol.js';

/** Where a wrapper registers itself while connected (a WrappingFactory, or any policy). */
export interface ProtocolRegistry {
  /** The wrapper is connected. */
  registerProtocol(p: ProtocolWrapper): void;
  /** The wrapper's connection is gone. */
  unregisterProtocol(p: ProtocolWrapper): void;
}

/** The log prefix of `wrapped` (its `logPrefix()`, else its class name) and the wrapper's class. */
function wrappedLogPrefix(wrapper: object, wrapped: unknown): string {
  let inner = 'null';
  if (typeof wrapped === 'object' && wrapped !== null) {
    const lp = (wrapped as { logPrefix?: unknown }).logPrefix;
    inner = typeof lp === 'function' ? String(lp.call(wrapped)) : wrapped.constructor.name;
  }
  return `${inner} (${wrapper.constructor.name})`;
}

/**
 * Wraps a protocol and is its transport: `makeConnection` registers with the
 * factory and connects the wrapped protocol to the wrapper; transport calls
 * from the wrapped protocol (`write`, `loseConnection`, producers...) are
 * relayed to the real transport, protocol calls from the reactor
 * (`dataReceived`, `connectionLost`...) to the wrapped protocol. Subclasses
 * override either side.
 *
 * Members of the real transport that the wrapper does not define (such as
 * `startTLS`, `setTcpNoDelay`, or a StringTransport's `value()`) are
 * forwarded as well, like Twisted's `__getattr__`. Half-close callbacks
 * (`readConnectionLost`, `writeConnectionLost`) exist on the wrapper only
 * when the wrapped protocol has them, so the reactor sees the same
 * capabilities.
 *
 * After `connectionLost`, `wrappedProtocol` is null (breaking the cycle).
 */
export class ProtocolWrapper extends Protocol implements ITransport {
  /** True once `loseConnection` or `abortConnection` was called through the wrapper. */
  disconnecting = false;
  /** The wrapped protocol; null after `connectionLost`. */
  wrappedProtocol: IProtocol | null;
  /** Where this wrapper registers while connected. */
  declare factory: ProtocolRegistry & IProtocolFactory;
  /** Present when the wrapped protocol handles half-close: relayed to it. */
  readConnectionLost?: () => void;
  /** Present when the wrapped protocol has it: relayed to it. */
  writeConnectionLost?: () => void;

  constructor(factory: ProtocolRegistry & IProtocolFactory, wrappedProtocol: IProtocol) {
    super();
    this.factory = factory;
    this.wrappedProtocol = wrappedProtocol;
    if (isHalfCloseable(wrappedProtocol)) {
      this.readConnectionLost = () => this.wrappedProtocol?.readConnectionLost?.();
    }
    if (typeof wrappedProtocol.writeConnectionLost === 'function') {
      this.writeConnectionLost = () => this.wrappedProtocol?.writeConnectionLost?.();
    }
  }

  /** "Inner (ProtocolWrapper)": the wrapped protocol's prefix and this class's name. */
  override logPrefix(): string {
    return wrappedLogPrefix(this, this.wrappedProtocol);
  }

  /**
   * Keep the real transport, register with the factory, then connect the
   * wrapped protocol to this wrapper.
   */
  override makeConnection(transport: ITransport): void {
    forwardMissingMembers(this, transport);
    super.makeConnection(transport);
    this.factory.registerProtocol(this);
    if (this.wrappedProtocol !== null) makeConnection(this.wrappedProtocol, this);
  }

  // ---------------------------------------------------------- transport side

  /** Relayed to the real transport. */
  write(data: Uint8Array): void {
    this.transport.write(data);
  }

  /**
   * Encoded here and passed to {@link ProtocolWrapper.write}, so a subclass
   * that overrides `write` (throttling, timeouts) sees these bytes too.
   * @throws TypeError when `data` is not a string or `encoding` is not 'latin1' or 'utf8'.
   */
  writeString(data: string, encoding: 'latin1' | 'utf8'): void {
    assertWritableString(data, encoding);
    this.write(Buffer.from(data, encoding));
  }

  /** Relayed to the real transport. */
  writeSequence(data: readonly Uint8Array[]): void {
    this.transport.writeSequence(data);
  }

  /** Sets `disconnecting` and closes the real transport. */
  loseConnection(): void {
    this.disconnecting = true;
    this.transport.loseConnection();
  }

  /** Sets `disconnecting` and aborts the real transport. */
  abortConnection(): void {
    this.disconnecting = true;
    this.transport.abortConnection();
  }

  /** The real transport's peer address. */
  getPeer(): Address {
    return this.transport.getPeer();
  }

  /** The real transport's local address. */
  getHost(): Address {
    return this.transport.getHost();
  }

  /** Registers `producer` with the real transport (which may throw when one is registered). */
  registerProducer(producer: IProducer, streaming: boolean): void {
    this.transport.registerProducer(producer, streaming);
  }

  /** Relayed to the real transport. */
  unregisterProducer(): void {
    this.transport.unregisterProducer();
  }

  /** Stops the real transport reading. */
  pauseProducing(): void {
    this.transport.pauseProducing();
  }

  /** Lets the real transport read again. */
  resumeProducing(): void {
    this.transport.resumeProducing();
  }

  /** Relayed to the real transport. */
  stopProducing(): void {
    this.transport.stopProducing();
  }

  // ---------------------------------------------------------- protocol side

  /** Relayed to the wrapped protocol (dropped once it is gone). */
  override dataReceived(data: Uint8Array): void {
    if (this.wrappedProtocol !== null) deliverData(this.wrappedProtocol, data);
  }

  /** Unregister from the factory, tell the wrapped protocol, and drop it. */
  override connectionLost(reason: Failure): void {
    super.connectionLost(reason);
    this.factory.unregisterProtocol(this);
    const wrapped = this.wrappedProtocol;
    this.wrappedProtocol = null;
    if (wrapped !== null) deliverConnectionLost(wrapped, reason);
  }
}

/**
 * Forward to `transport` every member it has that `wrapper` lacks (methods
 * are called on the transport; other properties are read from it).
 */
function forwardMissingMembers(wrapper: ProtocolWrapper, transport: ITransport): void {
  const seen = new Set<string>();
  for (let o: object | null = transport; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor' || seen.has(name)) continue;
      seen.add(name);
      if (name in wrapper) continue;
      const value: unknown = (transport as unknown as Record<string, unknown>)[name];
      Object.defineProperty(
        wrapper,
        name,
        typeof value === 'function'
          ? {
              configurable: true,
              value: (...args: unknown[]) =>
                (wrapper.transport as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args),
            }
          : { configurable: true, get: () => (wrapper.transport as unknown as Record<string, unknown>)[name] },
      );
    }
  }
}

/**
 * A factory that wraps another: every protocol the wrapped factory builds is
 * wrapped by `wrapProtocol` (a {@link ProtocolWrapper} by default), and the
 * connected wrappers are tracked in `protocols`. Start/stop and the client
 * callbacks are relayed to the wrapped factory. A null from the wrapped
 * factory's `buildProtocol` is passed on (the connection is refused).
 *
 * @example
 * ```ts
 * class Spy extends ProtocolWrapper {
 *   override dataReceived(data: Uint8Array): void {
 *     console.log('<', data.length, 'bytes');
 *     super.dataReceived(data);
 *   }
 * }
 * class SpyingFactory extends WrappingFactory {
 *   override wrapProtocol(p: IProtocol) { return new Spy(this, p); }
 * }
 * reactor.listenTCP(8000, new SpyingFactory(Factory.forProtocol(Echo)));
 * ```
 */
export class WrappingFactory extends ClientFactory<ProtocolWrapper> implements ProtocolRegistry {
  /** The wrappers currently connected. */
  readonly protocols = new Set<ProtocolWrapper>();

  constructor(readonly wrappedFactory: IProtocolFactory) {
    super();
  }

  /** "Inner (WrappingFactory)": the wrapped factory's prefix and this class's name. */
  override logPrefix(): string {
    return wrappedLogPrefix(this, this.wrappedFactory);
  }

  /** Starts the wrapped factory, then this one. */
  override doStart(): void {
    this.wrappedFactory.doStart?.();
    super.doStart();
  }

  /** Stops the wrapped factory, then this one. */
  override doStop(): void {
    this.wrappedFactory.doStop?.();
    super.doStop();
  }

  /** Relayed to the wrapped factory when it has it. */
  override startedConnecting(connector: IConnector): void {
    (this.wrappedFactory as IClientFactory).startedConnecting?.(connector);
  }

  /** Relayed to the wrapped factory when it has it. */
  override clientConnectionFailed(connector: IConnector, reason: Failure): void {
    (this.wrappedFactory as IClientFactory).clientConnectionFailed?.(connector, reason);
  }

  /** Relayed to the wrapped factory when it has it. */
  override clientConnectionLost(connector: IConnector, reason: Failure): void {
    (this.wrappedFactory as IClientFactory).clientConnectionLost?.(connector, reason);
  }

  /** The wrapped factory's protocol for `addr`, wrapped; null when it refused. */
  override buildProtocol(addr: Address): ProtocolWrapper | null {
    const inner = this.wrappedFactory.buildProtocol(addr);
    return inner === null ? null : this.wrapProtocol(inner);
  }

  /** The wrapper of `inner`; override to use a ProtocolWrapper subclass. */
  wrapProtocol(inner: IProtocol): ProtocolWrapper {
    return new ProtocolWrapper(this, inner);
  }

  /** Called by a wrapper once connected. */
  registerProtocol(p: ProtocolWrapper): void {
    this.protocols.add(p);
  }

  /** Called by a wrapper once its connection is gone. */
  unregisterProtocol(p: ProtocolWrapper): void {
    this.protocols.delete(p);
  }
}
