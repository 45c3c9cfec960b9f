/**
 * Calling a protocol's optional callbacks. Protocols may be `Protocol`
 * subclasses or plain objects, so the reactor and the test doubles go
 * through these helpers instead of assuming a base class.
 */
import type { Failure } from '../defer/failure.js';
import type { IProtocol, ITransport } from './interfaces.js';

/** Attach `protocol` to `transport`: `makeConnection` when it has one, else set `transport` and call `connectionMade`. */
export function makeConnection(protocol: IProtocol, transport: ITransport): void {
  if (typeof protocol.makeConnection === 'function') {
    protocol.makeConnection(transport);
  } else {
    protocol.transport = transport;
    protocol.connectionMade?.();
  }
}

/** Deliver bytes to `protocol` (ignored when it has no `dataReceived`). */
export function deliverData(protocol: IProtocol, data: Uint8Array): void {
  protocol.dataReceived?.(data);
}

/** Tell `protocol` its connection is gone. */
export function deliverConnectionLost(protocol: IProtocol, reason: Failure): void {
  protocol.connectionLost?.(reason);
}

/** Whether `protocol` handles half-closed connections (has `readConnectionLost`). */
export function isHalfCloseable(protocol: IProtocol): boolean {
  return typeof protocol.readConnectionLost === 'function';
}

/** Throw the TypeError a transport's `write` gives for anything but bytes. */
export function assertBytes(data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`transports write bytes (a Uint8Array or Buffer), not ${typeof data}`);
  }
}
