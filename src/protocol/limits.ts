/**
 * Connection limits: in total (LimitTotalConnectionsFactory) and per peer
 * host (LimitConnectionsByPeer).
 */
import type { Address } from '../reactor/address.js';
import type { IProtocol, IProtocolFactory } from '../reactor/interfaces.js';
import { Factory, instantiateProtocol, type ProtocolSpec } from './factory.js';
import { ProtocolWrapper, WrappingFactory, type ProtocolRegistry } from './wrapper.js';

/** Options of {@link LimitTotalConnectionsFactory}; each sets the property of the same name. */
export interface LimitTotalOptions {
  connectionLimit?: number | null;
  overflowProtocol?: ProtocolSpec | null;
}

/**
 * A factory limiting how many of its connections are open at once.
 *
 * Below `connectionLimit` (null: no limit), `buildProtocol` builds `protocol`
 * as usual. At the limit it builds `overflowProtocol` when one is set (say,
 * one that answers "busy" and closes) — such connections count too — and
 * otherwise returns null, refusing the connection. Each protocol is wrapped
 * in a {@link ProtocolWrapper} that gives the count back when its connection
 * is lost; `connectionCount` is the number open (counted from
 * `buildProtocol`).
 *
 * @example
 * ```ts
 * const f = LimitTotalConnectionsFactory.forProtocol(Echo, { connectionLimit: 100 });
 * reactor.listenTCP(8000, f, { interface: '127.0.0.1' });
 * ```
 */
export class LimitTotalConnectionsFactory extends Factory<IProtocol> implements ProtocolRegistry {
  /** Connections open. */
  connectionCount = 0;
  /** The most connections at once; null for no limit. */
  connectionLimit: number | null = null;
  /** The protocol for connections over the limit; null refuses them. */
  overflowProtocol: ProtocolSpec | null = null;

  constructor(options: LimitTotalOptions = {}) {
    super();
    if (options.connectionLimit !== undefined) this.connectionLimit = options.connectionLimit;
    if (options.overflowProtocol !== undefined) this.overflowProtocol = options.overflowProtocol;
  }

  /** The (wrapped) protocol for a new connection, the overflow protocol, or null. */
  override buildProtocol(addr: Address): IProtocol | null {
    let inner: IProtocol | null;
    if (this.connectionLimit === null || this.connectionCount < this.connectionLimit) {
      inner = super.buildProtocol(addr);
    } else if (this.overflowProtocol === null) {
      return null;
    } else {
      inner = instantiateProtocol(this.overflowProtocol);
      if (inner !== null) (inner as IProtocol & { factory?: unknown }).factory = this;
    }
    if (inner === null) return null;
    this.connectionCount += 1;
    return new ProtocolWrapper(this, inner);
  }

  /** Nothing to do: connections are counted when built. */
  registerProtocol(p: ProtocolWrapper): void {}

  /** A connection is gone: one fewer counted. */
  unregisterProtocol(p: ProtocolWrapper): void {
    this.connectionCount -= 1;
  }
}

/** The key connections are counted under: the host of an IP address, the path of a UNIX one. */
function peerKey(addr: Address): string {
  return 'host' in addr ? addr.host : (addr.name ?? '');
}

/**
 * Wraps a factory to allow at most `maxConnectionsPerPeer` (5) connections
 * at once from each peer host; more are refused (`buildProtocol` returns
 * null). Counts are keyed on the peer's `host` (`getPeer().host`, the
 * address `buildProtocol` receives) — Twisted indexes the address as
 * `addr[0]`, which no longer works on its address objects. UNIX-socket peers
 * are keyed on their path, so unnamed ones share one count.
 *
 * @example
 * ```ts
 * const f = new LimitConnectionsByPeer(Factory.forProtocol(Echo), 2);
 * ```
 */
export class LimitConnectionsByPeer extends WrappingFactory {
  /** Open connections per peer host (hosts with none are absent). */
  readonly peerConnections = new Map<string, number>();
  private readonly keys = new Map<ProtocolWrapper, string>();

  constructor(
    wrappedFactory: IProtocolFactory,
    /** The most connections at once from one host. */
    public maxConnectionsPerPeer = 5,
  ) {
    super(wrappedFactory);
  }

  /** The wrapped protocol, or null when `addr`'s host is at its limit (or the wrapped factory refused). */
  override buildProtocol(addr: Address): ProtocolWrapper | null {
    const key = peerKey(addr);
    const count = this.peerConnections.get(key) ?? 0;
    if (count >= this.maxConnectionsPerPeer) return null;
    const p = super.buildProtocol(addr);
    if (p === null) return null;
    this.peerConnections.set(key, count + 1);
    this.keys.set(p, key);
    return p;
  }

  /** A connection is gone: its host's count goes down. */
  override unregisterProtocol(p: ProtocolWrapper): void {
    super.unregisterProtocol(p);
    const key = this.keys.get(p);
    if (key === undefined) return;
    this.keys.delete(p);
    const left = (this.peerConnections.get(key) ?? 1) - 1;
    if (left <= 0) this.peerConnections.delete(key);
    else this.peerConnections.set(key, left);
  }
}
