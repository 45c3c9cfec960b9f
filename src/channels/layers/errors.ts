/**
 * Errors raised by channel layers. Plain `Error` subclasses, so `instanceof`,
 * `Failure.check` and `Failure.trap` work on them.
 * @module
 */

/**
 * `send` found the channel at its capacity: the message was not queued.
 * (`groupSend` never fails with it: full members are skipped and counted.)
 * The sender decides: drop the message, retry later, or tell the client.
 */
export class ChannelFull extends Error {
  override name = 'ChannelFull';
  constructor(
    /** The channel that is full. */
    readonly channel: string,
    /** Its capacity (the number of messages it holds), when known. */
    readonly capacity?: number,
  ) {
    super(
      capacity === undefined
        ? `channel ${channel} is full`
        : `channel ${channel} is full (capacity ${capacity} messages)`,
    );
  }
}

/**
 * The layer was closed: what a receive still waiting at `close()` fails with,
 * and what every later operation fails with.
 */
export class ChannelLayerClosed extends Error {
  override name = 'ChannelLayerClosed';
  constructor(message = 'the channel layer is closed') {
    super(message);
  }
}
