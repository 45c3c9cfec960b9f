/**
 * The reactor on Node's event loop: time, lifecycle, TCP, UNIX, TLS, UDP,
 * child processes and worker threads behind Twisted's reactor interfaces.
 */
import { Deferred, maybeDeferred } from '../defer/deferred.js';
import type { Failure } from '../defer/failure.js';
import { DeferredList } from '../defer/list.js';
import { Logger } from '../logger/index.js';
import type { DelayedCall } from './delayedCall.js';
import { ReactorAlreadyRunning, ReactorNotRestartable, ReactorNotRunning } from './errors.js';
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
import { SystemEventTriggers, type TriggerId } from './lifecycle.js';
import { spawnProcess } from './process.js';
import type { ReactorResource, ResourceTracker } from './resources.js';
import { StallMonitor } from './stall.js';
import {
  connectSSL,
  connectTCP,
  connectUNIX,
  listenSSL,
  listenTCP,
  listenUNIX,
  type ConnectUNIXOptions,
  type ListenUNIXOptions,
} from './tcp.js';
import { ThreadPool } from './threads.js';
import { TimerQueue } from './timers.js';
import { listenUDP, type ListenUDPOptions } from './udp.js';

const log = new Logger('spindle.reactor');

/** Options of a {@link NodeReactor}. */
export interface NodeReactorOptions {
  /**
   * While running, log callbacks that block the event loop longer than this
   * many milliseconds (a StallMonitor). Off by default.
   */
  stallThresholdMs?: number;
  /** Most worker threads for `deferToThread` (default: the ThreadPool's). */
  maxThreads?: number;
}

/** How many times shutdown sweeps resources registered while it closes others. */
const SHUTDOWN_SWEEPS = 3;

/**
 * The reactor: Twisted's reactor on Node's event loop.
 *
 * Unlike Twisted's, it needs no `run()` to work: Node's loop is always live,
 * so `callLater`, `listenTCP`, `connectTCP` and friends work on a reactor
 * that was never run (timers alone do not keep the process alive; open
 * sockets do). `run()` adds the lifecycle: startup triggers, a handle that
 * keeps the process alive until `stop()`, SIGINT/SIGTERM handling, and an
 * orderly shutdown that closes everything the reactor opened.
 *
 * A reactor runs once: after `stop()` it cannot run again, and its pending
 * timed calls never run. Create a new one per test.
 *
 * Shutdown order (Twisted's): 'before' shutdown triggers (their Deferreds
 * are waited for: drain connections there), then 'during' — the reactor
 * stops listening on every port, abandons connection attempts, gives every
 * connection `connectionLost` with ConnectionLost and stops its thread pool
 * and processes — then 'after', then the Deferred from `run()` fires.
 *
 * @example
 * ```ts
 * const reactor = new NodeReactor();
 * reactor.listenTCP(8000, Factory.forProtocol(Echo), { interface: '127.0.0.1' });
 * reactor.addSystemEventTrigger('before', 'shutdown', () => drain());
 * await reactor.run();   // until SIGINT/SIGTERM or reactor.stop()
 * ```
 */
export class NodeReactor implements IReactor, ResourceTracker {
  private _running = false;
  private started = false;
  private stopCalled = false;
  private readonly timers = new TimerQueue(() => this.seconds());
  private readonly triggers = new SystemEventTriggers();
  private readonly resources = new Set<ReactorResource>();
  private readonly whenStopped = new Deferred<void>();
  private keepAlive: NodeJS.Timeout | null = null;
  private threadPool: ThreadPool | null = null;
  private stallMonitor: StallMonitor | null = null;
  private closing: DeferredList<void> | null = null;

  constructor(private readonly options: NodeReactorOptions = {}) {
    // Registered first, as in Twisted: 'running' turns true before anyone's
    // 'during startup' trigger, and false before anyone's 'during shutdown' one.
    this.triggers.add('during', 'startup', () => {
      this._running = true;
    }, []);
    this.triggers.add('during', 'shutdown', () => this.disconnectAll(), []);
  }

  // ------------------------------------------------------------ IReactorTime

  /** The time in seconds (a float): `performance.timeOrigin + performance.now()`. */
  seconds(): number {
    return (performance.timeOrigin + performance.now()) / 1000;
  }

  /**
   * Run `fn(...args)` in `delay` seconds. A call scheduled from inside a
   * timed call runs on a later turn of the event loop, even with delay 0.
   * An exception it throws is logged; other calls still run.
   * @throws RangeError when `delay` is negative or NaN; TypeError when it is not a number.
   */
  callLater<A extends unknown[]>(delay: number, fn: (...args: A) => unknown, ...args: A): DelayedCall {
    return this.timers.schedule(delay, fn as (...args: never[]) => unknown, args);
  }

  /** The calls scheduled and neither run nor cancelled, in no particular order. */
  getDelayedCalls(): DelayedCall[] {
    return this.timers.getDelayedCalls();
  }

  // ------------------------------------------------------------ IReactorCore

  /** True from 'during startup' until 'during shutdown'. */
  get running(): boolean {
    return this._running;
  }

  /**
   * Fire the startup triggers and keep the process alive until `stop()`
   * (or SIGINT/SIGTERM). The Deferred fires once shutdown is complete.
   * @throws ReactorAlreadyRunning when running; ReactorNotRestartable when it ran before.
   */
  run(): Deferred<void> {
    if (this.started) {
      throw this.stopCalled
        ? new ReactorNotRestartable('a reactor runs once: create a new one')
        : new ReactorAlreadyRunning('the reactor is already running');
    }
    this.started = true;
    // A long interval that never needs to fire: it only holds the process open.
    this.keepAlive = setInterval(() => {}, 2 ** 31 - 1);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    if (this.options.stallThresholdMs !== undefined) {
      this.stallMonitor = new StallMonitor({ thresholdMs: this.options.stallThresholdMs });
      this.stallMonitor.start();
    }
    this.triggers.fire('startup');
    return this.whenStopped;
  }

  /**
   * Shut down at the end of the current turn of the event loop. The signal
   * handlers are removed at once, so a second SIGINT during a long shutdown
   * gets Node's default (the process exits).
   * @throws ReactorNotRunning when not running (or already stopping).
   */
  stop(): void {
    if (!this.started || this.stopCalled) throw new ReactorNotRunning("can't stop a reactor that isn't running");
    this.stopCalled = true;
    this.removeSignalHandlers();
    setImmediate(() => {
      this.triggers
        .fire('shutdown')
        .addCallback(() => this.closing)
        .addBoth(() => this.finish());
    });
  }

  /**
   * Call `fn(...args)` once the reactor runs: at once (returning undefined)
   * when it is running, otherwise as an 'after startup' trigger (returning
   * its id).
   */
  callWhenRunning<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): TriggerId | undefined {
    if (this._running) {
      fn(...args);
      return undefined;
    }
    return this.triggers.add('after', 'startup', fn, args);
  }

  /**
   * Run `fn(...args)` in `phase` of `event` ('startup', 'shutdown' or your
   * own, fired with `fireSystemEvent`). A 'before' trigger may return a
   * Deferred or Promise: the later phases wait for it.
   * @throws RangeError for an unknown phase.
   */
  addSystemEventTrigger<A extends unknown[]>(
    phase: TriggerPhase,
    event: string,
    fn: (...args: A) => unknown,
    ...args: A
  ): TriggerId {
    return this.triggers.add(phase, event, fn, args);
  }

  /** @throws Error when `id` is not a trigger still waiting to run. */
  removeSystemEventTrigger(id: unknown): void {
    this.triggers.remove(id);
  }

  /** Run the three phases of `event`; fires once its 'after' triggers have run. */
  fireSystemEvent(event: string): Deferred<void> {
    return this.triggers.fire(event);
  }

  // ------------------------------------------------------------ ResourceTracker

  /**
   * Register something to close at shutdown; returns the function that
   * unregisters it (call it when the resource closes by itself).
   */
  track(resource: ReactorResource): () => void {
    this.resources.add(resource);
    return () => {
      this.resources.delete(resource);
    };
  }

  // ------------------------------------------------------------ TCP, UNIX, TLS

  /**
   * Listen on TCP `port` (0: any free port). Bound asynchronously: see the
   * port's `ready`. `interface` '' (default) is every IPv4 interface, '::'
   * every IPv6 one. Works without `run()`.
   * @throws RangeError for an invalid port.
   */
  listenTCP(port: number, factory: IProtocolFactory, options?: ListenTCPOptions): IListeningPort {
    return listenTCP(this, port, factory, options);
  }

  /**
   * Connect to `host:port`, reporting to the ClientFactory's callbacks
   * (`timeout` default 30 s). Works without `run()`.
   */
  connectTCP(host: string, port: number, factory: IClientFactory, options?: ConnectTCPOptions): IConnector {
    return connectTCP(this, host, port, factory, options);
  }

  /** Listen on the UNIX socket file `path` (a stale one is replaced). */
  listenUNIX(path: string, factory: IProtocolFactory, options?: ListenUNIXOptions): IListeningPort {
    return listenUNIX(this, path, factory, options);
  }

  /** Connect to the UNIX socket file `path`. */
  connectUNIX(path: string, factory: IClientFactory, options?: ConnectUNIXOptions): IConnector {
    return connectUNIX(this, path, factory, options);
  }

  /** Listen for TLS on TCP `port`; `connectionMade` follows each handshake. */
  listenSSL(port: number, factory: IProtocolFactory, tls: TLSOptions, options?: ListenTCPOptions): IListeningPort {
    return listenSSL(this, port, factory, tls, options);
  }

  /** Connect with TLS (the server is verified unless `tls.rejectUnauthorized` is false). */
  connectSSL(
    host: string,
    port: number,
    factory: IClientFactory,
    tls: TLSOptions,
    options?: ConnectTCPOptions,
  ): IConnector {
    return connectSSL(this, host, port, factory, tls, options);
  }

  // ------------------------------------------------------------ UDP, processes, threads

  /** Bind a UDP port for `protocol`; see the transport's `ready`. */
  listenUDP(port: number, protocol: IDatagramProtocol, options?: ListenUDPOptions): IUDPTransport {
    return listenUDP(this, port, protocol, options);
  }

  /** Start a child process talking to `protocol`. */
  spawnProcess(
    protocol: IProcessProtocol,
    executable: string,
    args?: readonly string[],
    options?: SpawnOptions,
  ): IProcessTransport {
    return spawnProcess(this, protocol, executable, args, options);
  }

  /**
   * Run a module's exported function in a worker thread. The pool is
   * created on first use and stopped at shutdown.
   */
  deferToThread<T = unknown>(moduleUrl: string | URL, exportName: string, ...args: unknown[]): Deferred<T> {
    if (this.threadPool === null) {
      const pool = new ThreadPool(this.options.maxThreads !== undefined ? { maxThreads: this.options.maxThreads } : {});
      this.threadPool = pool;
      this.track({ shutdown: () => pool.stop() });
    }
    return this.threadPool.deferToThread<T>(moduleUrl, exportName, ...args);
  }

  // ------------------------------------------------------------ shutdown

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    log.info('Received {signal}, shutting down', { signal });
    if (!this.stopCalled) this.stop();
  };

  private removeSignalHandlers(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  /** 'during shutdown': stop running and close every tracked resource. */
  private disconnectAll(): void {
    this._running = false;
    this.stallMonitor?.stop();
    const waits: Deferred<void>[] = [];
    // Closing one thing may open another (a client factory reconnecting at
    // once): sweep again, a bounded number of times.
    for (let sweep = 0; sweep < SHUTDOWN_SWEEPS && this.resources.size > 0; sweep++) {
      const resources = [...this.resources];
      this.resources.clear();
      for (const r of resources) {
        waits.push(
          maybeDeferred(() => r.shutdown()).addErrback((f: Failure): void => {
            log.failure('Error while closing {resource} at shutdown', f, { resource: String(r) });
          }),
        );
      }
    }
    this.closing = new DeferredList(waits);
  }

  private finish(): void {
    this.timers.close();
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    this.keepAlive = null;
    this.whenStopped.callback(undefined);
  }
}
