/**
 * Factories: what builds a protocol for each connection (Twisted's Factory,
 * ClientFactory and ReconnectingClientFactory).
 */
import { getDefaultClock, type IDelayedCall, type IReactorTime } from '../defer/clock.js';
import type { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import type { Address } from '../reactor/address.js';
import { NotConnectingError } from '../reactor/errors.js';
import type { IClientFactory, IConnector, IProtocol, IProtocolFactory } from '../reactor/interfaces.js';

const log = new Logger('spindle.protocol');

/**
 * How a factory makes a protocol: a class (constructed with `new`, no
 * arguments) or a function returning one (called; may return null to refuse
 * the connection).
 *
 * A value whose source starts with `class` is constructed; anything else is
 * called. Wrap an old-style constructor function: `() => new Old()`.
 */
export type ProtocolSpec<P extends IProtocol = IProtocol> = (new () => P) | (() => P | null);

/** Make a protocol from a {@link ProtocolSpec}. */
export function instantiateProtocol<P extends IProtocol>(spec: ProtocolSpec<P>): P | null {
  if (typeof spec !== 'function') throw new TypeError('a protocol spec must be a class or a function');
  if (/^class\b/.test(Function.prototype.toString.call(spec))) return new (spec as new () => P)();
  return (spec as () => P | null)();
}

/**
 * Builds a protocol for each connection, and is told when ports and
 * connectors start and stop using it.
 *
 * - `protocol`: the class (or function) `buildProtocol` uses.
 * - `buildProtocol(addr)` makes one, sets its `factory` to this factory and
 *   returns it; returning null refuses the connection (the reactor closes it
 *   at once). Override it to pass arguments or to refuse.
 * - `doStart()`/`doStop()` are called by each port or connector that starts
 *   or stops using the factory. They count `numPorts`, so `startFactory()`
 *   runs before the first and `stopFactory()` after the last: the place to
 *   open and close shared resources. With `noisy` (the default) both are
 *   logged at info level on `spindle.protocol`.
 *
 * @example
 * ```ts
 * class Chat extends Factory<ChatProtocol> {
 *   protocol = ChatProtocol;
 *   users = new Map<string, ChatProtocol>();
 * }
 * // or, with no state of its own:
 * const echo = Factory.forProtocol(Echo);
 * ```
 */
export class Factory<P extends IProtocol = IProtocol> implements IProtocolFactory {
  /** The protocol class (or function) `buildProtocol` uses; null until set. */
  protocol: ProtocolSpec<P> | null = null;
  /** How many ports/connectors are using this factory. */
  numPorts = 0;
  /** Log `doStart`/`doStop` transitions. */
  noisy = true;

  /**
   * A factory of this class, built with `args`, whose `protocol` is `protocol`.
   * Its protocol type is the class's own (`IProtocol` for `Factory` itself):
   * subclass `Factory<P>` for a `buildProtocol` typed with your protocol.
   *
   * @example
   * ```ts
   * const f = Factory.forProtocol(Echo);
   * const r = ReconnectingClientFactory.forProtocol(Client, { clock });
   * ```
   */
  static forProtocol<F extends Factory, A extends unknown[]>(
    this: new (...args: A) => F,
    protocol: NonNullable<F['protocol']>,
    ...args: A
  ): F {
    const factory = new this(...args);
    factory.protocol = protocol;
    return factory;
  }

  /**
   * A new protocol for a connection with `addr` (the peer), its `factory` set
   * to this factory; null refuses the connection.
   * @throws TypeError when `protocol` is not set.
   */
  buildProtocol(addr: Address): P | null {
    if (this.protocol === null) throw new TypeError(`${this.logPrefix()}.protocol is not set`);
    const p = instantiateProtocol(this.protocol);
    if (p !== null) (p as IProtocol & { factory?: unknown }).factory = this;
    return p;
  }

  /** A port or connector starts using this factory: the first one runs `startFactory`. */
  doStart(): void {
    if (this.numPorts === 0) {
      if (this.noisy) log.info('Starting factory {factory}', { factory: this.logPrefix() });
      this.startFactory();
    }
    this.numPorts += 1;
  }

  /**
   * A port or connector stops using this factory: the last one runs
   * `stopFactory`. A call with no port left is ignored (as in Twisted).
   */
  doStop(): void {
    if (this.numPorts === 0) return;
    this.numPorts -= 1;
    if (this.numPorts === 0) {
      if (this.noisy) log.info('Stopping factory {factory}', { factory: this.logPrefix() });
      this.stopFactory();
    }
  }

  /** Runs once before the first port or connector uses the factory. */
  startFactory(): void {}

  /** Runs once after the last port or connector stopped using the factory. */
  stopFactory(): void {}

  /** A short name for log lines (the class name by default). */
  logPrefix(): string {
    return this.constructor.name;
  }
}

/**
 * A factory for outgoing connections: also told how connecting goes.
 * Calling `connector.connect()` from `clientConnectionFailed` or
 * `clientConnectionLost` retries with the same connector.
 */
export class ClientFactory<P extends IProtocol = IProtocol> extends Factory<P> implements IClientFactory {
  /** A connection attempt started. */
  startedConnecting(connector: IConnector): void {}

  /** The attempt failed (refused, timed out, DNS...): `reason` wraps a ConnectError. */
  clientConnectionFailed(connector: IConnector, reason: Failure): void {}

  /** An established connection was lost: `reason` wraps ConnectionDone or ConnectionLost. */
  clientConnectionLost(connector: IConnector, reason: Failure): void {}
}

/** Options of {@link ReconnectingClientFactory}; each sets the property of the same name. */
export interface ReconnectingOptions {
  initialDelay?: number;
  factor?: number;
  jitter?: number;
  maxDelay?: number;
  maxRetries?: number | null;
  capAfterJitter?: boolean;
  clock?: IReactorTime | null;
  random?: () => number;
}

/**
 * A standard normal variate from two uniform draws in [0, 1) (Box–Muller).
 * `1 - u` keeps the logarithm's argument in (0, 1].
 */
export function standardNormal(random: () => number): number {
  const u1 = 1 - random();
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * A ClientFactory that reconnects with exponential backoff whenever the
 * connection fails or is lost, until `stopTrying()`.
 *
 * Parameters (Twisted's defaults): `initialDelay` 1.0 s, `factor` e,
 * `jitter` 0.119626565582, `maxDelay` 3600 s, `maxRetries` null (forever).
 *
 * `retry()` does exactly what Twisted's does:
 * 1. `retries += 1`; if `maxRetries` is not null and `retries > maxRetries`,
 *    give up (nothing is scheduled);
 * 2. `delay = min(delay * factor, maxDelay)` — the **first** retry already
 *    multiplies, so with `jitter = 0` the delays are 2.718, 7.389, 20.09,
 *    54.6, 148.4 s...;
 * 3. with a non-zero `jitter`, `delay` is drawn from a normal distribution of
 *    mean `delay` and standard deviation `delay * jitter` (Box–Muller over
 *    `random`, default `Math.random`);
 * 4. `clock.callLater(delay, connector.connect)`.
 *
 * The cap applies **before** the jitter, as in Twisted, so a delay may exceed
 * `maxDelay` by the jitter. Set `capAfterJitter` to clamp the jittered delay
 * to `maxDelay` as well. A negative draw (about 8 standard deviations away
 * with the default jitter) is clamped to 0.
 *
 * Call `resetDelay()` once connected — typically in `buildProtocol` — or the
 * backoff keeps growing across reconnections. `stopTrying()` cancels a
 * pending retry and stops the connector if it is connecting.
 *
 * `clock` defaults to the global reactor, looked up at the first retry.
 *
 * @example
 * ```ts
 * class Client extends ReconnectingClientFactory<EchoClient> {
 *   protocol = EchoClient;
 *   override buildProtocol(addr: Address) {
 *     this.resetDelay();
 *     return super.buildProtocol(addr);
 *   }
 * }
 * reactor.connectTCP('127.0.0.1', 8000, new Client());
 * ```
 */
export class ReconnectingClientFactory<P extends IProtocol = IProtocol> extends ClientFactory<P> {
  /** Longest delay (seconds) the backoff grows to, before jitter. */
  maxDelay = 3600;
  /** Delay before the backoff starts (seconds); the first retry waits `initialDelay * factor`. */
  initialDelay = 1.0;
  /** Multiplier of the delay at each retry. */
  factor = Math.E;
  /** Standard deviation of the delay, as a fraction of it; 0 disables jitter. */
  jitter = 0.119626565582;
  /** Give up after this many retries; null retries forever. */
  maxRetries: number | null = null;
  /** Clamp the jittered delay to `maxDelay` too (Twisted does not). */
  capAfterJitter = false;
  /** The clock retries are scheduled on; null means the global reactor. */
  clock: IReactorTime | null = null;
  /** The uniform [0, 1) source the jitter is drawn from. */
  random: () => number = Math.random;
  /** Retries made since the last `resetDelay()`. */
  retries = 0;
  /** False once `stopTrying()` was called (until `resetDelay()`). */
  continueTrying = true;
  /** The connector last seen failing or losing its connection. */
  connector: IConnector | null = null;

  private currentDelay: number | null = null;
  private callID: IDelayedCall | null = null;

  constructor(options: ReconnectingOptions = {}) {
    super();
    if (options.initialDelay !== undefined) this.initialDelay = options.initialDelay;
    if (options.factor !== undefined) this.factor = options.factor;
    if (options.jitter !== undefined) this.jitter = options.jitter;
    if (options.maxDelay !== undefined) this.maxDelay = options.maxDelay;
    if (options.maxRetries !== undefined) this.maxRetries = options.maxRetries;
    if (options.capAfterJitter !== undefined) this.capAfterJitter = options.capAfterJitter;
    if (options.clock !== undefined) this.clock = options.clock;
    if (options.random !== undefined) this.random = options.random;
  }

  /**
   * The current delay (seconds): the last one scheduled, or `initialDelay`
   * before the first retry and after `resetDelay()`.
   */
  get delay(): number {
    return this.currentDelay ?? this.initialDelay;
  }
  set delay(seconds: number) {
    this.currentDelay = seconds;
  }

  /** The pending retry, if one is scheduled. */
  get pendingRetry(): IDelayedCall | null {
    return this.callID !== null && this.callID.active() ? this.callID : null;
  }

  /** Retries (unless `stopTrying` was called). */
  override clientConnectionFailed(connector: IConnector, reason: Failure): void {
    if (this.continueTrying) {
      this.connector = connector;
      this.retry();
    }
  }

  /** Retries (unless `stopTrying` was called). */
  override clientConnectionLost(connector: IConnector, reason: Failure): void {
    if (this.continueTrying) {
      this.connector = connector;
      this.retry();
    }
  }

  /**
   * Schedule `connector.connect()` after the next backoff delay (see the
   * class documentation for the algorithm). Does nothing after `stopTrying()`
   * or once `maxRetries` is exceeded.
   * @throws Error when no connector is given and none was seen yet.
   */
  retry(connector?: IConnector): void {
    if (!this.continueTrying) {
      if (this.noisy) log.info('Abandoning {connector} on explicit request', { connector: describe(connector) });
      return;
    }
    const target = connector ?? this.connector;
    if (target === null) throw new Error('no connector to retry');

    this.retries += 1;
    if (this.maxRetries !== null && this.retries > this.maxRetries) {
      if (this.noisy) {
        log.info('Abandoning {connector} after {retries} retries.', {
          connector: describe(target),
          retries: this.retries,
        });
      }
      return;
    }

    let delay = Math.min(this.delay * this.factor, this.maxDelay);
    if (this.jitter) delay = delay + delay * this.jitter * standardNormal(this.random);
    if (this.capAfterJitter) delay = Math.min(delay, this.maxDelay);
    delay = Math.max(0, delay);
    this.delay = delay;

    if (this.noisy) {
      log.info('{connector} will retry in {delay} seconds', {
        connector: describe(target),
        delay: Math.round(delay * 1000) / 1000,
      });
    }
    const clock = this.clock ?? getDefaultClock();
    this.callID = clock.callLater(delay, () => {
      this.callID = null;
      target.connect();
    });
  }

  /**
   * Stop reconnecting: cancel the pending retry, stop the connector if it is
   * connecting, and make later failures and losses do nothing (until
   * `resetDelay()`).
   */
  stopTrying(): void {
    if (this.callID !== null) {
      if (this.callID.active()) this.callID.cancel();
      this.callID = null;
    }
    this.continueTrying = false;
    if (this.connector !== null && this.connector.state === 'connecting') {
      try {
        this.connector.stopConnecting();
      } catch (e) {
        // Raced with the attempt ending: there is nothing left to stop.
        if (!(e instanceof NotConnectingError)) throw e;
      }
    }
  }

  /**
   * Back to the start: `delay = initialDelay`, `retries = 0`, and trying
   * again after a `stopTrying()`. Call it once a connection succeeds.
   * (Unlike Twisted, a retry already scheduled stays cancellable by `stopTrying`.)
   */
  resetDelay(): void {
    this.currentDelay = null;
    this.retries = 0;
    this.continueTrying = true;
  }
}

function describe(connector: IConnector | null | undefined): string {
  if (connector === null || connector === undefined) return 'connector';
  try {
    return `connector to ${String(connector.getDestination())}`;
  } catch {
    return 'connector';
  }
}
