/**
 * Idle timeouts: TimeoutPolicy (a composable timer), withTimeout (Twisted's
 * TimeoutMixin for Protocol classes) and TimeoutFactory (a wrapper that
 * closes idle connections of any factory).
 */
import { getDefaultClock, type IDelayedCall, type IReactorTime } from '../defer/clock.js';
import type { Failure } from '../defer/failure.js';
import type { Address } from '../reactor/address.js';
import type { IProtocol, IProtocolFactory, ITransport } from '../reactor/interfaces.js';
import { ProtocolWrapper, WrappingFactory } from './wrapper.js';

/** What a timeout needs from a clock: `callLater` (an IReactorTime, e.g. the reactor or a test Clock, fits). */
export interface TimeoutScheduler {
  callLater(seconds: number, fn: () => void): IDelayedCall;
}

/**
 * One resettable timeout: after `timeOut` seconds without a
 * `resetTimeout()`, `onTimeout` runs (once).
 *
 * - `setTimeout(period)` (re)starts it with a new period and returns the
 *   previous period; `setTimeout(null)` cancels it. A timer that already ran
 *   or was cancelled elsewhere (say, by a stopping reactor) is replaced, not
 *   an error.
 * - `resetTimeout()` restarts the countdown from now with the current period;
 *   it does nothing when no timer is pending (never set, cancelled, or
 *   already fired). Call it on activity, e.g. in every `dataReceived`.
 * - `cancel()` cancels and sets the period to null.
 *
 * `clock` null means the global reactor (looked up when a timer starts).
 *
 * @example
 * ```ts
 * const idle = new TimeoutPolicy(clock, () => transport.loseConnection());
 * idle.setTimeout(5);     // t=0: fires at 5
 * clock.advance(4);
 * idle.resetTimeout();    // t=4: now fires at 9
 * ```
 */
export class TimeoutPolicy {
  /** The current period in seconds, or null when no timeout is wanted. */
  timeOut: number | null = null;
  private call: IDelayedCall | null = null;

  constructor(
    private readonly clock: TimeoutScheduler | null,
    private readonly onTimeout: () => void,
  ) {}

  /** The pending timer, or null. */
  get pending(): IDelayedCall | null {
    return this.call !== null && this.call.active() ? this.call : null;
  }

  /** Change the period (null cancels), restarting the countdown; returns the previous period. */
  setTimeout(period: number | null): number | null {
    const previous = this.timeOut;
    this.timeOut = period;
    const call = this.pending;
    if (call !== null) {
      if (period === null) {
        call.cancel();
        this.call = null;
      } else {
        call.reset(period);
      }
    } else {
      this.call = null;
      if (period !== null) {
        const clock = this.clock ?? getDefaultClock();
        this.call = clock.callLater(period, () => this.timedOut());
      }
    }
    return previous;
  }

  /** Restart the countdown with the current period (no-op when no timer is pending). */
  resetTimeout(): void {
    const call = this.pending;
    if (call !== null && this.timeOut !== null) call.reset(this.timeOut);
  }

  /** Cancel the timer (if any) and forget the period. */
  cancel(): void {
    this.timeOut = null;
    const call = this.pending;
    if (call !== null) call.cancel();
    this.call = null;
  }

  private timedOut(): void {
    this.call = null;
    this.onTimeout();
  }
}

/** What {@link withTimeout} adds to a protocol class. */
export interface TimeoutMixin {
  /** The timeout period in seconds, or null. Set it as a field default and call `setTimeout(this.timeOut)` in `connectionMade`. */
  timeOut: number | null;
  /** The clock `callLater` uses; null means the global reactor. */
  clock: IReactorTime | null;
  /** Change the period (null cancels) and restart the countdown; returns the previous period. */
  setTimeout(period: number | null): number | null;
  /** Restart the countdown (no-op when no timeout is pending). */
  resetTimeout(): void;
  /** Cancel the timeout and set `timeOut` to null. */
  cancelTimeout(): void;
  /** The connection timed out; the default calls `transport.loseConnection()`. */
  timeoutConnection(): void;
  /** Schedules the timer: `clock.callLater` by default; override to use another clock. */
  callLater(seconds: number, fn: () => void): IDelayedCall;
}

// TypeScript only accepts `any[]` as a mixin base's constructor parameters (TS2545).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type MixinBase<T> = abstract new (...args: any[]) => T;

const mixinPolicies = new WeakMap<TimeoutMixin, TimeoutPolicy>();

/** The policy behind a mixed-in protocol's timeout (kept off the instance's own names). */
function policyOf(self: TimeoutMixin): TimeoutPolicy {
  let policy = mixinPolicies.get(self);
  if (policy === undefined) {
    policy = new TimeoutPolicy(
      { callLater: (seconds, fn) => self.callLater(seconds, fn) },
      () => self.timeoutConnection(),
    );
    mixinPolicies.set(self, policy);
  }
  return policy;
}

/**
 * Twisted's TimeoutMixin: a Protocol class with one idle timeout.
 *
 * Adds `timeOut`, `clock`, `setTimeout`, `resetTimeout`, `cancelTimeout`,
 * `timeoutConnection` and `callLater` (see {@link TimeoutMixin}). Nothing is
 * automatic: call `setTimeout` (usually in `connectionMade`), `resetTimeout`
 * on activity, and `setTimeout(null)` in `connectionLost`.
 *
 * @example
 * ```ts
 * class Idle extends withTimeout(LineReceiver) {
 *   override timeOut = 5;
 *   override connectionMade(): void { this.setTimeout(this.timeOut); }
 *   override dataReceived(data: Uint8Array): unknown {
 *     this.resetTimeout();
 *     return super.dataReceived(data);
 *   }
 *   override connectionLost(reason: Failure): void { this.setTimeout(null); }
 *   override lineReceived(line: Buffer): void { this.sendLine(line); }
 * }
 * const p = new Idle();
 * p.clock = clock;        // in tests: a Clock
 * ```
 */
export function withTimeout<TBase extends MixinBase<{ transport?: ITransport | null }>>(
  Base: TBase,
): TBase & MixinBase<TimeoutMixin> {
  abstract class WithTimeout extends Base implements TimeoutMixin {
    timeOut: number | null = null;
    clock: IReactorTime | null = null;

    callLater(seconds: number, fn: () => void): IDelayedCall {
      return (this.clock ?? getDefaultClock()).callLater(seconds, fn);
    }

    setTimeout(period: number | null): number | null {
      const policy = policyOf(this);
      const previous = this.timeOut;
      policy.timeOut = previous;
      policy.setTimeout(period);
      this.timeOut = period;
      return previous;
    }

    resetTimeout(): void {
      const policy = policyOf(this);
      policy.timeOut = this.timeOut;
      policy.resetTimeout();
    }

    cancelTimeout(): void {
      this.timeOut = null;
      policyOf(this).cancel();
    }

    timeoutConnection(): void {
      this.transport?.loseConnection();
    }
  }
  return WithTimeout;
}

/**
 * The wrapper of {@link TimeoutFactory}: closes the connection after
 * `timeoutPeriod` seconds without bytes read or written. The countdown
 * starts when the wrapper is built.
 */
export class TimeoutProtocol extends ProtocolWrapper {
  declare factory: TimeoutFactory;
  private readonly policy: TimeoutPolicy;

  constructor(factory: TimeoutFactory, wrappedProtocol: IProtocol, timeoutPeriod: number | null) {
    super(factory, wrappedProtocol);
    this.policy = new TimeoutPolicy(
      { callLater: (seconds, fn) => factory.callLater(seconds, fn) },
      () => this.timeoutFunc(),
    );
    this.setTimeout(timeoutPeriod);
  }

  /** The idle period in seconds, or null when none is set. */
  get timeoutPeriod(): number | null {
    return this.policy.timeOut;
  }

  /** The pending timer, or null. */
  get timeoutCall(): IDelayedCall | null {
    return this.policy.pending;
  }

  /** Cancel any timer and start a new one of `period` seconds (null: none). */
  setTimeout(period: number | null = null): void {
    this.policy.cancel();
    this.policy.setTimeout(period);
  }

  /** Cancel the timer (no error when there is none or it already ran). */
  cancelTimeout(): void {
    this.policy.cancel();
  }

  /** Restart the countdown (activity happened). */
  resetTimeout(): void {
    this.policy.resetTimeout();
  }

  /** Activity: resets the countdown, then writes. */
  override write(data: Uint8Array): void {
    this.resetTimeout();
    super.write(data);
  }

  /** Activity: resets the countdown, then writes. */
  override writeSequence(data: readonly Uint8Array[]): void {
    this.resetTimeout();
    super.writeSequence(data);
  }

  /** Activity: resets the countdown, then delivers. */
  override dataReceived(data: Uint8Array): void {
    this.resetTimeout();
    super.dataReceived(data);
  }

  /** Cancels the timer, then relays. */
  override connectionLost(reason: Failure): void {
    this.cancelTimeout();
    super.connectionLost(reason);
  }

  /** The connection was idle too long; the default calls `loseConnection()`. */
  timeoutFunc(): void {
    this.loseConnection();
  }
}

/** Options of {@link TimeoutFactory}. */
export interface TimeoutFactoryOptions {
  /** Idle seconds before a connection is closed (default 1800). */
  timeoutPeriod?: number;
  /** The clock; null (default) means the global reactor. */
  clock?: IReactorTime | null;
}

/**
 * Wraps a factory so that each of its connections is closed after
 * `timeoutPeriod` seconds (default 30 minutes) without bytes read or written.
 *
 * @example
 * ```ts
 * reactor.listenTCP(8000, new TimeoutFactory(Factory.forProtocol(Echo), { timeoutPeriod: 60 }));
 * ```
 */
export class TimeoutFactory extends WrappingFactory {
  /** Idle seconds before a connection is closed. */
  timeoutPeriod: number;
  /** The clock; null means the global reactor. */
  clock: IReactorTime | null;

  constructor(wrappedFactory: IProtocolFactory, options: TimeoutFactoryOptions = {}) {
    super(wrappedFactory);
    this.timeoutPeriod = options.timeoutPeriod ?? 30 * 60;
    this.clock = options.clock ?? null;
  }

  /** The wrapped factory's protocol in a {@link TimeoutProtocol}, its countdown started; null when refused. */
  override buildProtocol(addr: Address): TimeoutProtocol | null {
    return super.buildProtocol(addr) as TimeoutProtocol | null;
  }

  /** A {@link TimeoutProtocol} around `inner`. */
  override wrapProtocol(inner: IProtocol): TimeoutProtocol {
    return new TimeoutProtocol(this, inner, this.timeoutPeriod);
  }

  /** Schedule on the factory's clock (overridable). */
  callLater(seconds: number, fn: () => void): IDelayedCall {
    return (this.clock ?? getDefaultClock()).callLater(seconds, fn);
  }
}
