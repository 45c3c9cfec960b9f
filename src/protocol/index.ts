/**
 * The protocol layer: protocols and factories, line / netstring /
 * length-prefixed framings, and policies (timeouts, connection limits,
 * throttling) built on protocol wrappers.
 * @module
 */
export { Protocol, ProcessProtocol, DatagramProtocol } from './protocol.js';
export {
  Factory,
  ClientFactory,
  ReconnectingClientFactory,
  instantiateProtocol,
  type ProtocolSpec,
  type ReconnectingOptions,
} from './factory.js';
export { LineReceiver, LineOnlyReceiver } from './lineReceiver.js';
export { NetstringReceiver } from './netstring.js';
export { IntNStringReceiver, Int32StringReceiver, Int16StringReceiver, Int8StringReceiver } from './intString.js';
export { StringTooLongError } from './errors.js';
export { ProtocolWrapper, WrappingFactory, type ProtocolRegistry } from './wrapper.js';
export {
  TimeoutPolicy,
  withTimeout,
  TimeoutProtocol,
  TimeoutFactory,
  type TimeoutMixin,
  type TimeoutScheduler,
  type TimeoutFactoryOptions,
  type MixinBase,
} from './timeout.js';
export { LimitTotalConnectionsFactory, LimitConnectionsByPeer, type LimitTotalOptions } from './limits.js';
export { ThrottlingFactory, ThrottlingProtocol, type ThrottlingOptions } from './throttling.js';
