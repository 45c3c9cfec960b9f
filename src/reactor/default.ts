/**
 * The default reactor, created on first use. Importing this module creates
 * nothing (Twisted's import-time singleton is a known pain: installing a
 * reactor afterwards fails); components take a reactor of their own and
 * fall back to this one.
 */
import type { Deferred } from '../defer/deferred.js';
import { setDefaultClockProvider } from '../defer/clock.js';
import type { DelayedCall } from './delayedCall.js';
import type {
  ConnectTCPOptions,
  IClientFactory,
  IConnector,
  IDatagramProtocol,
  IListeningPort,
  IProcessProtocol,
  IProcessTransport,
  IProtocolFactory,
  IReactor,
  IUDPTransport,
  ListenTCPOptions,
  SpawnOptions,
  TLSOptions,
  TriggerPhase,
} from './interfaces.js';
import type { TriggerId } from './lifecycle.js';
import { NodeReactor } from './nodeReactor.js';
import type { ReactorResource, ResourceTracker } from './resources.js';
import type { ConnectUNIXOptions, ListenUNIXOptions } from './tcp.js';
import type { ListenUDPOptions } from './udp.js';

let instance: NodeReactor | null = null;

/** The default reactor, created by the first call. */
export function getReactor(): NodeReactor {
  return (instance ??= new NodeReactor());
}

/**
 * Forwards every call to {@link getReactor}: holding it creates nothing;
 * the first call does.
 */
class LazyReactor implements IReactor, ResourceTracker {
  get running(): boolean {
    return instance !== null && instance.running;
  }
  seconds(): number {
    return getReactor().seconds();
  }
  callLater<A extends unknown[]>(delay: number, fn: (...args: A) => unknown, ...args: A): DelayedCall {
    return getReactor().callLater(delay, fn, ...args);
  }
  getDelayedCalls(): DelayedCall[] {
    return getReactor().getDelayedCalls();
  }
  run(): Deferred<void> {
    return getReactor().run();
  }
  stop(): void {
    getReactor().stop();
  }
  callWhenRunning<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): TriggerId | undefined {
    return getReactor().callWhenRunning(fn, ...args);
  }
  addSystemEventTrigger<A extends unknown[]>(
    phase: TriggerPhase,
    event: string,
    fn: (...args: A) => unknown,
    ...args: A
  ): TriggerId {
    return getReactor().addSystemEventTrigger(phase, event, fn, ...args);
  }
  removeSystemEventTrigger(id: unknown): void {
    getReactor().removeSystemEventTrigger(id);
  }
  fireSystemEvent(event: string): Deferred<void> {
    return getReactor().fireSystemEvent(event);
  }
  track(resource: ReactorResource): () => void {
    return getReactor().track(resource);
  }
  listenTCP(port: number, factory: IProtocolFactory, options?: ListenTCPOptions): IListeningPort {
    return getReactor().listenTCP(port, factory, options);
  }
  connectTCP(host: string, port: number, factory: IClientFactory, options?: ConnectTCPOptions): IConnector {
    return getReactor().connectTCP(host, port, factory, options);
  }
  listenUNIX(path: string, factory: IProtocolFactory, options?: ListenUNIXOptions): IListeningPort {
    return getReactor().listenUNIX(path, factory, options);
  }
  connectUNIX(path: string, factory: IClientFactory, options?: ConnectUNIXOptions): IConnector {
    return getReactor().connectUNIX(path, factory, options);
  }
  listenSSL(port: number, factory: IProtocolFactory, tls: TLSOptions, options?: ListenTCPOptions): IListeningPort {
    return getReactor().listenSSL(port, factory, tls, options);
  }
  connectSSL(
    host: string,
    port: number,
    factory: IClientFactory,
    tls: TLSOptions,
    options?: ConnectTCPOptions,
  ): IConnector {
    return getReactor().connectSSL(host, port, factory, tls, options);
  }
  listenUDP(port: number, protocol: IDatagramProtocol, options?: ListenUDPOptions): IUDPTransport {
    return getReactor().listenUDP(port, protocol, options);
  }
  spawnProcess(
    protocol: IProcessProtocol,
    executable: string,
    args?: readonly string[],
    options?: SpawnOptions,
  ): IProcessTransport {
    return getReactor().spawnProcess(protocol, executable, args, options);
  }
  deferToThread<T = unknown>(moduleUrl: string | URL, exportName: string, ...args: unknown[]): Deferred<T> {
    return getReactor().deferToThread<T>(moduleUrl, exportName, ...args);
  }
}

/**
 * The default Node reactor, for programs (tests should create their own
 * `new NodeReactor()`). Nothing is created until it is first used.
 *
 * @example
 * ```ts
 * import { reactor, Factory } from 'spindle';
 * reactor.listenTCP(8000, Factory.forProtocol(Echo), { interface: '127.0.0.1' });
 * await reactor.run();
 * ```
 */
export const reactor: IReactor & ResourceTracker = new LazyReactor();

// Registering a function creates nothing: `LoopingCall`, `deferLater`...
// without a clock reach the default reactor only when they first need it.
setDefaultClockProvider(getReactor);
