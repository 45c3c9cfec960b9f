/**
 * MemoryReactor: a reactor that performs no I/O and records every call, for
 * testing code that listens, connects, spawns or schedules (Twisted's
 * `twisted.internet.testing.MemoryReactor`, `MemoryReactorClock`,
 * `RaisingMemoryReactor`).
 */
import { Deferred, isThenable, succeed } from '../defer/deferred.js';
import { Failure } from '../defer/failure.js';
import { Logger } from '../logger/index.js';
import { IPv4Address, UNIXAddress, ipAddress, type Address } from '../reactor/address.js';
import type { DelayedCall } from '../reactor/delayedCall.js';
import {
  CannotListenError,
  ConnectionRefusedError,
  NotConnectingError,
  ReactorAlreadyRunning,
  ReactorNotRestartable,
  ReactorNotRunning,
  UserError,
} from '../reactor/errors.js';
import type {
  ConnectTCPOptions,
  IClientFactory,
  IConnector,
  IDatagramProtocol,
  IDelayedCall,
  IListeningPort,
  IProcessProtocol,
  IProcessTransport,
  IProtocolFactory,
  IReactor,
  ITransport,
  IUDPTransport,
  ListenTCPOptions,
  SpawnOptions,
  TLSOptions,
  TriggerPhase,
} from '../reactor/interfaces.js';
import { Clock } from './clock.js';

const log = new Logger('spindle.testing.memoryReactor');

// ------------------------------------------------------------ records

/** A `listenTCP` call. */
export interface TCPServerRecord {
  port: number;
  factory: IProtocolFactory;
  backlog: number;
  interface: string;
}

/** A `connectTCP` call. */
export interface TCPClientRecord {
  host: string;
  port: number;
  factory: IClientFactory;
  timeout: number;
  bindAddress: ConnectTCPOptions['bindAddress'];
}

/** A `listenSSL` call. */
export interface SSLServerRecord extends TCPServerRecord {
  tls: TLSOptions;
}

/** A `connectSSL` call. */
export interface SSLClientRecord extends TCPClientRecord {
  tls: TLSOptions;
}

/** A `listenUNIX` call. */
export interface UNIXServerRecord {
  path: string;
  factory: IProtocolFactory;
  backlog: number;
  mode: number;
}

/** A `connectUNIX` call. */
export interface UNIXClientRecord {
  path: string;
  factory: IClientFactory;
  timeout: number;
}

/** A `listenUDP` call. */
export interface UDPPortRecord {
  port: number;
  protocol: IDatagramProtocol;
  interface: string;
  maxPacketSize: number;
}

/** A `spawnProcess` call. */
export interface ProcessRecord {
  protocol: IProcessProtocol;
  executable: string;
  args: readonly string[];
  options: SpawnOptions;
  /** The fake transport handed to the protocol. */
  transport: MemoryProcessTransport;
}

/** A `deferToThread` call: fire `deferred` by hand to simulate the thread's answer. */
export interface ThreadCallRecord {
  moduleUrl: string | URL;
  exportName: string;
  args: unknown[];
  deferred: Deferred<unknown>;
}

/** A function and its arguments, as given to `callWhenRunning`. */
export interface HookRecord {
  fn: (...args: never[]) => unknown;
  args: unknown[];
}

/** A system event trigger, as given to `addSystemEventTrigger`. */
export interface TriggerRecord extends HookRecord {
  /** The id `addSystemEventTrigger` returned. */
  id: number;
}

/** What a fake port or connection does for `openResources` and shutdown. */
interface Resource {
  /** A description while open, or null once closed. */
  leftover(): string | null;
  /** Close it, as the reactor's shutdown does. */
  shutdown(): void;
}

// ------------------------------------------------------------ fakes

/**
 * The port a MemoryReactor's `listenTCP`/`listenSSL`/`listenUNIX` returns:
 * `ready` has already fired, `getHost()` is the address asked for (with an
 * allocated number when port 0 was asked for), `stopListening()` records
 * `stopped` and fires at once. The factory's `doStart` runs when it is
 * created and `doStop` when it stops.
 */
export class MemoryListeningPort implements IListeningPort {
  readonly ready: Deferred<IListeningPort>;
  /** True once `stopListening` was called. */
  stopped = false;

  constructor(
    /** Which call made it. */
    readonly kind: 'TCP' | 'SSL' | 'UNIX',
    readonly factory: IProtocolFactory,
    private readonly address: Address,
  ) {
    factory.doStart?.();
    this.ready = succeed<IListeningPort>(this);
  }

  getHost(): Address {
    return this.address;
  }

  stopListening(): Deferred<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.factory.doStop?.();
    }
    return succeed<void>(undefined);
  }

  /** What a connection to this port is matched on: its port number, or its path. */
  get key(): number | string {
    const a = this.address;
    return a instanceof UNIXAddress ? (a.name ?? '') : a.port;
  }

  toString(): string {
    return `${this.kind} port listening on ${String(this.address)}`;
  }
}

/**
 * The connector a MemoryReactor's `connect*` returns, in state
 * `'connecting'` until a test settles it: by hand with
 * `connectionFailed(reason)` / `connectionMade(transport)` /
 * `connectionLost(reason)`, or with a `ConnectionCompleter`.
 *
 * It behaves like the real one towards its factory: `doStart` and
 * `startedConnecting` when it starts, `clientConnectionFailed` /
 * `clientConnectionLost` when the attempt or the connection ends, and
 * `doStop` when it ends without the factory asking to `connect()` again.
 * `stopConnecting()` fails the attempt with UserError.
 */
export class MemoryConnector implements IConnector {
  state: 'disconnected' | 'connecting' | 'connected' = 'disconnected';
  /** True once `stopConnecting` was called (also through `disconnect`). */
  stoppedConnecting = false;
  /** True once `disconnect` was called. */
  disconnected = false;
  /** The transport while connected. */
  transport: ITransport | null = null;
  private factoryStarted = false;

  constructor(
    readonly kind: 'TCP' | 'SSL' | 'UNIX',
    readonly factory: IClientFactory,
    private readonly destination: Address,
  ) {}

  /** What it is matched on with a listening port: the port number, or the path. */
  get key(): number | string {
    const a = this.destination;
    return a instanceof UNIXAddress ? (a.name ?? '') : a.port;
  }

  /** @throws Error unless disconnected. */
  connect(): void {
    if (this.state !== 'disconnected') throw new Error(`cannot connect a connector that is ${this.state}`);
    this.state = 'connecting';
    if (!this.factoryStarted) {
      this.factoryStarted = true;
      this.factory.doStart?.();
    }
    this.factory.startedConnecting?.(this);
  }

  /** Stop connecting, or close the connection (`loseConnection` on its transport). */
  disconnect(): void {
    this.disconnected = true;
    if (this.state === 'connecting') this.stopConnecting();
    else if (this.state === 'connected') this.transport?.loseConnection();
  }

  /** @throws NotConnectingError unless connecting. */
  stopConnecting(): void {
    if (this.state !== 'connecting') throw new NotConnectingError();
    this.stoppedConnecting = true;
    this.connectionFailed(new Failure(new UserError('connection attempt stopped (stopConnecting)')));
  }

  getDestination(): Address {
    return this.destination;
  }

  /** Simulate the attempt failing: the factory's `clientConnectionFailed(this, reason)`. */
  connectionFailed(reason: Failure | Error): void {
    if (this.state !== 'connecting') throw new NotConnectingError();
    this.state = 'disconnected';
    this.factory.clientConnectionFailed?.(this, Failure.from(reason));
    this.maybeStopFactory();
  }

  /** Simulate the attempt succeeding on `transport` (the protocol is connected by the caller). */
  connectionMade(transport: ITransport): void {
    if (this.state !== 'connecting') throw new NotConnectingError();
    this.state = 'connected';
    this.transport = transport;
  }

  /** Simulate the connection ending: the factory's `clientConnectionLost(this, reason)`. */
  connectionLost(reason: Failure | Error): void {
    if (this.state !== 'connected') return;
    this.state = 'disconnected';
    this.transport = null;
    this.factory.clientConnectionLost?.(this, Failure.from(reason));
    this.maybeStopFactory();
  }

  toString(): string {
    return `${this.kind} connector to ${String(this.destination)} (${this.state})`;
  }

  private maybeStopFactory(): void {
    // The factory may have called connect() again (a reconnecting factory).
    if (this.state === 'disconnected' && this.factoryStarted) {
      this.factoryStarted = false;
      this.factory.doStop?.();
    }
  }
}

/**
 * The UDP port a MemoryReactor's `listenUDP` returns: datagrams written are
 * recorded in `written`; the protocol gets `transport` and `startProtocol`
 * at once, `stopProtocol` on `stopListening`. Feed it datagrams by calling
 * the protocol's `datagramReceived` yourself.
 */
export class MemoryUDPPort implements IUDPTransport {
  readonly ready: Deferred<IUDPTransport>;
  /** Every datagram written, with its address (null when connected). */
  readonly written: Array<{ packet: Uint8Array; addr: { host: string; port: number } | null }> = [];
  /** The peer of a connected port. */
  connectedTo: { host: string; port: number } | null = null;
  broadcastAllowed = false;
  readonly groups = new Set<string>();
  ttl = 1;
  loopback = true;
  stopped = false;

  constructor(
    readonly protocol: IDatagramProtocol,
    private readonly address: Address,
  ) {
    this.ready = succeed<IUDPTransport>(this);
  }

  write(packet: Uint8Array, addr?: { host: string; port: number }): void {
    if (addr === undefined && this.connectedTo === null) throw new Error('write needs an address on an unconnected UDP port');
    this.written.push({ packet: Buffer.from(packet), addr: addr ?? null });
  }

  connect(host: string, port: number): void {
    this.connectedTo = { host, port };
  }

  getHost(): Address {
    return this.address;
  }

  stopListening(): Deferred<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.protocol.stopProtocol?.();
    }
    return succeed<void>(undefined);
  }

  setBroadcastAllowed(enabled: boolean): void {
    this.broadcastAllowed = enabled;
  }

  joinGroup(address: string): void {
    this.groups.add(address);
  }

  leaveGroup(address: string): void {
    this.groups.delete(address);
  }

  setTTL(ttl: number): void {
    this.ttl = ttl;
  }

  setLoopbackMode(enabled: boolean): void {
    this.loopback = enabled;
  }
}

let nextPid = 4000;

/**
 * The transport a MemoryReactor's `spawnProcess` gives the process
 * protocol: it records what is written and signalled. Simulate the child by
 * calling the protocol's callbacks (`childDataReceived`, `processEnded`...).
 */
export class MemoryProcessTransport implements IProcessTransport {
  readonly pid: number | undefined = nextPid++;
  /** Everything written, by child fd (stdin is 0). */
  readonly writes: Array<{ fd: number; data: Uint8Array }> = [];
  /** Child fds closed, in order. */
  readonly closedFDs: number[] = [];
  /** Signals sent, in order. */
  readonly signals: Array<string | number> = [];
  /** True once `loseConnection` was called. */
  lostConnection = false;

  write(data: Uint8Array): void {
    this.writeToChild(0, data);
  }

  writeToChild(fd: number, data: Uint8Array): void {
    this.writes.push({ fd, data: Buffer.from(data) });
  }

  closeStdin(): void {
    this.closeChildFD(0);
  }

  closeStdout(): void {
    this.closeChildFD(1);
  }

  closeStderr(): void {
    this.closeChildFD(2);
  }

  closeChildFD(fd: number): void {
    if (!this.closedFDs.includes(fd)) this.closedFDs.push(fd);
  }

  signalProcess(signal: string | number): void {
    this.signals.push(signal);
  }

  loseConnection(): void {
    this.lostConnection = true;
    for (const fd of [0, 1, 2]) this.closeChildFD(fd);
  }
}

/** The address a port listening on `interface_` reports ('' = every IPv4 address). */
function listeningAddress(interface_: string, port: number): Address {
  return interface_ === '' ? new IPv4Address('TCP', '0.0.0.0', port) : ipAddress('TCP', interface_, port);
}

// ------------------------------------------------------------ the reactor

/**
 * A reactor that performs no I/O: it records what was asked of it, so a test
 * can check that code listened, connected, spawned or scheduled what it
 * should. Connections never happen by themselves: complete them with a
 * `ConnectionCompleter` (or the connector's own `connectionFailed` /
 * `connectionMade`).
 *
 * - `listenTCP(8080, f, { interface: '127.0.0.1' })` records
 *   `{ port: 8080, factory: f, backlog: 50, interface: '127.0.0.1' }` in
 *   `tcpServers` and returns a {@link MemoryListeningPort};
 * - `connectTCP(host, port, f)` records `{ host, port, factory, timeout,
 *   bindAddress }` in `tcpClients`, calls `f.startedConnecting(connector)`
 *   and returns a {@link MemoryConnector} (also kept in `connectors`);
 * - likewise `sslServers`/`sslClients` (with `tls`), `unixServers`/
 *   `unixClients`, `udpPorts`, `spawnedProcesses`, `threadCalls`;
 * - `callWhenRunning` records `whenRunningHooks` (or calls at once while
 *   running), `addSystemEventTrigger` records `triggers[phase][event]`;
 * - `run()` fires the startup event, runs the hooks, then stops: the
 *   shutdown event runs, waiting for Deferreds returned by 'before'
 *   triggers; 'during' shutdown closes every fake port and pending
 *   connector. It all happens synchronously unless a trigger's Deferred
 *   is pending; the Deferred `run()` returns fires at the end.
 *
 * It has no clock: `seconds()` and `callLater()` throw a TypeError (use
 * {@link MemoryReactorClock}); `getDelayedCalls()` is always empty.
 *
 * @example
 * ```ts
 * const reactor = new MemoryReactor();
 * serverFromString(reactor, 'tcp:8080:interface=127.0.0.1').listen(factory);
 * expect(reactor.tcpServers).toEqual([{ port: 8080, factory, backlog: 50, interface: '127.0.0.1' }]);
 * ```
 */
export class MemoryReactor implements IReactor {
  running = false;
  /** True once `run()` was called. */
  hasRun = false;
  /** True once `stop()` was called. */
  hasStopped = false;

  readonly tcpServers: TCPServerRecord[] = [];
  readonly tcpClients: TCPClientRecord[] = [];
  readonly sslServers: SSLServerRecord[] = [];
  readonly sslClients: SSLClientRecord[] = [];
  readonly unixServers: UNIXServerRecord[] = [];
  readonly unixClients: UNIXClientRecord[] = [];
  readonly udpPorts: UDPPortRecord[] = [];
  readonly spawnedProcesses: ProcessRecord[] = [];
  readonly threadCalls: ThreadCallRecord[] = [];
  /** Every connector handed out, in call order. */
  readonly connectors: MemoryConnector[] = [];
  /** Every port handed out by `listenTCP`/`listenSSL`/`listenUNIX`, in call order. */
  readonly listeningPorts: MemoryListeningPort[] = [];
  readonly whenRunningHooks: HookRecord[] = [];
  readonly triggers: Record<TriggerPhase, Record<string, TriggerRecord[]>> = { before: {}, during: {}, after: {} };

  private readonly resources: Resource[] = [];
  private nextPort = 40000;
  private nextTriggerId = 1;
  private stopping = false;
  private stopped: Deferred<void> | null = null;

  // ---------------------------------------------------------- time

  /** @throws TypeError: a MemoryReactor has no clock. */
  seconds(): number {
    throw new TypeError('MemoryReactor has no clock: use MemoryReactorClock to call seconds()');
  }

  /** @throws TypeError: a MemoryReactor has no clock. */
  callLater<A extends unknown[]>(_delay: number, _fn: (...args: A) => unknown, ..._args: A): IDelayedCall {
    throw new TypeError('MemoryReactor has no clock: use MemoryReactorClock to call callLater()');
  }

  /** Always empty: nothing can be scheduled without a clock. */
  getDelayedCalls(): IDelayedCall[] {
    return [];
  }

  // ---------------------------------------------------------- core

  /**
   * Start, run the `callWhenRunning` hooks, then stop. Fires once the
   * shutdown event has run (at once unless a trigger returned a pending
   * Deferred).
   * @throws ReactorAlreadyRunning, ReactorNotRestartable
   */
  run(): Deferred<void> {
    if (this.running) throw new ReactorAlreadyRunning('the reactor is already running');
    if (this.hasStopped) throw new ReactorNotRestartable('a reactor cannot be run again once stopped');
    this.hasRun = true;
    const stopped = (this.stopped = new Deferred<void>());
    this.fireEvent('startup', () => {
      this.running = true;
    }).addCallback(() => {
      for (const hook of this.whenRunningHooks) this.callSafely(hook, 'callWhenRunning hook');
      if (this.running && !this.stopping) this.stop();
      return undefined;
    });
    return stopped;
  }

  /**
   * Fire the shutdown event: 'before' triggers (waiting for the Deferreds
   * they return), then 'during' (`running` becomes false; fake ports stop
   * listening, pending connectors stop connecting, open connections are
   * aborted), then 'after'.
   * @throws ReactorNotRunning when not running or already stopping.
   */
  stop(): void {
    if (!this.running || this.stopping) throw new ReactorNotRunning("can't stop a reactor that isn't running");
    this.stopping = true;
    this.hasStopped = true;
    this.fireEvent('shutdown', () => {
      this.running = false;
      this.closeEverything();
    }).addCallback(() => {
      this.stopping = false;
      this.stopped?.callback(undefined);
      return undefined;
    });
  }

  /** Recorded in `whenRunningHooks` for `run()`; called at once while running. */
  callWhenRunning<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): undefined {
    const hook: HookRecord = { fn: fn as (...args: never[]) => unknown, args };
    if (this.running) this.callSafely(hook, 'callWhenRunning hook');
    else this.whenRunningHooks.push(hook);
    return undefined;
  }

  /**
   * Record a trigger in `triggers[phase][event]`; returns its id.
   * @throws TypeError for a phase other than before/during/after.
   */
  addSystemEventTrigger<A extends unknown[]>(
    phase: TriggerPhase,
    event: string,
    fn: (...args: A) => unknown,
    ...args: A
  ): number {
    if (!Object.hasOwn(this.triggers, phase)) throw new TypeError(`invalid phase: ${String(phase)}`);
    const id = this.nextTriggerId++;
    (this.triggers[phase][event] ??= []).push({ id, fn: fn as (...args: never[]) => unknown, args });
    return id;
  }

  /** @throws TypeError when no trigger has this id. */
  removeSystemEventTrigger(id: unknown): void {
    for (const byEvent of Object.values(this.triggers)) {
      for (const list of Object.values(byEvent)) {
        const i = list.findIndex((t) => t.id === id);
        if (i !== -1) {
          list.splice(i, 1);
          return;
        }
      }
    }
    throw new TypeError(`no system event trigger has the id ${String(id)}`);
  }

  /** Fire the three phases of `event` (see {@link MemoryReactor.stop} for the waiting rule). */
  fireSystemEvent(event: string): Deferred<void> {
    return this.fireEvent(event, () => undefined);
  }

  // ---------------------------------------------------------- TCP, TLS, UNIX

  listenTCP(port: number, factory: IProtocolFactory, options: ListenTCPOptions = {}): MemoryListeningPort {
    const record: TCPServerRecord = { port, factory, backlog: options.backlog ?? 50, interface: options.interface ?? '' };
    this.tcpServers.push(record);
    return this.addPort('TCP', factory, listeningAddress(record.interface, this.portNumber(port)));
  }

  connectTCP(host: string, port: number, factory: IClientFactory, options: ConnectTCPOptions = {}): MemoryConnector {
    this.tcpClients.push({ host, port, factory, timeout: options.timeout ?? 30, bindAddress: options.bindAddress ?? null });
    return this.addConnector('TCP', factory, ipAddress('TCP', host, port));
  }

  listenSSL(port: number, factory: IProtocolFactory, tls: TLSOptions, options: ListenTCPOptions = {}): MemoryListeningPort {
    const record: SSLServerRecord = {
      port,
      factory,
      tls,
      backlog: options.backlog ?? 50,
      interface: options.interface ?? '',
    };
    this.sslServers.push(record);
    return this.addPort('SSL', factory, listeningAddress(record.interface, this.portNumber(port)));
  }

  connectSSL(
    host: string,
    port: number,
    factory: IClientFactory,
    tls: TLSOptions,
    options: ConnectTCPOptions = {},
  ): MemoryConnector {
    this.sslClients.push({
      host,
      port,
      factory,
      tls,
      timeout: options.timeout ?? 30,
      bindAddress: options.bindAddress ?? null,
    });
    return this.addConnector('SSL', factory, ipAddress('TCP', host, port));
  }

  listenUNIX(path: string, factory: IProtocolFactory, options: { backlog?: number; mode?: number } = {}): MemoryListeningPort {
    this.unixServers.push({ path, factory, backlog: options.backlog ?? 50, mode: options.mode ?? 0o666 });
    return this.addPort('UNIX', factory, new UNIXAddress(path));
  }

  connectUNIX(path: string, factory: IClientFactory, options: { timeout?: number } = {}): MemoryConnector {
    this.unixClients.push({ path, factory, timeout: options.timeout ?? 30 });
    return this.addConnector('UNIX', factory, new UNIXAddress(path));
  }

  // ---------------------------------------------------------- UDP, processes, threads

  listenUDP(
    port: number,
    protocol: IDatagramProtocol,
    options: { interface?: string; maxPacketSize?: number; reuseAddress?: boolean } = {},
  ): MemoryUDPPort {
    const iface = options.interface ?? '';
    this.udpPorts.push({ port, protocol, interface: iface, maxPacketSize: options.maxPacketSize ?? 8192 });
    const number = this.portNumber(port);
    const udp = new MemoryUDPPort(
      protocol,
      iface === '' ? new IPv4Address('UDP', '0.0.0.0', number) : ipAddress('UDP', iface, number),
    );
    this.resources.push({
      leftover: () => (udp.stopped ? null : `UDP port ${String(udp.getHost())} still listening`),
      shutdown: () => void udp.stopListening(),
    });
    protocol.transport = udp;
    protocol.startProtocol?.();
    return udp;
  }

  /**
   * Record the call and connect `protocol` to a {@link MemoryProcessTransport}
   * (`makeConnection`, or `transport` + `connectionMade`). No process runs.
   */
  spawnProcess(
    protocol: IProcessProtocol,
    executable: string,
    args: readonly string[] = [],
    options: SpawnOptions = {},
  ): MemoryProcessTransport {
    const transport = new MemoryProcessTransport();
    this.spawnedProcesses.push({ protocol, executable, args, options, transport });
    if (typeof protocol.makeConnection === 'function') protocol.makeConnection(transport);
    else {
      protocol.transport = transport;
      protocol.connectionMade?.();
    }
    return transport;
  }

  /**
   * Record the call in `threadCalls` and return its Deferred, which nothing
   * fires: there are no threads here. The test plays the worker by firing
   * `threadCalls[i].deferred` with a result (or an error).
   *
   * @example
   * ```ts
   * const d = reactor.deferToThread<number>('./work.js', 'sum', 1, 2);
   * reactor.threadCalls[0]!.deferred.callback(3);
   * expect(successResultOf(d)).toBe(3);
   * ```
   */
  deferToThread<T = unknown>(moduleUrl: string | URL, exportName: string, ...args: unknown[]): Deferred<T> {
    const deferred = new Deferred<T>();
    this.threadCalls.push({ moduleUrl, exportName, args, deferred: deferred as Deferred<unknown> });
    return deferred;
  }

  // ---------------------------------------------------------- leftovers

  /**
   * One line per thing still open: ports not stopped, connection attempts
   * still pending, connections not closed, UDP ports not stopped. Used by
   * `assertClean`.
   */
  openResources(): string[] {
    const open: string[] = [];
    for (const r of this.resources) {
      const text = r.leftover();
      if (text !== null) open.push(text);
    }
    return open;
  }

  /** A fresh port number for a `listen*(0)` or a client's end of a connection. */
  allocatePort(): number {
    return this.nextPort++;
  }

  // ---------------------------------------------------------- internals

  private portNumber(port: number): number {
    return port === 0 ? this.allocatePort() : port;
  }

  private addPort(kind: 'TCP' | 'SSL' | 'UNIX', factory: IProtocolFactory, address: Address): MemoryListeningPort {
    const port = new MemoryListeningPort(kind, factory, address);
    this.listeningPorts.push(port);
    this.resources.push({
      leftover: () => (port.stopped ? null : `${String(port)} (not stopped)`),
      shutdown: () => void port.stopListening(),
    });
    return port;
  }

  private addConnector(kind: 'TCP' | 'SSL' | 'UNIX', factory: IClientFactory, destination: Address): MemoryConnector {
    const connector = new MemoryConnector(kind, factory, destination);
    this.connectors.push(connector);
    this.resources.push({
      leftover: () => {
        if (connector.state === 'connecting') return `${kind} connection attempt to ${String(destination)} still pending`;
        if (connector.state === 'connected') return `${kind} connection to ${String(destination)} still open`;
        return null;
      },
      shutdown: () => {
        if (connector.state === 'connecting') connector.stopConnecting();
        else if (connector.state === 'connected') connector.transport?.abortConnection();
      },
    });
    connector.connect();
    return connector;
  }

  private closeEverything(): void {
    for (const r of [...this.resources]) {
      try {
        r.shutdown();
      } catch (e) {
        log.failure('Error while closing a resource at shutdown', e);
      }
    }
  }

  private callSafely(hook: HookRecord, what: string): unknown {
    try {
      return (hook.fn as (...args: unknown[]) => unknown)(...hook.args);
    } catch (e) {
      log.failure('Error in a {what}', e, { what });
      return undefined;
    }
  }

  /**
   * The three phases of `event`: 'before' triggers, then, once every
   * Deferred they returned has fired (success or failure, failures logged),
   * `during` (the reactor's own step first), the 'during' triggers and the
   * 'after' triggers. Errors thrown by triggers are logged; the rest still run.
   */
  private fireEvent(event: string, own: () => void): Deferred<void> {
    const done = new Deferred<void>();
    const waits: Deferred<unknown>[] = [];
    for (const t of [...(this.triggers.before[event] ?? [])]) {
      const r = this.callSafely(t, `before-${event} trigger`);
      if (isThenable(r)) waits.push(r instanceof Deferred ? r : Deferred.fromPromise(r));
    }
    const rest = (): void => {
      own();
      for (const t of [...(this.triggers.during[event] ?? [])]) this.callSafely(t, `during-${event} trigger`);
      for (const t of [...(this.triggers.after[event] ?? [])]) this.callSafely(t, `after-${event} trigger`);
      done.callback(undefined);
    };
    let left = waits.length;
    if (left === 0) rest();
    for (const w of waits) {
      w.addBoth((r: unknown) => {
        if (r instanceof Failure) log.failure('A before-{event} trigger failed', r, { event });
        if (--left === 0) rest();
        return undefined;
      });
    }
    return done;
  }
}

/**
 * A {@link MemoryReactor} with a {@link Clock}: `callLater` schedules on a
 * time that moves only with `advance(seconds)` / `pump(timings)`.
 *
 * @example
 * ```ts
 * const reactor = new MemoryReactorClock();
 * reactor.callLater(5, () => seen.push('late'));
 * reactor.advance(5);
 * ```
 */
export class MemoryReactorClock extends MemoryReactor {
  /** The clock behind the time methods. */
  readonly clock = new Clock();

  /** The current time in seconds (starts at 0). */
  get rightNow(): number {
    return this.clock.rightNow;
  }

  override seconds(): number {
    return this.clock.seconds();
  }

  override callLater<A extends unknown[]>(delay: number, fn: (...args: A) => unknown, ...args: A): DelayedCall {
    return this.clock.callLater(delay, fn, ...args);
  }

  override getDelayedCalls(): DelayedCall[] {
    return this.clock.getDelayedCalls();
  }

  /** Move time forward, running what falls due (see `Clock.advance`). */
  advance(amount: number): void {
    this.clock.advance(amount);
  }

  /** `advance` by each amount in turn. */
  pump(timings: Iterable<number>): void {
    this.clock.pump(timings);
  }
}

/**
 * A MemoryReactorClock whose `listen*` calls throw `listenError` and whose
 * `connect*` calls throw `connectError` (nothing is recorded), for testing
 * error paths.
 */
export class RaisingMemoryReactor extends MemoryReactorClock {
  constructor(
    readonly listenError: Error = new CannotListenError('', 0),
    readonly connectError: Error = new ConnectionRefusedError('connection refused (RaisingMemoryReactor)'),
  ) {
    super();
  }

  override listenTCP(..._args: Parameters<MemoryReactor['listenTCP']>): MemoryListeningPort {
    throw this.listenError;
  }

  override listenSSL(..._args: Parameters<MemoryReactor['listenSSL']>): MemoryListeningPort {
    throw this.listenError;
  }

  override listenUNIX(..._args: Parameters<MemoryReactor['listenUNIX']>): MemoryListeningPort {
    throw this.listenError;
  }

  override listenUDP(..._args: Parameters<MemoryReactor['listenUDP']>): MemoryUDPPort {
    throw this.listenError;
  }

  override connectTCP(..._args: Parameters<MemoryReactor['connectTCP']>): MemoryConnector {
    throw this.connectError;
  }

  override connectSSL(..._args: Parameters<MemoryReactor['connectSSL']>): MemoryConnector {
    throw this.connectError;
  }

  override connectUNIX(..._args: Parameters<MemoryReactor['connectUNIX']>): MemoryConnector {
    throw this.connectError;
  }
}
