/**
 * The reactor layer: the interfaces between reactors, transports, protocols
 * and factories; the Node reactor (time, lifecycle, TCP, UNIX, TLS, UDP,
 * processes, threads); the lazily created default reactor; endpoints.
 * @module
 */
export type {
  IReactorTime,
  IDelayedCall,
  IPushProducer,
  IPullProducer,
  IProducer,
  IConsumer,
  ITransport,
  ITCPTransport,
  ITLSTransport,
  TLSOptions,
  IProtocol,
  IProtocolFactory,
  IClientFactory,
  IConnector,
  IListeningPort,
  IDatagramProtocol,
  IUDPTransport,
  IProcessProtocol,
  IProcessTransport,
  SpawnOptions,
  TriggerPhase,
  IReactorCore,
  ListenTCPOptions,
  ConnectTCPOptions,
  IReactorTCP,
  IReactorUNIX,
  IReactorSSL,
  IReactorUDP,
  IReactorProcess,
  IReactorThreads,
  IReactor,
} from './interfaces.js';
export { IPv4Address, IPv6Address, UNIXAddress, ipAddress, type Address } from './address.js';
export {
  AlreadyCalled,
  AlreadyCancelled,
  ConnectionClosed,
  ConnectionDone,
  ConnectionLost,
  ConnectError,
  ConnectionRefusedError,
  TCPTimedOutError,
  DNSLookupError,
  UserError,
  ConnectingCancelledError,
  NoProtocol,
  NotConnectingError,
  CannotListenError,
  ReactorAlreadyRunning,
  ReactorNotRestartable,
  ReactorNotRunning,
  ProcessDone,
  ProcessTerminated,
  ProcessExitedAlready,
  MessageLengthError,
  InvalidAddressError,
} from './errors.js';
export { DelayedCall, type DelayedCallOwner } from './delayedCall.js';
export type { ReactorResource, ResourceTracker } from './resources.js';
export { NodeReactor, type NodeReactorOptions } from './nodeReactor.js';
export { reactor, getReactor } from './default.js';
export { SystemEventTriggers, TriggerId } from './lifecycle.js';
export {
  StreamTransport,
  StreamPort,
  StreamConnector,
  HIGH_WATER_MARK,
  LINGER_TIMEOUT,
  type StreamReactor,
  type ListenUNIXOptions,
  type ConnectUNIXOptions,
  type TransportSetup,
  type PortSpec,
  type ConnectSpec,
  type ConnectorState,
} from './tcp.js';
export { listenUDP, DEFAULT_MAX_PACKET_SIZE, type ListenUDPOptions } from './udp.js';
export { spawnProcess, SHUTDOWN_KILL_AFTER, SHUTDOWN_GIVE_UP_AFTER } from './process.js';
export { ThreadPool, DataCloneError, WorkerCrashedError, type ThreadPoolOptions, type ThreadPoolStats } from './threads.js';
export { StallMonitor, type StallMonitorOptions, type EventLoopStats } from './stall.js';
export * from './endpoints/index.js';
export type { WriteStringEncoding } from './writeString.js';
