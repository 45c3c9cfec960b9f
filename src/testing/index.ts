/**
 * The test kit: a hand-driven clock, in-memory transports and reactors, and
 * helpers that read Deferred results synchronously — for testing protocols
 * and callback chains without I/O.
 * @module
 */
export { Clock } from './clock.js';
export { successResultOf, failureResultOf, assertNoResult, AssertionFailedError } from './results.js';
export { flushLoggedErrors, beginErrorTracking, endErrorTracking } from './loggedErrors.js';
export { StringTransport, StringTransportWithDisconnection, type ProducerState } from './stringTransport.js';
export {
  MemoryReactor,
  MemoryReactorClock,
  RaisingMemoryReactor,
  MemoryListeningPort,
  MemoryConnector,
  MemoryUDPPort,
  MemoryProcessTransport,
  type TCPServerRecord,
  type TCPClientRecord,
  type SSLServerRecord,
  type SSLClientRecord,
  type UNIXServerRecord,
  type UNIXClientRecord,
  type UDPPortRecord,
  type ProcessRecord,
  type ThreadCallRecord,
  type HookRecord,
  type TriggerRecord,
} from './memoryReactor.js';
export {
  FakeTransport,
  IOPump,
  connectedPair,
  ConnectionCompleter,
  connectableEndpoint,
  type FakeTransportOptions,
  type ConnectedPairOptions,
  type PumpClock,
} from './iosim.js';
export { assertClean, leftovers, DirtyReactorError, type CheckableReactor } from './clean.js';
