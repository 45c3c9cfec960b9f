/**
 * The exceptions consumers use to steer their own lifetime (Channels' `channels.exceptions`).
 */

/**
 * Thrown by a handler to end the consumer cleanly: no more messages are taken, its group
 * memberships are discarded, and the application instance returns.
 */
export class StopConsumer extends Error {
  override name = 'StopConsumer';
  constructor(message = 'the consumer stopped') {
    super(message);
  }
}

/** Thrown from a WebSocket consumer's `connect()`: accept the connection (as if `accept()` was called). */
export class AcceptConnection extends Error {
  override name = 'AcceptConnection';
  constructor(message = 'connection accepted') {
    super(message);
  }
}

/** Thrown from a WebSocket consumer's `connect()`: refuse the connection (the handshake is answered 403). */
export class DenyConnection extends Error {
  override name = 'DenyConnection';
  constructor(message = 'connection denied') {
    super(message);
  }
}

/** A consumer needs a channel layer (it has `groups`, or called a group helper) and none is configured. */
export class InvalidChannelLayerError extends Error {
  override name = 'InvalidChannelLayerError';
}

/**
 * A message could not be dispatched: it has no `type`, its handler name starts with an
 * underscore or names one of the consumer's own API methods, or the consumer has no such
 * handler. The consumer ends with this error (as in Channels).
 */
export class DispatchError extends Error {
  override name = 'DispatchError';
  constructor(
    message: string,
    /** The message's `type`, when it had a string one. */
    readonly messageType: string | null,
    /** The method name the type maps to, when it had a type. */
    readonly handlerName: string | null,
  ) {
    super(message);
  }
}
