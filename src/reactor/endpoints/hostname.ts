/**
 * HostnameEndpoint: connect to a host name by trying its addresses in
 * staggered parallel ("happy eyeballs", RFC 8305), the first to connect
 * winning (Twisted's HostnameEndpoint).
 */
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { Deferred, fail, maybeDeferred, succeed } from '../../defer/deferred.js';
import type { Failure } from '../../defer/failure.js';
import { ConnectingCancelledError, DNSLookupError } from '../errors.js';
import type {
  ConnectTCPOptions,
  IDelayedCall,
  IProtocol,
  IProtocolFactoryOf,
  IReactorSSL,
  IReactorTCP,
  IReactorTime,
  IStreamClientEndpoint,
  TLSOptions,
} from '../interfaces.js';
import { SSL4ClientEndpoint, TCP4ClientEndpoint, type TLSOptionsSource } from './tcp.js';

/** One address a name resolved to. */
export interface ResolvedAddress {
  host: string;
  family: 4 | 6;
}

/**
 * Turns a host name into addresses. Inject a fake one in tests; the default,
 * {@link systemResolver}, asks the operating system.
 */
export interface HostResolver {
  /**
   * The addresses of `host`, in the order to try them (`port` is given for
   * resolvers that care, e.g. SRV-aware ones). An empty list or a failure
   * makes the connection fail with DNSLookupError. Return a new Deferred
   * per call: the endpoint adds its callbacks to it, and cancels it when
   * the connection is cancelled during the lookup.
   */
  resolve(host: string, port: number): Deferred<ResolvedAddress[]>;
}

/**
 * The operating system's resolver (`dns.lookup(host, { all: true })`, which
 * honours /etc/hosts). An IP address literal resolves to itself at once,
 * without asking. Cancelling the Deferred abandons the answer (the lookup
 * itself cannot be stopped).
 */
export const systemResolver: HostResolver = {
  resolve(host: string): Deferred<ResolvedAddress[]> {
    const family = isIP(host);
    if (family === 4 || family === 6) return succeed([{ host, family }]);
    const d = new Deferred<ResolvedAddress[]>();
    lookup(host, { all: true }, (err, addresses) => {
      if (err) d.errback(new DNSLookupError(`could not resolve '${host}': ${err.message}`, { cause: err }));
      else d.callback(addresses.map((a) => ({ host: a.address, family: a.family === 6 ? 6 : 4 })));
    });
    return d;
  },
};

/** A host name and port: what a cancelled HostnameEndpoint connection reports. */
export class HostnameAddress {
  constructor(
    readonly host: string,
    readonly port: number,
  ) {}
  toString(): string {
    return `${this.host}:${this.port}`;
  }
}

/**
 * The order to try addresses in (RFC 8305 §4): when both families are
 * present, alternate them starting with IPv6, keeping the resolver's order
 * within each family; otherwise the resolver's order.
 */
export function interleaveFamilies(addresses: readonly ResolvedAddress[]): ResolvedAddress[] {
  const v6 = addresses.filter((a) => a.family === 6);
  const v4 = addresses.filter((a) => a.family !== 6);
  if (v6.length === 0 || v4.length === 0) return [...addresses];
  const ordered: ResolvedAddress[] = [];
  for (let i = 0; i < Math.max(v6.length, v4.length); i++) {
    if (i < v6.length) ordered.push(v6[i]!);
    if (i < v4.length) ordered.push(v4[i]!);
  }
  return ordered;
}

/** Options of {@link HostnameEndpoint}. */
export interface HostnameEndpointOptions {
  /** Seconds each attempt may take before it fails with TCPTimedOutError (default 30). */
  timeout?: number;
  /** Local address to connect from. */
  bindAddress?: ConnectTCPOptions['bindAddress'];
  /** Seconds between the starts of two attempts (default 0.3). */
  attemptDelay?: number;
  /** How to resolve the name (default {@link systemResolver}). */
  resolver?: HostResolver;
  /**
   * Connect with TLS (through `connectSSL`), verifying the server: the
   * certificate is checked against the host name (sent as SNI), unless
   * `servername` says otherwise. A function is called at `connect` time.
   */
  tls?: TLSOptionsSource | null;
}

/** What HostnameEndpoint needs of a reactor: TCP (and TLS) connections and a clock. */
export type HostnameReactor = IReactorTCP & IReactorSSL & IReactorTime;

/**
 * Connects to a host name: resolves it, then starts one attempt per address,
 * a new one every `attemptDelay` seconds on the reactor's clock (IPv6 and
 * IPv4 addresses alternating, IPv6 first), while earlier ones are still
 * trying.
 *
 * - The first attempt to connect wins: the pending ones are cancelled and no
 *   new one starts.
 * - When every address has been tried and every attempt failed, the
 *   Deferred fails with the last failure to arrive.
 * - No addresses (or a failed lookup) fail it with DNSLookupError.
 * - Cancelling it cancels the lookup or every attempt and fails it with
 *   ConnectingCancelledError (its `address` a {@link HostnameAddress}).
 *
 * Attempts start on a fixed schedule (0, 0.3, 0.6... s), as in Twisted: a
 * quick failure does not bring the next attempt forward.
 *
 * @example
 * ```ts
 * const endpoint = new HostnameEndpoint(reactor, 'example.com', 443, { tls: {} });
 * const proto = await endpoint.connect(factory);
 * ```
 */
export class HostnameEndpoint implements IStreamClientEndpoint {
  readonly timeout: number;
  readonly bindAddress: ConnectTCPOptions['bindAddress'];
  readonly attemptDelay: number;
  readonly resolver: HostResolver;
  readonly tls: TLSOptionsSource | null;

  /** @throws RangeError when `attemptDelay` is negative. */
  constructor(
    readonly reactor: HostnameReactor,
    readonly host: string,
    readonly port: number,
    options: HostnameEndpointOptions = {},
  ) {
    this.timeout = options.timeout ?? 30;
    this.bindAddress = options.bindAddress ?? null;
    this.attemptDelay = options.attemptDelay ?? 0.3;
    if (!(this.attemptDelay >= 0)) throw new RangeError('HostnameEndpoint attemptDelay must be a number >= 0');
    this.resolver = options.resolver ?? systemResolver;
    this.tls = options.tls ?? null;
  }

  toString(): string {
    return `<HostnameEndpoint ${isIP(this.host) === 6 ? `[${this.host}]` : this.host}:${this.port}>`;
  }

  connect<P extends IProtocol>(factory: IProtocolFactoryOf<P>): Deferred<P> {
    let tls: TLSOptions | null = null;
    try {
      if (this.tls !== null) tls = typeof this.tls === 'function' ? this.tls() : this.tls;
    } catch (e) {
      return fail(e);
    }
    let finished = false;
    let resolution: Deferred<ResolvedAddress[]> | null = null;
    let timer: IDelayedCall | null = null;
    const pending = new Set<Deferred<P>>();
    // Ends everything still under way; their failures are then ignored.
    const stopAll = (): void => {
      finished = true;
      if (timer !== null && timer.active()) timer.cancel();
      timer = null;
      resolution?.cancel();
      for (const attempt of [...pending]) attempt.cancel();
    };
    const result = new Deferred<P>((d) => {
      stopAll();
      d.errback(new ConnectingCancelledError(new HostnameAddress(this.host, this.port)));
    });

    const startAttempts = (addresses: ResolvedAddress[]): void => {
      const ordered = interleaveFamilies(addresses);
      if (ordered.length === 0) {
        finished = true;
        result.errback(new DNSLookupError(`no results for hostname lookup: ${this.host}`));
        return;
      }
      let next = 0;
      const startNext = (): void => {
        timer = null;
        if (finished) return;
        const target = ordered[next++]!;
        const attempt = this.endpointFor(target.host, tls).connect(factory);
        pending.add(attempt);
        attempt.addCallbacks(
          (proto: P) => {
            pending.delete(attempt);
            if (!finished) {
              stopAll();
              result.callback(proto);
            }
            return proto;
          },
          (f: Failure) => {
            pending.delete(attempt);
            if (!finished && next >= ordered.length && pending.size === 0) {
              finished = true;
              result.errback(f);
            }
            return undefined;
          },
        );
        if (!finished && next < ordered.length) timer = this.reactor.callLater(this.attemptDelay, startNext);
      };
      startNext();
    };

    const lookup = maybeDeferred(() => this.resolver.resolve(this.host, this.port));
    resolution = lookup;
    lookup.addCallbacks(
      (addresses: ResolvedAddress[]) => {
        resolution = null;
        if (!finished) startAttempts(addresses);
        return undefined;
      },
      (f: Failure) => {
        resolution = null;
        if (!finished) {
          finished = true;
          result.errback(
            f.check(DNSLookupError) !== null
              ? f
              : new DNSLookupError(`Couldn't find the hostname '${this.host}': ${f.getErrorMessage()}`, {
                  cause: f.value,
                }),
          );
        }
        return undefined;
      },
    );
    return result;
  }

  private endpointFor(address: string, tls: TLSOptions | null): IStreamClientEndpoint {
    const options = { timeout: this.timeout, bindAddress: this.bindAddress };
    if (tls === null) return new TCP4ClientEndpoint(this.reactor, address, this.port, options);
    // Verify against the name asked for, not the address connected to.
    const servername = tls.servername ?? (isIP(this.host) === 0 ? this.host : undefined);
    const perAttempt: TLSOptions = { rejectUnauthorized: true, ...tls };
    if (servername !== undefined) perAttempt.servername = servername;
    return new SSL4ClientEndpoint(this.reactor, address, this.port, perAttempt, options);
  }
}
