/**
 * ThrottlingFactory: bandwidth and connection-count limits over all the
 * connections of a factory (Twisted's policies.ThrottlingFactory).
 */
import { getDefaultClock, type IDelayedCall, type IReactorTime } from '../defer/clock.js';
import { Logger } from '../logger/index.js';
import type { Address } from '../reactor/address.js';
import type { IProducer, IProtocol, IProtocolFactory, IPushProducer } from '../reactor/interfaces.js';
import { ProtocolWrapper, WrappingFactory } from './wrapper.js';

const log = new Logger('spindle.protocol.throttling');

/** Options of {@link ThrottlingFactory}. */
export interface ThrottlingOptions {
  /** The most connections at once; more are refused. Default: no limit. */
  maxConnectionCount?: number;
  /** Bytes per second read over all connections; null (default): no limit. */
  readLimit?: number | null;
  /** Bytes per second written over all connections; null (default): no limit. */
  writeLimit?: number | null;
  /** The clock the once-a-second checks run on. Default: the global reactor. */
  clock?: IReactorTime | null;
}

/**
 * Stands between the wrapped protocol's producer and the transport, so the
 * throttle and the transport's own flow control can both pause it: the
 * producer is paused while either wants it paused. A pull producer's
 * `resumeProducing` (a request for one chunk) is held while throttled.
 */
class ThrottledProducer implements IPushProducer {
  private pausedByConsumer = false;
  private throttled = false;
  private heldPull = false;

  constructor(
    readonly producer: IProducer,
    readonly streaming: boolean,
  ) {}

  pauseProducing(): void {
    const was = this.paused();
    this.pausedByConsumer = true;
    this.sync(was);
  }

  resumeProducing(): void {
    if (!this.streaming) {
      if (this.throttled) this.heldPull = true;
      else this.producer.resumeProducing();
      return;
    }
    const was = this.paused();
    this.pausedByConsumer = false;
    this.sync(was);
  }

  stopProducing(): void {
    this.producer.stopProducing();
  }

  throttle(on: boolean): void {
    const was = this.paused();
    this.throttled = on;
    if (!this.streaming) {
      if (!on && this.heldPull) {
        this.heldPull = false;
        this.producer.resumeProducing();
      }
      return;
    }
    this.sync(was);
  }

  private paused(): boolean {
    return this.pausedByConsumer || this.throttled;
  }

  private sync(was: boolean): void {
    const now = this.paused();
    if (now === was || !this.streaming) return;
    if (now) (this.producer as IPushProducer).pauseProducing();
    else this.producer.resumeProducing();
  }
}

/**
 * The wrapper of {@link ThrottlingFactory}: counts the bytes its protocol
 * reads and writes, and pauses its transport's reading (or its protocol's
 * producer) when the factory throttles.
 *
 * Pauses are merged: the transport reads again only once neither the
 * throttle nor the wrapped protocol (which sees this wrapper as its
 * transport) wants it paused.
 */
export class ThrottlingProtocol extends ProtocolWrapper {
  declare factory: ThrottlingFactory;
  /** The producer the wrapped protocol registered, or null. */
  producer: IProducer | null = null;
  private proxy: ThrottledProducer | null = null;
  private readPausedByProtocol = false;
  private readThrottled = false;
  private transportPaused = false;
  private writeThrottled = false;

  /** Counted, then written. */
  override write(data: Uint8Array): void {
    this.factory.registerWritten(data.byteLength);
    super.write(data);
  }

  /** Counted, then written. */
  override writeSequence(data: readonly Uint8Array[]): void {
    let n = 0;
    for (const chunk of data) n += chunk.byteLength;
    this.factory.registerWritten(n);
    super.writeSequence(data);
  }

  /** Counted, then delivered. */
  override dataReceived(data: Uint8Array): void {
    this.factory.registerRead(data.byteLength);
    super.dataReceived(data);
  }

  /** Registers the producer through a proxy that the write throttle can also pause. */
  override registerProducer(producer: IProducer, streaming: boolean): void {
    const proxy = new ThrottledProducer(producer, streaming);
    super.registerProducer(proxy, streaming);
    this.producer = producer;
    this.proxy = proxy;
    if (this.writeThrottled) proxy.throttle(true);
  }

  /** Unregisters the producer (and its proxy). */
  override unregisterProducer(): void {
    super.unregisterProducer();
    this.producer = null;
    this.proxy = null;
  }

  /** The wrapped protocol pauses reading. */
  override pauseProducing(): void {
    this.readPausedByProtocol = true;
    this.syncReading();
  }

  /** The wrapped protocol resumes reading (effective once not throttled). */
  override resumeProducing(): void {
    this.readPausedByProtocol = false;
    this.syncReading();
  }

  /** Stop reading (called by the factory). */
  throttleReads(): void {
    this.readThrottled = true;
    this.syncReading();
  }

  /** Read again unless the protocol paused reading itself (called by the factory). */
  unthrottleReads(): void {
    this.readThrottled = false;
    this.syncReading();
  }

  /** Pause the registered producer, if any (called by the factory). */
  throttleWrites(): void {
    this.writeThrottled = true;
    this.proxy?.throttle(true);
  }

  /** Resume the registered producer unless the transport paused it (called by the factory). */
  unthrottleWrites(): void {
    this.writeThrottled = false;
    this.proxy?.throttle(false);
  }

  private syncReading(): void {
    const want = this.readPausedByProtocol || this.readThrottled;
    if (want === this.transportPaused || this.transport === undefined) return;
    this.transportPaused = want;
    if (want) this.transport.pauseProducing();
    else this.transport.resumeProducing();
  }
}

/**
 * Wraps a factory to limit, over all its connections together:
 *
 * - the number of connections (`maxConnectionCount`): `buildProtocol`
 *   returns null beyond it;
 * - the bytes read per second (`readLimit`): once a second the bytes read
 *   in the last second are compared with the limit; above it, every
 *   connection stops reading for `read / readLimit - 1` seconds;
 * - the bytes written per second (`writeLimit`): likewise, by pausing the
 *   producers the wrapped protocols registered with their transports.
 *   Writes made without a registered producer cannot be held back: they are
 *   counted but not throttled.
 *
 * The once-a-second checks run on `clock` while at least one connection
 * exists, and stop with the last one.
 *
 * @example
 * ```ts
 * const f = new ThrottlingFactory(Factory.forProtocol(Echo), {
 *   maxConnectionCount: 100,
 *   readLimit: 1_000_000,      // 1 MB/s in, all connections together
 *   clock: reactor,
 * });
 * ```
 */
export class ThrottlingFactory extends WrappingFactory {
  /** Connections open. */
  connectionCount = 0;
  /** The most connections at once. */
  maxConnectionCount: number;
  /** Bytes per second read over all connections, or null. */
  readLimit: number | null;
  /** Bytes per second written over all connections, or null. */
  writeLimit: number | null;
  /** The clock; null means the global reactor. */
  clock: IReactorTime | null;
  /** Bytes read by all connections since the last check. */
  readThisSecond = 0;
  /** Bytes written by all connections since the last check. */
  writtenThisSecond = 0;

  private unthrottleReadsID: IDelayedCall | null = null;
  private checkReadBandwidthID: IDelayedCall | null = null;
  private unthrottleWritesID: IDelayedCall | null = null;
  private checkWriteBandwidthID: IDelayedCall | null = null;

  constructor(wrappedFactory: IProtocolFactory, options: ThrottlingOptions = {}) {
    super(wrappedFactory);
    this.maxConnectionCount = options.maxConnectionCount ?? Infinity;
    this.readLimit = options.readLimit ?? null;
    this.writeLimit = options.writeLimit ?? null;
    this.clock = options.clock ?? null;
  }

  /** Schedule on the factory's clock (overridable, e.g. for tests). */
  callLater(seconds: number, fn: () => void): IDelayedCall {
    return (this.clock ?? getDefaultClock()).callLater(seconds, fn);
  }

  /** A protocol wrote `length` bytes. */
  registerWritten(length: number): void {
    this.writtenThisSecond += length;
  }

  /** A protocol read `length` bytes. */
  registerRead(length: number): void {
    this.readThisSecond += length;
  }

  /** Compare the last second's reads with `readLimit`, throttle if above, and check again in a second. */
  checkReadBandwidth(): void {
    if (this.readLimit !== null && this.readThisSecond > this.readLimit) {
      this.throttleReads();
      const throttleTime = this.readThisSecond / this.readLimit - 1.0;
      this.unthrottleReadsID = this.callLater(throttleTime, () => this.unthrottleReads());
    }
    this.readThisSecond = 0;
    this.checkReadBandwidthID = this.callLater(1, () => this.checkReadBandwidth());
  }

  /** Compare the last second's writes with `writeLimit`, throttle if above, and check again in a second. */
  checkWriteBandwidth(): void {
    if (this.writeLimit !== null && this.writtenThisSecond > this.writeLimit) {
      this.throttleWrites();
      const throttleTime = this.writtenThisSecond / this.writeLimit - 1.0;
      this.unthrottleWritesID = this.callLater(throttleTime, () => this.unthrottleWrites());
    }
    this.writtenThisSecond = 0;
    this.checkWriteBandwidthID = this.callLater(1, () => this.checkWriteBandwidth());
  }

  /** Stop reading on every connection. */
  throttleReads(): void {
    log.debug('Throttling reads on {factory}', { factory: this.logPrefix() });
    for (const p of this.protocols) (p as ThrottlingProtocol).throttleReads();
  }

  /** Read again on every connection. */
  unthrottleReads(): void {
    this.unthrottleReadsID = null;
    log.debug('Stopped throttling reads on {factory}', { factory: this.logPrefix() });
    for (const p of this.protocols) (p as ThrottlingProtocol).unthrottleReads();
  }

  /** Pause every connection's producer. */
  throttleWrites(): void {
    log.debug('Throttling writes on {factory}', { factory: this.logPrefix() });
    for (const p of this.protocols) (p as ThrottlingProtocol).throttleWrites();
  }

  /** Resume every connection's producer. */
  unthrottleWrites(): void {
    this.unthrottleWritesID = null;
    log.debug('Stopped throttling writes on {factory}', { factory: this.logPrefix() });
    for (const p of this.protocols) (p as ThrottlingProtocol).unthrottleWrites();
  }

  /** A throttled wrapper, or null at `maxConnectionCount` (or when the wrapped factory refuses). */
  override buildProtocol(addr: Address): ThrottlingProtocol | null {
    if (this.connectionCount >= this.maxConnectionCount) {
      if (this.noisy) log.info('Max connection count reached!');
      return null;
    }
    const first = this.connectionCount === 0;
    const p = super.buildProtocol(addr) as ThrottlingProtocol | null;
    if (p === null) return null;
    this.connectionCount += 1;
    if (first) {
      if (this.readLimit !== null) this.checkReadBandwidth();
      if (this.writeLimit !== null) this.checkWriteBandwidth();
    }
    return p;
  }

  /** A {@link ThrottlingProtocol} around `inner`. */
  override wrapProtocol(inner: IProtocol): ThrottlingProtocol {
    return new ThrottlingProtocol(this, inner);
  }

  /** A connection is gone; with the last one, the checks stop. */
  override unregisterProtocol(p: ProtocolWrapper): void {
    super.unregisterProtocol(p);
    this.connectionCount -= 1;
    if (this.connectionCount === 0) this.stopChecks();
  }

  private stopChecks(): void {
    for (const call of [
      this.unthrottleReadsID,
      this.checkReadBandwidthID,
      this.unthrottleWritesID,
      this.checkWriteBandwidthID,
    ]) {
      if (call !== null && call.active()) call.cancel();
    }
    this.unthrottleReadsID = this.checkReadBandwidthID = null;
    this.unthrottleWritesID = this.checkWriteBandwidthID = null;
  }
}
