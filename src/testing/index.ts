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
